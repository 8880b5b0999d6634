package server

import (
	"encoding/hex"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// testIdentity is the identity the CHAOS tests set.
var testIdentity = Identity{ID: "ns1.fra.example", Version: "meridian 1.2.3"}

// chaosQuery is a CHAOS-class question with EDNS.
func chaosQuery(name string, qtype uint16) *dns.Msg {
	return query{name: name, qtype: qtype, class: dns.ClassCHAOS, edns: 1232}.msg()
}

// withNSID adds an NSID request (an empty NSID option, RFC 5001 §2.1) and
// any other options to m's OPT record.
func withNSID(m *dns.Msg, more ...dns.EDNS0) *dns.Msg {
	o := m.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
	o.Option = append(o.Option, more...)
	return m
}

// findNSID returns the NSID a response carries, decoded, and whether it
// carries one.
func findNSID(t testing.TB, m *dns.Msg) (string, bool) {
	t.Helper()
	o := m.IsEdns0()
	if o == nil {
		return "", false
	}
	for _, e := range o.Option {
		if n, ok := e.(*dns.EDNS0_NSID); ok {
			b, err := hex.DecodeString(n.Nsid)
			if err != nil {
				t.Fatalf("NSID %q: %v", n.Nsid, err)
			}
			return string(b), true
		}
	}
	return "", false
}

// checkTXT checks that r answers NOERROR, not authoritatively, with one
// CHAOS TXT record of TTL 0 owned by owner and holding txt.
func checkTXT(t *testing.T, r *dns.Msg, owner string, txt ...string) {
	t.Helper()
	if r.Rcode != dns.RcodeSuccess || r.Authoritative || len(r.Answer) != 1 || len(r.Ns) != 0 {
		t.Fatalf("%s AA %v, %d answers, %d authority; want NOERROR, not AA, one answer:\n%v",
			dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer), len(r.Ns), r)
	}
	a, ok := r.Answer[0].(*dns.TXT)
	if !ok {
		t.Fatalf("answer %v, want TXT", r.Answer[0])
	}
	h := a.Hdr
	if h.Name != owner || h.Class != dns.ClassCHAOS || h.Ttl != 0 || !slices.Equal(a.Txt, txt) {
		t.Errorf("answer %v; want %s 0 CH TXT %q", a, owner, txt)
	}
}

// checkRefused checks that r is a bare REFUSED.
func checkRefused(t *testing.T, r *dns.Msg) {
	t.Helper()
	if r.Rcode != dns.RcodeRefused || r.Authoritative || len(r.Answer)+len(r.Ns) != 0 {
		t.Errorf("%s AA %v, %d answers, %d authority; want a bare REFUSED:\n%v",
			dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer), len(r.Ns), r)
	}
}

