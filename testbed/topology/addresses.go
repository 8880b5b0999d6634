package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Addresses: region i owns 127.(10+i).0.0/16. Servers take host numbers
// from 1 upwards; clients take them from clientBase upwards, so that the
// two never meet and a packet's region is known from either end.
const (
	firstBlock = 10
	clientBase = 128 << 8 // 127.B.128.0 and on
)

// Prefix returns the address block of the region at index i.
func prefix(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(firstBlock + i), 0, 0}), 16)
}

func hostAddr(i, n int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(firstBlock + i), byte(n >> 8), byte(n)})
}

// allocate gives every server an address: the fixed ones first (checked
// for duplicates and for lying in their region's block), then the next
// free host number of the region, in file order with the resolver first.
func (t *Topology) allocate(add addFunc) {
	type want struct {
		s    Server
		path string
		addr string
	}
	var all []want
	for i, r := range t.Regions {
		p := fmt.Sprintf("regions[%d]", i)
		all = append(all, want{Server{Name: "resolver-" + r.Name, Role: RoleResolver, Region: r.Name, Line: t.lineOf(p)},
			p + ".resolver-address", r.ResolverAddress})
	}
	for i, z := range t.Zones {
		p := fmt.Sprintf("zones[%d]", i)
		all = append(all, want{Server{Name: zoneLabel(z.Name) + "-" + z.Primary.Region, Role: RolePrimary,
			Region: z.Primary.Region, Zone: z.Name, Line: t.lineOf(p + ".primary")}, p + ".primary.address", z.Primary.Address})
		for j, s := range z.Secondaries {
			sp := fmt.Sprintf("%s.secondaries[%d]", p, j)
			all = append(all, want{Server{Name: zoneLabel(z.Name) + "-" + s.Region, Role: RoleSecondary,
				Region: s.Region, Zone: z.Name, Line: t.lineOf(sp)}, sp + ".address", s.Address})
		}
	}
	used := map[netip.Addr]int{} // address → line of its first user
	for k := range all {
		w := &all[k]
		if w.addr == "" {
			continue
		}
		a, err := netip.ParseAddr(w.addr)
		ri := t.region[w.s.Region]
		switch {
		case err != nil:
			add(w.path, "%s: %q is not an IP address", w.s.Name, w.addr)
			continue
		case !prefix(ri).Contains(a) || a.As4()[2] >= clientBase>>8:
			add(w.path, "%s: address %v is not in the server range of region %q (%v, below .128.0)", w.s.Name, a, w.s.Region, prefix(ri))
			continue
		case a == hostAddr(ri, clientBase-2):
			add(w.path, "%s: address %v is reserved for the peer resolver of -compare", w.s.Name, a)
			continue
		}
		if first, dup := used[a]; dup {
			add(w.path, "duplicate address %v (first used at line %d)", a, first)
			continue
		}
		used[a] = t.lineOf(w.path)
		w.s.Addr = netip.AddrPortFrom(a, t.Port)
	}
	next := make([]int, len(t.Regions))
	for k := range all {
		w := &all[k]
		if w.s.Addr.IsValid() {
			continue
		}
		ri := t.region[w.s.Region]
		for {
			next[ri]++
			if a := hostAddr(ri, next[ri]); !isUsed(used, a) {
				used[a] = w.s.Line
				w.s.Addr = netip.AddrPortFrom(a, t.Port)
				break
			}
		}
		if next[ri] >= clientBase {
			add(w.path, "region %q has more servers than its block holds", w.s.Region)
			return
		}
	}
	t.servers = make([]Server, len(all))
	byRegion := map[[2]string]netip.AddrPort{} // (zone, region) → address
	for k, w := range all {
		t.servers[k] = w.s
		byRegion[[2]string{w.s.Zone, w.s.Region}] = w.s.Addr
	}
	for k := range t.servers {
		s := &t.servers[k]
		if s.Role != RoleSecondary {
			continue
		}
		z := t.Zone(s.Zone)
		from := z.Primary.Region
		for _, r := range z.Secondaries {
			if r.Region == s.Region && r.From != "" {
				from = r.From
			}
		}
		s.From = byRegion[[2]string{s.Zone, from}]
	}
}

func isUsed(m map[netip.Addr]int, a netip.Addr) bool {
	_, ok := m[a]
	return ok
}

// zoneLabel names a zone in server names: "root" for ".", else the name
// without its final dot.
func zoneLabel(name string) string {
	if name == "." {
		return "root"
	}
	return strings.TrimSuffix(name, ".")
}

// Servers returns every server, resolvers first, then each zone's primary
// and secondaries in file order.
func (t *Topology) Servers() []Server { return slices.Clone(t.servers) }

// Resolver returns the resolver of a region.
func (t *Topology) Resolver(region string) (Server, bool) {
	for _, s := range t.servers {
		if s.Role == RoleResolver && s.Region == region {
			return s, true
		}
	}
	return Server{}, false
}

