package zone_test

import (
	"path/filepath"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

// nsec3Queries are the signedQueries of the NSEC3-signed test zone, where
// a proof hashes one to three names.
var nsec3Queries = []struct {
	name  string
	qtype uint16
}{
	{"no-such-name.nsec3.example.", dns.TypeA},  // NXDOMAIN, three NSEC3s
	{"nx.mail.nsec3.example.", dns.TypeA},       // NXDOMAIN, two NSEC3s
	{"zzzz.nsec3.example.", dns.TypeA},          // NXDOMAIN, two NSEC3s
	{"deep.nsec3.example.", dns.TypeA},          // NODATA at an empty non-terminal
	{"www.nsec3.example.", dns.TypeMX},          // NODATA
	{"host.insecure.nsec3.example.", dns.TypeA}, // referral, NSEC3 matching the cut
	{"www.secure.nsec3.example.", dns.TypeA},    // referral, signed DS
	{"nsec3.example.", dns.TypeMX},              // answer, signed additional
}

func loadNSEC3Set(tb testing.TB) *zone.Set {
	tb.Helper()
	z, _, err := zone.Load("nsec3.example.", filepath.Join("..", "testdata", "zones", "signed", "nsec3.example.zone"), zone.LoadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return zone.NewSet(z)
}

// BenchmarkLookupNSEC3DO is the cost of DNSSEC answers with NSEC3 proofs,
// hashing included.
func BenchmarkLookupNSEC3DO(b *testing.B) {
	set := loadNSEC3Set(b)
	var res zone.Result
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := nsec3Queries[i%len(nsec3Queries)]
		set.Lookup(q.name, q.qtype, true, &res)
		i++
	}
}

// TestNSEC3NoDODoesNotAllocate: without DO an NSEC3 zone hashes nothing,
// and the hidden hash owners cost a flag test.
func TestNSEC3NoDODoesNotAllocate(t *testing.T) {
	set := loadNSEC3Set(t)
	var res zone.Result
	for _, q := range append(nsec3Queries, struct {
		name  string
		qtype uint16
	}{"krsatb3pjbkrjutskf89t5ms899d2udp.nsec3.example.", dns.TypeNSEC3}) {
		set.Lookup(q.name, q.qtype, false, &res) // warm the result's buffers
		if n := testing.AllocsPerRun(100, func() { set.Lookup(q.name, q.qtype, false, &res) }); n != 0 {
			t.Errorf("%s %d: %v allocations per lookup", q.name, q.qtype, n)
		}
	}
}
