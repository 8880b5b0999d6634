package journal_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
	"github.com/meridian-dns/meridian/zone/diff"
	"github.com/meridian-dns/meridian/zone/journal"
	"github.com/meridian-dns/meridian/zone/serial"
)

func load(text string) *zone.Zone {
	zp := dns.NewZoneParser(strings.NewReader(text), "example.com.", "")
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	return zone.New("example.com.", rrs)
}

// The life of a journal on a primary: check it against the zone at start,
// append a delta at each reload, answer IXFR from it; and on a secondary,
// apply what arrives.
func Example() {
	dir, _ := os.MkdirTemp("", "journal-example")
	defer os.RemoveAll(dir)
	v1 := load("@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.1\n")

	// Start-up: a journal that does not end at the zone's serial describes
	// another history (the file was edited while the server was down).
	j, err := journal.Open(filepath.Join(dir, journal.FileName(v1.Origin())), journal.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer j.Close()
	if n, ok := j.Newest(); ok && n != v1.Serial() {
		j.Reset()
	}

	// Reload: record the difference before serving the new version.
	v2 := load("@ 3600 IN SOA ns1 hostmaster 2 7200 3600 1209600 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.2\n")
	d, err := diff.Diff(v1, v2)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := j.Append(d); err != nil {
		fmt.Println(err)
		return
	}

	// IXFR from a secondary at serial 1 (RFC 1995 §2): up to date gets the
	// SOA alone, a covered serial the deltas, anything else the whole zone.
	client := uint32(1)
	switch deltas, ok := j.Since(client); {
	case !serial.Less(client, v2.Serial()):
		fmt.Println("SOA only")
	case ok:
		for _, d := range deltas {
			fmt.Printf("delta %d→%d: -%d +%d records\n", d.From(), d.To(), len(d.Deleted)-1, len(d.Added)-1)
		}
		// The secondary applies them to what it holds, validates, swaps.
		rrs, err := diff.Apply(slices.Collect(v1.All()), deltas...)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("secondary now at", rrs[0].(*dns.SOA).Serial)
	default:
		fmt.Println("AXFR-style answer")
	}
	// Output:
	// delta 1→2: -1 +1 records
	// secondary now at 2
}
