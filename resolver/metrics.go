package resolver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the resolver's own; the cache and the infrastructure cache
// register theirs (meridian_resolver_cache_*, meridian_resolver_upstream_*)
// on the same Registerer.
type metrics struct {
	latency    *prometheus.HistogramVec // by source: cache, upstream, stale, none
	byLatency  [len(sourceNames)]prometheus.Observer
	upstreams  *prometheus.CounterVec // by outcome: rcode name, timeout, unreachable, error, noedns, avoided
	joins      prometheus.Counter
	prefetches prometheus.Counter
	stales     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meridian_resolver_response_duration_seconds",
			Help: "Time to answer a client's recursive question, by where the answer came from (cache, upstream, stale, none).",
			// From a cache hit (microseconds) to a cold resolution across
			// continents (hundreds of milliseconds) and timeouts.
			Buckets: prometheus.ExponentialBuckets(25e-6, 2.5, 14),
		}, []string{"source"}),
		upstreams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_resolver_upstream_queries_total",
			Help: "Queries sent to authoritative servers or forwarders, by outcome (the response code, timeout, unreachable, error or noedns; avoided counts queries not sent because every server was being avoided after timeouts).",
		}, []string{"outcome"}),
		joins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_resolver_inflight_joins_total",
			Help: "Client questions that joined an identical resolution already under way instead of starting one.",
		}),
		prefetches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_resolver_prefetches_total",
			Help: "Background refreshes started for entries hit in the last tenth of their TTL.",
		}),
		stales: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_resolver_stale_answers_total",
			Help: "Answers served from expired data (RFC 8767).",
		}),
	}
	for _, c := range []prometheus.Collector{m.latency, m.upstreams, m.joins, m.prefetches, m.stales} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for i, s := range sourceNames {
		m.byLatency[i] = m.latency.WithLabelValues(s)
	}
	return m, nil
}

func (m *metrics) answered(s Source, d time.Duration) {
	m.byLatency[s].Observe(d.Seconds())
	if s == FromStale {
		m.stales.Inc()
	}
}

func (m *metrics) upstream(outcome string) { m.upstreams.WithLabelValues(outcome).Inc() }
