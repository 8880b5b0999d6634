package main

import (
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
	"github.com/meridian-dns/meridian/server/xfr"
)

// replicationChanged applies the replication settings of a reload, as
// BIND's rndc reload, NSD's nsd-control reconfig and Knot's knotc reload
// do, without dropping a query:
//
//   - tsig-keys: the keys transfers, NOTIFYs and signed queries are
//     checked and signed with, and those of the secondary zones' primaries
//     (a secret-file whose content changed counts);
//   - the allow-transfer, notify and notify-ns of zones fed to
//     secondaries, and zones newly fed;
//   - secondary zones added, removed, or given other primaries or keys,
//     the last re-keyed in place: served throughout.
//
// It warns about the settings it cannot change, data-dir and the
// secondary timers, and keeps their running values in next. The config
// is consistent as a whole (Validate refuses a key name that tsig-keys
// does not define), and it is applied in an order where neither the old
// nor the new config is refused a transfer meanwhile: the old and new keys
// together, then the zones' settings, then the new keys alone.
func (d *authDaemon) replicationChanged(next *config.Config) {
	cur := d.cfg
	if cur.DataDir != next.DataDir {
		needsRestart(d.log, "data-dir", cur.DataDir, next.DataDir)
	}
	if cur.Secondary != next.Secondary {
		needsRestart(d.log, "secondary", cur.Secondary, next.Secondary)
	}
	next.DataDir, next.Secondary = cur.DataDir, cur.Secondary

	oldKeys, keys := d.repl.keys, d.readKeys(cur, next)
	changed := !slices.Equal(oldKeys, keys)
	if changed {
		if err := d.repl.primary.SetKeys(unionKeys(keys, oldKeys)); err != nil {
			// Validate accepted these keys: not expected.
			d.log.Error("reload: tsig-keys not applied; keeping the running keys", "err", err)
			keys, changed, next.TSIGKeys = oldKeys, false, cur.TSIGKeys
		}
	}
	d.feedZones(cur, next)
	if changed {
		if err := d.repl.primary.SetKeys(keys); err != nil {
			d.log.Error("reload: tsig-keys: old keys not removed", "err", err)
		}
		d.repl.keys = keys
		d.log.Info("TSIG keys changed", "keys", keyNames(keys))
	}
	d.secondariesChanged(cur, next, oldKeys, keys)
}

// readKeys returns next's keys, secrets read. Validate read them a moment
// ago; if a secret file has gone since, the running keys stay.
func (d *authDaemon) readKeys(cur, next *config.Config) []xfr.Key {
	keys, err := next.Keys()
	if err != nil {
		d.log.Error("reload: tsig-keys not read; keeping the running keys", "err", err)
		next.TSIGKeys = cur.TSIGKeys
		return d.repl.keys
	}
	return keys
}

// feedZones gives the Primary the transfer settings of every zone next
// feeds to secondaries, adding those it does not feed yet, and takes them
// from zones fed before that next no longer feeds: their transfers are
// REFUSED and no NOTIFY is sent. A zone whose settings fail keeps its
// running ones, in next too, so that the next reload tries again.
func (d *authDaemon) feedZones(cur, next *config.Config) {
	for i := range next.Zones {
		z := &next.Zones[i]
		if !feeds(*z) {
			continue
		}
		was := config.Zone{}
		if j := slicesIndexZone(cur.Zones, z.Origin); j >= 0 {
			was = cur.Zones[j]
		}
		zc, err := zoneConfig(*z)
		if err == nil {
			if d.repl.isFed(z.Origin) {
				err = d.repl.primary.SetZoneConfig(z.Origin, zc)
			} else if err = d.repl.primary.AddZone(z.Origin, zc); err == nil {
				d.repl.setFed(z.Origin)
			}
		}
		switch {
		case err != nil:
			d.log.Error("reload: transfer settings not applied; keeping the running ones", "zone", z.Origin, "err", err)
			z.AllowTransfer, z.Notify, z.NotifyNS = was.AllowTransfer, was.Notify, was.NotifyNS
		case !sameFeed(was, *z):
			d.log.Info("zone transfer settings changed", "zone", z.Origin,
				"allow-transfer", z.AllowTransfer, "notify", z.Notify, "notify-ns", z.NotifyNS)
		}
	}
	for _, origin := range d.repl.fedZones() {
		if i := slicesIndexZone(next.Zones, origin); i >= 0 && feeds(next.Zones[i]) {
			continue
		}
		if err := d.repl.primary.SetZoneConfig(origin, xfr.ZoneConfig{}); err != nil {
			d.log.Error("reload: transfer settings not removed", "zone", origin, "err", err)
		} else if i := slicesIndexZone(cur.Zones, origin); i >= 0 && feeds(cur.Zones[i]) {
			d.log.Info("zone no longer fed to secondaries; transfers refused", "zone", origin)
		}
	}
}

