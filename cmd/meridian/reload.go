package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"slices"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
	"github.com/meridian-dns/meridian/server"
	"github.com/meridian-dns/meridian/zone"
)

// loadZones loads every zone of cfg (with prev as the versions to keep when
// a file fails), logs each result and counts it in the metrics. It never
// fails: a zone that does not load is served from prev or as SERVFAIL.
func (d *authDaemon) loadZones(cfg *config.Config, prev *zone.Set) *zone.Set {
	specs := make([]zone.Spec, 0, len(cfg.Zones))
	for _, z := range cfg.Zones {
		if !z.IsSecondary() { // the Manager keeps those
			specs = append(specs, zone.Spec{Origin: z.Origin, File: z.File})
		}
	}
	set, results := zone.LoadSet(specs, prev, zone.LoadOptions{})
	for i := range results {
		r := &results[i]
		d.logResult(r)
		d.srv.ObserveReload(r.Origin, r.OK)
	}
	return set
}

// releaseMemory returns to the system what loading left behind. Parsing and
// checking make garbage several times the size of the zones, and a reload
// leaves the previous versions; left to the runtime, the resident set stays
// near twice the live heap (1.1 GB for a 1M-name zone instead of about
// 0.7 GB). Called once the new zones are served: the forced collection
// takes a second for such a zone and queries are answered meanwhile.
func releaseMemory() { debug.FreeOSMemory() }

// logResult logs one zone's load: each problem (warnings too) with its file
// and line, then the outcome, at a level that says whether the operator must
// act.
func (d *authDaemon) logResult(r *zone.LoadResult) {
	log := d.log.With("zone", r.Origin, "file", r.File)
	for _, p := range r.Problems {
		level := slog.LevelWarn
		if p.Severity == zone.Error {
			level = slog.LevelError
		}
		log.Log(context.Background(), level, "zone problem", "problem", formatProblem(p))
	}
	switch {
	case r.OK:
		log.Info("zone loaded", "serial", r.Serial, "records", r.Records, "warnings", len(r.Problems))
	case r.KeptPrevious:
		log.Error("zone not reloaded; still serving the previous version", "serial", r.Serial, "err", r.Err)
	default:
		log.Error("zone not loaded; answering SERVFAIL for it", "err", r.Err)
	}
}

// reload applies SIGHUP: re-read the config, then every zone file, keeping
// the previous version of each zone that fails. If the config is invalid
// nothing changes, so a typo cannot take zones down.
func (d *authDaemon) reload() {
	d.log.Info("reload requested")
	cfg := d.cfg
	if d.env.Reconfigure != nil {
		next, err := d.env.Reconfigure()
		if err != nil {
			logLines(d.log, "reload refused: invalid configuration; still serving the previous configuration and zones", err)
			return
		}
		d.applyConfig(next)
		cfg = next
	}
	set := d.loadZones(cfg, d.set)
	for _, z := range d.set.Zones() {
		if set.Get(z.Origin()) == nil {
			d.log.Info("zone removed; no longer served", "zone", z.Origin())
		}
	}
	d.repl.setPrimaries(set)
	d.set, d.cfg = set, cfg
	releaseMemory()
	failed := 0
	for _, z := range set.Zones() {
		if z.Err() != nil {
			failed++
		}
	}
	d.log.Info("reload done", "zones", set.Len(), "servfail", failed)
}

// applyConfig takes from next what can change while running (log.level) and
// warns about each setting that needs a restart, which keeps its running
// value.
func (d *authDaemon) applyConfig(next *config.Config) {
	applyCommon(d.log, d.env.Level, d.srv, d.cfg, next)
	d.replicationChanged(next)
	cur := d.cfg
	if cur.MinimalResponses != next.MinimalResponses {
		needsRestart(d.log, "minimal-responses", cur.MinimalResponses, next.MinimalResponses)
		next.MinimalResponses = cur.MinimalResponses
	}
}

// applyCommon applies log.level, identity and version from next to the
// running daemon and its server srv, and warns about each other common
// setting that needs a restart, putting its running value back in next,
// so that the next reload compares against what actually runs and warns
// again. Listeners are not rebound on reload: closing one would drop the
// queries in flight on it, and a new one may need privileges the process
// has given up.
func applyCommon(log *slog.Logger, level *slog.LevelVar, srv *server.Server, cur, next *config.Config) {
	if level != nil {
		if lv, err := config.ParseLevel(next.Log.Level); err == nil && lv != level.Level() {
			// Logged at the higher of the two levels, so that the record is
			// seen whichever way the level moved.
			at := max(lv, level.Level(), slog.LevelInfo)
			level.Set(lv)
			log.Log(context.Background(), at, "log level changed", "level", next.Log.Level)
		}
	}
	if id := serverIdentity(next); id != serverIdentity(cur) {
		srv.SetIdentity(id)
		log.Info("identity changed", "identity", next.Identity, "version", next.Version)
	}
	if !slices.Equal(cur.Listen, next.Listen) {
		needsRestart(log, "listen", cur.Listen, next.Listen)
	}
	if cur.Metrics != next.Metrics {
		needsRestart(log, "metrics", cur.Metrics, next.Metrics)
	}
	if cur.UDPSize != next.UDPSize {
		needsRestart(log, "udp-size", cur.UDPSize, next.UDPSize)
	}
	if cur.TCP != next.TCP {
		needsRestart(log, "tcp", cur.TCP, next.TCP)
	}
	if cur.Log.Format != next.Log.Format {
		needsRestart(log, "log.format", cur.Log.Format, next.Log.Format)
	}
	next.Listen, next.Metrics, next.UDPSize, next.TCP, next.Log.Format =
		cur.Listen, cur.Metrics, cur.UDPSize, cur.TCP, cur.Log.Format
}

// serverIdentity is what cfg has the server tell about itself.
func serverIdentity(cfg *config.Config) server.Identity {
	return server.Identity{ID: cfg.Identity, Version: cfg.Version}
}

// needsRestart warns that a reload keeps a setting's running value.
func needsRestart(log *slog.Logger, key string, running, wanted any) {
	log.Warn("reload: setting needs a restart; keeping the running value", "key", key, "running", running, "config", wanted)
}
