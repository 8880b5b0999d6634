package secondary

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func TestAXFRThenIXFR(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1, "www.example.org. 3600 IN A 192.0.2.10"))
	e := newEnv(t, "", nil, Primary{Addr: p.addr})
	e.waitSerial(t, 1)
	if got := p.count(dns.TypeAXFR); got != 1 {
		t.Fatalf("AXFR requests = %d, want 1", got)
	}

	v2 := zoneRRs(t, 2, "www.example.org. 3600 IN A 192.0.2.20", "mail.example.org. 3600 IN A 192.0.2.25")
	p.set(v2)
	e.clock.Advance(100 * time.Second) // REFRESH
	e.waitSerial(t, 2)
	if a, i := p.count(dns.TypeAXFR), p.count(dns.TypeIXFR); a != 1 || i != 1 {
		t.Fatalf("AXFR, IXFR requests = %d, %d, want 1, 1", a, i)
	}
	if got, want := rrStrings(e.m.Current(origin).Records()), rrStrings(v2); !slices.Equal(got, want) {
		t.Fatalf("records after IXFR:\n%q\nwant\n%q", got, want)
	}
	// Counted when the transfer returns, just after the version is published.
	e.waitCounter(t, 1, "meridian_secondary_transfers_total", "kind", "ixfr", "outcome", "ok")
	if e.counter(t, "meridian_secondary_transfer_bytes_total", "kind", "ixfr") <= 0 {
		t.Fatal("no IXFR bytes counted")
	}
	if got := e.counter(t, "meridian_secondary_zone_serial", "zone", origin); got != 2 {
		t.Fatalf("serial gauge = %v", got)
	}
	// The journal holds the applied delta, for a chained secondary.
	d, ok := e.m.Journal(origin).Since(1)
	if !ok || len(d) != 1 || d[0].From() != 1 || d[0].To() != 2 {
		t.Fatalf("journal Since(1) = %v, %v", d, ok)
	}
	eventually(t, time.Second, "SerialChanged 1, 2", func() bool {
		e.sink.mu.Lock()
		defer e.sink.mu.Unlock()
		return slices.Equal(e.sink.serials, []uint32{1, 2})
	})

	// A primary that answers IXFR with a full transfer is accepted too,
	// and the journal still gets the difference.
	p.with(func(p *fakePrimary) { p.noIXFR = true })
	p.set(zoneRRs(t, 3, "www.example.org. 3600 IN A 192.0.2.30"))
	e.m.Refresh(origin)
	e.waitSerial(t, 3)
	if d, ok := e.m.Journal(origin).Since(1); !ok || len(d) != 2 {
		t.Fatalf("journal Since(1) after AXFR-style IXFR = %d deltas, %v", len(d), ok)
	}
}

func TestNotify(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1))
	e := newEnv(t, "", nil, Primary{Addr: p.addr})
	e.waitSerial(t, 1)
	p.set(zoneRRs(t, 2, "new.example.org. 60 IN TXT \"x\""))

	notify := func(name string, from string, key string) *dns.Msg {
		req := new(dns.Msg)
		req.SetNotify(name)
		return e.m.HandleNotify(req, netip.MustParseAddr(from), key)
	}
	for _, c := range []struct {
		name, from string
		rcode      int
	}{
		{"other.org.", "127.0.0.1", dns.RcodeNotAuth},
		{origin, "192.0.2.99", dns.RcodeRefused},
	} {
		if r := notify(c.name, c.from, ""); r.Rcode != c.rcode || !r.Authoritative {
			t.Fatalf("NOTIFY %s from %s: rcode %s AA %t", c.name, c.from, dns.RcodeToString[r.Rcode], r.Authoritative)
		}
	}
	start := time.Now()
	r := notify("Example.ORG.", "::ffff:127.0.0.1", "")
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || r.Question[0].Name != "Example.ORG." {
		t.Fatalf("NOTIFY response %v", r)
	}
	// The fake clock does not move: only the NOTIFY can cause the refresh.
	eventually(t, time.Second, "refresh after NOTIFY", func() bool {
		s, ok := e.sink.serial()
		return ok && s == 2
	})
	t.Logf("refreshed %v after NOTIFY", time.Since(start))
	if got := e.counter(t, "meridian_secondary_notifies_received_total", "outcome", "accepted"); got != 1 {
		t.Fatalf("accepted notifies = %v", got)
	}
}

