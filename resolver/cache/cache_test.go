package cache

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero", Config{}, ""},
		{"negative size", Config{Size: -1}, "negative"},
		{"min above max", Config{MinTTL: 2 * time.Hour, MaxTTL: time.Hour}, "exceeds"},
		{"min above default max", Config{MinTTL: 48 * time.Hour}, "exceeds"},
		{"negative TTL bound", Config{MaxTTL: -time.Second}, "negative"},
		{"prefetch over 100", Config{PrefetchPercent: 101}, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Registerer = prometheus.NewRegistry()
			_, err := New(tt.cfg)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("New: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		c, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := c.cfg
		if cfg.Size != DefaultSize || cfg.MaxTTL != DefaultMaxTTL || cfg.NegativeMaxTTL != DefaultNegativeMaxTTL ||
			cfg.StaleWindow != DefaultStaleWindow || cfg.StaleTTL != DefaultStaleTTL ||
			cfg.PrefetchPercent != DefaultPrefetchPercent || cfg.MaxChain != DefaultMaxChain || cfg.MinTTL != 0 {
			t.Errorf("defaults = %+v", cfg)
		}
	})
}

func TestShards(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ size, shards int }{
		{1, 1}, {10, 1}, {511, 1}, {512, 2}, {100_000, 256}, {1 << 20, 256},
	} {
		c, _ := newCache(t, newClock(), Config{Size: tt.size})
		if len(c.shards) != tt.shards {
			t.Errorf("size %d: %d shards, want %d", tt.size, len(c.shards), tt.shards)
		}
	}
}

// TestEviction checks that the cache holds at most Size entries, evicting
// the least recently used, and counts evictions.
func TestEviction(t *testing.T) {
	t.Parallel()
	for _, size := range []int{10, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			c, _ := newCache(t, newClock(), Config{Size: size})
			for i := range 3 * size {
				mustInsert(t, c, RankAnswer, fmt.Sprintf("n%d.example. 60 IN A 192.0.2.1", i))
			}
			s := c.Stats()
			if s.Entries != size || s.Evictions != uint64(2*size) {
				t.Errorf("Stats = %+v, want %d entries, %d evictions", s, size, 2*size)
			}
		})
	}
	t.Run("least recently used goes first", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache(t, newClock(), Config{Size: 2})
		mustInsert(t, c, RankAnswer, "a.example. 60 IN A 192.0.2.1")
		mustInsert(t, c, RankAnswer, "b.example. 60 IN A 192.0.2.2")
		answer(c, "a.example.", dns.TypeA, Fresh)
		mustInsert(t, c, RankAnswer, "c.example. 60 IN A 192.0.2.3")
		if _, res := answer(c, "a.example.", dns.TypeA, Fresh); res.Kind != Positive {
			t.Error("the entry just used was evicted")
		}
		if _, res := answer(c, "b.example.", dns.TypeA, Fresh); res.Kind != Miss {
			t.Error("the least recently used entry was kept")
		}
	})
}

// TestResize: a running cache shrinks at once, evicting the least
// recently used (counted), and grows again, keeping its shards.
func TestResize(t *testing.T) {
	t.Parallel()
	c, _ := newCache(t, newClock(), Config{Size: 2048}) // 8 shards
	for i := range 2048 {
		mustInsert(t, c, RankAnswer, fmt.Sprintf("n%d.example. 60 IN A 192.0.2.1", i))
	}
	if err := c.Resize(512); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Entries != 512 || s.Evictions != 2048-512 || len(c.shards) != 8 {
		t.Errorf("after shrinking: %+v, %d shards; want 512 entries, %d evictions, 8 shards", s, len(c.shards), 2048-512)
	}
	if err := c.Resize(4096); err != nil {
		t.Fatal(err)
	}
	// Four times the budget, so that every shard fills whatever the hash
	// seed (4,096 names can leave a shard a few short).
	for i := range 4 * 4096 {
		mustInsert(t, c, RankAnswer, fmt.Sprintf("m%d.example. 60 IN A 192.0.2.1", i))
	}
	if s := c.Stats(); s.Entries != 4096 {
		t.Errorf("after growing: %d entries, want 4096", s.Entries)
	}
	if err := c.Resize(-1); err == nil {
		t.Error("a negative size was accepted")
	}
}

