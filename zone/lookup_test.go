package zone

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// readZone indexes a zone file from testdata/zones/lookup without the
// validator, so lookup tests do not depend on what the checks reject.
func readZone(t testing.TB, origin, file string) *Zone {
	t.Helper()
	path := filepath.Join("..", "testdata", "zones", "lookup", file)
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
	return New(origin, rrs)
}

// lookupCase is one query and the answer expected, RRs in zone file syntax.
type lookupCase struct {
	qname  string
	qtype  uint16
	do     bool
	kind   Kind
	answer []string
	ns     []string
	extra  []string
}

func runLookupCases(t *testing.T, z *Zone, cases []lookupCase) {
	t.Helper()
	set := NewSet(z)
	for _, tc := range cases {
		t.Run(tc.qname+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			t.Parallel()
			var res Result
			set.Lookup(tc.qname, tc.qtype, tc.do, &res)
			if res.Kind != tc.kind {
				t.Errorf("kind = %v, want %v", res.Kind, tc.kind)
			}
			sameRRs(t, "answer", res.Answer, tc.answer)
			sameRRs(t, "authority", res.Ns, tc.ns)
			sameRRs(t, "additional", res.Extra, tc.extra)
		})
	}
}

// sameRRs compares a section with the expected records, ignoring order.
func sameRRs(t *testing.T, section string, got []dns.RR, want []string) {
	t.Helper()
	g := make([]string, len(got))
	for i, rr := range got {
		g[i] = strings.ToLower(rr.String())
	}
	w := make([]string, len(want))
	for i, s := range want {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("bad expected RR %q: %v", s, err)
		}
		w[i] = strings.ToLower(rr.String())
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s:\n got  %s\n want %s", section, strings.Join(g, "\n      "), strings.Join(w, "\n      "))
	}
}

// TestRFC4592Table is the table of RFC 4592 §2.2.1, row by row.
func TestRFC4592Table(t *testing.T) {
	t.Parallel()
	z := readZone(t, "example.", "rfc4592.zone")
	soa := "example. 300 IN SOA ns.example.com. hostmaster.example. 1 7200 3600 1209600 300"
	runLookupCases(t, z, []lookupCase{
		// "host3.example. MX: the answer will be a 'synthesized' MX."
		{qname: "host3.example.", qtype: dns.TypeMX, kind: Success,
			answer: []string{"host3.example. 3600 IN MX 10 host1.example."},
			extra:  []string{"host1.example. 3600 IN A 192.0.2.1"}},
		// "host3.example. A: no error, no data (the wildcard exists, but has no A)."
		{qname: "host3.example.", qtype: dns.TypeA, kind: NoData, ns: []string{soa}},
		// "foo.bar.example. TXT: the answer will be a synthesized TXT."
		{qname: "foo.bar.example.", qtype: dns.TypeTXT, kind: Success,
			answer: []string{`foo.bar.example. 3600 IN TXT "this is a wildcard"`}},
		// "host1.example. MX: no data, host1.example exists."
		{qname: "host1.example.", qtype: dns.TypeMX, kind: NoData, ns: []string{soa}},
		// "sub.*.example. MX: no data, sub.*.example exists."
		{qname: "sub.*.example.", qtype: dns.TypeMX, kind: NoData, ns: []string{soa}},
		// "_telnet._tcp.host1.example. SRV: name error, _tcp.host1.example
		// exists (an empty non-terminal) and has no wildcard child."
		{qname: "_telnet._tcp.host1.example.", qtype: dns.TypeSRV, kind: NXDomain, ns: []string{soa}},
		// "host.subdel.example. A: a referral, the wildcard does not apply
		// below the cut."
		{qname: "host.subdel.example.", qtype: dns.TypeA, kind: Referral,
			ns: []string{"subdel.example. 3600 IN NS ns.example.com.", "subdel.example. 3600 IN NS ns.example.net."}},
		// "ghost.*.example. MX: name error, the closest encloser is *.example
		// and *.*.example does not exist."
		{qname: "ghost.*.example.", qtype: dns.TypeMX, kind: NXDomain, ns: []string{soa}},
		// The empty non-terminals of the example: NODATA, not NXDOMAIN, and
		// the wildcard does not match them (RFC 4592 §2.2.2).
		{qname: "_tcp.host1.example.", qtype: dns.TypeA, kind: NoData, ns: []string{soa}},
		{qname: "host2.example.", qtype: dns.TypeMX, kind: NoData, ns: []string{soa}},
		// The wildcard itself can be asked for.
		{qname: "*.example.", qtype: dns.TypeTXT, kind: Success,
			answer: []string{`*.example. 3600 IN TXT "this is a wildcard"`}},
		// Case of the query name is kept in synthesised owners.
		{qname: "HoSt3.example.", qtype: dns.TypeTXT, kind: Success,
			answer: []string{`HoSt3.example. 3600 IN TXT "this is a wildcard"`}},
	})
}