func TestPrimaryDownExpiresThenConverges(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1))
	e := newEnv(t, "", nil, Primary{Addr: p.addr})
	e.waitSerial(t, 1)
	p.with(func(p *fakePrimary) { p.down = true })

	e.clock.Advance(100 * time.Second) // REFRESH: the check fails
	eventually(t, 5*time.Second, "failed refresh", func() bool {
		return e.counter(t, "meridian_secondary_refreshes_total", "outcome", "failed") >= 1
	})
	e.clock.Advance(850 * time.Second) // 950s after the transfer: still served
	eventually(t, 5*time.Second, "retries", func() bool {
		return e.counter(t, "meridian_secondary_refreshes_total", "outcome", "failed") >= 2
	})
	if err := e.sink.expiredErr(); err != nil {
		t.Fatalf("expired before EXPIRE: %v", err)
	}
	if left := e.counter(t, "meridian_secondary_zone_expiry_seconds", "zone", origin); left != 50 {
		t.Fatalf("expiry gauge = %v, want 50", left)
	}
	e.clock.Advance(50 * time.Second) // EXPIRE (1000s)
	eventually(t, 5*time.Second, "expiry", func() bool { return e.sink.expiredErr() != nil })
	if st := e.m.Status(); len(st) != 1 || !st[0].Expired || !st[0].HasData || st[0].Serial != 1 {
		t.Fatalf("status after expiry: %+v", st)
	}
	if err := e.sink.expiredErr(); !errors.Is(err, ErrExpired) {
		t.Fatalf("expiry error %v", err)
	}

	p.set(zoneRRs(t, 5, "back.example.org. 60 IN A 192.0.2.5")) // before it is up
	p.with(func(p *fakePrimary) { p.down, p.cut = false, false })
	e.clock.Advance(50 * time.Second) // RETRY
	e.waitSerial(t, 5)
}

func TestNextPrimary(t *testing.T) {
	t.Parallel()
	// A closed port: connection refused at once on loopback.
	l := startPrimary(t, nil, zoneRRs(t, 1))
	dead := l.addr
	l.with(func(p *fakePrimary) { p.down = true })
	p := startPrimary(t, nil, zoneRRs(t, 7))
	e := newEnv(t, "", nil, Primary{Addr: dead}, Primary{Addr: p.addr})
	e.waitSerial(t, 7)
}

func TestCutTransferKeepsOld(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1, "a.example.org. 60 IN A 192.0.2.1"))
	e := newEnv(t, "", nil, Primary{Addr: p.addr})
	e.waitSerial(t, 1)
	p.with(func(p *fakePrimary) { p.cut = true })
	p.set(zoneRRs(t, 2, "a.example.org. 60 IN A 192.0.2.2", "b.example.org. 60 IN A 192.0.2.3", "c.example.org. 60 IN A 192.0.2.4"))
	e.m.Refresh(origin)
	eventually(t, 5*time.Second, "failed refresh", func() bool {
		return e.counter(t, "meridian_secondary_refreshes_total", "outcome", "failed") >= 1
	})
	if got := e.counter(t, "meridian_secondary_transfers_total", "kind", "axfr", "outcome", "failed"); got != 1 {
		t.Fatalf("failed AXFR = %v", got)
	}
	if s, _ := e.sink.serial(); s != 1 {
		t.Fatalf("serving %d after a cut transfer", s)
	}
	p.with(func(p *fakePrimary) { p.down, p.cut = false, false })
	e.clock.Advance(50 * time.Second) // RETRY
	e.waitSerial(t, 2)
}

func TestInvalidTransferKeepsOld(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1, "www.example.org. 60 IN A 192.0.2.1"))
	e := newEnv(t, "", nil, Primary{Addr: p.addr})
	e.waitSerial(t, 1)
	p.set(zoneRRs(t, 2, "www.example.org. 60 IN A 192.0.2.1", "www.example.org. 60 IN CNAME ns1.example.org."))
	e.m.Refresh(origin)
	eventually(t, 5*time.Second, "invalid transfers", func() bool {
		return e.counter(t, "meridian_secondary_transfers_total", "outcome", "invalid") >= 2
	})
	if s, _ := e.sink.serial(); s != 1 {
		t.Fatalf("serving %d after an invalid transfer", s)
	}
	z, _, err := newStore(e.dir, origin).load(origin)
	if err != nil || z.Serial() != 1 {
		t.Fatalf("disk copy: %v, %v", z, err)
	}
	// Fixed at the primary: the retry picks it up.
	p.set(zoneRRs(t, 3, "www.example.org. 60 IN CNAME ns1.example.org."))
	e.clock.Advance(50 * time.Second)
	e.waitSerial(t, 3)
}

