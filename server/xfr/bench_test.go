package xfr_test

import (
	"testing"

	"github.com/meridian-dns/meridian/server/xfr"
)

// BenchmarkAXFR transfers a zone of 200,001 records over loopback with
// miekg's client, the client side included in the time.
func BenchmarkAXFR(b *testing.B) {
	z := makeZone(b, 1, 100_000)
	s := newSetup(b, xfr.Options{}, xfr.ZoneConfig{ACL: allowLoopback}, z)
	b.ResetTimer()
	for b.Loop() {
		rrs, _, err := transferIn(b, s.tcp, axfrQuery(), nil)
		if err != nil || len(rrs) != z.Len()+1 {
			b.Fatalf("%d records, %v", len(rrs), err)
		}
	}
	b.ReportMetric(float64(z.Len()), "records/op")
}
