package zonegen

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// Class is the sort of answer a generated query expects, so that a caller
// can check or weigh the workload.
type Class uint8

const (
	Positive Class = iota // the name has the type (possibly via CNAME or wildcard)
	NoData                // the name exists without the type (RFC 2308 §2.2)
	NXDomain              // the name does not exist
	Referral              // the name is at or below a delegation
	DSAtCut               // DS at a delegation point, answered by the parent
)

// Query is one generated question.
type Query struct {
	Name  string // fully qualified
	Type  string // mnemonic, as dnsperf reads it
	Class Class
}

// Queries writes count dnsperf query lines ("name TYPE") for the zone that
// Write produces with the same origin, names and seed. The mix is about 55%
// positive answers of several types, 15% NODATA, 17% NXDOMAIN, 10%
// referrals and 3% DS at a cut. The query seed is derived from seed, so the
// same arguments always give the same file.
func Queries(w io.Writer, origin string, names, count int, seed int64) error {
	g, err := New(origin, names, seed)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	b := make([]byte, 0, 128)
	for i := range count {
		q := g.Query(i)
		b = append(b[:0], q.Name...)
		b = append(b, ' ')
		b = append(b, q.Type...)
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("zonegen: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("zonegen: %w", err)
	}
	return nil
}

// Query returns the i-th query of the workload; it is a pure function of
// the generator and i.
func (g *Generator) Query(i int) Query {
	r := mix(uint64(g.Seed)*0x9e3779b97f4a7c15 ^ 0x5eed ^ uint64(i)*0xd1342543de82ef95)
	roll := r % 100
	r = mix(r)
	if g.Names == 0 || roll < 17 {
		return Query{Name: "nx-" + strconv.FormatUint(r%(1<<40), 36) + "." + g.Origin, Type: pick(r>>48, "A", "AAAA", "MX", "TXT"), Class: NXDomain}
	}
	if roll < 20 { // the apex, as resolvers ask for it
		return Query{Name: g.Origin, Type: pick(r>>48, "SOA", "NS", "MX", "A", "TXT"), Class: Positive}
	}
	want := r >> 40 % 3
	// Find an entry of a kind that serves the wanted class; the table has
	// every kind in a few percent, so this ends quickly.
	for n := 0; ; n++ {
		e := g.Entry(int((r + uint64(n)*0x9e3779b97f4a7c15) % uint64(g.Names)))
		if roll < 48 && n < 64 { // NODATA, referrals and DS want special kinds
			if q, ok := g.special(e, roll, r); ok {
				return q
			}
			continue
		}
		return g.positive(e, want, r)
	}
}

// special returns a NODATA, referral or DS query for e, if e can give one.
func (g *Generator) special(e Entry, roll, r uint64) (Query, bool) {
	abs := e.Label + "." + g.Origin
	switch {
	case roll < 35: // 15% NODATA
		switch e.Kind {
		case KindA:
			return Query{abs, pick(r>>50, "AAAA", "MX", "TXT"), NoData}, true
		case KindAAAA, KindTXT:
			if e.Kind == KindTXT && e.h&16 == 0 {
				return Query{abs, "A", NoData}, true
			}
			return Query{abs, "MX", NoData}, true
		case KindSRV: // empty non-terminal
			return Query{"_tcp." + abs, pick(r>>50, "A", "SRV"), NoData}, true
		case KindENT:
			return Query{"b." + abs, "A", NoData}, true
		case KindWildcard: // wildcard match without the type
			return Query{"x" + strconv.FormatUint(r%1000, 10) + "." + abs, "MX", NoData}, true
		}
	case roll < 45: // 10% referrals: at or below the cut
		if e.Kind == KindDelegation {
			if r>>50&1 == 0 {
				return Query{"www." + abs, pick(r>>52, "A", "AAAA"), Referral}, true
			}
			return Query{abs, pick(r>>52, "A", "NS", "MX"), Referral}, true
		}
	default: // 3% DS at a cut (positive or NODATA, always authoritative)
		if e.Kind == KindDelegation {
			return Query{abs, "DS", DSAtCut}, true
		}
	}
	return Query{}, false
}

// positive returns a query that the zone answers with data at e.
func (g *Generator) positive(e Entry, want, r uint64) Query {
	abs := e.Label + "." + g.Origin
	switch e.Kind {
	case KindA:
		return Query{abs, "A", Positive}
	case KindDual:
		return Query{abs, pick(want, "A", "AAAA"), Positive}
	case KindAAAA:
		return Query{abs, "AAAA", Positive}
	case KindMX:
		return Query{abs, pick(want, "MX", "MX", "A"), Positive}
	case KindTXT:
		return Query{abs, "TXT", Positive}
	case KindCNAME:
		return Query{abs, pick(want, "A", "A", "CNAME"), Positive}
	case KindSRV:
		return Query{"_sip._tcp." + abs, "SRV", Positive}
	case KindWildcard:
		return Query{"h" + strconv.FormatUint(r%10000, 10) + "." + abs, pick(want, "A", "TXT"), Positive}
	case KindENT:
		return Query{"a.b." + abs, "A", Positive}
	case KindDelegation:
		return Query{"www." + abs, "A", Referral}
	}
	return Query{abs, "A", Positive}
}

func pick(r uint64, opts ...string) string { return opts[r%uint64(len(opts))] }
