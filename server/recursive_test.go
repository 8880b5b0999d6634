package server

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeRecursor stands in for the resolver. Names under cached. and stale.
// are in its cache; every other name is resolved by Resolve, which waits
// for release to be closed (when it is not nil) or for its context to end.
// fail. names resolve to SERVFAIL with an extended error.
type fakeRecursor struct {
	release chan struct{}
	started chan string // the name of each resolution that began

	mu       sync.Mutex
	calls    []resolveCall
	returned atomic.Int32 // resolutions that have returned
	canceled atomic.Int32 // of which ended by their context
}

type resolveCall struct {
	name string
	rd   bool
}

func newFakeRecursor(blocking bool) *fakeRecursor {
	f := &fakeRecursor{started: make(chan string, 100)}
	if blocking {
		f.release = make(chan struct{})
	}
	return f
}

func (f *fakeRecursor) FromCache(m *dns.Msg, q dns.Question) (Resolution, bool) {
	switch {
	case strings.HasPrefix(q.Name, "cached."):
		m.Answer = append(m.Answer, rr(q.Name+" 300 IN A 192.0.2.1"))
		m.Ns = append(m.Ns, rr("cached. 300 IN NS ns.cached."))
		m.Extra = append(m.Extra, rr("ns.cached. 300 IN A 192.0.2.53"))
		return Resolution{}, true
	case strings.HasPrefix(q.Name, "stale."):
		m.Answer = append(m.Answer, rr(q.Name+" 30 IN A 192.0.2.3"))
		return Resolution{EDE: &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeStaleAnswer}}, true
	}
	return Resolution{}, false
}

func (f *fakeRecursor) Resolve(ctx context.Context, m *dns.Msg, q dns.Question, rd bool) Resolution {
	defer f.returned.Add(1)
	f.mu.Lock()
	f.calls = append(f.calls, resolveCall{q.Name, rd})
	f.mu.Unlock()
	if !rd {
		m.Ns = append(m.Ns, rr(". 300 IN NS a.root-servers.net."))
		return Resolution{}
	}
	f.started <- q.Name
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			f.canceled.Add(1)
			m.Rcode = dns.RcodeServerFailure
			return Resolution{}
		}
	}
	if strings.HasPrefix(q.Name, "fail.") {
		m.Rcode = dns.RcodeServerFailure
		return Resolution{EDE: &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeNoReachableAuthority}}
	}
	m.Answer = append(m.Answer, rr(q.Name+" 300 IN A 192.0.2.2"))
	return Resolution{}
}

func (f *fakeRecursor) resolveCalls() []resolveCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]resolveCall(nil), f.calls...)
}

// waitStarted waits for n resolutions to begin.
func (f *fakeRecursor) waitStarted(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-f.started:
		case <-time.After(5 * time.Second):
			t.Fatal("resolution did not start")
		}
	}
}

func rr(s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return r
}

// newResolverServer returns a server in resolver mode, not started.
func newResolverServer(t *testing.T, f Recursor, opts Options) (*Server, *prometheus.Registry) {
	t.Helper()
	opts.Resolver = f
	return newTestServer(t, opts)
}

// startResolverServer starts a resolver on loopback until the test ends.
func startResolverServer(t *testing.T, f Recursor, opts Options) (*Server, *prometheus.Registry, string) {
	t.Helper()
	opts.Listen = []string{"127.0.0.1:0"}
	s, reg := newResolverServer(t, f, opts)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx) //nolint:errcheck // some tests shut down themselves
	})
	return s, reg, s.Addrs()[0].String()
}

// rdQuery is a stub resolver's query: RD set, EDNS with a 1232-byte size.
func rdQuery(name string) *dns.Msg {
	m := query{name: name, qtype: dns.TypeA, edns: 1232}.msg()
	m.RecursionDesired = true
	return m
}

