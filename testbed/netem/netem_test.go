package netem

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/resolver/exchange"
)

var _ exchange.Dialer = (*Dialer)(nil)

// regions delays by the second octet of the addresses: 1 ms within a
// "region", oneWay between two.
func regions(oneWay time.Duration) DelayFunc {
	return func(local, remote netip.AddrPort) time.Duration {
		if local.Addr().As4()[1] == remote.Addr().As4()[1] {
			return time.Millisecond
		}
		return oneWay
	}
}

func within(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	if lo, hi := want*9/10, want*11/10; got < lo || got > hi {
		t.Errorf("%s = %v, want %v ± 10%%", what, got, want)
	} else {
		t.Logf("%s = %v (want %v)", what, got, want)
	}
}

// median times n round trips of ping.
func median(t *testing.T, n int, ping func() error) time.Duration {
	t.Helper()
	var rtts []time.Duration
	for range n {
		start := time.Now()
		if err := ping(); err != nil {
			t.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2]
}

func schedOf(c net.Conn) *scheduler {
	switch c := c.(type) {
	case *Conn:
		return c.s
	case *datagramConn:
		return c.s
	}
	panic(fmt.Sprintf("not a netem conn: %T", c))
}

func closed(t *testing.T, what string, s *scheduler) {
	t.Helper()
	select {
	case <-s.exited:
	default:
		t.Errorf("%s: scheduler goroutine still running after Close", what)
	}
}

func TestUDPEcho(t *testing.T) {
	t.Parallel()
	delay := regions(15 * time.Millisecond)
	raw, err := net.ListenPacket("udp4", "127.10.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := WrapPacketConn(raw, delay)
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(buf[:n], from)
		}
	}()
	d := &Dialer{Base: exchange.NetDialer{}, Delay: delay, Local: netip.MustParseAddr("127.11.0.1")}
	c, err := d.DialUDP(context.Background(), netip.AddrPort{}, AddrPort(raw.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(net.PacketConn); !ok {
		t.Error("a wrapped UDP socket is not a net.PacketConn: miekg/dns would frame it as TCP")
	}
	if got := AddrPort(c.LocalAddr()).Addr(); got != d.Local {
		t.Errorf("client bound to %v, want %v", got, d.Local)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	rtt := median(t, 9, func() error {
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		_, err := c.Read(buf)
		return err
	})
	within(t, "UDP RTT", rtt, 30*time.Millisecond)

	// Datagrams arrive in the order written, though none waited for the
	// one before.
	for i := range 50 {
		c.Write(fmt.Appendf(nil, "%d", i))
	}
	for i := range 50 {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != fmt.Sprint(i) {
			t.Fatalf("datagram %d reads %q", i, got)
		}
	}
	c.Close()
	srv.Close()
	closed(t, "client", schedOf(c))
	closed(t, "server", srv.s)
	if _, err := srv.WriteTo([]byte("x"), c.LocalAddr()); err == nil {
		t.Error("WriteTo after Close succeeded")
	}
}

func TestTCPEcho(t *testing.T) {
	t.Parallel()
	delay := regions(10 * time.Millisecond)
	raw, err := net.Listen("tcp4", "127.10.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := WrapListener(raw, delay)
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			c.Write(buf[:n])
		}
	}()
	d := &Dialer{Base: exchange.NetDialer{}, Delay: delay, Local: netip.MustParseAddr("127.12.0.1")}
	start := time.Now()
	c, err := d.DialTCP(context.Background(), netip.AddrPort{}, AddrPort(raw.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	// One sample, so a looser bound than the medians': never less than
	// the round trip, and not much more.
	if hs := time.Since(start); hs < 20*time.Millisecond || hs > 30*time.Millisecond {
		t.Errorf("TCP handshake took %v, want 20ms to 30ms", hs)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	rtt := median(t, 9, func() error {
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		_, err := c.Read(buf)
		return err
	})
	within(t, "TCP RTT", rtt, 20*time.Millisecond)
	c.Close()
	<-served
	ln.Close()
	closed(t, "client", schedOf(c))
}

// TestCloseFlushes checks that a stream's queued writes still go out after
// Close, as TCP sends written data before its FIN, and that a datagram
// socket's do not.
func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	delay := func(netip.AddrPort, netip.AddrPort) time.Duration { return 20 * time.Millisecond }
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		var all bytes.Buffer
		all.ReadFrom(c)
		got <- all.Bytes()
	}()
	raw, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := WrapConn(raw, delay)
	c.Write([]byte("answer"))
	c.Close()
	closed(t, "stream", schedOf(c))
	if b := <-got; string(b) != "answer" {
		t.Errorf("peer read %q, want %q", b, "answer")
	}
}

func TestCutLink(t *testing.T) {
	t.Parallel()
	cut := func(netip.AddrPort, netip.AddrPort) time.Duration { return -1 }
	recv, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	raw, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc := WrapPacketConn(raw, cut)
	if n, err := pc.WriteTo([]byte("lost"), recv.LocalAddr()); n != 4 || err != nil {
		t.Fatalf("WriteTo on a cut link = %d, %v; want 4, nil", n, err)
	}
	recv.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := recv.ReadFrom(make([]byte, 10)); err == nil {
		t.Error("a datagram crossed a cut link")
	}
	pc.Close()
	closed(t, "cut", pc.s)
}
