package cache

import (
	"strings"

	"github.com/miekg/dns"
)

// Mode selects which data a lookup may use.
type Mode uint8

const (
	// Fresh uses unexpired data only: the normal lookup, made before any
	// upstream query.
	Fresh Mode = iota
	// Stale also uses data that expired less than StaleWindow ago, for when
	// resolution has failed or the client-response timer has fired
	// (RFC 8767 §4). Fresh data is still preferred where it exists.
	Stale
	// Internal is Fresh for the resolver's own look-ups (an alias chain's
	// next name, a name server's address): not counted as a client hit or
	// miss, and it claims no prefetch, which is for what clients ask.
	Internal
)

// Kind is what Answer found.
type Kind uint8

const (
	// Miss: nothing usable is cached; the message is unchanged.
	Miss Kind = iota
	// Positive: the answer section holds the answer, after any CNAME chain.
	Positive
	// NXDomain: the name, or the last target of a CNAME chain, does not
	// exist; the authority section holds the SOA (RFC 2308 §3).
	NXDomain
	// NoData: the name exists without data of the type; the authority
	// section holds the SOA (RFC 2308 §2.2).
	NoData
	// Partial: the answer section holds a CNAME chain whose last target
	// (Result.Next) is not cached. The caller resolves Next and appends;
	// or it ignores the chain and resolves the question afresh.
	Partial
)

// String returns the kind's name, for logs and tests.
func (k Kind) String() string {
	switch k {
	case Miss:
		return "miss"
	case Positive:
		return "positive"
	case NXDomain:
		return "nxdomain"
	case NoData:
		return "nodata"
	case Partial:
		return "partial"
	}
	return "invalid"
}

// Result describes an answer composed by Answer.
type Result struct {
	Kind Kind
	// Stale: some records used had expired (Mode Stale only). Their TTL is
	// StaleTTL; the caller adds EDE 3, Stale Answer (RFC 8914 §4.4).
	Stale bool
	// Prefetch: a record used is in the last PrefetchPercent of its TTL and
	// this call is the one that claimed its refresh, so the caller should
	// resolve the question again in the background. Exactly one call sees
	// it per cached entry.
	Prefetch bool
	// Next is, for Partial, the name where the cached CNAME chain ends.
	Next string
}

// Answer composes a client answer to q from the cache into m. It follows
// CNAMEs through the cache (at most MaxChain) and appends the records to
// m.Answer, or the SOA of a cached negative answer to m.Ns, each a copy with
// the TTL left. Only answerable ranks are used (RFC 2181 §5.4.1): glue and
// authority data never answer a client.
//
// Unless the result is Miss, Answer also sets the rcode (not for Partial),
// sets RA, and clears AA and AD: the data is not the cache's own, and it has
// not been validated (RFC 4035 §3.2.3). The caller sets the ID, question and
// EDNS, for example with m.SetReply(req) beforehand. On Miss m is unchanged.
//
// A hit allocates one array per RRset for its copies, and nothing else when
// m's sections have room; the owner of the first RRset is written as
// q.Name, so the client sees the case it asked with.
func (c *Cache) Answer(m *dns.Msg, q dns.Question, mode Mode) Result {
	now := c.cfg.Now().UnixNano()
	k0 := c.key(q.Name, q.Qtype, q.Qclass)
	an, ns := len(m.Answer), len(m.Ns)
	res := c.compose(m, q, mode, k0, now)
	if mode != Internal {
		c.count(c.shard(k0), res, mode)
	}

	switch res.Kind {
	case Miss:
		m.Answer, m.Ns = m.Answer[:an], m.Ns[:ns]
		return res
	case Positive, NoData:
		m.Rcode = dns.RcodeSuccess
	case NXDomain:
		m.Rcode = dns.RcodeNameError // RFC 6604 §3: the rcode of the chain's last name
	}
	m.RecursionAvailable = true
	m.Authoritative = false
	m.AuthenticatedData = false
	return res
}

