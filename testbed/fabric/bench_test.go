package fabric

import (
	"net"
	"net/netip"
	"testing"
)

// fixedPacketConn reads the same datagram from the same source forever,
// so that the benchmarks measure the wrapper, not the kernel.
type fixedPacketConn struct {
	net.PacketConn
	from net.Addr
}

func (c fixedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	return copy(b, "query"), c.from, nil
}

// BenchmarkReadFrom is the per-datagram cost of counting on a server's
// UDP socket: it should not allocate.
func BenchmarkReadFrom(b *testing.B) {
	n := newNet(b)
	from := &net.UDPAddr{IP: net.IPv4(127, 10, 0, 1).To4(), Port: 40000}
	pc := &packetConn{PacketConn: fixedPacketConn{from: from}, n: n, local: netip.MustParseAddrPort("127.11.0.1:5300")}
	buf := make([]byte, 512)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pc.ReadFrom(buf)
		}
	})
}

// BenchmarkDelay is the per-packet cost of deciding a delay.
func BenchmarkDelay(b *testing.B) {
	n := newNet(b)
	n.External(netip.MustParseAddr("127.10.0.99"))
	local, remote := netip.MustParseAddrPort("127.11.0.1:5300"), netip.MustParseAddrPort("127.10.0.1:40000")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Delay(local, remote)
		}
	})
}
