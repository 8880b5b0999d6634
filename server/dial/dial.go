// Package dial opens the server's own outgoing sockets (NOTIFY, SOA
// checks, zone transfers) through an optional Dialer and exchanges one DNS
// message over them. The Dialer has the method set of the resolver's
// exchange.Dialer, so that one value — the geo testbed's, which emulates
// the latency between regions — serves replication and resolution alike
// without server/ importing resolver/.
package dial

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// Dialer opens outgoing sockets.
type Dialer interface {
	// DialUDP returns a UDP socket bound to laddr (port 0; the zero
	// AddrPort lets the kernel choose) and connected to raddr. Writes send
	// one datagram; reads return one.
	DialUDP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error)
	// DialTCP returns a TCP connection from laddr to raddr, giving up when
	// ctx ends.
	DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error)
}

// Local is the local address to dial from: source with port 0, or the zero
// AddrPort (the kernel's choice) when source is not set.
func Local(source netip.Addr) netip.AddrPort {
	if !source.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(source, 0)
}

// Exchange sends m to raddr over c.Net ("udp", or "tcp") on a socket from
// d bound to source, and reads the answer within c's timeouts and ctx, as
// c.ExchangeContext does over a socket of its own.
func Exchange(ctx context.Context, d Dialer, c *dns.Client, m *dns.Msg, source netip.Addr, raddr netip.AddrPort) (*dns.Msg, error) {
	var nc net.Conn
	var err error
	if c.Net == "tcp" {
		nc, err = d.DialTCP(ctx, Local(source), raddr)
	} else {
		nc, err = d.DialUDP(ctx, Local(source), raddr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() }) // cancellation, not only the deadline
	defer stop()
	if _, ok := nc.(net.PacketConn); !ok && c.Net != "tcp" {
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
