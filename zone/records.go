package zone

import (
	"iter"

	"github.com/miekg/dns"
)

// The accessors here walk the zone without sorting it. Records sorts every
// owner name, which costs seconds on a zone of a million names; comparing two
// versions name by name (zone/diff) or streaming a zone out (AXFR needs only
// the SOA first and last, RFC 5936 §2.2) needs no order at all.

// All yields every record of the zone, the SOA first, the rest in no
// particular order (the same order each time for a given Zone). A zone that
// failed to load yields nothing. The records are shared with the zone and
// must not be modified.
func (z *Zone) All() iter.Seq[dns.RR] {
	return func(yield func(dns.RR) bool) {
		if z.soa == nil || !yield(z.soa) {
			return
		}
		for _, n := range z.nodes {
			for _, s := range n.rrsets {
				for _, rr := range s.rrs {
					if rr != dns.RR(z.soa) && !yield(rr) {
						return
					}
				}
				for _, rr := range s.sigs {
					if !yield(rr) {
						return
					}
				}
			}
		}
	}
}

// Owners yields, in no particular order, every owner name that holds
// records (empty non-terminals are skipped), in lower case as the zone
// indexes it, with its records, RRSIGs included (and the SOA at the apex).
// The slice is reused from one name to the next, so a walk over the zone
// allocates next to nothing: copy it to keep it. The records are shared
// with the zone and must not be modified.
func (z *Zone) Owners() iter.Seq2[string, []dns.RR] {
	return func(yield func(string, []dns.RR) bool) {
		var buf []dns.RR
		for _, n := range z.nodes {
			if !n.hasData() {
				continue
			}
			buf = n.appendRecords(buf[:0])
			if !yield(n.name, buf) {
				return
			}
		}
	}
}

// AppendRecords appends to dst the records owned by name, RRSIGs included
// (and the SOA at the apex), and returns the extended slice; name must be in
// lower case, as Owners yields it. Reusing dst makes a walk over the zone free
// of allocation. The records are shared with the zone and must not be
// modified.
func (z *Zone) AppendRecords(dst []dns.RR, name string) []dns.RR {
	if n := z.names[name]; n != nil {
		return n.appendRecords(dst)
	}
	return dst
}

func (n *node) appendRecords(dst []dns.RR) []dns.RR {
	for _, s := range n.rrsets {
		dst = append(dst, s.rrs...)
		dst = append(dst, s.sigs...)
	}
	return dst
}
