package infra

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRTTEstimates(t *testing.T) {
	t.Parallel()
	c := newTestCache(newClock(), 1)
	a := ap("192.0.2.1:53")

	c.RecordRTT(a, 100*time.Millisecond)
	info, _ := c.Server(a)
	// RFC 6298 §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4·RTTVAR.
	if info.SRTT != 100*time.Millisecond || info.RTTVar != 50*time.Millisecond || info.RTO != 300*time.Millisecond {
		t.Fatalf("after one sample: %+v", info)
	}
	c.RecordRTT(a, 20*time.Millisecond)
	info, _ = c.Server(a)
	// §2.3: RTTVAR = 3/4·50 + 1/4·|100-20| = 57.5; SRTT = 7/8·100 + 1/8·20 = 90.
	if info.SRTT != 90*time.Millisecond || info.RTTVar != 57500*time.Microsecond {
		t.Fatalf("after two samples: %+v", info)
	}
	for range 200 {
		c.RecordRTT(a, time.Millisecond)
	}
	if info, _ = c.Server(a); info.RTO != DefaultMinRTO {
		t.Fatalf("RTO of a 1 ms server = %v, want the floor %v", info.RTO, DefaultMinRTO)
	}
	// A server that always takes exactly 120 ms: RTTVAR tends to zero, and
	// the RTO must still leave room for a hiccup (RFC 6298's G).
	b := ap("192.0.2.2:53")
	for range 200 {
		c.RecordRTT(b, 120*time.Millisecond)
	}
	if info, _ = c.Server(b); info.RTTVar > time.Millisecond || info.RTO < 150*time.Millisecond {
		t.Fatalf("steady 120 ms server: %+v, want RTO at least SRTT + SRTT/4", info)
	}
}

func TestTimeoutBackoff(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := newTestCache(clk, 1)
	a, b := ap("192.0.2.1:53"), ap("192.0.2.2:53")
	c.RecordRTT(a, 5*time.Millisecond)
	c.RecordRTT(b, 80*time.Millisecond)

	// Each timeout doubles the RTO (RFC 6298 §5.5), up to MaxRTO.
	rto := DefaultMinRTO
	for i := range blockAfter {
		if ch := mustSelect(t, c, "example.", a, b); ch.Server != a || ch.Timeout != rto {
			t.Fatalf("before timeout %d: Select = %+v, want %v with timeout %v", i+1, ch, a, rto)
		}
		c.RecordTimeout(a)
		rto *= 2
	}
	info, _ := c.Server(a)
	if info.Timeouts != blockAfter || info.RTO != rto {
		t.Fatalf("after %d timeouts: %+v, want RTO %v", blockAfter, info, rto)
	}
	if want := clk.Now().Add(backoffBase); !info.BlockedUntil.Equal(want) {
		t.Fatalf("BlockedUntil = %v, want now+%v", info.BlockedUntil, backoffBase)
	}

	// Avoided during the backoff.
	for range 10 {
		if ch := mustSelect(t, c, "example.", a, b); ch.Server != b {
			t.Fatalf("during backoff: Select = %+v, want %v", ch, b)
		}
	}
	// Probed once when it ends; concurrent queries keep avoiding it.
	clk.Advance(backoffBase)
	if ch := mustSelect(t, c, "example.", a, b); ch.Server != a || !ch.Probe || ch.Timeout != rto {
		t.Fatalf("after backoff: Select = %+v, want a probe of %v with timeout %v", ch, a, rto)
	}
	if ch := mustSelect(t, c, "example.", a, b); ch.Server != b {
		t.Fatalf("while the probe is out: Select = %+v, want %v", ch, b)
	}
	// The probe times out: the backoff doubles.
	c.RecordTimeout(a)
	clk.Advance(backoffBase)
	if ch := mustSelect(t, c, "example.", a, b); ch.Server != b {
		t.Fatalf("1 s into a 2 s backoff: Select = %+v, want %v", ch, b)
	}
	clk.Advance(backoffBase)
	if ch := mustSelect(t, c, "example.", a, b); ch.Server != a || !ch.Probe {
		t.Fatalf("after the doubled backoff: Select = %+v, want a probe of %v", ch, a)
	}
	// The probe is answered: the server is back, ranked by what it
	// measured now rather than by its timeouts.
	c.RecordRTT(a, 5*time.Millisecond)
	info, _ = c.Server(a)
	if info.Timeouts != 0 || !info.BlockedUntil.IsZero() {
		t.Fatalf("after an answer: %+v, want no timeouts and no backoff", info)
	}
	if ch := mustSelect(t, c, "example.", a, b); ch.Server != a || ch.Probe {
		t.Fatalf("after recovery: Select = %+v, want %v", ch, a)
	}
}

