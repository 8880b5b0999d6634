package secondary

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/server/dial/dialtest"
	"github.com/prometheus/client_golang/prometheus"
)

// count returns the calls on network and whether every call went from
// laddr to raddr.
func count(d *dialtest.Recorder, network string, laddr, raddr netip.AddrPort) (n int, ok bool) {
	ok = true
	for _, c := range d.Calls() {
		if c.Network == network {
			n++
		}
		ok = ok && c.Local == laddr && c.Remote == raddr
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
	d := &dialtest.Recorder{}
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
	udp, ok := count(d, "udp", la, p.addr)
	tcp, _ := count(d, "tcp", la, p.addr)
	if !ok || udp < 1 || tcp < 3 { // SOA over UDP; SOA over TCP, AXFR and IXFR
		t.Errorf("dialed %d UDP and %d TCP sockets, all from %v to %v: %t; calls %+v", udp, tcp, la, p.addr, ok, d.Calls())
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
