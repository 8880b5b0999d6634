package config

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/meridian-dns/meridian/server/xfr"
)

// TSIGKey is one TSIG key (RFC 8945), as BIND's key statement and Knot's
// key section give it.
type TSIGKey struct {
	// Name is the key's name, a domain name both peers agree on. Required.
	Name string `yaml:"name"`
	// Algorithm is hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1.
	// Default hmac-sha256.
	Algorithm string `yaml:"algorithm"`
	// Secret is the base64 secret. Exactly one of secret and secret-file.
	Secret string `yaml:"secret"`
	// SecretFile is a file holding the base64 secret (surrounding white
	// space ignored), so that the config can be world-readable; relative to
	// the config file's directory.
	SecretFile string `yaml:"secret-file"`
}

// SecondaryTimers clamp the REFRESH, RETRY and EXPIRE of a secondary
// zone's SOA (RFC 1035 §3.3.13), as BIND's min-refresh-time and Knot's
// refresh-min-interval do: a typo at the primary must neither hammer it nor
// expire the zone within minutes.
type SecondaryTimers struct {
	// MinRefresh and MaxRefresh bound REFRESH. Defaults 2s and 24h.
	MinRefresh time.Duration `yaml:"min-refresh"`
	MaxRefresh time.Duration `yaml:"max-refresh"`
	// MinRetry and MaxRetry bound RETRY. Defaults 2s and 12h.
	MinRetry time.Duration `yaml:"min-retry"`
	MaxRetry time.Duration `yaml:"max-retry"`
	// MinExpire and MaxExpire bound EXPIRE. Defaults 1h and 672h (28 days).
	MinExpire time.Duration `yaml:"min-expire"`
	MaxExpire time.Duration `yaml:"max-expire"`
}

// DefaultTSIGAlgorithm is the algorithm of a key that names none.
const DefaultTSIGAlgorithm = "hmac-sha256"

// defaultSecondaryTimers are server/secondary's defaults, spelled out so
// that the README can state them.
func defaultSecondaryTimers() SecondaryTimers {
	return SecondaryTimers{
		MinRefresh: 2 * time.Second, MaxRefresh: 24 * time.Hour,
		MinRetry: 2 * time.Second, MaxRetry: 12 * time.Hour,
		MinExpire: time.Hour, MaxExpire: 28 * 24 * time.Hour,
	}
}

// Peer is a parsed ADDR[:PORT][@KEYNAME]: a notify target or a primary.
type Peer struct {
	Addr netip.AddrPort
	Key  string // the key's name as written; "" for none
}

// ParsePeer parses ADDR[:PORT][@KEYNAME]. The port defaults to 53; an IPv6
// address with a port is written [2001:db8::1]:5353.
func ParsePeer(s string) (Peer, error) {
	addr, key, _ := strings.Cut(s, "@")
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return Peer{ap, key}, nil
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return Peer{}, fmt.Errorf("%q: want ADDR[:PORT][@KEYNAME], e.g. 192.0.2.1, 192.0.2.1:5353@xfr-key or [2001:db8::1]:53", s)
	}
	return Peer{netip.AddrPortFrom(a, 53), key}, nil
}

// ParseSecondaryFlag parses ORIGIN=PRIMARY_ADDR[:PORT][@KEYNAME], the
// -secondary flag.
func ParseSecondaryFlag(s string) (Zone, error) {
	origin, primary, ok := strings.Cut(s, "=")
	if !ok || origin == "" || primary == "" {
		return Zone{}, fmt.Errorf("%q: want ORIGIN=PRIMARY_ADDR[:PORT][@KEYNAME], e.g. example.com=192.0.2.1@xfr-key", s)
	}
	if !validName(origin) {
		return Zone{}, fmt.Errorf("%q: %q is not a domain name", s, origin)
	}
	if _, err := ParsePeer(primary); err != nil {
		return Zone{}, err
	}
	return Zone{Origin: origin, Type: TypeSecondary, Primaries: []string{primary}}, nil
}

// Keys returns the TSIG keys in the form server/xfr takes, secrets read
// from their files. Call it after Validate, which has checked them.
func (c *Config) Keys() ([]xfr.Key, error) {
	out := make([]xfr.Key, 0, len(c.TSIGKeys))
	for _, k := range c.TSIGKeys {
		xk, err := k.parse()
		if err != nil {
			return nil, err
		}
		out = append(out, xk)
	}
	return out, nil
}

func (k TSIGKey) parse() (xfr.Key, error) {
	secret := k.Secret
	if k.SecretFile != "" {
		b, err := os.ReadFile(k.SecretFile)
		if err != nil {
			return xfr.Key{}, err
		}
		secret = strings.TrimSpace(string(b))
	}
	alg := k.Algorithm
	if alg == "" {
		alg = DefaultTSIGAlgorithm
	}
	return xfr.ParseKey(k.Name + ":" + alg + ":" + secret)
}

