package zone

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestCompareNames checks compareNames against the definition: labels
// compared from the right, as split by miekg.
func TestCompareNames(t *testing.T) {
	// Not parallel: AllocsPerRun needs the process to itself.
	names := []string{".", "org.", "example.org.", "a.example.org.", "z.example.org.", "*.z.example.org.",
		"\\\\200.z.example.org.", "yljkjljk.a.example.org.", "zabc.a.example.org.", "a.b.c.", "ab.c.", "a\\\\.b.c.", "b.c."}
	want := func(a, b string) int {
		la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
		for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
			if c := strings.Compare(a[dns.Split(a)[i]:][:len(la[i])], b[dns.Split(b)[j]:][:len(lb[j])]); c != 0 {
				return c
			}
		}
		return len(la) - len(lb)
	}
	sign := func(x int) int { return max(-1, min(1, x)) }
	for _, a := range names {
		for _, b := range names {
			if got, w := sign(compareNames(a, b)), sign(want(a, b)); got != w {
				t.Errorf("compareNames(%q, %q) = %d, want %d", a, b, got, w)
			}
		}
	}
	sorted := slices.Clone(names)
	slices.SortFunc(sorted, compareNames)
	if sorted[0] != "." || sorted[1] != "ab.c." || sorted[len(sorted)-1] != "\\\\200.z.example.org." {
		t.Errorf("order: %q", sorted)
	}
	if n := testing.AllocsPerRun(100, func() { compareNames("a.example.org.", "b.example.org.") }); n != 0 {
		t.Errorf("compareNames allocates %v times", n)
	}
}
