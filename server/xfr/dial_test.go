package xfr_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/meridian-dns/meridian/server/xfr"
)

// countingDialer dials the system's sockets and records each call. Its
// conns hide the kernel socket's type, as the geo testbed's wrappers do,
// so a UDP conn is not a net.PacketConn.
type countingDialer struct {
	mu    sync.Mutex
	calls []dialCall
}

type dialCall struct {
	network      string
	laddr, raddr netip.AddrPort
}

type wrappedConn struct{ net.Conn }

func (d *countingDialer) record(network string, laddr, raddr netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, dialCall{network, laddr, raddr})
}

func (d *countingDialer) DialUDP(_ context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d.record("udp", laddr, raddr)
	var la *net.UDPAddr
	if laddr.IsValid() {
		la = net.UDPAddrFromAddrPort(laddr)
	}
	c, err := net.DialUDP("udp", la, net.UDPAddrFromAddrPort(raddr))
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

func (d *countingDialer) DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d.record("tcp", laddr, raddr)
	var nd net.Dialer
	if laddr.IsValid() {
		nd.LocalAddr = net.TCPAddrFromAddrPort(laddr)
	}
	c, err := nd.DialContext(ctx, "tcp", raddr.String())
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

func (d *countingDialer) dialed() []dialCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]dialCall(nil), d.calls...)
}

// TestNotifyThroughDialer: with Options.Dialer every NOTIFY, retries
// included, goes out on a socket it opened, from NotifySource, and TSIG
// still signs and verifies over it.
func TestNotifyThroughDialer(t *testing.T) {
	t.Parallel()
	sec := newFakeSecondary(t, 1, &testKey) // refuses the first
	d := &countingDialer{}
	opts := notifyOptions()
	opts.NotifySource = netip.MustParseAddr("127.0.0.2")
	opts.Keys = []xfr.Key{testKey}
	opts.Dialer = d
	s := newSetup(t, opts, xfr.ZoneConfig{Notify: []xfr.Target{{Addr: sec.addr, Key: "xfr."}}}, makeZone(t, 1, 5))
	eventually(t, "NOTIFY acknowledged", func() bool {
		return counter(t, s.reg, "meridian_xfr_notifies_sent_total", map[string]string{"outcome": "acknowledged"}) == 1
	})
	if err := s.p.Close(); err != nil {
		t.Fatal(err)
	}
	want := dialCall{"udp", netip.MustParseAddrPort("127.0.0.2:0"), sec.addr}
	if got := d.dialed(); len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("dialed %+v, want twice %+v", got, want)
	}
	got := sec.notifies()
	if len(got) != 2 || !got[1].signed || got[1].from != opts.NotifySource {
		t.Errorf("secondary got %+v, want 2 NOTIFYs, the last signed, from %v", got, opts.NotifySource)
	}
}
