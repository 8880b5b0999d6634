// Package cache holds what the resolver has learnt from authoritative
// servers, so that a repeated question costs no upstream query.
//
// Its shape follows Unbound's split: RRsets are stored one per (owner, type,
// class) with an RFC 2181 §5.4.1 trust rank, negative answers (RFC 2308) are
// stored beside them, and a client answer is composed from RRsets at lookup
// time (Answer), following CNAME chains through the cache. The iterator reads
// the same RRsets at any rank to find the closest known zone cut and the
// addresses of its servers (Closest, Lookup).
//
// Storage is a set of shards, each an lru.Cache from golang-lru/v2 keyed by a
// seeded 64-bit hash of the lower-cased owner name, type and class (as
// CoreDNS's plugin/cache does). Every entry stores its absolute expiry; the
// TTL a reader sees is counted down from it when an answer is built, so the
// cache needs no goroutine and no timer. Expired entries are kept for a
// serve-stale window (RFC 8767) and are returned only when asked for
// explicitly.
package cache

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for the zero values of Config.
const (
	// DefaultSize is the default entry budget: about 50 MB with typical
	// entries (see Config.Size).
	DefaultSize = 100_000
	// DefaultMaxTTL caps every positive TTL at one day, as Unbound's
	// cache-max-ttl and BIND's max-cache-ttl do, so a mistaken or hostile
	// TTL of weeks cannot pin data.
	DefaultMaxTTL = 24 * time.Hour
	// DefaultNegativeMaxTTL caps negative TTLs at three hours, as Unbound
	// and BIND do; RFC 2308 §5 suggests one to three hours.
	DefaultNegativeMaxTTL = 3 * time.Hour
	// DefaultStaleWindow keeps expired data one day for serve-stale
	// (RFC 8767 §5 suggests one to three days).
	DefaultStaleWindow = 24 * time.Hour
	// DefaultStaleTTL is the TTL written on stale data (RFC 8767 §4: 30 s,
	// so a client retries soon but not in a storm).
	DefaultStaleTTL = 30 * time.Second
	// DefaultPrefetchPercent starts a refresh when a hit falls in the last
	// 10% of the original TTL, as Unbound's prefetch does.
	DefaultPrefetchPercent = 10
	// DefaultMaxChain is the most CNAMEs Answer follows through the cache
	// (Unbound's MAX_RESTART_COUNT is 8 as well); longer chains and loops
	// are left to the iterator, which fails them.
	DefaultMaxChain = 8
)

// Config configures a Cache. The zero value of every field selects the
// documented default.
type Config struct {
	// Size bounds the number of entries, RRsets and negative answers
	// together; expired entries kept for serve-stale count too. The least
	// recently used entry is evicted first. The budget is in entries rather
	// than bytes because an entry's size is dominated by its records and
	// measuring them on every insert would cost more than it saves. An
	// RRset of two addresses takes about 400 bytes with the LRU's own
	// bookkeeping, plus its owner name (BenchmarkMemoryPerEntry), so a byte
	// budget B maps to Size = B / 500 for typical traffic; large RRsets
	// (TXT, DNSKEY) take more. Default 100000 (DefaultSize).
	Size int

	// MinTTL raises smaller positive TTLs (Unbound's cache-min-ttl).
	// Default 0: TTLs are kept as sent. Records whose TTL is still 0 are not
	// cached (RFC 1035 §3.2.1).
	MinTTL time.Duration

	// MaxTTL lowers larger positive TTLs. Default 24h (DefaultMaxTTL).
	MaxTTL time.Duration

	// NegativeMaxTTL lowers larger negative TTLs. Default 3h
	// (DefaultNegativeMaxTTL). MinTTL does not apply to negative answers.
	NegativeMaxTTL time.Duration

	// StaleWindow is how long an entry is kept after it expires, for
	// answers with Mode Stale (RFC 8767). Default 24h (DefaultStaleWindow);
	// negative disables serve-stale, and entries are dropped when they
	// expire.
	StaleWindow time.Duration

	// StaleTTL is the TTL written on expired records in a stale answer.
	// Default 30s (DefaultStaleTTL, RFC 8767 §4).
	StaleTTL time.Duration

	// PrefetchPercent is the final share of an entry's TTL, in percent, in
	// which a hit asks the caller to refresh the entry (Result.Prefetch).
	// Default 10 (DefaultPrefetchPercent); negative disables prefetch.
	PrefetchPercent int

	// MaxChain is the most CNAME records Answer follows. Default 8
	// (DefaultMaxChain).
	MaxChain int

	// Now is the clock. Default time.Now.
	Now func() time.Time

	// Registerer receives the cache's metrics (meridian_resolver_cache_*).
	// Default: a private registry that nothing exports; never the global
	// default one.
	Registerer prometheus.Registerer
}

