// Package resolver answers recursive questions: from the cache first, then by
// joining an identical resolution already under way, then by iterating from
// the closest known zone cut, and it hides upstream latency with prefetch and
// serve-stale.
//
// It wires together the caches (resolver/cache), the infrastructure cache
// that picks the nearest server (resolver/infra), the exchanger that talks to
// servers (resolver/exchange) and the iterator state machine
// (resolver/iterator), and owns the background work: prefetches and
// resolutions that outlive an impatient client.
package resolver

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/resolver/cache"
	"github.com/meridian-dns/meridian/resolver/exchange"
	"github.com/meridian-dns/meridian/resolver/infra"
)

// Defaults for the zero values of Config.
const (
	DefaultNSPort        = 53
	DefaultMaxQueries    = 64               // upstream queries per client request, sub-resolutions included
	DefaultDeadline      = 10 * time.Second // a resolution's total time, as BIND's resolver-query-timeout
	DefaultClientTimeout = 1800 * time.Millisecond
	DefaultMaxDepth      = 3 // nested glueless sub-resolutions
	DefaultMaxBackground = 256
)

// Zone is a forward or stub zone: names at or below Name are sent to
// Servers (recursive servers for a forward zone, authoritative ones for a
// stub zone) instead of being looked up from the root.
type Zone struct {
	Name    string
	Servers []netip.AddrPort
}

