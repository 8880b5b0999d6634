package zone

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Zone is one immutable version of a zone. It is built once by New (or Load)
// and never changed, so any number of goroutines may look names up in it
// while a reload builds its successor.
//
// Names are indexed in a hash map keyed by the lower-cased owner name, and
// every empty non-terminal gets a node of its own, so a lookup costs one map
// probe per label of the query name whatever the size of the zone.
type Zone struct {
	origin  string // lower-case, fully qualified
	labels  int    // label count of origin
	apex    *node
	names   map[string]*node
	nodes   []*node // every node, each after its parent
	soa     *dns.SOA
	negSOA  []dns.RR    // the SOA with TTL = min(SOA TTL, MINIMUM), RFC 2308 §3
	soaSigs []dns.RR    // RRSIGs covering negSOA, with its TTL (RFC 4034 §3)
	nsec    []*node     // owners of NSEC RRsets in canonical order (denial.go)
	nsec3   *nsec3Chain // the NSEC3 chain of a zone without NSEC (nsec3.go)
	count   int         // number of RRs, RRSIGs included
	err     error       // set on a placeholder for a zone that failed to load
}

// node is one owner name, or an empty non-terminal.
type node struct {
	name   string // lower-case owner name
	parent *node  // nil at the apex
	rrsets []rrset
	// above is the highest delegation point (a non-apex node with NS) at or
	// above this node, or the highest DNAME owner strictly above it. Data
	// under either is not authoritative (RFC 1034 §4.2.1, RFC 6672 §2.4).
	above *node
	// wild is the node of the "*" child of this name, if there is one.
	wild *node
	cut  bool // has NS and is not the apex
	// hidden is set on a name outside the zone's name space: an owner of
	// NSEC3 records only (RFC 5155 §7.2.8), or an empty non-terminal above
	// nothing else. Lookups treat it as absent; transfers still carry it.
	hidden bool
}

// rrset is the records of one type at one node, with the RRSIGs that cover
// them and the additional-section records prepared at build time.
type rrset struct {
	rtype uint16
	rrs   []dns.RR
	sigs  []dns.RR
	// extra holds A and AAAA records in this zone for the targets of NS, MX
	// and SRV records (glue included), so answers need no second search.
	// extraDO is the same with the RRSIGs of each address RRset, for DO
	// (RFC 4035 §3.1.1); it is extra itself when nothing is signed.
	extra   []dns.RR
	extraDO []dns.RR
	// withSigs is rrs followed by sigs, kept for the apex NS RRset, which
	// servers add to the authority section of positive answers.
	withSigs []dns.RR
}

// additional returns the additional-section records of s, with their
// signatures when do is set.
func (s *rrset) additional(do bool) []dns.RR {
	if do {
		return s.extraDO
	}
	return s.extra
}

// Origin returns the zone's name in lower case.
func (z *Zone) Origin() string { return z.origin }

// SOA returns the zone's SOA record, or nil for a zone that failed to load.
func (z *Zone) SOA() *dns.SOA { return z.soa }

// Serial returns the SOA serial, or 0 for a zone that failed to load.
func (z *Zone) Serial() uint32 {
	if z.soa == nil {
		return 0
	}
	return z.soa.Serial
}

// ApexNS returns the zone's apex NS RRset and the in-zone addresses of its
// targets, for servers that put them in the authority and additional
// sections of positive answers (NSD's and BIND's default). The slices are
// shared with the zone and must not be modified.
func (z *Zone) ApexNS() (ns, addrs []dns.RR) {
	if z.apex == nil {
		return nil, nil
	}
	if s := z.apex.get(dns.TypeNS); s != nil {
		return s.rrs, s.extra
	}
	return nil, nil
}

// ApexNSSigned is ApexNS for a query with DO: each RRset comes with the
// RRSIGs that cover it, as RFC 4035 §3.1.1 asks of the authority and
// additional sections. In an unsigned zone it returns what ApexNS does.
func (z *Zone) ApexNSSigned() (ns, addrs []dns.RR) {
	if z.apex == nil {
		return nil, nil
	}
	if s := z.apex.get(dns.TypeNS); s != nil {
		return s.withSigs, s.extraDO
	}
	return nil, nil
}

