package infra

import (
	"math"
	"time"
)

// entry is what the cache knows about one server address. It is guarded by
// its shard's mutex.
//
// Two estimates are kept, because they answer different questions:
//
//   - srtt, rttvar and rto follow RFC 6298 §2 (as Unbound's rtt_info does)
//     and give the per-try timeout: how long to wait before giving up.
//   - score follows BIND's ADB: an average weighted 0.7 old, 0.3 new, that
//     also decays while the server is not chosen. It ranks servers, and
//     reacts faster than srtt, so a probe of a server that has become
//     closer moves it up at once.
type entry struct {
	srtt, rttvar time.Duration // valid once samples > 0
	rto          time.Duration // current retransmission timeout
	samples      uint64

	score time.Duration // selection rank; lower is better
	aged  time.Time     // when score last decayed (zero: never)

	timeouts     int       // consecutive timeouts, reset by an answer
	blockedUntil time.Time // avoided until then (after blockAfter timeouts, or while a probe is out)

	noEDNSUntil time.Time
	no0x20Until time.Time
	racedUntil  time.Time // a fresh server raced by a query until then (claimRace)

	queries uint64 // answers and timeouts recorded: how busy the server is
}

// sample folds in an answer that took rtt.
func (e *entry) sample(rtt time.Duration, now time.Time, cfg *Config) {
	rtt = max(rtt, 0)
	e.queries++
	recovering := e.timeouts > 0
	e.timeouts = 0
	e.blockedUntil = time.Time{}

	// RFC 6298 §2.2 for the first measurement, §2.3 after. Karn's rule
	// (§3) does not bite: every DNS retry has its own ID and port, so an
	// answer always belongs to the query it is timed against.
	if e.samples == 0 {
		e.srtt, e.rttvar = rtt, rtt/2
	} else {
		e.rttvar += (absDur(e.srtt-rtt) - e.rttvar) / 4
		e.srtt += (rtt - e.srtt) / 8
	}
	e.samples++
	e.rto = clampRTO(e.srtt+max(4*e.rttvar, slack(e.srtt)), cfg)

	// The score restarts from the measurement for a server heard from for
	// the first time or after timeouts: the old score describes a server
	// that was not there. Otherwise BIND's 0.7/0.3 average
	// (DNS_ADB_RTTADJDEFAULT).
	if e.samples == 1 || recovering {
		e.score = rtt
	} else {
		e.score = (7*e.score + 3*rtt) / 10
	}
	e.aged = now
}

// timeout folds in a query that got no answer.
func (e *entry) timeout(now time.Time, cfg *Config) {
	e.queries++
	waited := e.rto
	// RFC 6298 §5.5: back off the timer. A retransmission to the same
	// server with a doubled timeout is the iterator's choice; here it
	// also makes a lossy server rank worse.
	e.rto = clampRTO(2*e.rto, cfg)
	e.score = (7*e.score + 3*waited) / 10
	e.aged = now
	e.timeouts++
	if e.timeouts >= blockAfter {
		// Avoid the server for backoffBase, 2×, 4×, ... up to MaxBackoff.
		// The shift is bounded so that it cannot overflow.
		b := backoffBase << min(e.timeouts-blockAfter, 30)
		e.blockedUntil = now.Add(min(b, cfg.MaxBackoff))
	}
}

// age decays the score by half every AgeHalfLife since it was last aged.
// BIND decays the SRTT of servers not chosen (dns_adb_agesrtt) so that a
// slower server's rank drifts down to the best one's and it gets asked
// again: the exploration that notices a server that has become closer.
// The decay is continuous in time rather than per query, so exploration
// costs a few queries per half-life however busy the zone is.
func (e *entry) age(now time.Time, cfg *Config) {
	if e.aged.IsZero() {
		e.aged = now
		return
	}
	dt := now.Sub(e.aged)
	if dt <= 0 {
		return
	}
	f := math.Exp2(-float64(dt) / float64(cfg.AgeHalfLife))
	e.score = time.Duration(float64(e.score) * f)
	e.aged = now
}

// backoffEnded reports whether a server that was being avoided may be
// probed again.
func (e *entry) backoffEnded(now time.Time) bool {
	return e.timeouts >= blockAfter && !now.Before(e.blockedUntil)
}

func (e *entry) blocked(now time.Time) bool { return now.Before(e.blockedUntil) }

// slack is the least the RTO allows above SRTT: RFC 6298 §2's G, which
// keeps RTO = SRTT + max(G, 4·RTTVAR) from collapsing onto SRTT. A server
// whose answers always take the same time drives RTTVAR towards zero, and
// then any hiccup (a busy core, a queue) turns a good answer into a
// timeout, the server is skipped, and a question whose other servers are
// unreachable fails: the geo testbed's cut-off phase found exactly that
// with 120 ms servers answering within a millisecond of each other. A
// quarter of SRTT, and at least 5 ms, costs little on a real loss.
func slack(srtt time.Duration) time.Duration {
	return max(srtt/4, 5*time.Millisecond)
}

func clampRTO(d time.Duration, cfg *Config) time.Duration {
	return min(max(d, cfg.MinRTO), cfg.MaxRTO)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