func TestResolverACL(t *testing.T) {
	t.Parallel()
	custom := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	tests := []struct {
		client string
		allow  []netip.Prefix // nil: the default
		ok     bool
	}{
		{"127.0.0.1", nil, true},
		{"127.9.9.9", nil, true},
		{"10.1.2.3", nil, true},
		{"172.31.255.254", nil, true},
		{"172.32.0.1", nil, false},
		{"192.168.1.1", nil, true},
		{"192.0.2.1", nil, false},
		{"8.8.8.8", nil, false},
		{"::1", nil, true},
		{"fd12:3456::1", nil, true},
		{"fe80::1%eth0", nil, false},
		{"2001:db8::1", nil, false},
		{"::ffff:192.168.1.1", nil, true}, // IPv4-mapped, from a dual-stack socket
		{"::ffff:8.8.8.8", nil, false},
		{"192.0.2.77", custom, true},
		{"::ffff:192.0.2.77", custom, true},
		{"127.0.0.1", custom, false},
		{"2001:db8:1::5", custom, true},
		{"::1", custom, false},
		{"127.0.0.1", []netip.Prefix{}, false},
	}
	for _, tt := range tests {
		for _, tcp := range []bool{false, true} {
			ap := netip.AddrPortFrom(netip.MustParseAddr(tt.client), 5353)
			var remote net.Addr = net.UDPAddrFromAddrPort(ap)
			if tcp {
				remote = net.TCPAddrFromAddrPort(ap)
			}
			s, reg := newResolverServer(t, newFakeRecursor(false), Options{Allow: tt.allow})
			r, _ := serveTo(t, s.Handler(), rdQuery("cached.example."), &fakeWriter{tcp: tcp, remote: remote})
			refused, _ := metricValue(t, reg, "meridian_server_acl_refused_queries_total", nil)
			if tt.ok {
				if r.Rcode != dns.RcodeSuccess || !r.RecursionAvailable || len(r.Answer) != 1 || refused != 0 {
					t.Errorf("%s (tcp %v, allow %v): %s RA %v, %d answers; %v refused, want an answer",
						tt.client, tcp, tt.allow, dns.RcodeToString[r.Rcode], r.RecursionAvailable, len(r.Answer), refused)
				}
				continue
			}
			if r.Rcode != dns.RcodeRefused || r.RecursionAvailable || len(r.Answer) != 0 || refused != 1 {
				t.Errorf("%s (tcp %v, allow %v): %s RA %v, %d answers; %v refused, want REFUSED",
					tt.client, tcp, tt.allow, dns.RcodeToString[r.Rcode], r.RecursionAvailable, len(r.Answer), refused)
			}
			if ede := findEDE(r); ede == nil || ede.InfoCode != dns.ExtendedErrorCodeProhibited {
				t.Errorf("%s: EDE %v, want Prohibited (18)", tt.client, ede)
			}
		}
	}
}

// TestSetAllow swaps the allow list of a running resolver.
func TestSetAllow(t *testing.T) {
	t.Parallel()
	s, _ := newResolverServer(t, newFakeRecursor(false), Options{})
	rcode := func() int {
		r, _ := serve(t, s.Handler(), rdQuery("cached.example."), false) // from 127.0.0.2
		return r.Rcode
	}
	if got := rcode(); got != dns.RcodeSuccess {
		t.Fatalf("default list: %s", dns.RcodeToString[got])
	}
	s.SetAllow([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	if got := rcode(); got != dns.RcodeRefused {
		t.Errorf("loopback not allowed: %s", dns.RcodeToString[got])
	}
	if got := s.Allow(); len(got) != 1 || got[0].String() != "10.0.0.0/8" {
		t.Errorf("Allow() = %v", got)
	}
	s.SetAllow(nil)
	if got := rcode(); got != dns.RcodeSuccess {
		t.Errorf("default restored: %s", dns.RcodeToString[got])
	}
}

func findEDE(m *dns.Msg) *dns.EDNS0_EDE {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			return e
		}
	}
	return nil
}

