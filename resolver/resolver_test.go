package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/resolver/cache"
	"github.com/meridian-dns/meridian/resolver/exchange"
	"github.com/meridian-dns/meridian/resolver/infra"
)

func answerText(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		f := strings.Fields(rr.String())
		out = append(out, strings.ToLower(f[0])+" "+strings.Join(f[3:], " "))
	}
	return out
}

func TestResolveHierarchy(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	r := h.newResolver(t, nil, nil)
	cases := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer string // the answer's last record, owner and data
	}{
		{"www.example.org.", dns.TypeA, dns.RcodeSuccess, "www.example.org. A 192.0.2.1"},
		{"alias.example.org.", dns.TypeA, dns.RcodeSuccess, "www.other.net. A 192.0.2.2"},
		{"www.dname.example.org.", dns.TypeA, dns.RcodeSuccess, "www.other.net. A 192.0.2.2"},
		{"host.sub.example.org.", dns.TypeA, dns.RcodeSuccess, "host.sub.example.org. A 192.0.2.3"},
		{"x.wild.example.org.", dns.TypeA, dns.RcodeSuccess, "x.wild.example.org. A 192.0.2.7"},
		{"nope.example.org.", dns.TypeA, dns.RcodeNameError, ""},
		{"txt.example.org.", dns.TypeA, dns.RcodeSuccess, ""},
		{"loop.example.org.", dns.TypeA, dns.RcodeServerFailure, ""},
		{"www.dead.org.", dns.TypeA, dns.RcodeServerFailure, ""},
	}
	for _, tc := range cases {
		m, info := ask(t, r, tc.name, tc.qtype)
		if m.Rcode != tc.rcode {
			t.Errorf("%s: rcode %s, want %s (%v)", tc.name, dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode], info.EDE)
			continue
		}
		got := answerText(m)
		if tc.answer == "" && tc.rcode != dns.RcodeServerFailure && len(got) != 0 {
			t.Errorf("%s: answer %q, want none", tc.name, got)
		}
		if tc.answer != "" && (len(got) == 0 || got[len(got)-1] != strings.ToLower(strings.Fields(tc.answer)[0])+" "+strings.Join(strings.Fields(tc.answer)[1:], " ")) {
			t.Errorf("%s: answer %q, want it to end in %q", tc.name, got, tc.answer)
		}
		if !m.RecursionAvailable || m.Authoritative || m.AuthenticatedData {
			t.Errorf("%s: flags RA=%v AA=%v AD=%v", tc.name, m.RecursionAvailable, m.Authoritative, m.AuthenticatedData)
		}
		if tc.rcode == dns.RcodeServerFailure && info.EDE == nil {
			t.Errorf("%s: SERVFAIL without an extended error", tc.name)
		}
	}
}

// TestCacheCountsDown: a repeated question is answered from the cache with
// no upstream query, and its TTL counts down with the clock.
func TestCacheCountsDown(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	clock := newClock()
	r := h.newResolver(t, clock, nil)
	m, _ := ask(t, r, "www.example.org.", dns.TypeA)
	ttl := m.Answer[0].Header().Ttl
	n := h.count.total()
	clock.Advance(100 * time.Second)
	m, info := ask(t, r, "www.example.org.", dns.TypeA)
	if info.Source != FromCache || h.count.total() != n {
		t.Fatalf("second question: source %v, %d upstream queries", info.Source, h.count.total()-n)
	}
	if got := m.Answer[0].Header().Ttl; got != ttl-100 {
		t.Errorf("TTL %d after 100s, want %d", got, ttl-100)
	}
	// Negative answers are cached too (RFC 2308), for the SOA's minimum.
	ask(t, r, "nope.example.org.", dns.TypeA)
	n = h.count.total()
	m, info = ask(t, r, "nope.example.org.", dns.TypeA)
	if m.Rcode != dns.RcodeNameError || info.Source != FromCache || h.count.total() != n {
		t.Errorf("cached NXDOMAIN: rcode %d source %v queries %d", m.Rcode, info.Source, h.count.total()-n)
	}
}

