package zone

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// want is one expected problem: line 0 for problems of the whole zone.
type want struct {
	line int
	sev  Severity
	msg  string
}

// TestCheckBadFiles loads every file of testdata/zones/bad and checks the
// exact problems, with file, line and severity. Each file's first line says
// what it breaks.
func TestCheckBadFiles(t *testing.T) {
	t.Parallel()
	E, W := Error, Warning
	tests := map[string][]want{
		"no-soa.zone":               {{0, E, "has no SOA record"}},
		"two-soa.zone":              {{6, E, "more than one SOA"}},
		"soa-not-apex.zone":         {{6, E, "not at the zone apex"}},
		"no-apex-ns.zone":           {{0, E, "no NS records at its apex"}},
		"out-of-zone.zone":          {{6, E, "out-of-zone data: www.example.net."}},
		"cname-and-other.zone":      {{7, E, "CNAME and other data at www.example.com."}},
		"two-cnames.zone":           {{7, E, "more than one CNAME"}},
		"two-dnames.zone":           {{7, E, "more than one DNAME"}},
		"bad-rdata.zone":            {{6, E, `bad A A: "192.0.2"`}},
		"bad-class.zone":            {{6, E, "class CH"}},
		"missing-glue.zone":         {{6, E, "ns.child.example.com. is below the delegation at child.example.com. and has no glue"}},
		"missing-sibling-glue.zone": {{6, E, "ns.b.example.com. is below the delegation at b.example.com. and has no glue"}},
		"apex-ns-no-address.zone":   {{6, E, "ns2.example.com. has no address records"}},
		"ns-cname.zone":             {{6, E, "ns2.example.com. is a CNAME"}},
		"empty-rdata.zone":          {{6, E, "has no data"}},
		"syntax-paren.zone":         {{6, E, "unbalanced brace"}},
		"syntax-type.zone":          {{6, E, `not a TTL: "BOGUS"`}},
		"include-escape.zone":       {{6, E, "outside the zone file's directory"}},
		"include-absolute.zone":     {{6, E, "$INCLUDE /etc/hostname: outside the zone file's directory"}},
		"include-missing.zone":      {{6, E, "no-such-file.inc: no such file"}},
		"generate-dollar.zone":      {{6, E, "literal '$'"}},
		"warn-occluded.zone": {
			{8, W, "www.child.example.com./TXT is occluded by the delegation at child.example.com."},
			{9, W, "child.example.com./MX is occluded by the delegation"},
			{10, W, "deep.child.example.com./NS is occluded by the delegation"},
		},
		"warn-dname-occluded.zone": {{7, W, "www.old.example.com./A is occluded by the DNAME at old.example.com."}},
		"warn-unneeded-glue.zone":  {{7, W, "unneeded glue ns.child.example.com./A"}},
		"warn-duplicate.zone":      {{7, W, "duplicate record WWW.EXAMPLE.COM./A dropped (first at line 6)"}},
		"warn-mixed-ttl.zone":      {{7, W, "different TTLs; all set to the lowest, 300"}},
		"warn-no-ttl.zone":         {{2, W, "using the SOA MINIMUM 300"}},
	}
	dir := filepath.Join("..", "testdata", "zones", "bad")
	files, _ := filepath.Glob(filepath.Join(dir, "*.zone"))
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expectations in this table", f)
		}
	}
	for name, wants := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(dir, name)
			z, problems, err := Load("example.com", file, LoadOptions{})
			if len(problems) != len(wants) {
				t.Fatalf("problems %v, want %d", problems, len(wants))
			}
			for i, w := range wants {
				p := problems[i]
				if p.File != file || p.Line != w.line || p.Severity != w.sev || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d: %v; want %s:%d: %v: ...%s...", i, p, file, w.line, w.sev, w.msg)
				}
			}
			if isErr := slices.ContainsFunc(wants, func(w want) bool { return w.sev == Error }); isErr != (err != nil) || isErr != (z == nil) {
				t.Errorf("zone %v, error %v; want an error: %v", z != nil, err, isErr)
			}
		})
	}
}

// recsOf parses one record per string, placing each on line i+1 of t.zone.
func recsOf(t *testing.T, lines ...string) []Record {
	t.Helper()
	var out []Record
	for i, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, Record{RR: rr, File: "t.zone", Line: i + 1})
	}
	return out
}

const (
	apexSOA = "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300"
	apexNS  = "example.com. 3600 IN NS ns1.example.com."
	ns1A    = "ns1.example.com. 3600 IN A 192.0.2.1"
)