func TestTSIG(t *testing.T) {
	t.Parallel()
	key := &Key{Name: "xfr-key.", Algorithm: dns.HmacSHA256, Secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="}
	p := startPrimary(t, key, zoneRRs(t, 1))

	good := newEnv(t, "", nil, Primary{Addr: p.addr, Key: key})
	good.waitSerial(t, 1)

	// A NOTIFY must be signed with the primary's key.
	req := new(dns.Msg)
	req.SetNotify(origin)
	if r := good.m.HandleNotify(req, netip.MustParseAddr("127.0.0.1"), ""); r.Rcode != dns.RcodeRefused {
		t.Fatalf("unsigned NOTIFY: %s", dns.RcodeToString[r.Rcode])
	}
	if r := good.m.HandleNotify(req, netip.MustParseAddr("127.0.0.1"), "XFR-key."); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("signed NOTIFY: %s", dns.RcodeToString[r.Rcode])
	}

	for _, k := range []*Key{
		nil,
		{Name: key.Name, Algorithm: key.Algorithm, Secret: "d3Jvbmctd3Jvbmctd3Jvbmctd3JvbmctIQ=="},
	} {
		bad := newEnv(t, "", nil, Primary{Addr: p.addr, Key: k})
		eventually(t, 5*time.Second, "failed refresh", func() bool {
			return bad.counter(t, "meridian_secondary_refreshes_total", "outcome", "failed") >= 1
		})
		if bad.m.Current(origin) != nil {
			t.Fatalf("key %v: transferred without the right key", k)
		}
	}
}

func TestRestartServesDiskCopy(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 4, "www.example.org. 60 IN A 192.0.2.1"))
	dir := t.TempDir()
	first := newEnv(t, dir, nil, Primary{Addr: p.addr})
	first.waitSerial(t, 4)
	if err := first.m.Close(); err != nil {
		t.Fatal(err)
	}
	p.with(func(p *fakePrimary) { p.down = true }) // the primary is gone at restart

	// A SIGKILL in the middle of a write leaves a temporary file.
	junk := filepath.Join(dir, "example.org.zone.tmp-123")
	if err := os.WriteFile(junk, []byte("example.org. 60 IN SOA garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	clock.Advance(900 * time.Second)
	second := newEnv(t, dir, clock, Primary{Addr: p.addr})
	if s, ok := second.sink.serial(); !ok || s != 4 {
		t.Fatalf("after restart serving %d, %v; want the disk copy at once", s, ok)
	}
	if _, err := os.Stat(junk); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}

	// Past EXPIRE (1000s after the transfer), the copy is not served.
	late := newFakeClock()
	late.Advance(1001 * time.Second)
	second.m.Close()
	third := newEnv(t, dir, late, Primary{Addr: p.addr})
	if _, ok := third.sink.serial(); ok {
		t.Fatal("an expired disk copy is served")
	}
	if err := third.sink.expiredErr(); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired copy: %v", err)
	}
	// And it comes back when the primary does.
	p.with(func(p *fakePrimary) { p.down, p.cut = false, false })
	late.Advance(50 * time.Second)
	third.waitSerial(t, 4)
}

func TestTempFileOnlyIsIgnored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "example.org.zone.tmp-9")
	rrs := zoneRRs(t, 9)
	text := metaPrefix + "{\"serial\":9}\n"
	for _, rr := range rrs {
		text += rr.String() + "\n"
	}
	if err := os.WriteFile(junk, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPrimary(t, nil, zoneRRs(t, 1))
	p.with(func(p *fakePrimary) { p.down = true })
	e := newEnv(t, dir, nil, Primary{Addr: p.addr})
	if e.m.Current(origin) != nil {
		t.Fatal("loaded a temporary file")
	}
	if _, err := os.Stat(junk); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
}

