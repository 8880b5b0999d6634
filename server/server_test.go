package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestUDPAndTCP(t *testing.T) {
	t.Parallel()
	listen := []string{"127.0.0.1:0"}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		listen = append(listen, "[::1]:0")
	}
	s, _ := startServer(t, Options{Listen: listen})
	addrs := s.Addrs()
	if len(addrs) != 2*len(listen) {
		t.Fatalf("Addrs() = %v", addrs)
	}
	for i := 0; i < len(addrs); i += 2 {
		udp, tcp := addrs[i], addrs[i+1]
		if udp.Network() != "udp" || tcp.Network() != "tcp" || udp.String() != tcp.String() {
			t.Errorf("UDP %s/%s and TCP %s/%s differ", udp, udp.Network(), tcp, tcp.Network())
		}
		for _, network := range []string{"udp", "tcp"} {
			r, _ := roundTrip(t, network, udp.String(), query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg())
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
				t.Errorf("%s %s: %v", network, udp, r)
			}
		}
	}
}

// TestANYAndCaseOnTheWire: RFC 8482 minimal answers over UDP, the whole
// answer over TCP, and the question echoed with its case.
func TestANYAndCaseOnTheWire(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Options{})
	for network, want := range map[string]int{"udp": 10, "tcp": 40} {
		m := query{name: "MiD.eXaMpLe.", qtype: dns.TypeANY, edns: 1232}.msg()
		r, _ := roundTrip(t, network, addr, m)
		if len(r.Answer) != want || r.Question[0].Name != "MiD.eXaMpLe." {
			t.Errorf("%s: %d records for ANY (want %d), question %v", network, len(r.Answer), want, r.Question[0])
		}
	}
}

// TestEDNSSizes checks the size limits over real UDP: 512 without EDNS, the
// client's size when smaller than ours (never under 512), ours otherwise.
func TestEDNSSizes(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Options{})
	tests := []struct {
		name  string
		q     query
		limit int
		tc    bool
	}{
		{"plain DNS is 512", query{name: "medium.example.", qtype: dns.TypeTXT}, 512, true},
		{"client's 600", query{name: "medium.example.", qtype: dns.TypeTXT, edns: 600}, 600, true},
		{"client's 1232", query{name: "medium.example.", qtype: dns.TypeTXT, edns: 1232}, 1232, false},
		{"below 512 means 512", query{name: "medium.example.", qtype: dns.TypeTXT, edns: 100}, 512, true},
		{"ours caps 4096", query{name: "big.example.", qtype: dns.TypeTXT, edns: 4096}, DefaultUDPSize, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, n := roundTrip(t, "udp", addr, tt.q.msg())
			if n > tt.limit || r.Truncated != tt.tc {
				t.Errorf("%d bytes (limit %d), TC %v (want %v)", n, tt.limit, r.Truncated, tt.tc)
			}
			if tt.q.edns > 0 && (r.IsEdns0() == nil || r.IsEdns0().UDPSize() != DefaultUDPSize) {
				t.Errorf("OPT %v", r.IsEdns0())
			}
		})
	}
	t.Run("BADVERS", func(t *testing.T) {
		t.Parallel()
		r, _ := roundTrip(t, "udp", addr, query{name: "www.example.", qtype: dns.TypeA, edns: 1232, version: 1}.msg())
		if r.Rcode != dns.RcodeBadVers || r.IsEdns0() == nil || r.IsEdns0().Version() != 0 || len(r.Answer) != 0 {
			t.Errorf("got %v", r)
		}
	})
}

// TestTCRetry does what dig does: a truncated UDP answer, then the same
// question over TCP, which returns everything.
func TestTCRetry(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Options{})
	for _, edns := range []int{0, 1232} {
		q := query{name: "big.example.", qtype: dns.TypeTXT, edns: edns}
		r, _ := roundTrip(t, "udp", addr, q.msg())
		if !r.Truncated || len(r.Answer) != 0 {
			t.Fatalf("UDP: TC %v with %d answers, want TC and no partial RRset", r.Truncated, len(r.Answer))
		}
		r, n := roundTrip(t, "tcp", addr, q.msg())
		if r.Truncated || len(r.Answer) != 40 || n <= DefaultUDPSize {
			t.Errorf("TCP: TC %v, %d answers in %d bytes", r.Truncated, len(r.Answer), n)
		}
	}
}

// rawExchange writes b as one UDP datagram and returns the response, or nil
// when none comes before a short deadline.
func rawExchange(t *testing.T, addr string, b []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	// Waiting for silence needs a deadline; answers come in microseconds.
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		t.Fatal(err)
	}
	return buf[:n]
}

