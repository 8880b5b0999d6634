package resolver

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/resolver/cache"
	"github.com/meridian-dns/meridian/resolver/exchange"
	"github.com/meridian-dns/meridian/resolver/infra"
	"github.com/meridian-dns/meridian/resolver/iterator"
)

// outcome is the end of one resolution.
type outcome struct {
	rcode  int
	answer []dns.RR
	ns     []dns.RR
	ede    *dns.EDNS0_EDE
}

// run resolves q, sharing budget with the resolution it serves (depth 0 is
// a client's question; deeper ones find name-server addresses). With
// refresh set the cache is not consulted for q itself: a prefetch must ask
// upstream for what the cache still holds.
func (r *Resolver) run(ctx context.Context, q dns.Question, budget *iterator.Budget, depth int, refresh bool) outcome {
	if z := longest(r.conf().Forward, q.Name); z != nil {
		return r.forward(ctx, q, z, budget)
	}
	var choice infra.Choice
	it := iterator.New(iterator.Config{
		Minimise: !r.conf().NoMinimise,
		Budget:   budget,
		Select: func(zone string, cands []netip.Addr) netip.Addr {
			aps := make([]netip.AddrPort, len(cands))
			for i, a := range cands {
				aps[i] = r.addrPort(a)
			}
			choice, _ = r.infra.Select(zone, aps)
			return choice.Server.Addr()
		},
	}, q)
	for {
		if err := ctx.Err(); err != nil {
			return outcome{rcode: dns.RcodeServerFailure, ede: ede(dns.ExtendedErrorCodeNoReachableAuthority, "resolution timed out")}
		}
		a := it.Next()
		switch a.Kind {
		case iterator.NeedDelegation:
			if !(refresh && a.Name == q.Name && a.Type == q.Qtype) && r.cached(it, a) {
				continue
			}
			it.Delegation(r.delegation(a.Name, a.Parent))
		case iterator.SendQuery:
			resp, err := r.send(ctx, a, choice)
			r.learn(it.Response(resp, err))
		case iterator.NeedAddresses:
			for _, name := range a.Names {
				it.Addresses(name, r.nsAddrs(ctx, name, budget, depth))
			}
		case iterator.Done:
			var o outcome
			var code int
			var text string
			o.rcode, o.answer, o.ns, code, text = it.Result()
			if code != iterator.EDENone {
				o.ede = ede(uint16(code), text)
			}
			return o
		}
	}
}

// cached gives the iterator what the cache knows of an alias chain's next
// name (or a sub-resolution's name) and reports whether it was enough.
func (r *Resolver) cached(it *iterator.Iterator, a iterator.Action) bool {
	var m dns.Msg
	res := r.cache.Answer(&m, dns.Question{Name: a.Name, Qtype: a.Type, Qclass: dns.ClassINET}, cache.Internal)
	switch res.Kind {
	case cache.Positive, cache.NXDomain, cache.NoData:
		it.Cached(m.Rcode, m.Answer, m.Ns, "")
		return true
	case cache.Partial:
		it.Cached(m.Rcode, m.Answer, nil, res.Next)
		return true
	}
	return false
}

// delegation is where to start for name: the closest cached cut, unless a
// stub zone is closer, else the root hints. For DS (parent set) the search
// starts above name, as DS lives in the parent (RFC 4035 §3.1.4.1).
func (r *Resolver) delegation(name string, parent bool) cache.Delegation {
	if parent && name != "." {
		if off, end := dns.NextLabel(name, 0); !end {
			name = name[off:]
		} else {
			name = "."
		}
	}
	d, ok := r.cache.Closest(name, dns.ClassINET)
	if z := longest(r.conf().Stub, name); z != nil && (!ok || !dns.IsSubDomain(z.Name, d.Zone)) {
		d = cache.Delegation{Zone: z.Name}
		for _, s := range z.Servers {
			d.Servers = append(d.Servers, cache.Server{Name: s.Addr().String() + ".stub.invalid.", Addrs: []netip.Addr{s.Addr()}})
		}
		return d
	}
	if !ok {
		return r.live.Load().roots
	}
	return d
}

