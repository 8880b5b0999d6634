package server

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// quickSeeds are queries as clients send them: dig's (with a cookie), with
// and without EDNS, DO, odd names and types, and a few that must take the
// slow path.
func quickSeeds(t testing.TB) [][]byte {
	var out [][]byte
	add := func(name string, qtype uint16, edit func(*dns.Msg)) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if edit != nil {
			edit(m)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	edns := func(do bool, opts ...dns.EDNS0) func(*dns.Msg) {
		return func(m *dns.Msg) {
			m.SetEdns0(1232, do)
			m.IsEdns0().Option = opts
		}
	}
	add("www.example.com.", dns.TypeA, nil)
	add("WwW.Example.COM.", dns.TypeAAAA, edns(true))
	add(".", dns.TypeNS, edns(false))
	add("*.wild.example.", dns.TypeTXT, edns(false, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}))
	add("_sip._tcp.example.", dns.TypeSRV, edns(false, &dns.EDNS0_PADDING{Padding: make([]byte, 20)}))
	add("nsid.example.", dns.TypeA, edns(false, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}, &dns.EDNS0_NSID{Code: dns.EDNS0NSID}))
	add("a-b.example.", dns.TypeANY, func(m *dns.Msg) { m.RecursionDesired = false; m.CheckingDisabled = true })
	add("x.example.", dns.TypeDS, func(m *dns.Msg) { m.SetEdns0(4096, true); m.IsEdns0().SetVersion(1) })
	add("sub.example.", dns.TypeAXFR, nil)
	// Slow path: an escaped byte, a client subnet option, two questions.
	add("a\\.b.example.", dns.TypeA, nil)
	add("ecs.example.", dns.TypeA, edns(false, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{192, 0, 2, 0}}))
	add("two.example.", dns.TypeA, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) })
	return out
}

// sameAsUnpack checks the one promise of quickQuery: whatever it accepts,
// miekg's Unpack accepts too and reads the same way (EDNS options aside,
// which the handler does not use).
func sameAsUnpack(t *testing.T, b []byte) (quick bool) {
	var q quickQuery
	if !q.parse(b) {
		return false
	}
	var m dns.Msg
	if err := m.Unpack(b); err != nil {
		t.Fatalf("quick parse accepted what Unpack rejects (%v): %x", err, b)
	}
	got := q.msg
	if o := m.IsEdns0(); o != nil {
		// Options are not kept, but for the NSID request.
		asked := slices.ContainsFunc(o.Option, func(e dns.EDNS0) bool { return e.Option() == dns.EDNS0NSID })
		if g := got.IsEdns0(); asked != (g != nil && len(g.Option) == 1 && g.Option[0].Option() == dns.EDNS0NSID) {
			t.Fatalf("quick parse: NSID asked %v by %x, not so marked", asked, b)
		}
		o.Option = nil
		if g := got.IsEdns0(); g != nil {
			g.Option = nil
		}
	}
	if !reflect.DeepEqual(&got, &m) {
		t.Fatalf("quick parse differs from Unpack for %x:\n quick  %+v\n unpack %+v", b, &got, &m)
	}
	return true
}

func TestQuickParse(t *testing.T) {
	t.Parallel()
	fast := 0
	seeds := quickSeeds(t)
	for _, b := range seeds {
		if sameAsUnpack(t, b) {
			fast++
		}
	}
	if want := len(seeds) - 3; fast != want {
		t.Errorf("%d of %d seed queries took the fast path, want %d", fast, len(seeds), want)
	}
}

func FuzzQuickParse(f *testing.F) {
	for _, b := range quickSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { sameAsUnpack(t, b) })
}

// TestQuickParseNoAlloc: a plain query for a name seen before costs no
// allocation; the interned names stay bounded.
func TestQuickParseNoAlloc(t *testing.T) {
	b := quickSeeds(t)[3] // with a cookie
	var q quickQuery
	if n := testing.AllocsPerRun(100, func() { q.parse(b) }); n != 0 {
		t.Errorf("%v allocations per parse", n)
	}
	for i := range maxInterned + 100 {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("n%d.example.", i), dns.TypeA)
		w, _ := m.Pack()
		if !q.parse(w) || q.msg.Question[0].Name != fmt.Sprintf("n%d.example.", i) {
			t.Fatalf("name %d: %v", i, q.msg.Question)
		}
	}
	if len(q.names) != maxInterned {
		t.Errorf("%d names interned, want the bound %d", len(q.names), maxInterned)
	}
}
