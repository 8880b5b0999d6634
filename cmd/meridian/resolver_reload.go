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
	applyCommon(d.log, d.env.Level, d.srv, cur, next)
	changed := append([]string{}, config.Changed("resolver", cur.Resolver, next.Resolver)...) // [] rather than null in the log
	if slices.Contains(changed, "resolver.allow") {
		d.srv.SetAllow(next.Resolver.AllowPrefixes())
		d.log.Info("allow list changed", "allow", next.Resolver.Allow)
	}
	if slices.Contains(changed, "resolver.max-recursive") {
		d.srv.SetMaxRecursive(noLimit(next.Resolver.MaxRecursive))
	}
	// Everything else went to the resolver above, for the resolutions that
	// start from now on, even when nothing seemed changed: the root hints
	// file is read again, and its content is what counts.
	d.cfg = next
	d.log.Info("reload done", "changed", changed)
}
