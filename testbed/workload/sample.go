// Package workload generates the testbed's client queries and measures
// their latency: a deterministic sampler of names (Zipf or uniform over the
// leaf zones' names, with a share of names that do not exist) and a
// recorder of latencies with the percentiles the report prints.
package workload

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Config describes what a group of clients asks for.
type Config struct {
	// Names that exist, most popular first.
	Names []string
	// Zones under which to invent names that do not exist; required when
	// NXShare > 0.
	Zones []string
	// Exponent s of the Zipf law: the name of rank k is asked with weight
	// 1/k^s. Zero means uniform. Unlike math/rand's Zipf, any s > 0 is
	// allowed: measured DNS popularity has s near or below 1.
	Exponent float64
	// NXShare is the share of queries for names that do not exist.
	NXShare float64
	// Seed makes the sequence repeatable.
	Seed uint64
}

// Sampler draws query names. It is not safe for concurrent use: give each
// client its own, with its own seed, so that every run asks the same
// names in the same order.
type Sampler struct {
	names []string
	zones []string
	cdf   []float64 // cdf[i] = P(rank ≤ i)
	nx    float64
	rng   *rand.Rand
}

// NewSampler checks c and precomputes the distribution.
func NewSampler(c Config) (*Sampler, error) {
	switch {
	case len(c.Names) == 0 && c.NXShare < 1:
		return nil, errors.New("workload: no names to ask for")
	case c.Exponent < 0 || math.IsNaN(c.Exponent) || math.IsInf(c.Exponent, 0):
		return nil, fmt.Errorf("workload: bad Zipf exponent %v", c.Exponent)
	case !(c.NXShare >= 0 && c.NXShare <= 1):
		return nil, fmt.Errorf("workload: NX share %v not in [0, 1]", c.NXShare)
	case c.NXShare > 0 && len(c.Zones) == 0:
		return nil, errors.New("workload: an NX share needs zones to invent names in")
	}
	cdf := make([]float64, len(c.Names))
	sum := 0.0
	for i := range cdf {
		sum += math.Pow(float64(i+1), -c.Exponent)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return &Sampler{
		names: c.Names,
		zones: c.Zones,
		cdf:   cdf,
		nx:    c.NXShare,
		rng:   rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
	}, nil
}

// Next returns the next query name and whether it exists. A name that does
// not exist is new each time (nx-<random>.<zone>), so that it misses the
// caches as a typo or a random-subdomain query would.
func (s *Sampler) Next() (name string, exists bool) {
	if s.nx > 0 && s.rng.Float64() < s.nx {
		z := s.zones[s.rng.IntN(len(s.zones))]
		if z == "." {
			z = ""
		}
		return fmt.Sprintf("nx-%016x.%s", s.rng.Uint64(), z), false
	}
	return s.names[s.Rank(s.rng.Float64())], true
}

// Rank maps u in [0, 1) to the rank of a name under the distribution.
func (s *Sampler) Rank(u float64) int {
	i := sort.SearchFloat64s(s.cdf, u)
	return min(i, len(s.cdf)-1)
}