// TestDeduplicated: 100 concurrent identical questions cause one resolution.
func TestDeduplicated(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	r := h.newResolver(t, nil, nil)
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m, _ := ask(t, r, "host.sub.example.org.", dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Errorf("rcode %d answer %v", m.Rcode, m.Answer)
			}
		}()
	}
	wg.Wait()
	// One resolution: the sub zone's server is asked for host.sub once.
	got := 0
	for _, n := range h.count.sent("127.53.4.1") {
		if n == "host.sub.example.org." {
			got++
		}
	}
	if got != 1 {
		t.Errorf("the leaf server was asked %d times", got)
	}
}

// TestPrefetch: a hit in the last tenth of the TTL refreshes the entry in
// the background, so it never expires for a client who keeps asking.
func TestPrefetch(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	clock := newClock()
	r := h.newResolver(t, clock, nil)
	ask(t, r, "www.example.org.", dns.TypeA) // TTL 300
	clock.Advance(275 * time.Second)
	exampleOrg := func() int { // queries to any of example.org's servers
		return len(h.count.sent("127.53.3.1")) + len(h.count.sent("127.53.3.2")) +
			len(h.count.sent("127.53.3.3")) + len(h.count.sent("127.53.3.9"))
	}
	before := exampleOrg()
	if _, info := ask(t, r, "www.example.org.", dns.TypeA); info.Source != FromCache {
		t.Fatalf("late hit: source %v", info.Source)
	}
	deadline := time.Now().Add(3 * time.Second)
	for exampleOrg() == before {
		if time.Now().After(deadline) {
			t.Fatal("no prefetch query")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Once the refresh has landed, the entry outlives its first TTL.
	for r.inflight() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the prefetch did not finish")
		}
		time.Sleep(5 * time.Millisecond)
	}
	clock.Advance(30 * time.Second) // 305s: past the first TTL of 300s
	if m, info := ask(t, r, "www.example.org.", dns.TypeA); info.Source != FromCache || len(m.Answer) != 1 {
		t.Fatalf("after the refresh: source %v answer %v", info.Source, m.Answer)
	}
	if r.metrics.prefetches == nil {
		t.Fatal("no prefetch metric")
	}
}

// TestServeStale: with every authoritative server gone, cached names are
// still answered, with TTL 30 and EDE 3 (RFC 8767).
func TestServeStale(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	clock := newClock()
	r := h.newResolver(t, clock, func(c *Config) { c.ClientTimeout = 200 * time.Millisecond })
	ask(t, r, "www.example.org.", dns.TypeA)
	h.Stop()
	clock.Advance(time.Hour) // everything expired, still in the stale window
	start := time.Now()
	m, info := ask(t, r, "www.example.org.", dns.TypeA)
	if info.Source != FromStale || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("source %v rcode %d answer %v", info.Source, m.Rcode, m.Answer)
	}
	if m.Answer[0].Header().Ttl != 30 || info.EDE == nil || info.EDE.InfoCode != dns.ExtendedErrorCodeStaleAnswer {
		t.Errorf("stale answer: TTL %d EDE %v", m.Answer[0].Header().Ttl, info.EDE)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("stale answer took %v", el)
	}
}

// TestMinimised: the root sees only top-level labels (RFC 9156).
func TestMinimised(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	r := h.newResolver(t, nil, nil)
	ask(t, r, "a.b.c.d.e.f.g.example.org.", dns.TypeA)
	ask(t, r, "host.sub.example.org.", dns.TypeA)
	for _, n := range h.count.sent("127.53.0.1") {
		if dns.CountLabel(n) > 1 {
			t.Errorf("the root saw %q", n)
		}
	}
}

// TestNoRecursion: RD=0 is answered from the cache only.
func TestNoRecursion(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	r := h.newResolver(t, nil, nil)
	req := new(dns.Msg)
	req.SetQuestion("www.example.org.", dns.TypeA)
	m := new(dns.Msg).SetReply(req)
	r.Resolve(context.Background(), m, req.Question[0], false)
	if h.count.total() != 0 || len(m.Answer) != 0 || m.Rcode != dns.RcodeSuccess || len(m.Ns) != 1 {
		t.Fatalf("RD=0 on an empty cache: %d queries, rcode %d, answer %v, authority %v", h.count.total(), m.Rcode, m.Answer, m.Ns)
	}
	ask(t, r, "www.example.org.", dns.TypeA)
	m = new(dns.Msg).SetReply(req)
	r.Resolve(context.Background(), m, req.Question[0], false)
	if len(m.Answer) != 1 {
		t.Errorf("RD=0 after caching: %v", m.Answer)
	}
}