// checkReplication checks data-dir, tsig-keys, the secondary timers and
// each zone's replication keys.
func (c *Config) checkReplication() []error {
	var errs []error
	add := func(e *Error) { errs = append(errs, e) }
	names := map[string]int{}
	for i, k := range c.TSIGKeys {
		key := fmt.Sprintf("tsig-keys[%d]", i)
		switch {
		case k.Name == "":
			add(c.errAt(key+".name", nil, "missing; every key needs a name"))
			continue
		case k.Secret == "" && k.SecretFile == "":
			add(c.errAt(key, nil, "key %s has neither secret nor secret-file", k.Name))
			continue
		case k.Secret != "" && k.SecretFile != "":
			add(c.errAt(key+".secret-file", nil, "key %s has both secret and secret-file; give one", k.Name))
			continue
		}
		xk, err := k.parse()
		if err != nil {
			add(c.errAt(key, err, ""))
			continue
		}
		if j, dup := names[xk.Name]; dup {
			add(c.errAt(key+".name", nil, "key %s defined twice (first as tsig-keys[%d]%s)", k.Name, j, c.atLine(fmt.Sprintf("tsig-keys[%d]", j))))
		}
		names[xk.Name] = i
	}
	known := func(name string) bool {
		_, ok := names[canonical(name)]
		return ok
	}
	secondaries := 0
	for i := range c.Zones {
		z := &c.Zones[i]
		key := fmt.Sprintf("zones[%d]", i)
		switch z.Type {
		case "", TypePrimary:
			if len(z.Primaries) > 0 {
				add(c.errAt(key+".primaries", nil, "a primary zone has no primaries; did you mean type: secondary?"))
			}
		case TypeSecondary:
			secondaries++
			if z.File != "" {
				add(c.errAt(key+".file", nil, "a secondary zone has no file: it is transferred into data-dir"))
			}
			if len(z.Primaries) == 0 {
				add(c.errAt(key+".primaries", nil, "missing; a secondary zone needs at least one primary"))
			}
		default:
			add(c.errAt(key+".type", nil, "%q: want primary or secondary", z.Type))
		}
		for j, s := range z.AllowTransfer {
			k := fmt.Sprintf("%s.allow-transfer[%d]", key, j)
			if looksLikeAddr(s) {
				if _, err := ParsePrefix(s); err != nil {
					add(c.errAt(k, err, ""))
				}
			} else if !known(s) {
				add(c.errAt(k, nil, "%q is neither an address prefix nor a key in tsig-keys", s))
			}
		}
		errs = append(errs, c.checkPeers(key+".notify", z.Notify, known)...)
		errs = append(errs, c.checkPeers(key+".primaries", z.Primaries, known)...)
	}
	if secondaries > 0 && c.DataDir == "" {
		add(c.errAt("data-dir", nil, "missing; secondary zones are stored in the data directory"))
	}
	for key, v := range map[string]string{"notify-source": c.NotifySource, "transfer-source": c.TransferSource} {
		if _, err := netip.ParseAddr(v); v != "" && err != nil {
			add(c.errAt(key, nil, "%q is not an IP address", v))
		}
	}
	if c.DataDir != "" {
		if st, err := os.Stat(c.DataDir); err == nil && !st.IsDir() {
			add(c.errAt("data-dir", nil, "%s is not a directory", c.DataDir))
		}
	}
	t := c.Secondary
	for _, b := range []struct {
		min, max time.Duration
		name     string
	}{{t.MinRefresh, t.MaxRefresh, "refresh"}, {t.MinRetry, t.MaxRetry, "retry"}, {t.MinExpire, t.MaxExpire, "expire"}} {
		if b.min <= 0 {
			add(c.errAt("secondary.min-"+b.name, nil, "%s: want a positive duration", b.min))
		}
		if b.max < b.min {
			add(c.errAt("secondary.max-"+b.name, nil, "%s is below secondary.min-%s (%s)", b.max, b.name, b.min))
		}
	}
	return errs
}

// checkPeers checks a list of ADDR[:PORT][@KEYNAME].
func (c *Config) checkPeers(key string, list []string, known func(string) bool) []error {
	var errs []error
	for j, s := range list {
		k := fmt.Sprintf("%s[%d]", key, j)
		p, err := ParsePeer(s)
		switch {
		case err != nil:
			errs = append(errs, c.errAt(k, err, ""))
		case p.Addr.Port() == 0:
			errs = append(errs, c.errAt(k, nil, "%q: port 0", s))
		case p.Key != "" && !known(p.Key):
			errs = append(errs, c.errAt(k, nil, "key %q is not in tsig-keys", p.Key))
		}
	}
	return errs
}

// looksLikeAddr tells an address prefix from a key name in allow-transfer:
// key names are domain names, which have no colon or slash and do not
// parse as an IPv4 address.
func looksLikeAddr(s string) bool {
	if strings.ContainsAny(s, ":/") {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// canonical is the form of a key name that xfr.ParseKey returns.
func canonical(name string) string {
	k, err := xfr.ParseKey(name + ":" + DefaultTSIGAlgorithm + ":AA==")
	if err != nil {
		return name
	}
	return k.Name
}
