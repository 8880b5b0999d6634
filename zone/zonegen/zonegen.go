// Package zonegen writes deterministic synthetic zones and matching query
// files, so that benchmarks and differential tests can run Meridian and its
// peers (NSD, Knot, BIND) on the same realistic data of any size without
// shipping large files.
//
// Every generated entry is a pure function of (seed, index): Write streams
// the zone without holding it in memory, and Queries knows what exists at any
// index without generating the zone first. The same seed always gives the
// same bytes.
package zonegen

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kind is the sort of owner name an entry produces. The mix is chosen to
// resemble a hosting provider's zone: mostly address records, some mail,
// aliases and services, a few wildcards, delegations and deep names whose
// parents are empty non-terminals.
type Kind uint8

const (
	KindA          Kind = iota // one to three A records
	KindDual                   // A and AAAA
	KindAAAA                   // AAAA only
	KindMX                     // MX to in-zone hosts, plus an A
	KindTXT                    // TXT, sometimes with an A
	KindCNAME                  // CNAME to an in-zone host (or, one in ten, out of zone)
	KindSRV                    // _sip._tcp.<label> SRV; <label> and _tcp.<label> are empty non-terminals
	KindWildcard               // *.<label> A and TXT
	KindDelegation             // <label> NS with glue (or out-of-zone NS without), sometimes DS
	KindENT                    // a.b.<label> A; b.<label> and <label> are empty non-terminals
)