// sameFeed reports whether a and b have the same transfer settings.
func sameFeed(a, b config.Zone) bool {
	return slices.Equal(a.AllowTransfer, b.AllowTransfer) && slices.Equal(a.Notify, b.Notify) && a.NotifyNS == b.NotifyNS
}

// secondariesChanged adds, removes and re-keys secondary zones: a zone
// whose primaries changed, addresses or keys (a new key name, or a new
// secret under the same name), keeps its copy served and its timers
// running, and checks the primaries at once with the new settings.
func (d *authDaemon) secondariesChanged(cur, next *config.Config, oldKeys, keys []xfr.Key) {
	running, wanted := secondaryZones(cur), secondaryZones(next)
	if d.repl.sec == nil && len(running)+len(wanted) > 0 {
		// No Manager: started without a data directory, which a reload
		// cannot add (and so without secondary zones). Keep the zones as
		// they run, and load no file for an origin kept as secondary.
		needsRestart(d.log, "zones (secondary)", slices.Sorted(maps.Keys(running)), slices.Sorted(maps.Keys(wanted)))
		var zones []config.Zone
		for _, z := range next.Zones {
			if _, ok := running[strings.ToLower(z.Origin)]; !ok && !z.IsSecondary() {
				zones = append(zones, z)
			}
		}
		for _, z := range cur.Zones {
			if z.IsSecondary() {
				zones = append(zones, z)
			}
		}
		next.Zones = zones
		return
	}
	// Secondary zones dropped stop first: a zone that becomes a primary is
	// then loaded from its file by the reload.
	for origin := range running {
		if _, ok := wanted[origin]; !ok {
			d.repl.removeSecondary(origin)
		}
	}
	for _, z := range next.Zones {
		origin := strings.ToLower(z.Origin)
		if !z.IsSecondary() {
			continue
		}
		if _, ok := running[origin]; !ok {
			// After feedZones, so that its first version already feeds
			// downstream.
			d.repl.addSecondary(keys, z)
			continue
		}
		was, _ := secondaryZone(oldKeys, running[origin])
		now, err := secondaryZone(keys, z)
		if err == nil && reflect.DeepEqual(was.Primaries, now.Primaries) {
			continue
		}
		if err == nil {
			err = d.repl.sec.SetPrimaries(z.Origin, now.Primaries)
		}
		if err != nil {
			d.log.Error("reload: secondary zone keeps its running primaries", "zone", z.Origin, "err", err)
			continue
		}
		d.log.Info("secondary zone primaries changed", "zone", z.Origin, "primaries", z.Primaries)
	}
}

// secondaryZones lists the secondary zones of c by lower-case origin.
func secondaryZones(c *config.Config) map[string]config.Zone {
	out := map[string]config.Zone{}
	for _, z := range c.Zones {
		if z.IsSecondary() {
			out[strings.ToLower(z.Origin)] = z
		}
	}
	return out
}

// unionKeys is keys and, for names keys has not, the old keys.
func unionKeys(keys, old []xfr.Key) []xfr.Key {
	out := slices.Clone(keys)
	for _, k := range old {
		if !slices.ContainsFunc(keys, func(n xfr.Key) bool { return n.Name == k.Name }) {
			out = append(out, k)
		}
	}
	return out
}

func keyNames(keys []xfr.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Name
	}
	return out
}

func slicesIndexZone(zones []config.Zone, origin string) int {
	for i, z := range zones {
		if strings.EqualFold(z.Origin, origin) {
			return i
		}
	}
	return -1
}

// fedZones lists the origins added to the Primary.
func (r *replication) fedZones() []string {
	r.fedMu.Lock()
	defer r.fedMu.Unlock()
	out := make([]string, 0, len(r.fed))
	for origin := range r.fed {
		out = append(out, origin)
	}
	return out
}
