package workload

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Recorder collects latencies from concurrent clients. It keeps every
// sample (a phase is at most some tens of thousands of queries) so that
// percentiles are exact and the report can draw the whole distribution.
type Recorder struct {
	mu      sync.Mutex
	samples []time.Duration
}

// Add records one latency.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, d)
	r.mu.Unlock()
}

// Samples returns a sorted copy of the latencies recorded so far.
func (r *Recorder) Samples() []time.Duration {
	r.mu.Lock()
	s := slices.Clone(r.samples)
	r.mu.Unlock()
	slices.Sort(s)
	return s
}

// Summary is the latency distribution of a phase, as the report prints it.
type Summary struct {
	N                        int
	Mean, P50, P90, P99, Max time.Duration
}

// Summary summarises the latencies recorded so far.
func (r *Recorder) Summary() Summary { return Summarize(r.Samples()) }

// Summarize summarises samples, which must be sorted.
func Summarize(sorted []time.Duration) Summary {
	if len(sorted) == 0 {
		return Summary{}
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return Summary{
		N:    len(sorted),
		Mean: sum / time.Duration(len(sorted)),
		P50:  Percentile(sorted, 50),
		P90:  Percentile(sorted, 90),
		P99:  Percentile(sorted, 99),
		Max:  sorted[len(sorted)-1],
	}
}

// Percentile returns the p-th percentile of sorted samples by the
// nearest-rank method: the smallest sample with at least p% of the samples
// at or below it. It is always one of the samples, never an interpolation.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// p*n/100 rather than p/100*n: 90*100/100 is exactly 90, while
	// 0.9*100 is 90.00000000000001 and would round up to the next rank.
	rank := int(math.Ceil(p * float64(len(sorted)) / 100))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
