package secondary

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// TestSetPrimaries re-keys a zone in place: the version held stays
// published (never expired, never withdrawn), the new primary is asked at
// once, without waiting for REFRESH, and transferred from with the new
// key, and a NOTIFY must then come signed with it.
func TestSetPrimaries(t *testing.T) {
	t.Parallel()
	oldKey := &Key{Name: "xfr-key.", Algorithm: dns.HmacSHA256, Secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="}
	newKey := &Key{Name: "new-key.", Algorithm: dns.HmacSHA256, Secret: "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXI="}
	before := startPrimary(t, oldKey, zoneRRs(t, 1))
	after := startPrimary(t, newKey, zoneRRs(t, 1))
	after.set(zoneRRs(t, 2))

	e := newEnv(t, "", nil, Primary{Addr: before.addr, Key: oldKey})
	e.waitSerial(t, 1)
	soas := after.count(dns.TypeSOA)

	k := *newKey
	given := []Primary{{Addr: after.addr, Key: &k}}
	if err := e.m.SetPrimaries("EXAMPLE.org", given); err != nil {
		t.Fatal(err)
	}
	k.Secret = "Y2hhbmdlZCBieSB0aGUgY2FsbGVyIGFmdGVyd2FyZHM=" // the Manager keeps a copy
	if z := e.m.Current(origin); z == nil || z.Serial() != 1 {
		t.Fatalf("right after SetPrimaries: %v, want serial 1 still held", z)
	}
	e.waitSerial(t, 2) // the fake clock stands still: only the re-key explains it
	if err := e.sink.expiredErr(); err != nil {
		t.Errorf("the zone was reported expired: %v", err)
	}
	if after.count(dns.TypeSOA) <= soas {
		t.Error("the new primary was not asked for its SOA")
	}

	req := new(dns.Msg)
	req.SetNotify(origin)
	from := netip.MustParseAddr("127.0.0.1")
	if r := e.m.HandleNotify(req, from, "xfr-key."); r.Rcode != dns.RcodeRefused {
		t.Errorf("NOTIFY signed with the old key: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	if r := e.m.HandleNotify(req, from, "new-key."); r.Rcode != dns.RcodeSuccess {
		t.Errorf("NOTIFY signed with the new key: %s", dns.RcodeToString[r.Rcode])
	}

	for _, c := range []struct {
		name      string
		origin    string
		primaries []Primary
	}{
		{"unknown zone", "other.example.", given},
		{"no primaries", origin, nil},
	} {
		if err := e.m.SetPrimaries(c.origin, c.primaries); err == nil {
			t.Errorf("%s: SetPrimaries succeeded", c.name)
		}
	}
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.m.SetPrimaries(origin, given); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}