var kindNames = [...]string{"a", "dual", "aaaa", "mx", "txt", "cname", "srv", "wildcard", "delegation", "ent"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// kindTable maps a roll in [0,100) to a kind; its shape is the mix.
var kindTable = func() [100]Kind {
	var t [100]Kind
	mix := []struct {
		k Kind
		n int
	}{
		{KindA, 38}, {KindDual, 15}, {KindAAAA, 5}, {KindMX, 7}, {KindTXT, 8},
		{KindCNAME, 10}, {KindSRV, 5}, {KindWildcard, 3}, {KindDelegation, 5}, {KindENT, 4},
	}
	i := 0
	for _, m := range mix {
		for range m.n {
			t[i] = m.k
			i++
		}
	}
	if i != len(t) {
		panic("zonegen: kind mix does not sum to 100")
	}
	return t
}()

// words give labels a realistic look; the base-36 index after the hyphen
// makes every label unique.
var words = [...]string{
	"www", "mail", "api", "cdn", "app", "db", "vpn", "shop", "dev", "git",
	"img", "static", "m", "blog", "portal", "auth", "login", "files", "web", "node",
}

// Entry describes the owner name generated at one index.
type Entry struct {
	Index int
	Kind  Kind
	Label string // the entry's own label under the origin, e.g. "api-1z"
	h     uint64 // per-entry random bits
}

// mix is SplitMix64's finaliser: a cheap, well-distributed hash, which lets
// each entry draw its randomness from (seed, index) alone.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Generator answers what exists in a zone of a given size and seed.
type Generator struct {
	Origin string // fully qualified, lower case
	Names  int
	Seed   int64
}

// New checks its arguments and returns a generator.
func New(origin string, names int, seed int64) (*Generator, error) {
	if names < 0 {
		return nil, fmt.Errorf("zonegen: negative name count %d", names)
	}
	origin = strings.ToLower(strings.TrimSpace(origin))
	if origin == "" {
		return nil, fmt.Errorf("zonegen: empty origin")
	}
	if !strings.HasSuffix(origin, ".") {
		origin += "."
	}
	return &Generator{Origin: origin, Names: names, Seed: seed}, nil
}

// Entry returns the entry at index i (0 ≤ i < g.Names).
func (g *Generator) Entry(i int) Entry {
	h := mix(uint64(g.Seed)*0x2545f4914f6cdd1d ^ uint64(i))
	k := kindTable[h%100]
	label := words[(h>>8)%uint64(len(words))] + "-" + strconv.FormatUint(uint64(i), 36)
	return Entry{Index: i, Kind: k, Label: label, h: mix(h)}
}

// host returns a deterministic index near r whose entry has an address
// record at its own name, for MX, SRV and CNAME targets. Such targets must
// exist, or named-checkzone rejects MX and SRV records pointing at them.
func (g *Generator) host(r uint64) (Entry, bool) {
	if g.Names == 0 {
		return Entry{}, false
	}
	start := int(r % uint64(g.Names))
	for n := 0; n < 64 && n < g.Names; n++ {
		e := g.Entry((start + n) % g.Names)
		if e.Kind == KindA || e.Kind == KindDual || e.Kind == KindAAAA {
			return e, true
		}
	}
	return Entry{}, false
}

// Write writes a master file for origin with names generated entries, as
// described by Kind. Some entries add more than one owner name (glue, SRV
// and ENT parents); the apex adds a handful of fixed names (ns1, ns2, mail,
// www). The output is a pure function of the arguments.
func Write(w io.Writer, origin string, names int, seed int64) error {
	g, err := New(origin, names, seed)
	if err != nil {
		return err
	}
	return g.Write(w)
}

// Write writes the zone; see the package function Write.
func (g *Generator) Write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	b := make([]byte, 0, 1024)
	b = fmt.Appendf(b, "; synthetic zone: origin %s, %d names, seed %d (zonegen)\n", g.Origin, g.Names, g.Seed)
	b = fmt.Appendf(b, "$ORIGIN %s\n$TTL 3600\n", g.Origin)
	b = append(b, "@\tIN\tSOA\tns1 hostmaster (\n\t\t2024010101 ; serial\n\t\t7200 3600 1209600 300 )\n"...)
	b = append(b, "@\tIN\tNS\tns1\n@\tIN\tNS\tns2\n"...)
	b = append(b, "@\tIN\tMX\t10 mail\n@\tIN\tTXT\t\"v=spf1 mx -all\"\n@\tIN\tA\t192.0.2.1\n"...)
	b = append(b, "ns1\tIN\tA\t192.0.2.53\nns1\tIN\tAAAA\t2001:db8::53\nns2\tIN\tA\t198.51.100.53\n"...)
	b = append(b, "mail\tIN\tA\t192.0.2.25\nwww\tIN\tCNAME\t@\n"...)
	if _, err := bw.Write(b); err != nil {
		return fmt.Errorf("zonegen: %w", err)
	}
	for i := range g.Names {
		b = g.appendEntry(b[:0], g.Entry(i))
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("zonegen: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("zonegen: %w", err)
	}
	return nil
}

// appendIPv4 appends an address in 10.0.0.0/8 derived from x.
func appendIPv4(b []byte, x uint64) []byte {
	b = append(b, "10."...)
	b = strconv.AppendUint(b, (x>>16)&0xff, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, (x>>8)&0xff, 10)
	b = append(b, '.')
	return strconv.AppendUint(b, x&0xff, 10)
}

// appendIPv6 appends an address in 2001:db8::/32 derived from x.
func appendIPv6(b []byte, x uint64) []byte {
	b = append(b, "2001:db8:"...)
	b = strconv.AppendUint(b, (x>>32)&0xffff, 16)
	b = append(b, "::"...)
	b = strconv.AppendUint(b, (x>>16)&0xffff, 16)
	b = append(b, ':')
	return strconv.AppendUint(b, x&0xffff, 16)
}

func appendRR(b []byte, owner string, ttl int, typ string) []byte {
	b = append(b, owner...)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(ttl), 10)
	b = append(b, "\tIN\t"...)
	b = append(b, typ...)
	return append(b, '\t')
}

var ttls = [...]int{300, 3600, 3600, 86400}

