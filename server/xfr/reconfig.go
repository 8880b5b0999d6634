package xfr

import (
	"fmt"
	"slices"

	"github.com/miekg/dns"
)

// A reload (the daemon's SIGHUP) changes keys and zone configs while
// transfers run, as BIND's rndc reload, NSD's nsd-control reconfig and
// Knot's knotc reload do. Requests read the keyring and a zone's config
// each once, through atomic pointers, so that nothing they hold changes
// under them: a transfer under way finishes under what it started with,
// the next request sees the new values.

// SetKeys replaces the TSIG keys: the next request is verified, and the
// next NOTIFY signed, with them. The keys are checked as NewPrimary checks
// them; on error nothing changes.
//
// Zone configs are not checked against the new keys: an ACL entry naming a
// key that is gone matches nothing (a request signed with it gets BADKEY),
// and a NOTIFY target naming one is not notified, until SetZoneConfig
// gives the zone a config that names only current keys. To rotate keys
// without refusing a request that either the old or the new config
// allows, a caller can set the union of both key sets first, then the
// zone configs, then the new keys alone.
func (p *Primary) SetKeys(keys []Key) error {
	kr, err := newKeyring(keys)
	if err != nil {
		return err
	}
	p.addMu.Lock()
	defer p.addMu.Unlock()
	p.keys.store(kr)
	return nil
}

// SetZoneConfig replaces the ACL and NOTIFY targets of a zone added with
// AddZone. Keys named in cfg must be among the current keys; on error
// nothing changes. Transfers under way finish under the previous config,
// and a NOTIFY round in flight keeps its targets; the next request, and
// the NOTIFYs of the next serial, use cfg.
func (p *Primary) SetZoneConfig(origin string, cfg ZoneConfig) error {
	origin = dns.CanonicalName(origin)
	cfg = cfg.clone()
	p.addMu.Lock()
	defer p.addMu.Unlock()
	zs := (*p.zones.Load())[origin]
	if zs == nil {
		return fmt.Errorf("xfr: zone %s is not a primary zone (AddZone)", origin)
	}
	if err := p.checkConfig(origin, &cfg); err != nil {
		return err
	}
	zs.cfg.Store(&cfg)
	return nil
}

// checkConfig checks that the keys cfg names are known.
func (p *Primary) checkConfig(origin string, cfg *ZoneConfig) error {
	kr := p.keys.load()
	for _, k := range cfg.ACL.Keys {
		if _, ok := kr[dns.CanonicalName(k)]; !ok {
			return fmt.Errorf("xfr: zone %s: ACL names unknown key %q", origin, k)
		}
	}
	for _, t := range cfg.Notify {
		if _, ok := kr[dns.CanonicalName(t.Key)]; t.Key != "" && !ok {
			return fmt.Errorf("xfr: zone %s: notify %s names unknown key %q", origin, t.Addr, t.Key)
		}
	}
	return nil
}

// clone copies the slices of c, so that the caller's later changes to
// them cannot reach a config that requests read without a lock.
func (c ZoneConfig) clone() ZoneConfig {
	c.ACL.Prefixes = slices.Clone(c.ACL.Prefixes)
	c.ACL.Keys = slices.Clone(c.ACL.Keys)
	c.Notify = slices.Clone(c.Notify)
	return c
}
