package main

import (
	"slices"
	"strings"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
)

// reload applies SIGHUP: re-read the config and apply what changed, keeping
// the cache. If the config is invalid, or the root hints do not parse,
// nothing changes.
func (d *resolverDaemon) reload() {
	d.log.Info("reload requested")
	if d.env.Reconfigure == nil {
		d.log.Info("reload done", "changed", []string{})
		return
	}
	next, err := d.env.Reconfigure()
	if err != nil {
		logLines(d.log, "reload refused: invalid configuration; still serving the previous configuration", err)
		return
	}
	rc, err := resolverConfig(next, d.log)
	if err != nil {
		d.log.Error("reload refused: still serving the previous configuration", "err", err)
		return
	}
	cur := d.cfg
	applyCommon(d.log, d.env.Level, cur, next)
	changed := config.Changed("resolver", cur.Resolver, next.Resolver)
	changed = slices.DeleteFunc(changed, func(key string) bool {
		if !needsRestartKey(key) {
			return false
		}
		needsRestart(d.log, key, config.Lookup(*cur, key), config.Lookup(*next, key))
		return true
	})
	// Keep the running values in the config we hold, so that the next
	// reload compares against what runs and warns again.
	next.Resolver.MaxRecursive, next.Resolver.StaleWindow, next.Resolver.Cache =
		cur.Resolver.MaxRecursive, cur.Resolver.StaleWindow, cur.Resolver.Cache
	if slices.Contains(changed, "resolver.allow") {
		d.srv.SetAllow(next.Resolver.AllowPrefixes())
		d.log.Info("allow list changed", "allow", next.Resolver.Allow)
	}
	// Everything else goes to the resolver, for the resolutions that start
	// from now on, even when nothing seems changed: the root hints file is
	// read again, and its content is what counts.
	d.res.Reconfigure(rc)
	d.cfg = next
	d.log.Info("reload done", "changed", changed)
}

// needsRestartKey reports whether a reload cannot apply a key of the
// resolver section: the server's slots are sized once, and the cache's
// size, TTL clamps and stale window are fixed when it is built
// (resolver.Reconfigure keeps the cache, and with it these).
func needsRestartKey(key string) bool {
	return key == "resolver.max-recursive" || key == "resolver.stale-window" ||
		strings.HasPrefix(key, "resolver.cache.")
}
