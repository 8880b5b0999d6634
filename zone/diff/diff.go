package diff

import (
	"bytes"
	"fmt"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

// Diff returns the IXFR difference sequence that turns older into newer (RFC
// 1995 §4). Deleted and Added each list the SOA first, then the other
// records in canonical order; a record whose TTL changed appears in both.
//
// It fails when either zone has no SOA (a placeholder for a zone that did
// not load), when the origins differ, or when newer's serial is not newer
// than older's by RFC 1982: a primary that reloads a changed zone without
// raising the serial has no difference to offer, and its secondaries would
// not ask for one.
//
// The two versions are compared owner name by owner name, each looked up in
// the other version's index, so the cost is linear in the size of the zones:
// a name whose records are the same, in the same order, costs a comparison
// per record and nothing more. Only names that changed are keyed and sorted.
func Diff(older, newer *zone.Zone) (Delta, error) {
	if older == nil || newer == nil {
		return Delta{}, fmt.Errorf("diff: %w: nil zone", ErrBadDelta)
	}
	if older.Origin() != newer.Origin() {
		return Delta{}, fmt.Errorf("diff: %w: zones %s and %s differ", ErrBadDelta, older.Origin(), newer.Origin())
	}
	if older.SOA() == nil || newer.SOA() == nil {
		return Delta{}, fmt.Errorf("diff: %w: zone %s has no SOA", ErrBadDelta, older.Origin())
	}
	d := Delta{Deleted: []dns.RR{older.SOA()}, Added: []dns.RR{newer.SOA()}}
	if err := d.Validate(); err != nil {
		return Delta{}, err
	}
	c := comparer{k: newKeyer()}
	var other []dns.RR
	for name, a := range older.Owners() {
		other = newer.AppendRecords(other[:0], name)
		if err := c.owner(a, other); err != nil {
			return Delta{}, err
		}
	}
	for name, b := range newer.Owners() {
		if other = older.AppendRecords(other[:0], name); len(other) > 0 {
			continue // compared above
		}
		if err := c.owner(nil, b); err != nil {
			return Delta{}, err
		}
	}
	c.deleted.sortDedup()
	c.added.sortDedup()
	for _, e := range c.deleted.entries {
		d.Deleted = append(d.Deleted, e.rr)
	}
	for _, e := range c.added.entries {
		d.Added = append(d.Added, e.rr)
	}
	return d, nil
}

// comparer collects the records that differ between two versions.
type comparer struct {
	k              *keyer
	deleted, added keySet
	a, b           keySet // scratch for one owner name
}

// owner compares the records of one owner name in the old version (a) and
// the new (b): keyed, sorted and merged. SOAs are left out: Diff puts them
// first.
func (c *comparer) owner(a, b []dns.RR) error {
	if sameRecords(a, b) {
		return nil
	}
	if err := c.keyAll(&c.a, a); err != nil {
		return err
	}
	if err := c.keyAll(&c.b, b); err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(c.a.entries) && j < len(c.b.entries) {
		ea, eb := &c.a.entries[i], &c.b.entries[j]
		switch cmp := bytes.Compare(c.a.key(ea), c.b.key(eb)); {
		case cmp < 0:
			c.deleted.copyFrom(&c.a, ea)
			i++
		case cmp > 0:
			c.added.copyFrom(&c.b, eb)
			j++
		default:
			if ea.rr.Header().Ttl != eb.rr.Header().Ttl {
				c.deleted.copyFrom(&c.a, ea)
				c.added.copyFrom(&c.b, eb)
			}
			i++
			j++
		}
	}
	for ; i < len(c.a.entries); i++ {
		c.deleted.copyFrom(&c.a, &c.a.entries[i])
	}
	for ; j < len(c.b.entries); j++ {
		c.added.copyFrom(&c.b, &c.b.entries[j])
	}
	return nil
}

// keyAll fills s with the keys of rrs but the SOA, sorted.
func (c *comparer) keyAll(s *keySet, rrs []dns.RR) error {
	s.reset()
	for i, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeSOA {
			continue
		}
		if err := c.k.add(s, rr, i); err != nil {
			return err
		}
	}
	s.sortDedup()
	return nil
}

// sameRecords is the fast path of Diff: two versions loaded from nearly the
// same file list an unchanged name's records in the same order, and
// IsDuplicate agrees with key equality whenever it says yes. The SOA is
// skipped, as its serial always differs.
func sameRecords(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Header().Rrtype == dns.TypeSOA && b[i].Header().Rrtype == dns.TypeSOA {
			continue
		}
		if a[i].Header().Ttl != b[i].Header().Ttl || !dns.IsDuplicate(a[i], b[i]) {
			return false
		}
	}
	return true
}
