package xfr_test

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/server/xfr"
)

// newKey is a second key, the one rotated to.
var newKey = xfr.Key{Name: "new-key.", Algorithm: "hmac-sha512", Secret: "bmV3LW5ldy1uZXctbmV3LW5ldy1uZXctbmV3LW5ldy0xMjM0NTY3OA=="}

// outcome is what a signed or unsigned AXFR got: "zone" (every record),
// or the rcode and, for a TSIG failure, the TSIG error ("NOTAUTH/BADKEY").
func outcome(t *testing.T, s *setup, key *xfr.Key, want int) string {
	t.Helper()
	if key == nil {
		r, _, err := (&dns.Client{Net: "tcp"}).Exchange(axfrQuery(), s.tcp)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			return "zone"
		}
		return dns.RcodeToString[r.Rcode]
	}
	r := rawTCP(t, s.tcp, signed(t, axfrQuery(), *key, time.Now()))
	if r.Rcode == dns.RcodeSuccess {
		// The first message only: a complete, verified transfer is
		// checked with transferIn.
		if rrs, _, err := transferIn(t, s.tcp, axfrQuery(), key); err != nil || len(rrs) != want {
			return fmt.Sprintf("partial (%d records, %v)", len(rrs), err)
		}
		return "zone"
	}
	if len(r.Answer) > 0 {
		return "records with " + dns.RcodeToString[r.Rcode]
	}
	if ts := r.IsTsig(); ts != nil && ts.Error != 0 {
		return dns.RcodeToString[r.Rcode] + "/" + dns.RcodeToString[int(ts.Error)]
	}
	return dns.RcodeToString[r.Rcode]
}

// TestSetKeys rotates the keys of a running Primary: each step's keys and
// ACL apply to the next request, and an invalid set changes nothing.
func TestSetKeys(t *testing.T) {
	t.Parallel()
	z := makeZone(t, 1, 5)
	want := z.Len() + 1
	s := newSetup(t, xfr.Options{Keys: []xfr.Key{testKey}}, xfr.ZoneConfig{ACL: xfr.ACL{Keys: []string{"xfr."}}}, z)
	provider := s.p.TsigProvider()
	reseeded := xfr.Key{Name: testKey.Name, Algorithm: testKey.Algorithm, Secret: wrongKey.Secret}
	type check struct {
		key  *xfr.Key
		want string
	}
	for _, step := range []struct {
		name   string
		keys   []xfr.Key // nil: no SetKeys
		acl    []string  // nil: no SetZoneConfig
		err    bool      // SetKeys fails
		checks []check
	}{
		{name: "start", checks: []check{{&testKey, "zone"}, {&newKey, "NOTAUTH/BADKEY"}, {nil, "REFUSED"}}},
		{name: "both keys, old ACL", keys: []xfr.Key{newKey, testKey},
			checks: []check{{&testKey, "zone"}, {&newKey, "REFUSED"}}},
		{name: "both keys, new ACL", acl: []string{"new-key"},
			checks: []check{{&testKey, "REFUSED"}, {&newKey, "zone"}}},
		{name: "new key alone", keys: []xfr.Key{newKey},
			checks: []check{{&testKey, "NOTAUTH/BADKEY"}, {&newKey, "zone"}}},
		{name: "invalid: duplicate", keys: []xfr.Key{testKey, testKey}, err: true,
			checks: []check{{&testKey, "NOTAUTH/BADKEY"}, {&newKey, "zone"}}},
		{name: "invalid: algorithm", keys: []xfr.Key{{Name: "x.", Algorithm: "hmac-md5", Secret: testKey.Secret}}, err: true,
			checks: []check{{&newKey, "zone"}}},
		{name: "same name, new secret", keys: []xfr.Key{reseeded}, acl: []string{"xfr."},
			checks: []check{{&testKey, "NOTAUTH/BADSIG"}, {&reseeded, "zone"}, {&newKey, "NOTAUTH/BADKEY"}}},
		{name: "no keys", keys: []xfr.Key{},
			checks: []check{{&reseeded, "NOTAUTH/BADKEY"}, {nil, "REFUSED"}}},
	} {
		if step.keys != nil {
			if err := s.p.SetKeys(step.keys); (err != nil) != step.err {
				t.Fatalf("%s: SetKeys: %v, want error %v", step.name, err, step.err)
			}
		}
		if step.acl != nil {
			if err := s.p.SetZoneConfig(origin, xfr.ZoneConfig{ACL: xfr.ACL{Keys: step.acl}}); err != nil {
				t.Fatalf("%s: SetZoneConfig: %v", step.name, err)
			}
		}
		for _, c := range step.checks {
			name := "unsigned"
			if c.key != nil {
				name = c.key.Name + " " + c.key.Secret[:4]
			}
			if got := outcome(t, s, c.key, want); got != c.want {
				t.Errorf("%s: AXFR %s: %s, want %s", step.name, name, got, c.want)
			}
		}
		if s.p.TsigProvider() != provider {
			t.Fatalf("%s: TsigProvider changed; the server holds the first one", step.name)
		}
	}
}

