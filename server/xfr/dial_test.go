package xfr_test

import (
	"net/netip"
	"testing"

	"github.com/meridian-dns/meridian/server/dial/dialtest"
	"github.com/meridian-dns/meridian/server/xfr"
)

// TestNotifyThroughDialer: with Options.Dialer every NOTIFY, retries
// included, goes out on a socket it opened, from NotifySource, and TSIG
// still signs and verifies over it.
func TestNotifyThroughDialer(t *testing.T) {
	t.Parallel()
	sec := newFakeSecondary(t, 1, &testKey) // refuses the first
	d := &dialtest.Recorder{}
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
	want := dialtest.Call{Network: "udp", Local: netip.MustParseAddrPort("127.0.0.2:0"), Remote: sec.addr}
	if got := d.Calls(); len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("dialed %+v, want twice %+v", got, want)
	}
	got := sec.notifies()
	if len(got) != 2 || !got[1].signed || got[1].from != opts.NotifySource {
		t.Errorf("secondary got %+v, want 2 NOTIFYs, the last signed, from %v", got, opts.NotifySource)
	}
}
