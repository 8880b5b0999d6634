// Package diff computes and applies the differences between two versions of
// a zone, as IXFR carries them (RFC 1995 §4).
//
// A primary records, at each reload that brings a higher serial, the Delta
// from the previous version (Diff); the journal keeps them, and an IXFR
// answer is a run of them. A secondary rebuilds the new version from the one
// it holds (Apply), validates it with zone.Check and only then swaps it in.
//
// Records are identified as dns.IsDuplicate (and so zone.Check) identifies
// them: owner, class, type and RDATA, domain names compared without regard to
// case, TTL ignored. A changed TTL is therefore a deletion and an addition.
//
// Both stay linear in the size of the zone, which matters at a million
// records: Diff walks the two versions name by name through their indexes,
// keying and sorting (canonical order, RFC 4034 §6) only the names that
// changed; Apply keys only the names a delta touches and passes over the
// rest once.
package diff

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone/serial"
)

// Delta is one difference sequence of an IXFR (RFC 1995 §4): Deleted starts
// with the SOA of the older version and lists the records it had that the
// newer one lacks; Added starts with the SOA of the newer version and lists
// the records it has that the older one lacked. No other SOA appears.
//
// The records may be shared with the zones they came from and must not be
// modified.
type Delta struct {
	Deleted []dns.RR
	Added   []dns.RR
}

// From returns the serial of the version the delta starts from, or 0 when
// Deleted does not start with an SOA (Validate reports that).
func (d Delta) From() uint32 { return soaSerial(d.Deleted) }

// To returns the serial of the version the delta leads to, or 0 when Added
// does not start with an SOA.
func (d Delta) To() uint32 { return soaSerial(d.Added) }

func soaSerial(rrs []dns.RR) uint32 {
	if len(rrs) == 0 {
		return 0
	}
	if soa, ok := rrs[0].(*dns.SOA); ok {
		return soa.Serial
	}
	return 0
}

// Errors that a caller may want to tell apart with errors.Is.
var (
	// ErrBadDelta: the delta does not have the shape of RFC 1995 §4 (an
	// SOA first in each list and nowhere else, no nil records).
	ErrBadDelta = errors.New("malformed difference sequence")
	// ErrSerial: the serials do not go forward (RFC 1982), or a delta does
	// not start from the version it is applied to.
	ErrSerial = errors.New("serials do not chain")
	// ErrMismatch: a deletion names a record the zone does not hold, or an
	// addition one it already holds; the sender's idea of the zone differs
	// from ours, and only a full transfer can repair that.
	ErrMismatch = errors.New("difference does not match the zone")
)

// Validate checks the shape of d: an SOA first in Deleted and in Added, both
// for the same owner, no SOA elsewhere, no nil record, and a To serial newer
// than From by RFC 1982 arithmetic (RFC 1995 §4 sequences go from older to
// newer versions).
func (d Delta) Validate() error {
	if len(d.Deleted) == 0 || len(d.Added) == 0 {
		return fmt.Errorf("diff: %w: no SOA", ErrBadDelta)
	}
	oldSOA, ok1 := d.Deleted[0].(*dns.SOA)
	newSOA, ok2 := d.Added[0].(*dns.SOA)
	if !ok1 || !ok2 {
		return fmt.Errorf("diff: %w: does not start with an SOA", ErrBadDelta)
	}
	if !strings.EqualFold(oldSOA.Hdr.Name, newSOA.Hdr.Name) {
		return fmt.Errorf("diff: %w: SOA owners %s and %s differ", ErrBadDelta, oldSOA.Hdr.Name, newSOA.Hdr.Name)
	}
	for _, list := range [2][]dns.RR{d.Deleted[1:], d.Added[1:]} {
		for _, rr := range list {
			if rr == nil {
				return fmt.Errorf("diff: %w: nil record", ErrBadDelta)
			}
			if rr.Header().Rrtype == dns.TypeSOA {
				return fmt.Errorf("diff: %w: SOA %s inside the sequence", ErrBadDelta, rr.Header().Name)
			}
		}
	}
	if !serial.Less(oldSOA.Serial, newSOA.Serial) {
		return fmt.Errorf("diff: %w: serial %d is not newer than %d", ErrSerial, newSOA.Serial, oldSOA.Serial)
	}
	return nil
}
