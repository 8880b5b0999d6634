package infra

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// sim is a deterministic simulation of a resolver asking one zone's
// replicas, one query after another: a fake clock, fake RTTs with ±10%
// jitter, and seeded randomness for both the network and the cache.
type sim struct {
	t       *testing.T
	clk     *clock
	c       *Cache
	rng     *rand.Rand
	servers []netip.AddrPort
	delay   map[netip.AddrPort]time.Duration
	gap     time.Duration // mean time between queries
}

func newSim(t *testing.T, seed uint64, delays ...time.Duration) *sim {
	s := &sim{
		t: t, clk: newClock(), rng: rand.New(rand.NewPCG(seed, 1)),
		delay: map[netip.AddrPort]time.Duration{}, gap: 20 * time.Millisecond,
	}
	s.c = newTestCache(s.clk, seed)
	for i, d := range delays {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 53)
		s.servers = append(s.servers, a)
		s.delay[a] = d
	}
	return s
}

// run sends n queries and returns how many went to each server.
func (s *sim) run(n int) map[netip.AddrPort]int {
	counts := map[netip.AddrPort]int{}
	for range n {
		ch := mustSelect(s.t, s.c, "example.", s.servers...)
		counts[ch.Server]++
		rtt := time.Duration(float64(s.delay[ch.Server]) * (0.9 + 0.2*s.rng.Float64()))
		s.clk.Advance(rtt)
		s.c.RecordRTT(ch.Server, rtt)
		s.clk.Advance(time.Duration(s.rng.ExpFloat64() * float64(s.gap)))
	}
	return counts
}

func (s *sim) share(counts map[netip.AddrPort]int, i int) float64 {
	total := 0
	for _, n := range counts {
		total += n
	}
	return float64(counts[s.servers[i]]) / float64(total)
}

// The acceptance test of issue 3: with three replicas 5, 50 and 150 ms
// away, at least 90% of queries after warm-up go to the nearest, while the
// others are still probed now and then.
func TestSelectNearestReplica(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			s := newSim(t, seed, 5*time.Millisecond, 50*time.Millisecond, 150*time.Millisecond)
			s.run(20) // warm-up
			counts := s.run(20000)
			if got := s.share(counts, 0); got < 0.9 {
				t.Errorf("nearest replica got %.1f%% of queries after warm-up, want >= 90%% (counts %v)", 100*got, counts)
			}
			// Exploration: the farther replicas are still asked (20000
			// queries span about 8 simulated minutes, some ten half-lives).
			if counts[s.servers[1]] == 0 || counts[s.servers[2]] == 0 {
				t.Errorf("no exploration of the farther replicas: %v", counts)
			}
			if seed == 1 {
				t.Logf("shares after warm-up: 5ms %.2f%%, 50ms %.2f%%, 150ms %.2f%%",
					100*s.share(counts, 0), 100*s.share(counts, 1), 100*s.share(counts, 2))
			}
		})
	}
}

// Unknown servers are tried early: with all three unknown, every one is
// asked within the first few queries in most seeds, and in all seeds the
// nearest ends up with the traffic within a short warm-up.
func TestSelectConvergesFast(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 20; seed++ {
		s := newSim(t, seed, 5*time.Millisecond, 50*time.Millisecond, 150*time.Millisecond)
		s.run(20)
		counts := s.run(100)
		if got := s.share(counts, 0); got < 0.95 {
			t.Errorf("seed %d: nearest got %.0f%% of queries 21-120, want >= 95%%", seed, 100*got)
		}
	}
}

// When the nearest replica gets slow, traffic moves at once; when a far
// replica gets near, exploration finds it within a few half-lives.
func TestSelectAdapts(t *testing.T) {
	t.Parallel()
	s := newSim(t, 7, 5*time.Millisecond, 50*time.Millisecond, 150*time.Millisecond)
	s.run(1000)

	s.delay[s.servers[0]] = 300 * time.Millisecond
	s.run(10)
	if got := s.share(s.run(1000), 1); got < 0.9 {
		t.Errorf("after the nearest slowed down, the 50 ms replica got %.0f%%, want >= 90%%", 100*got)
	}

	s.delay[s.servers[2]] = time.Millisecond
	// Ten half-lives of simulated time: the 1 ms replica's score decays
	// to the best within about three, one probe re-ranks it.
	for start := s.clk.Now(); s.clk.Now().Sub(start) < 10*DefaultAgeHalfLife; {
		s.run(100)
	}
	if got := s.share(s.run(1000), 2); got < 0.9 {
		t.Errorf("after the far replica came near, it got %.0f%%, want >= 90%%", 100*got)
	}
}

// Replicas equally near share the load (Unbound's band, here 1/8 of the
// best score).
func TestSelectSpreadsOverEqualReplicas(t *testing.T) {
	t.Parallel()
	s := newSim(t, 3, 5*time.Millisecond, 5*time.Millisecond, 100*time.Millisecond)
	s.run(100)
	counts := s.run(10000)
	a, b := s.share(counts, 0), s.share(counts, 1)
	if a < 0.25 || b < 0.25 || a+b < 0.97 {
		t.Errorf("equal replicas got %.0f%% and %.0f%%, want both >= 25%% and together >= 97%%", 100*a, 100*b)
	}
}