func TestLookupSemantics(t *testing.T) {
	t.Parallel()
	z := readZone(t, "example.org.", "semantics.zone")
	// RFC 2308 §3: negative TTL is min(SOA TTL 7200, MINIMUM 600).
	soa := "example.org. 600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 600"
	www := []string{"www.example.org. 3600 IN A 192.0.2.80"}
	childNS := []string{"child.example.org. 3600 IN NS ns.child.example.org.", "child.example.org. 3600 IN NS ns.elsewhere.net."}
	glue := []string{"ns.child.example.org. 3600 IN A 192.0.2.100"}
	runLookupCases(t, z, []lookupCase{
		{qname: "www.example.org.", qtype: dns.TypeA, kind: Success, answer: www},
		{qname: "WWW.Example.ORG.", qtype: dns.TypeA, kind: Success, answer: www},
		{qname: "www.example.org.", qtype: dns.TypeMX, kind: NoData, ns: []string{soa}},
		{qname: "nope.example.org.", qtype: dns.TypeA, kind: NXDomain, ns: []string{soa}},
		// empty non-terminals
		{qname: "a.b.example.org.", qtype: dns.TypeA, kind: NoData, ns: []string{soa}},
		{qname: "b.example.org.", qtype: dns.TypeA, kind: NoData, ns: []string{soa}},
		{qname: "x.a.b.example.org.", qtype: dns.TypeA, kind: NXDomain, ns: []string{soa}},
		// apex data with additional addresses for in-zone targets only
		{qname: "example.org.", qtype: dns.TypeNS, kind: Success,
			answer: []string{"example.org. 3600 IN NS ns1.example.org.", "example.org. 3600 IN NS ns2.example.net."},
			extra:  []string{"ns1.example.org. 3600 IN A 192.0.2.53", "ns1.example.org. 3600 IN AAAA 2001:db8::53"}},
		{qname: "example.org.", qtype: dns.TypeMX, kind: Success,
			answer: []string{"example.org. 3600 IN MX 10 mail.example.org.", "example.org. 3600 IN MX 20 mail.example.net."},
			extra:  []string{"mail.example.org. 3600 IN A 192.0.2.25"}},
		{qname: "_sip._udp.example.org.", qtype: dns.TypeSRV, kind: Success,
			answer: []string{"_sip._udp.example.org. 3600 IN SRV 10 5 5060 www.example.org."},
			extra:  []string{"www.example.org. 3600 IN A 192.0.2.80", "www.example.org. 3600 IN AAAA 2001:db8::80"}},
		// CNAME chains
		{qname: "alias2.example.org.", qtype: dns.TypeA, kind: Success, answer: append([]string{
			"alias2.example.org. 3600 IN CNAME alias.example.org.",
			"alias.example.org. 3600 IN CNAME www.example.org."}, www...)},
		{qname: "alias.example.org.", qtype: dns.TypeCNAME, kind: Success,
			answer: []string{"alias.example.org. 3600 IN CNAME www.example.org."}},
		{qname: "alias.example.org.", qtype: dns.TypeMX, kind: NoData,
			answer: []string{"alias.example.org. 3600 IN CNAME www.example.org."}, ns: []string{soa}},
		{qname: "out.example.org.", qtype: dns.TypeA, kind: CNAMEOut,
			answer: []string{"out.example.org. 3600 IN CNAME www.example.net."}},
		// RFC 6604: the rcode is that of the last name in the chain.
		{qname: "dangling.example.org.", qtype: dns.TypeA, kind: NXDomain,
			answer: []string{"dangling.example.org. 3600 IN CNAME nothing.example.org."}, ns: []string{soa}},
		{qname: "todeleg.example.org.", qtype: dns.TypeA, kind: Referral,
			answer: []string{"todeleg.example.org. 3600 IN CNAME host.child.example.org."}, ns: childNS, extra: glue},
		{qname: "loop1.example.org.", qtype: dns.TypeA, kind: Success, answer: []string{
			"loop1.example.org. 3600 IN CNAME loop2.example.org.",
			"loop2.example.org. 3600 IN CNAME loop1.example.org."}},
		{qname: "self.example.org.", qtype: dns.TypeA, kind: Success,
			answer: []string{"self.example.org. 3600 IN CNAME self.example.org."}},
		// referrals: with glue, without, at and below the cut; NS at a cut is a referral too
		{qname: "child.example.org.", qtype: dns.TypeA, kind: Referral, ns: childNS, extra: glue},
		{qname: "child.example.org.", qtype: dns.TypeNS, kind: Referral, ns: childNS, extra: glue},
		{qname: "deep.host.child.example.org.", qtype: dns.TypeA, kind: Referral, ns: childNS, extra: glue},
		{qname: "ns.child.example.org.", qtype: dns.TypeA, kind: Referral, ns: childNS, extra: glue},
		{qname: "nogl.example.org.", qtype: dns.TypeA, kind: Referral,
			ns: []string{"nogl.example.org. 3600 IN NS ns.nogl.example.net."}},
		// DS is answered from the parent side of the cut, authoritatively
		{qname: "child.example.org.", qtype: dns.TypeDS, kind: Success, answer: []string{
			"child.example.org. 3600 IN DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE9A2AA1D1E3D3F5F2F3F4F5F6"}},
		{qname: "nogl.example.org.", qtype: dns.TypeDS, kind: NoData, ns: []string{soa}},
		// DS below a cut is the child's business: referral
		{qname: "x.child.example.org.", qtype: dns.TypeDS, kind: Referral, ns: childNS, extra: glue},
		// DNAME (RFC 6672): the owner answers normally; names below are
		// rewritten, data below the DNAME is occluded.
		{qname: "dn.example.org.", qtype: dns.TypeTXT, kind: Success,
			answer: []string{`dn.example.org. 3600 IN TXT "the owner of a DNAME answers normally"`}},
		{qname: "a.dn.example.org.", qtype: dns.TypeA, kind: CNAMEOut, answer: []string{
			"dn.example.org. 3600 IN DNAME example.net.",
			"a.dn.example.org. 3600 IN CNAME a.example.net."}},
		{qname: "sub.dn.example.org.", qtype: dns.TypeA, kind: CNAMEOut, answer: []string{
			"dn.example.org. 3600 IN DNAME example.net.",
			"sub.dn.example.org. 3600 IN CNAME sub.example.net."}},
		{qname: "www.dnin.example.org.", qtype: dns.TypeA, kind: Success, answer: append([]string{
			"dnin.example.org. 3600 IN DNAME example.org.",
			"www.dnin.example.org. 3600 IN CNAME www.example.org."}, www...)},
		// ANY: every RRset at the name (the server trims for UDP)
		{qname: "www.example.org.", qtype: dns.TypeANY, kind: Success,
			answer: []string{"www.example.org. 3600 IN A 192.0.2.80", "www.example.org. 3600 IN AAAA 2001:db8::80"}},
		{qname: "b.example.org.", qtype: dns.TypeANY, kind: NoData, ns: []string{soa}},
		// outside the zone
		{qname: "example.com.", qtype: dns.TypeA, kind: NotAuth},
		{qname: "xexample.org.", qtype: dns.TypeA, kind: NotAuth},
	})
}

