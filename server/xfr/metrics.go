package xfr

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/zone/serial"
)

// metrics are the primary's counters; the lag gauges are computed when
// scraped (Collect), since the lag in seconds grows between events.
type metrics struct {
	transfers  *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	notifies   *prometheus.CounterVec
	lagSerials *prometheus.Desc
	lagSeconds *prometheus.Desc
	p          *Primary
}

func newMetrics(reg prometheus.Registerer, p *Primary) (*metrics, error) {
	m := &metrics{
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_xfr_transfers_out_total",
			Help: "Outgoing zone transfers by kind (axfr, ixfr) and outcome (success, refused, error).",
		}, []string{"kind", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_xfr_transfer_out_bytes_total",
			Help: "DNS message bytes sent in outgoing zone transfers, by kind.",
		}, []string{"kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meridian_xfr_transfer_out_duration_seconds",
			Help:    "Time to answer an outgoing zone transfer, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"kind"}),
		notifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_xfr_notifies_sent_total",
			Help: "NOTIFY messages sent, by outcome (acknowledged, error); abandoned counts targets given up on.",
		}, []string{"outcome"}),
		lagSerials: prometheus.NewDesc("meridian_xfr_secondary_lag_serials",
			"How many serials a secondary is behind, from its last IXFR request or finished AXFR.",
			[]string{"secondary", "zone"}, nil),
		lagSeconds: prometheus.NewDesc("meridian_xfr_secondary_lag_seconds",
			"Seconds since the first version the secondary lacks was published; 0 when up to date.",
			[]string{"secondary", "zone"}, nil),
		p: p,
	}
	for _, c := range []prometheus.Collector{m.transfers, m.bytes, m.duration, m.notifies, m} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) transfer(kind, outcome string, bytes int, d time.Duration) {
	m.transfers.WithLabelValues(kind, outcome).Inc()
	m.bytes.WithLabelValues(kind).Add(float64(bytes))
	m.duration.WithLabelValues(kind).Observe(d.Seconds())
}

// Describe implements prometheus.Collector for the lag gauges.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.lagSerials
	ch <- m.lagSeconds
}

// Collect implements prometheus.Collector: one pair of gauges per tracked
// secondary whose serial is known.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	p := m.p
	now := p.now()
	zones := *p.zones.Load()
	p.lagMu.Lock()
	defer p.lagMu.Unlock()
	for k, st := range p.lag {
		zs := zones[k.zone]
		if !st.known || zs == nil || zs.cur.Load() == nil {
			continue
		}
		cur := zs.cur.Load().Serial()
		behind, ok := serial.Distance(st.serial, cur)
		if !ok {
			behind = 0 // ahead of us, or undefined: not lagging by our count
		}
		secs := 0.0
		if behind > 0 {
			secs = now.Sub(zs.lackingSince(st.serial)).Seconds()
		}
		addr := k.addr.String()
		ch <- prometheus.MustNewConstMetric(m.lagSerials, prometheus.GaugeValue, float64(behind), addr, k.zone)
		ch <- prometheus.MustNewConstMetric(m.lagSeconds, prometheus.GaugeValue, secs, addr, k.zone)
	}
}

// lackingSince returns when the oldest version newer than s was published,
// as far as the history reaches.
func (zs *zoneState) lackingSince(s uint32) time.Time {
	zs.mu.Lock()
	defer zs.mu.Unlock()
	for _, h := range zs.history {
		if serial.Less(s, h.serial) {
			return h.at
		}
	}
	if len(zs.history) > 0 {
		return zs.history[len(zs.history)-1].at
	}
	return time.Time{}
}
