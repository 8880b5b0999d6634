package xfr_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/server/xfr"
	"github.com/meridian-dns/meridian/zone"
)

// fakeSecondary answers NOTIFY on UDP: the first fail NOTIFYs get SERVFAIL,
// then every one is acknowledged, signed when it was.
type fakeSecondary struct {
	addr netip.AddrPort
	fail int

	mu      sync.Mutex
	got     []notified
	srv     *dns.Server
	stopped chan struct{}
}

type notified struct {
	from   netip.Addr
	serial uint32
	signed bool // and verified
}

func newFakeSecondary(t testing.TB, fail int, key *xfr.Key) *fakeSecondary {
	t.Helper()
	return newFakeSecondaryAt(t, "127.0.0.1:0", fail, key)
}

func newFakeSecondaryAt(t testing.TB, addr string, fail int, key *xfr.Key) *fakeSecondary {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSecondary{addr: pc.LocalAddr().(*net.UDPAddr).AddrPort(), fail: fail, stopped: make(chan struct{})}
	ready := make(chan struct{})
	f.srv = &dns.Server{PacketConn: pc, Handler: f, NotifyStartedFunc: func() { close(ready) }}
	if key != nil {
		f.srv.TsigSecret = map[string]string{dns.CanonicalName(key.Name): key.Secret}
	}
	go func() {
		defer close(f.stopped)
		f.srv.ActivateAndServe()
	}()
	<-ready
	t.Cleanup(func() {
		f.srv.Shutdown()
		<-f.stopped
	})
	return f
}

func (f *fakeSecondary) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if r.Opcode != dns.OpcodeNotify || len(r.Answer) != 1 {
		return
	}
	n := notified{from: w.RemoteAddr().(*net.UDPAddr).AddrPort().Addr(), serial: r.Answer[0].(*dns.SOA).Serial}
	ts := r.IsTsig()
	n.signed = ts != nil && w.TsigStatus() == nil
	f.mu.Lock()
	f.got = append(f.got, n)
	count := len(f.got)
	f.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	if count <= f.fail {
		m.Rcode = dns.RcodeServerFailure
	}
	if ts != nil {
		m.SetTsig(ts.Hdr.Name, ts.Algorithm, 300, time.Now().Unix())
	}
	w.WriteMsg(m)
}

func (f *fakeSecondary) notifies() []notified {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]notified(nil), f.got...)
}

func notifyOptions() xfr.Options {
	return xfr.Options{NotifySource: netip.MustParseAddr("127.0.0.1"), NotifyRetry: 20 * time.Millisecond,
		NotifyTimeout: time.Second, NotifyAttempts: 5}
}

func TestNotifyRetriedUntilAcknowledged(t *testing.T) {
	t.Parallel()
	sec := newFakeSecondary(t, 2, nil)
	s := newSetup(t, notifyOptions(), xfr.ZoneConfig{ACL: allowLoopback, Notify: []xfr.Target{{Addr: sec.addr}}}, makeZone(t, 1, 5))
	ack := func() float64 {
		return counter(t, s.reg, "meridian_xfr_notifies_sent_total", map[string]string{"outcome": "acknowledged"})
	}
	// The first load notifies too: the secondaries may be behind.
	eventually(t, "NOTIFY of serial 1 acknowledged", func() bool { return ack() == 1 })
	s.update(t, makeZone(t, 2, 5))
	eventually(t, "NOTIFY of serial 2 acknowledged", func() bool { return ack() == 2 })
	got := sec.notifies()
	if len(got) != 4 { // two refused, then one per serial
		t.Fatalf("secondary got %d NOTIFYs, want 4: %v", len(got), got)
	}
	if last := got[len(got)-1]; last.serial != 2 || last.from != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("last NOTIFY %+v, want serial 2 from 127.0.0.1", last)
	}
	if e := counter(t, s.reg, "meridian_xfr_notifies_sent_total", map[string]string{"outcome": "error"}); e != 2 {
		t.Errorf("notifies_sent_total{error} = %v, want 2", e)
	}
	// The same version again: no NOTIFY.
	s.update(t, makeZone(t, 2, 5))
	if err := s.p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(sec.notifies()); n != 4 {
		t.Errorf("reloading the same version sent NOTIFY: %d in all", n)
	}
}