func TestDNAMETooLong(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + ".example.org."
	rrs := []dns.RR{
		mustRR(t, "example.org. 3600 IN SOA ns1.example.org. h.example.org. 1 2 3 4 5"),
		mustRR(t, "example.org. 3600 IN NS ns1.example.org."),
		mustRR(t, "d.example.org. 3600 IN DNAME "+long),
	}
	z := New("example.org.", rrs)
	var res Result
	qname := strings.Repeat("x", 60) + "." + strings.Repeat("y", 60) + ".d.example.org."
	z.Lookup(qname, dns.TypeA, false, &res)
	if res.Kind != YXDomain {
		t.Fatalf("kind = %v, want yxdomain", res.Kind)
	}
}

func TestSetDeepestZoneAndDS(t *testing.T) {
	t.Parallel()
	parent := New("example.", []dns.RR{
		mustRR(t, "example. 3600 IN SOA ns.example. h.example. 1 2 3 4 5"),
		mustRR(t, "example. 3600 IN NS ns.example."),
		mustRR(t, "ns.example. 3600 IN A 192.0.2.1"),
		mustRR(t, "child.example. 3600 IN NS ns.example."),
		mustRR(t, "child.example. 3600 IN DS 1 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE9A2AA1D1E3D3F5F2F3F4F5F6"),
	})
	child := New("child.example.", []dns.RR{
		mustRR(t, "child.example. 3600 IN SOA ns.example. h.example. 7 2 3 4 5"),
		mustRR(t, "child.example. 3600 IN NS ns.example."),
		mustRR(t, "www.child.example. 3600 IN A 192.0.2.2"),
	})
	set := NewSet(parent, child)
	cases := []struct {
		qname string
		qtype uint16
		zone  string
		kind  Kind
	}{
		{"www.child.example.", dns.TypeA, "child.example.", Success},
		{"child.example.", dns.TypeSOA, "child.example.", Success},
		{"child.example.", dns.TypeDS, "example.", Success},
		{"CHILD.example.", dns.TypeDS, "example.", Success},
		{"x.child.example.", dns.TypeDS, "child.example.", NXDomain},
		{"other.example.", dns.TypeA, "example.", NXDomain},
		{"example.com.", dns.TypeA, "", NotAuth},
		{".", dns.TypeNS, "", NotAuth},
	}
	for _, tc := range cases {
		var res Result
		set.Lookup(tc.qname, tc.qtype, false, &res)
		got := ""
		if res.Zone != nil {
			got = res.Zone.Origin()
		}
		if got != tc.zone || res.Kind != tc.kind {
			t.Errorf("%s %s: zone %q kind %v, want %q %v", tc.qname, dns.TypeToString[tc.qtype], got, res.Kind, tc.zone, tc.kind)
		}
	}
	// Only the child served: DS at its apex is answered from the child (NODATA).
	var res Result
	NewSet(child).Lookup("child.example.", dns.TypeDS, false, &res)
	if res.Kind != NoData || res.Zone != child {
		t.Errorf("DS with only the child served: kind %v", res.Kind)
	}
	// A failed zone answers ServFail.
	NewSet(Failed("broken.", errNoSOA)).Lookup("www.broken.", dns.TypeA, false, &res)
	if res.Kind != ServFail {
		t.Errorf("failed zone: kind %v", res.Kind)
	}
}

