package iterator

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/resolver/cache"
)

// maxChainInResponse bounds the aliases followed inside one response.
const maxChainInResponse = 8

// triesPerServer bounds the queries one server of a zone gets, within one
// step of a resolution, when it does not answer in time: one lost query
// is tried again before the server counts as tried. Without it a zone
// with a single server, or whose other servers are down, fails the
// client's question on one lost datagram or one answer a little later
// than the timeout; Unbound and BIND retry a server too. A server that
// fails otherwise (an error rcode, a lame answer) is not asked again.
const triesPerServer = 2

// timedOut reports an error that says a server did not answer in time (a
// Timeout method, as net.Error and the exchange package's errors have).
func timedOut(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Response gives the outcome of SendQuery: the response, or the exchange's
// error. It returns what may be cached. Everything in it has passed the
// bailiwick check: only records at or below the zone of the server that sent
// them are kept (RFC 2181 §5.4.1; the Kaminsky attack relies on resolvers
// that keep more).
func (it *Iterator) Response(resp *dns.Msg, err error) (l Learned) {
	if it.st != stQuery || it.qname1 == "" {
		return l
	}
	qn, qt := it.qname1, it.qtype1
	minimised := it.minimised()
	it.qname1 = ""
	if err != nil || resp == nil {
		if timedOut(err) {
			// A lost datagram, or a late answer: worth another try,
			// which Select may give to another server (infra has just
			// doubled this one's timeout and lowered its rank).
			if it.timeouts == nil {
				it.timeouts = make(map[netip.Addr]int)
			}
			it.timeouts[it.last]++
			if it.timeouts[it.last] < triesPerServer {
				return l
			}
		}
		it.tried[it.last] = true
		return l
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		// SERVFAIL, REFUSED (a lame server), FORMERR, NOTIMP: try the next
		// server. A server that fails on a minimised question may not
		// handle empty non-terminals: ask the full question (RFC 9156 §2.3).
		it.tried[it.last] = true
		if minimised {
			it.minimise = false
		}
		return l
	}
	r := reader{zone: it.zone, msg: resp, class: it.class}

	// Follow the answer section from the question name.
	cur := qn
	var chain, final []dns.RR
	if resp.Authoritative {
		cur, chain, final = r.follow(qn, qt)
	}
	if len(chain) > 0 || len(final) > 0 {
		l.add(chain, cache.RankAuthAnswer)
		l.add(final, cache.RankAuthAnswer)
	}

	if ref := r.referral(cur); ref != nil && len(final) == 0 {
		if qt == dns.TypeDS && strings.EqualFold(ref[0].Header().Name, cur) {
			// The parent referred a DS question to the child: lame.
			it.tried[it.last] = true
			return Learned{}
		}
		it.chain = append(it.chain, chain...)
		if len(chain) > 0 {
			it.name = cur
			if it.restarts++; it.restarts > it.cfg.MaxRestarts {
				it.fail(EDEOther, "alias chain too long")
				return l
			}
		}
		it.followReferral(r, ref, &l)
		return l
	}
	if !resp.Authoritative {
		// Neither an answer nor a referral to a zone below: a lame server
		// or an upward referral. Try the next one.
		it.tried[it.last] = true
		return Learned{}
	}

	if minimised {
		switch {
		case len(chain) > 0 || resp.Rcode == dns.RcodeNameError:
			// An alias or a missing name on the way down: ask the full
			// question, which the server answers as it should (RFC 9156
			// §2.3; relaxed, as Unbound, rather than trusting RFC 8020
			// from a server that may mishandle empty non-terminals).
			it.minimise = false
			return Learned{}
		default:
			// The name exists and is no cut: reveal more labels.
			it.revealed = dns.CountLabel(qn)
			return l
		}
	}

	switch {
	case len(final) > 0:
		it.finish(dns.RcodeSuccess, append(append(it.chain, chain...), final...), nil)
	case len(chain) > 0 && (resp.Rcode == dns.RcodeSuccess && r.soaFor(cur) == nil || !dns.IsSubDomain(it.zone, cur)):
		// The chain leaves what this server can answer: resolve the target.
		it.chain = append(it.chain, chain...)
		it.restart(cur)
	default:
		soa := r.soaFor(cur)
		neg := &cache.Negative{Name: cur, Type: qt, Class: it.class, NXDomain: resp.Rcode == dns.RcodeNameError,
			SOA: soa, Rank: cache.RankAuthAnswer}
		if neg.NXDomain {
			neg.Type = 0
		}
		var ns []dns.RR
		if soa != nil {
			l.Negative = neg
			ns = []dns.RR{soa}
		}
		it.finish(resp.Rcode, append(it.chain, chain...), ns)
	}
	return l
}

// followReferral moves the iteration to the zone cut of the NS RRset ref.
func (it *Iterator) followReferral(r reader, ref []dns.RR, l *Learned) {
	if it.referrals++; it.referrals > it.cfg.MaxReferrals {
		it.fail(EDEOther, "too many referrals")
		return
	}
	l.add(ref, cache.RankAuthority)
	child := strings.ToLower(ref[0].Header().Name)
	glue := r.glue(ref)
	for _, g := range glue {
		l.add(g, cache.RankAdditional)
	}
	it.setZone(child)
	for _, rr := range ref {
		ns := rr.(*dns.NS).Ns
		var addrs []netip.Addr
		for _, g := range glue {
			if strings.EqualFold(g[0].Header().Name, ns) {
				addrs = appendAddrs(addrs, g)
			}
		}
		it.addServer(ns, addrs)
	}
	it.st = stQuery
}

// reader looks at one response through the bailiwick of the zone whose
// server sent it.
type reader struct {
	zone  string
	msg   *dns.Msg
	class uint16
}

// inZone reports whether rr may be believed from this server: its owner is
// in the zone, and its class is the question's.
func (r reader) inZone(rr dns.RR) bool {
	h := rr.Header()
	return h.Class == r.class && dns.IsSubDomain(r.zone, h.Name)
}

// rrset collects the records of section with the given owner and type.
func (r reader) rrset(section []dns.RR, owner string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range section {
		h := rr.Header()
		if (h.Rrtype == t || t == dns.TypeANY && h.Rrtype != dns.TypeOPT) && strings.EqualFold(h.Name, owner) && r.inZone(rr) {
			out = append(out, rr)
		}
	}
	return out
}

// follow walks the answer section from name: the CNAME and DNAME records
// that lead on (while they stay in the zone) and the RRset of type t where
// the chain ends. It returns the chain's end.
func (r reader) follow(name string, t uint16) (cur string, chain, final []dns.RR) {
	cur = name
	for range maxChainInResponse {
		if !dns.IsSubDomain(r.zone, cur) {
			return cur, chain, nil
		}
		if s := r.rrset(r.msg.Answer, cur, t); len(s) > 0 {
			return cur, chain, s
		}
		if d := r.dnameAbove(cur); d != nil {
			target, ok := substitute(cur, d)
			if !ok {
				return cur, chain, nil
			}
			// RFC 6672 §3.4: the CNAME is synthesised here from the
			// DNAME, not taken from the server.
			chain = append(chain, d, &dns.CNAME{
				Hdr:    dns.RR_Header{Name: cur, Rrtype: dns.TypeCNAME, Class: r.class, Ttl: d.Hdr.Ttl},
				Target: target,
			})
			cur = target
			continue
		}
		c := r.rrset(r.msg.Answer, cur, dns.TypeCNAME)
		if len(c) != 1 {
			return cur, chain, nil
		}
		chain = append(chain, c[0])
		cur = c[0].(*dns.CNAME).Target
	}
	return cur, chain, nil
}

// dnameAbove finds a DNAME in the answer owned by a proper ancestor of name.
func (r reader) dnameAbove(name string) *dns.DNAME {
	for _, rr := range r.msg.Answer {
		d, ok := rr.(*dns.DNAME)
		if ok && r.inZone(rr) && !strings.EqualFold(d.Hdr.Name, name) && dns.IsSubDomain(d.Hdr.Name, name) {
			return d
		}
	}
	return nil
}

// substitute rewrites name under the DNAME d (RFC 6672 §2.2).
func substitute(name string, d *dns.DNAME) (string, bool) {
	prefix := name[:len(name)-len(d.Hdr.Name)]
	target := prefix + dns.Fqdn(d.Target)
	if d.Target == "." {
		target = prefix
	}
	_, ok := dns.IsDomainName(target)
	return target, ok && len(target) < 255
}

// referral returns the NS RRset of the authority section that delegates
// name from this zone to a zone strictly below it, or nil.
func (r reader) referral(name string) []dns.RR {
	for _, rr := range r.msg.Ns {
		h := rr.Header()
		if h.Rrtype != dns.TypeNS || !r.inZone(rr) || strings.EqualFold(h.Name, r.zone) || !dns.IsSubDomain(h.Name, name) {
			continue
		}
		return r.rrset(r.msg.Ns, h.Name, dns.TypeNS)
	}
	return nil
}

// glue returns the address RRsets in the additional section for the targets
// of ns, those in this zone's bailiwick only: a server may give addresses
// for names it serves, not for others (RFC 2181 §5.4.1).
func (r reader) glue(ns []dns.RR) [][]dns.RR {
	var out [][]dns.RR
	for _, rr := range ns {
		target := rr.(*dns.NS).Ns
		for _, t := range [...]uint16{dns.TypeA, dns.TypeAAAA} {
			if s := r.rrset(r.msg.Extra, target, t); len(s) > 0 {
				out = append(out, s)
			}
		}
	}
	return out
}

// soaFor returns the SOA of the authority section that may stand for a
// negative answer about name: owned by name or an ancestor, in this zone.
func (r reader) soaFor(name string) *dns.SOA {
	for _, rr := range r.msg.Ns {
		if soa, ok := rr.(*dns.SOA); ok && r.inZone(rr) && dns.IsSubDomain(soa.Hdr.Name, name) {
			return soa
		}
	}
	return nil
}

// add records an RRset (records grouped by owner and type) to be cached.
func (l *Learned) add(rrs []dns.RR, rank cache.Rank) {
	for len(rrs) > 0 {
		h := rrs[0].Header()
		var set, rest []dns.RR
		for _, rr := range rrs {
			if rr.Header().Rrtype == h.Rrtype && strings.EqualFold(rr.Header().Name, h.Name) {
				set = append(set, rr)
			} else {
				rest = append(rest, rr)
			}
		}
		l.RRsets = append(l.RRsets, RRset{RRs: set, Rank: rank})
		rrs = rest
	}
}

func appendAddrs(dst []netip.Addr, rrs []dns.RR) []netip.Addr {
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				dst = append(dst, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok {
				dst = append(dst, a)
			}
		}
	}
	return dst
}