// An IXFR that is refused, or that does not apply to what we hold, falls
// back to AXFR (RFC 1995 §4).
func TestIXFRFallback(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		mode func(p *fakePrimary)
	}{
		{"refused", func(p *fakePrimary) { p.refuseIXFR = true }},
		{"mismatch", func(p *fakePrimary) { p.badIXFR = true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := startPrimary(t, nil, zoneRRs(t, 1, "a.example.org. 60 IN A 192.0.2.1"))
			e := newEnv(t, "", nil, Primary{Addr: p.addr})
			e.waitSerial(t, 1)
			p.with(c.mode)
			p.set(zoneRRs(t, 2, "a.example.org. 60 IN A 192.0.2.2"))
			e.m.Refresh(origin)
			e.waitSerial(t, 2)
			if a, i := p.count(dns.TypeAXFR), p.count(dns.TypeIXFR); a != 2 || i != 1 {
				t.Fatalf("AXFR, IXFR requests = %d, %d, want 2, 1", a, i)
			}
			if got := e.counter(t, "meridian_secondary_transfers_total", "kind", "ixfr", "outcome", "failed"); got != 1 {
				t.Fatalf("failed IXFR = %v", got)
			}
			// The journal still gets the difference, computed from the versions.
			if d, ok := e.m.Journal(origin).Since(1); !ok || len(d) != 1 {
				t.Fatalf("journal Since(1) = %d deltas, %v", len(d), ok)
			}
		})
	}
}

// Queries and transfers leave from Options.Source (as BIND's
// transfer-source), here another loopback address.
func TestSourceAddress(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1))
	e := &env{t: t, dir: t.TempDir(), clock: newFakeClock(), sink: newSink(), reg: prometheus.NewRegistry()}
	opts := e.opts()
	opts.Source = netip.MustParseAddr("127.0.0.2")
	m, err := New(context.Background(), opts, []Zone{{Origin: origin, Primaries: []Primary{{Addr: p.addr}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	t.Cleanup(func() { _ = m.Close() })
	e.waitSerial(t, 1)
	p.with(func(p *fakePrimary) {
		if len(p.sources) != 1 || !p.sources[opts.Source] {
			t.Errorf("requests came from %v", p.sources)
		}
	})
}

// A journal that does not end at the stored version (a crash between the
// two writes) is emptied at start: it would lead downstream elsewhere.
func TestJournalMatchesStoredZone(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1))
	dir := t.TempDir()
	e := newEnv(t, dir, nil, Primary{Addr: p.addr})
	e.waitSerial(t, 1)
	p.set(zoneRRs(t, 2, "b.example.org. 60 IN A 192.0.2.2"))
	e.m.Refresh(origin)
	e.waitSerial(t, 2)
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	p.with(func(p *fakePrimary) { p.down = true })

	// Consistent: the journal survives a restart.
	again := newEnv(t, dir, nil, Primary{Addr: p.addr})
	if n := again.m.Journal(origin).Len(); n != 1 {
		t.Fatalf("journal after restart: %d deltas", n)
	}
	again.m.Close()

	// The zone on disk rolled back to serial 1: the journal goes.
	if err := newStore(dir, origin).writeZone(mustZone(t, zoneRRs(t, 1)), time.Now()); err != nil {
		t.Fatal(err)
	}
	third := newEnv(t, dir, nil, Primary{Addr: p.addr})
	if n := third.m.Journal(origin).Len(); n != 0 {
		t.Fatalf("inconsistent journal kept: %d deltas", n)
	}
}

// With NoJournal, nothing is journalled here (server/xfr's Primary keeps
// the journal when the daemon feeds it the versions), and no journal file
// is made.
func TestNoJournal(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1))
	e := &env{t: t, dir: t.TempDir(), clock: newFakeClock(), sink: newSink(), reg: prometheus.NewRegistry()}
	opts := e.opts()
	opts.NoJournal = true
	m, err := New(context.Background(), opts, []Zone{{Origin: origin, Primaries: []Primary{{Addr: p.addr}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	t.Cleanup(func() { _ = m.Close() })
	e.waitSerial(t, 1)
	p.set(zoneRRs(t, 2, "b.example.org. 60 IN A 192.0.2.2"))
	m.Refresh(origin)
	e.waitSerial(t, 2)
	if m.Journal(origin) != nil {
		t.Fatal("journal with NoJournal")
	}
	names, _ := filepath.Glob(filepath.Join(e.dir, "*.jnl"))
	if len(names) != 0 {
		t.Fatalf("journal files: %v", names)
	}
}
