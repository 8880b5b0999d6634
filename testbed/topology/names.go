package topology

import (
	"fmt"
	"os"

	"github.com/miekg/dns"
)

// QueryNames returns the names the clients of c may ask for, in rank order
// (the first is the most popular under Zipf): the names of each leaf zone
// c asks (all leaves by default), zone by zone in file order. A generated
// zone gives host0..hostN-1; a zone file gives the owners of its A and
// AAAA records, in file order.
func (t *Topology) QueryNames(c Client) ([]string, error) {
	var out []string
	for _, z := range t.clientZones(c) {
		if z.File == "" {
			out = append(out, z.GeneratedNames()...)
			continue
		}
		names, err := fileNames(z)
		if err != nil {
			return nil, err
		}
		out = append(out, names...)
	}
	return out, nil
}

// ClientZones returns the apexes of the leaf zones c asks for, under which
// it invents the names that do not exist.
func (t *Topology) ClientZones(c Client) []string {
	var out []string
	for _, z := range t.clientZones(c) {
		out = append(out, z.Name)
	}
	return out
}

func (t *Topology) clientZones(c Client) []*Zone {
	if len(c.Zones) == 0 {
		return t.Leaves()
	}
	var out []*Zone
	for _, name := range c.Zones {
		if z := t.Zone(name); z != nil {
			out = append(out, z)
		}
	}
	return out
}

// fileNames reads the address owners of a zone file.
func fileNames(z *Zone) ([]string, error) {
	f, err := os.Open(z.File)
	if err != nil {
		return nil, fmt.Errorf("topology: zone %s: %w", z.Name, err)
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, z.Name, z.File)
	seen := map[string]bool{}
	var out []string
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		if (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA) && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("topology: zone %s: %w", z.Name, err)
	}
	return out, nil
}