// withDefaults returns cfg with every zero field replaced by its default.
func (cfg Config) withDefaults() Config {
	if cfg.Size == 0 {
		cfg.Size = DefaultSize
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.NegativeMaxTTL == 0 {
		cfg.NegativeMaxTTL = DefaultNegativeMaxTTL
	}
	if cfg.StaleWindow == 0 {
		cfg.StaleWindow = DefaultStaleWindow
	}
	if cfg.StaleTTL == 0 {
		cfg.StaleTTL = DefaultStaleTTL
	}
	if cfg.PrefetchPercent == 0 {
		cfg.PrefetchPercent = DefaultPrefetchPercent
	}
	if cfg.MaxChain == 0 {
		cfg.MaxChain = DefaultMaxChain
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	return cfg
}

// validate reports settings that cannot work together.
func (cfg Config) validate() error {
	switch {
	case cfg.Size < 0:
		return fmt.Errorf("cache: size %d is negative", cfg.Size)
	case cfg.MinTTL < 0 || cfg.MaxTTL < 0 || cfg.NegativeMaxTTL < 0 || cfg.StaleTTL < 0:
		return errors.New("cache: TTL bounds must not be negative")
	case cfg.MinTTL > cfg.MaxTTL:
		return fmt.Errorf("cache: minimum TTL %v exceeds maximum %v", cfg.MinTTL, cfg.MaxTTL)
	case cfg.PrefetchPercent > 100:
		return fmt.Errorf("cache: prefetch percent %d exceeds 100", cfg.PrefetchPercent)
	case cfg.MaxChain < 0:
		return fmt.Errorf("cache: CNAME chain bound %d is negative", cfg.MaxChain)
	}
	return nil
}

// Cache is the resolver's RRset and negative cache. It is safe for
// concurrent use and starts no goroutines.
type Cache struct {
	cfg    Config
	seed   maphash.Seed // per cache, so nobody can aim names at one hash
	shards []shard
	bits   uint // log2(len(shards)); the top bits of a key pick its shard

	lim      atomic.Pointer[limits] // swapped whole by SetLimits
	staleTTL uint32
}

// limits are the bounds a reload may change, in whole seconds and
// nanoseconds. They apply to entries inserted (TTL clamps) or read (stale
// window) after the change.
type limits struct {
	minTTL, maxTTL, negMaxTTL uint32
	staleWindow               int64 // ns; -1: serve-stale disabled
}

func newLimits(minTTL, maxTTL, negMaxTTL, staleWindow time.Duration) *limits {
	l := &limits{minTTL: seconds(minTTL), maxTTL: seconds(maxTTL), negMaxTTL: seconds(negMaxTTL), staleWindow: int64(staleWindow)}
	if staleWindow < 0 {
		l.staleWindow = -1
	}
	return l
}

// SetLimits changes the TTL clamps and the stale window of a running cache,
// for a reload that keeps what is cached. Zero values take the defaults, as
// in Config; entries already cached keep the TTL they were given.
func (c *Cache) SetLimits(minTTL, maxTTL, negativeMaxTTL, staleWindow time.Duration) error {
	cfg := Config{Size: 1, MinTTL: minTTL, MaxTTL: maxTTL, NegativeMaxTTL: negativeMaxTTL, StaleWindow: staleWindow}.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	c.lim.Store(newLimits(cfg.MinTTL, cfg.MaxTTL, cfg.NegativeMaxTTL, cfg.StaleWindow))
	return nil
}

// shard is one LRU with the writer lock that makes "compare ranks, then
// replace" atomic; readers take only the LRU's own lock.
type shard struct {
	lru *lru.Cache[uint64, *entry]
	wmu sync.Mutex // held by writers around Peek-then-Add and by removals

	// Counters live beside the LRU they describe, so that hits on different
	// shards do not contend for one cache line.
	hits, misses, staleHits, evictions atomic.Uint64
	_                                  [64]byte // keep neighbouring shards' counters on separate cache lines
}

// New returns an empty cache configured by cfg, with its metrics registered
// on cfg.Registerer.
func New(cfg Config) (*Cache, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Cache{
		cfg:      cfg,
		seed:     maphash.MakeSeed(),
		staleTTL: seconds(cfg.StaleTTL),
	}
	c.lim.Store(newLimits(cfg.MinTTL, cfg.MaxTTL, cfg.NegativeMaxTTL, cfg.StaleWindow))
	n := shardCount(cfg.Size)
	for 1<<c.bits < n {
		c.bits++
	}
	c.shards = make([]shard, n)
	for i := range c.shards {
		l, err := lru.New[uint64, *entry](shardSize(cfg.Size, n, i))
		if err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		c.shards[i].lru = l
	}
	if err := c.register(cfg.Registerer); err != nil {
		return nil, err
	}
	return c, nil
}

// shardSize is shard i's share of size entries over n shards, at least 1.
func shardSize(size, n, i int) int {
	share := size / n
	if i < size%n {
		share++
	}
	return max(share, 1)
}

// Resize changes the entry budget of a running cache, for a reload: a
// smaller one evicts the least recently used entries at once (counted as
// evictions). The number of shards stays what the first size chose, and
// each keeps room for at least one entry. Zero takes the default, as in
// Config.
func (c *Cache) Resize(size int) error {
	cfg := Config{Size: size}.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.wmu.Lock()
		if evicted := sh.lru.Resize(shardSize(cfg.Size, len(c.shards), i)); evicted > 0 {
			sh.evictions.Add(uint64(evicted))
		}
		sh.wmu.Unlock()
	}
	return nil
}

// shardCount picks a power of two up to 256 that leaves each shard at least
// 256 entries, so small caches keep a near-global LRU order and large ones
// spread their lock traffic.
func shardCount(size int) int {
	n := 256
	for n > 1 && size/n < 256 {
		n /= 2
	}
	return n
}

// seconds converts d to whole seconds, saturating at the largest TTL.
func seconds(d time.Duration) uint32 {
	s := d / time.Second
	if s > 1<<31-1 { // RFC 2181 §8: TTLs are at most 2^31 - 1
		s = 1<<31 - 1
	}
	return uint32(s)
}

// Stats is a snapshot of the cache's counters.
type Stats struct {
	Hits      uint64 // client questions answered from fresh data (Answer, Mode Fresh)
	Misses    uint64 // client questions that need iteration (Answer, Mode Fresh)
	StaleHits uint64 // client questions answered with expired data (Mode Stale)
	Evictions uint64 // entries dropped to stay within Size
	Entries   int    // entries held now, expired ones in the stale window included
}

// Stats returns the current counters. Hits and misses count client answers
// only, not the iterator's lookups, so their ratio is the client hit rate.
func (c *Cache) Stats() Stats {
	var s Stats
	for i := range c.shards {
		sh := &c.shards[i]
		s.Hits += sh.hits.Load()
		s.Misses += sh.misses.Load()
		s.StaleHits += sh.staleHits.Load()
		s.Evictions += sh.evictions.Load()
		s.Entries += sh.lru.Len()
	}
	return s
}

// Len returns the number of entries held.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		n += c.shards[i].lru.Len()
	}
	return n
}

