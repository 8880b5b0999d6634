package infra

import (
	"net/netip"
	"time"
)

// Choice is the server Select picked and how to query it.
type Choice struct {
	Server netip.AddrPort

	// Timeout is the server's retransmission timeout (RFC 6298): how long
	// to wait for this try before calling it a timeout.
	Timeout time.Duration

	// EDNS is false when the server is known not to handle EDNS, so the
	// query goes without an OPT record (RFC 6891 §7).
	EDNS bool

	// Case0x20 is false when the server is known not to preserve the case
	// of the query name, so 0x20 randomisation must be off.
	Case0x20 bool

	// Probe is set when the server had been avoided after repeated
	// timeouts and its backoff has ended: this query tells whether it is
	// back. Until it is answered or times out, other queries avoid it.
	Probe bool

	// Blocked is set when every candidate is being avoided after
	// timeouts; this one's backoff ends first. The caller may prefer to
	// fail (or serve stale) rather than wait on it.
	Blocked bool

	// Lame is set when every candidate is lame for the zone.
	Lame bool

	// Race lists, when Server has never been queried, the other
	// candidates never queried either (at most MaxRace-1, usable ones
	// only): sending the query to them at the same time finds the nearest
	// replica on first contact, where trying them one after another would
	// pay the distance to whichever comes first. It costs one extra query
	// per server, once: after it every racer is measured.
	Race []Choice
}

// MaxRace bounds the servers one query is sent to at first contact.
const MaxRace = 4

// cand is a snapshot of one candidate, taken under its shard's lock.
type cand struct {
	server       netip.AddrPort
	score        time.Duration
	rto          time.Duration
	blockedUntil time.Time
	blocked      bool
	probe        bool
	lame         bool
	fresh        bool // never queried: no answer and no timeout recorded
	edns, c0x20  bool
}

// Select picks, among the addresses of the servers for zone, the one to
// query next. ok is false only when candidates is empty.
//
// The policy is BIND's, with Unbound's band:
//
//  1. A server whose backoff has just ended is probed, one query at a time.
//  2. Otherwise the lowest score wins, where the score is the smoothed
//     RTT of rtt.go. A server never heard from starts at a random score
//     below 32 ms, so unknown servers are tried early and get measured.
//     Servers within 1/8 of the best score are chosen among at random,
//     which spreads load over replicas that are equally close.
//  3. The scores of servers not being chosen decay with a half-life
//     (Config.AgeHalfLife), so a slower server is asked again once its
//     score has drifted down to the best one's; one answer puts it back
//     where it belongs. That is all the exploration there is: the nearest
//     server gets nearly all the traffic after a few queries.
//  4. Servers lame for the zone, and servers being avoided, are used only
//     when there is nothing else (Choice.Lame, Choice.Blocked).
//  5. First contact: when the server picked has never been queried, the
//     other never-queried candidates come with it (Choice.Race), for the
//     caller to query at once and take the first answer. Without it the
//     first queries to a zone would go to its replicas in random order,
//     and a client would wait on the far ones while they are measured.
//
// Unbound instead picks at random among all servers within 400 ms of the
// best, which would spread traffic evenly over replicas 5, 50 and 150 ms
// away; BIND's ranking sends it to the nearest, which is what Meridian is
// for.
func (c *Cache) Select(zone string, candidates []netip.AddrPort) (Choice, bool) {
	if len(candidates) == 0 {
		return Choice{}, false
	}
	zone = canonical(zone)
	now := c.cfg.Now()
	var buf [16]cand
	cands := buf[:0]
	for _, s := range candidates {
		cands = append(cands, c.snapshot(normalize(s), zone, now))
	}

	// 1. Probes, the one waiting longest first.
	for {
		i := earliest(cands, true)
		if i < 0 {
			break
		}
		if c.claimProbe(cands[i].server, now) {
			ch := cands[i].choice()
			ch.Probe = true
			return ch, true
		}
		cands[i].probe = false // another query took the probe
		cands[i].blocked = true
	}

	// 2. Usable servers by score; 5. a fresh one is raced against the
	// other fresh ones.
	if i := c.pick(cands); i >= 0 {
		ch := cands[i].choice()
		if cands[i].fresh && c.claimRace(cands[i].server, now) {
			for j := range cands {
				if j != i && cands[j].fresh && cands[j].usable() && len(ch.Race) < MaxRace-1 &&
					c.claimRace(cands[j].server, now) {
					ch.Race = append(ch.Race, cands[j].choice())
				}
			}
		}
		return ch, true
	}

	// 4. Nothing usable: the avoided server whose backoff ends first,
	// else the best of the lame.
	if i := earliest(cands, false); i >= 0 {
		ch := cands[i].choice()
		ch.Blocked = true
		return ch, true
	}
	best := 0
	for i := range cands {
		if cands[i].score < cands[best].score {
			best = i
		}
	}
	ch := cands[best].choice()
	ch.Lame = true
	return ch, true
}