// TestChaos asks each CHAOS question of an authority with the test
// identity, with parts of it hidden, and with none (the default), as NSD
// answers them.
func TestChaos(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("0123456789", 60) // 600 bytes: three TXT strings
	tests := []struct {
		ident Identity
		name  string
		qtype uint16
		txt   []string // nil: REFUSED
	}{
		{testIdentity, "id.server.", dns.TypeTXT, []string{testIdentity.ID}},
		{testIdentity, "hostname.bind.", dns.TypeTXT, []string{testIdentity.ID}},
		{testIdentity, "version.server.", dns.TypeTXT, []string{testIdentity.Version}},
		{testIdentity, "version.bind.", dns.TypeTXT, []string{testIdentity.Version}},
		{testIdentity, "ID.Server.", dns.TypeTXT, []string{testIdentity.ID}}, // owner as asked
		{testIdentity, "VERSION.bind.", dns.TypeTXT, []string{testIdentity.Version}},
		{testIdentity, "id.server.", dns.TypeANY, []string{testIdentity.ID}},
		{testIdentity, "version.bind.", dns.TypeANY, []string{testIdentity.Version}},
		{testIdentity, "id.server.", dns.TypeA, nil},
		{testIdentity, "version.bind.", dns.TypeSOA, nil},
		{testIdentity, "id.server.", dns.TypeAXFR, nil},
		{testIdentity, "authors.bind.", dns.TypeTXT, nil},
		{testIdentity, "server.", dns.TypeTXT, nil},
		{testIdentity, "x.id.server.", dns.TypeTXT, nil},
		{testIdentity, "id.server.example.", dns.TypeTXT, nil},
		{testIdentity, "www.example.", dns.TypeTXT, nil}, // a zone's name, but in class IN only
		{Identity{ID: testIdentity.ID}, "id.server.", dns.TypeTXT, []string{testIdentity.ID}},
		{Identity{ID: testIdentity.ID}, "version.server.", dns.TypeTXT, nil},
		{Identity{ID: testIdentity.ID}, "version.bind.", dns.TypeANY, nil},
		{Identity{Version: "v"}, "version.bind.", dns.TypeTXT, []string{"v"}},
		{Identity{Version: "v"}, "id.server.", dns.TypeTXT, nil},
		{Identity{Version: "v"}, "hostname.bind.", dns.TypeTXT, nil},
		{Identity{}, "id.server.", dns.TypeTXT, nil},
		{Identity{}, "version.bind.", dns.TypeTXT, nil},
		{Identity{ID: long}, "id.server.", dns.TypeTXT, []string{long[:255], long[255:510], long[510:]}},
		{Identity{ID: long[:255]}, "id.server.", dns.TypeTXT, []string{long[:255]}},
		{Identity{ID: long[:256]}, "id.server.", dns.TypeTXT, []string{long[:255], long[255:256]}},
	}
	s, _ := newTestServer(t, Options{})
	h := s.Handler()
	for _, tt := range tests {
		h.setIdentity(tt.ident)
		for _, tcp := range []bool{false, true} {
			r, _ := serve(t, h, chaosQuery(tt.name, tt.qtype), tcp)
			if r.Question[0].Name != tt.name || r.Question[0].Qclass != dns.ClassCHAOS {
				t.Errorf("%s: question %v not echoed", tt.name, r.Question[0])
			}
			if tt.txt == nil {
				checkRefused(t, r)
			} else {
				checkTXT(t, r, tt.name, tt.txt...)
			}
			if r.IsEdns0() == nil {
				t.Errorf("%s %s: no OPT in the response to an EDNS query", tt.name, dns.Type(tt.qtype))
			}
		}
	}
	// The default tells nothing.
	s2, _ := newTestServer(t, Options{})
	for _, name := range []string{"id.server.", "hostname.bind.", "version.server.", "version.bind."} {
		r, _ := serve(t, s2.Handler(), chaosQuery(name, dns.TypeTXT), false)
		checkRefused(t, r)
	}
}

// TestNSID: a query asking for the NSID gets the server's ID in the
// response's OPT record, whatever the rcode, and only then (RFC 5001 §2.1).
func TestNSID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 600)
	tests := []struct {
		name  string
		ident Identity
		q     *dns.Msg
		rcode int
		nsid  string // "": none
	}{
		{"answer", testIdentity, withNSID(query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg()), dns.RcodeSuccess, testIdentity.ID},
		{"not asked", testIdentity, query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg(), dns.RcodeSuccess, ""},
		{"no ID", Identity{Version: "v"}, withNSID(query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg()), dns.RcodeSuccess, ""},
		{"NXDOMAIN", testIdentity, withNSID(query{name: "nope.example.", qtype: dns.TypeA, edns: 1232}.msg()), dns.RcodeNameError, testIdentity.ID},
		{"REFUSED", testIdentity, withNSID(query{name: "example.org.", qtype: dns.TypeA, edns: 1232}.msg()), dns.RcodeRefused, testIdentity.ID},
		{"SERVFAIL", testIdentity, withNSID(query{name: "broken.example.", qtype: dns.TypeA, edns: 1232}.msg()), dns.RcodeServerFailure, testIdentity.ID},
		{"CH refused", testIdentity, withNSID(chaosQuery("authors.bind.", dns.TypeTXT)), dns.RcodeRefused, testIdentity.ID},
		{"CH answer", testIdentity, withNSID(chaosQuery("version.bind.", dns.TypeTXT)), dns.RcodeSuccess, testIdentity.ID},
		{"with cookie", testIdentity, withNSID(query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg(),
			&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}), dns.RcodeSuccess, testIdentity.ID},
		{"long ID", Identity{ID: long}, withNSID(query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg()), dns.RcodeSuccess, long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestServer(t, Options{})
			s.SetIdentity(tt.ident)
			for _, tcp := range []bool{false, true} {
				r, _ := serve(t, s.Handler(), tt.q, tcp)
				if r.Rcode != tt.rcode {
					t.Errorf("tcp %v: %s, want %s", tcp, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
				}
				got, ok := findNSID(t, r)
				if ok != (tt.nsid != "") || got != tt.nsid {
					t.Errorf("tcp %v: NSID %q (%v), want %q", tcp, got, ok, tt.nsid)
				}
			}
		})
	}
}

