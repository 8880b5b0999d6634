package diff

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
	"github.com/meridian-dns/meridian/zone/zonegen"
)

const benchOrigin = "bench.example."

// benchZones builds a zonegen zone of about the given number of records
// (zonegen writes close to two records per name) and a successor with ten
// records changed: three deleted, five with a new TTL, two added.
func benchZones(b *testing.B, records int) (older, newer *zone.Zone) {
	b.Helper()
	var buf bytes.Buffer
	if err := zonegen.Write(&buf, benchOrigin, records/2, 1); err != nil {
		b.Fatal(err)
	}
	zp := dns.NewZoneParser(&buf, benchOrigin, "bench.zone")
	rrs := make([]dns.RR, 0, records)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		b.Fatal(err)
	}
	older = zone.New(benchOrigin, rrs)

	next := slices.Clone(rrs)
	soa := dns.Copy(older.SOA()).(*dns.SOA)
	soa.Serial++
	for i, rr := range next {
		if rr.Header().Rrtype == dns.TypeSOA {
			next[i] = soa
		}
	}
	step := len(next) / 10
	for c := range 8 {
		i := 1 + c*step
		if c < 3 {
			next[i] = nil
			continue
		}
		cp := dns.Copy(next[i])
		cp.Header().Ttl++
		next[i] = cp
	}
	for c := range 2 {
		rr, err := dns.NewRR(fmt.Sprintf("added-%d.%s 300 IN A 192.0.2.%d", c, benchOrigin, c))
		if err != nil {
			b.Fatal(err)
		}
		next = append(next, rr)
	}
	return older, zone.New(benchOrigin, next)
}

var benchSizes = []int{10_000, 100_000, 1_000_000}

// BenchmarkDiff measures the difference between two versions of a zone that
// differ in ten records: the primary pays it at each reload.
func BenchmarkDiff(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			older, newer := benchZones(b, n)
			b.ResetTimer()
			for b.Loop() {
				d, err := Diff(older, newer)
				if err != nil {
					b.Fatal(err)
				}
				if len(d.Deleted) != 9 || len(d.Added) != 8 {
					b.Fatalf("deleted %d, added %d records; want 9 and 8", len(d.Deleted), len(d.Added))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(older.Len()+newer.Len()), "ns/record")
		})
	}
}

// BenchmarkDiffAllChanged is the worst case: every record's TTL changed, so
// every name takes the keyed path and the delta holds the whole zone twice.
func BenchmarkDiffAllChanged(b *testing.B) {
	older, _ := benchZones(b, 1_000_000)
	rrs := make([]dns.RR, 0, older.Len())
	for rr := range older.All() {
		cp := dns.Copy(rr)
		cp.Header().Ttl++
		if soa, ok := cp.(*dns.SOA); ok {
			soa.Serial++
		}
		rrs = append(rrs, cp)
	}
	newer := zone.New(benchOrigin, rrs)
	b.ResetTimer()
	for b.Loop() {
		d, err := Diff(older, newer)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Deleted) != older.Len() {
			b.Fatalf("%d deletions, want %d", len(d.Deleted), older.Len())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(older.Len()+newer.Len()), "ns/record")
}

// BenchmarkApply measures a secondary applying a ten-record IXFR to the
// version it holds.
func BenchmarkApply(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			older, newer := benchZones(b, n)
			d, err := Diff(older, newer)
			if err != nil {
				b.Fatal(err)
			}
			base := slices.Collect(older.All())
			b.ResetTimer()
			for b.Loop() {
				got, err := Apply(base, d)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != newer.Len() {
					b.Fatalf("%d records, want %d", len(got), newer.Len())
				}
			}
		})
	}
}