// TestNearestReplica: with example.org's replicas 5, 50 and 150 ms away,
// after warm-up at least 90% of its queries go to the nearest (issue 3).
func TestNearestReplica(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	h.count.next = exchange.New(exchange.Config{Dialer: delayDialer{delay: map[netip.Addr]time.Duration{
		netip.MustParseAddr("127.53.3.1"): 150 * time.Millisecond,
		netip.MustParseAddr("127.53.3.2"): 50 * time.Millisecond,
		netip.MustParseAddr("127.53.3.3"): 5 * time.Millisecond,
	}}})
	r := h.newResolver(t, nil, nil)
	replicas := []string{"127.53.3.1", "127.53.3.2", "127.53.3.3", "127.53.3.9"}
	sent := func() (all, near int) {
		for _, a := range replicas {
			all += len(h.count.sent(a))
		}
		return all, len(h.count.sent("127.53.3.3"))
	}
	const warm, measured = 20, 200
	for i := range warm + measured {
		if i == warm {
			all0, near0 := sent()
			defer func() {
				all, near := sent()
				share := float64(near-near0) / float64(all-all0)
				t.Logf("after warm-up: %d of %d queries to the 5 ms replica (%.1f%%)", near-near0, all-all0, 100*share)
				if share < 0.9 {
					t.Errorf("nearest replica share %.2f, want at least 0.9", share)
				}
			}()
		}
		if m, _ := ask(t, r, fmt.Sprintf("n%d.example.org.", i), dns.TypeA); m.Rcode != dns.RcodeNameError {
			t.Fatalf("n%d: rcode %d", i, m.Rcode)
		}
	}
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// TestHostileServers: example.org's servers add records for names they do
// not serve to every section; none is cached or answered. Then they refer
// every question back up to org., a referral loop, which ends in SERVFAIL
// long before the deadline.
func TestHostileServers(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	exampleOrg := func(s netip.AddrPort) bool { return strings.HasPrefix(s.Addr().String(), "127.53.3.") }
	h.count.tamper = func(s netip.AddrPort, m *dns.Msg) {
		if !exampleOrg(s) {
			return
		}
		m.Answer = append(m.Answer, mustRR(t, "www.other.net. 300 IN A 6.6.6.6"))
		m.Ns = append(m.Ns, mustRR(t, "other.net. 300 IN NS ns.evil.test."), mustRR(t, "org. 300 IN NS ns.evil.test."))
		m.Extra = append(m.Extra, mustRR(t, "ns.evil.test. 300 IN A 6.6.6.6"), mustRR(t, "ns1.nic.org. 300 IN A 6.6.6.6"))
	}
	r := h.newResolver(t, nil, nil)
	ask(t, r, "www.example.org.", dns.TypeA)
	ask(t, r, "nope.example.org.", dns.TypeA)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.other.net.", dns.TypeA}, {"other.net.", dns.TypeNS}, {"org.", dns.TypeNS}, {"ns.evil.test.", dns.TypeA}, {"ns1.nic.org.", dns.TypeA}} {
		rrs, _, _ := r.cache.Lookup(nil, q.name, q.qtype, dns.ClassINET)
		for _, rr := range rrs {
			if s := rr.String(); strings.Contains(s, "6.6.6.6") || strings.Contains(s, "evil") {
				t.Errorf("poison cached: %v", rr)
			}
		}
	}
	if m, _ := ask(t, r, "www.other.net.", dns.TypeA); len(m.Answer) != 1 || !strings.HasSuffix(m.Answer[0].String(), "192.0.2.2") {
		t.Errorf("www.other.net. after the poisoning attempt: %v", m.Answer)
	}

	// Now a referral loop: every answer from example.org's servers is a
	// referral back up to org.
	h.count.tamper = func(s netip.AddrPort, m *dns.Msg) {
		if exampleOrg(s) {
			m.Authoritative, m.Rcode = false, dns.RcodeSuccess
			m.Answer, m.Extra = nil, []dns.RR{mustRR(t, "ns1.nic.org. 300 IN A 127.53.1.1")}
			m.Ns = []dns.RR{mustRR(t, "org. 300 IN NS ns1.nic.org.")}
		}
	}
	r2 := h.newResolver(t, nil, nil)
	start := time.Now()
	m, info := ask(t, r2, "loopy.example.org.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure || info.EDE == nil {
		t.Errorf("referral loop: rcode %s EDE %v", dns.RcodeToString[m.Rcode], info.EDE)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("referral loop took %v", el)
	}
}

