package main

import (
	"slices"

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
	if err := d.res.Reconfigure(rc); err != nil {
		d.log.Error("reload refused: still serving the previous configuration", "err", err)
		return
	}
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
	next.Resolver.MaxRecursive = cur.Resolver.MaxRecursive
	if slices.Contains(changed, "resolver.allow") {
		d.srv.SetAllow(next.Resolver.AllowPrefixes())
		d.log.Info("allow list changed", "allow", next.Resolver.Allow)
	}
	// Everything else went to the resolver above, for the resolutions that
	// start from now on, even when nothing seemed changed: the root hints
	// file is read again, and its content is what counts.
	d.cfg = next
	d.log.Info("reload done", "changed", changed)
}

// needsRestartKey reports whether a reload cannot apply a key of the
// resolver section: the server's slots are fixed when it is built. The
// cache's size applies at once; TTL clamps and the stale window to what is
// cached from then on.
func needsRestartKey(key string) bool {
	return key == "resolver.max-recursive"
}