// Config configures a Resolver. The zero value of every field selects the
// documented default.
type Config struct {
	// RootHints are the root servers to start from. Default: the IANA
	// root hints (RootHints()).
	RootHints []RootServer

	// NSPort is the port of every authoritative server, for private
	// hierarchies on one machine. Default 53.
	NSPort uint16

	// NoMinimise turns QNAME minimisation (RFC 9156) off. Default: on.
	NoMinimise bool

	// No0x20 turns 0x20 case randomisation off. Default: on.
	No0x20 bool

	// MaxQueries bounds the upstream queries for one client request.
	// Default 64.
	MaxQueries int

	// Deadline bounds one resolution. Default 10s.
	Deadline time.Duration

	// ClientTimeout is RFC 8767's client response timer: after it, a
	// client still waiting gets stale data if there is any. Default 1.8s.
	ClientTimeout time.Duration

	// NoPrefetch turns prefetching off. Default: on.
	NoPrefetch bool

	// NoServeStale turns serve-stale off. Default: on (the window is
	// Cache.StaleWindow).
	NoServeStale bool

	// Forward and Stub zones; the longest match wins.
	Forward []Zone
	Stub    []Zone

	// Cache and Infra configure the caches. Cache.Registerer and
	// Cache.Now default to this Config's.
	Cache cache.Config
	Infra infra.Config

	// Exchanger talks to servers. Default: exchange.New with defaults.
	Exchanger exchange.Exchanger

	// Registerer receives the metrics. Default: a private registry.
	Registerer prometheus.Registerer

	// Logger gets warnings about upstream trouble. Default: discard.
	Logger *slog.Logger

	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// RootServer is one root server of the hints.
type RootServer struct {
	Name  string
	Addrs []netip.Addr
}

// Source says where an answer came from.
type Source uint8

const (
	FromCache    Source = iota // a fresh cache entry
	FromUpstream               // a resolution (or a join of one)
	FromStale                  // expired data, served per RFC 8767
	FromNowhere                // a failure: SERVFAIL or REFUSED
)

var sourceNames = [...]string{"cache", "upstream", "stale", "none"}

func (s Source) String() string { return sourceNames[s] }

// Info tells the caller how an answer was made.
type Info struct {
	Source Source
	// EDE is the extended error to attach (RFC 8914), or nil.
	EDE *dns.EDNS0_EDE
}

// Resolver answers recursive questions. It is safe for concurrent use.
type Resolver struct {
	live    atomic.Pointer[live]
	cache   *cache.Cache
	infra   *infra.Cache
	exch    exchange.Exchanger
	metrics *metrics
	log     *slog.Logger

	flights flights

	ctx    context.Context // the lifetime of background work
	stop   context.CancelFunc
	bg     sync.WaitGroup
	bgSlot chan struct{} // bounds background resolutions
}

// New builds a Resolver. Close it to stop its background work.
func New(cfg Config) (*Resolver, error) {
	cfg.fill()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	cc := cfg.Cache
	if cc.Registerer == nil {
		cc.Registerer = cfg.Registerer
	}
	if cc.Now == nil {
		cc.Now = cfg.Now
	}
	c, err := cache.New(cc)
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	ic := cfg.Infra
	if ic.Now == nil {
		ic.Now = cfg.Now
	}
	inf := infra.New(ic)
	if err := inf.Register(cfg.Registerer, 10); err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &Resolver{
		cache: c, infra: inf, exch: cfg.Exchanger, metrics: m, log: cfg.Logger,
		ctx: ctx, stop: stop, bgSlot: make(chan struct{}, DefaultMaxBackground),
	}
	r.live.Store(newLive(cfg))
	r.flights.m = make(map[flightKey]*flight)
	return r, nil
}

// live is the configuration in force. A reload replaces it whole, so a
// resolution reads one consistent version without locks.
type live struct {
	cfg   Config
	roots cache.Delegation // the root hints as a delegation
}

func newLive(cfg Config) *live {
	l := &live{cfg: cfg, roots: cache.Delegation{Zone: "."}}
	for _, s := range cfg.RootHints {
		l.roots.Servers = append(l.roots.Servers, cache.Server{Name: s.Name, Addrs: s.Addrs})
	}
	return l
}

func (r *Resolver) conf() *Config { return &r.live.Load().cfg }

// Reconfigure applies a reloaded configuration and keeps the caches:
// everything in Config takes effect for resolutions that start afterwards,
// the cache's TTL clamps and stale window included (for what is cached from
// now on), and its size at once (a smaller one evicts the least recently
// used), except the rest of Cache, Infra, Exchanger, Registerer, Logger and
// Now, which are fixed when the Resolver is built.
// Invalid cache limits change nothing and are returned as an error. What is cached at or below a forward or stub
// zone that was added, removed or given other servers is dropped, so that
// names there are not reached the old way until their TTLs run out.
func (r *Resolver) Reconfigure(cfg Config) error {
	old := r.conf()
	c := cfg.Cache
	if err := r.cache.SetLimits(c.MinTTL, c.MaxTTL, c.NegativeMaxTTL, c.StaleWindow); err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	if c.Size != old.Cache.Size {
		if err := r.cache.Resize(c.Size); err != nil {
			return fmt.Errorf("resolver: %w", err)
		}
	}
	c.MaxChain, c.StaleTTL, c.PrefetchPercent = old.Cache.MaxChain, old.Cache.StaleTTL, old.Cache.PrefetchPercent
	c.Registerer, c.Now = old.Cache.Registerer, old.Cache.Now
	cfg.Cache, cfg.Infra, cfg.Exchanger = c, old.Infra, old.Exchanger
	cfg.Registerer, cfg.Logger, cfg.Now = old.Registerer, old.Logger, old.Now
	cfg.fill()
	r.live.Store(newLive(cfg))
	for _, name := range changedZones(append(old.Forward, old.Stub...), append(cfg.Forward, cfg.Stub...)) {
		r.cache.FlushBelow(name)
	}
	return nil
}

// changedZones lists the names of zones present in only one of a and b, or
// with other servers.
func changedZones(a, b []Zone) []string {
	servers := func(zs []Zone) map[string][]netip.AddrPort {
		m := make(map[string][]netip.AddrPort, len(zs))
		for _, z := range zs {
			m[z.Name] = z.Servers
		}
		return m
	}
	ma, mb := servers(a), servers(b)
	var out []string
	for name, s := range ma {
		if t, ok := mb[name]; !ok || !slices.Equal(s, t) {
			out = append(out, name)
		}
	}
	for name := range mb {
		if _, ok := ma[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}

func (c *Config) fill() {
	if len(c.RootHints) == 0 {
		c.RootHints = RootHints()
	}
	if c.NSPort == 0 {
		c.NSPort = DefaultNSPort
	}
	if c.MaxQueries <= 0 {
		c.MaxQueries = DefaultMaxQueries
	}
	if c.Deadline <= 0 {
		c.Deadline = DefaultDeadline
	}
	if c.ClientTimeout <= 0 {
		c.ClientTimeout = DefaultClientTimeout
	}
	if c.Exchanger == nil {
		c.Exchanger = exchange.New(exchange.Config{})
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	for i := range c.Forward {
		c.Forward[i].Name = strings.ToLower(dns.Fqdn(c.Forward[i].Name))
	}
	for i := range c.Stub {
		c.Stub[i].Name = strings.ToLower(dns.Fqdn(c.Stub[i].Name))
	}
}

// Close stops prefetches and resolutions that no client waits for, and
// waits for them to end.
func (r *Resolver) Close() {
	r.stop()
	r.bg.Wait()
}

// Cache returns the resolver's cache, for inspection in tests and tools.
func (r *Resolver) Cache() *cache.Cache { return r.cache }

// FromCache answers q into m from the cache alone, without blocking; false
// on a miss, so that the caller can resolve off its I/O loop. m must be a
// reply to the query (ID, question and RD set, as dns.Msg.SetReply does);
// FromCache adds the sections, the rcode and RA.
func (r *Resolver) FromCache(m *dns.Msg, q dns.Question) (Info, bool) {
	start := r.conf().Now()
	res := r.cache.Answer(m, q, cache.Fresh)
	switch res.Kind {
	case cache.Positive, cache.NXDomain, cache.NoData:
	default:
		return Info{}, false
	}
	if res.Prefetch && !r.conf().NoPrefetch {
		r.prefetch(q)
	}
	r.metrics.answered(FromCache, r.conf().Now().Sub(start))
	return Info{Source: FromCache}, true
}

// Resolve answers q into m: from the cache, or by resolution. With rd false
// (a client that asked for no recursion) only the cache is used, and a miss
// gets the closest known delegation as a referral (RFC 1034 §4.3.1). m must
// be a reply to the query, as for FromCache. Resolve returns when the
// answer is ready, the client response timer has passed and stale data
// could be served, or ctx ends.
func (r *Resolver) Resolve(ctx context.Context, m *dns.Msg, q dns.Question, rd bool) Info {
	if info, ok := r.FromCache(m, q); ok {
		return info
	}
	start := r.conf().Now()
	if !rd {
		r.referral(m, q)
		r.metrics.answered(FromCache, r.conf().Now().Sub(start))
		return Info{Source: FromCache}
	}
	info := r.wait(ctx, m, q)
	r.metrics.answered(info.Source, r.conf().Now().Sub(start))
	return info
}

// referral answers a non-recursive miss with the closest cached zone cut,
// or with the root hints when nothing is cached, as BIND does.
func (r *Resolver) referral(m *dns.Msg, q dns.Question) {
	m.RecursionAvailable = true
	if d, ok := r.cache.Closest(q.Name, q.Qclass); ok {
		m.Ns = append(m.Ns, d.NS...)
		return
	}
	for _, s := range r.live.Load().roots.Servers {
		m.Ns = append(m.Ns, &dns.NS{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeNS, Class: dns.ClassINET}, Ns: s.Name})
	}
}
