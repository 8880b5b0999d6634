package netem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// BaseDialer has the shape of resolver/exchange.Dialer (exchange.NetDialer
// satisfies it); it is declared here so that the testbed's emulation does
// not depend on the resolver package.
type BaseDialer interface {
	DialUDP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error)
	DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error)
}

// Dialer is an exchange.Dialer whose connections are delayed, so that a
// resolver's upstream queries cross the emulated distance too.
type Dialer struct {
	// Base opens the real sockets; required (exchange.NetDialer{}).
	Base BaseDialer
	// Delay gives the one-way delay between two addresses; required.
	Delay DelayFunc
	// Local is the address to bind when the caller leaves laddr zero.
	// Set it to the resolver's own address: an unbound socket would get
	// 127.0.0.1, which lies in no region, and go undelayed.
	Local netip.Addr
}

func (d *Dialer) laddr(laddr netip.AddrPort) netip.AddrPort {
	if !laddr.IsValid() && d.Local.IsValid() {
		return netip.AddrPortFrom(d.Local, 0)
	}
	return laddr
}

// DialUDP implements exchange.Dialer.
func (d *Dialer) DialUDP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	c, err := d.Base.DialUDP(ctx, d.laddr(laddr), raddr)
	if err != nil {
		return nil, err
	}
	return WrapConn(c, d.Delay), nil
}

// DialTCP implements exchange.Dialer. It waits one emulated round trip
// before returning the connection, the cost of the handshake (SYN,
// SYN-ACK) that the kernel made on loopback without delay.
func (d *Dialer) DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	c, err := d.Base.DialTCP(ctx, d.laddr(laddr), raddr)
	if err != nil {
		return nil, err
	}
	local, remote := AddrPort(c.LocalAddr()), AddrPort(c.RemoteAddr())
	there, back := d.Delay(local, remote), d.Delay(remote, local)
	if there < 0 || back < 0 {
		// A SYN into a cut link goes unanswered until the caller gives up.
		<-ctx.Done()
		c.Close()
		return nil, fmt.Errorf("netem: dial %v: %w (%w)", raddr, ErrCut, ctx.Err())
	}
	t := time.NewTimer(there + back)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("netem: dial %v: %w", raddr, ctx.Err())
	}
	return WrapConn(c, d.Delay), nil
}

// ErrCut is the error of a TCP dial across a cut link (a negative delay).
var ErrCut = errors.New("netem: link cut")
