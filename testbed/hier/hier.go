// Package hier is the zone data of a topology's hierarchy: SOA, NS and glue
// of every zone, delegations to its child zones, the address names of
// generated zones, and the edit the report's zone-change phase makes.
//
// The testbed starts real Meridian authoritative servers for the zones of a
// topology; this package gives them their records, so that an iterative
// resolution from the root walks exactly the zones, replicas and loopback
// addresses the topology describes, and nothing else.
package hier

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-dns/meridian/testbed/topology"
	"github.com/meridian-dns/meridian/zone"
	"github.com/miekg/dns"
)

// SOA timers of every built zone. Expire is two weeks, far beyond any
// phase of a run, so that a secondary cut off from its primary keeps
// answering (RFC 1035 §3.3.13: past expire it would stop).
const (
	refresh = 3600
	retry   = 600
	expire  = 1209600
	// maxMinimum caps the SOA MINIMUM, the negative-caching TTL
	// (RFC 2308 §5), so that an NXDOMAIN in a long-TTL zone does not
	// linger past an hour.
	maxMinimum = 3600
)

// rootServers is the domain that holds the root servers' names, as
// root-servers.net does on the Internet. It is a top-level name (not a zone
// of the topology), so the root zone itself holds their addresses and a
// resolver primed with the hints never needs another zone to reach them.
const rootServers = "root-servers."

// maxHosts is how many generated address names fit in hostBase's /15.
const maxHosts = 1 << 17

// hostBase is the first generated address: 198.18.0.0/15 is set aside for
// benchmarking (RFC 2544), so the testbed's answers are never mistaken for
// real hosts.
var hostBase = netip.AddrFrom4([4]byte{198, 18, 0, 0})

// NSName is the name server name of zone's replica in region:
// "ns-<region>.<zone>", and for the root "ns-<region>.root-servers." (so
// the root zone itself holds their addresses).
func NSName(zone, region string) string {
	zone = dns.CanonicalName(zone)
	if zone == "." {
		zone = rootServers
	}
	return join("ns-"+region, zone)
}

// join returns the name label.zone, lower case.
func join(label, zone string) string {
	if zone == "." {
		return dns.CanonicalName(label + ".")
	}
	return dns.CanonicalName(label + "." + zone)
}

// hostmaster is the SOA RNAME of a zone.
func hostmaster(zone string) string {
	if zone == "." {
		return "hostmaster." + rootServers
	}
	return "hostmaster." + zone
}

// HostAddr is the address of host<i> in a generated zone.
func HostAddr(i int) netip.Addr {
	b := hostBase.As4()
	b[1] += byte(i >> 16)
	b[2], b[3] = byte(i>>8), byte(i)
	return netip.AddrFrom4(b)
}

// nameServer is one replica of a zone as its NS and address records name it.
type nameServer struct {
	name string
	addr netip.Addr
}

// plan is what Build derives from the topology before writing records: the
// child zones each zone delegates to and the name servers of each.
type plan struct {
	t        *topology.Topology
	children map[string][]*topology.Zone // apex → child zones, in file order
	ns       map[string][]nameServer     // apex → replicas, as ZoneServers orders them
}

