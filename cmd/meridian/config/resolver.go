package config

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/resolver"
	"github.com/meridian-dns/meridian/resolver/cache"
	"github.com/meridian-dns/meridian/server"
)

// Resolver is the `resolver:` section: everything `meridian resolver` adds
// to the common settings (listen, metrics, udp-size, tcp, log). `meridian
// auth` ignores it, so that one file can describe both daemons.
type Resolver struct {
	// RootHints is a root hints file in the named.root format, for a
	// private root. Default "": the IANA root hints built in. A relative
	// path is taken from the config file's directory (from the working
	// directory for -root-hints).
	RootHints string `yaml:"root-hints"`

	// NSPort is the port of every authoritative server queried, and the
	// default port of stub zone servers: 53 on the Internet, another for a
	// private hierarchy run unprivileged on one machine. Default 53.
	NSPort int `yaml:"ns-port"`

	// Allow lists the client networks answered, as CIDR prefixes (a bare
	// address is one host); everyone else gets REFUSED, because an open
	// resolver is an amplifier and a cache anyone can probe (RFC 5358).
	// Default: loopback, RFC 1918 and ULA (127.0.0.0/8, ::1/128,
	// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7).
	Allow []string `yaml:"allow"`

	// MaxRecursive bounds the client queries waiting for a resolution at
	// once (cache misses); over it a UDP query is dropped and a TCP query
	// answered SERVFAIL. 0 means no limit. Default 1024, as Unbound's
	// num-queries-per-thread.
	MaxRecursive int `yaml:"max-recursive"`

	// QnameMinimisation sends each server only the labels it needs to see
	// (RFC 9156), falling back to the full name for servers that break on
	// it. Default true.
	QnameMinimisation bool `yaml:"qname-minimisation"`

	// CaseRandomisation randomises the case of query names sent upstream
	// and checks it comes back (the 0x20 trick), so that a forged answer
	// has to guess more bits; servers that do not preserve case get plain
	// names. Default true.
	CaseRandomisation bool `yaml:"case-randomisation"`

	// MaxQueries bounds the upstream queries one client question may
	// cause, sub-resolutions included, so that a loop or a NXNSAttack ends
	// quickly. Default 64.
	MaxQueries int `yaml:"max-queries"`

	// Deadline bounds one resolution; the client then gets SERVFAIL (or
	// stale data). Default 10s.
	Deadline time.Duration `yaml:"deadline"`

	// ClientTimeout is RFC 8767's client response timer: a client still
	// waiting after it gets stale data, if there is any, while the
	// resolution goes on to refresh the cache. Default 1.8s. Must be
	// shorter than deadline when serve-stale is on.
	ClientTimeout time.Duration `yaml:"client-timeout"`

	// Prefetch refreshes, in the background and once, a cached answer hit
	// in the last tenth of its TTL, so that popular names never expire.
	// Default true.
	Prefetch bool `yaml:"prefetch"`

	// ServeStale answers from expired data, with TTL 30 and extended error
	// 3 (Stale Answer), when no upstream server answers in time (RFC 8767).
	// Default true.
	ServeStale bool `yaml:"serve-stale"`

	// StaleWindow is how long expired data is kept for serve-stale.
	// Default 24h (RFC 8767 §5 suggests one to three days).
	StaleWindow time.Duration `yaml:"stale-window"`

	Cache ResolverCache `yaml:"cache"`

	// ForwardZones send questions at or below Name to the recursive
	// servers listed instead of iterating (the longest matching zone of
	// forward and stub zones wins). Default: none.
	ForwardZones []ServerZone `yaml:"forward-zones"`

	// StubZones start iteration for names at or below Name at the
	// authoritative servers listed, for zones the public tree does not
	// delegate (an internal domain, a reverse zone). Default: none.
	StubZones []ServerZone `yaml:"stub-zones"`
}

