package diff

import (
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Apply returns the records of the version that deltas lead to from base.
// base holds exactly one SOA and the records in any order (collect
// zone.Zone.All for it; Records would sort for nothing). Each delta must
// start from the serial the previous one reached, the first from base's.
//
// Apply is strict, as RFC 1995 §4 leaves no room for guessing: it fails
// with ErrMismatch when a deletion names a record not present, or an
// addition one already present (a TTL change must come as a deletion and an
// addition); with ErrSerial when the serials do not chain; with ErrBadDelta
// when a delta is malformed. Either way the secondary keeps the version it
// has and falls back to AXFR. The result is not validated: run zone.Check on
// it before serving.
//
// The result lists the new SOA first, then the records of base under owner
// names no delta touches, in base's order, then the records of the touched
// names in canonical order. Neither base nor the deltas are modified; the
// result shares their records.
//
// Only the touched names are keyed, so applying a small IXFR to a large zone
// costs one map probe per record of base.
func Apply(base []dns.RR, deltas ...Delta) ([]dns.RR, error) {
	var soa *dns.SOA
	for _, rr := range base {
		if v, ok := rr.(*dns.SOA); ok {
			if soa != nil {
				return nil, fmt.Errorf("diff: apply: %w: base has two SOA records", ErrBadDelta)
			}
			soa = v
		}
	}
	if soa == nil {
		return nil, fmt.Errorf("diff: apply: %w: base has no SOA record", ErrBadDelta)
	}
	k := newKeyer()
	touched, err := k.touched(soa, deltas)
	if err != nil {
		return nil, err
	}

	// Split base into the records of untouched names, kept as they are,
	// and those of touched names, by key.
	kept := make([]dns.RR, 1, len(base)+1)
	present := make(map[string]dns.RR)
	var key []byte
	for _, rr := range base {
		if rr == nil || rr == dns.RR(soa) {
			continue
		}
		if key, err = k.appendOwner(key[:0], rr.Header().Name); err != nil {
			return nil, fmt.Errorf("diff: apply: base: %w", err)
		}
		if _, ok := touched[string(key)]; !ok {
			kept = append(kept, rr)
			continue
		}
		if key, err = k.appendKey(key[:0], rr); err != nil {
			return nil, fmt.Errorf("diff: apply: base: %w", err)
		}
		if _, dup := present[string(key)]; !dup {
			present[string(key)] = rr
		}
	}

	// RFC 1995 §4: each sequence deletes, then adds, in order.
	for n, d := range deltas {
		for _, rr := range d.Deleted[1:] {
			if key, err = k.appendKey(key[:0], rr); err != nil {
				return nil, fmt.Errorf("diff: apply delta %d: %w", n, err)
			}
			if _, ok := present[string(key)]; !ok {
				return nil, fmt.Errorf("diff: apply delta %d: %w: deletes a record the zone does not hold: %s", n, ErrMismatch, rr)
			}
			delete(present, string(key))
		}
		for _, rr := range d.Added[1:] {
			if key, err = k.appendKey(key[:0], rr); err != nil {
				return nil, fmt.Errorf("diff: apply delta %d: %w", n, err)
			}
			if _, ok := present[string(key)]; ok {
				return nil, fmt.Errorf("diff: apply delta %d: %w: adds a record the zone already holds: %s", n, ErrMismatch, rr)
			}
			present[string(key)] = rr
		}
		soa = d.Added[0].(*dns.SOA)
	}
	kept[0] = soa

	keys := make([]string, 0, len(present))
	for key := range present {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		kept = append(kept, present[key])
	}
	return kept, nil
}

// touched validates the deltas and their chain from the SOA of base, and
// returns the owner keys of every record they delete or add.
func (k *keyer) touched(soa *dns.SOA, deltas []Delta) (map[string]struct{}, error) {
	touched := make(map[string]struct{})
	var key []byte
	var err error
	for n, d := range deltas {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("diff: apply delta %d: %w", n, err)
		}
		from := d.Deleted[0].(*dns.SOA)
		if !strings.EqualFold(from.Hdr.Name, soa.Hdr.Name) {
			return nil, fmt.Errorf("diff: apply delta %d: %w: SOA %s is not the zone's (%s)", n, ErrBadDelta, from.Hdr.Name, soa.Hdr.Name)
		}
		if from.Serial != soa.Serial {
			return nil, fmt.Errorf("diff: apply delta %d: %w: starts from serial %d, the zone is at %d", n, ErrSerial, from.Serial, soa.Serial)
		}
		for _, list := range [2][]dns.RR{d.Deleted[1:], d.Added[1:]} {
			for _, rr := range list {
				if key, err = k.appendOwner(key[:0], rr.Header().Name); err != nil {
					return nil, fmt.Errorf("diff: apply delta %d: %w", n, err)
				}
				touched[string(key)] = struct{}{}
			}
		}
		soa = d.Added[0].(*dns.SOA)
	}
	return touched, nil
}
