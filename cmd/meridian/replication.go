package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
	"github.com/meridian-dns/meridian/resolver/exchange"
	"github.com/meridian-dns/meridian/server"
	"github.com/meridian-dns/meridian/server/secondary"
	"github.com/meridian-dns/meridian/server/xfr"
	"github.com/meridian-dns/meridian/zone"
)

// replication is the replication side of `meridian auth`: the xfr.Primary
// that serves transfers and sends NOTIFY (for primary zones, and for
// secondary zones that feed further secondaries), and the
// secondary.Manager that keeps the secondary zones.
//
// The server serves one zone set made of two parts: the primary zones
// loaded from files (by the daemon's goroutine, at start and on SIGHUP)
// and the secondary zones (published by the Manager's goroutines at any
// time). zones merges them under a mutex and swaps the server's set.
type replication struct {
	primary *xfr.Primary       // always there, so that a reload can add keys and feed zones
	keys    []xfr.Key          // the keys primary and sec run with, secrets read
	sec     *secondary.Manager // nil without secondary zones
	fedMu   sync.Mutex         // fed: written on reload, read by the Manager's goroutines
	fed     map[string]bool    // lower-case origins added to primary
	zones   *zoneMerger
	log     *slog.Logger
	dialer  exchange.Dialer // opens NOTIFY, SOA query and transfer sockets; nil: the system's

	// srv is the server, for primary's Served; set before it starts.
	srv atomic.Pointer[server.Server]
}

func (r *replication) isFed(origin string) bool {
	r.fedMu.Lock()
	defer r.fedMu.Unlock()
	return r.fed[strings.ToLower(origin)]
}

func (r *replication) setFed(origin string) {
	r.fedMu.Lock()
	defer r.fedMu.Unlock()
	r.fed[strings.ToLower(origin)] = true
}

// zoneMerger composes the served zone set from the file-loaded primaries
// and the secondaries' latest versions.
type zoneMerger struct {
	srv *server.Server

	mu          sync.Mutex
	primaries   *zone.Set
	secondaries map[string]*zone.Zone // by lower-case origin
}

// setPrimaries serves set alongside the secondaries.
func (m *zoneMerger) setPrimaries(set *zone.Set) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.primaries = set
	m.swap()
}

// setSecondary serves z (a transferred version, or zone.Failed) for its
// origin.
func (m *zoneMerger) setSecondary(z *zone.Zone) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.secondaries[strings.ToLower(z.Origin())] = z
	m.swap()
}

// removeSecondary stops serving a secondary zone.
func (m *zoneMerger) removeSecondary(origin string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.secondaries, strings.ToLower(origin))
	m.swap()
}

// swap serves the merged set. Nothing is served before the primaries are
// first loaded, so that /healthz stays 503 while a large zone loads.
func (m *zoneMerger) swap() {
	if m.primaries == nil {
		return
	}
	all := m.primaries.Zones()
	for origin, z := range m.secondaries {
		// A zone turning from primary to secondary on a reload is, for a
		// moment, in both: the primary version serves until the new
		// primaries leave it out.
		if m.primaries.Get(origin) == nil {
			all = append(all, z)
		}
	}
	m.srv.SetZones(zone.NewSet(all...))
}

// feeds reports whether z is served to secondaries.
func feeds(z config.Zone) bool { return len(z.AllowTransfer) > 0 || len(z.Notify) > 0 || z.NotifyNS }

// newReplication builds the Primary (not yet the Manager: see
// startSecondaries) and returns the server options it fills.
//
// The Primary is built even when no zone is fed and no key is known, so
// that a reload can add both. It then costs nothing per query but a map
// lookup on SOA queries; a transfer of a zone it does not feed is
// REFUSED, as the server refuses it without a Primary, and its key store
// answers a signed request BADKEY, as the server does without one.
func newReplication(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, dialer exchange.Dialer) (*replication, error) {
	r := &replication{log: log, fed: map[string]bool{}, dialer: dialer}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data-dir: %w", err)
		}
	}
	keys, err := cfg.Keys()
	if err != nil {
		return nil, err
	}
	p, err := xfr.NewPrimary(xfr.Options{Keys: keys, DataDir: cfg.DataDir,
		NotifySource: sourceOr(cfg.NotifySource, cfg.Listen), Dialer: dialer, Logger: log, Registerer: reg,
		Served: r.serves})
	if err != nil {
		return nil, err
	}
	for _, z := range cfg.Zones {
		if !feeds(z) {
			continue
		}
		zc, err := zoneConfig(z)
		if err == nil {
			err = p.AddZone(z.Origin, zc)
		}
		if err != nil {
			p.Close()
			return nil, err
		}
		r.setFed(z.Origin)
	}
	r.primary, r.keys = p, keys
	return r, nil
}

