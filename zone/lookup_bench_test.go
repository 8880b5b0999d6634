package zone_test

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
	"github.com/meridian-dns/meridian/zone/zonegen"
)

const benchOrigin = "bench.example."

var (
	benchMu    sync.Mutex
	benchZones = map[int]*zone.Set{}
)

// benchSet builds (once per size) a synthetic zone of the given number of
// names, straight through the parser and New, as the server would load it.
func benchSet(b *testing.B, names int) *zone.Set {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if s := benchZones[names]; s != nil {
		return s
	}
	var buf bytes.Buffer
	if err := zonegen.Write(&buf, benchOrigin, names, 1); err != nil {
		b.Fatal(err)
	}
	zp := dns.NewZoneParser(&buf, benchOrigin, "bench.zone")
	rrs := make([]dns.RR, 0, names*2)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		b.Fatal(err)
	}
	s := zone.NewSet(zone.New(benchOrigin, rrs))
	benchZones[names] = s
	runtime.GC()
	return s
}

type benchQuery struct {
	name  string
	qtype uint16
}

func benchQueries(b *testing.B, names int) []benchQuery {
	b.Helper()
	g, err := zonegen.New(benchOrigin, names, 2)
	if err != nil {
		b.Fatal(err)
	}
	qs := make([]benchQuery, 4096)
	for i := range qs {
		q := g.Query(i)
		t, ok := dns.StringToType[q.Type]
		if !ok {
			b.Fatalf("zonegen type %q", q.Type)
		}
		qs[i] = benchQuery{dns.Fqdn(q.Name), t}
	}
	return qs
}

// BenchmarkLookup runs zonegen's mixed workload (answers, NXDOMAIN, NODATA,
// wildcards, referrals) against zones of growing size. The cost per lookup
// should stay flat, and lookups without wildcard synthesis allocate nothing.
func BenchmarkLookup(b *testing.B) {
	for _, names := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("names=%d", names), func(b *testing.B) {
			if testing.Short() && names > 100_000 {
				b.Skip("large zone skipped in -short mode")
			}
			set := benchSet(b, names)
			qs := benchQueries(b, names)
			var res zone.Result
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				q := qs[i&(len(qs)-1)]
				set.Lookup(q.name, q.qtype, false, &res)
				i++
			}
		})
	}
}

// BenchmarkLookupExact is a plain positive answer: it must not allocate.
func BenchmarkLookupExact(b *testing.B) {
	set := benchSet(b, 100_000)
	var res zone.Result
	set.Lookup(benchOrigin, dns.TypeSOA, false, &res)
	if res.Kind != zone.Success {
		b.Fatalf("SOA lookup: %v", res.Kind)
	}
	b.ReportAllocs()
	for b.Loop() {
		set.Lookup("Bench.Example.", dns.TypeNS, false, &res)
	}
}

func TestLookupExactDoesNotAllocate(t *testing.T) {
	s := zone.NewSet(zone.New("example.", []dns.RR{
		mustParse(t, "example. 3600 IN SOA ns.example. h.example. 1 2 3 4 5"),
		mustParse(t, "example. 3600 IN NS ns.example."),
		mustParse(t, "ns.example. 3600 IN A 192.0.2.1"),
		mustParse(t, "sub.example. 3600 IN NS ns.sub.example."),
		mustParse(t, "ns.sub.example. 3600 IN A 192.0.2.2"),
	}))
	var res zone.Result
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"NS.Example.", dns.TypeA}, {"example.", dns.TypeNS}, {"nx.example.", dns.TypeA},
		{"example.", dns.TypeMX}, {"a.b.sub.example.", dns.TypeA},
	} {
		s.Lookup(q.name, q.qtype, false, &res) // warm the result's buffers
		if n := testing.AllocsPerRun(100, func() { s.Lookup(q.name, q.qtype, false, &res) }); n != 0 {
			t.Errorf("%s %d: %v allocations per lookup", q.name, q.qtype, n)
		}
	}
}

func mustParse(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}
