package server

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/zone"
)

// Label values used when there is nothing better.
const (
	noZone        = "none"      // no zone answered (REFUSED, FORMERR, ...); origins end in a dot, so no clash
	recursiveZone = "recursive" // what a resolver (Options.Resolver) answered
	noType        = "none"      // the query had no question
	other         = "other"     // a qtype or rcode outside the bounded sets below
	udpName       = "udp"
	tcpName       = "tcp"
)

// Reasons for dropping a query without an answer.
const (
	dropResponse  = iota // QR=1: answering a response invites loops
	dropMalformed        // shorter than a DNS header
	nDrop
)

var dropNames = [nDrop]string{"response", "malformed"}

// The bounded sets of qtype and rcode label values: anything else counts as
// "other", so a client cannot create series (or cache entries) at will.
var (
	qtypeLabels = []string{noType, other} // by qtypeIndex
	qtypeIndex  = map[uint16]uint8{}
	rcodeLabels = []string{other} // by rcodeIndex
	rcodeIndex  = map[int]uint8{}
)

func init() {
	for _, t := range []uint16{
		dns.TypeA, dns.TypeNS, dns.TypeCNAME, dns.TypeSOA, dns.TypePTR, dns.TypeMX,
		dns.TypeTXT, dns.TypeAAAA, dns.TypeSRV, dns.TypeNAPTR, dns.TypeDNAME, dns.TypeDS,
		dns.TypeSSHFP, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY, dns.TypeNSEC3,
		dns.TypeNSEC3PARAM, dns.TypeTLSA, dns.TypeCDS, dns.TypeCDNSKEY, dns.TypeSVCB,
		dns.TypeHTTPS, dns.TypeCAA, dns.TypeIXFR, dns.TypeAXFR, dns.TypeANY,
	} {
		qtypeIndex[t] = uint8(len(qtypeLabels))
		qtypeLabels = append(qtypeLabels, dns.TypeToString[t])
	}
	for _, rc := range []int{
		dns.RcodeSuccess, dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeNameError,
		dns.RcodeNotImplemented, dns.RcodeRefused, dns.RcodeYXDomain, dns.RcodeBadVers,
	} {
		rcodeIndex[rc] = uint8(len(rcodeLabels))
		rcodeLabels = append(rcodeLabels, dns.RcodeToString[rc])
	}
}

// labelKey packs the label indexes of qtype (-1: no question), rcode and
// transport into a cache key.
func labelKey(qtype, rcode int, tcp bool) uint32 {
	qi := uint32(0) // noType
	if qtype >= 0 {
		qi = 1 // other
		if i, ok := qtypeIndex[uint16(qtype)]; ok {
			qi = uint32(i)
		}
	}
	ri := uint32(rcodeIndex[rcode]) // 0, other, when absent
	return qi<<16 | ri<<8 | uint32(transport(tcp))
}

// metrics holds the server's collectors, registered on the injected
// Registerer. Per-query updates do not allocate: the counters of each
// (zone, qtype, rcode, transport) are looked up once and cached.
type metrics struct {
	queries     *prometheus.CounterVec
	duration    [2]prometheus.Observer // by transport: udp, tcp
	size        [2]prometheus.Observer
	truncated   prometheus.Counter
	dropped     [nDrop]prometheus.Counter
	tcpConns    prometheus.Gauge
	tcpRejected prometheus.Counter
	serial      *prometheus.GaugeVec
	records     *prometheus.GaugeVec
	failed      *prometheus.GaugeVec
	reloads     *prometheus.CounterVec

	// Resolver mode; registered only then.
	aclRefused prometheus.Counter
	recursions prometheus.Gauge
	overflows  [2]prometheus.Counter // by transport

	mu    sync.Mutex                               // serialises setZones
	zones atomic.Pointer[map[string]*zoneCounters] // by origin, noZone included
}

func newMetrics(reg prometheus.Registerer, recursive bool) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_server_queries_total",
			Help: "Queries answered, by zone (\"none\" when no zone answered), query type, response code and transport.",
		}, []string{"zone", "qtype", "rcode", "transport"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_server_truncated_responses_total",
			Help: "Responses sent with TC=1 because they did not fit the client's size.",
		}),
		tcpConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_server_tcp_connections",
			Help: "TCP connections open now.",
		}),
		tcpRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_server_tcp_rejected_connections_total",
			Help: "TCP connections closed at once because the connection limit was reached.",
		}),
		serial: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_zone_serial",
			Help: "SOA serial of the zone version being served (0 when the zone failed to load).",
		}, []string{"zone"}),
		records: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_zone_records",
			Help: "Resource records in the zone version being served, RRSIGs included.",
		}, []string{"zone"}),
		failed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_zone_failed",
			Help: "1 when the zone failed to load and has no previous version, so it answers SERVFAIL.",
		}, []string{"zone"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_zone_reloads_total",
			Help: "Zone loads and reloads, by result (success, failure); a failed reload keeps the previous version.",
		}, []string{"zone", "result"}),
	}
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "meridian_server_response_duration_seconds",
		Help:    "Time from the handler receiving an unpacked query to its response being written.",
		Buckets: prometheus.ExponentialBuckets(5e-6, 4, 10), // 5µs to 1.3s
	}, []string{"transport"})
	size := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "meridian_server_response_size_bytes",
		Help:    "Size of the responses written, DNS message only.",
		Buckets: []float64{64, 128, 256, 512, 1024, 1232, 1500, 4096, 16384, 65535},
	}, []string{"transport"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meridian_server_dropped_queries_total",
		Help: "Messages dropped without a response, by reason.",
	}, []string{"reason"})
	for _, c := range []prometheus.Collector{m.queries, duration, size, m.truncated, dropped,
		m.tcpConns, m.tcpRejected, m.serial, m.records, m.failed, m.reloads} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for i, t := range [2]string{udpName, tcpName} {
		m.duration[i] = duration.WithLabelValues(t)
		m.size[i] = size.WithLabelValues(t)
	}
	for i, r := range dropNames {
		m.dropped[i] = dropped.WithLabelValues(r)
	}
	if err := m.newRecursive(reg, recursive); err != nil {
		return nil, err
	}
	m.zones.Store(&map[string]*zoneCounters{noZone: {zone: noZone}, recursiveZone: {zone: recursiveZone}})
	return m, nil
}

