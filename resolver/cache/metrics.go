package cache

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// register exports the cache's counters on reg. The collectors read the
// counters when scraped, so a hit costs one atomic add on its shard and no
// Prometheus call.
func (c *Cache) register(reg prometheus.Registerer) error {
	stat := func(f func(Stats) float64) func() float64 {
		return func() float64 { return f(c.Stats()) }
	}
	collectors := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meridian_resolver_cache_hits_total",
			Help: "Client questions answered from fresh cached data.",
		}, stat(func(s Stats) float64 { return float64(s.Hits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meridian_resolver_cache_misses_total",
			Help: "Client questions the cache could not answer fresh, so that resolution was needed.",
		}, stat(func(s Stats) float64 { return float64(s.Misses) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meridian_resolver_cache_stale_hits_total",
			Help: "Client questions answered with expired data (RFC 8767 serve-stale).",
		}, stat(func(s Stats) float64 { return float64(s.StaleHits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meridian_resolver_cache_evictions_total",
			Help: "Cache entries evicted to stay within the configured size.",
		}, stat(func(s Stats) float64 { return float64(s.Evictions) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meridian_resolver_cache_entries",
			Help: "RRsets and negative answers held, expired ones kept for serve-stale included.",
		}, func() float64 { return float64(c.Len()) }),
	}
	for _, col := range collectors {
		if err := reg.Register(col); err != nil {
			return fmt.Errorf("cache: registering metrics: %w", err)
		}
	}
	return nil
}