// TestSignedWithoutKeys: a Primary without keys has a TSIG provider all
// the same, so that the server verifies signed requests, and answers
// NOTAUTH with BADKEY (RFC 8945 §5.2.1) to a request signed with a key it
// does not know, even from an address its ACL lets in: the zone is never
// sent on an unverified signature. The same after SetKeys removes the
// last key.
func TestSignedWithoutKeys(t *testing.T) {
	t.Parallel()
	z := makeZone(t, 1, 5)
	cfg := xfr.ZoneConfig{ACL: xfr.ACL{Prefixes: allowLoopback.Prefixes}}
	for _, c := range []struct {
		name  string
		opts  xfr.Options
		clear bool // SetKeys(nil) after start
	}{
		{name: "never had keys"},
		{name: "keys removed", opts: xfr.Options{Keys: []xfr.Key{testKey}}, clear: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, c.opts, cfg, z)
			if c.clear {
				if err := s.p.SetKeys(nil); err != nil {
					t.Fatal(err)
				}
			}
			if s.p.TsigProvider() == nil {
				t.Fatal("TsigProvider is nil: the server would verify nothing")
			}
			for _, k := range []xfr.Key{testKey, {Name: "nobody.", Algorithm: "hmac-sha256", Secret: testKey.Secret}} {
				for _, q := range []*dns.Msg{axfrQuery(), ixfrQuery(0)} {
					r := rawTCP(t, s.tcp, signed(t, q, k, time.Now()))
					ts := r.IsTsig()
					if r.Rcode != dns.RcodeNotAuth || ts == nil || ts.Error != dns.RcodeBadKey || len(r.Answer) != 0 {
						t.Errorf("%s signed with %s: %s, %d records, TSIG %v; want NOTAUTH, BADKEY, nothing",
							dns.TypeToString[q.Question[0].Qtype], k.Name, dns.RcodeToString[r.Rcode], len(r.Answer), ts)
					}
				}
			}
			// Unsigned, the ACL lets the loopback in.
			if got := outcome(t, s, nil, 0); got != "zone" {
				t.Errorf("unsigned AXFR: %s", got)
			}
		})
	}
}

