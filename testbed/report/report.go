// Package report renders the geo testbed's measurements (issue 5): per
// region and phase the client latencies, the cache hit ratio, the upstream
// queries per client query, the share sent to the nearest replica and the
// physical limit, for Meridian and optionally a peer resolver (Unbound).
// It writes them as text tables for the terminal and as one self-contained
// HTML file whose SVG plots show where the latency went. It measures
// nothing itself.
package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meridian-dns/meridian/testbed/workload"
)

// Phase is a phase of the workload.
type Phase string

// The phases, in the order they run.
const (
	Cold   Phase = "cold"    // empty caches
	Warm   Phase = "warm"    // the same workload again
	Change Phase = "change"  // after a zone change at a primary
	CutOff Phase = "cut-off" // with one region's servers cut off
)

// Report is everything measured in one `meridian testbed -report` run.
type Report struct {
	// Title says what was run ("default topology, 30s per phase").
	Title   string
	Regions []Region
	// Change is what the zone change phase edited ("example.com. serial
	// 2: host0.example.com. A moved"), and Seen when each server saw it.
	Change string
	Seen   []Seen
	// Notes are printed under the tables: how the figures were taken,
	// and anything that was skipped and why.
	Notes []string
}

// Seen is when one server saw the zone change: a secondary serving the
// new serial, or a resolver answering with the new data.
type Seen struct {
	Server, Role, Region string
	// After is the time from the primary's reload; 0 means never within
	// the phase's bound.
	After time.Duration
	// Bound is the time allowed: NOTIFY and transfer for a secondary,
	// plus the record's TTL for a resolver.
	Bound time.Duration
}

// Region holds one region's results.
type Region struct {
	Name string
	// Limits are the physical limits of the cold questions, one per
	// question: the round trips to the nearest replica of each zone cut
	// an ideal cache would not yet hold when it was asked (zero for a
	// name already asked). No resolver can beat them.
	Limits []time.Duration
	// PhysicalLimit is their mean. The cold ratio compares the mean cold
	// latency with it: the same as the ratio of the total time the cold
	// workload took to the least total it could have taken.
	PhysicalLimit time.Duration
	// Meridian is the run through Meridian's resolver in this region.
	Meridian Run
	// Peer is the same workload through another resolver (Unbound) in
	// the same region, or nil when there was no comparison.
	Peer *Run
}

// Run is one resolver's results in one region.
type Run struct {
	// Resolver names it in tables and legends: "meridian", "unbound".
	Resolver string
	// Latency holds the client latencies of each phase.
	Latency map[Phase][]time.Duration
	// CacheHitRatio is the share of client queries answered from cache.
	CacheHitRatio float64
	// UpstreamPerQuery is the number of queries sent to authoritative
	// servers per client query.
	UpstreamPerQuery float64
	// NearestShare is the share of upstream queries sent to the nearest
	// replica of the zone asked; NaN when the resolver does not say
	// (Unbound exposes no such count).
	NearestShare float64
	// ChangeSeen is how long after the zone change this region's
	// resolver answered with the new data; 0 when not measured.
	ChangeSeen time.Duration
	// Failed counts, per phase, the client questions that got no answer
	// in time or a SERVFAIL.
	Failed map[Phase]int
	// Stale counts, per phase, the answers the resolver served from
	// expired data (RFC 8767), by its own counters.
	Stale map[Phase]int
}

// Columns are the headers of the main table, in order.
func Columns() []string {
	return []string{"region", "resolver",
		"cold p50", "cold p90", "cold p99", "warm p50", "warm p90", "warm p99",
		"hit ratio", "upstream/query", "nearest share", "cold mean", "phys. limit", "cold/limit"}
}

// PhaseColumns are the headers of the table of the change and cut-off
// phases, in order.
func PhaseColumns() []string {
	return []string{"region", "resolver", "change p50", "change p99", "change seen after", "cut-off p50", "cut-off p99", "cut-off n", "cut-off stale", "cut-off failed"}
}

