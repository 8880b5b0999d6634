package secondary

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
	"github.com/meridian-dns/meridian/zone/serial"
)

// FuzzTransferStream feeds arbitrary record sequences, one record per line
// of master-file text, through what a received transfer goes through
// (build, then validate) on top of a good version. It must never panic,
// and whatever it accepts must be a valid zone newer than the good one:
// a bad stream never replaces a good zone.
func FuzzTransferStream(f *testing.F) {
	good := mustZone(f, zoneRRs(f, 10, "www.example.org. 60 IN A 192.0.2.1"))
	join := func(rrs []dns.RR) string {
		var b strings.Builder
		for _, rr := range rrs {
			b.WriteString(rr.String() + "\n")
		}
		return b.String()
	}
	v11 := zoneRRs(f, 11, "www.example.org. 60 IN A 192.0.2.2")
	f.Add(join(append(v11, v11[0])))
	f.Add(join(incremental([][]dns.RR{zoneRRs(f, 10, "www.example.org. 60 IN A 192.0.2.1"), v11}, 10)))
	f.Add(join(append(zoneRRs(f, 12, "www.example.org. 60 IN CNAME a.", "www.example.org. 60 IN A 192.0.2.1"), v11[0])))
	f.Add(join(v11[:1]))
	f.Fuzz(func(t *testing.T, text string) {
		var rrs []dns.RR
		for line := range strings.SplitSeq(text, "\n") {
			if len(rrs) >= 64 {
				break
			}
			if rr, err := dns.NewRR(line); err == nil && rr != nil {
				rrs = append(rrs, rr)
			}
		}
		v, err := build(origin, good, rrs)
		if err != nil {
			return
		}
		recs := make([]zone.Record, len(v.rrs))
		for i, rr := range v.rrs {
			recs[i] = zone.Record{RR: rr, File: "fuzz"}
		}
		nz, err := validate(origin, recs)
		if err != nil {
			return
		}
		if !serial.Greater(nz.Serial(), good.Serial()) {
			t.Fatalf("accepted serial %d over %d", nz.Serial(), good.Serial())
		}
		if _, problems := zone.Check(origin, toRecords(nz.Records())); hasError(problems) {
			t.Fatalf("accepted an invalid zone: %v", problems)
		}
	})
}

func mustZone(t testing.TB, rrs []dns.RR) *zone.Zone {
	t.Helper()
	z, err := validate(origin, toRecords(rrs))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func toRecords(rrs []dns.RR) []zone.Record {
	out := make([]zone.Record, len(rrs))
	for i, rr := range rrs {
		out[i] = zone.Record{RR: rr}
	}
	return out
}

func hasError(problems []zone.Problem) bool {
	for _, p := range problems {
		if p.Severity == zone.Error {
			return true
		}
	}
	return false
}
