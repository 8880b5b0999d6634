package hier

import (
	"errors"
	"fmt"
	"os"

	"github.com/meridian-dns/meridian/testbed/topology"
	"github.com/meridian-dns/meridian/zone"
	"github.com/miekg/dns"
)

// fileRecords returns the records of a zone given as a file: the file's
// SOA, the topology's apex NS RRset and name server addresses, the file's
// other data in file order, and the topology's delegations.
//
// The file is read as the server reads it (zone.Parse: miekg's parser with
// BIND's TTL rules and $INCLUDE confined to the file's directory), so an
// error names the file and line. From the file Build drops what the
// topology decides instead: the apex NS RRset, the addresses of the names
// Build gives the zone's name servers, and everything at or below the apex
// of a child zone of the topology (the child's servers answer for it; the
// parent keeps only the cut and its glue). Any other record at a name
// server name is an error, as a CNAME or MX there would be a second use of
// a name the topology has taken.
func (p *plan) fileRecords(z *topology.Zone) ([]zone.Record, error) {
	f, err := os.Open(z.File)
	if err != nil {
		return nil, fmt.Errorf("hier: zone %s: %w", z.Name, err)
	}
	defer f.Close()
	recs, problems := zone.Parse(f, z.Name, z.File, zone.LoadOptions{})
	if err := problemErrors(z.Name, problems); err != nil {
		return nil, err
	}
	var errs []error
	ours := map[string]bool{}
	for _, s := range p.ns[z.Name] {
		ours[s.name] = true
	}
	var soa, kept []zone.Record
	for _, r := range recs {
		h := r.RR.Header()
		owner := dns.CanonicalName(h.Name)
		switch {
		case h.Rrtype == dns.TypeSOA && owner == z.Name:
			soa = append(soa, r)
		case h.Rrtype == dns.TypeNS && owner == z.Name:
		case p.isChildData(z, owner):
		case ours[owner] && (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA):
		case ours[owner]:
			errs = append(errs, fmt.Errorf("hier: zone %s: %s:%d: %s/%s: the topology gives this name to a name server",
				z.Name, r.File, r.Line, h.Name, dns.Type(h.Rrtype)))
		default:
			kept = append(kept, r)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := append(soa, records(p.apex(nil, z))...)
	out = append(out, kept...)
	return append(out, records(p.delegations(nil, z))...), nil
}