// send asks one server, learning from how it answers: its RTT, a timeout,
// no EDNS (FORMERR or NOTIMP to a query with OPT: retry without, RFC 6891
// §7), no case preservation (retry without 0x20), lameness (REFUSED).
func (r *Resolver) send(ctx context.Context, a iterator.Action, choice infra.Choice) (*dns.Msg, error) {
	ap := r.addrPort(a.Server)
	q := new(dns.Msg)
	q.SetQuestion(a.Name, a.Type)
	q.RecursionDesired = false
	opts := exchange.Options{NoEDNS: !choice.EDNS, No0x20: r.conf().No0x20 || !choice.Case0x20, Timeout: choice.Timeout}
	if choice.Server != ap { // Select was not consulted for this server
		opts = exchange.Options{No0x20: r.conf().No0x20}
	} else if len(choice.Race) > 0 {
		return r.race(ctx, a, choice)
	} else if choice.Blocked {
		// Every candidate is being avoided after repeated timeouts, and
		// infra will probe each when its backoff ends. Waiting on one now
		// would make every client wait out the same timeouts again (a
		// region cut off from the zone's servers): give up at once, so the
		// client gets stale data or SERVFAIL without delay, as Unbound
		// does with servers it has found down.
		r.metrics.upstream("avoided")
		return nil, errAvoided
	}
	for try := 0; ; try++ {
		rep, err := r.exch.Exchange(ctx, ap, q, opts)
		switch {
		case err == nil:
		case errors.Is(err, exchange.ErrCaseMismatch) && !opts.No0x20 && try < 2:
			r.infra.RecordNo0x20(ap)
			opts.No0x20 = true
			continue
		case errors.Is(err, exchange.ErrTimeout):
			r.infra.RecordTimeout(ap)
			r.metrics.upstream("timeout")
			return nil, err
		case errors.Is(err, exchange.ErrNetwork):
			// Unreachable (ICMP on the connected socket): as good as a
			// timeout for choosing servers, and backed off the same way.
			r.infra.RecordTimeout(ap)
			r.metrics.upstream("unreachable")
			return nil, err
		default:
			r.metrics.upstream("error")
			return nil, err
		}
		r.infra.RecordRTT(ap, rep.RTT)
		m := rep.Msg
		if (m.Rcode == dns.RcodeFormatError || m.Rcode == dns.RcodeNotImplemented) && !opts.NoEDNS && try < 2 {
			r.infra.RecordNoEDNS(ap)
			opts.NoEDNS = true
			r.metrics.upstream("noedns")
			continue
		}
		if m.Rcode == dns.RcodeRefused {
			r.infra.MarkLame(ap, a.Zone)
		}
		r.metrics.upstream(strings.ToLower(dns.RcodeToString[m.Rcode]))
		return m, nil
	}
}

// race sends a's query to the server Select chose and to the other
// never-queried servers it listed (Choice.Race) at once, and returns the
// first answer that is one (NOERROR or NXDOMAIN), or else the first
// failure once all have failed. Every response is from a server of the
// same zone, so any of them serves the iterator. The slower queries run
// on under the resolver's own context, so that their answers still
// measure their servers for the next selection; Close stops them.
func (r *Resolver) race(ctx context.Context, a iterator.Action, choice infra.Choice) (*dns.Msg, error) {
	type result struct {
		m   *dns.Msg
		err error
	}
	all := append([]infra.Choice{choice}, choice.Race...)
	all[0].Race = nil
	results := make(chan result, len(all))
	for _, c := range all {
		one := a
		one.Server = c.Server.Addr()
		r.bg.Add(1) // within a resolution, itself counted: safe beside Close
		go func() {
			defer r.bg.Done()
			m, err := r.send(r.ctx, one, c)
			results <- result{m, err}
		}()
	}
	var first *result
	for range all {
		select {
		case res := <-results:
			if res.err == nil && (res.m.Rcode == dns.RcodeSuccess || res.m.Rcode == dns.RcodeNameError) {
				return res.m, nil
			}
			if first == nil {
				first = &res
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return first.m, first.err
}

// errAvoided is a query not sent because every server it could go to is
// being avoided after timeouts.
var errAvoided = errors.New("resolver: every server is being avoided after timeouts")

// learn puts what a response taught into the cache.
func (r *Resolver) learn(l iterator.Learned) {
	for _, s := range l.RRsets {
		r.cache.Insert(s.RRs, s.Rank)
	}
	if l.Negative != nil {
		r.cache.InsertNegative(*l.Negative)
	}
}

// nsAddrs finds the addresses of a name server with no glue: from the cache
// (glue and authority data included: they are fit to reach a server), else
// by resolving its A and then, if none, its AAAA records.
func (r *Resolver) nsAddrs(ctx context.Context, name string, budget *iterator.Budget, depth int) []netip.Addr {
	var addrs []netip.Addr
	for _, t := range [...]uint16{dns.TypeA, dns.TypeAAAA} {
		if rrs, _, ok := r.cache.Lookup(nil, name, t, dns.ClassINET); ok {
			addrs = appendAddrs(addrs, rrs)
		}
	}
	if len(addrs) > 0 || depth >= DefaultMaxDepth {
		return addrs
	}
	for _, t := range [...]uint16{dns.TypeA, dns.TypeAAAA} {
		o := r.run(ctx, dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET}, budget, depth+1, false)
		if addrs = appendAddrs(addrs, o.answer); len(addrs) > 0 {
			break
		}
	}
	return addrs
}

// addrPort gives a server address its port: a stub or forward zone's own
// port where configured, NSPort otherwise.
func (r *Resolver) addrPort(a netip.Addr) netip.AddrPort {
	for _, zs := range [...][]Zone{r.conf().Stub, r.conf().Forward} {
		for _, z := range zs {
			for _, s := range z.Servers {
				if s.Addr() == a {
					return s
				}
			}
		}
	}
	return netip.AddrPortFrom(a, r.conf().NSPort)
}

// longest returns the zone of zs that contains name most closely, or nil.
func longest(zs []Zone, name string) *Zone {
	var best *Zone
	for i := range zs {
		if dns.IsSubDomain(zs[i].Name, name) && (best == nil || len(zs[i].Name) > len(best.Name)) {
			best = &zs[i]
		}
	}
	return best
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

func ede(code uint16, text string) *dns.EDNS0_EDE {
	return &dns.EDNS0_EDE{InfoCode: code, ExtraText: text}
}
