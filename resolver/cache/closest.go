package cache

import (
	"net/netip"

	"github.com/miekg/dns"
)

// Lookup appends to dst copies of the fresh RRset (name, qtype, class), TTLs
// counted down, and returns it with its rank. Unlike Answer it returns data
// of every rank, for the iterator to judge: glue is good enough to reach a
// server, not to answer a client. Negative entries are not returned.
func (c *Cache) Lookup(dst []dns.RR, name string, qtype, class uint16) ([]dns.RR, Rank, bool) {
	now := c.cfg.Now().UnixNano()
	e, st := c.get(name, qtype, class, now)
	if e == nil || st != fresh || e.kind != positive {
		return dst, 0, false
	}
	return appendRRs(dst, e.rrs, e.remaining(now), ""), e.rank, true
}

// Delegation is a cached zone cut: where an iteration can start instead of
// the root.
type Delegation struct {
	// Zone is the owner of the NS RRset, lower case.
	Zone string
	// NS is a copy of the NS RRset, TTLs counted down.
	NS []dns.RR
	// Rank is the NS RRset's rank: RankAuthority when it came from the
	// parent's referral, higher when the child's servers confirmed it.
	Rank Rank
	// Servers lists the NS targets in the RRset's order.
	Servers []Server
}

// Server is one name server of a Delegation.
type Server struct {
	// Name is the NS target as in the NS record.
	Name string
	// Addrs holds its fresh cached IPv4 then IPv6 addresses, from records of
	// any rank (glue included: they are only used to send queries). Empty
	// when none are cached: the iterator resolves Name itself, or tries
	// another server first.
	Addrs []netip.Addr
}

// Closest returns the deepest fresh cached zone cut at or above qname: the
// deepest ancestor of qname, qname included, that owns a cached NS RRset.
// The iterator starts there rather than at the root (RFC 1034 §5.3.3, step
// 2). For a DS question the caller passes the parent of qname, as DS lives
// on the parent side of a cut (RFC 4035 §3.1.4.1). ok is false when no cut
// is cached, not even the root's.
func (c *Cache) Closest(qname string, class uint16) (d Delegation, ok bool) {
	now := c.cfg.Now().UnixNano()
	for name, more := qname, true; more; name, more = parent(name) {
		e, st := c.get(name, dns.TypeNS, class, now)
		if e == nil || st != fresh || e.kind != positive {
			continue
		}
		d = Delegation{Zone: e.name, Rank: e.rank, NS: appendRRs(nil, e.rrs, e.remaining(now), "")}
		d.Servers = make([]Server, 0, len(e.rrs))
		for _, rr := range e.rrs {
			ns, isNS := rr.(*dns.NS)
			if !isNS {
				continue
			}
			s := Server{Name: ns.Ns}
			s.Addrs = c.appendAddrs(s.Addrs, ns.Ns, dns.TypeA, class, now)
			s.Addrs = c.appendAddrs(s.Addrs, ns.Ns, dns.TypeAAAA, class, now)
			d.Servers = append(d.Servers, s)
		}
		return d, true
	}
	return Delegation{}, false
}

// appendAddrs appends the addresses of the fresh A or AAAA RRset at name.
func (c *Cache) appendAddrs(dst []netip.Addr, name string, qtype, class uint16, now int64) []netip.Addr {
	e, st := c.get(name, qtype, class, now)
	if e == nil || st != fresh || e.kind != positive {
		return dst
	}
	for _, rr := range e.rrs {
		var ip []byte
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			dst = append(dst, a.Unmap())
		}
	}
	return dst
}

// parent returns the name one label up from name and whether there was
// one; the root has none. Escaped dots do not separate labels.
func parent(name string) (string, bool) {
	if name == "." || name == "" {
		return "", false
	}
	off, end := dns.NextLabel(name, 0)
	if end {
		return ".", true
	}
	return name[off:], true
}
