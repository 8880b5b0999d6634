package zone

import (
	"maps"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// TestUnsortedAccessors checks All, Owners and AppendRecords against
// Records: the same records, only not sorted.
func TestUnsortedAccessors(t *testing.T) {
	t.Parallel()
	tests := []struct{ origin, file string }{
		{"example.", "rfc4592.zone"},
		{"example.org.", "semantics.zone"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			z := readZone(t, tt.origin, tt.file)
			want := z.Records()
			all := slices.Collect(z.All())
			if len(all) != len(want) || len(all) != z.Len() || all[0] != dns.RR(z.SOA()) {
				t.Fatalf("All: %d records (SOA first: %v); Records %d, Len %d", len(all), all[0] == dns.RR(z.SOA()), len(want), z.Len())
			}
			if !accessorsSameSet(all, want) {
				t.Errorf("All and Records hold different records")
			}
			var owned []dns.RR
			names := map[string]bool{}
			var buf []dns.RR
			for name, rrs := range z.Owners() {
				if names[name] {
					t.Errorf("Owners yields %s twice", name)
				}
				names[name] = true
				for _, rr := range rrs {
					if !dns.IsSubDomain(name, rr.Header().Name) || !dns.IsSubDomain(rr.Header().Name, name) {
						t.Errorf("Owners yields %s under %s", rr.Header().Name, name)
					}
				}
				if buf = z.AppendRecords(buf[:0], name); !slices.Equal(buf, rrs) {
					t.Errorf("AppendRecords(%s) differs from Owners", name)
				}
				owned = append(owned, rrs...)
			}
			if !accessorsSameSet(owned, want) {
				t.Errorf("Owners and Records hold different records: names %v", slices.Sorted(maps.Keys(names)))
			}
			if got := z.AppendRecords(nil, "no.such.name."); len(got) != 0 {
				t.Errorf("AppendRecords of a missing name = %v", got)
			}
		})
	}
}

func TestUnsortedAccessorsFailed(t *testing.T) {
	t.Parallel()
	z := Failed("example.", errNoSOA)
	if n := len(slices.Collect(z.All())); n != 0 {
		t.Errorf("All of a failed zone: %d records", n)
	}
	for name := range z.Owners() {
		t.Errorf("Owners of a failed zone yields %s", name)
	}
	if got := z.AppendRecords(nil, "example."); len(got) != 0 {
		t.Errorf("AppendRecords of a failed zone = %v", got)
	}
}

func accessorsSameSet(a, b []dns.RR) bool {
	return slices.Equal(accessorsStrings(a), accessorsStrings(b))
}

func accessorsStrings(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.String()
	}
	slices.Sort(out)
	return out
}