func TestRawMalformed(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Options{})
	valid, err := query{name: "www.example.", qtype: dns.TypeA}.msg().Pack()
	if err != nil {
		t.Fatal(err)
	}
	header := func(bits, qd, an, ns, ar uint16) []byte {
		b := make([]byte, 12)
		binary.BigEndian.PutUint16(b[0:], 0xbeef)
		binary.BigEndian.PutUint16(b[2:], bits)
		binary.BigEndian.PutUint16(b[4:], qd)
		binary.BigEndian.PutUint16(b[6:], an)
		binary.BigEndian.PutUint16(b[8:], ns)
		binary.BigEndian.PutUint16(b[10:], ar)
		return b
	}
	question := valid[12:]
	tests := []struct {
		name  string
		wire  []byte
		rcode int // -1: dropped
	}{
		{"truncated header", valid[:7], -1},
		{"empty", []byte{}, -1},
		{"QDCOUNT 0", header(0, 0, 0, 0, 0), dns.RcodeFormatError},
		{"QDCOUNT 2", append(append(header(0, 2, 0, 0, 0), question...), question...), dns.RcodeFormatError},
		{"QDCOUNT 1, no question", header(0, 1, 0, 0, 0), dns.RcodeFormatError},
		{"question cut short", valid[:len(valid)-3], dns.RcodeFormatError},
		{"garbage after the header", append(header(0, 1, 0, 0, 0), 0xff, 0xfe, 0x01, 0x02, 0x03, 0xc0, 0x0c, 0x00), dns.RcodeFormatError},
		{"compression loop", append(header(0, 1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1), dns.RcodeFormatError},
		{"ANCOUNT 1", append(header(0, 1, 1, 0, 0), question...), dns.RcodeFormatError},
		{"opcode 15", append(header(15<<11, 1, 0, 0, 0), question...), dns.RcodeNotImplemented},
		{"a response", append(header(1<<15, 1, 0, 0, 0), question...), -1},
		{"valid", valid, dns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := rawExchange(t, addr, tt.wire)
			if tt.rcode < 0 {
				if b != nil {
					t.Fatalf("answered a message to drop: % x", b)
				}
				return
			}
			if b == nil {
				t.Fatal("no response")
			}
			r := new(dns.Msg)
			if err := r.Unpack(b); err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tt.rcode || !r.Response {
				t.Errorf("got %v, want %s", r, dns.RcodeToString[tt.rcode])
			}
		})
	}
	// Whatever came before, the server still answers.
	r, _ := roundTrip(t, "udp", addr, query{name: "www.example.", qtype: dns.TypeA}.msg())
	if r.Rcode != dns.RcodeSuccess {
		t.Errorf("after the malformed messages: %v", r)
	}
}

// writeTCP writes m with its two-byte length prefix (RFC 1035 §4.2.2).
func writeTCP(t *testing.T, c net.Conn, m *dns.Msg) {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)); err != nil {
		t.Fatal(err)
	}
}

func readTCP(c net.Conn) (*dns.Msg, error) {
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, err
	}
	r := new(dns.Msg)
	return r, r.Unpack(b)
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// TestTCPPipelining sends ten queries back to back on one connection before
// reading anything; all ten are answered (RFC 7766 §6.2.1.1).
func TestTCPPipelining(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Options{})
	c := dialTCP(t, addr)
	names := []string{"www.example.", "alias.example.", "nope.example.", "big.example.", "mx.example."}
	want := map[uint16]string{}
	for i := range 10 {
		m := query{name: names[i%len(names)], qtype: dns.TypeTXT}.msg()
		m.Id = uint16(1000 + i)
		want[m.Id] = m.Question[0].Name
		writeTCP(t, c, m)
	}
	for range 10 {
		r, err := readTCP(c)
		if err != nil {
			t.Fatal(err)
		}
		name, ok := want[r.Id]
		if !ok || len(r.Question) != 1 || r.Question[0].Name != name {
			t.Fatalf("unexpected response %v", r)
		}
		delete(want, r.Id)
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Options{TCPIdleTimeout: 100 * time.Millisecond})
	for _, queries := range []int{0, 1} {
		c := dialTCP(t, addr)
		for range queries {
			writeTCP(t, c, query{name: "www.example.", qtype: dns.TypeA}.msg())
			if _, err := readTCP(c); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		if _, err := readTCP(c); !errors.Is(err, io.EOF) {
			t.Fatalf("after %d queries: read %v, want EOF", queries, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("closed after %v", d)
		}
	}
}

func TestTCPMaxQueries(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Options{TCPMaxQueries: 3})
	c := dialTCP(t, addr)
	for range 3 {
		writeTCP(t, c, query{name: "www.example.", qtype: dns.TypeA}.msg())
		if _, err := readTCP(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := readTCP(c); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last query: %v, want EOF", err)
	}
}

func TestTCPConnectionLimit(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Options{TCPMaxConns: 2})
	ask := func(c net.Conn) error {
		writeTCP(t, c, query{name: "www.example.", qtype: dns.TypeA}.msg())
		_, err := readTCP(c)
		return err
	}
	a, b := dialTCP(t, addr), dialTCP(t, addr)
	for _, c := range []net.Conn{a, b} {
		if err := ask(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := ask(dialTCP(t, addr)); err == nil {
		t.Fatal("a third connection was served")
	}
	// Once one closes, a new connection gets its slot; the server sees the
	// close asynchronously, so poll until a deadline.
	a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for ask(dialTCP(t, addr)) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the freed slot was never reused")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, listen := range [][]string{nil, {taken.LocalAddr().String()}, {"127.0.0.1:0", taken.LocalAddr().String()}} {
		s, _ := newTestServer(t, Options{Listen: listen})
		if err := s.Start(context.Background()); err == nil {
			t.Errorf("Start with %v succeeded", listen)
		}
		if len(s.Addrs()) != 0 {
			t.Errorf("a failed Start left %v", s.Addrs())
		}
	}
	if _, err := New(Options{Listen: []string{"no-port"}}); err == nil || !strings.Contains(err.Error(), "no-port") {
		t.Errorf("New with a bad address: %v", err)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{Listen: []string{"127.0.0.1:0"}})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0].String()
	c := dialTCP(t, addr) // an idle connection must not hold the shutdown
	writeTCP(t, c, query{name: "www.example.", qtype: dns.TypeA}.msg())
	if _, err := readTCP(c); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := readTCP(c); err == nil {
		t.Error("connection still open after Shutdown")
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting TCP after Shutdown")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := s.Start(ctx); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
}
