package server

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestHandlerResponses(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	h := s.Handler()
	tests := []struct {
		name     string
		q        query
		tcp      bool
		rcode    int
		aa       bool
		tc       bool
		answer   int  // records in the answer section
		ns       int  // records in the authority section; -1: not checked (zone's choice)
		question bool // the question is echoed
		opt      bool // the response has an OPT record
	}{
		{name: "answer", q: query{name: "www.example.", qtype: dns.TypeA}, rcode: dns.RcodeSuccess, aa: true, answer: 1, question: true},
		{name: "answer over TCP", q: query{name: "www.example.", qtype: dns.TypeAAAA}, tcp: true, rcode: dns.RcodeSuccess, aa: true, answer: 1, question: true},
		{name: "in-zone CNAME", q: query{name: "alias.example.", qtype: dns.TypeA}, rcode: dns.RcodeSuccess, aa: true, answer: 2, question: true},
		{name: "CNAME out of zone", q: query{name: "out.example.", qtype: dns.TypeA}, rcode: dns.RcodeSuccess, aa: true, answer: 1, question: true},
		{name: "NODATA", q: query{name: "www.example.", qtype: dns.TypeMX}, rcode: dns.RcodeSuccess, aa: true, ns: 1, question: true},
		{name: "NXDOMAIN", q: query{name: "nope.example.", qtype: dns.TypeA}, rcode: dns.RcodeNameError, aa: true, ns: 1, question: true},
		{name: "referral", q: query{name: "a.deleg.example.", qtype: dns.TypeA}, rcode: dns.RcodeSuccess, aa: false, ns: 1, question: true},
		{name: "deepest zone", q: query{name: "www.sub.example.", qtype: dns.TypeA}, rcode: dns.RcodeSuccess, aa: true, answer: 1, question: true},
		{name: "not ours", q: query{name: "www.example.org.", qtype: dns.TypeA}, rcode: dns.RcodeRefused, question: true},
		{name: "not ours with EDNS", q: query{name: "www.example.org.", qtype: dns.TypeA, edns: 1232}, rcode: dns.RcodeRefused, question: true, opt: true},
		{name: "failed zone", q: query{name: "www.broken.example.", qtype: dns.TypeA}, rcode: dns.RcodeServerFailure, question: true},
		{name: "class CH", q: query{name: "version.bind.", qtype: dns.TypeTXT, class: dns.ClassCHAOS}, rcode: dns.RcodeRefused, question: true},
		{name: "class NONE", q: query{name: "www.example.", qtype: dns.TypeA, class: dns.ClassNONE}, rcode: dns.RcodeRefused, question: true},
		{name: "class ANY is not authoritative", q: query{name: "www.example.", qtype: dns.TypeA, class: dns.ClassANY}, rcode: dns.RcodeSuccess, aa: false, answer: 1, question: true},
		{name: "AXFR", q: query{name: "example.", qtype: dns.TypeAXFR}, tcp: true, rcode: dns.RcodeRefused, question: true},
		{name: "IXFR", q: query{name: "example.", qtype: dns.TypeIXFR}, rcode: dns.RcodeRefused, question: true},
		{name: "opcode STATUS", q: query{name: "www.example.", qtype: dns.TypeA, opcode: dns.OpcodeStatus}, rcode: dns.RcodeNotImplemented},
		{name: "opcode NOTIFY", q: query{name: "example.", qtype: dns.TypeSOA, opcode: dns.OpcodeNotify}, rcode: dns.RcodeNotImplemented},
		{name: "opcode UPDATE", q: query{name: "example.", qtype: dns.TypeSOA, opcode: dns.OpcodeUpdate}, rcode: dns.RcodeNotImplemented},
		{name: "EDNS", q: query{name: "www.example.", qtype: dns.TypeA, edns: 4096}, rcode: dns.RcodeSuccess, aa: true, answer: 1, question: true, opt: true},
		{name: "BADVERS", q: query{name: "www.example.", qtype: dns.TypeA, edns: 1232, version: 1}, rcode: dns.RcodeBadVers, question: true, opt: true},
		{name: "BADVERS outside our zones", q: query{name: "www.example.org.", qtype: dns.TypeA, edns: 1232, version: 7}, rcode: dns.RcodeBadVers, question: true, opt: true},
		{name: "ANY over UDP: one RRset", q: query{name: "mid.example.", qtype: dns.TypeANY}, rcode: dns.RcodeSuccess, aa: true, answer: 10, question: true},
		{name: "ANY over TCP: everything", q: query{name: "mid.example.", qtype: dns.TypeANY}, tcp: true, rcode: dns.RcodeSuccess, aa: true, answer: 40, question: true},
		{name: "ANY at the apex over UDP", q: query{name: "example.", qtype: dns.TypeANY, edns: 1232}, rcode: dns.RcodeSuccess, aa: true, answer: 1, question: true, opt: true},
		{name: "truncated without EDNS", q: query{name: "medium.example.", qtype: dns.TypeTXT}, rcode: dns.RcodeSuccess, aa: true, tc: true, question: true},
		{name: "fits with EDNS", q: query{name: "medium.example.", qtype: dns.TypeTXT, edns: 1232}, rcode: dns.RcodeSuccess, aa: true, answer: 12, question: true, opt: true},
		{name: "client size honoured", q: query{name: "medium.example.", qtype: dns.TypeTXT, edns: 600}, rcode: dns.RcodeSuccess, aa: true, tc: true, question: true, opt: true},
		{name: "our size caps the client's", q: query{name: "big.example.", qtype: dns.TypeTXT, edns: 4096}, rcode: dns.RcodeSuccess, aa: true, tc: true, question: true, opt: true},
		{name: "TCP carries it all", q: query{name: "big.example.", qtype: dns.TypeTXT}, tcp: true, rcode: dns.RcodeSuccess, aa: true, answer: 40, question: true},
		{name: "referral glue must fit (RFC 9471)", q: query{name: "x.bigdeleg.example.", qtype: dns.TypeA}, rcode: dns.RcodeSuccess, tc: true, ns: 13, question: true},
		{name: "optional additional may not fit", q: query{name: "mx.example.", qtype: dns.TypeMX, edns: 1232}, rcode: dns.RcodeSuccess, aa: true, answer: 20, ns: -1, question: true, opt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := tt.q.msg()
			req.RecursionDesired = true
			r, size := serve(t, h, req, tt.tcp)
			if r == nil {
				t.Fatal("no response")
			}
			if r.Rcode != tt.rcode || r.Authoritative != tt.aa || r.Truncated != tt.tc {
				t.Errorf("rcode %s aa %v tc %v, want %s aa %v tc %v",
					dns.RcodeToString[r.Rcode], r.Authoritative, r.Truncated, dns.RcodeToString[tt.rcode], tt.aa, tt.tc)
			}
			if !r.Response || !r.RecursionDesired || r.RecursionAvailable || r.Opcode != tt.q.opcode || r.Id != req.Id {
				t.Errorf("header %+v", r.MsgHdr)
			}
			if len(r.Answer) != tt.answer || (tt.ns >= 0 && len(r.Ns) != tt.ns) {
				t.Errorf("%d answer and %d authority records, want %d and %d\n%v", len(r.Answer), len(r.Ns), tt.answer, tt.ns, r)
			}
			if got := len(r.Question) == 1; got != tt.question {
				t.Errorf("question echoed %v, want %v", got, tt.question)
			} else if got && r.Question[0] != req.Question[0] {
				t.Errorf("question %v, want %v", r.Question[0], req.Question[0])
			}
			opt := r.IsEdns0()
			if got := opt != nil; got != tt.opt {
				t.Fatalf("OPT present %v, want %v", got, tt.opt)
			}
			if opt != nil && (opt.UDPSize() != DefaultUDPSize || opt.Version() != 0) {
				t.Errorf("OPT %v, want size %d version 0", opt, DefaultUDPSize)
			}
			limit := dns.MaxMsgSize
			if !tt.tcp {
				limit = 512
				if tt.q.edns > 0 {
					limit = min(tt.q.edns, DefaultUDPSize)
				}
			}
			if size > limit {
				t.Errorf("response of %d bytes, limit %d", size, limit)
			}
		})
	}
}

