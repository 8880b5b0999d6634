package zone_test

import (
	"path/filepath"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

// signedQuery is a question to one of the signed test zones, its name
// relative to the zone's origin ("" for the apex).
type signedQuery struct {
	name  string
	qtype uint16
}

// signedQueries are answered with DO from the signed test zones, which
// hold the same names: with NSEC each negative answer takes one or two
// binary searches for covering NSECs; with NSEC3 it also hashes names.
var signedQueries = []signedQuery{
	{"no-such-name", dns.TypeA},  // NXDOMAIN: two NSECs, three NSEC3s
	{"nx.mail", dns.TypeA},       // NXDOMAIN: one NSEC, two NSEC3s
	{"zzzz", dns.TypeA},          // NXDOMAIN: the NSEC wraps to the apex
	{"deep", dns.TypeA},          // NODATA at an empty non-terminal
	{"www", dns.TypeMX},          // NODATA
	{"host.insecure", dns.TypeA}, // referral, NSEC or NSEC3 at the cut
	{"www.secure", dns.TypeA},    // referral, signed DS
	{"", dns.TypeMX},             // answer, signed additional
}

// qname is q's name in the zone at origin.
func (q signedQuery) qname(origin string) string {
	if q.name == "" {
		return origin
	}
	return q.name + "." + origin
}

// loadSignedSet loads testdata/zones/signed/ORIGINzone ("signed.example."
// with NSEC, "nsec3.example." with NSEC3).
func loadSignedSet(tb testing.TB, origin string) *zone.Set {
	tb.Helper()
	z, _, err := zone.Load(origin, filepath.Join("..", "testdata", "zones", "signed", origin+"zone"), zone.LoadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return zone.NewSet(z)
}

// BenchmarkLookupSignedDO is the cost of DNSSEC answers with their proofs,
// NSEC3's hashing included.
func BenchmarkLookupSignedDO(b *testing.B) {
	for _, origin := range []string{"signed.example.", "nsec3.example."} {
		b.Run(origin, func(b *testing.B) {
			set := loadSignedSet(b, origin)
			names := make([]string, len(signedQueries)) // built outside the loop: no allocation of ours
			for i, q := range signedQueries {
				names[i] = q.qname(origin)
			}
			var res zone.Result
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := i % len(signedQueries)
				set.Lookup(names[k], signedQueries[k].qtype, true, &res)
				i++
			}
		})
	}
}

// noAllocs checks that each question costs no allocation once the
// result's buffers are warm.
func noAllocs(t *testing.T, set *zone.Set, origin string, qs []signedQuery, do bool) {
	t.Helper()
	var res zone.Result
	for _, q := range qs {
		name := q.qname(origin)
		set.Lookup(name, q.qtype, do, &res) // warm the result's buffers
		if n := testing.AllocsPerRun(100, func() { set.Lookup(name, q.qtype, do, &res) }); n != 0 {
			t.Errorf("%s %d: %v allocations per lookup", name, q.qtype, n)
		}
	}
}

// TestSignedDenialDoesNotAllocate: the NSEC proofs come from the zone's own
// records and a binary search over a slice built at load time.
func TestSignedDenialDoesNotAllocate(t *testing.T) {
	noAllocs(t, loadSignedSet(t, "signed.example."), "signed.example.", signedQueries, true)
}

// TestNSEC3NoDODoesNotAllocate: without DO an NSEC3 zone hashes nothing,
// and the hidden hash owners cost a flag test.
func TestNSEC3NoDODoesNotAllocate(t *testing.T) {
	qs := append(signedQueries, signedQuery{"krsatb3pjbkrjutskf89t5ms899d2udp", dns.TypeNSEC3})
	noAllocs(t, loadSignedSet(t, "nsec3.example."), "nsec3.example.", qs, false)
}
