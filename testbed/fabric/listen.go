package fabric

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/meridian-dns/meridian/testbed/netem"
)

// Listen binds UDP and TCP on addr, the same port for both (port 0 picks
// a free one), and returns them wrapped for a server: delayed by Delay,
// and counting the queries received per link (see Counts). Closing the
// PacketConn releases its goroutine; each accepted connection owns one
// too, released when the server closes it; closing the Listener does not
// close the connections it accepted.
//
// A cut (see Cut) also drops the datagrams queued before it whose time to
// be sent comes after, and breaks an open TCP connection across the
// border at its next write.
func (n *Net) Listen(addr netip.AddrPort) (net.PacketConn, net.Listener, error) {
	udp, tcp := "udp4", "tcp4"
	if !addr.Addr().Unmap().Is4() {
		udp, tcp = "udp6", "tcp6"
	}
	for attempt := 0; ; attempt++ {
		ln, err := net.ListenTCP(tcp, net.TCPAddrFromAddrPort(addr))
		if err != nil {
			return nil, nil, fmt.Errorf("fabric: listen %v: %w", addr, err)
		}
		bound := unmap(ln.Addr().(*net.TCPAddr).AddrPort())
		pc, err := net.ListenUDP(udp, net.UDPAddrFromAddrPort(bound))
		if err != nil {
			ln.Close()
			// With port 0, another socket may hold TCP's port for UDP.
			if addr.Port() == 0 && errors.Is(err, syscall.EADDRINUSE) && attempt < 10 {
				continue
			}
			return nil, nil, fmt.Errorf("fabric: listen %v: %w", addr, err)
		}
		wpc := n.wrapPacketConn(pc, bound)
		wln := n.wrapListener(ln, bound.Addr())
		return wpc, wln, nil
	}
}

// wrapPacketConn counts under netem's delay: reads are counted as they
// come off the socket, writes delayed before they reach it.
func (n *Net) wrapPacketConn(pc net.PacketConn, local netip.AddrPort) net.PacketConn {
	return netem.WrapPacketConn(&packetConn{PacketConn: pc, n: n, local: local}, n.Delay)
}

func (n *Net) wrapListener(ln net.Listener, local netip.Addr) net.Listener {
	// The connections check the cut themselves (see Net.distance).
	return netem.WrapListener(&listener{Listener: ln, n: n, to: local}, n.distance)
}
