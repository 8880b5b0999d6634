package cache

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fixture fills c with a small, varied cache at clk's current time.
func fixture(t *testing.T, c *Cache) {
	t.Helper()
	const soaRR = "example.com. 3600 IN SOA ns1.example.com. host.example.com. 1 7200 900 604800 600"
	mustInsert(t, c, RankAuthAnswer, "www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2")
	mustInsert(t, c, RankAuthAnswer, "alias.example.com. 600 IN CNAME www.example.com.")
	mustInsert(t, c, RankAuthAnswer, "alias2.example.com. 600 IN CNAME alias.example.com.")
	mustInsert(t, c, RankAnswer, "ext.example.com. 100 IN CNAME www.other.org.")
	mustInsert(t, c, RankAuthAnswer, "loop1.example.com. 100 IN CNAME loop2.example.com.")
	mustInsert(t, c, RankAuthAnswer, "loop2.example.com. 100 IN CNAME loop1.example.com.")
	mustInsert(t, c, RankAuthAnswer, "tonx.example.com. 100 IN CNAME nx.example.com.")
	mustInsert(t, c, RankAuthority, "example.com. 172800 IN NS ns1.example.com.")
	mustInsert(t, c, RankAdditional, "ns1.example.com. 172800 IN A 192.0.2.53")
	mustInsert(t, c, RankAuthAuthority, "sub.example.com. 3600 IN NS ns1.example.com.")
	for _, n := range []Negative{
		{Name: "nx.example.com.", NXDomain: true},
		{Name: "www.example.com.", Type: dns.TypeAAAA},
	} {
		n.Class, n.SOA, n.Rank = dns.ClassINET, soa(t, soaRR), RankAuthAnswer
		if !c.InsertNegative(n) {
			t.Fatalf("InsertNegative(%+v) = false", n)
		}
	}
}