// newRecursive makes the resolver mode's collectors, and registers them
// when the server is a resolver, so that an authority does not export
// series that can only stay at zero.
func (m *metrics) newRecursive(reg prometheus.Registerer, recursive bool) error {
	m.aclRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "meridian_server_acl_refused_queries_total",
		Help: "Recursive queries REFUSED because the client is not in the allow list.",
	})
	m.recursions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meridian_server_recursions_in_flight",
		Help: "Client queries waiting for a resolution now (cache misses), bounded by max-recursive.",
	})
	overflows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meridian_server_recursions_rejected_total",
		Help: "Cache misses not resolved because max-recursive resolutions were in flight: dropped over UDP, SERVFAIL over TCP.",
	}, []string{"transport"})
	for i, t := range [2]string{udpName, tcpName} {
		m.overflows[i] = overflows.WithLabelValues(t)
	}
	if !recursive {
		return nil
	}
	for _, c := range []prometheus.Collector{m.aclRefused, m.recursions, overflows} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// overflow counts a cache miss turned away for want of a slot.
func (m *metrics) overflow(tcp bool) { m.overflows[transport(tcp)].Inc() }

func transport(tcp bool) int {
	if tcp {
		return 1
	}
	return 0
}

// observe counts one response.
func (m *metrics) observe(x *exchange, size int, truncated bool, d time.Duration) {
	t := transport(x.tcp)
	m.counter(x.zone, x.qtype, x.msg.Rcode, x.tcp).Inc()
	m.duration[t].Observe(d.Seconds())
	m.size[t].Observe(float64(size))
	if truncated {
		m.truncated.Inc()
	}
}

// reject counts an error that miekg's server wrote for us.
func (m *metrics) reject(rcode int, tcp bool) {
	m.counter(noZone, -1, rcode, tcp).Inc()
}

func (m *metrics) drop(reason int) { m.dropped[reason].Inc() }

// counter returns the query counter for these labels.
func (m *metrics) counter(origin string, qtype, rcode int, tcp bool) prometheus.Counter {
	zc := (*m.zones.Load())[origin]
	if zc == nil {
		// A zone removed since the query looked it up: count it uncached.
		zc = &zoneCounters{zone: origin}
	}
	return zc.get(m.queries, qtype, rcode, tcp)
}

// zoneCounters caches the query counters of one zone. The cache is a
// copy-on-write map behind an atomic pointer: reads take no lock, and a
// miss (once per label combination) copies it.
type zoneCounters struct {
	zone  string
	mu    sync.Mutex
	cells atomic.Pointer[map[uint32]prometheus.Counter]
}

func (z *zoneCounters) get(vec *prometheus.CounterVec, qtype, rcode int, tcp bool) prometheus.Counter {
	key := labelKey(qtype, rcode, tcp)
	if cells := z.cells.Load(); cells != nil {
		if c, ok := (*cells)[key]; ok {
			return c
		}
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	old := z.cells.Load()
	if old != nil {
		if c, ok := (*old)[key]; ok {
			return c
		}
	}
	cells := make(map[uint32]prometheus.Counter)
	if old != nil {
		maps.Copy(cells, *old)
	}
	c := vec.WithLabelValues(z.zone, qtypeLabels[key>>16], rcodeLabels[key>>8&0xFF], [2]string{udpName, tcpName}[key&1])
	cells[key] = c
	z.cells.Store(&cells)
	return c
}

// setZones updates the per-zone gauges for a new zone set, forgets the
// series of zones no longer served, and carries the counter caches of the
// zones that stay over to the new set.
func (m *metrics) setZones(set *zone.Set) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.zones.Load()
	next := map[string]*zoneCounters{noZone: old[noZone], recursiveZone: old[recursiveZone]}
	for _, z := range set.Zones() {
		o := z.Origin()
		m.serial.WithLabelValues(o).Set(float64(z.Serial()))
		m.records.WithLabelValues(o).Set(float64(z.Len()))
		failed := 0.0
		if z.Err() != nil {
			failed = 1
		}
		m.failed.WithLabelValues(o).Set(failed)
		if zc := old[o]; zc != nil {
			next[o] = zc
			continue
		}
		next[o] = &zoneCounters{zone: o}
		// Start both results at zero, so that rate() sees the first one.
		m.reloads.WithLabelValues(o, "success")
		m.reloads.WithLabelValues(o, "failure")
	}
	for o := range old {
		if next[o] == nil {
			l := prometheus.Labels{"zone": o}
			m.serial.Delete(l)
			m.records.Delete(l)
			m.failed.Delete(l)
			m.queries.DeletePartialMatch(l)
			m.reloads.DeletePartialMatch(l)
		}
	}
	m.zones.Store(&next)
}

// reload counts one load of a zone's file.
func (m *metrics) reload(origin string, ok bool) {
	result := "failure"
	if ok {
		result = "success"
	}
	m.reloads.WithLabelValues(strings.ToLower(dns.Fqdn(origin)), result).Inc()
}
