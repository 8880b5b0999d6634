package secondary

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-dns/meridian/zone"
	"github.com/meridian-dns/meridian/zone/journal"
	"github.com/meridian-dns/meridian/zone/serial"
)

// Clock is the time source of the refresh timers, injected so that tests
// run EXPIRE in milliseconds.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock reaches t, and a
	// function that stops it. A t not after Now fires at once. It takes an
	// instant rather than a duration so that a clock moving between Now
	// and At cannot push the deadline back.
	At(t time.Time) (<-chan time.Time, func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) At(at time.Time) (<-chan time.Time, func() bool) {
	t := time.NewTimer(time.Until(at))
	return t.C, t.Stop
}

// szone is the state of one secondary zone. Only its goroutine (run)
// writes it; the mutex lets metrics and Current read it.
type szone struct {
	origin    string
	primaries atomic.Pointer[[]Primary] // SetPrimaries replaces it; never nil
	store     *store
	journal   *journal.Journal
	kick      chan struct{} // capacity 1: a NOTIFY pending
	cancel    context.CancelFunc
	done      chan struct{} // closed when run has returned

	mu        sync.Mutex
	cur       *zone.Zone // last good version, nil if none
	lastOK    time.Time  // last successful refresh (zero: never)
	nextCheck time.Time
	expired   bool
}

func (z *szone) current() *zone.Zone {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.cur
}

// poke asks for an immediate refresh; several NOTIFYs before it runs
// collapse into one.
func (z *szone) poke() {
	select {
	case z.kick <- struct{}{}:
	default:
	}
}

// timers are the zone's SOA timers, clamped by the Limits. Without a
// version yet, RETRY's floor paces the attempts.
type timers struct{ refresh, retry, expire time.Duration }

func (m *Manager) timersOf(z *zone.Zone) timers {
	l := m.opts.Limits
	if z == nil || z.SOA() == nil {
		return timers{l.MinRefresh, l.MinRetry, l.MaxExpire}
	}
	soa := z.SOA()
	sec := func(v uint32, lo, hi time.Duration) time.Duration {
		return min(max(time.Duration(v)*time.Second, lo), hi)
	}
	return timers{
		refresh: sec(soa.Refresh, l.MinRefresh, l.MaxRefresh),
		retry:   sec(soa.Retry, l.MinRetry, l.MaxRetry),
		expire:  sec(soa.Expire, l.MinExpire, l.MaxExpire),
	}
}

// expiresAt is when the held version expires; ok is false when there is
// none or it has expired already.
func (m *Manager) expiresAt(z *szone) (t time.Time, ok bool) {
	if z.cur == nil || z.expired {
		return time.Time{}, false
	}
	return z.lastOK.Add(m.timersOf(z.cur).expire), true
}

// run is the zone's goroutine: it sleeps until the next SOA check or the
// expiry, whichever is first, or until a NOTIFY. Deadlines are absolute,
// so a clock that jumps (or a test that advances it) loses nothing.
func (m *Manager) run(ctx context.Context, z *szone) {
	for {
		z.mu.Lock()
		wake := z.nextCheck
		if exp, ok := m.expiresAt(z); ok && exp.Before(wake) {
			wake = exp
		}
		z.mu.Unlock()
		c, stop := m.opts.Clock.At(wake)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-z.kick:
			stop()
			m.refresh(ctx, z)
		case <-c:
			now := m.opts.Clock.Now()
			m.checkExpiry(z, now)
			z.mu.Lock()
			due := !now.Before(z.nextCheck)
			z.mu.Unlock()
			if due {
				m.refresh(ctx, z)
			}
		}
	}
}

// checkExpiry stops serving a zone that has gone EXPIRE without a
// successful refresh (RFC 1035 §3.3.13): stale data is worse than none.
func (m *Manager) checkExpiry(z *szone, now time.Time) {
	z.mu.Lock()
	exp, ok := m.expiresAt(z)
	fire := ok && !now.Before(exp)
	if fire {
		z.expired = true
	}
	last := z.lastOK
	z.mu.Unlock()
	if fire {
		m.opts.Logger.Error("secondary: zone expired, answering SERVFAIL", "zone", z.origin, "last_refresh", last)
		m.opts.Expire(z.origin, fmt.Errorf("%w: %s: no successful refresh since %s", ErrExpired, z.origin, last.Format(time.RFC3339)))
	}
}

// refresh checks each primary in turn until one answers (RFC 1034 §4.3.5):
// success schedules the next check after REFRESH, failure after RETRY,
// both counted from the start of the attempt, so that a long transfer does
// not stretch the timers (nor a clock moved meanwhile lose a deadline).
func (m *Manager) refresh(ctx context.Context, z *szone) {
	start := m.opts.Clock.Now()
	var errs []error
	for _, p := range *z.primaries.Load() {
		err := m.refreshFrom(ctx, z, p)
		if err == nil {
			m.succeeded(z, start)
			return
		}
		if ctx.Err() != nil {
			return
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.Addr, err))
	}
	z.mu.Lock()
	z.nextCheck = start.Add(m.timersOf(z.cur).retry)
	z.mu.Unlock()
	m.metrics.refreshes.WithLabelValues("failed").Inc()
	m.opts.Logger.Warn("secondary: refresh failed", "zone", z.origin, "err", errors.Join(errs...))
	m.checkExpiry(z, m.opts.Clock.Now())
}

// succeeded records a successful refresh: the data is fresh again, and an
// expired zone is served again.
func (m *Manager) succeeded(z *szone, now time.Time) {
	z.mu.Lock()
	z.lastOK = now
	z.nextCheck = now.Add(m.timersOf(z.cur).refresh)
	wasExpired := z.expired
	z.expired = false
	cur := z.cur
	z.mu.Unlock()
	m.metrics.refreshes.WithLabelValues("ok").Inc()
	if cur != nil {
		// Best effort: losing it costs at most an early expiry after a
		// restart, never wrong data.
		if err := z.store.writeMeta(meta{Serial: cur.Serial(), Refreshed: now}); err != nil {
			m.opts.Logger.Warn("secondary: storing refresh time", "zone", z.origin, "err", err)
		}
	}
	if wasExpired && cur != nil {
		m.opts.Publish(z.origin, cur)
	}
}

// refreshFrom asks one primary for its SOA and, when its serial is newer by
// RFC 1982 arithmetic, transfers the zone: IXFR first when there is a
// version to build on, AXFR if that fails for any reason.
func (m *Manager) refreshFrom(ctx context.Context, z *szone, p Primary) error {
	soa, err := m.querySOA(ctx, z.origin, p)
	if err != nil {
		return err
	}
	cur := z.current()
	if cur != nil && !serial.Greater(soa.Serial, cur.Serial()) {
		return nil
	}
	if cur != nil {
		if err = m.transfer(ctx, z, p, cur, kindIXFR); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return m.transfer(ctx, z, p, cur, kindAXFR)
}
