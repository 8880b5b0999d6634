package secondary

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

func (m *Manager) dialer() *net.Dialer {
	d := &net.Dialer{Timeout: m.opts.QueryTimeout}
	if m.opts.Source.IsValid() {
		d.LocalAddr = &net.UDPAddr{IP: m.opts.Source.AsSlice()}
	}
	return d
}

// local is the address Options.Dialer binds: Source with port 0, or the
// zero AddrPort for the kernel's choice.
func (m *Manager) local() netip.AddrPort {
	if !m.opts.Source.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(m.opts.Source, 0)
}

// dialTCP opens a transfer's connection to raddr, waiting at most
// QueryTimeout for it.
func (m *Manager) dialTCP(ctx context.Context, raddr netip.AddrPort) (net.Conn, error) {
	if m.opts.Dialer == nil {
		d := m.dialer()
		if m.opts.Source.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: m.opts.Source.AsSlice()}
		}
		return d.DialContext(ctx, "tcp", raddr.String())
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.QueryTimeout)
	defer cancel()
	return m.opts.Dialer.DialTCP(ctx, m.local(), raddr)
}

// exchange sends q to raddr over c.Net ("udp" or "tcp") and reads the
// answer within c's timeouts, on a socket of Options.Dialer when there is
// one and otherwise on c's own.
func (m *Manager) exchange(ctx context.Context, c *dns.Client, q *dns.Msg, raddr netip.AddrPort) (*dns.Msg, error) {
	if m.opts.Dialer == nil {
		r, _, err := c.ExchangeContext(ctx, q, raddr.String())
		return r, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.QueryTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if c.Net == "tcp" {
		nc, err = m.opts.Dialer.DialTCP(ctx, m.local(), raddr)
	} else {
		nc, err = m.opts.Dialer.DialUDP(ctx, m.local(), raddr)
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
	r, _, err := c.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: nc})
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