// TestReconfigureKeepsCache: a reload's settings apply to the resolutions
// that follow, and what was cached stays.
func TestReconfigureKeepsCache(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	r := h.newResolver(t, nil, func(c *Config) { c.Cache.Size = 600 }) // two shards
	ask(t, r, "www.example.org.", dns.TypeA)
	cfg := *r.conf()
	cfg.NoMinimise = true
	r.Reconfigure(cfg)
	n := h.count.total()
	if _, info := ask(t, r, "www.example.org.", dns.TypeA); info.Source != FromCache || h.count.total() != n {
		t.Fatalf("after Reconfigure: source %v, %d upstream queries", info.Source, h.count.total()-n)
	}
	// Without minimisation the net. servers now see the whole name.
	ask(t, r, "www.other.net.", dns.TypeA)
	if sent := h.count.sent("127.53.2.1"); len(sent) == 0 || sent[len(sent)-1] != "www.other.net." {
		t.Errorf("net. servers saw %q after turning minimisation off", sent)
	}
	// The cache's size applies at once: one entry per shard left.
	cfg = *r.conf()
	cfg.Cache.Size = 2
	if err := r.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if s := r.Cache().Stats(); s.Entries > 2 || s.Evictions == 0 {
		t.Errorf("after shrinking the cache to 2 entries: %+v", s)
	}
	if r.conf().Cache.Size != 2 {
		t.Errorf("running cache size %d, want 2", r.conf().Cache.Size)
	}
}

// TestDNAMEInAnswer: the DNAME comes with the CNAME synthesised from it
// (RFC 6672 §3.4), whether the answer is fresh from upstream or rebuilt
// from the cache. Unbound's answer, which the e2e differential compares.
func TestDNAMEInAnswer(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	r := h.newResolver(t, nil, nil)
	want := []string{
		"dname.example.org. DNAME other.net.",
		"www.dname.example.org. CNAME www.other.net.",
		"www.other.net. A 192.0.2.2",
	}
	for _, round := range []string{"cold", "cached"} {
		m, _ := ask(t, r, "www.dname.example.org.", dns.TypeA)
		if got := answerText(m); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: answer %q, want %q", round, got, want)
		}
	}
}

// TestStubAndForwardZones: a stub zone starts iteration at its own servers,
// a forward zone sends the whole question to its servers; neither asks the
// root.
func TestStubAndForwardZones(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	ap := func(a string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(a), h.Port) }
	r := h.newResolver(t, nil, func(c *Config) {
		c.Stub = []Zone{{Name: "example.org", Servers: []netip.AddrPort{ap("127.53.3.2")}}}
		c.Forward = []Zone{{Name: "other.net", Servers: []netip.AddrPort{ap("127.53.4.1")}}}
	})
	for _, q := range []struct{ name, want string }{
		{"www.example.org.", "www.example.org. A 192.0.2.1"},
		{"www.other.net.", "www.other.net. A 192.0.2.2"},
	} {
		m, _ := ask(t, r, q.name, dns.TypeA)
		if got := answerText(m); len(got) != 1 || got[0] != q.want {
			t.Errorf("%s: %q", q.name, got)
		}
	}
	if n := len(h.count.sent("127.53.0.1")); n != 0 {
		t.Errorf("the root was asked %d times", n)
	}
	if n := len(h.count.sent("127.53.3.2")); n == 0 {
		t.Errorf("the stub server was not asked")
	}
}

