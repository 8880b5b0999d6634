package cache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestInsertRank checks the RFC 2181 §5.4.1 replacement rule: lower-ranked
// data never replaces higher-ranked unexpired data.
func TestInsertRank(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		old, new  Rank
		advance   time.Duration // between the two inserts
		wantStore bool
		want      string // the A record Lookup sees afterwards
	}{
		{"higher replaces lower", RankAdditional, RankAuthAnswer, 0, true, "a.example. 200 IN A 192.0.2.2"},
		{"equal replaces", RankAnswer, RankAnswer, 0, true, "a.example. 200 IN A 192.0.2.2"},
		{"lower keeps higher", RankAuthAnswer, RankAdditional, 0, false, "a.example. 100 IN A 192.0.2.1"},
		{"glue keeps answer", RankAnswer, RankAuthority, 0, false, "a.example. 100 IN A 192.0.2.1"},
		{"lower replaces expired", RankAuthAnswer, RankAdditional, 101 * time.Second, true, "a.example. 200 IN A 192.0.2.2"},
		{"lower keeps higher until expiry", RankAuthAnswer, RankAdditional, 99 * time.Second, false, "a.example. 1 IN A 192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			c, _ := newCache(t, clk, Config{})
			mustInsert(t, c, tt.old, "a.example. 100 IN A 192.0.2.1")
			clk.Advance(tt.advance)
			if got := c.Insert(rrs(t, "a.example. 200 IN A 192.0.2.2"), tt.new); got != tt.wantStore {
				t.Errorf("Insert = %v, want %v", got, tt.wantStore)
			}
			got, _, ok := c.Lookup(nil, "a.example.", dns.TypeA, dns.ClassINET)
			if !ok {
				t.Fatal("Lookup: miss")
			}
			wantRRs(t, "Lookup", got, []string{tt.want})
		})
	}
}

// TestInsertNSKeepsExpiry checks the ghost-domain rule: an NS RRset
// re-learnt at the same rank does not live longer.
func TestInsertNSKeepsExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c, _ := newCache(t, clk, Config{})
	mustInsert(t, c, RankAuthority, "ghost.example. 100 IN NS ns1.ghost.example.")
	clk.Advance(60 * time.Second)
	mustInsert(t, c, RankAuthority, "ghost.example. 100 IN NS ns2.ghost.example.")
	got, _, _ := c.Lookup(nil, "ghost.example.", dns.TypeNS, dns.ClassINET)
	wantRRs(t, "same rank", got, []string{"ghost.example. 40 IN NS ns2.ghost.example."})

	// A higher rank (the child's own servers) may refresh it.
	mustInsert(t, c, RankAuthAnswer, "ghost.example. 100 IN NS ns3.ghost.example.")
	got, _, _ = c.Lookup(nil, "ghost.example.", dns.TypeNS, dns.ClassINET)
	wantRRs(t, "higher rank", got, []string{"ghost.example. 100 IN NS ns3.ghost.example."})
}

func TestInsertRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rrs  []string
		rank Rank
	}{
		{"empty", nil, RankAnswer},
		{"no rank", []string{"a.example. 60 IN A 192.0.2.1"}, 0},
		{"bad rank", []string{"a.example. 60 IN A 192.0.2.1"}, RankAuthAnswer + 1},
		{"mixed owners", []string{"a.example. 60 IN A 192.0.2.1", "b.example. 60 IN A 192.0.2.2"}, RankAnswer},
		{"mixed types", []string{"a.example. 60 IN A 192.0.2.1", "a.example. 60 IN AAAA 2001:db8::1"}, RankAnswer},
		{"zero TTL", []string{"a.example. 0 IN A 192.0.2.1"}, RankAnswer},
		{"CH class NONE type", []string{"a.example. 60 CH TYPE0 \\# 0"}, RankAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newCache(t, newClock(), Config{})
			if c.Insert(rrs(t, tt.rrs...), tt.rank) {
				t.Errorf("Insert stored %q", tt.rrs)
			}
			if n := c.Len(); n != 0 {
				t.Errorf("Len = %d, want 0", n)
			}
		})
	}
	t.Run("not fully qualified", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t, newClock(), Config{})
		a := rr(t, "a.example. 60 IN A 192.0.2.1")
		a.Header().Name = "a.example"
		if c.Insert([]dns.RR{a}, RankAnswer) {
			t.Error("Insert stored a relative name")
		}
	})
	t.Run("class ANY", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t, newClock(), Config{})
		a := rr(t, "a.example. 60 IN A 192.0.2.1")
		a.Header().Class = dns.ClassANY
		if c.Insert([]dns.RR{a}, RankAnswer) {
			t.Error("Insert stored class ANY")
		}
	})
	t.Run("OPT", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t, newClock(), Config{})
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232, Ttl: 60}}
		if c.Insert([]dns.RR{opt}, RankAdditional) {
			t.Error("Insert stored OPT (RFC 6891 §6.1.1)")
		}
	})
}