func (g *Generator) appendEntry(b []byte, e Entry) []byte {
	h := e.h
	ttl := ttls[h&3]
	l := e.Label
	switch e.Kind {
	case KindA, KindDual:
		for n := range 1 + int(h>>2&3)%3 {
			b = appendRR(b, l, ttl, "A")
			b = append(appendIPv4(b, h>>(8*uint(n))^uint64(e.Index)), '\n')
		}
		if e.Kind == KindDual {
			b = appendRR(b, l, ttl, "AAAA")
			b = append(appendIPv6(b, h^uint64(e.Index)), '\n')
		}
	case KindAAAA:
		b = appendRR(b, l, ttl, "AAAA")
		b = append(appendIPv6(b, h^uint64(e.Index)), '\n')
	case KindMX:
		for n := range 2 {
			t, ok := g.host(h >> (20 * uint(n)))
			target := "mail"
			if ok {
				target = t.Label
			}
			b = appendRR(b, l, ttl, "MX")
			b = strconv.AppendInt(b, int64(10*(n+1)), 10)
			b = append(b, ' ')
			b = append(b, target...)
			b = append(b, '\n')
		}
		b = appendRR(b, l, ttl, "A")
		b = append(appendIPv4(b, h), '\n')
	case KindTXT:
		b = appendRR(b, l, ttl, "TXT")
		b = append(b, "\"site-verification="...)
		b = strconv.AppendUint(b, h, 36)
		b = append(b, "\" \"v=1\"\n"...)
		if h&16 != 0 {
			b = appendRR(b, l, ttl, "A")
			b = append(appendIPv4(b, h>>5), '\n')
		}
	case KindCNAME:
		b = appendRR(b, l, ttl, "CNAME")
		if t, ok := g.host(h >> 4); ok && h%10 != 0 {
			b = append(b, t.Label...)
		} else {
			b = append(b, "target-"...)
			b = strconv.AppendUint(b, h%1000, 10)
			b = append(b, ".cdn.example.net."...)
		}
		b = append(b, '\n')
	case KindSRV:
		t, ok := g.host(h >> 4)
		target := "mail"
		if ok {
			target = t.Label
		}
		b = appendRR(b, "_sip._tcp."+l, ttl, "SRV")
		b = append(b, "10 5 5060 "...)
		b = append(b, target...)
		b = append(b, '\n')
	case KindWildcard:
		b = appendRR(b, "*."+l, ttl, "A")
		b = append(appendIPv4(b, h), '\n')
		b = appendRR(b, "*."+l, ttl, "TXT")
		b = append(b, "\"wildcard\"\n"...)
	case KindDelegation:
		if h&3 != 0 { // in-bailiwick servers with glue
			b = appendRR(b, l, 86400, "NS")
			b = append(append(b, "ns1."+l...), '\n')
			b = appendRR(b, l, 86400, "NS")
			b = append(append(b, "ns2."+l...), '\n')
			b = appendRR(b, "ns1."+l, 86400, "A")
			b = append(appendIPv4(b, h>>3), '\n')
			b = appendRR(b, "ns2."+l, 86400, "A")
			b = append(appendIPv4(b, h>>11), '\n')
			b = appendRR(b, "ns2."+l, 86400, "AAAA")
			b = append(appendIPv6(b, h>>7), '\n')
		} else { // out-of-zone servers: no glue
			for n := 1; n <= 2; n++ {
				b = appendRR(b, l, 86400, "NS")
				b = append(b, "ns"...)
				b = strconv.AppendInt(b, int64(n), 10)
				b = append(b, ".provider"...)
				b = strconv.AppendUint(b, h>>8%50, 10)
				b = append(b, ".example.org.\n"...)
			}
		}
		if h&4 != 0 { // a signed child: DS at the cut, on the parent side
			b = appendRR(b, l, 86400, "DS")
			b = strconv.AppendUint(b, h>>16&0xffff, 10)
			b = append(b, " 13 2 "...)
			for n := range 4 {
				x := mix(h + uint64(n))
				for range 16 {
					b = append(b, "0123456789ABCDEF"[x&15])
					x >>= 4
				}
			}
			b = append(b, '\n')
		}
	case KindENT:
		b = appendRR(b, "a.b."+l, ttl, "A")
		b = append(appendIPv4(b, h), '\n')
	}
	return b
}
