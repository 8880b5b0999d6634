package xfr

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// Dialer opens outgoing sockets. nil: the system's. It has the method set
// of resolver/exchange.Dialer, so that one value (the geo testbed's, which
// emulates the latency between regions) serves the resolver and
// replication alike without this package importing the resolver.
type Dialer interface {
	// DialUDP returns a UDP socket bound to laddr (port 0; the zero
	// AddrPort lets the kernel choose) and connected to raddr. Writes send
	// one datagram; reads return one.
	DialUDP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error)
	// DialTCP returns a TCP connection from laddr to raddr, giving up when
	// ctx ends.
	DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error)
}

// exchangeUDP sends m to raddr over a socket from d and reads the answer,
// within c's timeouts and ctx's deadline, as c.ExchangeContext does over
// its own socket. laddr is the source address; its zero value lets the
// kernel choose.
func exchangeUDP(ctx context.Context, d Dialer, c *dns.Client, m *dns.Msg, laddr netip.Addr, raddr netip.AddrPort) (*dns.Msg, error) {
	var la netip.AddrPort
	if laddr.IsValid() {
		la = netip.AddrPortFrom(laddr, 0)
	}
	nc, err := d.DialUDP(ctx, la, raddr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() }) // cancellation, not only the deadline
	defer stop()
	if _, ok := nc.(net.PacketConn); !ok {
		nc = datagramConn{nc}
	}
	r, _, err := c.ExchangeWithConnContext(ctx, m, &dns.Conn{Conn: nc})
	return r, err
}

// datagramConn marks a dialed UDP socket that is not a net.PacketConn (a
// wrapper's) as one for miekg, which otherwise frames each message with
// the two-byte length of DNS over TCP.
type datagramConn struct{ net.Conn }

func (c datagramConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, err := c.Read(p)
	return n, c.RemoteAddr(), err
}

func (c datagramConn) WriteTo(p []byte, _ net.Addr) (int, error) { return c.Write(p) }