func TestNotifySignedAndBounded(t *testing.T) {
	t.Parallel()
	sec := newFakeSecondary(t, 0, &testKey)
	opts := notifyOptions()
	opts.Keys = []xfr.Key{testKey}
	s := newSetup(t, opts, xfr.ZoneConfig{Notify: []xfr.Target{{Addr: sec.addr, Key: "xfr."}}}, makeZone(t, 1, 5))
	eventually(t, "signed NOTIFY acknowledged", func() bool {
		return counter(t, s.reg, "meridian_xfr_notifies_sent_total", map[string]string{"outcome": "acknowledged"}) == 1
	})
	if got := sec.notifies(); len(got) != 1 || !got[0].signed {
		t.Errorf("NOTIFY not signed with the key: %+v", got)
	}

	// A secondary that never acknowledges is given up on after
	// NotifyAttempts.
	never := newFakeSecondary(t, 1000, nil)
	opts = notifyOptions()
	opts.NotifyAttempts = 3
	s = newSetup(t, opts, xfr.ZoneConfig{Notify: []xfr.Target{{Addr: never.addr}}}, makeZone(t, 1, 5))
	eventually(t, "NOTIFY abandoned", func() bool {
		return counter(t, s.reg, "meridian_xfr_notifies_sent_total", map[string]string{"outcome": "abandoned"}) == 1
	})
	if n := len(never.notifies()); n != 3 {
		t.Errorf("sent %d NOTIFYs, want 3", n)
	}
}

// TestNoLeaks runs transfers, a transfer cut off by its client and NOTIFY
// retries that a shutdown interrupts, and checks that no goroutine is left.
// It is not parallel: it counts every goroutine of the process.
func TestNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("scenario", func(t *testing.T) {
		sec := newFakeSecondary(t, 1000, nil) // never acknowledges: retries pending
		opts := notifyOptions()
		opts.NotifyRetry = time.Hour
		s := newSetup(t, opts, xfr.ZoneConfig{ACL: allowLoopback, Notify: []xfr.Target{{Addr: sec.addr}}}, makeZone(t, 1, 20000)) // more than the socket buffers hold
		if _, _, err := transferIn(t, s.tcp, axfrQuery(), nil); err != nil {
			t.Fatal(err)
		}
		// A client that asks for the zone and hangs up after a few bytes.
		c, err := net.Dial("tcp", s.tcp)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := axfrQuery().Pack()
		c.Write(append([]byte{byte(len(q) >> 8), byte(len(q))}, q...))
		c.Read(make([]byte, 100))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
		eventually(t, "the cut transfer to end", func() bool {
			return counter(t, s.reg, "meridian_xfr_transfers_out_total", map[string]string{"kind": "axfr", "outcome": "error"}) == 1
		})
		eventually(t, "a NOTIFY attempt", func() bool { return len(sec.notifies()) >= 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	})
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestNotifyNS: with NotifyNS the zone's own name servers are notified at
// the addresses the zone gives them, except the primary named in the SOA
// MNAME (RFC 1996 §3.3).
func TestNotifyNS(t *testing.T) {
	t.Parallel()
	mname := newFakeSecondaryAt(t, "127.0.0.2:0", 0, nil)
	port := mname.addr.Port()
	other := newFakeSecondaryAt(t, fmt.Sprintf("127.0.0.3:%d", port), 0, nil)
	z := makeZoneNS(t, 1)
	s := newSetup(t, notifyOptions(), xfr.ZoneConfig{ACL: allowLoopback, NotifyNS: true, NotifyNSPort: port}, z)
	eventually(t, "NOTIFY to ns-b", func() bool { return len(other.notifies()) == 1 })
	if err := s.p.Close(); err != nil { // waits for every NOTIFY sent
		t.Fatal(err)
	}
	if n := len(mname.notifies()); n != 0 {
		t.Errorf("the SOA MNAME server got %d NOTIFYs", n)
	}
}

// makeZoneNS is example. with two in-zone name servers, the first of which
// the SOA names as the primary.
func makeZoneNS(t testing.TB, s uint32) *zone.Zone {
	t.Helper()
	var rrs []dns.RR
	for _, l := range []string{
		fmt.Sprintf("example. 3600 IN SOA ns-a.example. host.example. %d 3600 600 86400 300", s),
		"example. 3600 IN NS ns-a.example.",
		"example. 3600 IN NS ns-b.example.",
		"ns-a.example. 3600 IN A 127.0.0.2",
		"ns-b.example. 3600 IN A 127.0.0.3",
	} {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	return zone.New(origin, rrs)
}
