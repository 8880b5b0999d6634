package secondary

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/server/xfr"
	"github.com/meridian-dns/meridian/zone"
)

// xfrPrimary puts server/xfr's Primary (the real primary side) behind a
// loopback server: SOA queries are answered from the zone last given to
// update, transfers by Primary.ServeTransfer, with its TSIG provider.
type xfrPrimary struct {
	p     *xfr.Primary
	addr  netip.AddrPort
	cur   atomic.Pointer[zone.Zone]
	mu    sync.Mutex
	count map[uint16]int
}

func startXFR(t *testing.T, keys []xfr.Key, acl xfr.ACL) *xfrPrimary {
	t.Helper()
	p, err := xfr.NewPrimary(xfr.Options{Keys: keys, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := p.AddZone(origin, xfr.ZoneConfig{ACL: acl}); err != nil {
		t.Fatal(err)
	}
	x := &xfrPrimary{p: p, count: map[uint16]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", l.Addr().String())
	if err != nil {
		l.Close()
		t.Skipf("UDP port taken: %v", err)
	}
	x.addr = netip.MustParseAddrPort(l.Addr().String())
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		qt := r.Question[0].Qtype
		x.mu.Lock()
		x.count[qt]++
		x.mu.Unlock()
		if qt == dns.TypeAXFR || qt == dns.TypeIXFR {
			p.ServeTransfer(w, r)
			return
		}
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if z := x.cur.Load(); z != nil {
			m.Answer = []dns.RR{z.SOA()}
		}
		if ts := r.IsTsig(); ts != nil && w.TsigStatus() == nil {
			m.SetTsig(ts.Hdr.Name, ts.Algorithm, 300, time.Now().Unix())
		}
		_ = w.WriteMsg(m)
	})
	for _, s := range []*dns.Server{
		{Listener: l, Handler: h, TsigProvider: p.TsigProvider()},
		{PacketConn: pc, Handler: h, TsigProvider: p.TsigProvider()},
	} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return x
}

func (x *xfrPrimary) update(t *testing.T, z *zone.Zone) {
	t.Helper()
	if err := x.p.Update(z); err != nil {
		t.Error(err) // called from the Manager's goroutine too: no Fatal
	}
	x.cur.Store(z)
}

func (x *xfrPrimary) requests(qtype uint16) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.count[qtype]
}

// A chain built of the real pieces: an xfr.Primary feeds secondary B with
// TSIG; B publishes each version into its own xfr.Primary, which feeds
// secondary C. A change at the top reaches C by IXFR at every hop.
func TestChainWithXFRPrimary(t *testing.T) {
	t.Parallel()
	key := xfr.Key{Name: "chain-key.", Algorithm: dns.HmacSHA256, Secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="}
	top := startXFR(t, []xfr.Key{key}, xfr.ACL{Keys: []string{key.Name}})
	top.update(t, mustZone(t, zoneRRs(t, 1, "www.example.org. 60 IN A 192.0.2.1")))

	mid := startXFR(t, nil, xfr.ACL{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	b := &env{t: t, dir: t.TempDir(), clock: newFakeClock(), sink: newSink(), reg: prometheus.NewRegistry()}
	bo := b.opts()
	bo.NoJournal = true // mid keeps the journal for downstream
	publish := bo.Publish
	bo.Publish = func(o string, z *zone.Zone) {
		mid.update(t, z) // before the test sees it published
		publish(o, z)
	}
	var err error
	b.m, err = New(context.Background(), bo, []Zone{{Origin: origin, Primaries: []Primary{
		{Addr: top.addr, Key: &Key{Name: key.Name, Algorithm: key.Algorithm, Secret: key.Secret}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.m.Close() })
	b.waitSerial(t, 1)

	c := newEnv(t, "", nil, Primary{Addr: mid.addr})
	c.waitSerial(t, 1)

	top.update(t, mustZone(t, zoneRRs(t, 2, "www.example.org. 60 IN A 192.0.2.2")))
	b.m.Refresh(origin)
	b.waitSerial(t, 2)
	c.m.Refresh(origin)
	c.waitSerial(t, 2)
	for name, x := range map[string]*xfrPrimary{"top": top, "mid": mid} {
		if a, i := x.requests(dns.TypeAXFR), x.requests(dns.TypeIXFR); a != 1 || i != 1 {
			t.Errorf("%s: AXFR, IXFR requests = %d, %d, want 1, 1", name, a, i)
		}
	}
	c.waitCounter(t, 1, "meridian_secondary_transfers_total", "kind", "ixfr", "outcome", "ok")
}