// TestDOEchoed checks that the DO bit comes back (RFC 3225 §3) and the RRSIG
// question does not trip anything in an unsigned zone.
func TestDOEchoed(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	for _, do := range []bool{false, true} {
		r, _ := serve(t, s.Handler(), query{name: "www.example.", qtype: dns.TypeA, edns: 1232, do: do}.msg(), false)
		if r.IsEdns0() == nil || r.IsEdns0().Do() != do {
			t.Errorf("DO %v: response OPT %v", do, r.IsEdns0())
		}
	}
}

func TestCasePreserved(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	for _, name := range []string{"WwW.ExAmPlE.", "NOPE.EXAMPLE.", "www.EXAMPLE.org."} {
		req := query{name: name, qtype: dns.TypeA}.msg()
		r, _ := serve(t, s.Handler(), req, false)
		if len(r.Question) != 1 || r.Question[0].Name != name {
			t.Errorf("question %v, want %s", r.Question, name)
		}
	}
}

// TestMalformedRequests sends what miekg can unpack but is no valid query.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	h := s.Handler()
	opt := func() *dns.OPT {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		return o
	}
	tests := []struct {
		name  string
		build func(m *dns.Msg)
		rcode int // -1: no response
	}{
		{"no question", func(m *dns.Msg) { m.Question = nil }, dns.RcodeFormatError},
		{"two questions", func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }, dns.RcodeFormatError},
		{"answer records", func(m *dns.Msg) { m.Answer = []dns.RR{mustRR(t, "www.example. 60 A 192.0.2.1")} }, dns.RcodeFormatError},
		{"authority records", func(m *dns.Msg) { m.Ns = []dns.RR{mustRR(t, "example. 60 NS ns1.example.")} }, dns.RcodeFormatError},
		{"two OPTs", func(m *dns.Msg) { m.Extra = []dns.RR{opt(), opt()} }, dns.RcodeFormatError},
		{"OPT not at the root", func(m *dns.Msg) { o := opt(); o.Hdr.Name = "example."; m.Extra = []dns.RR{o} }, dns.RcodeFormatError},
		{"a response", func(m *dns.Msg) { m.Response = true }, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := query{name: "www.example.", qtype: dns.TypeA}.msg()
			tt.build(m)
			r, _ := serve(t, h, m, false)
			switch {
			case tt.rcode < 0 && r != nil:
				t.Fatalf("answered %v", r)
			case tt.rcode < 0:
			case r == nil:
				t.Fatal("no response")
			case r.Rcode != tt.rcode || len(r.Question) != 0 || len(r.Answer)+len(r.Ns)+len(r.Extra) != 0:
				t.Errorf("got %v, want a bare %s", r, dns.RcodeToString[tt.rcode])
			}
		})
	}
}