// serves reports whether the server answers for origin: the Primary
// refuses a transfer of such a zone when it does not feed it.
func (r *replication) serves(origin string) bool {
	srv := r.srv.Load()
	return srv != nil && srv.Zones().Get(origin) != nil
}

// serverOptions adds the transfer and NOTIFY hooks to o.
func (r *replication) serverOptions(o server.Options, cfg *config.Config) server.Options {
	o.Transfers = r.primary
	if keepsSecondaries(cfg) {
		// The Manager starts after the server is built; NOTIFYs arrive only
		// once the server has started, after it.
		o.Notify = func(req *dns.Msg, from netip.Addr, key string) *dns.Msg {
			return r.sec.HandleNotify(req, from, key)
		}
	}
	return o
}

// keepsSecondaries reports whether the daemon runs a secondary.Manager:
// with secondary zones, or with a data directory where a reload may add
// some.
func keepsSecondaries(cfg *config.Config) bool { return cfg.DataDir != "" || hasSecondaries(cfg) }

func hasSecondaries(cfg *config.Config) bool {
	for _, z := range cfg.Zones {
		if z.IsSecondary() {
			return true
		}
	}
	return false
}

// startSecondaries starts the Manager for the secondary zones of cfg,
// which publishes their disk copies at once into the served set.
func (r *replication) startSecondaries(ctx context.Context, cfg *config.Config, srv *server.Server, reg prometheus.Registerer) error {
	r.srv.Store(srv)
	r.zones = &zoneMerger{srv: srv, secondaries: map[string]*zone.Zone{}}
	var zones []secondary.Zone
	for _, z := range cfg.Zones {
		if !z.IsSecondary() {
			continue
		}
		sz, err := secondaryZone(r.keys, z)
		if err != nil {
			return err
		}
		zones = append(zones, sz)
		// Until a version is transferred or read from disk: SERVFAIL.
		r.zones.secondaries[strings.ToLower(z.Origin)] = zone.Failed(z.Origin, errors.New("not transferred yet"))
	}
	if !keepsSecondaries(cfg) {
		return nil
	}
	t := cfg.Secondary
	m, err := secondary.New(ctx, secondary.Options{
		Dir: cfg.DataDir,
		Limits: secondary.Limits{MinRefresh: t.MinRefresh, MaxRefresh: t.MaxRefresh,
			MinRetry: t.MinRetry, MaxRetry: t.MaxRetry, MinExpire: t.MinExpire, MaxExpire: t.MaxExpire},
		Source: sourceOr(cfg.TransferSource, cfg.Listen),
		Dialer: r.dialer,
		// The Primary keeps the journal of a zone fed downstream, from the
		// versions published (xfr.Primary.Update); none is needed here.
		NoJournal:  true,
		Publish:    r.publish,
		Expire:     r.expire,
		Registerer: reg,
		Logger:     r.log.With("component", "secondary"),
	}, zones)
	if err != nil {
		return err
	}
	r.sec = m
	return nil
}

// addSecondary starts keeping a secondary zone added by a reload. Until a
// version is read from disk or transferred, it is answered SERVFAIL.
func (r *replication) addSecondary(keys []xfr.Key, z config.Zone) {
	sz, err := secondaryZone(keys, z)
	if err == nil {
		r.zones.setSecondary(zone.Failed(z.Origin, errors.New("not transferred yet")))
		err = r.sec.AddZone(sz)
	}
	if err != nil {
		r.log.Error("reload: secondary zone not added", "zone", z.Origin, "err", err)
		r.zones.removeSecondary(z.Origin)
		return
	}
	r.log.Info("secondary zone added", "zone", z.Origin, "primaries", z.Primaries)
}

