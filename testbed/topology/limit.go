package topology

import (
	"slices"
	"time"

	"github.com/miekg/dns"
)

// Path returns the zones that an iterative resolution of name walks
// through, root first: every zone of the topology whose apex is name or
// one of its ancestors.
func (t *Topology) Path(name string) []*Zone {
	name = dns.CanonicalName(name)
	var out []*Zone
	for i := range t.Zones {
		if dns.IsSubDomain(t.Zones[i].Name, name) {
			out = append(out, &t.Zones[i])
		}
	}
	slices.SortFunc(out, func(a, b *Zone) int { return dns.CountLabel(a.Name) - dns.CountLabel(b.Name) })
	return out
}

// PhysicalLimit is the least latency any resolver in region could answer
// name with, the yardstick of the report: one round trip to the nearest
// replica of each zone on the path that cached does not hold (nil: none
// cached, the cold case). The client's own hop costs nothing: clients sit
// beside their resolver (see OneWay). It ignores processing time and TCP,
// so real resolvers can only approach it.
func (t *Topology) PhysicalLimit(region, name string, cached func(zone string) bool) time.Duration {
	var d time.Duration
	for _, z := range t.Path(name) {
		if cached != nil && cached(z.Name) {
			continue
		}
		if _, rtt, ok := t.Nearest(region, z.Name); ok {
			d += rtt
		}
	}
	return d
}