// TestFailover: a replica that stopped answering, and one that answers
// FORMERR to EDNS, do not stop resolution; the dead one is remembered and
// mostly avoided, the other is asked again without EDNS.
func TestFailover(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	h.Servers["127.53.3.1"].Shutdown(ctx)
	cancel()
	h.count.noEDNS = map[string]bool{"127.53.3.2": true, "127.53.3.3": true}
	r := h.newResolver(t, nil, nil)
	for i := range 30 {
		if m, info := ask(t, r, fmt.Sprintf("f%d.example.org.", i), dns.TypeA); m.Rcode != dns.RcodeNameError {
			t.Fatalf("f%d: rcode %s (%v)", i, dns.RcodeToString[m.Rcode], info.EDE)
		}
	}
	if n := len(h.count.sent("127.53.3.1")); n > 5 {
		t.Errorf("the dead replica was asked %d times in 30 resolutions", n)
	}
}

// TestNo0x20Fallback: servers that do not preserve the case of the query
// name are asked again without 0x20, and remembered.
func TestNo0x20Fallback(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	h.count.no0x20 = map[string]bool{"127.53.0.1": true, "127.53.3.1": true, "127.53.3.2": true, "127.53.3.3": true}
	r := h.newResolver(t, nil, nil)
	for _, name := range []string{"www.example.org.", "txt.example.org."} {
		if m, info := ask(t, r, name, dns.TypeA); m.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: rcode %s (%v)", name, dns.RcodeToString[m.Rcode], info.EDE)
		}
	}
	info, _ := r.infra.Server(netip.AddrPortFrom(netip.MustParseAddr("127.53.0.1"), h.Port))
	if !info.No0x20 {
		t.Errorf("the root server is still thought to preserve case: %+v", info)
	}
}