// Len returns the number of resource records in the zone.
func (z *Zone) Len() int { return z.count }

// Err returns the load error of a placeholder made by Failed.
func (z *Zone) Err() error { return z.err }

// Failed returns a placeholder for a zone that could not be loaded and has no
// previous version to fall back on. It answers every query with ServFail.
func Failed(origin string, err error) *Zone {
	origin = strings.ToLower(dns.Fqdn(origin))
	return &Zone{origin: origin, labels: dns.CountLabel(origin), err: err}
}

// Records returns every record of the zone, SOA first, then in canonical
// order of owner names (RFC 4034 §6.1) and by type. The slice is new; the
// records are shared.
func (z *Zone) Records() []dns.RR {
	if z.soa == nil {
		return nil
	}
	nodes := slices.Clone(z.nodes)
	slices.SortFunc(nodes, func(a, b *node) int { return compareNames(a.name, b.name) })
	out := make([]dns.RR, 0, z.count)
	out = append(out, z.soa)
	for _, n := range nodes {
		for _, s := range n.rrsets {
			for _, rr := range s.rrs {
				if rr != dns.RR(z.soa) {
					out = append(out, rr)
				}
			}
			out = append(out, s.sigs...)
		}
	}
	return out
}

// New indexes records that have already been validated (see Check) into a
// zone. It does not reject anything: records outside the origin are ignored,
// and without an SOA at the apex the zone answers ServFail. It never panics
// on odd input, because fuzzed zone files reach it.
func New(origin string, rrs []dns.RR) *Zone {
	origin = strings.ToLower(dns.Fqdn(origin))
	z := &Zone{origin: origin, labels: dns.CountLabel(origin), names: make(map[string]*node, len(rrs))}
	z.apex = z.ensure(origin)
	var last *node // records of one owner usually come together
	for _, rr := range rrs {
		if rr == nil {
			continue
		}
		n := last
		if owner := rr.Header().Name; n == nil || !strings.EqualFold(n.name, owner) {
			name := strings.ToLower(owner)
			if !dns.IsSubDomain(origin, name) {
				continue
			}
			n = z.ensure(name)
			last = n
		}
		n.add(rr)
		z.count++
	}
	for _, s := range z.apex.rrsets {
		if s.rtype == dns.TypeSOA && len(s.rrs) > 0 {
			z.soa = s.rrs[0].(*dns.SOA)
		}
	}
	if z.soa == nil {
		z.err = errNoSOA
		return z
	}
	neg := dns.Copy(z.soa)
	neg.Header().Ttl = min(z.soa.Hdr.Ttl, z.soa.Minttl)
	z.negSOA = []dns.RR{neg}
	// The signatures go with the SOA at its negative TTL: NSD and Knot
	// agree, and a cache must not keep them longer than the SOA.
	for _, sig := range z.apex.get(dns.TypeSOA).sigs {
		c := dns.Copy(sig)
		c.Header().Ttl = neg.Header().Ttl
		z.soaSigs = append(z.soaSigs, c)
	}
	z.hideNSEC3()
	z.link()
	z.indexNSEC()
	z.indexNSEC3()
	return z
}

type zoneError string

func (e zoneError) Error() string { return string(e) }

const errNoSOA = zoneError("zone has no SOA record at its apex")

// ensure returns the node for name, creating it and every missing ancestor up
// to the origin (the empty non-terminals). Parents are created first, so
// z.nodes lists every node after its parent.
func (z *Zone) ensure(name string) *node {
	if n := z.names[name]; n != nil {
		return n
	}
	var parent *node
	if name != z.origin {
		parentName := "."
		if off, end := dns.NextLabel(name, 0); !end {
			parentName = name[off:]
		}
		parent = z.ensure(parentName)
	}
	n := &node{name: name, parent: parent}
	z.names[name] = n
	z.nodes = append(z.nodes, n)
	return n
}

func (n *node) add(rr dns.RR) {
	t := rr.Header().Rrtype
	if sig, ok := rr.(*dns.RRSIG); ok {
		s := n.getOrAdd(sig.TypeCovered)
		s.sigs = append(s.sigs, rr)
		return
	}
	s := n.getOrAdd(t)
	s.rrs = append(s.rrs, rr)
}

