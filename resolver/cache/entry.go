package cache

import (
	"math"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// kind tells what an entry holds.
type kind uint8

const (
	positive kind = iota // an RRset
	noData               // RFC 2308 §2.2: the name exists, the type does not
	nxDomain             // RFC 2308 §2.1: the name does not exist; stored with type 0
)

// entry is one cached RRset or negative answer. It is immutable once stored,
// except for the prefetch flag; a newer RRset replaces the whole entry, so a
// reader holding the old one never sees a half-written update.
type entry struct {
	// name, qtype and class are the full key, compared on every hit because
	// two keys may share a hash. name is lower case.
	name         string
	qtype, class uint16
	kind         kind
	rank         Rank

	ttl        uint32 // the TTL stored, after clamping, in seconds
	expires    int64  // absolute expiry, Unix nanoseconds
	prefetchAt int64  // from here on a hit asks for a refresh; MaxInt64: never

	// rrs is the RRset for a positive entry, owner names lower case (the
	// TTLs in the records are not read: readers write their own); for a
	// negative entry, the SOA from the authority section (RFC 2308 §5).
	rrs []dns.RR

	// prefetched is set by the one hit that asks for a refresh, so that one
	// refresh is started per entry however many hits fall in the window.
	prefetched atomic.Bool
}

// matches reports whether e holds the key (name, qtype, class).
func (e *entry) matches(name string, qtype, class uint16) bool {
	return e.qtype == qtype && e.class == class && equalName(e.name, name)
}

// state is where an entry stands at some moment.
type state uint8

const (
	fresh state = iota // before its expiry: usable by every lookup
	stale              // expired but within the stale window (RFC 8767)
	dead               // past the stale window: to be dropped
)

// state returns where e stands at time now (Unix nanoseconds).
func (c *Cache) state(e *entry, now int64) state {
	if now < e.expires {
		return fresh
	}
	if w := c.lim.Load().staleWindow; w >= 0 && now-e.expires < w {
		return stale
	}
	return dead
}

// remaining returns the TTL left at time now, rounded up so that fresh data
// never shows TTL 0; as with Unbound's whole-second clock, it overstates
// the true remainder by less than a second.
func (e *entry) remaining(now int64) uint32 {
	left := e.expires - now
	if left <= 0 {
		return 0
	}
	return uint32((left + 1e9 - 1) / 1e9)
}

// expiry returns the absolute expiry and prefetch point of an entry stored
// at now with a TTL of ttl seconds.
func (c *Cache) expiry(now int64, ttl uint32) (expires, prefetchAt int64) {
	d := int64(ttl) * 1e9
	expires = now + d
	prefetchAt = math.MaxInt64
	if c.cfg.PrefetchPercent > 0 {
		prefetchAt = expires - d*int64(c.cfg.PrefetchPercent)/100
	}
	return expires, prefetchAt
}

// wantPrefetch reports whether this hit on fresh entry e is the one that
// should start its refresh: it falls in the last part of the TTL and no hit
// before it has claimed the refresh (CoreDNS's plugin/cache does the same
// with a compare-and-swap).
func (e *entry) wantPrefetch(now int64) bool {
	return now >= e.prefetchAt && e.prefetched.CompareAndSwap(false, true)
}

// get returns the entry for (name, qtype, class) and its state, or nil when
// there is none that is fresh or stale.
func (c *Cache) get(name string, qtype, class uint16, now int64) (*entry, state) {
	return c.getKey(c.key(name, qtype, class), name, qtype, class, now)
}

// getKey is get with the key already hashed.
func (c *Cache) getKey(k uint64, name string, qtype, class uint16, now int64) (*entry, state) {
	sh := c.shard(k)
	e, ok := sh.lru.Get(k)
	if !ok || !e.matches(name, qtype, class) {
		return nil, dead
	}
	st := c.state(e, now)
	if st == dead {
		c.drop(sh, k, e)
		return nil, dead
	}
	return e, st
}

// drop removes e from sh if it still holds key k, and not a newer entry a
// writer stored meanwhile.
func (c *Cache) drop(sh *shard, k uint64, e *entry) {
	sh.wmu.Lock()
	defer sh.wmu.Unlock()
	if cur, ok := sh.lru.Peek(k); ok && cur == e {
		sh.lru.Remove(k)
	}
}

// put stores e at time now unless an unexpired entry of higher rank holds
// its key: RFC 2181 §5.4.1, "the more trustworthy data should be retained".
// Data of equal rank replaces the old, except that an unexpired NS RRset's
// expiry is kept: re-learning an NS RRset must not extend its life, or a
// delegation removed from the parent lives on as long as its servers keep
// answering (the "ghost domain" attack; Unbound does the same). It reports
// whether e was stored.
func (c *Cache) put(e *entry, now int64) bool {
	k := c.key(e.name, e.qtype, e.class)
	sh := c.shard(k)
	sh.wmu.Lock()
	defer sh.wmu.Unlock()
	if old, ok := sh.lru.Peek(k); ok && old.matches(e.name, e.qtype, e.class) && now < old.expires {
		if e.rank < old.rank {
			return false
		}
		if e.rank == old.rank && e.qtype == dns.TypeNS && e.kind == positive && old.kind == positive {
			e.ttl, e.expires, e.prefetchAt = old.ttl, old.expires, old.prefetchAt
			e.prefetched.Store(old.prefetched.Load())
		}
	}
	if sh.lru.Add(k, e) {
		sh.evictions.Add(1)
	}
	return true
}

// remove drops the entry for (name, qtype, class) if its rank is at most r:
// newer data of rank r has shown it wrong.
func (c *Cache) remove(name string, qtype, class uint16, r Rank) {
	k := c.key(name, qtype, class)
	sh := c.shard(k)
	sh.wmu.Lock()
	defer sh.wmu.Unlock()
	if old, ok := sh.lru.Peek(k); ok && old.matches(name, qtype, class) && old.rank <= r {
		sh.lru.Remove(k)
	}
}

// appendRRs appends copies of src to dst with their TTL set to ttl and, when
// owner is not empty, their owner name set to it. Records of the common
// types are copied shallowly into one array per RRset, so an answer costs
// one allocation per RRset rather than one or two per record; their rdata
// (an address, a TXT string slice) is shared with the cache, which never
// changes it, and must be treated as read-only.
func appendRRs(dst, src []dns.RR, ttl uint32, owner string) []dns.RR {
	if len(src) == 0 {
		return dst
	}
	switch src[0].(type) {
	case *dns.A:
		return appendCopies[dns.A](dst, src, ttl, owner)
	case *dns.AAAA:
		return appendCopies[dns.AAAA](dst, src, ttl, owner)
	case *dns.CNAME:
		return appendCopies[dns.CNAME](dst, src, ttl, owner)
	case *dns.NS:
		return appendCopies[dns.NS](dst, src, ttl, owner)
	case *dns.SOA:
		return appendCopies[dns.SOA](dst, src, ttl, owner)
	case *dns.MX:
		return appendCopies[dns.MX](dst, src, ttl, owner)
	case *dns.TXT:
		return appendCopies[dns.TXT](dst, src, ttl, owner)
	case *dns.PTR:
		return appendCopies[dns.PTR](dst, src, ttl, owner)
	case *dns.SRV:
		return appendCopies[dns.SRV](dst, src, ttl, owner)
	}
	for _, rr := range src {
		dst = append(dst, deepCopy(rr, ttl, owner))
	}
	return dst
}

// appendCopies is appendRRs for an RRset whose records are all of type *T.
func appendCopies[T any, P interface {
	*T
	dns.RR
}](dst, src []dns.RR, ttl uint32, owner string) []dns.RR {
	buf := make([]T, len(src))
	for i, rr := range src {
		p, ok := rr.(P)
		if !ok { // not expected: one RRset, one Go type
			dst = append(dst, deepCopy(rr, ttl, owner))
			continue
		}
		buf[i] = *p
		cp := P(&buf[i])
		setHeader(cp.Header(), ttl, owner)
		dst = append(dst, cp)
	}
	return dst
}

// deepCopy copies rr with dns.Copy, for the types appendRRs does not list.
func deepCopy(rr dns.RR, ttl uint32, owner string) dns.RR {
	cp := dns.Copy(rr)
	setHeader(cp.Header(), ttl, owner)
	return cp
}

func setHeader(h *dns.RR_Header, ttl uint32, owner string) {
	h.Ttl = ttl
	if owner != "" {
		h.Name = owner
	}
}

// FlushBelow removes every entry at or below name, of any type and rank. A
// reload that changes how a zone is reached (a forward or stub zone added,
// removed or repointed) calls it, so that cached delegations do not keep
// sending questions the old way until they expire. It scans the whole
// cache, which is fine for a reload and wrong for the query path.
func (c *Cache) FlushBelow(name string) int {
	name = strings.ToLower(dns.Fqdn(name))
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.wmu.Lock()
		for _, k := range sh.lru.Keys() {
			if e, ok := sh.lru.Peek(k); ok && dns.IsSubDomain(name, e.name) {
				sh.lru.Remove(k)
				n++
			}
		}
		sh.wmu.Unlock()
	}
	return n
}