func TestAnswer(t *testing.T) {
	t.Parallel()
	const soaAt = "example.com. %d IN SOA ns1.example.com. host.example.com. 1 7200 900 604800 600"
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		advance time.Duration
		kind    Kind
		rcode   int
		answer  []string
		ns      []string
		next    string
	}{
		{name: "positive", qname: "www.example.com.", qtype: dns.TypeA, kind: Positive,
			answer: []string{"www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2"}},
		{name: "TTL counts down", qname: "www.example.com.", qtype: dns.TypeA, advance: 100 * time.Second, kind: Positive,
			answer: []string{"www.example.com. 200 IN A 192.0.2.1", "www.example.com. 200 IN A 192.0.2.2"}},
		{name: "partial second rounds up", qname: "www.example.com.", qtype: dns.TypeA, advance: 299500 * time.Millisecond, kind: Positive,
			answer: []string{"www.example.com. 1 IN A 192.0.2.1", "www.example.com. 1 IN A 192.0.2.2"}},
		{name: "expired", qname: "www.example.com.", qtype: dns.TypeA, advance: 300 * time.Second, kind: Miss},
		{name: "client's case", qname: "WWW.Example.COM.", qtype: dns.TypeA, kind: Positive,
			answer: []string{"WWW.Example.COM. 300 IN A 192.0.2.1", "WWW.Example.COM. 300 IN A 192.0.2.2"}},
		{name: "CNAME chain", qname: "alias2.example.com.", qtype: dns.TypeA, advance: 10 * time.Second, kind: Positive,
			answer: []string{
				"alias2.example.com. 590 IN CNAME alias.example.com.",
				"alias.example.com. 590 IN CNAME www.example.com.",
				"www.example.com. 290 IN A 192.0.2.1", "www.example.com. 290 IN A 192.0.2.2",
			}},
		{name: "CNAME asked for", qname: "alias.example.com.", qtype: dns.TypeCNAME, kind: Positive,
			answer: []string{"alias.example.com. 600 IN CNAME www.example.com."}},
		{name: "chain to an uncached name", qname: "ext.example.com.", qtype: dns.TypeA, kind: Partial, next: "www.other.org.",
			answer: []string{"ext.example.com. 100 IN CNAME www.other.org."}},
		{name: "loop", qname: "loop1.example.com.", qtype: dns.TypeA, kind: Miss},
		{name: "NXDOMAIN", qname: "nx.example.com.", qtype: dns.TypeA, advance: 100 * time.Second, kind: NXDomain, rcode: dns.RcodeNameError,
			ns: []string{fmt.Sprintf(soaAt, 500)}},
		{name: "NXDOMAIN covers every type", qname: "NX.example.com.", qtype: dns.TypeMX, kind: NXDomain, rcode: dns.RcodeNameError,
			ns: []string{fmt.Sprintf(soaAt, 600)}},
		{name: "NXDOMAIN through a CNAME", qname: "tonx.example.com.", qtype: dns.TypeA, kind: NXDomain, rcode: dns.RcodeNameError,
			answer: []string{"tonx.example.com. 100 IN CNAME nx.example.com."}, ns: []string{fmt.Sprintf(soaAt, 600)}},
		{name: "NODATA", qname: "www.example.com.", qtype: dns.TypeAAAA, kind: NoData,
			ns: []string{fmt.Sprintf(soaAt, 600)}},
		{name: "NODATA through a CNAME", qname: "alias.example.com.", qtype: dns.TypeAAAA, kind: NoData,
			answer: []string{"alias.example.com. 600 IN CNAME www.example.com."}, ns: []string{fmt.Sprintf(soaAt, 600)}},
		{name: "NODATA expired", qname: "www.example.com.", qtype: dns.TypeAAAA, advance: 600 * time.Second, kind: Miss},
		{name: "NODATA is per type", qname: "www.example.com.", qtype: dns.TypeMX, kind: Miss},
		{name: "glue never answers", qname: "ns1.example.com.", qtype: dns.TypeA, kind: Miss},
		{name: "referral NS never answers", qname: "example.com.", qtype: dns.TypeNS, kind: Miss},
		{name: "authoritative authority never answers", qname: "sub.example.com.", qtype: dns.TypeNS, kind: Miss},
		{name: "uncached", qname: "nothing.example.net.", qtype: dns.TypeA, kind: Miss},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			c, _ := newCache(t, clk, Config{})
			fixture(t, c)
			clk.Advance(tt.advance)
			m, res := answer(c, tt.qname, tt.qtype, Fresh)
			if res.Kind != tt.kind || res.Next != tt.next || res.Stale {
				t.Fatalf("Result = %+v, want kind %v next %q", res, tt.kind, tt.next)
			}
			wantRRs(t, "answer", m.Answer, tt.answer)
			wantRRs(t, "authority", m.Ns, tt.ns)
			if tt.kind == Miss {
				if m.RecursionAvailable {
					t.Error("a miss changed the header")
				}
				return
			}
			if tt.kind != Partial && m.Rcode != tt.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
			}
			if !m.RecursionAvailable || m.Authoritative || m.AuthenticatedData {
				t.Errorf("flags RA=%v AA=%v AD=%v, want RA only", m.RecursionAvailable, m.Authoritative, m.AuthenticatedData)
			}
		})
	}
}

