package zone_test

import (
	"path/filepath"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

// signedQueries are answered from the NSEC-signed test zone with DO: each
// negative answer needs one or two binary searches for covering NSECs.
var signedQueries = []struct {
	name  string
	qtype uint16
}{
	{"no-such-name.signed.example.", dns.TypeA},  // NXDOMAIN, two NSECs
	{"nx.mail.signed.example.", dns.TypeA},       // NXDOMAIN, one NSEC
	{"zzzz.signed.example.", dns.TypeA},          // NXDOMAIN, wraps to the apex
	{"deep.signed.example.", dns.TypeA},          // NODATA at an empty non-terminal
	{"www.signed.example.", dns.TypeMX},          // NODATA
	{"host.insecure.signed.example.", dns.TypeA}, // referral, NSEC at the cut
	{"www.secure.signed.example.", dns.TypeA},    // referral, signed DS
	{"signed.example.", dns.TypeMX},              // answer, signed additional
}

func loadSignedSet(tb testing.TB) *zone.Set {
	tb.Helper()
	z, _, err := zone.Load("signed.example.", filepath.Join("..", "testdata", "zones", "signed", "signed.example.zone"), zone.LoadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return zone.NewSet(z)
}

// BenchmarkLookupSignedDO is the cost of DNSSEC answers with their proofs.
func BenchmarkLookupSignedDO(b *testing.B) {
	set := loadSignedSet(b)
	var res zone.Result
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := signedQueries[i%len(signedQueries)]
		set.Lookup(q.name, q.qtype, true, &res)
		i++
	}
}

// TestSignedDenialDoesNotAllocate: the proofs come from the zone's own
// records and a binary search over a slice built at load time.
func TestSignedDenialDoesNotAllocate(t *testing.T) {
	set := loadSignedSet(t)
	var res zone.Result
	for _, q := range signedQueries {
		set.Lookup(q.name, q.qtype, true, &res) // warm the result's buffers
		if n := testing.AllocsPerRun(100, func() { set.Lookup(q.name, q.qtype, true, &res) }); n != 0 {
			t.Errorf("%s %d: %v allocations per lookup", q.name, q.qtype, n)
		}
	}
}