// TestInsertTTL checks the RRset TTL: the smallest of its records, clamped.
func TestInsertTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		rrs     []string
		wantTTL uint32 // 0: not stored
	}{
		{"as sent", Config{}, []string{"a.example. 300 IN A 192.0.2.1"}, 300},
		{"smallest of the set", Config{}, []string{"a.example. 300 IN A 192.0.2.1", "a.example. 30 IN A 192.0.2.2"}, 30},
		{"default max one day", Config{}, []string{"a.example. 604800 IN A 192.0.2.1"}, 86400},
		{"max", Config{MaxTTL: time.Hour}, []string{"a.example. 7200 IN A 192.0.2.1"}, 3600},
		{"min", Config{MinTTL: time.Minute}, []string{"a.example. 5 IN A 192.0.2.1"}, 60},
		{"min lifts zero", Config{MinTTL: time.Minute}, []string{"a.example. 0 IN A 192.0.2.1"}, 60},
		{"zero not cached", Config{}, []string{"a.example. 0 IN A 192.0.2.1"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newCache(t, newClock(), tt.cfg)
			stored := c.Insert(rrs(t, tt.rrs...), RankAuthAnswer)
			if stored != (tt.wantTTL != 0) {
				t.Fatalf("Insert = %v, want %v", stored, tt.wantTTL != 0)
			}
			got, _, ok := c.Lookup(nil, "a.example.", dns.TypeA, dns.ClassINET)
			if ok != stored {
				t.Fatalf("Lookup ok = %v", ok)
			}
			for _, r := range got {
				if r.Header().Ttl != tt.wantTTL {
					t.Errorf("TTL = %d, want %d", r.Header().Ttl, tt.wantTTL)
				}
			}
		})
	}
}

// TestInsertCopies checks that the cache keeps its own lower-case copies,
// without duplicates.
func TestInsertCopies(t *testing.T) {
	t.Parallel()
	c, _ := newCache(t, newClock(), Config{})
	in := rrs(t, "A.ExAmple. 60 IN A 192.0.2.1", "a.example. 60 IN A 192.0.2.1", "a.EXAMPLE. 60 IN A 192.0.2.2")
	if !c.Insert(in, RankAnswer) {
		t.Fatal("Insert = false")
	}
	in[0].(*dns.A).A[3] = 99
	got, _, _ := c.Lookup(nil, "a.example.", dns.TypeA, dns.ClassINET)
	wantRRs(t, "Lookup", got, []string{"a.example. 60 IN A 192.0.2.1", "a.example. 60 IN A 192.0.2.2"})
}

// TestNegativeTTL checks RFC 2308 §5: min(SOA TTL, SOA MINIMUM), capped.
func TestNegativeTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		soa     string
		wantTTL uint32 // 0: not stored
	}{
		{"minimum smaller", Config{}, "example. 3600 IN SOA ns. host. 1 2 3 4 300", 300},
		{"SOA TTL smaller", Config{}, "example. 60 IN SOA ns. host. 1 2 3 4 300", 60},
		{"default cap three hours", Config{}, "example. 86400 IN SOA ns. host. 1 2 3 4 86400", 10800},
		{"cap", Config{NegativeMaxTTL: time.Minute}, "example. 3600 IN SOA ns. host. 1 2 3 4 3600", 60},
		{"MinTTL does not apply", Config{MinTTL: time.Hour}, "example. 3600 IN SOA ns. host. 1 2 3 4 30", 30},
		{"zero not cached", Config{}, "example. 3600 IN SOA ns. host. 1 2 3 4 0", 0},
		{"SOA of another zone", Config{}, "other. 3600 IN SOA ns. host. 1 2 3 4 300", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newCache(t, newClock(), tt.cfg)
			n := Negative{Name: "x.example.", Class: dns.ClassINET, NXDomain: true, SOA: soa(t, tt.soa), Rank: RankAuthAnswer}
			if got := c.InsertNegative(n); got != (tt.wantTTL != 0) {
				t.Fatalf("InsertNegative = %v", got)
			}
			m, res := answer(c, "x.example.", dns.TypeA, Fresh)
			if tt.wantTTL == 0 {
				if res.Kind != Miss {
					t.Errorf("Kind = %v, want miss", res.Kind)
				}
				return
			}
			if res.Kind != NXDomain || len(m.Ns) != 1 || m.Ns[0].Header().Ttl != tt.wantTTL {
				t.Errorf("got %v %v, want NXDOMAIN with SOA TTL %d", res.Kind, m.Ns, tt.wantTTL)
			}
		})
	}
	t.Run("no SOA", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t, newClock(), Config{})
		if c.InsertNegative(Negative{Name: "x.example.", Class: dns.ClassINET, NXDomain: true, Rank: RankAuthAnswer}) {
			t.Error("stored a negative answer without SOA (RFC 2308 §5)")
		}
	})
}