func TestSelectEmpty(t *testing.T) {
	t.Parallel()
	c := newTestCache(newClock(), 1)
	if _, ok := c.Select("example.", nil); ok {
		t.Fatal("Select with no candidates chose something")
	}
}

func TestLameAvoided(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := newTestCache(clk, 1)
	a, b := ap("192.0.2.1:53"), ap("192.0.2.2:53")
	c.RecordRTT(a, time.Millisecond)
	c.RecordRTT(b, 100*time.Millisecond)
	c.MarkLame(a, "Example.COM")
	if !c.IsLame(a, "example.com.") {
		t.Fatal("lameness is not case-insensitive or not fully qualified")
	}
	if c.IsLame(a, "example.net.") || c.IsLame(b, "example.com.") {
		t.Fatal("lameness leaked to another zone or server")
	}
	for range 20 {
		if ch := mustSelect(t, c, "example.com.", a, b); ch.Server != b || ch.Lame {
			t.Fatalf("Select = %+v, want %v (not lame)", ch, b)
		}
	}
	if ch := mustSelect(t, c, "example.net.", a, b); ch.Server != a {
		t.Fatalf("Select for another zone = %v, want the nearer %v", ch.Server, a)
	}
	c.MarkLame(b, "example.com.")
	if ch := mustSelect(t, c, "example.com.", a, b); !ch.Lame || ch.Server != a {
		t.Fatalf("all lame: Select = %+v, want %v with Lame", ch, a)
	}
	clk.Advance(DefaultLameTTL)
	if c.IsLame(a, "example.com.") {
		t.Fatal("lameness did not expire after LameTTL")
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := newTestCache(clk, 1)
	a := ap("192.0.2.1:53")
	if ch := mustSelect(t, c, ".", a); !ch.EDNS || !ch.Case0x20 {
		t.Fatalf("unknown server: %+v, want EDNS and 0x20 on", ch)
	}
	c.RecordNoEDNS(a)
	c.RecordNo0x20(ap("[::ffff:192.0.2.1]:53")) // the same server, written mapped
	if ch := mustSelect(t, c, ".", a); ch.EDNS || ch.Case0x20 {
		t.Fatalf("after failures: %+v, want EDNS and 0x20 off", ch)
	}
	if info, _ := c.Server(a); !info.NoEDNS || !info.No0x20 {
		t.Fatalf("Server = %+v, want NoEDNS and No0x20", info)
	}
	clk.Advance(DefaultCapabilityTTL)
	if ch := mustSelect(t, c, ".", a); !ch.EDNS || !ch.Case0x20 {
		t.Fatalf("after CapabilityTTL: %+v, want EDNS and 0x20 tried again", ch)
	}
}

func BenchmarkSelect(b *testing.B) {
	clk := newClock()
	c := newTestCache(clk, 1)
	servers := []netip.AddrPort{ap("192.0.2.1:53"), ap("192.0.2.2:53"), ap("192.0.2.3:53"), ap("[2001:db8::1]:53")}
	for i, s := range servers {
		c.RecordRTT(s, time.Duration(i+1)*10*time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		ch, _ := c.Select("example.", servers)
		c.RecordRTT(ch.Server, 10*time.Millisecond)
		clk.Advance(time.Millisecond)
	}
}

// TestRace: a server never queried comes with the other never-queried
// candidates to race; once a server has been queried (answer or timeout)
// it neither races nor is raced, and lame ones never are.
func TestRace(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := newTestCache(clk, 1)
	s := []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.1:53"), netip.MustParseAddrPort("192.0.2.2:53"),
		netip.MustParseAddrPort("192.0.2.3:53"), netip.MustParseAddrPort("192.0.2.4:53"),
		netip.MustParseAddrPort("192.0.2.5:53"),
	}
	c.MarkLame(s[4], "example.")
	ch := mustSelect(t, c, "example.", s...)
	if len(ch.Race) != MaxRace-1 {
		t.Fatalf("first contact: %d racers, want %d", len(ch.Race), MaxRace-1)
	}
	seen := map[netip.AddrPort]bool{ch.Server: true}
	for _, r := range ch.Race {
		if seen[r.Server] || r.Server == s[4] || len(r.Race) != 0 || r.Timeout <= 0 {
			t.Errorf("racer %+v: repeated, lame, nested or without a timeout", r)
		}
		seen[r.Server] = true
	}
	// While those racers' answers are on the way, another question picks
	// a fresh server without racing them again; after their RTO it may.
	for range 5 {
		again := mustSelect(t, c, "example.", s...)
		for _, r := range again.Race {
			if seen[r.Server] {
				t.Fatalf("%v raced again within its RTO", r.Server)
			}
		}
	}
	clk.Advance(DefaultInitialRTO + time.Millisecond)
	if again := mustSelect(t, c, "example.", s...); len(again.Race) == 0 {
		t.Error("no race after the racers' RTO ran out unanswered")
	}
	// Everyone measured but one: no race, whoever is picked.
	c.RecordRTT(s[0], 80*time.Millisecond)
	c.RecordRTT(s[1], 2*time.Millisecond)
	c.RecordTimeout(s[2])
	for range 20 {
		if ch := mustSelect(t, c, "example.", s...); len(ch.Race) != 0 {
			t.Fatalf("%v raced %v after measurement", ch.Server, ch.Race)
		}
	}
}