// TestKeys checks what makes two questions the same key.
func TestKeys(t *testing.T) {
	t.Parallel()
	c, _ := newCache(t, newClock(), Config{})
	mustInsert(t, c, RankAnswer, "a.example. 60 IN A 192.0.2.1")
	mustInsert(t, c, RankAnswer, "a.example. 60 CH A 192.0.2.9")
	for _, tt := range []struct {
		name  string
		qtype uint16
		class uint16
		want  string
	}{
		{"A.EXAMPLE.", dns.TypeA, dns.ClassINET, "192.0.2.1"},
		{"a.example.", dns.TypeA, dns.ClassCHAOS, "192.0.2.9"},
		{"a.example.", dns.TypeAAAA, dns.ClassINET, ""},
		{"a.example", dns.TypeA, dns.ClassINET, ""},
		{"b.example.", dns.TypeA, dns.ClassINET, ""},
	} {
		got, _, ok := c.Lookup(nil, tt.name, tt.qtype, tt.class)
		if ok != (tt.want != "") || (ok && got[0].(*dns.A).A.String() != tt.want) {
			t.Errorf("Lookup(%s %d %d) = %v %v, want %q", tt.name, tt.qtype, tt.class, got, ok, tt.want)
		}
	}
}

// TestHashCollision checks that an entry found under a key's hash is used
// only if it holds that very key.
func TestHashCollision(t *testing.T) {
	t.Parallel()
	c, _ := newCache(t, newClock(), Config{})
	mustInsert(t, c, RankAuthAnswer, "other.example. 60 IN A 192.0.2.66")
	victim := c.key("a.example.", dns.TypeA, dns.ClassINET)
	e, _ := c.shard(c.key("other.example.", dns.TypeA, dns.ClassINET)).lru.Peek(c.key("other.example.", dns.TypeA, dns.ClassINET))
	c.shard(victim).lru.Add(victim, e) // as if both names hashed alike
	if _, res := answer(c, "a.example.", dns.TypeA, Fresh); res.Kind != Miss {
		t.Errorf("colliding entry answered: %v", res.Kind)
	}
	mustInsert(t, c, RankAdditional, "a.example. 60 IN A 192.0.2.1") // replaces the other key's entry, whatever its rank
	got, _, ok := c.Lookup(nil, "a.example.", dns.TypeA, dns.ClassINET)
	if !ok {
		t.Fatal("Lookup: miss after insert")
	}
	wantRRs(t, "Lookup", got, []string{"a.example. 60 IN A 192.0.2.1"})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c, reg := newCache(t, clk, Config{Size: 2})
	mustInsert(t, c, RankAuthAnswer, "a.example. 60 IN A 192.0.2.1")
	mustInsert(t, c, RankAuthAnswer, "b.example. 60 IN A 192.0.2.1")
	mustInsert(t, c, RankAuthAnswer, "c.example. 60 IN A 192.0.2.1") // evicts a
	answer(c, "b.example.", dns.TypeA, Fresh)
	answer(c, "c.example.", dns.TypeA, Fresh)
	answer(c, "a.example.", dns.TypeA, Fresh)
	clk.Advance(time.Minute)
	answer(c, "b.example.", dns.TypeA, Fresh)
	answer(c, "b.example.", dns.TypeA, Stale)

	want := Stats{Hits: 2, Misses: 2, StaleHits: 1, Evictions: 1, Entries: 2}
	if got := c.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				got[f.GetName()] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[f.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	wantM := map[string]float64{
		"meridian_resolver_cache_hits_total":       2,
		"meridian_resolver_cache_misses_total":     2,
		"meridian_resolver_cache_stale_hits_total": 1,
		"meridian_resolver_cache_evictions_total":  1,
		"meridian_resolver_cache_entries":          2,
	}
	if !maps.Equal(got, wantM) {
		t.Errorf("metrics = %v, want %v", got, wantM)
	}
	if _, err := New(Config{Registerer: reg}); err == nil {
		t.Error("a second cache registered the same metrics on one registry")
	}
}

// TestConcurrent exercises every entry point at once, for the race
// detector, and checks the bound holds.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c, _ := newCache(t, clk, Config{Size: 600})
	soaRR := soa(t, "example. 60 IN SOA ns. host. 1 2 3 4 60")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			m := new(dns.Msg)
			for i := range 2000 {
				name := fmt.Sprintf("n%d.example.", (i*7+w)%300)
				switch i % 5 {
				case 0:
					c.Insert(rrs(t, name+" 60 IN A 192.0.2.1"), Rank(1+i%5))
				case 1:
					c.InsertNegative(Negative{Name: name, Type: dns.TypeAAAA, Class: dns.ClassINET, SOA: soaRR, Rank: RankAuthAnswer})
				case 2:
					c.Closest(name, dns.ClassINET)
					c.Lookup(nil, name, dns.TypeA, dns.ClassINET)
				default:
					m.Answer, m.Ns = m.Answer[:0], m.Ns[:0]
					c.Answer(m, dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET}, Mode(i%2))
				}
				if i%500 == 0 {
					clk.Advance(10 * time.Second)
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 600 {
		t.Errorf("Len = %d, above Size", n)
	}
}