func (n *node) getOrAdd(t uint16) *rrset {
	for i := range n.rrsets {
		if n.rrsets[i].rtype == t {
			return &n.rrsets[i]
		}
	}
	n.rrsets = append(n.rrsets, rrset{rtype: t})
	return &n.rrsets[len(n.rrsets)-1]
}

// get returns the RRset of type t at n; the zero rrset when there is none.
func (n *node) get(t uint16) *rrset {
	for i := range n.rrsets {
		if n.rrsets[i].rtype == t && len(n.rrsets[i].rrs) > 0 {
			return &n.rrsets[i]
		}
	}
	return nil
}

// hasData reports whether n owns any record (RRSIGs alone count: a signed
// empty set is still data at the name).
func (n *node) hasData() bool { return len(n.rrsets) > 0 }

// link computes the derived pointers once all records are in: delegation
// points, DNAME shadows, wildcard children and additional-section records.
// It walks z.nodes, where parents come before children, so each node's
// shadow follows from its parent's.
func (z *Zone) link() {
	for _, n := range z.nodes {
		n.cut = n != z.apex && n.get(dns.TypeNS) != nil
		if p := n.parent; p != nil {
			switch {
			case p.above != nil:
				n.above = p.above // the highest shadow wins
			case p.get(dns.TypeDNAME) != nil:
				n.above = p // below a DNAME: occluded (RFC 6672 §2.4)
			case n.cut:
				n.above = n
			}
			if len(n.name) > 1 && n.name[0] == '*' && n.name[1] == '.' && !n.hidden {
				p.wild = n
			}
		}
	}
	for _, n := range z.nodes {
		for i := range n.rrsets {
			s := &n.rrsets[i]
			// Stop appends by a caller from reaching the zone's arrays.
			s.rrs = s.rrs[:len(s.rrs):len(s.rrs)]
			s.sigs = s.sigs[:len(s.sigs):len(s.sigs)]
			switch s.rtype {
			case dns.TypeNS, dns.TypeMX, dns.TypeSRV:
				s.extra, s.extraDO = z.additional(s.rrs)
			}
			if s.rtype == dns.TypeNS && n == z.apex {
				s.withSigs = s.rrs
				if len(s.sigs) > 0 {
					s.withSigs = slices.Concat(s.rrs, s.sigs)
				}
			}
		}
	}
}

// additional collects the in-zone address records of the targets of rrs,
// and the same with their signatures.
func (z *Zone) additional(rrs []dns.RR) (plain, signed []dns.RR) {
	var out, outDO []dns.RR
	sigs := false
	for i, rr := range rrs {
		var target string
		switch v := rr.(type) {
		case *dns.NS:
			target = v.Ns
		case *dns.MX:
			target = v.Mx
		case *dns.SRV:
			target = v.Target
		}
		if target == "" || target == "." || sameTargetBefore(rrs[:i], target) {
			continue
		}
		n := z.names[strings.ToLower(target)]
		if n == nil {
			continue
		}
		// Addresses under a cut are glue: given for NS targets only.
		if _, isNS := rr.(*dns.NS); n.above != nil && (!isNS || n.above.get(dns.TypeDNAME) != nil) {
			continue
		}
		for _, t := range [...]uint16{dns.TypeA, dns.TypeAAAA} {
			if s := n.get(t); s != nil {
				out = append(out, s.rrs...)
				outDO = append(outDO, s.rrs...)
				outDO = append(outDO, s.sigs...)
				sigs = sigs || len(s.sigs) > 0
			}
		}
	}
	out = slices.Clip(out)
	if !sigs {
		return out, out
	}
	return out, slices.Clip(outDO)
}

// sameTargetBefore reports whether an earlier record of an RRset has the same
// target, so that its addresses are not added twice. RRsets are small.
func sameTargetBefore(rrs []dns.RR, target string) bool {
	for _, rr := range rrs {
		var t string
		switch v := rr.(type) {
		case *dns.NS:
			t = v.Ns
		case *dns.MX:
			t = v.Mx
		case *dns.SRV:
			t = v.Target
		}
		if strings.EqualFold(t, target) {
			return true
		}
	}
	return false
}