func TestCheckCleans(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []string
		want  []string // the output, as RR strings
		probs []string // the problems, "line severity"
	}{
		{"duplicates: case-insensitive, TTL ignored, first kept",
			[]string{apexSOA, apexNS, ns1A, "www.example.com. 300 IN NS ns1.example.com.", "WWW.Example.COM. 300 IN NS NS1.EXAMPLE.COM."},
			[]string{apexSOA, apexNS, ns1A, "www.example.com.\t300\tIN\tNS\tns1.example.com."},
			[]string{"5 warning"}},
		{"TXT differing in case is not a duplicate",
			[]string{apexSOA, apexNS, ns1A, `t.example.com. 300 IN TXT "a"`, `t.example.com. 300 IN TXT "A"`},
			[]string{apexSOA, apexNS, ns1A, "t.example.com.\t300\tIN\tTXT\t\"a\"", "t.example.com.\t300\tIN\tTXT\t\"A\""},
			nil},
		{"mixed TTLs take the lowest, RRSIGs exempt",
			[]string{apexSOA, apexNS, ns1A, "a.example.com. 600 IN A 192.0.2.2", "a.example.com. 60 IN A 192.0.2.3",
				"a.example.com. 600 IN RRSIG A 13 3 600 20300101000000 20240101000000 1 example.com. AAAA",
				"a.example.com. 30 IN RRSIG AAAA 13 3 30 20300101000000 20240101000000 1 example.com. AAAA"},
			[]string{apexSOA, apexNS, ns1A, "a.example.com.\t60\tIN\tA\t192.0.2.2", "a.example.com.\t60\tIN\tA\t192.0.2.3",
				"a.example.com.\t600\tIN\tRRSIG\tA 13 3 600 20300101000000 20240101000000 1 example.com. AAAA",
				"a.example.com.\t30\tIN\tRRSIG\tAAAA 13 3 30 20300101000000 20240101000000 1 example.com. AAAA"},
			[]string{"5 warning"}},
		{"a second SOA is dropped",
			[]string{apexSOA, apexNS, ns1A, strings.Replace(apexSOA, " 1 7200", " 2 7200", 1)},
			[]string{apexSOA, apexNS, ns1A},
			[]string{"4 error"}},
		{"CNAME beside RRSIG and NSEC",
			[]string{apexSOA, apexNS, ns1A, "w.example.com. 300 IN CNAME ns1.example.com.",
				"w.example.com. 300 IN RRSIG CNAME 13 3 300 20300101000000 20240101000000 1 example.com. AAAA",
				"w.example.com. 300 IN NSEC x.example.com. CNAME RRSIG NSEC"},
			nil, nil},
		{"glue at the cut itself, DS and NSEC at the cut",
			[]string{apexSOA, apexNS, ns1A, "c.example.com. 300 IN NS c.example.com.", "c.example.com. 300 IN A 192.0.2.4",
				"c.example.com. 300 IN DS 1 13 2 AAAA", "c.example.com. 300 IN NSEC d.example.com. NS DS RRSIG NSEC"},
			nil, nil},
		{"occluded NS below a cut does not need glue",
			[]string{apexSOA, apexNS, ns1A, "c.example.com. 300 IN NS ns.example.net.", "d.c.example.com. 300 IN NS ns.d.c.example.com."},
			nil, []string{"5 warning"}},
		{"apex NS target under a cut needs glue",
			[]string{apexSOA, apexNS, ns1A, "example.com. 3600 IN NS ns.c.example.com.", "c.example.com. 300 IN NS ns.example.net."},
			nil, []string{"4 error"}},
		{"NS target out of the zone needs nothing",
			[]string{apexSOA, apexNS, ns1A, "example.com. 3600 IN NS ns.example.net.", "c.example.com. 300 IN NS ns.example.org."},
			nil, nil},
		{"data below an apex DNAME is occluded",
			[]string{apexSOA, apexNS, "example.com. 3600 IN DNAME example.net.", ns1A},
			nil, []string{"4 warning"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs := recsOf(t, tt.lines...)
			before := make([]string, len(recs))
			for i, r := range recs {
				before[i] = r.RR.String()
			}
			rrs, problems := Check("example.com.", recs)
			var got []string
			for _, p := range problems {
				got = append(got, fmt.Sprintf("%d %v", p.Line, p.Severity))
			}
			if !slices.Equal(got, tt.probs) {
				t.Errorf("problems %v, want %v", problems, tt.probs)
			}
			if tt.want == nil {
				return
			}
			got = got[:0]
			for _, rr := range rrs {
				got = append(got, rr.String())
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				rr, err := dns.NewRR(w)
				if err != nil {
					t.Fatal(err)
				}
				want[i] = rr.String()
			}
			if !slices.Equal(got, want) {
				t.Errorf("records:\n got %q\nwant %q", got, want)
			}
			for i, r := range recs {
				if r.RR.String() != before[i] {
					t.Errorf("input record %d changed: %v", i, r.RR)
				}
			}
		})
	}
}

// bigZone writes a zone of n names with a delegation every 100 names and
// large RRsets, to time Check and show it stays about linear.
func bigZone(n int) string {
	var b strings.Builder
	b.WriteString("$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n")
	for i := range n {
		switch {
		case i%100 == 0:
			fmt.Fprintf(&b, "d%d NS ns.d%d\nns.d%d A 192.0.2.%d\n", i, i, i, i%250)
		case i%1000 == 1:
			for j := range 50 {
				fmt.Fprintf(&b, "big%d TXT \"t%d\"\n", i, j)
			}
		default:
			fmt.Fprintf(&b, "h%d.sub%d A 10.%d.%d.%d\n", i, i%7, i>>16&255, i>>8&255, i&255)
		}
	}
	return b.String()
}

func TestCheckScales(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short")
	}
	text := bigZone(200_000)
	recs, problems := Parse(strings.NewReader(text), "example.com.", "big.zone", LoadOptions{})
	if len(problems) > 0 {
		t.Fatal(problems[0])
	}
	start := time.Now()
	rrs, problems := Check("example.com.", recs)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Check of %d records took %v", len(recs), d)
	}
	if len(problems) > 0 || len(rrs) != len(recs) {
		t.Errorf("%d problems (%v), %d of %d records", len(problems), problems, len(rrs), len(recs))
	}
}

// BenchmarkParseCheck1M measures Parse and Check on a zone of a million
// names (go test -run=NONE -bench=ParseCheck ./zone).
func BenchmarkParseCheck1M(b *testing.B) {
	text := bigZone(1_000_000)
	for b.Loop() {
		recs, _ := Parse(strings.NewReader(text), "example.com.", "big.zone", LoadOptions{})
		start := time.Now()
		Check("example.com.", recs)
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "check-ms")
		b.ReportMetric(float64(len(recs)), "records")
	}
}
