package cache

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// clock is a settable clock for Config.Now, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// newCache returns a cache on clk with cfg's other settings, and the
// registry its metrics went to.
func newCache(t testing.TB, clk *clock, cfg Config) (*Cache, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Now, cfg.Registerer = clk.Now, reg
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, reg
}

// rr parses one record in master-file syntax.
func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil || r == nil {
		t.Fatalf("bad RR %q: %v", s, err)
	}
	return r
}

// rrs parses records.
func rrs(t testing.TB, ss ...string) []dns.RR {
	t.Helper()
	out := make([]dns.RR, 0, len(ss))
	for _, s := range ss {
		out = append(out, rr(t, s))
	}
	return out
}

// soa parses an SOA record.
func soa(t testing.TB, s string) *dns.SOA {
	t.Helper()
	return rr(t, s).(*dns.SOA)
}

// strs renders records in master-file syntax, sorted, for comparison.
func strs(rs []dns.RR) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.String())
	}
	slices.Sort(out)
	return out
}

// wantRRs fails t unless got holds exactly the records want, TTLs included.
func wantRRs(t *testing.T, what string, got []dns.RR, want []string) {
	t.Helper()
	w := strs(rrs(t, want...))
	if g := strs(got); !slices.Equal(g, w) {
		t.Errorf("%s:\n got %q\nwant %q", what, g, w)
	}
}

// mustInsert inserts an RRset and fails t if it was not stored.
func mustInsert(t testing.TB, c *Cache, rank Rank, ss ...string) {
	t.Helper()
	if !c.Insert(rrs(t, ss...), rank) {
		t.Fatalf("Insert(%q, %v) = false", ss, rank)
	}
}

// answer asks c for (name, qtype) in mode and returns the message built.
func answer(c *Cache, name string, qtype uint16, mode Mode) (*dns.Msg, Result) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r := new(dns.Msg)
	r.SetReply(m)
	res := c.Answer(r, m.Question[0], mode)
	return r, res
}
