// Package infra is the resolver's infrastructure cache: what it has learnt
// about each upstream server address (smoothed RTT, timeouts and backoff,
// EDNS and 0x20 capability) and about each (server, zone) pair (lameness),
// and the choice, made from that, of which server to ask next.
//
// It is Unbound's infra cache and BIND's address database (ADB) in one
// small, bounded, concurrency-safe type. It does no I/O: the resolver
// reports what happened (RecordRTT, RecordTimeout, ...) and asks Select.
package infra

import (
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults for the zero fields of Config.
const (
	DefaultSize          = 10000
	DefaultLameTTL       = 10 * time.Minute // BIND's lame-ttl
	DefaultCapabilityTTL = 15 * time.Minute // Unbound's infra-host-ttl
	DefaultMinRTO        = 50 * time.Millisecond
	DefaultMaxRTO        = 3 * time.Second
	DefaultInitialRTO    = 400 * time.Millisecond
	DefaultMaxBackoff    = 2 * time.Minute
	DefaultAgeHalfLife   = 45 * time.Second
)

// Fixed parameters of the algorithms; see select.go and rtt.go for why.
const (
	blockAfter      = 3                     // consecutive timeouts before a server is avoided
	backoffBase     = time.Second           // first backoff; doubles with each further timeout
	initialScoreMax = 32 * time.Millisecond // unknown servers start at a random score below this
	nShards         = 16
)

// Config configures a Cache. The zero value is valid: every zero field takes
// its default.
type Config struct {
	// Size bounds the number of server addresses tracked, and separately
	// the number of (server, zone) lameness entries; the least recently
	// used are forgotten first. Default: DefaultSize (10000).
	Size int

	// LameTTL is how long a server stays lame for a zone after MarkLame.
	// Default: DefaultLameTTL (10 minutes, as BIND's lame-ttl).
	LameTTL time.Duration

	// CapabilityTTL is how long a server's missing EDNS or 0x20 support
	// is remembered before the resolver tries again, since servers get
	// upgraded and a verdict may have come from a transient fault.
	// Default: DefaultCapabilityTTL (15 minutes, as Unbound's infra-host-ttl).
	CapabilityTTL time.Duration

	// MinRTO and MaxRTO clamp the retransmission timeout (the per-try
	// timeout Select hands out). RFC 6298 §2.4 asks for at least 1 s for
	// TCP; DNS over UDP needs far less, and Unbound uses 50 ms.
	// Defaults: 50 ms and 3 s.
	MinRTO, MaxRTO time.Duration

	// InitialRTO is the timeout for a server never heard from (RFC 6298
	// §2.1 uses 1 s; Unbound 376 ms). Default: 400 ms.
	InitialRTO time.Duration

	// MaxBackoff caps how long a server that keeps timing out is avoided
	// before it is probed again. Default: 2 minutes.
	MaxBackoff time.Duration

	// AgeHalfLife is how fast the selection score of a server that is not
	// being chosen decays, so that slower servers are re-probed now and
	// then (see select.go). Default: 45 s.
	AgeHalfLife time.Duration

	// Now is the clock. Default: time.Now.
	Now func() time.Time

	// Rand is the source of the small randomness selection needs (initial
	// scores of unknown servers, ties within the band). It is used under
	// a lock, so it need not be safe for concurrent use. It need not be
	// cryptographic: selection is not a defence against spoofing.
	// Default: a PCG seeded at random.
	Rand rand.Source
}

func (c *Config) fill() {
	setDefault(&c.Size, DefaultSize)
	setDefault(&c.LameTTL, DefaultLameTTL)
	setDefault(&c.CapabilityTTL, DefaultCapabilityTTL)
	setDefault(&c.MinRTO, DefaultMinRTO)
	setDefault(&c.MaxRTO, DefaultMaxRTO)
	setDefault(&c.InitialRTO, DefaultInitialRTO)
	setDefault(&c.MaxBackoff, DefaultMaxBackoff)
	setDefault(&c.AgeHalfLife, DefaultAgeHalfLife)
	c.MaxRTO = max(c.MaxRTO, c.MinRTO)
	c.InitialRTO = min(max(c.InitialRTO, c.MinRTO), c.MaxRTO)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
}

func setDefault[T int | time.Duration](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}

// Cache is the infrastructure cache. It is safe for concurrent use.
//
// Server entries live in shards, each an LRU under its own mutex: every
// update is a read-modify-write of one entry, which simplelru under one
// lock does atomically, whereas lru.Cache would need a second lock per
// entry.
type Cache struct {
	cfg    Config
	seed   maphash.Seed
	shards [nShards]shard

	lameMu sync.Mutex
	lame   *simplelru.LRU[lameKey, time.Time] // value: expiry

	randMu sync.Mutex
	rand   *rand.Rand
}

type shard struct {
	mu  sync.Mutex
	lru *simplelru.LRU[netip.AddrPort, *entry]
}

// lameKey is a (server, zone) pair; zone is lower case and fully qualified.
type lameKey struct {
	server netip.AddrPort
	zone   string
}

// New returns an empty Cache.
func New(cfg Config) *Cache {
	cfg.fill()
	c := &Cache{cfg: cfg, seed: maphash.MakeSeed(), rand: rand.New(cfg.Rand)}
	per := max(1, (cfg.Size+nShards-1)/nShards)
	for i := range c.shards {
		c.shards[i].lru = mustLRU[netip.AddrPort, *entry](per)
	}
	c.lame = mustLRU[lameKey, time.Time](cfg.Size)
	return c
}

func mustLRU[K comparable, V any](size int) *simplelru.LRU[K, V] {
	l, err := simplelru.NewLRU[K, V](size, nil)
	if err != nil {
		panic(err) // only for size <= 0, which fill rules out
	}
	return l
}

// normalize maps an IPv4-mapped IPv6 address to IPv4 so that one server
// has one entry however its address was written.
func normalize(s netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(s.Addr().Unmap(), s.Port())
}

func (c *Cache) shard(s netip.AddrPort) *shard {
	return &c.shards[maphash.Comparable(c.seed, s)%nShards]
}

// update runs f on the entry of server s, creating it if needed, under the
// shard's lock.
func (c *Cache) update(s netip.AddrPort, f func(e *entry, now time.Time)) {
	s = normalize(s)
	sh := c.shard(s)
	now := c.cfg.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.lru.Get(s)
	if !ok {
		e = c.newEntry()
		sh.lru.Add(s, e)
	}
	f(e, now)
}

// newEntry returns the entry of a server never heard from. BIND gives such
// a server a small random SRTT so that unknown servers are tried early,
// in random order, and so get measured.
func (c *Cache) newEntry() *entry {
	c.randMu.Lock()
	score := time.Duration(c.rand.Int64N(int64(initialScoreMax)))
	c.randMu.Unlock()
	return &entry{rto: c.cfg.InitialRTO, score: score}
}

// RecordRTT records an answer from server that took rtt. Any answer counts,
// whatever its rcode: the server is reachable, and that is what RTT and
// backoff describe. It ends any backoff.
func (c *Cache) RecordRTT(server netip.AddrPort, rtt time.Duration) {
	c.update(server, func(e *entry, now time.Time) { e.sample(rtt, now, &c.cfg) })
}

// RecordTimeout records that a query to server got no answer within the
// timeout Select gave for it. The RTO doubles (RFC 6298 §5.5), and after
// repeated timeouts the server is avoided for a backoff that doubles too.
func (c *Cache) RecordTimeout(server netip.AddrPort) {
	c.update(server, func(e *entry, now time.Time) { e.timeout(now, &c.cfg) })
}

// RecordNoEDNS records that server cannot handle EDNS (RFC 6891 §7: it
// answered FORMERR, NOTIMP or garbage to a query with an OPT record).
// Record it only once a retry without EDNS has succeeded, as Unbound does:
// a forged FORMERR alone should not downgrade a server.
func (c *Cache) RecordNoEDNS(server netip.AddrPort) {
	c.update(server, func(e *entry, now time.Time) { e.noEDNSUntil = now.Add(c.cfg.CapabilityTTL) })
}

// RecordNo0x20 records that server does not preserve the case of the query
// name, so 0x20 randomisation must be off for it (draft-vixie-dnsext-dns0x20
// §4 expects a few such servers).
func (c *Cache) RecordNo0x20(server netip.AddrPort) {
	c.update(server, func(e *entry, now time.Time) { e.no0x20Until = now.Add(c.cfg.CapabilityTTL) })
}

// MarkLame records that server is lame for zone: it answered without
// authority for a zone delegated to it (RFC 1034 §4.2.2 calls such
// delegations lame). Select avoids it for that zone for LameTTL.
func (c *Cache) MarkLame(server netip.AddrPort, zone string) {
	k := lameKey{normalize(server), canonical(zone)}
	until := c.cfg.Now().Add(c.cfg.LameTTL)
	c.lameMu.Lock()
	c.lame.Add(k, until)
	c.lameMu.Unlock()
}

// IsLame reports whether server is currently lame for zone.
func (c *Cache) IsLame(server netip.AddrPort, zone string) bool {
	return c.isLame(normalize(server), canonical(zone), c.cfg.Now())
}

func (c *Cache) isLame(server netip.AddrPort, zone string, now time.Time) bool {
	k := lameKey{server, zone}
	c.lameMu.Lock()
	defer c.lameMu.Unlock()
	until, ok := c.lame.Get(k)
	if ok && !now.Before(until) {
		c.lame.Remove(k)
		return false
	}
	return ok
}

// canonical lower-cases an ASCII zone name and makes it fully qualified;
// DNS names compare case-insensitively (RFC 4343 §3).
func canonical(zone string) string {
	lower := true
	for i := 0; i < len(zone); i++ {
		if 'A' <= zone[i] && zone[i] <= 'Z' {
			lower = false
			break
		}
	}
	if !lower {
		b := []byte(zone)
		for i, ch := range b {
			if 'A' <= ch && ch <= 'Z' {
				b[i] = ch + 'a' - 'A'
			}
		}
		zone = string(b)
	}
	if zone == "" || zone[len(zone)-1] != '.' {
		zone += "."
	}
	return zone
}