// TestAnswerFillsGivenMessage checks that Answer appends to the sections it
// is given and leaves them as they were on a miss.
func TestAnswerFillsGivenMessage(t *testing.T) {
	t.Parallel()
	c, _ := newCache(t, newClock(), Config{MaxChain: 1})
	fixture(t, c)
	m := new(dns.Msg)
	m.SetQuestion("alias2.example.com.", dns.TypeA)
	m.AuthenticatedData = true
	keep := rr(t, "keep. 1 IN TXT x")
	m.Answer = []dns.RR{keep}
	if res := c.Answer(m, m.Question[0], Fresh); res.Kind != Miss { // chain of 2 > MaxChain 1
		t.Fatalf("Kind = %v, want miss", res.Kind)
	}
	if len(m.Answer) != 1 || m.Answer[0] != keep || !m.AuthenticatedData {
		t.Errorf("a miss changed the message: %v", m)
	}
	m.Question[0].Name = "alias.example.com."
	if res := c.Answer(m, m.Question[0], Fresh); res.Kind != Positive || len(m.Answer) != 4 || m.AuthenticatedData {
		t.Errorf("got %v, answer %v, AD %v", res.Kind, m.Answer, m.AuthenticatedData)
	}
}

// TestAnswerCopies checks that a reader cannot change the cache through the
// records it is given.
func TestAnswerCopies(t *testing.T) {
	t.Parallel()
	c, _ := newCache(t, newClock(), Config{})
	fixture(t, c)
	m, _ := answer(c, "www.example.com.", dns.TypeA, Fresh)
	m.Answer[0].Header().Ttl = 1
	m.Answer[0].Header().Name = "evil."
	m, _ = answer(c, "www.example.com.", dns.TypeA, Fresh)
	wantRRs(t, "second answer", m.Answer, []string{"www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2"})
}

// TestStale checks RFC 8767: expired data is kept for the stale window,
// returned only when asked for, with TTL 30.
func TestStale(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		qname   string
		qtype   uint16
		advance time.Duration
		fresh   Kind // what a normal lookup finds
		stale   Kind // what a stale lookup finds
		isStale bool
		answer  []string // of the stale lookup
		ns      []string
	}{
		{name: "fresh", qname: "www.example.com.", qtype: dns.TypeA, advance: 10 * time.Second, fresh: Positive, stale: Positive,
			answer: []string{"www.example.com. 290 IN A 192.0.2.1", "www.example.com. 290 IN A 192.0.2.2"}},
		{name: "expired", qname: "www.example.com.", qtype: dns.TypeA, advance: 301 * time.Second, fresh: Miss, stale: Positive, isStale: true,
			answer: []string{"www.example.com. 30 IN A 192.0.2.1", "www.example.com. 30 IN A 192.0.2.2"}},
		{name: "stale end of a fresh chain", qname: "alias.example.com.", qtype: dns.TypeA, advance: 301 * time.Second, fresh: Partial, stale: Positive, isStale: true,
			answer: []string{"alias.example.com. 299 IN CNAME www.example.com.", "www.example.com. 30 IN A 192.0.2.1", "www.example.com. 30 IN A 192.0.2.2"}},
		{name: "stale negative", qname: "nx.example.com.", qtype: dns.TypeA, advance: time.Hour, fresh: Miss, stale: NXDomain, isStale: true,
			ns: []string{"example.com. 30 IN SOA ns1.example.com. host.example.com. 1 7200 900 604800 600"}},
		{name: "past the window", qname: "www.example.com.", qtype: dns.TypeA, advance: 300*time.Second + 24*time.Hour, fresh: Miss, stale: Miss},
		{name: "short window", cfg: Config{StaleWindow: time.Minute}, qname: "www.example.com.", qtype: dns.TypeA, advance: 361 * time.Second, fresh: Miss, stale: Miss},
		{name: "disabled", cfg: Config{StaleWindow: -1}, qname: "www.example.com.", qtype: dns.TypeA, advance: 301 * time.Second, fresh: Miss, stale: Miss},
		{name: "stale TTL", cfg: Config{StaleTTL: 5 * time.Second}, qname: "www.example.com.", qtype: dns.TypeA, advance: 301 * time.Second, fresh: Miss, stale: Positive, isStale: true,
			answer: []string{"www.example.com. 5 IN A 192.0.2.1", "www.example.com. 5 IN A 192.0.2.2"}},
		{name: "glue is never stale-served", qname: "ns1.example.com.", qtype: dns.TypeA, advance: 200000 * time.Second, fresh: Miss, stale: Miss},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			c, _ := newCache(t, clk, tt.cfg)
			fixture(t, c)
			clk.Advance(tt.advance)
			if _, res := answer(c, tt.qname, tt.qtype, Fresh); res.Kind != tt.fresh || res.Stale {
				t.Errorf("Fresh: %+v, want %v", res, tt.fresh)
			}
			m, res := answer(c, tt.qname, tt.qtype, Stale)
			if res.Kind != tt.stale || res.Stale != tt.isStale {
				t.Fatalf("Stale: %+v, want %v stale=%v", res, tt.stale, tt.isStale)
			}
			wantRRs(t, "answer", m.Answer, tt.answer)
			wantRRs(t, "authority", m.Ns, tt.ns)
		})
	}
}