// snapshot ages the entry of s (creating it if s is unknown) and copies
// what selection needs.
func (c *Cache) snapshot(s netip.AddrPort, zone string, now time.Time) cand {
	cd := cand{server: s, lame: c.isLame(s, zone, now)}
	sh := c.shard(s)
	sh.mu.Lock()
	e, ok := sh.lru.Get(s)
	if !ok {
		e = c.newEntry()
		sh.lru.Add(s, e)
	}
	e.age(now, &c.cfg)
	cd.score = e.score
	cd.rto = e.rto
	cd.blockedUntil = e.blockedUntil
	cd.blocked = e.blocked(now)
	cd.probe = e.backoffEnded(now)
	cd.fresh = e.queries == 0
	cd.edns = !now.Before(e.noEDNSUntil)
	cd.c0x20 = !now.Before(e.no0x20Until)
	sh.mu.Unlock()
	return cd
}

// claimRace marks a fresh server as raced, so that the questions that
// arrive while its first answer is on the way pick it alone rather than
// race it again: without this, a burst of cold questions to one zone
// would multiply its queries by MaxRace until the first answers came.
// The claim lasts the server's RTO, after which an unanswered race may be
// tried again; false if another query holds it.
func (c *Cache) claimRace(s netip.AddrPort, now time.Time) bool {
	sh := c.shard(s)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.lru.Peek(s)
	if !ok || now.Before(e.racedUntil) {
		return false
	}
	e.racedUntil = now.Add(e.rto)
	return true
}

// claimProbe marks s as being probed, so that concurrent queries keep
// avoiding it until the probe's timeout; false if another query already
// claimed it.
func (c *Cache) claimProbe(s netip.AddrPort, now time.Time) bool {
	sh := c.shard(s)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.lru.Peek(s)
	if !ok || !e.backoffEnded(now) {
		return false
	}
	e.blockedUntil = now.Add(e.rto)
	return true
}

// pick returns the index of a usable candidate with a score within 1/8 of
// the best, chosen at random among them, or -1 when none is usable.
func (c *Cache) pick(cands []cand) int {
	best := -1
	for i := range cands {
		if cands[i].usable() && (best < 0 || cands[i].score < cands[best].score) {
			best = i
		}
	}
	if best < 0 {
		return -1
	}
	limit := cands[best].score + cands[best].score/8
	n := 0
	for i := range cands {
		if cands[i].usable() && cands[i].score <= limit {
			n++
		}
	}
	if n == 1 {
		return best
	}
	c.randMu.Lock()
	k := c.rand.IntN(n)
	c.randMu.Unlock()
	for i := range cands {
		if cands[i].usable() && cands[i].score <= limit {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return best // not reached
}

func (cd *cand) usable() bool { return !cd.lame && !cd.blocked }

func (cd *cand) choice() Choice {
	return Choice{Server: cd.server, Timeout: cd.rto, EDNS: cd.edns, Case0x20: cd.c0x20}
}

// earliest returns the index of the candidate not lame (and a probe, if
// probes) whose backoff ends first, or -1.
func earliest(cands []cand, probes bool) int {
	best := -1
	for i := range cands {
		ok := !cands[i].lame && (cands[i].probe || !probes)
		if ok && (best < 0 || cands[i].blockedUntil.Before(cands[best].blockedUntil)) {
			best = i
		}
	}
	return best
}