// ZoneServers returns the primary and secondaries of a zone.
func (t *Topology) ZoneServers(zone string) []Server {
	var out []Server
	for _, s := range t.servers {
		if s.Role != RoleResolver && s.Zone == dns.CanonicalName(zone) {
			out = append(out, s)
		}
	}
	return out
}

// Zone returns the zone named name, or nil.
func (t *Topology) Zone(name string) *Zone {
	name = dns.CanonicalName(name)
	for i := range t.Zones {
		if t.Zones[i].Name == name {
			return &t.Zones[i]
		}
	}
	return nil
}

// Leaves returns the zones with no child zone in the topology: the zones
// whose names the clients ask for.
func (t *Topology) Leaves() []*Zone {
	var out []*Zone
	for i := range t.Zones {
		z := &t.Zones[i]
		leaf := true
		for _, o := range t.Zones {
			if o.Name != z.Name && dns.IsSubDomain(z.Name, o.Name) {
				leaf = false
				break
			}
		}
		if leaf {
			out = append(out, z)
		}
	}
	return out
}

// Prefix returns the address block of a region.
func (t *Topology) Prefix(region string) (netip.Prefix, bool) {
	i, ok := t.region[region]
	if !ok {
		return netip.Prefix{}, false
	}
	return prefix(i), true
}

// ClientAddr returns the local address for the n-th client socket (from 0)
// of a region: in the region's block, apart from the servers, so that the
// clients' packets are delayed like any other.
func (t *Topology) ClientAddr(region string, n int) (netip.Addr, bool) {
	i, ok := t.region[region]
	if !ok || n < 0 || clientBase+1+n > 0xffff {
		return netip.Addr{}, false
	}
	return hostAddr(i, clientBase+1+n), true
}

// RegionOf returns the region whose block holds a, if any.
func (t *Topology) RegionOf(a netip.Addr) (string, bool) {
	a = a.Unmap()
	if !a.Is4() {
		return "", false
	}
	i := int(a.As4()[1]) - firstBlock
	if a.As4()[0] != 127 || i < 0 || i >= len(t.Regions) {
		return "", false
	}
	return t.Regions[i].Name, true
}

// RTT returns the round-trip time between two regions.
func (t *Topology) RTT(a, b string) time.Duration {
	if d, ok := t.Regions[t.region[a]].RTT[b]; ok {
		return d
	}
	return t.Regions[t.region[b]].RTT[a]
}

// OneWay returns the emulated one-way delay of a packet between two
// addresses: half the RTT between their regions. It is zero when either is
// outside every region (127.0.0.1, say), which the testbed does not
// emulate, and between a client and a server of its own region: clients
// sit beside their resolver, as a site's stub resolvers do, so a cache hit
// costs no distance and the region's own RTT is the one between its
// sites. It has the shape of netem's DelayFunc.
func (t *Topology) OneWay(local, remote netip.AddrPort) time.Duration {
	a, okA := t.RegionOf(local.Addr())
	b, okB := t.RegionOf(remote.Addr())
	if !okA || !okB {
		return 0
	}
	if a == b && (isClient(local.Addr()) || isClient(remote.Addr())) {
		return 0
	}
	return t.RTT(a, b) / 2
}

// isClient reports whether a (in some region) is a client address.
func isClient(a netip.Addr) bool {
	return int(a.Unmap().As4()[2]) >= clientBase>>8
}

// Nearest returns the replica of a zone with the lowest RTT from a
// region, and that RTT: the physical limit of one step of resolution.
func (t *Topology) Nearest(region, zone string) (Server, time.Duration, bool) {
	var best Server
	bestRTT := time.Duration(-1)
	for _, s := range t.ZoneServers(zone) {
		if rtt := t.RTT(region, s.Region); bestRTT < 0 || rtt < bestRTT {
			best, bestRTT = s, rtt
		}
	}
	return best, bestRTT, bestRTT >= 0
}

// GeneratedNames returns the address names of a generated zone, in rank
// order (the first is the most popular under a Zipf workload). A zone
// given as a file has none here: its names are in the file.
func (z *Zone) GeneratedNames() []string {
	out := make([]string, z.Names)
	for i := range out {
		out[i] = fmt.Sprintf("host%d.%s", i, z.Name)
	}
	return out
}

// SetPort moves every server to port p (the -port flag, and port 53 for
// the Unbound comparison, which queries no other port).
func (t *Topology) SetPort(p uint16) {
	t.Port = p
	for i := range t.servers {
		s := &t.servers[i]
		s.Addr = netip.AddrPortFrom(s.Addr.Addr(), p)
		if s.From.IsValid() {
			s.From = netip.AddrPortFrom(s.From.Addr(), p)
		}
	}
}

// PeerAddr returns the address of the peer resolver (Unbound) the report
// places in a region beside Meridian's: the last address of the region's
// server range, which the allocation reaches only with 32,766 servers.
func (t *Topology) PeerAddr(region string) (netip.Addr, bool) {
	i, ok := t.region[region]
	if !ok {
		return netip.Addr{}, false
	}
	return hostAddr(i, clientBase-2), true
}