// TestStaleDropped checks that data past the stale window leaves the cache
// when it is next looked up.
func TestStaleDropped(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c, _ := newCache(t, clk, Config{StaleWindow: time.Minute})
	mustInsert(t, c, RankAuthAnswer, "a.example. 60 IN A 192.0.2.1")
	clk.Advance(119 * time.Second)
	if n := c.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1 within the window", n)
	}
	clk.Advance(time.Second)
	answer(c, "a.example.", dns.TypeA, Stale)
	if n := c.Len(); n != 0 {
		t.Errorf("Len = %d, want 0 past the window", n)
	}
}

// TestPrefetch checks that a hit in the last 10% of the TTL asks for a
// refresh, once per entry.
func TestPrefetch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		advance time.Duration // into a 100 s TTL
		want    bool
	}{
		{"early", Config{}, 50 * time.Second, false},
		{"just before the window", Config{}, 89 * time.Second, false},
		{"in the window", Config{}, 90 * time.Second, true},
		{"late in the window", Config{}, 99 * time.Second, true},
		{"expired", Config{}, 100 * time.Second, false},
		{"wider window", Config{PrefetchPercent: 50}, 50 * time.Second, true},
		{"disabled", Config{PrefetchPercent: -1}, 99 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			c, _ := newCache(t, clk, tt.cfg)
			mustInsert(t, c, RankAuthAnswer, "a.example. 100 IN A 192.0.2.1")
			clk.Advance(tt.advance)
			if _, res := answer(c, "a.example.", dns.TypeA, Fresh); res.Prefetch != tt.want {
				t.Errorf("first hit Prefetch = %v, want %v", res.Prefetch, tt.want)
			}
			if _, res := answer(c, "a.example.", dns.TypeA, Fresh); res.Prefetch {
				t.Error("second hit asked for a refresh again")
			}
		})
	}
}

// TestPrefetchOnce checks that concurrent hits start exactly one refresh,
// and that the refreshed entry can ask again.
func TestPrefetchOnce(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c, _ := newCache(t, clk, Config{})
	mustInsert(t, c, RankAuthAnswer, "a.example. 100 IN A 192.0.2.1")
	mustInsert(t, c, RankAuthAnswer, "b.example. 100 IN CNAME a.example.")
	clk.Advance(95 * time.Second)
	var n atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if _, res := answer(c, "a.example.", dns.TypeA, Fresh); res.Prefetch {
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if n.Load() != 1 {
		t.Errorf("%d refreshes asked for, want 1", n.Load())
	}
	// The chain's CNAME is its own entry with its own refresh.
	if _, res := answer(c, "b.example.", dns.TypeA, Fresh); !res.Prefetch {
		t.Error("chain hit did not ask to refresh its CNAME")
	}
	mustInsert(t, c, RankAuthAnswer, "a.example. 100 IN A 192.0.2.1") // the refresh
	clk.Advance(95 * time.Second)
	if _, res := answer(c, "a.example.", dns.TypeA, Fresh); !res.Prefetch {
		t.Error("refreshed entry did not ask for its own refresh")
	}
}
