package fabric

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/meridian-dns/meridian/testbed/netem"
)

// The wrappers here sit under netem's (which delays the writes and owns
// the goroutine): they count what is read, and check the cut when netem
// sends a write at the end of its delay. netem decides a connection's
// delay once, when it is made, so without this check a connection opened
// before a Cut would keep crossing it. They start no goroutine.

// packetConn is a server's UDP socket: it counts the datagrams read, and
// drops a datagram whose time to be sent comes while its link is cut.
type packetConn struct {
	net.PacketConn
	n     *Net
	local netip.AddrPort
}

// ReadFrom implements net.PacketConn, counting the datagram read.
func (c *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	nr, from, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		c.n.counts.get(Link{From: netem.AddrPort(from).Addr().Unmap(), To: c.local.Addr()}).Add(1)
	}
	return nr, from, err
}

// WriteTo implements net.PacketConn.
func (c *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.n.cutBetween(c.local.Addr(), netem.AddrPort(addr).Addr()) {
		return len(b), nil // lost in flight
	}
	return c.PacketConn.WriteTo(b, addr)
}

// listener is a server's TCP listener; its connections count the messages
// they read.
type listener struct {
	net.Listener
	n  *Net
	to netip.Addr
}

// Accept implements net.Listener.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := newStreamConn(l.n, c)
	sc.count = l.n.counts.get(Link{From: sc.remote.Addr(), To: l.to})
	return sc, nil
}

// streamConn is a TCP connection, accepted or dialed. A write sent while
// its link is cut breaks the connection (it is closed, and the write and
// every later one fail with netem.ErrCut): bytes cannot just vanish from a
// stream without garbling its framing, and a long outage ends a real TCP
// connection too, though only after it has stalled for a while.
type streamConn struct {
	net.Conn
	n             *Net
	local, remote netip.AddrPort
	count         *atomic.Uint64 // nil on a dialed connection: it reads answers
	frame         framer         // used by Read, which a stream has one caller of at a time
}

func newStreamConn(n *Net, c net.Conn) *streamConn {
	return &streamConn{Conn: c, n: n, local: unmap(netem.AddrPort(c.LocalAddr())), remote: unmap(netem.AddrPort(c.RemoteAddr()))}
}

// Read implements net.Conn, counting the DNS messages completed.
func (c *streamConn) Read(b []byte) (int, error) {
	nr, err := c.Conn.Read(b)
	if c.count != nil && nr > 0 {
		if k := c.frame.feed(b[:nr]); k > 0 {
			c.count.Add(k)
		}
	}
	return nr, err
}

// Write implements net.Conn.
func (c *streamConn) Write(b []byte) (int, error) {
	if c.n.cutBetween(c.local.Addr(), c.remote.Addr()) {
		c.Conn.Close()
		return 0, fmt.Errorf("fabric: write to %v: %w", c.remote, netem.ErrCut)
	}
	return c.Conn.Write(b)
}

// datagramConn is a dialed (connected) UDP socket: a datagram sent while
// its link is cut is lost. It is a net.PacketConn, as the socket under it
// is, so that netem and miekg/dns still frame it as datagrams.
type datagramConn struct {
	net.Conn
	pc            net.PacketConn
	n             *Net
	local, remote netip.AddrPort
}

// Write implements net.Conn.
func (c *datagramConn) Write(b []byte) (int, error) {
	if c.n.cutBetween(c.local.Addr(), c.remote.Addr()) {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// ReadFrom implements net.PacketConn.
func (c *datagramConn) ReadFrom(b []byte) (int, net.Addr, error) { return c.pc.ReadFrom(b) }

// WriteTo implements net.PacketConn.
func (c *datagramConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.n.cutBetween(c.local.Addr(), netem.AddrPort(addr).Addr()) {
		return len(b), nil
	}
	return c.pc.WriteTo(b, addr)
}

// guardDialer is the base of the fabric's netem.Dialer: the real sockets,
// with the cut checked on every write.
type guardDialer struct {
	n    *Net
	base netem.BaseDialer
}

// DialUDP implements netem.BaseDialer.
func (d guardDialer) DialUDP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	c, err := d.base.DialUDP(ctx, laddr, raddr)
	if err != nil {
		return nil, err
	}
	pc, ok := c.(net.PacketConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("fabric: dial %v: %T is not a datagram socket", raddr, c)
	}
	return &datagramConn{Conn: c, pc: pc, n: d.n, local: unmap(netem.AddrPort(c.LocalAddr())), remote: unmap(netem.AddrPort(c.RemoteAddr()))}, nil
}

// DialTCP implements netem.BaseDialer. A dial across a cut waits for ctx
// to end, as a SYN into a cut link goes unanswered (netem's Dialer does the
// same, but it sees only the distance: see Net.distance).
func (d guardDialer) DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	if d.n.cutBetween(laddr.Addr().Unmap(), raddr.Addr().Unmap()) {
		<-ctx.Done()
		return nil, fmt.Errorf("fabric: dial %v: %w (%w)", raddr, netem.ErrCut, ctx.Err())
	}
	c, err := d.base.DialTCP(ctx, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return newStreamConn(d.n, c), nil
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