// runs returns the region's runs, Meridian first.
func (g *Region) runs() []*Run {
	if g.Peer != nil {
		return []*Run{&g.Meridian, g.Peer}
	}
	return []*Run{&g.Meridian}
}

// name is the run's resolver, "meridian" if unset.
func (r *Run) name() string {
	if r.Resolver == "" {
		return "meridian"
	}
	return r.Resolver
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// summary summarises a phase's latencies.
func (r *Run) summary(p Phase) workload.Summary {
	s := append([]time.Duration(nil), r.Latency[p]...)
	sortDurations(s)
	return workload.Summarize(s)
}

// rows returns the main table's cells, one row per region and resolver.
func (r *Report) rows() [][]string {
	var out [][]string
	for i := range r.Regions {
		g := &r.Regions[i]
		for _, run := range g.runs() {
			cold, warm := run.summary(Cold), run.summary(Warm)
			ratio := "-"
			if g.PhysicalLimit > 0 && cold.N > 0 {
				ratio = fmt.Sprintf("%.2f", float64(cold.Mean)/float64(g.PhysicalLimit))
			}
			out = append(out, []string{g.Name, run.name(),
				ms(cold.P50, cold.N), ms(cold.P90, cold.N), ms(cold.P99, cold.N),
				ms(warm.P50, warm.N), ms(warm.P90, warm.N), ms(warm.P99, warm.N),
				percent(run.CacheHitRatio), fmt.Sprintf("%.2f", run.UpstreamPerQuery), percent(run.NearestShare),
				ms(cold.Mean, cold.N), ms(g.PhysicalLimit, boolInt(g.PhysicalLimit > 0)), ratio})
		}
	}
	return out
}

// phaseRows returns the cells of the change and cut-off table.
func (r *Report) phaseRows() [][]string {
	var out [][]string
	for i := range r.Regions {
		g := &r.Regions[i]
		for _, run := range g.runs() {
			ch, cut := run.summary(Change), run.summary(CutOff)
			seen := "-"
			if run.ChangeSeen > 0 {
				seen = run.ChangeSeen.Round(time.Millisecond).String()
			}
			out = append(out, []string{g.Name, run.name(), ms(ch.P50, ch.N), ms(ch.P99, ch.N), seen,
				ms(cut.P50, cut.N), ms(cut.P99, cut.N), fmt.Sprint(cut.N), fmt.Sprint(run.Stale[CutOff]), fmt.Sprint(run.Failed[CutOff])})
		}
	}
	return out
}

// SeenColumns are the headers of the table of when each server saw the
// zone change.
func SeenColumns() []string { return []string{"server", "role", "region", "seen after", "bound"} }

// seenRows returns the cells of the zone change table.
func (r *Report) seenRows() [][]string {
	var out [][]string
	for _, s := range r.Seen {
		after := "not seen"
		if s.After > 0 {
			after = s.After.Round(time.Millisecond).String()
		}
		out = append(out, []string{s.Server, s.Role, s.Region, after, s.Bound.Round(time.Millisecond).String()})
	}
	return out
}

// WriteText writes the report as aligned text tables.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.Title != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Title)
	}
	table(&b, Columns(), r.rows())
	b.WriteString("\n")
	table(&b, PhaseColumns(), r.phaseRows())
	if len(r.Seen) > 0 {
		fmt.Fprintf(&b, "\nzone change: %s\n", r.Change)
		table(&b, SeenColumns(), r.seenRows())
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "* %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func table(b *strings.Builder, head []string, rows [][]string) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}

// ms formats a latency in milliseconds, "-" when there were no samples.
func ms(d time.Duration, n int) string {
	switch {
	case n == 0:
		return "-"
	case d < time.Millisecond: // warm answers: keep the microseconds
		return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func percent(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}