// TestSetZoneConfig widens and narrows a zone's ACL, and checks the key
// names a config gives.
func TestSetZoneConfig(t *testing.T) {
	t.Parallel()
	z := makeZone(t, 1, 5)
	want := z.Len() + 1
	s := newSetup(t, xfr.Options{Keys: []xfr.Key{testKey}}, xfr.ZoneConfig{}, z)
	for _, c := range []struct {
		name           string
		acl            xfr.ACL
		unsigned, sign string
	}{
		{"zero ACL", xfr.ACL{}, "REFUSED", "REFUSED"},
		{"widened to the loopback", allowLoopback, "zone", "zone"},
		{"narrowed to the key", xfr.ACL{Keys: []string{"XFR"}}, "REFUSED", "zone"},
		{"narrowed to another network", xfr.ACL{Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, "REFUSED", "REFUSED"},
	} {
		if err := s.p.SetZoneConfig("EXAMPLE", xfr.ZoneConfig{ACL: c.acl}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := outcome(t, s, nil, want); got != c.unsigned {
			t.Errorf("%s: unsigned AXFR: %s, want %s", c.name, got, c.unsigned)
		}
		if got := outcome(t, s, &testKey, want); got != c.sign {
			t.Errorf("%s: signed AXFR: %s, want %s", c.name, got, c.sign)
		}
	}
	for _, bad := range []xfr.ZoneConfig{
		{ACL: xfr.ACL{Prefixes: allowLoopback.Prefixes, Keys: []string{"nobody."}}},
		{ACL: allowLoopback, Notify: []xfr.Target{{Addr: netip.MustParseAddrPort("127.0.0.1:53"), Key: "nobody."}}},
	} {
		if err := s.p.SetZoneConfig(origin, bad); err == nil {
			t.Errorf("SetZoneConfig with an unknown key succeeded: %+v", bad)
		}
	}
	if got := outcome(t, s, nil, want); got != "REFUSED" {
		t.Errorf("after refused configs: unsigned AXFR %s, want the last good config's REFUSED", got)
	}
	if err := s.p.SetZoneConfig("other.", xfr.ZoneConfig{ACL: allowLoopback}); err == nil {
		t.Error("SetZoneConfig of a zone never added succeeded")
	}
}

// TestServedNotFed: with Options.Served, a transfer of a zone the server
// serves but the Primary does not feed is REFUSED; of a zone not served,
// NOTAUTH.
func TestServedNotFed(t *testing.T) {
	t.Parallel()
	opts := xfr.Options{Served: func(o string) bool { return dns.CanonicalName(o) == "served." }}
	s := newSetup(t, opts, xfr.ZoneConfig{ACL: allowLoopback}, makeZone(t, 1, 5))
	for name, want := range map[string]int{"served.": dns.RcodeRefused, "other.": dns.RcodeNotAuth} {
		q := new(dns.Msg)
		q.SetAxfr(name)
		r, _, err := (&dns.Client{Net: "tcp"}).Exchange(q, s.tcp)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != want {
			t.Errorf("AXFR %s: %s, want %s", name, dns.RcodeToString[r.Rcode], dns.RcodeToString[want])
		}
	}
}

// TestSetZoneConfigNotify: the NOTIFYs of the next serial go to the
// targets SetZoneConfig gave, signed with the key as SetKeys left it.
func TestSetZoneConfigNotify(t *testing.T) {
	t.Parallel()
	reseeded := xfr.Key{Name: testKey.Name, Algorithm: testKey.Algorithm, Secret: wrongKey.Secret}
	first := newFakeSecondary(t, 0, &testKey)
	second := newFakeSecondary(t, 0, &reseeded) // verifies with the new secret only
	opts := notifyOptions()
	opts.Keys = []xfr.Key{testKey}
	s := newSetup(t, opts, xfr.ZoneConfig{Notify: []xfr.Target{{Addr: first.addr, Key: "xfr."}}}, makeZone(t, 1, 5))
	eventually(t, "NOTIFY of serial 1 to the first target", func() bool { return len(first.notifies()) == 1 })

	if err := s.p.SetKeys([]xfr.Key{reseeded}); err != nil {
		t.Fatal(err)
	}
	if err := s.p.SetZoneConfig(origin, xfr.ZoneConfig{Notify: []xfr.Target{{Addr: second.addr, Key: "xfr."}}}); err != nil {
		t.Fatal(err)
	}
	s.update(t, makeZone(t, 2, 5))
	eventually(t, "NOTIFY of serial 2 to the second target", func() bool { return len(second.notifies()) >= 1 })
	if got := second.notifies()[0]; got.serial != 2 || !got.signed {
		t.Errorf("NOTIFY to the new target: %+v, want serial 2 signed with the new secret", got)
	}
	if err := s.p.Close(); err != nil { // waits for the NOTIFYs in flight
		t.Fatal(err)
	}
	if n := len(first.notifies()); n != 1 {
		t.Errorf("the removed target got %d NOTIFYs, want only the first", n)
	}
}

// TestReconfigureUnderTransfers swaps keys and zone configs while signed
// and unsigned transfers run (run it with -race): every transfer either
// gets the whole zone, every message verified, or is refused; and a
// signed transfer under way when its key is removed finishes, signed with
// the key it started with.
func TestReconfigureUnderTransfers(t *testing.T) {
	t.Parallel()
	z := makeZone(t, 1, 20000) // more than the socket buffers hold
	want := z.Len() + 1
	acl := xfr.ACL{Prefixes: allowLoopback.Prefixes, Keys: []string{"xfr."}}
	s := newSetup(t, xfr.Options{Keys: []xfr.Key{testKey}}, xfr.ZoneConfig{ACL: acl}, z)

	// A signed transfer whose key goes away after its first message.
	q := axfrQuery()
	q.SetTsig(testKey.Name, dns.HmacSHA256, 300, time.Now().Unix())
	tr := &dns.Transfer{ReadTimeout: 10 * time.Second, TsigSecret: map[string]string{testKey.Name: testKey.Secret}}
	ch, err := tr.In(q, s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	env := <-ch
	n, errIn := len(env.RR), env.Error
	if err := s.p.SetKeys(nil); err != nil {
		t.Fatal(err)
	}
	for env := range ch { // drained to the end, error or not
		if env.Error != nil && errIn == nil {
			errIn = env.Error
		}
		n += len(env.RR)
	}
	if errIn != nil || n != want {
		t.Errorf("signed transfer across SetKeys: %d records of %d, %v", n, want, errIn)
	}
	if err := s.p.SetKeys([]xfr.Key{testKey}); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		configs := []xfr.ZoneConfig{{ACL: acl}, {}, {ACL: allowLoopback}}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			keys := []xfr.Key{testKey}
			if i%2 == 1 {
				keys = append(keys, newKey)
			}
			if err := s.p.SetKeys(keys); err != nil {
				t.Error(err)
				return
			}
			if err := s.p.SetZoneConfig(origin, configs[i%len(configs)]); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var transfers sync.WaitGroup
	for _, key := range []*xfr.Key{nil, &testKey, nil, &testKey} {
		transfers.Go(func() {
			for range 5 {
				rrs, _, err := transferIn(t, s.tcp, axfrQuery(), key)
				if err == nil && len(rrs) != want {
					t.Errorf("a transfer (key %v) ended with %d records of %d", key != nil, len(rrs), want)
				}
			}
		})
	}
	transfers.Wait()
	close(stop)
	wg.Wait()
}