// TestTruncationKeepsWholeRRsets checks every truncated response against the
// full one over TCP: each RRset present is complete (RFC 2181 §9).
func TestTruncationKeepsWholeRRsets(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	h := s.Handler()
	names := []string{"big.example.", "medium.example.", "mid.example.", "mx.example.", "x.bigdeleg.example.", "www.example."}
	types := []uint16{dns.TypeTXT, dns.TypeA, dns.TypeMX, dns.TypeANY, dns.TypeAAAA}
	for _, name := range names {
		for _, qt := range types {
			for _, size := range []int{0, 512, 600, 900, 1232, 4096} {
				q := query{name: name, qtype: qt, edns: size}
				full, _ := serve(t, h, q.msg(), true)
				part, n := serve(t, h, q.msg(), false)
				if qt == dns.TypeANY {
					continue // minimal over UDP by design
				}
				checkSubset(t, q, part, full)
				if n > max(size, 512) || n > DefaultUDPSize {
					t.Errorf("%v: %d bytes", q, n)
				}
				if !part.Truncated && (len(part.Answer) != len(full.Answer) || len(part.Ns) != len(full.Ns)) {
					t.Errorf("%v: records left out of answer or authority without TC", q)
				}
			}
		}
	}
}

func checkSubset(t *testing.T, q query, part, full *dns.Msg) {
	t.Helper()
	count := func(m *dns.Msg) map[string]int {
		c := map[string]int{}
		for i, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range sec {
				if rr.Header().Rrtype != dns.TypeOPT {
					c[string(rune('0'+i))+" "+strings.ToLower(rr.Header().Name)+" "+dns.Type(covered(rr)).String()]++
				}
			}
		}
		return c
	}
	pc, fc := count(part), count(full)
	for k, n := range pc {
		if fc[k] != n {
			t.Errorf("%v: RRset %s has %d of %d records", q, k, n, fc[k])
		}
	}
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}
