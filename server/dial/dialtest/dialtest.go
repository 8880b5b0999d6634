// Package dialtest is a dial.Dialer for tests: it opens the system's
// sockets, records every call, and, as the geo testbed's latency wrappers
// do, hides the kernel socket's type, so that a dialed UDP socket is not a
// net.PacketConn.
package dialtest

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
)

// Call is one dial: "udp" or "tcp", from Local to Remote.
type Call struct {
	Network       string
	Local, Remote netip.AddrPort
}

// Recorder is a dial.Dialer (and exchange.Dialer) that records its calls.
// The zero value is ready to use; it is safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
}

// Conn is what Recorder returns: the socket, its type hidden.
type Conn struct{ net.Conn }

func (d *Recorder) record(network string, laddr, raddr netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, Call{network, laddr, raddr})
}

// DialUDP dials a UDP socket from laddr (the zero AddrPort: the kernel's
// choice) connected to raddr.
func (d *Recorder) DialUDP(_ context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d.record("udp", laddr, raddr)
	var la *net.UDPAddr
	if laddr.IsValid() {
		la = net.UDPAddrFromAddrPort(laddr)
	}
	c, err := net.DialUDP("udp", la, net.UDPAddrFromAddrPort(raddr))
	if err != nil {
		return nil, err
	}
	return Conn{c}, nil
}

// DialTCP dials a TCP connection from laddr to raddr within ctx.
func (d *Recorder) DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d.record("tcp", laddr, raddr)
	var nd net.Dialer
	if laddr.IsValid() {
		nd.LocalAddr = net.TCPAddrFromAddrPort(laddr)
	}
	c, err := nd.DialContext(ctx, "tcp", raddr.String())
	if err != nil {
		return nil, err
	}
	return Conn{c}, nil
}

// Calls returns the calls so far, in order.
func (d *Recorder) Calls() []Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}