// ResolverCache sizes the cache and clamps the TTLs of what goes in it.
type ResolverCache struct {
	// Size is the most entries (RRsets and negative answers) kept; the
	// least recently used go first. About 500 bytes each for typical
	// answers. Default 100000.
	Size int `yaml:"size"`

	// MinTTL raises smaller positive TTLs (Unbound's cache-min-ttl).
	// Default 0s: TTLs are kept as sent.
	MinTTL time.Duration `yaml:"min-ttl"`

	// MaxTTL lowers larger positive TTLs, so that a changed record is seen
	// within a day whatever its owner said. Default 24h.
	MaxTTL time.Duration `yaml:"max-ttl"`

	// NegativeMaxTTL lowers larger negative TTLs (RFC 2308 §5 suggests one
	// to three hours). Default 3h.
	NegativeMaxTTL time.Duration `yaml:"negative-max-ttl"`
}

// ServerZone is a forward or stub zone: a name and the servers to ask for
// it.
type ServerZone struct {
	// Name is the zone's name. Required.
	Name string `yaml:"name"`
	// Servers are IP addresses with an optional port: 192.0.2.1,
	// 192.0.2.1:5300, 2001:db8::1, [2001:db8::1]:5300. The port defaults
	// to 53 for forward zones and to ns-port for stub zones. Required.
	Servers []string `yaml:"servers"`
}

// The resolver's defaults, taken from the packages that apply them.
const (
	DefaultNSPort         = resolver.DefaultNSPort
	DefaultMaxRecursive   = server.DefaultMaxRecursive
	DefaultMaxUpstream    = resolver.DefaultMaxQueries
	DefaultDeadline       = resolver.DefaultDeadline
	DefaultClientTimeout  = resolver.DefaultClientTimeout
	DefaultStaleWindow    = cache.DefaultStaleWindow
	DefaultCacheSize      = cache.DefaultSize
	DefaultMaxTTL         = cache.DefaultMaxTTL
	DefaultNegativeMaxTTL = cache.DefaultNegativeMaxTTL
)

// defaultResolver returns the resolver section's defaults.
func defaultResolver() Resolver {
	var allow []string
	for _, p := range server.DefaultAllow() {
		allow = append(allow, p.String())
	}
	return Resolver{
		NSPort:            DefaultNSPort,
		Allow:             allow,
		MaxRecursive:      DefaultMaxRecursive,
		QnameMinimisation: true,
		CaseRandomisation: true,
		MaxQueries:        DefaultMaxUpstream,
		Deadline:          DefaultDeadline,
		ClientTimeout:     DefaultClientTimeout,
		Prefetch:          true,
		ServeStale:        true,
		StaleWindow:       DefaultStaleWindow,
		Cache: ResolverCache{
			Size:           DefaultCacheSize,
			MaxTTL:         DefaultMaxTTL,
			NegativeMaxTTL: DefaultNegativeMaxTTL,
		},
	}
}

// AllowPrefixes returns resolver.allow as prefixes. Call it after Validate.
func (r *Resolver) AllowPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(r.Allow))
	for _, s := range r.Allow {
		if p, err := ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// ParsePrefix parses an allow entry: a CIDR prefix without host bits
// (10.0.0.0/8, fc00::/7), or an address for that host alone. Host bits are
// refused rather than masked: 10.1.2.3/8 is more likely a typo for
// 10.1.2.3/32 than a way to write 10.0.0.0/8.
func ParsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8 or an IP address", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8 or fc00::/7", s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has bits set after the prefix length; did you mean %s?", s, p.Masked())
	}
	return p, nil
}

// ParseServer parses a forward or stub server, ADDR or ADDR:PORT (IPv6 with
// a port in brackets); port is used when none is given. Names are refused:
// resolving them would need the resolver being configured.
func ParseServer(s string, port uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("%q: port 0", s)
		}
		return ap, nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil || a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP address with an optional port (192.0.2.1, 192.0.2.1:53, [2001:db8::1]:53)", s)
	}
	return netip.AddrPortFrom(a, port), nil
}