// BenchmarkFromCache is a cache hit as the server's UDP reader makes it:
// the only allocations should be the response's copies of the records.
func BenchmarkFromCache(b *testing.B) {
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	rr, _ := dns.NewRR("www.example.org. 3600 IN A 192.0.2.1")
	c.cache.Insert([]dns.RR{rr}, cache.RankAuthAnswer)
	q := dns.Question{Name: "www.example.org.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	m := new(dns.Msg)
	b.ReportAllocs()
	for b.Loop() {
		m.Answer, m.Ns = m.Answer[:0], m.Ns[:0]
		if _, ok := c.FromCache(m, q); !ok {
			b.Fatal("miss")
		}
	}
}

// TestReconfigureFlushesRepointedZones: after a reload makes example.org a
// stub zone, its names are asked of the stub server, not from the cache of
// the old delegation.
func TestReconfigureFlushesRepointedZones(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	r := h.newResolver(t, nil, nil)
	ask(t, r, "www.example.org.", dns.TypeA)
	cfg := *r.conf()
	cfg.Stub = []Zone{{Name: "example.org.", Servers: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.53.3.2"), h.Port)}}}
	r.Reconfigure(cfg)
	before := len(h.count.sent("127.53.3.2"))
	if m, info := ask(t, r, "www.example.org.", dns.TypeA); info.Source != FromUpstream || len(m.Answer) != 1 {
		t.Fatalf("after repointing: source %v answer %v", info.Source, m.Answer)
	}
	if len(h.count.sent("127.53.3.2")) == before {
		t.Errorf("the stub server was not asked")
	}
	if d, ok := r.cache.Closest("x.org.", dns.ClassINET); !ok || d.Zone != "org." {
		t.Errorf("the flush reached beyond example.org: closest cut %q %v", d.Zone, ok)
	}
}

// TestReconfigureLimits: new TTL clamps apply to what is cached afterwards.
func TestReconfigureLimits(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	r := h.newResolver(t, nil, nil)
	cfg := *r.conf()
	cfg.Cache.MaxTTL = 60 * time.Second
	if err := r.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if m, _ := ask(t, r, "www.example.org.", dns.TypeA); len(m.Answer) != 1 || m.Answer[0].Header().Ttl > 60 {
		t.Errorf("answer after lowering max-ttl to 60s: %v", m.Answer)
	}
	cfg.Cache.MinTTL, cfg.Cache.MaxTTL = time.Hour, time.Minute
	if err := r.Reconfigure(cfg); err == nil {
		t.Errorf("min-ttl above max-ttl accepted")
	}
}

// TestAvoidedFailFast: once every server of a zone is being avoided after
// repeated timeouts (a region cut off from them), questions under it fail
// at once, without a query or a wait, until a backoff ends and a server is
// probed again.
func TestAvoidedFailFast(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	for _, a := range []string{"127.53.3.1", "127.53.3.2", "127.53.3.3"} {
		h.Servers[a].Shutdown(ctx)
	}
	cancel()
	clock := newClock()
	r := h.newResolver(t, clock, func(c *Config) {
		c.Infra = infra.Config{MinRTO: 20 * time.Millisecond, InitialRTO: 20 * time.Millisecond, MaxRTO: 50 * time.Millisecond}
	})
	sentToZone := func() int {
		return len(h.count.sent("127.53.3.1")) + len(h.count.sent("127.53.3.2")) + len(h.count.sent("127.53.3.3"))
	}
	// The first questions wait out the timeouts that teach infra the
	// servers are gone.
	blocked := false
	for i := 0; i < 10 && !blocked; i++ {
		before := sentToZone()
		if m, _ := ask(t, r, fmt.Sprintf("a%d.example.org.", i), dns.TypeA); m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("a%d: rcode %s with every server down", i, dns.RcodeToString[m.Rcode])
		}
		blocked = sentToZone() == before
	}
	if !blocked {
		t.Fatalf("still querying the dead servers after 10 questions (%d queries)", sentToZone())
	}
	before := sentToZone()
	for i := range 5 {
		m, info := ask(t, r, fmt.Sprintf("b%d.example.org.", i), dns.TypeA)
		if m.Rcode != dns.RcodeServerFailure || info.EDE == nil {
			t.Errorf("b%d: rcode %s, EDE %v; want SERVFAIL with an EDE", i, dns.RcodeToString[m.Rcode], info.EDE)
		}
	}
	if n := sentToZone() - before; n != 0 {
		t.Errorf("%d queries sent to servers being avoided", n)
	}
	// When the backoff ends, a server is probed again.
	clock.Advance(infra.DefaultMaxBackoff + time.Second)
	ask(t, r, "c.example.org.", dns.TypeA)
	if sentToZone() == before {
		t.Error("no probe after the backoff ended")
	}
}

// TestFirstContact: with example.org's replicas 5, 200 and 300 ms away, a
// resolver that has measured none of them answers its first question under
// example.org from the nearest: the query goes to every replica never
// asked at once (Choice.Race), and each is asked once. Five fresh
// resolvers, so that a lucky random pick cannot pass for it ((1/4)^5).
func TestFirstContact(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	h.count.next = exchange.New(exchange.Config{Dialer: delayDialer{delay: map[netip.Addr]time.Duration{
		netip.MustParseAddr("127.53.3.1"): 300 * time.Millisecond,
		netip.MustParseAddr("127.53.3.2"): 200 * time.Millisecond,
		netip.MustParseAddr("127.53.3.3"): 5 * time.Millisecond,
	}}})
	for i := range 5 {
		r := h.newResolver(t, nil, nil)
		// The root and org. first, so that only example.org. is new.
		if m, _ := ask(t, r, "org.", dns.TypeNS); m.Rcode != dns.RcodeSuccess {
			t.Fatalf("org. NS: %s", dns.RcodeToString[m.Rcode])
		}
		start := time.Now()
		m, _ := ask(t, r, fmt.Sprintf("first%d.example.org.", i), dns.TypeA)
		took := time.Since(start)
		if m.Rcode != dns.RcodeNameError {
			t.Fatalf("first%d: rcode %s", i, dns.RcodeToString[m.Rcode])
		}
		// Well under the 200 ms of the second-nearest replica.
		if took >= 150*time.Millisecond {
			t.Errorf("resolver %d: first question under example.org. took %v; the nearest replica is 5 ms away", i, took)
		}
		r.Close() // waits for the slower racers, whose answers measure their servers
	}
	for _, a := range []string{"127.53.3.1", "127.53.3.2", "127.53.3.3"} {
		if n := len(h.count.sent(a)); n < 5 || n > 10 {
			t.Errorf("%s asked %d times by 5 resolvers' first contact; want once or twice each", a, n)
		}
	}
}
