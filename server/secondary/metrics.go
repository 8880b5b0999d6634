package secondary

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the secondary side's, named meridian_secondary_*. Labels are
// low-cardinality: the transfer kind and outcome, and the zone origin for
// the per-zone gauges (one series per zone kept). Those are made at each
// scrape from the current set of zones, so a removed zone's series go with
// it and nothing needs deleting.
type metrics struct {
	transfers *prometheus.CounterVec   // kind, outcome
	bytes     *prometheus.CounterVec   // kind
	duration  *prometheus.HistogramVec // kind
	notifies  *prometheus.CounterVec   // outcome
	refreshes *prometheus.CounterVec   // outcome

	serial, age, expiry *prometheus.Desc
	m                   *Manager
}

func newMetrics(reg prometheus.Registerer, m *Manager) (*metrics, error) {
	x := &metrics{
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_secondary_transfers_total",
			Help: "Incoming zone transfers by kind (axfr, ixfr) and outcome (ok, uptodate, invalid, failed).",
		}, []string{"kind", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_secondary_transfer_bytes_total",
			Help: "Bytes received by incoming zone transfers, by kind.",
		}, []string{"kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meridian_secondary_transfer_duration_seconds",
			Help:    "Duration of incoming zone transfers, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"kind"}),
		notifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_secondary_notifies_received_total",
			Help: "NOTIFY messages received for secondary zones, by outcome (accepted, refused, notauth, formerr).",
		}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_secondary_refreshes_total",
			Help: "Refresh attempts (SOA check over every primary, and transfer if needed), by outcome (ok, failed).",
		}, []string{"outcome"}),
		serial: prometheus.NewDesc("meridian_secondary_zone_serial",
			"Serial of the version held.", []string{"zone"}, nil),
		age: prometheus.NewDesc("meridian_secondary_zone_refresh_age_seconds",
			"Seconds since the last successful refresh.", []string{"zone"}, nil),
		expiry: prometheus.NewDesc("meridian_secondary_zone_expiry_seconds",
			"Seconds until the zone expires (0 once expired).", []string{"zone"}, nil),
		m: m,
	}
	for _, c := range []prometheus.Collector{x.transfers, x.bytes, x.duration, x.notifies, x.refreshes, x} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("secondary: metrics: %w", err)
		}
	}
	return x, nil
}

// Describe and Collect make the per-zone gauges, computed at scrape time
// from the injected clock, so they need no goroutine of their own.
func (x *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- x.serial
	ch <- x.age
	ch <- x.expiry
}

func (x *metrics) Collect(ch chan<- prometheus.Metric) {
	now := x.m.opts.Clock.Now()
	for _, z := range x.m.snapshot() {
		z.mu.Lock()
		cur, last := z.cur, z.lastOK
		exp, ok := x.m.expiresAt(z)
		z.mu.Unlock()
		if cur == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(x.serial, prometheus.GaugeValue, float64(cur.Serial()), z.origin)
		ch <- prometheus.MustNewConstMetric(x.age, prometheus.GaugeValue, now.Sub(last).Seconds(), z.origin)
		left := 0.0
		if ok {
			left = max(exp.Sub(now).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(x.expiry, prometheus.GaugeValue, left, z.origin)
	}
}
