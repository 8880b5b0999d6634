package server

import (
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
)

// FuzzHandler feeds arbitrary wire bytes through the request path that the
// UDP readers use (header check, unpack, handler) and checks that nothing
// panics, that at most one response is written, and that what is
// written is a well-formed response of the right ID within the size limit.
func FuzzHandler(f *testing.F) {
	for _, q := range []query{
		{name: "www.example.", qtype: dns.TypeA},
		{name: "WwW.ExAmPlE.", qtype: dns.TypeAAAA, edns: 1232, do: true},
		{name: "big.example.", qtype: dns.TypeTXT},
		{name: "big.example.", qtype: dns.TypeTXT, edns: 600},
		{name: "mid.example.", qtype: dns.TypeANY, edns: 4096},
		{name: "mx.example.", qtype: dns.TypeMX, edns: 1232},
		{name: "x.bigdeleg.example.", qtype: dns.TypeA},
		{name: "a.b.c.deleg.example.", qtype: dns.TypeNS},
		{name: "alias.example.", qtype: dns.TypeA},
		{name: "nope.example.", qtype: dns.TypeA, edns: 512},
		{name: "www.broken.example.", qtype: dns.TypeA},
		{name: "example.org.", qtype: dns.TypeSOA},
		{name: "example.", qtype: dns.TypeAXFR},
		{name: "example.", qtype: dns.TypeA, class: dns.ClassCHAOS},
		{name: "example.", qtype: dns.TypeSOA, opcode: dns.OpcodeNotify},
		{name: "www.example.", qtype: dns.TypeA, edns: 1232, version: 1},
		{name: `a\000b.example.`, qtype: dns.TypeA},
	} {
		b, err := q.msg().Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte{}, false)
	f.Add(make([]byte, 12), false)
	f.Add([]byte{0xbe, 0xef, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 1, 0, 1, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0}, false)

	s, _ := newTestServer(f, Options{})
	h := s.Handler()
	f.Fuzz(func(t *testing.T, wire []byte, tcp bool) {
		w := &fakeWriter{tcp: tcp}
		var quick *quickQuery // the UDP reader's fast path, as in production
		if !tcp {
			quick = new(quickQuery)
		}
		h.serveWire(w, wire, tcp, quick)
		if len(w.writes) > 1 {
			t.Fatalf("%d writes", len(w.writes))
		}
		if len(w.writes) == 0 {
			if len(wire) >= headerSize && wire[2]&0x80 == 0 {
				t.Fatalf("no response to a query: % x", wire)
			}
			return
		}
		out := w.writes[0]
		r := new(dns.Msg)
		if err := r.Unpack(out); err != nil {
			t.Fatalf("response does not unpack: %v", err)
		}
		if !r.Response || r.Id != binary.BigEndian.Uint16(wire) {
			t.Fatalf("response header %+v", r.MsgHdr)
		}
		limit := dns.MaxMsgSize
		if !tcp {
			limit = DefaultUDPSize
			if req := new(dns.Msg); req.Unpack(wire) != nil || parseEDNS(req).state == ednsNone {
				limit = 512
			}
		}
		if len(out) > limit {
			t.Fatalf("%d bytes, limit %d", len(out), limit)
		}
	})
}
