package cache

import (
	"github.com/miekg/dns"
)

// Insert stores one RRset: records sharing owner name, type and class, with
// the rank the iterator gave them after its bailiwick checks. It reports
// whether the RRset was stored; it is not when it is malformed (empty,
// mixed, not fully qualified, a meta type such as OPT), when its TTL is 0
// after clamping (RFC 1035 §3.2.1: such records are not cached), or when an
// unexpired RRset of higher rank holds its place (RFC 2181 §5.4.1).
//
// The RRset's TTL is the smallest of its records' (RFC 2181 §5.2 requires
// them equal and says to treat a mixed set as this), clamped to
// [MinTTL, MaxTTL]. The records are copied, with the owner name lower-cased
// so that the random case of 0x20 queries does not reach clients; the
// caller keeps its own. Duplicate records are dropped (RFC 2181 §5).
//
// An answerable RRset (RankAnswer and above) also removes a cached NXDOMAIN
// for its owner of no higher rank: the name exists after all.
func (c *Cache) Insert(rrset []dns.RR, rank Rank) bool {
	if len(rrset) == 0 || !rank.valid() {
		return false
	}
	h0 := rrset[0].Header()
	if !dns.IsFqdn(h0.Name) || !cacheable(h0.Rrtype, h0.Class) {
		return false
	}
	owner := lowerName(h0.Name)
	ttl := h0.Ttl
	for _, rr := range rrset[1:] {
		h := rr.Header()
		if h.Rrtype != h0.Rrtype || h.Class != h0.Class || !equalName(owner, h.Name) {
			return false
		}
		ttl = min(ttl, h.Ttl)
	}
	lim := c.lim.Load()
	ttl = min(max(ttl, lim.minTTL), lim.maxTTL)
	if ttl == 0 {
		return false
	}

	rrs := make([]dns.RR, 0, len(rrset))
	for _, rr := range rrset {
		if duplicate(rrs, rr) {
			continue
		}
		cp := dns.Copy(rr)
		setHeader(cp.Header(), ttl, owner)
		rrs = append(rrs, cp)
	}
	now := c.cfg.Now().UnixNano()
	e := &entry{name: owner, qtype: h0.Rrtype, class: h0.Class, kind: positive, rank: rank, ttl: ttl, rrs: rrs}
	e.expires, e.prefetchAt = c.expiry(now, ttl)
	if !c.put(e, now) {
		return false
	}
	if rank.Answerable() {
		c.remove(owner, dns.TypeNone, h0.Class, rank) // that slot holds only NXDOMAIN
	}
	return true
}

// Negative is a negative answer to cache (RFC 2308).
type Negative struct {
	// Name is the name the answer is about: for a response that follows a
	// CNAME chain, the last target of the chain, not the question's name
	// (RFC 2308 §2.1; the CNAMEs are inserted as RRsets of their own).
	Name string
	// Type is the type that does not exist at Name (NODATA). For NXDOMAIN
	// it is optional: when set, what is cached for that type or for CNAME
	// at Name (an RRset or a NODATA), of no higher rank, is removed, since
	// the NXDOMAIN is newer.
	Type  uint16
	Class uint16
	// NXDomain: Name does not exist, for any type (RFC 2308 §2.1);
	// otherwise Name exists but has no data of Type (NODATA, §2.2).
	NXDomain bool
	// SOA is the SOA record from the response's authority section. Without
	// it the answer is not cached (RFC 2308 §5); its owner must be Name or
	// an ancestor (the zone apex).
	SOA *dns.SOA
	// Rank is where the answer came from: RankAuthAnswer from an
	// authoritative server, RankAnswer from a forwarder. Only those two
	// ranks are ever returned to clients.
	Rank Rank
}

// InsertNegative caches a negative answer, by name for NXDOMAIN and by name
// and type for NODATA, and reports whether it was stored. Its TTL is the
// smaller of the SOA's TTL and its MINIMUM field (RFC 2308 §5), capped at
// NegativeMaxTTL; the SOA is kept and returned with the answer, its TTL
// counting down.
//
// RFC 8020 (NXDOMAIN means nothing exists below the name either) is not
// applied: without DNSSEC validation, a server that wrongly answers
// NXDOMAIN for an empty non-terminal would hide a whole subtree, which is
// why Unbound applies it only to validated answers.
func (c *Cache) InsertNegative(n Negative) bool {
	if n.SOA == nil || !n.Rank.valid() || !dns.IsFqdn(n.Name) || !dns.IsFqdn(n.SOA.Hdr.Name) ||
		!dns.IsSubDomain(n.SOA.Hdr.Name, n.Name) {
		return false
	}
	qtype := n.Type
	k := noData
	if n.NXDomain {
		qtype, k = dns.TypeNone, nxDomain
	}
	if !cacheable(qtype, n.Class) && !n.NXDomain {
		return false
	}
	ttl := min(n.SOA.Hdr.Ttl, n.SOA.Minttl, c.lim.Load().negMaxTTL)
	if ttl == 0 {
		return false
	}
	soa := dns.Copy(n.SOA)
	setHeader(soa.Header(), ttl, lowerName(n.SOA.Hdr.Name))

	name := lowerName(n.Name)
	now := c.cfg.Now().UnixNano()
	e := &entry{name: name, qtype: qtype, class: n.Class, kind: k, rank: n.Rank, ttl: ttl, rrs: []dns.RR{soa}}
	e.expires, e.prefetchAt = c.expiry(now, ttl)
	if !c.put(e, now) {
		return false
	}
	if n.NXDomain && n.Type != dns.TypeNone {
		c.remove(name, n.Type, n.Class, n.Rank)
		c.remove(name, dns.TypeCNAME, n.Class, n.Rank)
	}
	return true
}

// cacheable reports whether RRsets of type t and class cl may be cached:
// not the pseudo and meta types, which describe a message or a query rather
// than data (OPT: RFC 6891 §6.1.1; TSIG: RFC 8945 §4), and only data
// classes.
func cacheable(t, cl uint16) bool {
	switch t {
	case dns.TypeNone, dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeIXFR, dns.TypeAXFR,
		dns.TypeMAILB, dns.TypeMAILA, dns.TypeANY:
		return false
	}
	return cl != dns.ClassANY && cl != dns.ClassNONE
}

// duplicate reports whether rrs already holds a record equal to rr, TTL
// aside. RRsets are small, so a linear scan beats a map.
func duplicate(rrs []dns.RR, rr dns.RR) bool {
	for _, x := range rrs {
		if dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}