// compose walks from q.Name along cached CNAMEs and appends what it finds.
func (c *Cache) compose(m *dns.Msg, q dns.Question, mode Mode, k0 uint64, now int64) Result {
	var res Result
	name, owner := q.Name, q.Name
	for hops := 0; ; hops++ {
		k := k0
		if hops > 0 {
			k = c.key(name, q.Qtype, q.Qclass)
		}
		e, st := c.usable(mode, k, name, q.Qtype, q.Qclass, now)
		if e != nil && e.kind == positive {
			m.Answer = c.appendEntry(m.Answer, e, st, now, owner, mode, &res)
			res.Kind = Positive
			return res
		}
		if q.Qtype != dns.TypeCNAME {
			cn, cst := c.usable(mode, c.key(name, dns.TypeCNAME, q.Qclass), name, dns.TypeCNAME, q.Qclass, now)
			if target, ok := cnameTarget(cn); ok {
				if hops == c.cfg.MaxChain {
					return Result{Kind: Miss} // a loop or a chain too long: the iterator decides
				}
				if d, dst := c.dnameFor(mode, name, target, q.Qclass, now); d != nil {
					// RFC 6672 §3.4: the DNAME goes with the CNAME
					// synthesised from it, and before it.
					m.Answer = c.appendEntry(m.Answer, d, dst, now, "", mode, &res)
				}
				m.Answer = c.appendEntry(m.Answer, cn, cst, now, owner, mode, &res)
				name, owner = target, ""
				continue
			}
		}
		if e != nil && e.kind == noData {
			m.Ns = c.appendEntry(m.Ns, e, st, now, "", mode, &res)
			res.Kind = NoData
			return res
		}
		if nx, nst := c.usable(mode, c.key(name, dns.TypeNone, q.Qclass), name, dns.TypeNone, q.Qclass, now); nx != nil {
			m.Ns = c.appendEntry(m.Ns, nx, nst, now, "", mode, &res)
			res.Kind = NXDomain
			return res
		}
		if hops == 0 {
			return Result{Kind: Miss}
		}
		res.Kind, res.Next = Partial, name
		return res
	}
}

// dnameFor finds the cached DNAME at an ancestor of name from which the
// CNAME name → target was synthesised, so the answer can carry it. Only a
// DNAME whose substitution gives exactly target counts (RFC 6672 §2.2).
func (c *Cache) dnameFor(mode Mode, name, target string, class uint16, now int64) (*entry, state) {
	for p, ok := parent(name); ok; p, ok = parent(p) {
		e, st := c.usable(mode, c.key(p, dns.TypeDNAME, class), p, dns.TypeDNAME, class, now)
		if e == nil || e.kind != positive {
			continue
		}
		d, isD := e.rrs[0].(*dns.DNAME)
		if !isD {
			return nil, dead
		}
		prefix := name[:len(name)-len(p)]
		if p == "." {
			prefix = name
		}
		if strings.EqualFold(prefix+dns.Fqdn(d.Target), target) || d.Target == "." && strings.EqualFold(prefix, target) {
			return e, st
		}
		return nil, dead
	}
	return nil, dead
}

// cnameTarget returns the target of a positive CNAME entry.
func cnameTarget(e *entry) (string, bool) {
	if e == nil || e.kind != positive {
		return "", false
	}
	cn, ok := e.rrs[0].(*dns.CNAME)
	if !ok {
		return "", false
	}
	return cn.Target, true
}

// usable looks up key k, (name, qtype, class), and returns the entry only
// if it may answer a client in mode.
func (c *Cache) usable(mode Mode, k uint64, name string, qtype, class uint16, now int64) (*entry, state) {
	e, st := c.getKey(k, name, qtype, class, now)
	if e == nil || !e.rank.Answerable() || (st == stale && mode != Stale) {
		return nil, dead
	}
	return e, st
}

// appendEntry appends copies of e's records to dst: with the TTL left if e
// is fresh, noting a prefetch if this hit claims one; with StaleTTL if not.
func (c *Cache) appendEntry(dst []dns.RR, e *entry, st state, now int64, owner string, mode Mode, res *Result) []dns.RR {
	ttl := c.staleTTL
	if st == fresh {
		ttl = e.remaining(now)
		if mode != Internal && e.wantPrefetch(now) {
			res.Prefetch = true
		}
	} else {
		res.Stale = true
	}
	return appendRRs(dst, e.rrs, ttl, owner)
}

// count records a client answer in sh's counters.
func (c *Cache) count(sh *shard, res Result, mode Mode) {
	final := res.Kind != Miss && res.Kind != Partial
	switch {
	case mode == Stale:
		if final && res.Stale {
			sh.staleHits.Add(1)
		}
	case final:
		sh.hits.Add(1)
	default:
		sh.misses.Add(1)
	}
}
