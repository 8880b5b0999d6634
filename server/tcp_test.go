package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The resolver's own TCP loop (tcpServer). The authority's TCP, served by
// miekg's server, is tested in server_test.go.

// TestResolverTCPPipelined: queries pipelined on one connection are
// processed concurrently and answered as they are ready (RFC 7766
// §6.2.1.1): a cache hit behind two slow misses is answered first, and both
// misses are resolving at once.
func TestResolverTCPPipelined(t *testing.T) {
	t.Parallel()
	f := newFakeRecursor(true)
	_, _, addr := startResolverServer(t, f, Options{})
	c := dialTCP(t, addr)
	for i, name := range []string{"slow1.example.", "slow2.example.", "cached.example."} {
		m := rdQuery(name)
		m.Id = uint16(1 + i)
		writeTCP(t, c, m)
	}
	f.waitStarted(t, 2) // both misses, neither answered
	r, err := readTCP(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Id != 3 || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("first answer: %v; want the cache hit, id 3", r)
	}
	close(f.release)
	var ids []int
	for range 2 {
		r, err := readTCP(c)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Name != r.Question[0].Name {
			t.Errorf("answer to a miss: %v", r)
		}
		ids = append(ids, int(r.Id))
	}
	if slices.Sort(ids); !slices.Equal(ids, []int{1, 2}) {
		t.Errorf("answered ids %v, want 1 and 2", ids)
	}
}

// TestResolverTCPPipelineBound: one connection has at most maxPipelined
// resolutions in flight; the queries behind them wait in the socket until
// one ends, and all are answered in the end.
func TestResolverTCPPipelineBound(t *testing.T) {
	t.Parallel()
	f := newFakeRecursor(true)
	f.started = make(chan string, 2*maxPipelined)
	_, _, addr := startResolverServer(t, f, Options{})
	c := dialTCP(t, addr)
	const n = maxPipelined + 8
	for i := range n {
		m := rdQuery(fmt.Sprintf("q%d.example.", i))
		m.Id = uint16(i)
		writeTCP(t, c, m)
	}
	f.waitStarted(t, maxPipelined)
	// Another connection is not held up by this one.
	if r, _ := roundTrip(t, "tcp", addr, rdQuery("cached.example.")); r.Rcode != dns.RcodeSuccess {
		t.Errorf("cache hit on a second connection: %s", dns.RcodeToString[r.Rcode])
	}
	if k := len(f.started); k != 0 {
		t.Errorf("%d resolutions beyond the bound of %d started on one connection", k, maxPipelined)
	}
	close(f.release)
	seen := map[uint16]bool{}
	for range n {
		r, err := readTCP(c)
		if err != nil {
			t.Fatal(err)
		}
		seen[r.Id] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct answers, want %d", len(seen), n)
	}
}

// TestResolverTCPLimits: the idle timeout closes a connection that sends
// nothing, or nothing more; the query limit closes it once the last
// query's answer, resolved off the reader, is written.
func TestResolverTCPLimits(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		_, _, addr := startResolverServer(t, newFakeRecursor(false), Options{TCPIdleTimeout: 100 * time.Millisecond})
		for _, queries := range []int{0, 1} {
			c := dialTCP(t, addr)
			for range queries {
				writeTCP(t, c, rdQuery("cached.example."))
				if _, err := readTCP(c); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := readTCP(c); !errors.Is(err, io.EOF) {
				t.Fatalf("after %d queries: read %v, want EOF", queries, err)
			}
		}
	})
	t.Run("queries", func(t *testing.T) {
		t.Parallel()
		f := newFakeRecursor(true)
		_, _, addr := startResolverServer(t, f, Options{TCPMaxQueries: 3})
		c := dialTCP(t, addr)
		for i, name := range []string{"a.example.", "b.example.", "c.example.", "d.example."} {
			m := rdQuery(name)
			m.Id = uint16(i)
			writeTCP(t, c, m)
		}
		f.waitStarted(t, 3)
		close(f.release)
		for range 3 {
			if r, err := readTCP(c); err != nil || r.Id > 2 {
				t.Fatalf("answer %v, %v; want one of the first three", r, err)
			}
		}
		if _, err := readTCP(c); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last query: %v, want EOF", err)
		}
	})
	t.Run("connections", func(t *testing.T) {
		t.Parallel()
		_, reg, addr := startResolverServer(t, newFakeRecursor(false), Options{TCPMaxConns: 1})
		c := dialTCP(t, addr)
		writeTCP(t, c, rdQuery("cached.example."))
		if _, err := readTCP(c); err != nil {
			t.Fatal(err)
		}
		over := dialTCP(t, addr)
		if _, err := readTCP(over); err == nil {
			t.Error("a second connection over the limit of one was answered")
		}
		waitMetric(t, reg, "meridian_server_tcp_rejected_connections_total", nil, 1)
		c.Close()
		waitMetric(t, reg, "meridian_server_tcp_connections", nil, 0)
		if r, _ := roundTrip(t, "tcp", addr, rdQuery("cached.example.")); r.Rcode != dns.RcodeSuccess {
			t.Errorf("after the first closed: %s", dns.RcodeToString[r.Rcode])
		}
	})
}

// TestResolverTCPMalformed: what cannot be a query gets a bare FORMERR or
// nothing, and the connection goes on.
func TestResolverTCPMalformed(t *testing.T) {
	t.Parallel()
	_, _, addr := startResolverServer(t, newFakeRecursor(false), Options{})
	c := dialTCP(t, addr)
	frame := func(b []byte) {
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)); err != nil {
			t.Fatal(err)
		}
	}
	frame([]byte{0x12})                                           // shorter than a header: dropped
	frame([]byte{0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}) // a question promised, none there
	r, err := readTCP(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Id != 0xabcd || r.Rcode != dns.RcodeFormatError {
		t.Errorf("truncated question: id %#x rcode %s, want FORMERR", r.Id, dns.RcodeToString[r.Rcode])
	}
	writeTCP(t, c, rdQuery("cached.example."))
	if r, err := readTCP(c); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("after malformed queries: %v, %v", r, err)
	}
}

// TestResolverTCPShutdown: a graceful shutdown reads no further query but
// writes the answers of the resolutions in flight, then closes.
func TestResolverTCPShutdown(t *testing.T) {
	t.Parallel()
	f := newFakeRecursor(true)
	s, _, addr := startResolverServer(t, f, Options{})
	c := dialTCP(t, addr)
	writeTCP(t, c, rdQuery("www.example."))
	f.waitStarted(t, 1)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	for s.Health() == nil {
		time.Sleep(time.Millisecond)
	}
	close(f.release)
	if r, err := readTCP(c); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("answer during shutdown: %v, %v", r, err)
	}
	if _, err := readTCP(c); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		t.Errorf("after shutdown: %v, want EOF", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