func TestRootZone(t *testing.T) {
	t.Parallel()
	root := New(".", []dns.RR{
		mustRR(t, ". 86400 IN SOA a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400"),
		mustRR(t, ". 518400 IN NS a.root-servers.net."),
		mustRR(t, "net. 172800 IN NS a.gtld-servers.net."),
		mustRR(t, "a.gtld-servers.net. 172800 IN A 192.5.6.30"),
	})
	var res Result
	set := NewSet(root)
	set.Lookup("www.example.net.", dns.TypeA, false, &res)
	if res.Kind != Referral || len(res.Ns) != 1 || len(res.Extra) != 1 {
		t.Fatalf("root referral: %v ns=%v extra=%v", res.Kind, res.Ns, res.Extra)
	}
	set.Lookup(".", dns.TypeSOA, false, &res)
	if res.Kind != Success || len(res.Answer) != 1 {
		t.Fatalf("root SOA: %v %v", res.Kind, res.Answer)
	}
	set.Lookup("nosuchtld.", dns.TypeA, false, &res)
	if res.Kind != NXDomain {
		t.Fatalf("root NXDOMAIN: %v", res.Kind)
	}
}

func TestRecordsCanonicalOrder(t *testing.T) {
	t.Parallel()
	z := readZone(t, "example.", "rfc4592.zone")
	rrs := z.Records()
	if len(rrs) != z.Len() {
		t.Fatalf("Records returned %d, Len %d", len(rrs), z.Len())
	}
	if rrs[0].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("first record is not the SOA: %v", rrs[0])
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
