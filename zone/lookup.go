package zone

import (
	"strings"

	"github.com/miekg/dns"
)

// MaxChain bounds the CNAME and DNAME steps followed inside one zone for one
// query. A longer chain is answered as far as it got; the client's resolver
// follows the rest (RFC 1034 §3.6.2 asks servers to follow chains, and every
// server bounds it: NSD and BIND stop well below this).
const MaxChain = 12

// Lookup answers qname and qtype from this zone alone, with the semantics of
// RFC 1034 §4.3.2 and its updates: wildcards (RFC 4592), DNAME (RFC 6672),
// negative answers (RFC 2308). With do set, RRSIGs covering the returned
// RRsets are included, and in a zone signed with NSEC or NSEC3 the records
// proving what does not exist (RFC 4035 §3.1.3, RFC 5155 §7.2; denial.go,
// nsec3.go). Owners of NSEC3 records only are not names of the zone. The caller normally goes
// through Set.Lookup, which picks the zone.
func (z *Zone) Lookup(qname string, qtype uint16, do bool, res *Result) {
	res.Reset()
	res.key = appendLower(res.key[:0], qname)
	z.lookupKey(res.key, qname, qtype, do, res)
}

// query is the state of one lookup as it follows a chain of aliases.
type query struct {
	z     *Zone
	qtype uint16
	do    bool
	res   *Result
}

func (z *Zone) lookupKey(key []byte, qname string, qtype uint16, do bool, res *Result) {
	res.Zone = z
	if z.soa == nil {
		res.Kind = ServFail
		return
	}
	if !inZone(key, z.origin) {
		res.Kind = NotAuth
		return
	}
	q := query{z: z, qtype: qtype, do: do, res: res}
	for steps := 0; ; steps++ {
		next := q.step(key, qname)
		if next == "" || steps == MaxChain {
			return
		}
		res.key = appendLower(res.key[:0], next)
		key = res.key
		if !inZone(key, z.origin) {
			res.Kind = CNAMEOut
			return
		}
		qname = next
	}
}

// step answers one name. It returns the target to follow when the name is an
// alias (CNAME, or a name under a DNAME), and "" when the answer is complete.
func (q *query) step(key []byte, qname string) string {
	z := q.z
	if n := z.names[string(key)]; n != nil && !n.hidden {
		if a := n.above; a != nil {
			if a.cut {
				if a == n && q.qtype == dns.TypeDS {
					// DS belongs to the parent side of the cut
					// (RFC 4035 §2.4): answer it here, authoritatively.
					return q.answer(n, qname, false)
				}
				q.referral(a)
				return ""
			}
			return q.dname(a, key, qname)
		}
		return q.answer(n, qname, false)
	}
	// The name does not exist: find its closest encloser (RFC 4592 §3.3.1).
	ce := z.apex
	for off := nextLabel(key, 0); off < len(key); off = nextLabel(key, off) {
		if m := z.names[string(key[off:])]; m != nil && !m.hidden {
			ce = m
			break
		}
	}
	if a := ce.above; a != nil {
		if a.cut {
			q.referral(a)
			return ""
		}
		return q.dname(a, key, qname)
	}
	if ce.get(dns.TypeDNAME) != nil {
		return q.dname(ce, key, qname)
	}
	if ce.wild != nil {
		// RFC 4592 §3.3.1: the source of synthesis is "*." + the closest
		// encloser; it does not match names that exist, nor below a cut
		// (both ruled out above).
		q.res.Wildcard = true
		next := q.answer(ce.wild, qname, true)
		if q.do {
			q.denyExpansion(ce, key)
		}
		return next
	}
	q.nxdomain(ce, key)
	return ""
}

// answer gives the data of type qtype at n, or follows its CNAME, or says
// there is no data. With wild set, owner names are rewritten to qname.
func (q *query) answer(n *node, qname string, wild bool) string {
	res := q.res
	switch q.qtype {
	case dns.TypeANY:
		// All the RRsets; the server trims them for UDP (RFC 8482 §4.1).
		if !n.hasData() {
			q.negative(NoData, n)
			return ""
		}
		for i := range n.rrsets {
			q.add(&n.rrsets[i], qname, wild)
		}
		q.done(Success)
		return ""
	case dns.TypeRRSIG:
		found := false
		for i := range n.rrsets {
			for _, sig := range n.rrsets[i].sigs {
				res.Answer = append(res.Answer, q.owned(sig, qname, wild))
				found = true
			}
		}
		if !found {
			q.negative(NoData, n)
			return ""
		}
		q.done(Success)
		return ""
	}
	if s := n.get(q.qtype); s != nil {
		q.add(s, qname, wild)
		res.Extra = append(res.Extra, s.additional(q.do)...)
		q.done(Success)
		return ""
	}
	if s := n.get(dns.TypeCNAME); s != nil {
		cname := s.rrs[0].(*dns.CNAME)
		if q.looped(qname) {
			q.done(Success)
			return ""
		}
		q.add(s, qname, wild)
		q.done(Success)
		return cname.Target
	}
	q.negative(NoData, n)
	return ""
}