// Build returns the records of every zone of t, by canonical apex name, at
// the given SOA serial. A zone given as a file keeps its own SOA (serial
// included) and data; Build replaces its apex NS RRset and its delegations
// with the topology's. Every zone is checked as zone.Load would check it,
// and an error names the zone (and, for a file, the file and line).
//
// Records come in a fixed order: SOA, apex NS, the name servers'
// addresses, the zone's own data (host0..hostN-1 in rank order, or the
// file's records in file order), then each child zone's NS and glue, in
// the topology's order. Two Builds of one topology are equal.
func Build(t *topology.Topology, serial uint32) (map[string][]dns.RR, error) {
	p, err := newPlan(t)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]dns.RR, len(t.Zones))
	var errs []error
	for i := range t.Zones {
		z := &t.Zones[i]
		rrs, err := p.build(z, serial)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[z.Name] = rrs
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func newPlan(t *topology.Topology) (*plan, error) {
	p := &plan{t: t, children: map[string][]*topology.Zone{}, ns: map[string][]nameServer{}}
	var errs []error
	for i := range t.Zones {
		z := &t.Zones[i]
		if par, ok := p.enclosing(z.Name, false); ok {
			p.children[par] = append(p.children[par], z)
		}
		for _, s := range t.ZoneServers(z.Name) {
			p.ns[z.Name] = append(p.ns[z.Name], nameServer{NSName(z.Name, s.Region), s.Addr.Addr()})
		}
		if z.Names > maxHosts {
			errs = append(errs, fmt.Errorf("hier: zone %s: %d names; at most %d fit in %v/15", z.Name, z.Names, maxHosts, hostBase))
		}
	}
	for i := range t.Zones {
		errs = append(errs, p.collisions(&t.Zones[i])...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// enclosing returns the deepest zone of the topology that contains name:
// name's own zone if self is set, else the closest proper ancestor. The
// parent of a zone need not be its DNS parent: with zones "." and
// "one.test." but no "test.", the root delegates one.test. directly.
func (p *plan) enclosing(name string, self bool) (string, bool) {
	best, depth := "", -1
	for _, z := range p.t.Zones {
		if !dns.IsSubDomain(z.Name, name) || (!self && z.Name == name) {
			continue
		}
		if n := dns.CountLabel(z.Name); n > depth {
			best, depth = z.Name, n
		}
	}
	return best, depth >= 0
}

// collisions reports names Build would generate that the topology gives to
// something else: a name server name inside another zone (a zone named
// "root-servers." or "ns-a.test." say), or a generated host name that is
// the apex of a child zone.
func (p *plan) collisions(z *topology.Zone) []error {
	var errs []error
	for _, ns := range p.ns[z.Name] {
		if _, ok := dns.IsDomainName(ns.name); !ok || !validLabels(ns.name) {
			errs = append(errs, fmt.Errorf("hier: zone %s: %q is not a valid name server name", z.Name, ns.name))
			continue
		}
		// The root's name servers live in the root zone itself.
		if in, _ := p.enclosing(ns.name, true); in != z.Name {
			errs = append(errs, fmt.Errorf("hier: zone %s: name server name %s falls in zone %s of the topology", z.Name, ns.name, in))
		}
	}
	for _, c := range p.children[z.Name] {
		if i, ok := hostIndex(c.Name, z.Name); ok && i < z.Names {
			errs = append(errs, fmt.Errorf("hier: zone %s: generated name %s is the apex of zone %s", z.Name, c.Name, c.Name))
		}
	}
	return errs
}

// validLabels reports whether every label of name fits in 63 octets.
func validLabels(name string) bool {
	for _, l := range dns.SplitDomainName(name) {
		if len(l) > 63 {
			return false
		}
	}
	return true
}

// hostIndex returns i when name is host<i>.<zone>.
func hostIndex(name, zone string) (int, bool) {
	label, rest, ok := strings.Cut(name, ".")
	digits, isHost := strings.CutPrefix(label, "host")
	if !ok || !isHost || dns.CanonicalName(rest) != zone {
		return 0, false
	}
	i, err := strconv.Atoi(digits)
	if err != nil || strconv.Itoa(i) != digits {
		return 0, false
	}
	return i, true
}

// ttl is a zone's record TTL in seconds: at least 1, at most 2^31-1
// (RFC 2181 §8).
func ttl(d time.Duration) uint32 {
	s := d / time.Second
	return uint32(max(1, min(s, math.MaxInt32)))
}

func hdr(name string, rtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rtype, Class: dns.ClassINET, Ttl: ttl}
}

// build returns the records of one zone and checks them as zone.Load would.
func (p *plan) build(z *topology.Zone, serial uint32) ([]dns.RR, error) {
	var recs []zone.Record
	if z.File != "" {
		var err error
		if recs, err = p.fileRecords(z); err != nil {
			return nil, err
		}
	} else {
		recs = p.generated(z, serial)
	}
	rrs, problems := zone.Check(z.Name, recs)
	if err := problemErrors(z.Name, problems); err != nil {
		return nil, err
	}
	return rrs, nil
}

// problemErrors joins the errors among a zone's problems (warnings pass),
// each naming the zone and, from the problem, its file and line.
func problemErrors(origin string, problems []zone.Problem) error {
	var errs []error
	for _, pr := range problems {
		if pr.Severity == zone.Error {
			errs = append(errs, fmt.Errorf("hier: zone %s: %w", origin, pr))
		}
	}
	return errors.Join(errs...)
}

// generated returns the records of a zone with Names address names.
func (p *plan) generated(z *topology.Zone, serial uint32) []zone.Record {
	tl := ttl(z.TTL)
	soa := &dns.SOA{Hdr: hdr(z.Name, dns.TypeSOA, tl), Ns: NSName(z.Name, z.Primary.Region), Mbox: hostmaster(z.Name),
		Serial: serial, Refresh: refresh, Retry: retry, Expire: expire, Minttl: min(tl, maxMinimum)}
	rrs := []dns.RR{soa}
	rrs = p.apex(rrs, z)
	for i := range z.Names {
		rrs = append(rrs, &dns.A{Hdr: hdr(join(fmt.Sprintf("host%d", i), z.Name), dns.TypeA, tl), A: HostAddr(i).AsSlice()})
	}
	return records(p.delegations(rrs, z))
}

// apex appends the zone's apex NS RRset and its name servers' addresses.
func (p *plan) apex(rrs []dns.RR, z *topology.Zone) []dns.RR {
	tl := ttl(z.TTL)
	ns := p.ns[z.Name]
	for _, s := range ns {
		rrs = append(rrs, &dns.NS{Hdr: hdr(z.Name, dns.TypeNS, tl), Ns: s.name})
	}
	for _, s := range ns {
		rrs = append(rrs, addrRR(s, tl))
	}
	return rrs
}

// delegations appends, for each child zone, its NS RRset at the cut and the
// glue for its name servers, which lie below the cut (RFC 1034 §4.2.1), all
// at the parent's TTL.
func (p *plan) delegations(rrs []dns.RR, z *topology.Zone) []dns.RR {
	tl := ttl(z.TTL)
	for _, c := range p.children[z.Name] {
		for _, s := range p.ns[c.Name] {
			rrs = append(rrs, &dns.NS{Hdr: hdr(c.Name, dns.TypeNS, tl), Ns: s.name})
		}
		for _, s := range p.ns[c.Name] {
			rrs = append(rrs, addrRR(s, tl))
		}
	}
	return rrs
}

func addrRR(s nameServer, tl uint32) dns.RR {
	if s.addr.Is4() {
		return &dns.A{Hdr: hdr(s.name, dns.TypeA, tl), A: s.addr.AsSlice()}
	}
	return &dns.AAAA{Hdr: hdr(s.name, dns.TypeAAAA, tl), AAAA: s.addr.AsSlice()}
}

// records wraps built records for zone.Check; they have no file or line.
func records(rrs []dns.RR) []zone.Record {
	out := make([]zone.Record, len(rrs))
	for i, rr := range rrs {
		out[i] = zone.Record{RR: rr}
	}
	return out
}

// isChildData reports whether name is at or below the apex of a child zone.
func (p *plan) isChildData(z *topology.Zone, name string) bool {
	return slices.ContainsFunc(p.children[z.Name], func(c *topology.Zone) bool { return dns.IsSubDomain(c.Name, name) })
}