// removeSecondary stops keeping a secondary zone a reload dropped, and
// serving it. Its copy stays in the data directory.
func (r *replication) removeSecondary(origin string) {
	if err := r.sec.RemoveZone(origin); err != nil {
		r.log.Error("reload: secondary zone not removed", "zone", origin, "err", err)
		return
	}
	r.zones.removeSecondary(origin)
	r.log.Info("secondary zone removed; no longer served", "zone", origin)
}

// publish serves a secondary zone's new version, and hands it to the
// Primary when the zone feeds further secondaries.
func (r *replication) publish(origin string, z *zone.Zone) {
	r.log.Debug("secondary zone published", "zone", origin, "serial", z.Serial())
	r.zones.setSecondary(z)
	if r.isFed(origin) {
		if err := r.primary.Update(z); err != nil {
			r.log.Error("secondary zone: downstream journal", "zone", origin, "err", err)
		}
	}
}

func (r *replication) expire(origin string, err error) {
	r.log.Error("secondary zone expired; answering SERVFAIL", "zone", origin, "err", err)
	r.zones.setSecondary(zone.Failed(origin, err))
}

// setPrimaries serves the file-loaded zones and tells the Primary of each
// zone it feeds.
func (r *replication) setPrimaries(set *zone.Set) {
	r.zones.setPrimaries(set)
	for _, z := range set.Zones() {
		if r.isFed(z.Origin()) && z.Err() == nil {
			if err := r.primary.Update(z); err != nil {
				r.log.Error("journal update failed", "zone", z.Origin(), "err", err)
			}
		}
	}
}

// close stops the Manager, then the Primary (whose NOTIFYs the Manager's
// publications may start).
func (r *replication) close() {
	if r.sec != nil {
		if err := r.sec.Close(); err != nil {
			r.log.Warn("secondary zones: close", "err", err)
		}
	}
	if err := r.primary.Close(); err != nil {
		r.log.Warn("primary zones: close", "err", err)
	}
}

// zoneConfig maps a zone's allow-transfer and notify to xfr's form.
func zoneConfig(z config.Zone) (xfr.ZoneConfig, error) {
	zc := xfr.ZoneConfig{NotifyNS: z.NotifyNS}
	for _, s := range z.AllowTransfer {
		if p, err := config.ParsePrefix(s); err == nil {
			zc.ACL.Prefixes = append(zc.ACL.Prefixes, p)
		} else {
			zc.ACL.Keys = append(zc.ACL.Keys, s) // validated: a key name
		}
	}
	for _, s := range z.Notify {
		p, err := config.ParsePeer(s)
		if err != nil {
			return zc, err
		}
		zc.Notify = append(zc.Notify, xfr.Target{Addr: p.Addr, Key: p.Key})
	}
	return zc, nil
}

// secondaryZone maps a secondary zone to the Manager's form, with its
// primaries' keys taken from keys.
func secondaryZone(keys []xfr.Key, z config.Zone) (secondary.Zone, error) {
	sz := secondary.Zone{Origin: z.Origin}
	for _, s := range z.Primaries {
		p, err := config.ParsePeer(s)
		if err != nil {
			return sz, err
		}
		sp := secondary.Primary{Addr: p.Addr}
		if p.Key != "" {
			want := dns.CanonicalName(p.Key)
			for _, k := range keys {
				if k.Name == want {
					sp.Key = &secondary.Key{Name: k.Name, Algorithm: k.Algorithm, Secret: k.Secret}
				}
			}
			if sp.Key == nil {
				return sz, fmt.Errorf("zone %s: primary %s: unknown key %q", z.Origin, s, p.Key)
			}
		}
		sz.Primaries = append(sz.Primaries, sp)
	}
	return sz, nil
}

// sourceOr is the configured source address (validated), or sourceAddr's.
func sourceOr(configured string, listen []string) netip.Addr {
	if a, err := netip.ParseAddr(configured); err == nil {
		return a
	}
	return sourceAddr(listen)
}

// sourceAddr is the address NOTIFYs and transfer requests leave from: the
// first listen address when it is a specific one, so that peers that
// accept only a known address see it; otherwise the kernel chooses.
func sourceAddr(listen []string) netip.Addr {
	if len(listen) == 0 {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(listen[0])
	if err != nil || ap.Addr().IsUnspecified() {
		return netip.Addr{}
	}
	return ap.Addr()
}