func TestBackoffCapped(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := newTestCache(clk, 1)
	a := ap("192.0.2.1:53")
	for range 100 {
		c.RecordTimeout(a)
	}
	info, _ := c.Server(a)
	if got := info.BlockedUntil.Sub(clk.Now()); got != DefaultMaxBackoff {
		t.Fatalf("backoff after 100 timeouts = %v, want %v", got, DefaultMaxBackoff)
	}
	if info.RTO != DefaultMaxRTO {
		t.Fatalf("RTO after 100 timeouts = %v, want %v", info.RTO, DefaultMaxRTO)
	}
}

// When every server is being avoided, Select still answers, with the one
// whose backoff ends first, and says so.
func TestAllBlocked(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := newTestCache(clk, 1)
	a, b := ap("192.0.2.1:53"), ap("192.0.2.2:53")
	for range blockAfter + 2 { // a: a 4 s backoff
		c.RecordTimeout(a)
	}
	for range blockAfter { // b: 1 s
		c.RecordTimeout(b)
	}
	if ch := mustSelect(t, c, "example.", a, b); ch.Server != b || !ch.Blocked {
		t.Fatalf("all blocked: Select = %+v, want %v with Blocked", ch, b)
	}
}

func TestUnknownServerTimeout(t *testing.T) {
	t.Parallel()
	c := newTestCache(newClock(), 1)
	a := ap("[2001:db8::1]:53")
	if ch := mustSelect(t, c, "example.", a); ch.Timeout != DefaultInitialRTO {
		t.Fatalf("unknown server timeout = %v, want %v", ch.Timeout, DefaultInitialRTO)
	}
}

func TestBounded(t *testing.T) {
	t.Parallel()
	c := New(Config{Size: 32, Now: newClock().Now})
	for i := range 1000 {
		c.RecordRTT(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 53), time.Millisecond)
		c.MarkLame(ap("192.0.2.1:53"), fmt.Sprintf("z%d.", i))
	}
	if n := c.Len(); n > 32 {
		t.Fatalf("Len = %d, want <= 32", n)
	}
	if n := c.lame.Len(); n > 32 {
		t.Fatalf("lame entries = %d, want <= 32", n)
	}
}

func TestTopAndMetrics(t *testing.T) {
	t.Parallel()
	c := newTestCache(newClock(), 1)
	for i := range 10 {
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 53)
		for range i {
			c.RecordRTT(s, time.Duration(i)*time.Millisecond)
		}
	}
	top := c.Top(3)
	if len(top) != 3 || top[0].Queries != 9 || top[1].Queries != 8 || top[2].Queries != 7 {
		t.Fatalf("Top(3) = %+v", top)
	}

	reg := prometheus.NewRegistry()
	if err := c.Register(reg, 3); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, mf := range mfs {
		got[mf.GetName()] = len(mf.GetMetric())
	}
	want := map[string]int{
		"meridian_resolver_upstream_srtt_seconds": 3,
		"meridian_resolver_upstream_rto_seconds":  3,
		"meridian_resolver_upstream_servers":      1,
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s: %d series, want %d (all: %v)", name, got[name], n, got)
		}
	}
}

// Run with -race: selection and updates from many goroutines.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := newTestCache(clk, 1)
	servers := []netip.AddrPort{ap("192.0.2.1:53"), ap("192.0.2.2:53"), ap("[2001:db8::1]:53")}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				ch := mustSelect(t, c, "example.", servers...)
				switch (g + i) % 7 {
				case 0:
					c.RecordTimeout(ch.Server)
				case 1:
					c.MarkLame(ch.Server, "example.")
				case 2:
					c.Top(2)
				default:
					c.RecordRTT(ch.Server, time.Duration(i%50)*time.Millisecond)
				}
				clk.Advance(time.Millisecond)
			}
		})
	}
	wg.Wait()
}
