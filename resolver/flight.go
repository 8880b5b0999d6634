package resolver

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/resolver/cache"
	"github.com/meridian-dns/meridian/resolver/iterator"
)

// A flight is one resolution under way. Every client asking the same
// question meanwhile waits for it instead of starting its own, so N
// identical questions cost one upstream resolution (miekg's SingleInflight
// no longer does this, so it lives here).
type flight struct {
	done chan struct{} // closed when out is set
	out  outcome
}

type flightKey struct {
	name         string // lower case
	qtype, class uint16
}

type flights struct {
	mu sync.Mutex
	m  map[flightKey]*flight
}

// join returns the flight for q, starting it if none is under way; joined
// reports whether it was already flying. The resolution runs on the
// resolver's own context with its own deadline, not the client's: a client
// that gives up (or is answered stale) does not waste the work, which then
// refreshes the cache. ok is false when the background slots are full and a
// new flight could not start (prefetch only: clients always get one).
func (r *Resolver) join(q dns.Question, client bool) (f *flight, joined, ok bool) {
	key := flightKey{strings.ToLower(q.Name), q.Qtype, q.Qclass}
	r.flights.mu.Lock()
	defer r.flights.mu.Unlock()
	if f := r.flights.m[key]; f != nil {
		return f, true, true
	}
	if r.ctx.Err() != nil {
		return nil, false, false
	}
	if !client {
		select {
		case r.bgSlot <- struct{}{}:
		default:
			return nil, false, false
		}
	}
	f = &flight{done: make(chan struct{})}
	r.flights.m[key] = f
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		if !client {
			defer func() { <-r.bgSlot }()
		}
		ctx, cancel := context.WithTimeout(r.ctx, r.conf().Deadline)
		defer cancel()
		f.out = r.run(ctx, q, iterator.NewBudget(r.conf().MaxQueries), 0, !client)
		r.flights.mu.Lock()
		delete(r.flights.m, key)
		r.flights.mu.Unlock()
		close(f.done)
	}()
	return f, false, true
}

// inflight returns the number of resolutions under way.
func (r *Resolver) inflight() int {
	r.flights.mu.Lock()
	defer r.flights.mu.Unlock()
	return len(r.flights.m)
}

// wait answers a client's cache miss: it joins or starts the resolution and
// waits for it, for ctx, or for the client response timer (RFC 8767 §5),
// after which stale data, if any, is served at once.
func (r *Resolver) wait(ctx context.Context, m *dns.Msg, q dns.Question) Info {
	f, joined, _ := r.join(q, true)
	if f == nil { // shutting down
		return r.fail(m, q, ede(dns.ExtendedErrorCodeNotReady, "resolver is stopping"))
	}
	if joined {
		r.metrics.joins.Inc()
	}
	var timer <-chan time.Time
	if !r.conf().NoServeStale {
		t := time.NewTimer(r.conf().ClientTimeout)
		defer t.Stop()
		timer = t.C
	}
	for {
		select {
		case <-f.done:
			return r.finish(m, q, f.out)
		case <-timer:
			timer = nil
			if info, ok := r.stale(m, q); ok {
				return info
			}
		case <-ctx.Done():
			return r.fail(m, q, ede(dns.ExtendedErrorCodeNoReachableAuthority, "no answer in time"))
		}
	}
}

// finish writes a finished resolution into m. The answer is taken from the
// cache when it is there, so that TTLs count down and the client's spelling
// of the name is kept; what could not be cached (TTL 0, a failure) comes
// from the resolution itself.
func (r *Resolver) finish(m *dns.Msg, q dns.Question, o outcome) Info {
	if o.rcode == dns.RcodeServerFailure {
		return r.fail(m, q, o.ede)
	}
	res := r.cache.Answer(m, q, cache.Internal)
	switch res.Kind {
	case cache.Positive, cache.NXDomain, cache.NoData:
		return Info{Source: FromUpstream, EDE: o.ede}
	}
	m.Rcode = o.rcode
	m.RecursionAvailable = true
	m.Answer = append(m.Answer, slices.Clone(o.answer)...)
	m.Ns = append(m.Ns, slices.Clone(o.ns)...)
	return Info{Source: FromUpstream, EDE: o.ede}
}

// fail answers SERVFAIL, unless stale data can stand in (RFC 8767 §4).
func (r *Resolver) fail(m *dns.Msg, q dns.Question, e *dns.EDNS0_EDE) Info {
	if info, ok := r.stale(m, q); ok {
		return info
	}
	m.Rcode = dns.RcodeServerFailure
	m.RecursionAvailable = true
	if e == nil {
		e = ede(dns.ExtendedErrorCodeOther, "")
	}
	return Info{Source: FromNowhere, EDE: e}
}

// stale answers from expired data, with TTL 30 (the cache's StaleTTL) and
// EDE 3, Stale Answer, or 19, Stale NXDOMAIN Answer (RFC 8914 §4.4, §4.20).
func (r *Resolver) stale(m *dns.Msg, q dns.Question) (Info, bool) {
	if r.conf().NoServeStale {
		return Info{}, false
	}
	res := r.cache.Answer(m, q, cache.Stale)
	switch res.Kind {
	case cache.Positive, cache.NoData, cache.NXDomain:
	default:
		return Info{}, false
	}
	if !res.Stale {
		return Info{Source: FromCache}, true // refreshed meanwhile
	}
	code := dns.ExtendedErrorCodeStaleAnswer
	if res.Kind == cache.NXDomain {
		code = dns.ExtendedErrorCodeStaleNXDOMAINAnswer
	}
	return Info{Source: FromStale, EDE: ede(code, "")}, true
}

// prefetch refreshes an entry a client hit late in its TTL, in the
// background, once (the cache lets one hit claim it).
func (r *Resolver) prefetch(q dns.Question) {
	if _, joined, ok := r.join(q, false); ok && !joined {
		r.metrics.prefetches.Inc()
	}
}