// TestNegativeReplaces checks that NXDOMAIN and positive data at one name
// give way to the newer of the two.
func TestNegativeReplaces(t *testing.T) {
	t.Parallel()
	const soaRR = "example. 3600 IN SOA ns. host. 1 2 3 4 300"
	t.Run("positive after NXDOMAIN", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t, newClock(), Config{})
		c.InsertNegative(Negative{Name: "x.example.", Class: dns.ClassINET, NXDomain: true, SOA: soa(t, soaRR), Rank: RankAuthAnswer})
		mustInsert(t, c, RankAuthAnswer, "x.example. 60 IN TXT hello")
		if _, res := answer(c, "x.example.", dns.TypeMX, Fresh); res.Kind != Miss {
			t.Errorf("MX after the name appeared: %v, want miss", res.Kind)
		}
	})
	t.Run("glue does not undo NXDOMAIN", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t, newClock(), Config{})
		c.InsertNegative(Negative{Name: "x.example.", Class: dns.ClassINET, NXDomain: true, SOA: soa(t, soaRR), Rank: RankAuthAnswer})
		mustInsert(t, c, RankAdditional, "x.example. 60 IN A 192.0.2.1")
		if _, res := answer(c, "x.example.", dns.TypeA, Fresh); res.Kind != NXDomain {
			t.Errorf("got %v, want nxdomain", res.Kind)
		}
	})
	t.Run("NXDOMAIN after positive", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t, newClock(), Config{})
		mustInsert(t, c, RankAuthAnswer, "x.example. 60 IN A 192.0.2.1")
		c.InsertNegative(Negative{Name: "x.example.", Type: dns.TypeA, Class: dns.ClassINET, NXDomain: true, SOA: soa(t, soaRR), Rank: RankAuthAnswer})
		if _, res := answer(c, "x.example.", dns.TypeA, Fresh); res.Kind != NXDomain {
			t.Errorf("got %v, want nxdomain", res.Kind)
		}
	})
	t.Run("NXDOMAIN after NODATA", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t, newClock(), Config{})
		c.InsertNegative(Negative{Name: "x.example.", Type: dns.TypeA, Class: dns.ClassINET, SOA: soa(t, soaRR), Rank: RankAuthAnswer})
		c.InsertNegative(Negative{Name: "x.example.", Type: dns.TypeA, Class: dns.ClassINET, NXDomain: true, SOA: soa(t, soaRR), Rank: RankAuthAnswer})
		if _, res := answer(c, "x.example.", dns.TypeA, Fresh); res.Kind != NXDomain {
			t.Errorf("got %v, want nxdomain", res.Kind)
		}
	})
	t.Run("NODATA replaces positive", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t, newClock(), Config{})
		mustInsert(t, c, RankAnswer, "x.example. 60 IN A 192.0.2.1")
		if !c.InsertNegative(Negative{Name: "x.example.", Type: dns.TypeA, Class: dns.ClassINET, SOA: soa(t, soaRR), Rank: RankAuthAnswer}) {
			t.Fatal("InsertNegative = false")
		}
		if _, res := answer(c, "x.example.", dns.TypeA, Fresh); res.Kind != NoData {
			t.Errorf("got %v, want nodata", res.Kind)
		}
		// and a forwarder's NODATA does not replace an authoritative answer
		mustInsert(t, c, RankAuthAnswer, "x.example. 60 IN A 192.0.2.1")
		if c.InsertNegative(Negative{Name: "x.example.", Type: dns.TypeA, Class: dns.ClassINET, SOA: soa(t, soaRR), Rank: RankAnswer}) {
			t.Error("lower-ranked NODATA replaced an authoritative answer")
		}
	})
}