// TestNSIDWithoutEDNS: a query without OPT cannot ask for the NSID, and a
// malformed one (FORMERR, answered without OPT) gets none either.
func TestNSIDWithoutEDNS(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	s.SetIdentity(testIdentity)
	r, _ := serve(t, s.Handler(), query{name: "www.example.", qtype: dns.TypeA}.msg(), false)
	if r.IsEdns0() != nil {
		t.Errorf("OPT in the response to a query without one: %v", r.IsEdns0())
	}
}

// TestNSIDWire sends NSID requests as the UDP reader receives them: a plain
// query with only NSID and COOKIE options takes the quick parser, one with
// a client-subnet option miekg's Unpack; both get the NSID.
func TestNSIDWire(t *testing.T) {
	t.Parallel()
	cookie := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}
	ecs := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(192, 0, 2, 0).To4()}
	tests := []struct {
		name  string
		q     *dns.Msg
		quick bool // the quick parser takes it
		nsid  bool
	}{
		{"nsid", withNSID(query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg()), true, true},
		{"nsid+cookie", withNSID(query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg(), cookie), true, true},
		{"cookie only", func() *dns.Msg {
			m := query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg()
			m.IsEdns0().Option = []dns.EDNS0{cookie}
			return m
		}(), true, false},
		{"nsid+subnet", withNSID(query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg(), ecs), false, true},
		{"CH nsid", withNSID(chaosQuery("id.server.", dns.TypeTXT)), true, true},
		{"CH nsid+subnet", withNSID(chaosQuery("id.server.", dns.TypeTXT), ecs), false, true},
	}
	s, _ := newTestServer(t, Options{})
	s.SetIdentity(testIdentity)
	h := s.Handler()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			var quick quickQuery
			if got := quick.parse(b); got != tt.quick {
				t.Fatalf("quick parse %v, want %v", got, tt.quick)
			}
			w := &fakeWriter{}
			h.serveWire(w, b, false, new(quickQuery))
			if len(w.writes) != 1 {
				t.Fatalf("%d writes", len(w.writes))
			}
			r := new(dns.Msg)
			if err := r.Unpack(w.writes[0]); err != nil {
				t.Fatal(err)
			}
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("%s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			got, ok := findNSID(t, r)
			if ok != tt.nsid || ok && got != testIdentity.ID {
				t.Errorf("NSID %q (%v), want it %v", got, ok, tt.nsid)
			}
			if opts := r.IsEdns0().Option; len(opts) > 1 {
				t.Errorf("options %v: the client's cookie or subnet echoed", opts)
			}
		})
	}
}

// TestSetIdentity swaps the identity of a server while it serves: the next
// query sees the new one, and an empty Identity hides it again.
func TestSetIdentity(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	h := s.Handler()
	ask := func() *dns.Msg {
		r, _ := serve(t, h, withNSID(chaosQuery("id.server.", dns.TypeTXT)), false)
		return r
	}
	checkRefused(t, ask())
	for _, id := range []string{"a.example", "b.example"} {
		s.SetIdentity(Identity{ID: id})
		r := ask()
		checkTXT(t, r, "id.server.", id)
		if got, _ := findNSID(t, r); got != id {
			t.Errorf("NSID %q, want %q", got, id)
		}
	}
	s.SetIdentity(Identity{})
	r := ask()
	checkRefused(t, r)
	if got, ok := findNSID(t, r); ok {
		t.Errorf("NSID %q after the identity was cleared", got)
	}
}

