// Package fabric is the geo testbed's emulated network for one topology:
// the sockets it hands the servers (delayed by the distance between
// regions, and counting the queries they receive), the dialers of their
// outgoing sockets, and the cutting off of regions. It decides what each
// packet costs; netem does the delaying.
package fabric

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-dns/meridian/resolver/exchange"
	"github.com/meridian-dns/meridian/testbed/netem"
	"github.com/meridian-dns/meridian/testbed/topology"
)

// Net is the emulated network of one topology. Its methods are safe for
// concurrent use; Delay and the counting on reads, which run per packet,
// take no exclusive lock.
type Net struct {
	top    *topology.Topology
	region map[string]int // region name → index into cut
	cut    []atomic.Bool  // per region: cut off from the others

	// external is replaced whole on change (copy on write), so that
	// Delay reads it without a lock.
	extMu    sync.Mutex
	external atomic.Pointer[map[netip.Addr]struct{}]

	counts counters
}

// New returns the network of t, with no region cut and no query counted.
func New(t *topology.Topology) *Net {
	n := &Net{top: t, region: make(map[string]int, len(t.Regions)), cut: make([]atomic.Bool, len(t.Regions))}
	for i, r := range t.Regions {
		n.region[r.Name] = i
	}
	n.external.Store(&map[netip.Addr]struct{}{})
	n.counts.init()
	return n
}

// Delay is the DelayFunc of every socket of the testbed: the topology's
// one-way delay, with two exceptions.
//
// A packet between two different regions is dropped (a negative delay)
// while either of them is cut; traffic within a cut region still flows,
// and so does traffic with an address outside every region (127.0.0.1:
// the harness itself), which the testbed does not emulate.
//
// An External address's process sends undelayed, since we cannot wrap its
// sockets, so a packet to it carries the whole round trip, and a packet
// from it (asked by netem's Dialer to time a TCP handshake) none.
func (n *Net) Delay(local, remote netip.AddrPort) time.Duration {
	if n.cutBetween(local.Addr(), remote.Addr()) {
		return -1
	}
	return n.distance(local, remote)
}

// distance is Delay without the cut. It is the delay of the connected
// sockets (dialed, and accepted TCP), whose delay netem fixes when they are
// made: were it negative, a socket made during a cut would stay cut after
// it. Their wrappers check the cut per packet instead (conn.go).
func (n *Net) distance(local, remote netip.AddrPort) time.Duration {
	ext := *n.external.Load()
	if _, ok := ext[local.Addr().Unmap()]; ok {
		return 0
	}
	d := n.top.OneWay(local, remote)
	if _, ok := ext[remote.Addr().Unmap()]; ok {
		return 2 * d
	}
	return d
}

// cutBetween reports whether a packet between a and b crosses the border
// of a cut region.
func (n *Net) cutBetween(a, b netip.Addr) bool {
	ra, okA := n.regionIndex(a)
	rb, okB := n.regionIndex(b)
	return okA && okB && ra != rb && (n.cut[ra].Load() || n.cut[rb].Load())
}

func (n *Net) regionIndex(a netip.Addr) (int, bool) {
	name, ok := n.top.RegionOf(a)
	if !ok {
		return 0, false
	}
	return n.region[name], true
}

// Cut cuts a region off from the others (cut true) or joins it again. It
// applies to every packet written after the call; a TCP connection already
// open across the new border breaks at its next write (see Listen). It
// panics on a region the topology does not have: a misspelt name would
// otherwise leave the experiment silently uncut.
func (n *Net) Cut(region string, cut bool) {
	i, ok := n.region[region]
	if !ok {
		panic(fmt.Sprintf("fabric: Cut of unknown region %q", region))
	}
	n.cut[i].Store(cut)
}

// External declares a the address of a process whose sockets the testbed
// cannot wrap (an Unbound under comparison, say): the packets sent to it
// carry the whole round trip. Call it before traffic to a starts.
func (n *Net) External(a netip.Addr) {
	n.extMu.Lock()
	defer n.extMu.Unlock()
	old := *n.external.Load()
	m := make(map[netip.Addr]struct{}, len(old)+1)
	for k := range old {
		m[k] = struct{}{}
	}
	m[a.Unmap()] = struct{}{}
	n.external.Store(&m)
}

// Dialer returns the dialer for the outgoing sockets (resolution, transfer,
// NOTIFY) of a server at local: it binds local, port 0, when the caller
// gives no local address, so that the socket lies in the server's region,
// and delays with Delay. A TCP dial across a cut fails with netem.ErrCut
// when ctx ends; a datagram is lost if its link is cut when its delay has
// passed; a TCP connection breaks at its first write in the same case. Its
// connections are not counted: they receive answers, not queries.
func (n *Net) Dialer(local netip.Addr) *netem.Dialer {
	return &netem.Dialer{Base: guardDialer{n: n, base: exchange.NetDialer{}}, Delay: n.distance, Local: local}
}
