package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// latencies returns n samples spread around mean.
func latencies(seed uint64, n int, mean time.Duration) []time.Duration {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(r.ExpFloat64() * float64(mean))
	}
	return out
}

func run(name string, seed uint64, cold, warm time.Duration) Run {
	return Run{
		Resolver: name,
		Latency: map[Phase][]time.Duration{
			Cold: latencies(seed, 500, cold), Warm: latencies(seed+1, 500, warm),
			Change: latencies(seed+2, 100, warm), CutOff: latencies(seed+3, 100, cold),
		},
		CacheHitRatio:    0.93,
		UpstreamPerQuery: 0.12,
		NearestShare:     0.97,
		ChangeSeen:       1200 * time.Millisecond,
	}
}

func sample() *Report {
	peer := run("unbound", 10, 300*time.Millisecond, 300*time.Microsecond)
	peer.NearestShare = math.NaN()
	return &Report{
		Title: "small topology, 10s per phase",
		Regions: []Region{
			{Name: "eu-west", PhysicalLimit: 160 * time.Millisecond, Limits: latencies(7, 500, 160*time.Millisecond), Meridian: run("meridian", 1, 200*time.Millisecond, 200*time.Microsecond), Peer: &peer},
			{Name: "us-east", PhysicalLimit: 120 * time.Millisecond, Meridian: run("meridian", 20, 150*time.Millisecond, 2*time.Microsecond)},
			{Name: "empty"}, // nothing measured: must not break either output
		},
		Change: "example.com. serial 2: host0.example.com. A moved",
		Seen: []Seen{
			{Server: "example.com-us-east", Role: "secondary", Region: "us-east", After: 313 * time.Millisecond, Bound: 10 * time.Second},
			{Server: "meridian-eu-west", Role: "resolver", Region: "eu-west", Bound: 70 * time.Second}, // never seen
		},
		Notes: []string{"a note with <markup> & an ampersand"},
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := sample().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	lines := strings.Split(out, "\n")
	head := strings.Fields(lines[2])
	if got, want := strings.Join(head, " "), strings.Join(Columns(), " "); got != want {
		t.Errorf("header\n%s\nwant\n%s", got, want)
	}
	// One row per region and resolver: eu-west twice, us-east, empty.
	for i, prefix := range []string{"eu-west", "eu-west", "us-east", "empty"} {
		row := strings.Fields(lines[3+i])
		if row[0] != prefix {
			t.Errorf("row %d starts %q, want %q", i, row[0], prefix)
		}
	}
	if !strings.Contains(lines[4], "unbound") || !strings.Contains(lines[4], " - ") {
		t.Errorf("peer row %q should name unbound and show - for its unknown nearest share", lines[4])
	}
	// The second table follows the blank line after the first.
	head = strings.Fields(lines[8])
	if got, want := strings.Join(head, " "), strings.Join(PhaseColumns(), " "); got != want {
		t.Errorf("second header\n%s\nwant\n%s", got, want)
	}
	if row := strings.Fields(lines[9]); len(row) != len(PhaseColumns())+4 { // 4 cells hold "N ms"
		t.Errorf("change row %q has %d fields", lines[9], len(row))
	}
	for _, want := range []string{"zone change: example.com. serial 2", "example.com-us-east  secondary", "313ms", "not seen", "* a note with <markup>"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q", want)
		}
	}
}

func TestHTML(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	r := sample()
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, bad := range []string{"<script", " src=", "<link", "<?xml"} {
		if strings.Contains(html, bad) {
			t.Errorf("HTML contains %q: not self-contained", bad)
		}
	}
	// Well-formed: the page is XML as well as HTML, so parse it strictly.
	d := xml.NewDecoder(strings.NewReader(html))
	d.Strict = true
	svgs := map[string]int{} // section id → SVG elements in it
	section := ""
	tables := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("HTML is not well-formed: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "section":
				for _, a := range el.Attr {
					if a.Name.Local == "id" {
						section = a.Value
					}
				}
			case "svg":
				svgs[section]++
			case "table":
				tables++
			}
		case xml.EndElement:
			if el.Name.Local == "section" {
				section = ""
			}
		}
	}
	if tables != 3 {
		t.Errorf("%d tables, want 3 (latency, phases, zone change)", tables)
	}
	if !strings.Contains(html, "&lt;markup&gt; &amp; an ampersand") {
		t.Error("the notes are not in the HTML, escaped")
	}
	if len(svgs) != len(r.Regions) {
		t.Errorf("SVGs in sections %v, want one in each of %d regions", svgs, len(r.Regions))
	}
	for _, g := range r.Regions {
		if n := svgs["region-"+g.Name]; n != 1 {
			t.Errorf("region %s has %d SVG plots, want 1", g.Name, n)
		}
	}
	for _, legend := range []string{"meridian cold", "meridian warm", "unbound cold", "physical limit (cold)"} {
		if !strings.Contains(html, legend) {
			t.Errorf("no legend %q in the plots", legend)
		}
	}
}
