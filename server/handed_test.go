package server

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// wrappedPacketConn hides the *net.UDPConn behind the interface, as the
// testbed's latency wrapper does, so the server takes its generic path.
type wrappedPacketConn struct{ net.PacketConn }

type wrappedListener struct{ net.Listener }

// TestHandedInSockets: sockets handed in, rather than bound from Listen,
// are served over UDP and TCP, and closed at shutdown.
func TestHandedInSockets(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newTestServer(t, Options{
		PacketConns: []net.PacketConn{wrappedPacketConn{pc}},
		Listeners:   []net.Listener{wrappedListener{ln}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for network, addr := range map[string]string{"udp": pc.LocalAddr().String(), "tcp": ln.Addr().String()} {
		m := new(dns.Msg)
		m.SetQuestion("www.example.", dns.TypeA)
		m.SetEdns0(1232, false)
		r, _, err := (&dns.Client{Net: network, Timeout: 5 * time.Second}).Exchange(m, addr)
		if err != nil || r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) == 0 {
			t.Errorf("%s on a handed-in socket: %v %v", network, r, err)
		}
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.WriteTo([]byte{0}, pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the UDP socket is still open after Shutdown: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the listener is still open after Shutdown: %v", err)
	}
}
