package exchange

import (
	"context"
	"net"
	"net/netip"
)

// Dialer opens the sockets of an exchange. The Client never calls net.Dial
// itself, so that a caller can wrap the connections: the geo testbed
// (issue 5) passes a Dialer that delays every packet by the emulated
// latency between regions, and tests can count or drop packets.
//
// laddr is the local address to bind, always with port 0; its zero value
// means "let the kernel choose". raddr is the server.
type Dialer interface {
	// DialUDP returns a new UDP socket connected to raddr. Each call must
	// return a fresh socket bound to a port the kernel picks at random,
	// since the source port is half the entropy against spoofing
	// (RFC 5452 §4.5, §9.2). Writes send one datagram; reads return one.
	DialUDP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error)

	// DialTCP returns a TCP connection to raddr, giving up when ctx ends.
	DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error)
}

// NetDialer is the default Dialer, on the operating system's sockets.
//
// Its UDP sockets are connected (as with Unbound's udp-connect): the
// kernel then drops datagrams from any other address or port before we
// see them, and an ICMP port unreachable fails the read at once instead
// of waiting for the timeout. Linux picks the source port of an unbound
// socket at random within net.ipv4.ip_local_port_range (32768-60999 by
// default, about 14.8 bits) when connect binds it.
type NetDialer struct{}

// DialUDP implements Dialer.
func (NetDialer) DialUDP(_ context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	var la *net.UDPAddr
	if laddr.IsValid() {
		la = net.UDPAddrFromAddrPort(laddr)
	}
	return net.DialUDP(network("udp", raddr), la, net.UDPAddrFromAddrPort(raddr))
}

// DialTCP implements Dialer.
func (NetDialer) DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{KeepAlive: -1} // one query per connection: no keep-alive probes
	if laddr.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(laddr)
	}
	return d.DialContext(ctx, network("tcp", raddr), raddr.String())
}

// network returns "udp4" or "udp6" (or "tcp4", "tcp6") for raddr, so that
// an IPv4 server gets an AF_INET socket rather than a dual-stack one.
func network(proto string, raddr netip.AddrPort) string {
	if raddr.Addr().Is4() {
		return proto + "4"
	}
	return proto + "6"
}
