package zone

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// loadSigned loads the NSEC-signed test zone (ldns-signzone; the unsigned
// source is beside it).
func loadSigned(t testing.TB) *Zone {
	t.Helper()
	z, _, err := Load("signed.example.", filepath.Join("..", "testdata", "zones", "signed", "signed.example.zone"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// brief names a record by owner, TTL and type (and the type an RRSIG
// covers): signatures cannot be written out by hand, and which record is
// where is what the proofs are about.
func brief(rr dns.RR) string {
	h := rr.Header()
	s := fmt.Sprintf("%s %d %s", h.Name, h.Ttl, dns.TypeToString[h.Rrtype])
	if sig, ok := rr.(*dns.RRSIG); ok {
		s += " " + dns.TypeToString[sig.TypeCovered]
	}
	return s
}

func briefs(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = brief(rr)
	}
	slices.Sort(out)
	return out
}

// TestDenialNSEC checks the signatures and NSEC proofs of RFC 4035 §3.1
// against the signed zone, whose NSEC chain (canonical order) is:
// signed.example, alias, a.b.c.deep, insecure, mail, ns1, ns2, secure,
// *.wild, www, zzz, and back to the apex.
func TestDenialNSEC(t *testing.T) {
	t.Parallel()
	set := NewSet(loadSigned(t))
	const (
		soa    = "signed.example. 300 SOA"
		soaSig = "signed.example. 300 RRSIG SOA" // the negative TTL, as the SOA's
	)
	nsec := func(owner string) []string {
		return []string{owner + " 300 NSEC", owner + " 300 RRSIG NSEC"}
	}
	neg := func(owners ...string) []string {
		out := []string{soa, soaSig}
		for _, o := range owners {
			out = append(out, nsec(o)...)
		}
		return out
	}
	cases := []denialCase{
		{name: "nxdomain between two owners", qname: "no-such-name.signed.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			// mail covers the name, the apex covers *.signed.example.
			ns: neg("mail.signed.example.", "signed.example.")},
		{name: "nxdomain below a leaf: one NSEC covers name and wildcard", qname: "nx.mail.signed.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			ns: neg("mail.signed.example.")},
		{name: "nxdomain below a leaf, deeper", qname: "a.b.nx.www.signed.example.", qtype: dns.TypeTXT, do: true, kind: NXDomain,
			ns: neg("www.signed.example.")},
		{name: "nxdomain under an empty non-terminal", qname: "x.c.deep.signed.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			// a.b.c.deep covers x.c.deep; alias covers *.c.deep.
			ns: neg("a.b.c.deep.signed.example.", "alias.signed.example.")},
		{name: "nxdomain after the last name wraps to the apex", qname: "zzzz.signed.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			// zzz's NSEC points back to the apex, covering zzzz; the
			// apex's covers *.signed.example.
			ns: neg("zzz.signed.example.", "signed.example.")},
		{name: "nxdomain in mixed case", qname: "No-Such-Name.SIGNED.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			ns: neg("mail.signed.example.", "signed.example.")},
		{name: "nodata at a name", qname: "www.signed.example.", qtype: dns.TypeMX, do: true, kind: NoData,
			ns: neg("www.signed.example.")},
		{name: "nodata at the apex", qname: "signed.example.", qtype: dns.TypeA, do: true, kind: NoData,
			ns: neg("signed.example.")},
		{name: "nodata at an empty non-terminal", qname: "deep.signed.example.", qtype: dns.TypeA, do: true, kind: NoData,
			ns: neg("alias.signed.example.")},
		{name: "nodata at a deeper empty non-terminal", qname: "c.deep.signed.example.", qtype: dns.TypeTXT, do: true, kind: NoData,
			ns: neg("alias.signed.example.")},
		{name: "nodata at the parent of a wildcard", qname: "wild.signed.example.", qtype: dns.TypeA, do: true, kind: NoData,
			ns: neg("secure.signed.example.")},
		{name: "wildcard answer", qname: "x.wild.signed.example.", qtype: dns.TypeA, do: true, kind: Success, wantWildcard: true,
			answer: []string{"x.wild.signed.example. 3600 A", "x.wild.signed.example. 3600 RRSIG A"},
			ns:     nsec("*.wild.signed.example.")},
		{name: "wildcard answer two labels down", qname: "a.b.wild.signed.example.", qtype: dns.TypeTXT, do: true, kind: Success, wantWildcard: true,
			answer: []string{"a.b.wild.signed.example. 3600 TXT", "a.b.wild.signed.example. 3600 RRSIG TXT"},
			ns:     nsec("*.wild.signed.example.")},
		{name: "wildcard nodata", qname: "x.wild.signed.example.", qtype: dns.TypeMX, do: true, kind: NoData, wantWildcard: true,
			// The wildcard's NSEC shows no MX and also covers the name.
			ns: neg("*.wild.signed.example.")},
		{name: "the wildcard itself", qname: "*.wild.signed.example.", qtype: dns.TypeA, do: true, kind: Success,
			answer: []string{"*.wild.signed.example. 3600 A", "*.wild.signed.example. 3600 RRSIG A"}},
		{name: "insecure delegation: NSEC at the cut", qname: "host.insecure.signed.example.", qtype: dns.TypeA, do: true, kind: Referral,
			ns:    append([]string{"insecure.signed.example. 3600 NS"}, nsec("insecure.signed.example.")...),
			extra: []string{"ns.insecure.signed.example. 3600 A"}},
		{name: "insecure delegation at the cut", qname: "insecure.signed.example.", qtype: dns.TypeA, do: true, kind: Referral,
			ns:    append([]string{"insecure.signed.example. 3600 NS"}, nsec("insecure.signed.example.")...),
			extra: []string{"ns.insecure.signed.example. 3600 A"}},
		{name: "DS at an insecure delegation", qname: "insecure.signed.example.", qtype: dns.TypeDS, do: true, kind: NoData,
			ns: neg("insecure.signed.example.")},
		{name: "secure delegation: signed DS", qname: "www.secure.signed.example.", qtype: dns.TypeA, do: true, kind: Referral,
			ns:    []string{"secure.signed.example. 3600 NS", "secure.signed.example. 3600 DS", "secure.signed.example. 3600 RRSIG DS"},
			extra: []string{"ns.secure.signed.example. 3600 A"}},
		{name: "additional addresses with their signatures", qname: "signed.example.", qtype: dns.TypeMX, do: true, kind: Success,
			answer: []string{"signed.example. 3600 MX", "signed.example. 3600 RRSIG MX"},
			extra:  []string{"mail.signed.example. 3600 A", "mail.signed.example. 3600 RRSIG A"}},

		// Without DO: no signature, no proof.
		{name: "no DO: nxdomain", qname: "no-such-name.signed.example.", qtype: dns.TypeA, kind: NXDomain,
			ns: []string{soa}},
		{name: "no DO: nodata at an empty non-terminal", qname: "deep.signed.example.", qtype: dns.TypeA, kind: NoData,
			ns: []string{soa}},
		{name: "no DO: wildcard answer", qname: "x.wild.signed.example.", qtype: dns.TypeA, kind: Success, wantWildcard: true,
			answer: []string{"x.wild.signed.example. 3600 A"}},
		{name: "no DO: wildcard nodata", qname: "x.wild.signed.example.", qtype: dns.TypeMX, kind: NoData, wantWildcard: true,
			ns: []string{soa}},
		{name: "no DO: insecure delegation", qname: "host.insecure.signed.example.", qtype: dns.TypeA, kind: Referral,
			ns:    []string{"insecure.signed.example. 3600 NS"},
			extra: []string{"ns.insecure.signed.example. 3600 A"}},
		{name: "no DO: secure delegation", qname: "www.secure.signed.example.", qtype: dns.TypeA, kind: Referral,
			ns:    []string{"secure.signed.example. 3600 NS"},
			extra: []string{"ns.secure.signed.example. 3600 A"}},
		{name: "no DO: additional", qname: "signed.example.", qtype: dns.TypeMX, kind: Success,
			answer: []string{"signed.example. 3600 MX"},
			extra:  []string{"mail.signed.example. 3600 A"}},
	}
	runDenialCases(t, set, cases)
}

// TestUnsignedReferralNoDS checks that a DS RRset without signatures stays
// out of a referral even with DO: NSD and Knot leave it out, and only a
// signed DS can make the delegation secure (RFC 4035 §3.1.4).
func TestUnsignedReferralNoDS(t *testing.T) {
	t.Parallel()
	z := New("example.", []dns.RR{
		mustRR(t, "example. 3600 IN SOA ns.example. h.example. 1 2 3 4 5"),
		mustRR(t, "example. 3600 IN NS ns.example."),
		mustRR(t, "ns.example. 3600 IN A 192.0.2.1"),
		mustRR(t, "child.example. 3600 IN NS ns.child.example."),
		mustRR(t, "ns.child.example. 3600 IN A 192.0.2.2"),
		mustRR(t, "child.example. 3600 IN DS 1 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE9A2AA1D1E3D3F5F2F3F4F5F6"),
	})
	for _, do := range []bool{false, true} {
		var res Result
		z.Lookup("www.child.example.", dns.TypeA, do, &res)
		if got, want := briefs(res.Ns), []string{"child.example. 3600 NS"}; res.Kind != Referral || !slices.Equal(got, want) {
			t.Errorf("do=%v: kind %v authority %q, want referral %q", do, res.Kind, got, want)
		}
		// Asked for, the DS is still data of the parent.
		z.Lookup("child.example.", dns.TypeDS, do, &res)
		if got := briefs(res.Answer); res.Kind != Success || !slices.Equal(got, []string{"child.example. 3600 DS"}) {
			t.Errorf("do=%v: DS query: kind %v answer %q", do, res.Kind, got)
		}
	}
}

// TestApexNSSigned checks the apex NS RRset and addresses that servers add
// to positive answers (NSD's default) carry their signatures with DO.
func TestApexNSSigned(t *testing.T) {
	t.Parallel()
	z := loadSigned(t)
	ns, addrs := z.ApexNSSigned()
	if got, want := briefs(ns), []string{"signed.example. 3600 NS", "signed.example. 3600 NS", "signed.example. 3600 RRSIG NS"}; !slices.Equal(got, want) {
		t.Errorf("ns %q, want %q", got, want)
	}
	want := []string{"ns1.signed.example. 3600 A", "ns1.signed.example. 3600 RRSIG A", "ns2.signed.example. 3600 A", "ns2.signed.example. 3600 RRSIG A"}
	if got := briefs(addrs); !slices.Equal(got, want) {
		t.Errorf("addrs %q, want %q", got, want)
	}
	ns, addrs = z.ApexNS()
	if len(ns) != 2 || len(addrs) != 2 {
		t.Errorf("ApexNS: %d NS, %d addresses, want 2 and 2", len(ns), len(addrs))
	}
}

// TestCompareNameKey checks the byte-slice comparison agrees with
// compareNames, which sorts the NSEC owners it searches.
func TestCompareNameKey(t *testing.T) {
	t.Parallel()
	names := []string{".", "example.", "a.example.", "z.example.", "*.z.example.", "a.z.example.",
		"yljkjljk.a.example.", "z.a.example.", "zabc.a.example.", "\\001.z.example.", "\\200.z.example.", "aa.example.",
		"a\\.b.example.", "b.example.", "\\\\.example.", "x.\\\\.example.", "a\\\\\\.b.example."}
	for _, a := range names {
		for _, b := range names {
			want, got := compareNames(a, b), compareNameKey(a, []byte(b))
			if (want < 0) != (got < 0) || (want == 0) != (got == 0) {
				t.Errorf("compareNameKey(%q, %q) = %d, compareNames = %d", a, b, got, want)
			}
		}
	}
}

// denialCase is one question to a signed zone and the sections expected,
// each record written as "owner TTL TYPE" (see briefs).
type denialCase struct {
	name         string
	qname        string
	qtype        uint16
	do           bool
	kind         Kind
	answer, ns   []string
	extra        []string
	wantWildcard bool
}

// runDenialCases asks set each case's question and compares the kind and
// the three sections.
func runDenialCases(t *testing.T, set *Set, cases []denialCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var res Result
			set.Lookup(tc.qname, tc.qtype, tc.do, &res)
			if res.Kind != tc.kind || res.Wildcard != tc.wantWildcard {
				t.Errorf("kind %v wildcard %v, want %v %v", res.Kind, res.Wildcard, tc.kind, tc.wantWildcard)
			}
			for _, s := range []struct {
				section string
				got     []dns.RR
				want    []string
			}{
				{"answer", res.Answer, tc.answer},
				{"authority", res.Ns, tc.ns},
				{"additional", res.Extra, tc.extra},
			} {
				want := slices.Sorted(slices.Values(s.want))
				if got := briefs(s.got); !slices.Equal(got, want) {
					t.Errorf("%s:\n got  %q\n want %q", s.section, got, want)
				}
			}
		})
	}
}
