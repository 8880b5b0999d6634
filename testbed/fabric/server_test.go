package fabric

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/server"
	"github.com/meridian-dns/meridian/testbed/netem"
	"github.com/prometheus/client_golang/prometheus"
)

// startMeridian serves the sockets of n.Listen(addr) with a Meridian
// server, as the testbed does. It has no zones: every query is REFUSED,
// which is still an answer to time and count.
func startMeridian(t testing.TB, n *Net, addr string) (srv netip.AddrPort, stop func()) {
	t.Helper()
	pc, ln, err := n.Listen(netip.MustParseAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Options{
		PacketConns: []net.PacketConn{pc},
		Listeners:   []net.Listener{ln},
		Registerer:  prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return netem.AddrPort(pc.LocalAddr()), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
}

// TestMeridian runs a Meridian server on the fabric's sockets and asks it
// over UDP and TCP from another region.
func TestMeridian(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	srv, stop := startMeridian(t, n, "127.11.0.70:0")
	defer stop()
	local := netip.MustParseAddr("127.10.0.70")
	d := n.Dialer(local)
	u, err := d.DialUDP(context.Background(), netip.AddrPort{}, srv)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	roundTrip(t, "UDP to Meridian", u, rttAB)
	tc, err := d.DialTCP(context.Background(), netip.AddrPort{}, srv)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	roundTrip(t, "TCP to Meridian", tc, rttAB)
	roundTrip(t, "TCP to Meridian", tc, rttAB)
	if got, want := n.Counts()[Link{From: local, To: srv.Addr()}], uint64(3); got != want {
		t.Errorf("%d queries counted, want %d", got, want)
	}
}
