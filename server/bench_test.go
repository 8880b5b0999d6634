package server

import (
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkHandler is one query through the whole handler path without a
// socket: checks, zone lookup, response assembly, packing and metrics.
func BenchmarkHandler(b *testing.B) {
	s, _ := newTestServer(b, Options{})
	h := s.Handler()
	for _, bc := range []struct {
		name string
		q    query
	}{
		{"A", query{name: "www.example.", qtype: dns.TypeA, edns: 1232}},
		{"NXDOMAIN", query{name: "nope.example.", qtype: dns.TypeA, edns: 1232}},
		{"referral", query{name: "a.deleg.example.", qtype: dns.TypeA, edns: 1232}},
		{"MX-additional-overflow", query{name: "mx.example.", qtype: dns.TypeMX, edns: 1232}},
		{"TC", query{name: "big.example.", qtype: dns.TypeTXT}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := bc.q.msg()
			w := &discardWriter{}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeDNS(w, req)
			}
		})
	}
}

// BenchmarkResolverCacheHit is a resolver's fast path through the handler:
// checks, the allow list, a cache hit (a fixed record here) and packing.
func BenchmarkResolverCacheHit(b *testing.B) {
	reg := prometheus.NewRegistry()
	s, err := New(Options{Resolver: newCheapRecursor(), Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	req := query{name: "cached.example.", qtype: dns.TypeA, edns: 1232}.msg()
	req.RecursionDesired = true
	w := &discardWriter{}
	w.remote = clientUDP
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(w, req)
	}
}

// BenchmarkUDP is one query over UDP on loopback, through miekg's server:
// the figure includes the client's and the kernel's work.
func BenchmarkUDP(b *testing.B) {
	_, addr := startServer(b, Options{})
	c, err := dns.Dial("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg()
	wire, err := req.Pack()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 2048)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(wire); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTCP is one query over a kept-open TCP connection on loopback.
func BenchmarkTCP(b *testing.B) {
	_, addr := startServer(b, Options{TCPMaxQueries: -1})
	c, err := dns.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WriteMsg(req); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ReadMsgHeader(nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeWire is a query from the bytes the UDP reader receives to
// the bytes it writes: parsing (the reader's quick path, or miekg's Unpack),
// lookup, packing and metrics.
func BenchmarkServeWire(b *testing.B) {
	s, _ := newTestServer(b, Options{})
	h := s.Handler()
	req := query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg()
	wire, err := req.Pack()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		quick *quickQuery
	}{{"quick", new(quickQuery)}, {"unpack", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			w := &discardWriter{}
			b.ReportAllocs()
			for b.Loop() {
				h.serveWire(w, wire, false, bc.quick)
			}
		})
	}
}