// TestChaosResolverACL: a resolver answers the CHAOS questions of the
// clients it serves only, and refuses the others as it refuses any query,
// with EDE 18 (Prohibited) and, if asked, the NSID.
func TestChaosResolverACL(t *testing.T) {
	t.Parallel()
	s, reg := newResolverServer(t, newFakeRecursor(false), Options{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	s.SetIdentity(testIdentity)
	for _, tcp := range []bool{false, true} {
		for _, client := range []string{"192.0.2.7", "198.51.100.7"} {
			ap := netip.AddrPortFrom(netip.MustParseAddr(client), 5353)
			var remote net.Addr = net.UDPAddrFromAddrPort(ap)
			if tcp {
				remote = net.TCPAddrFromAddrPort(ap)
			}
			r, _ := serveTo(t, s.Handler(), withNSID(chaosQuery("id.server.", dns.TypeTXT)), &fakeWriter{tcp: tcp, remote: remote})
			if got, _ := findNSID(t, r); got != testIdentity.ID {
				t.Errorf("%s: NSID %q", client, got)
			}
			if client == "192.0.2.7" {
				checkTXT(t, r, "id.server.", testIdentity.ID)
				if ede := findEDE(r); ede != nil {
					t.Errorf("%s: EDE %v on an answer", client, ede)
				}
				continue
			}
			checkRefused(t, r)
			if ede := findEDE(r); ede == nil || ede.InfoCode != dns.ExtendedErrorCodeProhibited {
				t.Errorf("%s: EDE %v, want Prohibited (18)", client, ede)
			}
		}
	}
	if n, _ := metricValue(t, reg, "meridian_server_acl_refused_queries_total", nil); n != 2 {
		t.Errorf("%v ACL refusals counted, want 2", n)
	}
}

// TestChaosNetwork asks a started server the CHAOS questions over UDP and
// TCP.
func TestChaosNetwork(t *testing.T) {
	t.Parallel()
	s, addr := startServer(t, Options{})
	s.SetIdentity(testIdentity)
	for _, network := range []string{"udp", "tcp"} {
		for _, name := range []string{"id.server.", "hostname.bind.", "version.server.", "version.bind."} {
			want := testIdentity.ID
			if strings.HasPrefix(name, "version.") {
				want = testIdentity.Version
			}
			r, _ := roundTrip(t, network, addr, withNSID(chaosQuery(name, dns.TypeTXT)))
			checkTXT(t, r, name, want)
			if got, _ := findNSID(t, r); got != testIdentity.ID {
				t.Errorf("%s %s: NSID %q", network, name, got)
			}
		}
		r, _ := roundTrip(t, network, addr, chaosQuery("authors.bind.", dns.TypeTXT))
		checkRefused(t, r)
	}
}

// TestIdentityAllocations: with an identity set, a plain IN query that does
// not ask for the NSID, as the UDP reader receives it, allocates no more
// than before (the packer's compression map, as in TestHandlerAllocations).
func TestIdentityAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s, _ := newTestServer(t, Options{})
	s.SetIdentity(testIdentity)
	h := s.Handler()
	b, err := query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg().Pack()
	if err != nil {
		t.Fatal(err)
	}
	w := &discardWriter{}
	quick := new(quickQuery)
	h.serveWire(w, b, false, quick) // warm the pools and the metric cache
	if n := testing.AllocsPerRun(1000, func() { h.serveWire(w, b, false, quick) }); n > 2 {
		t.Errorf("%v allocations per query", n)
	}
}

// TestNSIDTooLong: an NSID that does not fit the client's UDP size beside
// the question is left out of the UDP response, which stays within the
// limit; over TCP it is sent.
func TestNSIDTooLong(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Options{})
	h := s.Handler()
	for _, tt := range []struct {
		idLen int
		tcp   bool
		sent  bool
	}{
		{400, false, true},
		{480, false, false},
		{1024, false, false},
		{1024, true, true},
	} {
		s.SetIdentity(Identity{ID: strings.Repeat("n", tt.idLen)})
		q := withNSID(query{name: "www.example.", qtype: dns.TypeA, edns: 512}.msg())
		r, size := serve(t, h, q, tt.tcp)
		if !tt.tcp && size > 512 {
			t.Errorf("ID of %d bytes: a response of %d bytes to a 512-byte client", tt.idLen, size)
		}
		if r.Rcode != dns.RcodeSuccess {
			t.Errorf("ID of %d bytes: %s", tt.idLen, dns.RcodeToString[r.Rcode])
		}
		if got, ok := findNSID(t, r); ok != tt.sent || ok && len(got) != tt.idLen {
			t.Errorf("ID of %d bytes, tcp %v: NSID of %d bytes (%v), want it %v", tt.idLen, tt.tcp, len(got), ok, tt.sent)
		}
	}
}