// done sets the result kind for the last name of a chain.
func (q *query) done(k Kind) { q.res.Kind = k }

// add appends an RRset (and with DO its signatures) to the answer.
func (q *query) add(s *rrset, qname string, wild bool) {
	res := q.res
	if !wild {
		res.Answer = append(res.Answer, s.rrs...)
		if q.do {
			res.Answer = append(res.Answer, s.sigs...)
		}
		return
	}
	for _, rr := range s.rrs {
		res.Answer = append(res.Answer, q.owned(rr, qname, true))
	}
	if q.do {
		for _, rr := range s.sigs {
			res.Answer = append(res.Answer, q.owned(rr, qname, true))
		}
	}
}

// owned returns rr, or for a wildcard expansion a copy of rr owned by qname
// (RFC 4592 §3.4.1).
func (q *query) owned(rr dns.RR, qname string, wild bool) dns.RR {
	if !wild {
		return rr
	}
	c := dns.Copy(rr)
	c.Header().Name = qname
	return c
}

// looped reports whether qname already owns a CNAME in the answer: a chain
// that comes back to itself ends there.
func (q *query) looped(qname string) bool {
	for _, rr := range q.res.Answer {
		if rr.Header().Rrtype == dns.TypeCNAME && strings.EqualFold(rr.Header().Name, qname) {
			return true
		}
	}
	return false
}

// negative finishes with NODATA at n: the SOA in authority with the
// negative TTL (RFC 2308 §3), and with DO its signatures and the NSEC
// proofs (denial.go, nsec3.go).
func (q *query) negative(k Kind, n *node) {
	q.soa(k)
	if q.do {
		q.deny(k, n, nil, nil)
	}
}

// nxdomain finishes with NXDOMAIN for key, whose closest encloser is ce.
func (q *query) nxdomain(ce *node, key []byte) {
	q.soa(NXDomain)
	if q.do {
		q.deny(NXDomain, nil, ce, key)
	}
}

// soa sets the kind of a negative answer and puts the SOA (with DO, and its
// signatures) in authority.
func (q *query) soa(k Kind) {
	res := q.res
	res.Kind = k
	res.Ns = append(res.Ns, q.z.negSOA...)
	if q.do {
		res.Ns = append(res.Ns, q.z.soaSigs...)
	}
}

// referral points at the servers of the child zone at cut: NS in authority,
// glue in additional, AA clear (RFC 1034 §4.3.2 step 3b). With DO, a signed
// DS RRset goes with it, or in a signed zone the NSEC or NSEC3 proving
// there is no DS (RFC 4035 §3.1.4, RFC 5155 §7.2.7). A DS without signatures (an
// unsigned zone) is left out, as NSD and Knot do: a validator could not use
// it, and the referral is insecure anyway.
func (q *query) referral(cut *node) {
	res := q.res
	res.Kind = Referral
	ns := cut.get(dns.TypeNS)
	res.Ns = append(res.Ns, ns.rrs...)
	if q.do {
		if ds := cut.get(dns.TypeDS); ds != nil && len(ds.sigs) > 0 {
			res.Ns = append(res.Ns, ds.rrs...)
			res.Ns = append(res.Ns, ds.sigs...)
		} else if ds == nil {
			q.denyDS(cut)
		}
	}
	res.Extra = append(res.Extra, ns.additional(q.do)...)
}

// dname applies the DNAME at owner to qname, which lies below it
// (RFC 6672 §2.2): the DNAME and a synthesised CNAME go into the answer and
// the new name is followed.
func (q *query) dname(owner *node, key []byte, qname string) string {
	res := q.res
	s := owner.get(dns.TypeDNAME)
	d := s.rrs[0].(*dns.DNAME)
	res.Answer = append(res.Answer, d)
	if q.do {
		res.Answer = append(res.Answer, s.sigs...)
	}
	// qname and key have the same length unless qname lacked its final dot.
	name := qname
	if len(name) != len(key) {
		name = string(key)
	}
	prefix := name[:len(name)-len(owner.name)]
	target := prefix + dns.Fqdn(d.Target)
	if d.Target == "." {
		target = prefix
	}
	if _, ok := dns.IsDomainName(target); !ok || len(target) > 254 {
		res.Kind = YXDomain
		return ""
	}
	res.Answer = append(res.Answer, &dns.CNAME{
		Hdr:    dns.RR_Header{Name: qname, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl},
		Target: target,
	})
	res.Kind = Success
	return target
}

// inZone reports whether the lower-case name key is origin or below it.
func inZone(key []byte, origin string) bool {
	if origin == "." {
		return true
	}
	if len(key) < len(origin) || string(key[len(key)-len(origin):]) != origin {
		return false
	}
	if len(key) == len(origin) {
		return true
	}
	// The match must start at a label boundary: an unescaped dot before it.
	i := len(key) - len(origin) - 1
	if key[i] != '.' {
		return false
	}
	bs := 0
	for j := i - 1; j >= 0 && key[j] == '\\'; j-- {
		bs++
	}
	return bs%2 == 0
}
