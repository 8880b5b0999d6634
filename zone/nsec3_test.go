package zone

import (
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
)

// loadNSEC3 loads the NSEC3-signed test zone: signed.example's data signed
// with SHA-1, no salt, no extra iterations and no opt-out.
func loadNSEC3(t testing.TB) *Zone {
	t.Helper()
	z, _, err := Load("nsec3.example.", filepath.Join("..", "testdata", "zones", "signed", "nsec3.example.zone"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestDenialNSEC3 checks the NSEC3 proofs of RFC 5155 §7.2 against the
// NSEC3-signed zone, and that NSEC3 owner names do not exist (§7.2.8). The
// hash ring, in order, with the name each hash is of:
//
//	431q mail, 46mr alias, 68h8 *.wild, 83s8 ns2, 9qtr a.b.c.deep, a87t deep,
//	bej5 wild, dijg ns1, ef2s insecure, jpgi c.deep, krsa the apex, l12j zzz,
//	m0rj www, v3im b.c.deep, vh65 secure, and back to 431q.
//
// Hashes of names that do not exist, and the owner covering each:
// no-such-name vuhh (vh65, wrapping), *.nsec3.example ro59 (m0rj),
// nx.mail qpkl (m0rj), *.mail q2dn (m0rj), x.c.deep fl5c (ef2s),
// *.c.deep 724d (68h8), zzzz rtgu (m0rj), x.wild g5b3 (ef2s),
// b.wild okm8 (m0rj), krsatb3p….nsec3.example brmr (bej5).
func TestDenialNSEC3(t *testing.T) {
	t.Parallel()
	set := NewSet(loadNSEC3(t))
	const (
		soa    = "nsec3.example. 300 SOA"
		soaSig = "nsec3.example. 300 RRSIG SOA"
		apexH  = "krsatb3pjbkrjutskf89t5ms899d2udp.nsec3.example."
		mailH  = "431q067c8sauff880let73atdh0cuepd.nsec3.example."
	)
	owner := map[string]string{
		"mail": mailH, "*.wild": "68h8cpelv9j77guid44jrc81e5u6qgib.nsec3.example.",
		"deep": "a87t4v668eodtg8mtck50he12uord854.nsec3.example.", "wild": "bej5gmqa872jf4dagq0r3o5q7a2o5s9l.nsec3.example.",
		"insecure": "ef2s05sgk1ir2k5skmfirergqclmr18m.nsec3.example.", "c.deep": "jpgid9i1l0qjqt6j3r3ujhslt0lu47kp.nsec3.example.",
		"apex": apexH, "www": "m0rjvnuvjo5m8avplr4u8i6amu23n1a5.nsec3.example.", "secure": "vh656equd4j02ofvso4gkok5d02ms1tl.nsec3.example.",
	}
	nsec3 := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, owner[n]+" 300 NSEC3", owner[n]+" 300 RRSIG NSEC3")
		}
		return out
	}
	neg := func(names ...string) []string { return append([]string{soa, soaSig}, nsec3(names...)...) }
	cases := []denialCase{
		// §7.2.8: an NSEC3 owner name is not a name of the zone, whatever
		// the question (NSD and Knot: NXDOMAIN, QTYPE=NSEC3 too).
		{name: "hash owner", qname: apexH, qtype: dns.TypeA, kind: NXDomain, ns: []string{soa}},
		{name: "hash owner, NSEC3", qname: apexH, qtype: dns.TypeNSEC3, kind: NXDomain, ns: []string{soa}},
		{name: "hash owner, ANY", qname: mailH, qtype: dns.TypeANY, kind: NXDomain, ns: []string{soa}},
		{name: "hash owner, RRSIG", qname: mailH, qtype: dns.TypeRRSIG, kind: NXDomain, ns: []string{soa}},
		{name: "below a hash owner", qname: "x." + mailH, qtype: dns.TypeA, kind: NXDomain, ns: []string{soa}},
		{name: "hash owner with DO: proof with the apex as closest encloser", qname: apexH, qtype: dns.TypeNSEC3, do: true, kind: NXDomain,
			ns: neg("apex", "wild", "www")},

		// §7.2.2: closest encloser proof and the wildcard's cover.
		{name: "nxdomain", qname: "no-such-name.nsec3.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			ns: neg("apex", "secure", "www")},
		{name: "nxdomain, mixed case", qname: "No-Such-Name.NSEC3.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			ns: neg("apex", "secure", "www")},
		{name: "nxdomain below a leaf: one NSEC3 covers both", qname: "nx.mail.nsec3.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			ns: neg("mail", "www")},
		{name: "nxdomain under an empty non-terminal", qname: "x.c.deep.nsec3.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			ns: neg("c.deep", "insecure", "*.wild")},
		{name: "nxdomain two labels below the closest encloser", qname: "a.x.c.deep.nsec3.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			ns: neg("c.deep", "insecure", "*.wild")},
		{name: "nxdomain, same cover for name and wildcard", qname: "zzzz.nsec3.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			ns: neg("apex", "www")},

		// §7.2.3, §7.2.4: the NSEC3 matching the name.
		{name: "nodata", qname: "www.nsec3.example.", qtype: dns.TypeMX, do: true, kind: NoData, ns: neg("www")},
		{name: "nodata at the apex", qname: "nsec3.example.", qtype: dns.TypeA, do: true, kind: NoData, ns: neg("apex")},
		{name: "nodata at an empty non-terminal", qname: "deep.nsec3.example.", qtype: dns.TypeA, do: true, kind: NoData, ns: neg("deep")},
		{name: "nodata at a deeper empty non-terminal", qname: "c.deep.nsec3.example.", qtype: dns.TypeTXT, do: true, kind: NoData, ns: neg("c.deep")},
		{name: "nodata at the parent of a wildcard", qname: "wild.nsec3.example.", qtype: dns.TypeA, do: true, kind: NoData, ns: neg("wild")},
		{name: "nodata at the wildcard itself", qname: "*.wild.nsec3.example.", qtype: dns.TypeMX, do: true, kind: NoData, ns: neg("*.wild")},
		{name: "DS at an insecure delegation", qname: "insecure.nsec3.example.", qtype: dns.TypeDS, do: true, kind: NoData, ns: neg("insecure")},

		// §7.2.6: a wildcard answer proves no closer name matched.
		{name: "wildcard answer", qname: "x.wild.nsec3.example.", qtype: dns.TypeA, do: true, kind: Success, wantWildcard: true,
			answer: []string{"x.wild.nsec3.example. 3600 A", "x.wild.nsec3.example. 3600 RRSIG A"},
			ns:     nsec3("insecure")},
		{name: "wildcard answer two labels down", qname: "a.b.wild.nsec3.example.", qtype: dns.TypeTXT, do: true, kind: Success, wantWildcard: true,
			answer: []string{"a.b.wild.nsec3.example. 3600 TXT", "a.b.wild.nsec3.example. 3600 RRSIG TXT"},
			ns:     nsec3("www")},
		{name: "the wildcard itself", qname: "*.wild.nsec3.example.", qtype: dns.TypeA, do: true, kind: Success,
			answer: []string{"*.wild.nsec3.example. 3600 A", "*.wild.nsec3.example. 3600 RRSIG A"}},
		// §7.2.5: closest encloser, next closer, and the wildcard's own.
		{name: "wildcard nodata", qname: "x.wild.nsec3.example.", qtype: dns.TypeMX, do: true, kind: NoData, wantWildcard: true,
			ns: neg("*.wild", "wild", "insecure")},

		// §7.2.7: an insecure referral carries the NSEC3 matching the cut.
		{name: "insecure delegation", qname: "host.insecure.nsec3.example.", qtype: dns.TypeA, do: true, kind: Referral,
			ns:    append([]string{"insecure.nsec3.example. 3600 NS"}, nsec3("insecure")...),
			extra: []string{"ns.insecure.nsec3.example. 3600 A"}},
		{name: "secure delegation: signed DS", qname: "www.secure.nsec3.example.", qtype: dns.TypeA, do: true, kind: Referral,
			ns:    []string{"secure.nsec3.example. 3600 NS", "secure.nsec3.example. 3600 DS", "secure.nsec3.example. 3600 RRSIG DS"},
			extra: []string{"ns.secure.nsec3.example. 3600 A"}},

		// Without DO: no signature, no proof.
		{name: "no DO: nxdomain", qname: "no-such-name.nsec3.example.", qtype: dns.TypeA, kind: NXDomain, ns: []string{soa}},
		{name: "no DO: nodata", qname: "www.nsec3.example.", qtype: dns.TypeMX, kind: NoData, ns: []string{soa}},
		{name: "no DO: nodata at an empty non-terminal", qname: "deep.nsec3.example.", qtype: dns.TypeA, kind: NoData, ns: []string{soa}},
		{name: "no DO: wildcard answer", qname: "x.wild.nsec3.example.", qtype: dns.TypeA, kind: Success, wantWildcard: true,
			answer: []string{"x.wild.nsec3.example. 3600 A"}},
		{name: "no DO: wildcard nodata", qname: "x.wild.nsec3.example.", qtype: dns.TypeMX, kind: NoData, wantWildcard: true,
			ns: []string{soa}},
		{name: "no DO: DS at an insecure delegation", qname: "insecure.nsec3.example.", qtype: dns.TypeDS, kind: NoData, ns: []string{soa}},
		{name: "no DO: insecure delegation", qname: "host.insecure.nsec3.example.", qtype: dns.TypeA, kind: Referral,
			ns:    []string{"insecure.nsec3.example. 3600 NS"},
			extra: []string{"ns.insecure.nsec3.example. 3600 A"}},
	}
	runDenialCases(t, set, cases)
}

// TestDenialNSEC3OptOut checks the closest provable encloser proofs of an
// opt-out zone (RFC 5155 §6, §7.2), where insecure delegations and the
// empty non-terminal "onlyunsigned", above one only, have no NSEC3. The
// hash ring of optout.example (the zone of nsec3.example, signed with
// dnssec-signzone -A), in order:
//
//	48gi zzz, 4ijv ns2, 4jg9 the apex, 5pg0 *.wild, 7auc alias,
//	7det a.b.c.deep, ak9e c.deep, e8p6 deep, lqmf ns1, nfd7 secure,
//	nhpm www, pk89 mail, uk0l wild, v659 b.c.deep.
//
// Unhashed names and the owner covering each: insecure k7nt (e8p6),
// onlyunsigned q273 (pk89), and the apex's wildcard qne2 (pk89).
func TestDenialNSEC3OptOut(t *testing.T) {
	t.Parallel()
	z, _, err := Load("optout.example.", filepath.Join("..", "testdata", "zones", "signed", "optout.example.zone"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet(z)
	const soa, soaSig = "optout.example. 300 SOA", "optout.example. 300 RRSIG SOA"
	// Owner names as dnssec-signzone writes them, in upper case.
	owner := map[string]string{
		"apex": "4JG96QS3IIG2KTPR6KHLL0TNR06GVB69", "deep": "E8P6TRUE5RBOE7G0G4HB1O5GRU2N8AEI",
		"mail": "PK89IK1QQOSFU7OOL037GAEF8TUDHC40", "www": "NHPMTELGNC4E4ENEMSFNBKIKDQP21LS5",
	}
	nsec3 := func(names ...string) []string {
		var out []string
		for _, n := range names {
			h := owner[n] + ".optout.example."
			out = append(out, h+" 300 NSEC3", h+" 300 RRSIG NSEC3")
		}
		return out
	}
	neg := func(names ...string) []string { return append([]string{soa, soaSig}, nsec3(names...)...) }
	cases := []denialCase{
		// §7.2.7: the cut has no NSEC3; the apex is the closest provable
		// encloser, and the opt-out NSEC3 of "deep" covers the cut.
		{name: "insecure delegation", qname: "host.insecure.optout.example.", qtype: dns.TypeA, do: true, kind: Referral,
			ns:    append([]string{"insecure.optout.example. 3600 NS"}, nsec3("apex", "deep")...),
			extra: []string{"ns.insecure.optout.example. 3600 A"}},
		// §7.2.4: DS at an unsigned cut, the same proof.
		{name: "DS at an insecure delegation", qname: "insecure.optout.example.", qtype: dns.TypeDS, do: true, kind: NoData,
			ns: neg("apex", "deep")},
		// The cut below the unhashed empty non-terminal: the next closer
		// name is the non-terminal, covered by the NSEC3 of mail.
		{name: "insecure delegation below an unhashed name", qname: "host.x.onlyunsigned.optout.example.", qtype: dns.TypeA, do: true, kind: Referral,
			ns:    append([]string{"x.onlyunsigned.optout.example. 3600 NS"}, nsec3("apex", "mail")...),
			extra: []string{"ns.x.onlyunsigned.optout.example. 3600 A"}},
		{name: "nodata at an unhashed empty non-terminal", qname: "onlyunsigned.optout.example.", qtype: dns.TypeA, do: true, kind: NoData,
			ns: neg("apex", "mail")},
		// NXDOMAIN below it: the proof is of the apex, whose wildcard the
		// same NSEC3 covers.
		{name: "nxdomain below an unhashed empty non-terminal", qname: "nx.onlyunsigned.optout.example.", qtype: dns.TypeA, do: true, kind: NXDomain,
			ns: neg("apex", "mail")},
		// Names that have an NSEC3 are proved as in any NSEC3 zone.
		{name: "nodata", qname: "www.optout.example.", qtype: dns.TypeMX, do: true, kind: NoData, ns: neg("www")},
		{name: "secure delegation: signed DS", qname: "www.secure.optout.example.", qtype: dns.TypeA, do: true, kind: Referral,
			ns:    []string{"secure.optout.example. 3600 NS", "secure.optout.example. 3600 DS", "secure.optout.example. 3600 RRSIG DS"},
			extra: []string{"ns.secure.optout.example. 3600 A"}},
		{name: "no DO: insecure delegation", qname: "host.insecure.optout.example.", qtype: dns.TypeA, kind: Referral,
			ns:    []string{"insecure.optout.example. 3600 NS"},
			extra: []string{"ns.insecure.optout.example. 3600 A"}},
	}
	runDenialCases(t, set, cases)
}

// TestNSEC3OwnersKept checks the hidden NSEC3 owners still go out in a
// transfer: only lookups treat them as absent.
func TestNSEC3OwnersKept(t *testing.T) {
	t.Parallel()
	z := loadNSEC3(t)
	n := 0
	for _, rr := range z.Records() {
		if rr.Header().Rrtype == dns.TypeNSEC3 {
			n++
		}
	}
	if n != 15 {
		t.Errorf("%d NSEC3 records in Records, want 15", n)
	}
	if got := z.AppendRecords(nil, "krsatb3pjbkrjutskf89t5ms899d2udp.nsec3.example."); len(got) != 2 {
		t.Errorf("AppendRecords at a hash owner: %d records, want the NSEC3 and its RRSIG", len(got))
	}
}

// TestNSEC3Hidden checks which names leave the name space: an owner of
// NSEC3 records only, and an empty non-terminal above nothing else; not a
// name with other data, nor an empty non-terminal above one.
func TestNSEC3Hidden(t *testing.T) {
	t.Parallel()
	z := New("example.", []dns.RR{
		mustRR(t, "example. 3600 IN SOA ns.example. h.example. 1 2 3 4 5"),
		mustRR(t, "h1.example. 300 IN NSEC3 1 0 0 - H2 A"),
		mustRR(t, "h2.sub.example. 300 IN NSEC3 1 0 0 - H1 A"),
		mustRR(t, "both.example. 300 IN NSEC3 1 0 0 - H1 A"),
		mustRR(t, "both.example. 300 IN A 192.0.2.1"),
		mustRR(t, "h3.x.example. 300 IN NSEC3 1 0 0 - H1 A"),
		mustRR(t, "a.x.example. 300 IN A 192.0.2.2"),
	})
	for name, hidden := range map[string]bool{
		"example.": false, "h1.example.": true, "h2.sub.example.": true, "sub.example.": true,
		"both.example.": false, "h3.x.example.": true, "x.example.": false, "a.x.example.": false,
	} {
		if n := z.names[name]; n == nil || n.hidden != hidden {
			t.Errorf("%s: node %v, want hidden %v", name, n, hidden)
		}
	}
}