// checkResolver checks the resolver section and puts zone names in
// canonical form.
func (c *Config) checkResolver() []error {
	r := &c.Resolver
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, c.errAt("resolver."+key, nil, format, args...))
	}
	if r.RootHints != "" {
		if st, err := os.Stat(r.RootHints); err != nil {
			errs = append(errs, c.errAt("resolver.root-hints", err, "root hints"))
		} else if st.IsDir() {
			add("root-hints", "%s is a directory, not a root hints file", r.RootHints)
		}
	}
	if r.NSPort < 1 || r.NSPort > 65535 {
		add("ns-port", "%d: want a port from 1 to 65535", r.NSPort)
	}
	for i, s := range r.Allow {
		if _, err := ParsePrefix(s); err != nil {
			errs = append(errs, c.errAt(fmt.Sprintf("resolver.allow[%d]", i), err, ""))
		}
	}
	if r.MaxRecursive < 0 {
		add("max-recursive", "%d: want 0 (no limit) or more", r.MaxRecursive)
	}
	if r.MaxQueries < 1 {
		add("max-queries", "%d: want 1 or more", r.MaxQueries)
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"deadline", r.Deadline}, {"client-timeout", r.ClientTimeout}, {"stale-window", r.StaleWindow},
		{"cache.max-ttl", r.Cache.MaxTTL}, {"cache.negative-max-ttl", r.Cache.NegativeMaxTTL},
	} {
		if d.d <= 0 {
			add(d.key, "%s: want a positive duration", d.d)
		}
	}
	if r.ServeStale && r.ClientTimeout > 0 && r.ClientTimeout >= r.Deadline {
		add("client-timeout", "%s is not shorter than deadline (%s): stale data would never be served", r.ClientTimeout, r.Deadline)
	}
	if r.Cache.Size < 1 {
		add("cache.size", "%d: want 1 or more", r.Cache.Size)
	}
	if r.Cache.MinTTL < 0 {
		add("cache.min-ttl", "%s: want 0s or more", r.Cache.MinTTL)
	} else if r.Cache.MaxTTL > 0 && r.Cache.MinTTL > r.Cache.MaxTTL {
		add("cache.min-ttl", "%s is above cache.max-ttl (%s)", r.Cache.MinTTL, r.Cache.MaxTTL)
	}
	seen := map[string]string{}
	errs = append(errs, c.checkServerZones("forward-zones", r.ForwardZones, seen)...)
	errs = append(errs, c.checkServerZones("stub-zones", r.StubZones, seen)...)
	return errs
}

// checkServerZones checks forward or stub zones; seen holds the names
// already listed, in either list, by lower-case name.
func (c *Config) checkServerZones(list string, zones []ServerZone, seen map[string]string) []error {
	var errs []error
	for i := range zones {
		z := &zones[i]
		key := fmt.Sprintf("resolver.%s[%d]", list, i)
		switch {
		case z.Name == "":
			errs = append(errs, c.errAt(key+".name", nil, "missing; every zone needs a name"))
		case !validName(z.Name):
			errs = append(errs, c.errAt(key+".name", nil, "%q is not a domain name", z.Name))
		default:
			z.Name = dns.Fqdn(z.Name)
			lower := strings.ToLower(z.Name)
			if first, dup := seen[lower]; dup {
				errs = append(errs, c.errAt(key+".name", nil, "zone %s listed twice (first as %s%s)", z.Name, first, c.atLine(first)))
			} else {
				seen[lower] = key
			}
		}
		if len(z.Servers) == 0 {
			errs = append(errs, c.errAt(key+".servers", nil, "missing; list at least one server address"))
		}
		for j, s := range z.Servers {
			if _, err := ParseServer(s, 53); err != nil {
				errs = append(errs, c.errAt(fmt.Sprintf("%s.servers[%d]", key, j), err, ""))
			}
		}
	}
	return errs
}
