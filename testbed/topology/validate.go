package topology

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// maxRegions is how many /16 blocks fit after 127.10.0.0/16.
const maxRegions = 256 - 10

// validate checks the decoded topology, fills the derived fields and
// allocates the addresses. Every problem found is returned, each with its
// line, so that one run of the testbed shows them all.
func (t *Topology) validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, &Error{File: t.file, Line: t.lineOf(path), Msg: fmt.Sprintf(format, args...)})
	}
	if t.Port == 0 {
		add("port", "port must not be 0")
	}
	t.validateRegions(add)
	t.validateZones(add)
	t.validateClients(add)
	if len(errs) == 0 {
		t.allocate(add)
	}
	return errors.Join(errs...)
}

type addFunc func(path, format string, args ...any)

// lineOf returns the line of path, or of its nearest enclosing key that
// has one (a missing key is reported at the item that lacks it).
func (t *Topology) lineOf(path string) int {
	for path != "" {
		if l, ok := t.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func (t *Topology) validateRegions(add addFunc) {
	if len(t.Regions) == 0 {
		add("regions", "no regions")
	}
	if len(t.Regions) > maxRegions {
		add("regions", "%d regions; at most %d fit in 127.0.0.0/8", len(t.Regions), maxRegions)
	}
	t.region = make(map[string]int, len(t.Regions))
	for i, r := range t.Regions {
		p := fmt.Sprintf("regions[%d]", i)
		switch _, dup := t.region[r.Name]; {
		case r.Name == "":
			add(p, "region with no name")
		case dup:
			add(p+".name", "region %q declared twice (first at line %d)", r.Name, t.lineOf(fmt.Sprintf("regions[%d]", t.region[r.Name])))
		default:
			t.region[r.Name] = i
		}
	}
	for i, r := range t.Regions {
		p := fmt.Sprintf("regions[%d].rtt", i)
		for _, to := range sortedNames(r.RTT) {
			if _, ok := t.region[to]; !ok {
				add(p+"."+to, "unknown region %q in the RTTs of %q", to, r.Name)
			}
			if rtt := r.RTT[to]; rtt < 0 {
				add(p+"."+to, "negative RTT %v from %q to %q", rtt, r.Name, to)
			}
		}
		for _, o := range t.Regions[i:] {
			ab, inA := r.RTT[o.Name]
			ba, inB := o.RTT[r.Name]
			switch {
			case !inA && !inB && o.Name == r.Name:
				add(fmt.Sprintf("regions[%d]", i), "no RTT within region %q", r.Name)
			case !inA && !inB:
				add(fmt.Sprintf("regions[%d]", i), "no RTT between %q and %q", r.Name, o.Name)
			case inA && inB && ab != ba:
				add(p+"."+o.Name, "asymmetric RTT: %q to %q is %v but %q to %q is %v (line %d)",
					r.Name, o.Name, ab, o.Name, r.Name, ba, t.lineOf(fmt.Sprintf("regions[%d].rtt.%s", t.region[o.Name], r.Name)))
			}
		}
	}
}

func (t *Topology) validateZones(add addFunc) {
	seen := map[string]int{}
	roots := 0
	for i := range t.Zones {
		z := &t.Zones[i]
		p := fmt.Sprintf("zones[%d]", i)
		if _, ok := dns.IsDomainName(z.Name); !ok || z.Name == "" {
			add(p+".name", "zone %q: not a domain name", z.Name)
			continue
		}
		z.Name = dns.CanonicalName(z.Name)
		if first, dup := seen[z.Name]; dup {
			add(p+".name", "zone %q declared twice (first at line %d)", z.Name, first)
			continue
		}
		seen[z.Name] = t.lineOf(p)
		if z.Name == "." {
			roots++
		}
		switch {
		case z.File != "" && z.Names != 0:
			add(p+".names", "zone %q: give either file or names, not both", z.Name)
		case z.Names < 0:
			add(p+".names", "zone %q: negative number of names", z.Name)
		}
		if z.TTL <= 0 {
			add(p+".ttl", "zone %q: TTL must be positive", z.Name)
		}
		t.validateReplicas(z, p, add)
	}
	if roots == 0 && len(t.Zones) > 0 {
		add("zones", "no root zone (\".\"): the resolvers would have nowhere to start")
	}
}

// validateReplicas checks a zone's primary and secondaries, and that every
// chain of transfers ends at the primary.
func (t *Topology) validateReplicas(z *Zone, p string, add addFunc) {
	if z.Primary.Region == "" {
		add(p, "zone %q has no primary", z.Name)
		return
	}
	if _, ok := t.region[z.Primary.Region]; !ok {
		add(p+".primary", "zone %q: unknown region %q for the primary", z.Name, z.Primary.Region)
	}
	if z.Primary.From != "" {
		add(p+".primary.from", "zone %q: a primary transfers from no one", z.Name)
	}
	at := map[string]int{z.Primary.Region: -1} // region → secondary index, -1 for the primary
	for j, s := range z.Secondaries {
		sp := fmt.Sprintf("%s.secondaries[%d]", p, j)
		if _, ok := t.region[s.Region]; !ok {
			add(sp, "zone %q: unknown region %q for a secondary", z.Name, s.Region)
			continue
		}
		if k, dup := at[s.Region]; dup {
			what := "the primary"
			if k >= 0 {
				what = "another secondary"
			}
			add(sp, "zone %q: region %q already has %s of this zone", z.Name, s.Region, what)
			continue
		}
		at[s.Region] = j
	}
	for j, s := range z.Secondaries {
		sp := fmt.Sprintf("%s.secondaries[%d]", p, j)
		chain := []string{s.Region}
		for cur := s; ; {
			from := cur.From
			if from == "" {
				from = z.Primary.Region
			}
			k, ok := at[from]
			if !ok {
				add(sp+".from", "zone %q: secondary in %q transfers from %q, which has no replica of the zone", z.Name, cur.Region, from)
				break
			}
			if slices.Contains(chain, from) {
				add(sp+".from", "zone %q: replication cycle %s", z.Name, strings.Join(append(chain, from), " <- "))
				break
			}
			if k < 0 {
				break // reached the primary
			}
			chain = append(chain, from)
			cur = z.Secondaries[k]
		}
	}
}

func (t *Topology) validateClients(add addFunc) {
	leaves := map[string]*Zone{}
	for _, z := range t.Leaves() {
		leaves[z.Name] = z
	}
	for i, c := range t.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		if _, ok := t.region[c.Region]; !ok {
			add(p+".region", "unknown region %q for clients", c.Region)
		}
		if c.Count < 1 {
			add(p+".count", "count must be at least 1")
		}
		if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
			add(p+".rate", "rate must be a positive number of questions per second, got %v", c.Rate)
		}
		switch c.Distribution {
		case "zipf":
			if c.Exponent <= 0 || math.IsInf(c.Exponent, 0) || math.IsNaN(c.Exponent) {
				add(p+".exponent", "the Zipf exponent must be positive, got %v", c.Exponent)
			}
		case "uniform":
		default:
			add(p+".distribution", "unknown distribution %q; want zipf or uniform", c.Distribution)
		}
		if !(c.NXShare >= 0 && c.NXShare <= 1) {
			add(p+".nx-share", "nx-share must be between 0 and 1, got %v", c.NXShare)
		}
		for j, name := range c.Zones {
			if _, ok := leaves[dns.CanonicalName(name)]; !ok {
				add(fmt.Sprintf("%s.zones[%d]", p, j), "%q is not a leaf zone of the topology", name)
			}
		}
	}
}

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
