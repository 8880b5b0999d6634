package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/zone"
)

// readZone parses a zone file of testdata/zones/server with miekg's parser
// and indexes it with zone.New, so that these tests depend on the zone
// package's Lookup contract only.
func readZone(t testing.TB, origin, file string) *zone.Zone {
	t.Helper()
	path := filepath.Join("..", "testdata", "zones", "server", file)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, origin, path)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	return zone.New(origin, rrs)
}

// testZones is the set the tests serve: example. and its child zone
// sub.example., and broken.example., which failed to load.
func testZones(t testing.TB) *zone.Set {
	t.Helper()
	return zone.NewSet(
		readZone(t, "example.", "example.zone"),
		readZone(t, "sub.example.", "sub.example.zone"),
		zone.Failed("broken.example.", errors.New("broken.zone:3: no SOA")),
	)
}

// newTestServer returns a server with the test zones and a registry of its
// own, not started.
func newTestServer(t testing.TB, opts Options) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.SetZones(testZones(t))
	return s, reg
}

// startServer starts a server on loopback and stops it when the test ends.
// It returns the "host:port" that serves both UDP and TCP.
func startServer(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	if opts.Listen == nil {
		opts.Listen = []string{"127.0.0.1:0"}
	}
	s, _ := newTestServer(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, s.Addrs()[0].String()
}

// query builds a query without RD, as a resolver sends to an authority.
type query struct {
	name    string
	qtype   uint16
	class   uint16 // 0: IN
	opcode  int
	edns    int // EDNS UDP size; 0: no OPT
	version uint8
	do      bool
}

func (q query) msg() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.RecursionDesired = false
	m.Opcode = q.opcode
	if q.class != 0 {
		m.Question[0].Qclass = q.class
	}
	if q.edns > 0 {
		m.SetEdns0(uint16(q.edns), q.do)
		m.IsEdns0().SetVersion(q.version)
	}
	return m
}

// roundTrip sends m over network ("udp" or "tcp") and returns the response
// and its size on the wire. The client reads up to 64 KiB so that the
// server, not the client, decides what fits.
func roundTrip(t testing.TB, network, addr string, m *dns.Msg) (*dns.Msg, int) {
	t.Helper()
	c, err := dns.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.UDPSize = dns.MaxMsgSize
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	b, err := c.ReadMsgHeader(nil)
	if err != nil {
		t.Fatalf("%s %s: %v", network, m.Question[0].String(), err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if r.Id != m.Id {
		t.Fatalf("response ID %d for query ID %d", r.Id, m.Id)
	}
	return r, len(b)
}

// fakeWriter is a dns.ResponseWriter without a socket: it records what the
// handler writes.
type fakeWriter struct {
	tcp    bool
	remote net.Addr // the client; default clientUDP or clientTCP
	writes [][]byte
}

var (
	serverTCP = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	serverUDP = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	clientTCP = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5353}
	clientUDP = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5353}
)

func (w *fakeWriter) LocalAddr() net.Addr {
	if w.tcp {
		return serverTCP
	}
	return serverUDP
}

func (w *fakeWriter) RemoteAddr() net.Addr {
	if w.remote != nil {
		return w.remote
	}
	if w.tcp {
		return clientTCP
	}
	return clientUDP
}

func (w *fakeWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (w *fakeWriter) Write(b []byte) (int, error) {
	w.writes = append(w.writes, append([]byte(nil), b...))
	return len(b), nil
}

func (w *fakeWriter) Close() error        { return nil }
func (w *fakeWriter) TsigStatus() error   { return nil }
func (w *fakeWriter) TsigTimersOnly(bool) {}
func (w *fakeWriter) Hijack()             {}

// discardWriter is a fakeWriter that keeps nothing, for benchmarks.
type discardWriter struct{ fakeWriter }

func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// serve passes m to h as if it came over UDP or TCP and returns the one
// response written, its size, or nil when nothing was written.
func serve(t testing.TB, h *Handler, m *dns.Msg, tcp bool) (*dns.Msg, int) {
	t.Helper()
	return serveTo(t, h, m, &fakeWriter{tcp: tcp})
}

// serveTo is serve with the writer given, for a client address of the
// test's choosing.
func serveTo(t testing.TB, h *Handler, m *dns.Msg, w *fakeWriter) (*dns.Msg, int) {
	t.Helper()
	// Go through the wire, as the server does: the handler sees what miekg
	// unpacks, not the Msg the test built.
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	req := new(dns.Msg)
	if err := req.Unpack(b); err != nil {
		t.Fatal(err)
	}
	h.ServeDNS(w, req)
	switch len(w.writes) {
	case 0:
		return nil, 0
	case 1:
	default:
		t.Fatalf("%d writes for one query", len(w.writes))
	}
	r := new(dns.Msg)
	if err := r.Unpack(w.writes[0]); err != nil {
		t.Fatalf("unpack response: %v", err)
	}
	return r, len(w.writes[0])
}
