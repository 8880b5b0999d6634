package secondary

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/miekg/dns"
)

// The set of zones changes at a reload of the daemon (SIGHUP): AddZone and
// RemoveZone, serialised by Manager.mu, copy the map and swap it, while
// the NOTIFY path, Status and the metrics read whichever map is current
// without a lock. Lock order, where both are held: Manager.mu, then a
// zone's mu; readers take only the zone's.

func canonical(origin string) string { return strings.ToLower(dns.Fqdn(origin)) }

// snapshot is the current set of zones; callers must not modify it.
func (m *Manager) snapshot() map[string]*szone { return *m.zones.Load() }

// zone returns the zone kept for origin, or nil.
func (m *Manager) zone(origin string) *szone { return m.snapshot()[canonical(origin)] }

// AddZone starts keeping a new zone, as New does for its zones: it opens
// its store and journal, publishes its disk copy at once (Options.Publish)
// if there is one, or reports it expired (Options.Expire), and starts its
// refresh loop, which checks the primaries immediately. It is an error if
// the origin is already kept, if the zone has no primaries, or if the
// Manager is closed (ErrClosed).
func (m *Manager) AddZone(zc Zone) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.ctx.Err() != nil {
		return ErrClosed
	}
	old := m.snapshot()
	z, err := m.open(zc, old)
	if err != nil {
		return err
	}
	next := maps.Clone(old)
	next[z.origin] = z
	m.zones.Store(&next)
	m.start(z)
	return nil
}

// RemoveZone stops keeping a zone: it leaves the set (NOTIFY for it gets
// NOTAUTH, Current nil), its goroutine is stopped and waited for, and its
// journal is closed. A transfer under way is abandoned; the store writes
// through temporary files, so it leaves no partial file. The disk copy
// stays, and AddZone of the same origin later starts from it. Once
// RemoveZone has returned, no callback of Options fires for the zone. It
// may wait up to Options.QueryTimeout for an SOA query in flight, which
// miekg does not abandon on cancellation. It is an error if the zone is
// not kept, or if the Manager is closed (ErrClosed).
func (m *Manager) RemoveZone(origin string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	key := canonical(origin)
	old := m.snapshot()
	z := old[key]
	if z == nil {
		return fmt.Errorf("secondary: zone %s is not kept here", key)
	}
	next := maps.Clone(old)
	delete(next, key)
	m.zones.Store(&next)
	// Waiting for run to return, not merely cancelling it, is what makes
	// the no-callback promise hold: a Publish under way finishes first.
	z.cancel()
	<-z.done
	if z.journal != nil {
		if err := z.journal.Close(); err != nil {
			return fmt.Errorf("secondary: %s: %w", key, err)
		}
	}
	return nil
}

// SetPrimaries replaces the primaries of a zone kept here, keys included,
// without stopping to serve it: unlike RemoveZone and AddZone, the version
// held stays published, its timers run on, and nothing is read from disk
// again. It then asks for an immediate SOA check, as a NOTIFY does, so
// that a new key or address is used, and checked, at once. A refresh
// under way finishes with the primaries it started with. It is an error if
// the list is empty, if the zone is not kept, or if the Manager is closed
// (ErrClosed).
func (m *Manager) SetPrimaries(origin string, primaries []Primary) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.ctx.Err() != nil {
		return ErrClosed
	}
	key := canonical(origin)
	z := m.snapshot()[key]
	switch {
	case z == nil:
		return fmt.Errorf("secondary: zone %s is not kept here", key)
	case len(primaries) == 0:
		return fmt.Errorf("secondary: zone %s has no primaries", key)
	}
	z.setPrimaries(primaries)
	z.poke()
	return nil
}

// setPrimaries stores a copy of ps, keys included, which the refresh loop
// and the NOTIFY path read without a lock.
func (z *szone) setPrimaries(ps []Primary) {
	c := make([]Primary, len(ps))
	for i, p := range ps {
		if p.Key != nil {
			k := *p.Key
			p.Key = &k
		}
		c[i] = p
	}
	z.primaries.Store(&c)
}

// start runs the zone's goroutine under a context of its own, a child of
// the Manager's, so that RemoveZone can stop it alone and Close all.
func (m *Manager) start(z *szone) {
	ctx, cancel := context.WithCancel(m.ctx)
	z.cancel, z.done = cancel, make(chan struct{})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(z.done)
		defer cancel()
		m.run(ctx, z)
	}()
}
