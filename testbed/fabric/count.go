package fabric

import (
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Link is the direction of a query: from a client's (or resolver's, or
// secondary's) address to a server's.
type Link struct{ From, To netip.Addr }

// counters holds one counter per link. Counters are never removed, only
// zeroed (Reset), so that a TCP connection may keep its counter for its
// whole life and count a message with one atomic add.
//
// The read path takes no lock: a server's UDP socket has a reader per P,
// and a read-write mutex made them contend on its reader count (twice the
// cost of this with two readers). New links go to all under mu; read is a copy of all,
// refreshed once the misses since the last copy have cost as much as a
// copy (the scheme of sync.Map, without boxing the key on every lookup).
type counters struct {
	read   atomic.Pointer[map[Link]*atomic.Uint64] // never changed once stored
	mu     sync.Mutex
	all    map[Link]*atomic.Uint64
	misses int
}

func (c *counters) init() {
	c.all = map[Link]*atomic.Uint64{}
	c.read.Store(&map[Link]*atomic.Uint64{})
}

// get returns the counter of l, creating it on first use.
func (c *counters) get(l Link) *atomic.Uint64 {
	if p := (*c.read.Load())[l]; p != nil {
		return p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.all[l]
	if p == nil {
		p = new(atomic.Uint64)
		c.all[l] = p
	}
	if c.misses++; c.misses >= len(c.all) {
		m := maps.Clone(c.all)
		c.read.Store(&m)
		c.misses = 0
	}
	return p
}

// Counts returns a snapshot of the queries received per link since the
// last Reset (or New); links with none are left out. UDP counts datagrams
// read; TCP counts whole DNS messages read on accepted connections.
func (n *Net) Counts() map[Link]uint64 {
	n.counts.mu.Lock()
	defer n.counts.mu.Unlock()
	out := make(map[Link]uint64)
	for l, p := range n.counts.all {
		if v := p.Load(); v > 0 {
			out[l] = v
		}
	}
	return out
}

// Reset zeroes every count. A query read while Reset runs may be counted
// either side of it.
func (n *Net) Reset() {
	n.counts.mu.Lock()
	defer n.counts.mu.Unlock()
	for _, p := range n.counts.all {
		p.Store(0)
	}
}

// framer counts the DNS messages of a TCP stream as it is read: each is
// preceded by its length in two octets (RFC 1035 §4.2.2). A message counts
// once read whole.
type framer struct {
	hdr  int // octets of the length prefix read so far: 0 or 1
	hi   byte
	left int // octets of the current message still to read; 0 between messages
}

// feed consumes the octets just read and returns the messages they
// completed.
func (f *framer) feed(b []byte) (msgs uint64) {
	for len(b) > 0 {
		switch {
		case f.left > 0:
			k := min(f.left, len(b))
			f.left -= k
			b = b[k:]
			if f.left == 0 {
				msgs++
			}
		case f.hdr == 0:
			f.hi, f.hdr = b[0], 1
			b = b[1:]
		default:
			f.left, f.hdr = int(f.hi)<<8|int(b[0]), 0
			b = b[1:]
			if f.left == 0 {
				msgs++ // empty, but a message all the same
			}
		}
	}
	return msgs
}
