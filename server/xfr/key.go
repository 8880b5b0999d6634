package xfr

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Key is a TSIG key (RFC 8945): its name (the owner of the TSIG RR), its
// HMAC algorithm and its base64 secret, as BIND's and Knot's key statements
// and the -tsig flag give them.
type Key struct {
	Name      string // a domain name, e.g. "xfr-key." (the final dot is optional)
	Algorithm string // hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1
	Secret    string // base64
}

// algorithms are the HMACs accepted: the ones RFC 8945 §6 makes mandatory or
// recommended, and hmac-sha1 which older peers still use. hmac-md5 is not
// (RFC 8945 §6: "MUST NOT be used").
var algorithms = map[string]func() hash.Hash{
	dns.HmacSHA1:   sha1.New,
	dns.HmacSHA256: sha256.New,
	dns.HmacSHA384: sha512.New384,
	dns.HmacSHA512: sha512.New,
}

// ParseKey parses "NAME:ALGORITHM:BASE64SECRET", the format of the -tsig
// flag. The name and algorithm are made fully qualified and lower case.
func ParseKey(s string) (Key, error) {
	name, rest, ok1 := strings.Cut(s, ":")
	alg, secret, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return Key{}, fmt.Errorf("xfr: key %q: want NAME:ALGORITHM:BASE64SECRET", name)
	}
	k := Key{Name: name, Algorithm: alg, Secret: secret}
	return k.normalize()
}

// normalize checks k and returns it with canonical name and algorithm.
func (k Key) normalize() (Key, error) {
	if _, ok := dns.IsDomainName(k.Name); !ok || k.Name == "" {
		return Key{}, fmt.Errorf("xfr: key name %q is not a domain name", k.Name)
	}
	k.Name = dns.CanonicalName(k.Name)
	k.Algorithm = dns.CanonicalName(k.Algorithm)
	if _, ok := algorithms[k.Algorithm]; !ok {
		return Key{}, fmt.Errorf("xfr: key %s: unsupported algorithm %q", k.Name, strings.TrimSuffix(k.Algorithm, "."))
	}
	raw, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil {
		return Key{}, fmt.Errorf("xfr: key %s: secret: %w", k.Name, err)
	}
	if len(raw) == 0 {
		return Key{}, fmt.Errorf("xfr: key %s: empty secret", k.Name)
	}
	return k, nil
}

// keyring holds the keys by canonical name and is the TSIG provider of the
// TCP server and of the NOTIFY client. Unlike miekg's map provider it checks
// that the request's algorithm is the key's: RFC 8945 §5.2.1 answers BADKEY
// to a known name with another algorithm, and the map provider would compute
// an HMAC with whatever algorithm the request names.
type keyring map[string]keyEntry

type keyEntry struct {
	alg    string
	secret []byte
}

func newKeyring(keys []Key) (keyring, error) {
	kr := make(keyring, len(keys))
	for _, k := range keys {
		k, err := k.normalize()
		if err != nil {
			return nil, err
		}
		if _, dup := kr[k.Name]; dup {
			return nil, fmt.Errorf("xfr: key %s defined twice", k.Name)
		}
		raw, _ := base64.StdEncoding.DecodeString(k.Secret) // checked by normalize
		kr[k.Name] = keyEntry{alg: k.Algorithm, secret: raw}
	}
	return kr, nil
}

func (kr keyring) mac(msg []byte, t *dns.TSIG) ([]byte, error) {
	e, ok := kr[dns.CanonicalName(t.Hdr.Name)]
	if !ok || e.alg != dns.CanonicalName(t.Algorithm) {
		return nil, dns.ErrSecret // BADKEY
	}
	h := hmac.New(algorithms[e.alg], e.secret)
	h.Write(msg)
	return h.Sum(nil), nil
}

// knows reports whether t names a key of kr with its algorithm.
func (kr keyring) knows(t *dns.TSIG) bool {
	e, ok := kr[dns.CanonicalName(t.Hdr.Name)]
	return ok && e.alg == dns.CanonicalName(t.Algorithm)
}

// Generate implements dns.TsigProvider.
func (kr keyring) Generate(msg []byte, t *dns.TSIG) ([]byte, error) { return kr.mac(msg, t) }

// Verify implements dns.TsigProvider. A MAC shorter than the HMAC is not
// accepted: RFC 8945 §5.2.2.1 allows truncation, but no peer we serve
// sends it, and refusing it removes a way to weaken the check.
func (kr keyring) Verify(msg []byte, t *dns.TSIG) error {
	want, err := kr.mac(msg, t)
	if err != nil {
		return err
	}
	got, err := hex.DecodeString(t.MAC)
	if err != nil || !hmac.Equal(want, got) {
		return dns.ErrSig
	}
	return nil
}

// liveKeys is the Primary's TSIG provider: one object for the Primary's
// life, which the TCP server and the UDP NOTIFY check take once at start,
// consulting at each call the keyring that SetKeys last stored. It is
// never nil, even without keys: miekg verifies nothing when it has no
// provider, so a signed request would reach the handler with a nil
// TsigStatus; an empty keyring answers BADKEY instead (RFC 8945 §5.2.1).
type liveKeys struct{ cur atomic.Pointer[keyring] }

// load returns the current keyring; callers that must sign or verify a
// whole exchange with one set of keys keep it.
func (l *liveKeys) load() keyring { return *l.cur.Load() }

func (l *liveKeys) store(kr keyring) { l.cur.Store(&kr) }

// Generate implements dns.TsigProvider with the current keys.
func (l *liveKeys) Generate(msg []byte, t *dns.TSIG) ([]byte, error) {
	return l.load().Generate(msg, t)
}

// Verify implements dns.TsigProvider with the current keys.
func (l *liveKeys) Verify(msg []byte, t *dns.TSIG) error { return l.load().Verify(msg, t) }

// ACL says who may transfer a zone: clients in one of Prefixes, or requests
// signed with one of Keys (by name). The zero ACL allows nobody: zone data
// is refused by default, as in BIND 9.19+, Knot and NSD.
type ACL struct {
	Prefixes []netip.Prefix
	Keys     []string
}

// allows reports whether a request from client, verified as signed by key
// ("" when unsigned), may transfer. IPv4-mapped IPv6 clients match IPv4
// prefixes.
func (a ACL) allows(client netip.Addr, key string) bool {
	client = client.Unmap()
	for _, p := range a.Prefixes {
		if p.Contains(client) {
			return true
		}
	}
	return key != "" && slices.ContainsFunc(a.Keys, func(k string) bool { return dns.CanonicalName(k) == key })
}
