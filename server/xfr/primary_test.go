package xfr_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/server/xfr"
)

// TestJournalSurvivesRestart: a primary restarted on the same data
// directory serves IXFR for a serial older than the one it loads.
func TestJournalSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := xfr.NewPrimary(xfr.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddZone(origin, xfr.ZoneConfig{ACL: allowLoopback}); err != nil {
		t.Fatal(err)
	}
	p.Update(makeZone(t, 1, 10))
	if err := p.Update(makeZone(t, 2, 10, "new.example. 3600 IN A 192.0.2.99")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	z2 := makeZone(t, 2, 10, "new.example. 3600 IN A 192.0.2.99")
	s := newSetup(t, xfr.Options{DataDir: dir}, xfr.ZoneConfig{ACL: allowLoopback}, z2)
	rrs, _, err := transferIn(t, s.tcp, ixfrQuery(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rrs) != 5 { // SOA2, SOA1, SOA2, the added A, SOA2
		t.Errorf("IXFR after restart: %d records, want 5: %v", len(rrs), rrs)
	}

	// The same serial with other content breaks the history: full answer.
	s.update(t, makeZone(t, 2, 10, "other.example. 3600 IN A 192.0.2.98"))
	rrs, _, err = transferIn(t, s.tcp, ixfrQuery(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := z2.Len() + 1; len(rrs) != want {
		t.Errorf("IXFR after a same-serial change: %d records, want the whole zone, %d", len(rrs), want)
	}
}

// TestLag: the primary reports how far behind a secondary is from its IXFR
// request, in serials and in seconds since the version it lacks appeared.
func TestLag(t *testing.T) {
	t.Parallel()
	var now atomic.Int64 // seconds
	now.Store(1_000_000)
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	s := newSetup(t, xfr.Options{Now: clock}, xfr.ZoneConfig{ACL: allowLoopback}, makeZone(t, 10, 10))
	lag := func(name string) float64 {
		return counter(t, s.reg, name, map[string]string{"secondary": "127.0.0.1", "zone": origin})
	}
	if _, _, err := transferIn(t, s.tcp, ixfrQuery(10), nil); err != nil {
		t.Fatal(err)
	}
	if l := lag("meridian_xfr_secondary_lag_serials"); l != 0 {
		t.Errorf("lag of an up-to-date secondary = %v", l)
	}
	// Serial 13 is published; the secondary still asks from 10.
	s.p.Update(makeZone(t, 13, 10, "new.example. 3600 IN A 192.0.2.99"))
	if _, _, err := transferIn(t, s.tcp, ixfrQuery(10), nil); err != nil {
		t.Fatal(err)
	}
	if l := lag("meridian_xfr_secondary_lag_serials"); l != 3 {
		t.Errorf("lag in serials = %v, want 3", l)
	}
	now.Add(30) // the lag in seconds is computed when scraped
	if l := lag("meridian_xfr_secondary_lag_seconds"); l != 30 {
		t.Errorf("lag in seconds = %v, want 30", l)
	}
	// After a full transfer the secondary holds the current serial.
	if _, _, err := transferIn(t, s.tcp, axfrQuery(), nil); err != nil {
		t.Fatal(err)
	}
	if l := lag("meridian_xfr_secondary_lag_seconds"); l != 0 {
		t.Errorf("lag in seconds after AXFR = %v, want 0", l)
	}
}