// TestResolverResponses checks the header and sections of what a resolver
// answers, through the handler.
func TestResolverResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		req     func() *dns.Msg
		rcode   int
		ra      bool
		answer  int
		extra   int // additional records, OPT included
		ede     int // expected EDE code; -1: none
		resolve []resolveCall
	}{
		{name: "cache hit", req: func() *dns.Msg { return rdQuery("cached.example.") },
			rcode: dns.RcodeSuccess, ra: true, answer: 1, extra: 2, ede: -1},
		{name: "cache hit without EDNS", req: func() *dns.Msg { m := rdQuery("cached.example."); m.Extra = nil; return m },
			rcode: dns.RcodeSuccess, ra: true, answer: 1, extra: 1, ede: -1},
		{name: "stale, EDE in OPT", req: func() *dns.Msg { return rdQuery("stale.example.") },
			rcode: dns.RcodeSuccess, ra: true, answer: 1, extra: 1, ede: int(dns.ExtendedErrorCodeStaleAnswer)},
		{name: "stale without EDNS: no OPT, no EDE", req: func() *dns.Msg { m := rdQuery("stale.example."); m.Extra = nil; return m },
			rcode: dns.RcodeSuccess, ra: true, answer: 1, extra: 0, ede: -1},
		{name: "miss resolved", req: func() *dns.Msg { return rdQuery("www.example.") },
			rcode: dns.RcodeSuccess, ra: true, answer: 1, extra: 1, ede: -1, resolve: []resolveCall{{"www.example.", true}}},
		{name: "failure with EDE", req: func() *dns.Msg { return rdQuery("fail.example.") },
			rcode: dns.RcodeServerFailure, ra: true, extra: 1, ede: int(dns.ExtendedErrorCodeNoReachableAuthority), resolve: []resolveCall{{"fail.example.", true}}},
		{name: "RD=0 is cache only", req: func() *dns.Msg { m := rdQuery("www.example."); m.RecursionDesired = false; return m },
			rcode: dns.RcodeSuccess, ra: true, extra: 1, ede: -1, resolve: []resolveCall{{"www.example.", false}}},
		{name: "class CH refused as by an authority", req: func() *dns.Msg { m := rdQuery("version.bind."); m.Question[0].Qclass = dns.ClassCHAOS; return m },
			rcode: dns.RcodeRefused, extra: 1, ede: -1},
		{name: "class ANY refused", req: func() *dns.Msg { m := rdQuery("www.example."); m.Question[0].Qclass = dns.ClassANY; return m },
			rcode: dns.RcodeRefused, ra: true, extra: 1, ede: -1},
		{name: "AXFR refused", req: func() *dns.Msg { m := rdQuery("example."); m.Question[0].Qtype = dns.TypeAXFR; return m },
			rcode: dns.RcodeRefused, extra: 1, ede: -1},
		{name: "BADVERS before the resolver", req: func() *dns.Msg { m := rdQuery("www.example."); m.IsEdns0().SetVersion(1); return m },
			rcode: dns.RcodeBadVers, extra: 1, ede: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeRecursor(false)
			s, _ := newResolverServer(t, f, Options{})
			req := tt.req()
			req.CheckingDisabled = true
			r, _ := serve(t, s.Handler(), req, false)
			if r.Rcode != tt.rcode || r.RecursionAvailable != tt.ra || r.Authoritative || r.RecursionDesired != req.RecursionDesired {
				t.Errorf("rcode %s RA %v AA %v RD %v, want %s RA %v AA false RD %v", dns.RcodeToString[r.Rcode],
					r.RecursionAvailable, r.Authoritative, r.RecursionDesired, dns.RcodeToString[tt.rcode], tt.ra, req.RecursionDesired)
			}
			if tt.ra && !r.CheckingDisabled {
				t.Error("CD not copied (RFC 4035 §3.2.2)")
			}
			if len(r.Answer) != tt.answer || len(r.Extra) != tt.extra {
				t.Errorf("%d answers and %d additional, want %d and %d\n%v", len(r.Answer), len(r.Extra), tt.answer, tt.extra, r)
			}
			ede := findEDE(r)
			switch {
			case tt.ede < 0 && ede != nil:
				t.Errorf("EDE %v, want none", ede)
			case tt.ede >= 0 && (ede == nil || int(ede.InfoCode) != tt.ede):
				t.Errorf("EDE %v, want %d", ede, tt.ede)
			}
			if got := f.resolveCalls(); !equalCalls(got, tt.resolve) {
				t.Errorf("Resolve calls %v, want %v", got, tt.resolve)
			}
		})
	}
}

func equalCalls(a, b []resolveCall) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestResolverHealth: a resolver is healthy while it serves, zones or not.
func TestResolverHealth(t *testing.T) {
	t.Parallel()
	s, _ := newResolverServer(t, newFakeRecursor(false), Options{Listen: []string{"127.0.0.1:0"}})
	if err := s.Health(); err == nil {
		t.Error("healthy before Start")
	}
}

// TestResolverCacheHitAllocations: the handler adds no allocation of its
// own to a cache hit beyond what the fake and the packer make.
func TestResolverCacheHitAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s, _ := newResolverServer(t, newCheapRecursor(), Options{})
	h := s.Handler()
	req := rdQuery("cached.example.")
	w := &discardWriter{}
	w.remote = clientUDP
	h.ServeDNS(w, req)
	if n := testing.AllocsPerRun(1000, func() { h.ServeDNS(w, req) }); n > 3 {
		t.Errorf("%v allocations per cache hit", n)
	}
}

// cheapRecursor answers every question from a fixed record, allocating
// nothing but the answer slice.
type cheapRecursor struct{ a dns.RR }

func newCheapRecursor() cheapRecursor { return cheapRecursor{rr("cached.example. 300 IN A 192.0.2.1")} }

func (c cheapRecursor) FromCache(m *dns.Msg, q dns.Question) (Resolution, bool) {
	m.Answer = append(m.Answer, c.a)
	return Resolution{}, true
}

func (c cheapRecursor) Resolve(_ context.Context, m *dns.Msg, q dns.Question, _ bool) Resolution {
	r, _ := c.FromCache(m, q)
	return r
}
