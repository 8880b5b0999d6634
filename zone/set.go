package zone

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Set is an immutable collection of zones served together. The server holds
// the current Set behind an atomic pointer; a reload builds a new one.
type Set struct {
	zones map[string]*Zone // by lower-case origin
}

// NewSet returns a set of the given zones. A later zone with the same origin
// replaces an earlier one.
func NewSet(zones ...*Zone) *Set {
	s := &Set{zones: make(map[string]*Zone, len(zones))}
	for _, z := range zones {
		if z != nil {
			s.zones[z.origin] = z
		}
	}
	return s
}

// Get returns the zone with the given origin, or nil.
func (s *Set) Get(origin string) *Zone {
	if s == nil {
		return nil
	}
	return s.zones[strings.ToLower(dns.Fqdn(origin))]
}

// Zones returns the zones sorted by origin.
func (s *Set) Zones() []*Zone {
	if s == nil {
		return nil
	}
	out := make([]*Zone, 0, len(s.zones))
	for _, z := range s.zones {
		out = append(out, z)
	}
	slices.SortFunc(out, func(a, b *Zone) int { return compareNames(a.origin, b.origin) })
	return out
}

// Len returns the number of zones in the set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.zones)
}

// Lookup finds the deepest zone that contains qname and looks the name up in
// it. A DS query for the apex of a zone goes to its parent zone when the
// parent is served too, because DS lives on the parent side of a cut
// (RFC 4035 §3.1.4.1). A name in no zone gives NotAuth.
func (s *Set) Lookup(qname string, qtype uint16, do bool, res *Result) {
	res.Reset()
	res.key = appendLower(res.key[:0], qname)
	z := s.find(res.key, qtype)
	if z == nil {
		res.Kind = NotAuth
		return
	}
	z.lookupKey(res.key, qname, qtype, do, res)
}

// find walks from the full name up to the root, one map probe per label, and
// returns the deepest zone containing key (or its parent, for DS at an apex).
func (s *Set) find(key []byte, qtype uint16) *Zone {
	if s == nil || len(s.zones) == 0 {
		return nil
	}
	var child *Zone
	for off := 0; ; {
		var z *Zone
		if off >= len(key) || (off == len(key)-1 && key[off] == '.') {
			z = s.zones["."]
		} else {
			z = s.zones[string(key[off:])]
		}
		if z != nil {
			if qtype != dns.TypeDS || off != 0 || z.origin == "." {
				return z
			}
			child = z // DS at an apex: the parent answers if we serve it
		}
		if off >= len(key)-1 {
			return child
		}
		off = nextLabel(key, off)
	}
}
