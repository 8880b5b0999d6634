package infra

import (
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake clock, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func ap(s string) netip.AddrPort         { return netip.MustParseAddrPort(s) }
func newTestCache(clk *clock, seed uint64) *Cache {
	return New(Config{Now: clk.Now, Rand: rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)})
}

// mustSelect calls Select and fails the test if it picks nothing.
func mustSelect(t *testing.T, c *Cache, zone string, servers ...netip.AddrPort) Choice {
	t.Helper()
	ch, ok := c.Select(zone, servers)
	if !ok {
		t.Fatalf("Select(%q, %v): nothing chosen", zone, servers)
	}
	return ch
}