// key hashes a lower-cased owner name with a type and a class. The name is
// lower-cased into a stack buffer, so hashing does not allocate for names up
// to the wire limit of 255 octets.
func (c *Cache) key(name string, qtype, class uint16) uint64 {
	var buf [260]byte
	b := buf[:0]
	for i := 0; i < len(name); i++ {
		b = append(b, lower(name[i]))
	}
	b = append(b, byte(qtype>>8), byte(qtype), byte(class>>8), byte(class))
	return maphash.Bytes(c.seed, b)
}

// shard returns the shard that holds key k.
func (c *Cache) shard(k uint64) *shard {
	return &c.shards[k>>(64-c.bits)] // a shift by 64 is 0: one shard
}

// lower folds an ASCII letter to lower case; DNS names compare
// case-insensitively in ASCII only (RFC 4343 §3).
func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// equalName reports whether the lower-case name stored equals name in any
// case.
func equalName(stored, name string) bool {
	if len(stored) != len(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if stored[i] != lower(name[i]) {
			return false
		}
	}
	return true
}

// lowerName returns name in lower case, allocating only when it is not
// already.
func lowerName(name string) string {
	for i := 0; i < len(name); i++ {
		if lower(name[i]) != name[i] {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				b[j] = lower(b[j])
			}
			return string(b)
		}
	}
	return name
}
