package infra

import (
	"net/netip"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ServerInfo is a snapshot of what the cache knows about one server.
type ServerInfo struct {
	Server netip.AddrPort

	// SRTT and RTTVar are the RFC 6298 estimates; zero until the first
	// answer (Samples == 0).
	SRTT, RTTVar time.Duration
	Samples      uint64

	// RTO is the current per-try timeout.
	RTO time.Duration

	// Timeouts counts consecutive timeouts; BlockedUntil, when in the
	// future, is the end of the backoff during which the server is avoided.
	Timeouts     int
	BlockedUntil time.Time

	// NoEDNS and No0x20 report the capabilities currently known missing.
	NoEDNS, No0x20 bool

	// Queries counts the answers and timeouts recorded for the server since
	// it entered the cache: how busy it is.
	Queries uint64
}

func (e *entry) info(s netip.AddrPort, now time.Time) ServerInfo {
	return ServerInfo{
		Server: s, SRTT: e.srtt, RTTVar: e.rttvar, Samples: e.samples, RTO: e.rto,
		Timeouts: e.timeouts, BlockedUntil: e.blockedUntil,
		NoEDNS: now.Before(e.noEDNSUntil), No0x20: now.Before(e.no0x20Until),
		Queries: e.queries,
	}
}

// Server returns what the cache knows about server, if anything.
func (c *Cache) Server(server netip.AddrPort) (ServerInfo, bool) {
	s := normalize(server)
	sh := c.shard(s)
	now := c.cfg.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.lru.Peek(s)
	if !ok {
		return ServerInfo{}, false
	}
	return e.info(s, now), true
}

// Len returns the number of servers tracked.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.lru.Len()
		sh.mu.Unlock()
	}
	return n
}

// Top returns the n busiest servers (by Queries, then address), busiest
// first: a bounded set to export, so that metrics stay low-cardinality
// however many servers the resolver talks to.
func (c *Cache) Top(n int) []ServerInfo {
	if n <= 0 {
		return nil
	}
	now := c.cfg.Now()
	top := make([]ServerInfo, 0, n+1)
	busier := func(a, b ServerInfo) int {
		if a.Queries != b.Queries {
			if a.Queries > b.Queries {
				return -1
			}
			return 1
		}
		return a.Server.Compare(b.Server)
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, s := range sh.lru.Keys() {
			e, _ := sh.lru.Peek(s)
			if e.queries == 0 {
				continue
			}
			if len(top) == n && e.queries <= top[n-1].Queries {
				continue
			}
			in := e.info(s, now)
			j, _ := slices.BinarySearchFunc(top, in, busier)
			top = slices.Insert(top, j, in)
			if len(top) > n {
				top = top[:n]
			}
		}
		sh.mu.Unlock()
	}
	return top
}

// Register registers on reg a collector that exports, at each scrape:
//
//	meridian_resolver_upstream_srtt_seconds{server}  smoothed RTT of the top busiest servers
//	meridian_resolver_upstream_rto_seconds{server}   their current per-try timeout
//	meridian_resolver_upstream_servers               servers tracked
//
// The server label takes at most top values per scrape (STYLE.md rule 10).
func (c *Cache) Register(reg prometheus.Registerer, top int) error {
	return reg.Register(&collector{
		c:   c,
		top: top,
		srtt: prometheus.NewDesc("meridian_resolver_upstream_srtt_seconds",
			"Smoothed round-trip time (RFC 6298) of the busiest upstream servers.",
			[]string{"server"}, nil),
		rto: prometheus.NewDesc("meridian_resolver_upstream_rto_seconds",
			"Current per-try timeout of the busiest upstream servers.",
			[]string{"server"}, nil),
		servers: prometheus.NewDesc("meridian_resolver_upstream_servers",
			"Upstream server addresses tracked by the infrastructure cache.", nil, nil),
	})
}

type collector struct {
	c                  *Cache
	top                int
	srtt, rto, servers *prometheus.Desc
}

func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.srtt
	ch <- m.rto
	ch <- m.servers
}

func (m *collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range m.c.Top(m.top) {
		label := s.Server.String()
		if s.Samples > 0 {
			ch <- prometheus.MustNewConstMetric(m.srtt, prometheus.GaugeValue, s.SRTT.Seconds(), label)
		}
		ch <- prometheus.MustNewConstMetric(m.rto, prometheus.GaugeValue, s.RTO.Seconds(), label)
	}
	ch <- prometheus.MustNewConstMetric(m.servers, prometheus.GaugeValue, float64(m.c.Len()))
}
