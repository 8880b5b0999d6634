package workload

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/testbed/topology"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("host%d.example.", i)
	}
	return out
}

func TestSamplerDeterministic(t *testing.T) {
	t.Parallel()
	c := Config{Names: names(100), Zones: []string{"example."}, Exponent: 1.1, NXShare: 0.1, Seed: 7}
	a, _ := NewSampler(c)
	b, _ := NewSampler(c)
	c.Seed = 8
	other, _ := NewSampler(c)
	same := true
	for range 1000 {
		x, _ := a.Next()
		y, _ := b.Next()
		z, _ := other.Next()
		if x != y {
			t.Fatalf("same seed, different names: %q, %q", x, y)
		}
		same = same && x == z
	}
	if same {
		t.Error("different seeds gave the same sequence")
	}
}

func TestSamplerDistribution(t *testing.T) {
	t.Parallel()
	const n, draws = 50, 200000
	tests := []struct {
		exponent, nx float64
	}{{1.0, 0.05}, {0.8, 0}, {0, 0.2}, {1.5, 0}}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.exponent, "/", tc.nx), func(t *testing.T) {
			t.Parallel()
			s, err := NewSampler(Config{Names: names(n), Zones: []string{"example."}, Exponent: tc.exponent, NXShare: tc.nx, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			nx := 0
			for range draws {
				name, ok := s.Next()
				if !ok {
					nx++
					if !strings.HasPrefix(name, "nx-") || !strings.HasSuffix(name, ".example.") {
						t.Fatalf("NX name %q", name)
					}
					continue
				}
				count[name]++
			}
			if got := float64(nx) / draws; math.Abs(got-tc.nx) > 0.01 {
				t.Errorf("NX share %.3f, want %.3f", got, tc.nx)
			}
			h := 0.0
			for k := 1; k <= n; k++ {
				h += math.Pow(float64(k), -tc.exponent)
			}
			for _, k := range []int{1, 2, 10, 50} {
				want := math.Pow(float64(k), -tc.exponent) / h * (1 - tc.nx)
				got := float64(count[fmt.Sprintf("host%d.example.", k-1)]) / draws
				if math.Abs(got-want) > 0.1*want+0.001 {
					t.Errorf("rank %d asked %.4f of the time, want %.4f", k, got, want)
				}
			}
		})
	}
}

func TestSamplerErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{},
		{Names: names(1), Exponent: -1},
		{Names: names(1), NXShare: 1.5},
		{Names: names(1), NXShare: 0.1},
	} {
		if _, err := NewSampler(c); err == nil {
			t.Errorf("NewSampler(%+v) succeeded", c)
		}
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	var r Recorder
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < 100; i += 4 {
				r.Add(time.Duration(100-i) * time.Millisecond) // 1..100 ms
			}
		})
	}
	wg.Wait()
	s := r.Summary()
	want := Summary{N: 100, Mean: 50500 * time.Microsecond, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond,
		P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if s != want {
		t.Errorf("Summary = %+v, want %+v", s, want)
	}
	if got := Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one sample = %v", got)
	}
	if got := (&Recorder{}).Summary(); got != (Summary{}) {
		t.Errorf("empty Summary = %+v", got)
	}
}

func TestForClient(t *testing.T) {
	t.Parallel()
	top, err := topology.Default()
	if err != nil {
		t.Fatal(err)
	}
	c := top.Clients[0]
	a, err := ForClient(top, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ForClient(top, c, 1)
	if a.Seed == b.Seed || a.Exponent != c.Exponent || a.NXShare != c.NXShare || len(a.Names) != 650 || len(a.Zones) != 4 {
		t.Errorf("configs %+v / %+v", a, b)
	}
	s, err := NewSampler(a)
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := s.Next(); !strings.HasSuffix(name, ".") {
		t.Errorf("name %q not fully qualified", name)
	}
}
