package secondary

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
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

// count returns the calls on network and whether every call went from
// laddr to raddr.
func (d *countingDialer) count(network string, laddr, raddr netip.AddrPort) (n int, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ok = true
	for _, c := range d.calls {
		if c.network == network {
			n++
		}
		ok = ok && c.laddr == laddr && c.raddr == raddr
	}
	return n, ok
}

// TestDialer: with Options.Dialer every SOA query (UDP, and TCP after a
// truncated answer) and every transfer goes out on a socket it opened,
// from Source, and TSIG still signs and verifies over them.
func TestDialer(t *testing.T) {
	t.Parallel()
	key := &Key{Name: "sec-key.", Algorithm: dns.HmacSHA256, Secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="}
	p := startPrimary(t, key, zoneRRs(t, 1))
	d := &countingDialer{}
	e := &env{t: t, dir: t.TempDir(), clock: newFakeClock(), sink: newSink(), reg: prometheus.NewRegistry()}
	opts := e.opts()
	opts.Source = netip.MustParseAddr("127.0.0.2")
	opts.Dialer = d
	m, err := New(context.Background(), opts, []Zone{{Origin: origin, Primaries: []Primary{{Addr: p.addr, Key: key}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	t.Cleanup(func() { _ = m.Close() })
	e.waitSerial(t, 1)

	p.set(zoneRRs(t, 2, "b.example.org. 60 IN A 192.0.2.2"))
	p.with(func(p *fakePrimary) { p.truncSOA = true })
	m.Refresh(origin)
	e.waitSerial(t, 2)
	e.waitCounter(t, 1, "meridian_secondary_transfers_total", "kind", "ixfr", "outcome", "ok")

	la := netip.AddrPortFrom(opts.Source, 0)
	udp, ok := d.count("udp", la, p.addr)
	tcp, _ := d.count("tcp", la, p.addr)
	if !ok || udp < 1 || tcp < 3 { // SOA over UDP; SOA over TCP, AXFR and IXFR
		t.Errorf("dialed %d UDP and %d TCP sockets, all from %v to %v: %t; calls %+v", udp, tcp, la, p.addr, ok, d.calls)
	}
	if a, i, s := p.count(dns.TypeAXFR), p.count(dns.TypeIXFR), p.count(dns.TypeSOA); a != 1 || i != 1 || udp+tcp != a+i+s {
		t.Errorf("primary saw %d AXFR, %d IXFR, %d SOA; dialed %d", a, i, s, udp+tcp)
	}
	p.with(func(p *fakePrimary) {
		if len(p.sources) != 1 || !p.sources[opts.Source] {
			t.Errorf("requests came from %v", p.sources)
		}
	})
}
