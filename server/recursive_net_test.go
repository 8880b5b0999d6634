package server

// Resolver mode over real sockets: hand-off to goroutines, the limit on
// resolutions in flight, timeouts and shutdown.

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// udpClient sends queries on one socket and reads answers in the order
// they come, so a test can see which was answered first.
type udpClient struct {
	t    *testing.T
	conn net.Conn
}

func dialUDP(t *testing.T, addr string) *udpClient {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{t: t, conn: c}
}

func (c *udpClient) send(m *dns.Msg) {
	c.t.Helper()
	b, err := m.Pack()
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads the next answer, or returns nil after wait.
func (c *udpClient) recv(wait time.Duration) *dns.Msg {
	c.t.Helper()
	buf := make([]byte, dns.MaxMsgSize)
	c.conn.SetReadDeadline(time.Now().Add(wait))
	n, err := c.conn.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err != nil {
		c.t.Fatal(err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		c.t.Fatal(err)
	}
	return r
}

func (c *udpClient) mustRecv() *dns.Msg {
	c.t.Helper()
	r := c.recv(5 * time.Second)
	if r == nil {
		c.t.Fatal("no answer")
	}
	return r
}

// TestResolverSlowPath: over UDP, misses are resolved off the readers, so
// while more misses wait than there are readers, cache hits are still
// answered at once; the misses are answered from their goroutines when
// the resolutions end.
func TestResolverSlowPath(t *testing.T) {
	t.Parallel()
	f := newFakeRecursor(true)
	_, reg, addr := startResolverServer(t, f, Options{})
	c := dialUDP(t, addr)
	misses := 8 // more than the readers (GOMAXPROCS) of any test machine we run on
	ids := map[uint16]bool{}
	for i := range misses {
		m := rdQuery("www.example.")
		m.Id = uint16(1000 + i)
		ids[m.Id] = true
		c.send(m)
	}
	f.waitStarted(t, misses)
	if v, _ := metricValue(t, reg, "meridian_server_recursions_in_flight", nil); v != float64(misses) {
		t.Errorf("%v resolutions in flight, want %d", v, misses)
	}
	hit := rdQuery("cached.example.")
	hit.Id = 7
	c.send(hit)
	if r := c.mustRecv(); r.Id != 7 || len(r.Answer) != 1 {
		t.Fatalf("cache hit behind waiting misses: got %v", r)
	}
	close(f.release)
	for range misses {
		r := c.mustRecv()
		if !ids[r.Id] || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
			t.Errorf("miss answered %v", r)
		}
		delete(ids, r.Id)
	}
	waitMetric(t, reg, "meridian_server_recursions_in_flight", nil, 0)
	// Counted just after the write, so perhaps just after the client has
	// its answer.
	waitMetric(t, reg, "meridian_server_queries_total",
		map[string]string{"zone": "recursive", "qtype": "A", "rcode": "NOERROR", "transport": "udp"}, float64(misses+1))
}

// waitMetric polls a metric until it has the value want.
func waitMetric(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _ := metricValue(t, g, name, labels)
		if v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, v, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestResolverOverTCP: a miss over TCP is resolved in place, and the
// answer goes through the same truncation path.
func TestResolverOverTCP(t *testing.T) {
	t.Parallel()
	f := newFakeRecursor(false)
	_, _, addr := startResolverServer(t, f, Options{})
	r, _ := roundTrip(t, "tcp", addr, rdQuery("www.example."))
	if r.Rcode != dns.RcodeSuccess || !r.RecursionAvailable || len(r.Answer) != 1 {
		t.Errorf("TCP miss: %v", r)
	}
	r, _ = roundTrip(t, "udp", addr, rdQuery("stale.example."))
	if ede := findEDE(r); ede == nil || ede.InfoCode != dns.ExtendedErrorCodeStaleAnswer {
		t.Errorf("EDE over UDP: %v", r)
	}
}

// TestResolverLimit: with MaxRecursive resolutions waiting, a further UDP
// miss is dropped and a TCP miss gets SERVFAIL; cache hits are answered; a
// raised limit (a reload) lets one more start; once the resolutions end,
// misses are resolved again.
func TestResolverLimit(t *testing.T) {
	t.Parallel()
	f := newFakeRecursor(true)
	s, reg, addr := startResolverServer(t, f, Options{MaxRecursive: 2})
	c := dialUDP(t, addr)
	for i := range 2 {
		m := rdQuery("www.example.")
		m.Id = uint16(100 + i)
		c.send(m)
	}
	f.waitStarted(t, 2)
	over := rdQuery("over.example.")
	over.Id = 300
	c.send(over)
	waitMetric(t, reg, "meridian_server_recursions_rejected_total", map[string]string{"transport": "udp"}, 1)
	if r, _ := roundTrip(t, "tcp", addr, rdQuery("tcp.example.")); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("TCP miss over the limit: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if r, _ := roundTrip(t, "udp", addr, rdQuery("cached.example.")); r.Rcode != dns.RcodeSuccess {
		t.Errorf("cache hit at the limit: %s", dns.RcodeToString[r.Rcode])
	}
	// A reload raises the limit: one more resolution starts.
	s.SetMaxRecursive(3)
	more := rdQuery("more.example.")
	more.Id = 400
	c.send(more)
	f.waitStarted(t, 1)
	close(f.release)
	for range 3 {
		if r := c.mustRecv(); r.Id != 100 && r.Id != 101 && r.Id != 400 {
			t.Errorf("answer %d; the dropped query 300 was answered", r.Id)
		}
	}
	if r := c.recv(50 * time.Millisecond); r != nil {
		t.Errorf("unexpected answer %v", r)
	}
	if r, _ := roundTrip(t, "udp", addr, rdQuery("after.example.")); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("after the limit cleared: %v", r)
	}
	if got := len(f.resolveCalls()); got != 4 {
		t.Errorf("%d resolutions, want 4", got)
	}
}

// TestResolveTimeout: Resolve's context ends after Options.ResolveTimeout.
func TestResolveTimeout(t *testing.T) {
	t.Parallel()
	f := newFakeRecursor(true)
	_, _, addr := startResolverServer(t, f, Options{ResolveTimeout: 20 * time.Millisecond})
	r, _ := roundTrip(t, "udp", addr, rdQuery("slow.example."))
	if r.Rcode != dns.RcodeServerFailure || f.canceled.Load() != 1 {
		t.Errorf("%s after the timeout, %d canceled", dns.RcodeToString[r.Rcode], f.canceled.Load())
	}
}

// TestResolverShutdown: a shutdown waits for the resolutions in flight and
// sends their answers; one that runs out of time cancels them, and none is
// left running when Shutdown returns.
func TestResolverShutdown(t *testing.T) {
	t.Parallel()
	t.Run("graceful", func(t *testing.T) {
		t.Parallel()
		f := newFakeRecursor(true)
		s, _, addr := startResolverServer(t, f, Options{})
		if err := s.Health(); err != nil {
			t.Fatalf("Health while serving: %v", err)
		}
		c := dialUDP(t, addr)
		c.send(rdQuery("www.example."))
		f.waitStarted(t, 1)
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done <- s.Shutdown(ctx)
		}()
		for s.Health() == nil { // Shutdown has begun when Health fails
			time.Sleep(time.Millisecond)
		}
		close(f.release)
		if r := c.mustRecv(); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("answer during shutdown: %v", r)
		}
		if err := <-done; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	t.Run("out of time", func(t *testing.T) {
		t.Parallel()
		f := newFakeRecursor(true) // never released
		s, _, addr := startResolverServer(t, f, Options{})
		dialUDP(t, addr).send(rdQuery("www.example."))
		f.waitStarted(t, 1)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		writeTCP(t, c, rdQuery("tcp.example."))
		f.waitStarted(t, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want the deadline", err)
		}
		if n := f.returned.Load(); n != 2 || f.canceled.Load() != 2 {
			t.Errorf("%d resolutions returned (%d canceled) when Shutdown returned, want 2", n, f.canceled.Load())
		}
		if err := s.Health(); err == nil {
			t.Error("healthy after Shutdown")
		}
	})
}
