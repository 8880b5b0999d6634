package server

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/server/xfr"
)

// notifyRecorder is a Notify hook that records what it was given.
type notifyRecorder struct {
	mu  sync.Mutex
	got []notified
}

type notified struct {
	zone string
	from netip.Addr
	key  string
}

func (n *notifyRecorder) hook(req *dns.Msg, from netip.Addr, key string) *dns.Msg {
	n.mu.Lock()
	n.got = append(n.got, notified{req.Question[0].Name, from, key})
	n.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	return m
}

func (n *notifyRecorder) calls() []notified {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]notified(nil), n.got...)
}

const (
	notifyKeyName = "notify-key."
	notifySecret  = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="
	otherSecret   = "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXI="
)

func notifyMsg(zone string) *dns.Msg {
	m := new(dns.Msg)
	m.SetNotify(zone)
	return m
}

// TestNotifyRouted checks that NOTIFY reaches Options.Notify over UDP and
// TCP, with the verified key's name, that a NOTIFY with a bad TSIG is
// answered NOTAUTH without reaching it, and that the answer to a signed
// NOTIFY is signed.
func TestNotifyRouted(t *testing.T) {
	t.Parallel()
	keys := []xfr.Key{{Name: notifyKeyName, Algorithm: dns.HmacSHA256, Secret: notifySecret}}
	p, err := xfr.NewPrimary(xfr.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	rec := &notifyRecorder{}
	_, addr := startServer(t, Options{Transfers: p, Notify: rec.hook})
	loop := netip.MustParseAddr("127.0.0.1")

	for _, network := range []string{"udp", "tcp"} {
		// Unsigned.
		r, _ := roundTrip(t, network, addr, notifyMsg("example."))
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || r.Opcode != dns.OpcodeNotify {
			t.Errorf("%s unsigned: rcode %s AA %v opcode %d", network, dns.RcodeToString[r.Rcode], r.Authoritative, r.Opcode)
		}

		// Signed with the right key: passed on with its name, answer signed.
		c := &dns.Client{Net: network, Timeout: 5 * time.Second,
			TsigSecret: map[string]string{notifyKeyName: notifySecret}}
		m := notifyMsg("example.")
		m.SetTsig(notifyKeyName, dns.HmacSHA256, 300, time.Now().Unix())
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s signed: %v", network, err)
		}
		if r.Rcode != dns.RcodeSuccess || r.IsTsig() == nil {
			t.Errorf("%s signed: rcode %s, TSIG %v", network, dns.RcodeToString[r.Rcode], r.IsTsig())
		}

		// Signed with a wrong secret: NOTAUTH, BADSIG, hook not called.
		bad := &dns.Client{Net: network, Timeout: 5 * time.Second,
			TsigSecret: map[string]string{notifyKeyName: otherSecret}}
		m = notifyMsg("example.")
		m.SetTsig(notifyKeyName, dns.HmacSHA256, 300, time.Now().Unix())
		r, _, _ = bad.Exchange(m, addr) // the unsigned error does not verify
		if r == nil || r.Rcode != dns.RcodeNotAuth || r.IsTsig() == nil || r.IsTsig().Error != dns.RcodeBadSig {
			t.Errorf("%s bad secret: got %v", network, r)
		}

		// Signed with an unknown key: BADKEY.
		m = notifyMsg("example.")
		m.SetTsig("unknown.", dns.HmacSHA256, 300, time.Now().Unix())
		unk := &dns.Client{Net: network, Timeout: 5 * time.Second,
			TsigSecret: map[string]string{"unknown.": notifySecret}}
		r, _, _ = unk.Exchange(m, addr)
		if r == nil || r.Rcode != dns.RcodeNotAuth || r.IsTsig() == nil || r.IsTsig().Error != dns.RcodeBadKey {
			t.Errorf("%s unknown key: got %v", network, r)
		}
	}
	want := []notified{
		{"example.", loop, ""}, {"example.", loop, notifyKeyName},
		{"example.", loop, ""}, {"example.", loop, notifyKeyName},
	}
	got := rec.calls()
	if len(got) != len(want) {
		t.Fatalf("hook calls %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// TestNotifySignedWithoutKeys: with no key store, a signed NOTIFY cannot be
// verified and must not reach the hook as if its key were known.
func TestNotifySignedWithoutKeys(t *testing.T) {
	t.Parallel()
	rec := &notifyRecorder{}
	s, _ := newTestServer(t, Options{Notify: rec.hook})
	h := s.Handler()
	m := notifyMsg("example.")
	m.SetTsig(notifyKeyName, dns.HmacSHA256, 300, time.Now().Unix())
	r, _ := serve(t, h, m, true)
	if r == nil || r.Rcode != dns.RcodeNotAuth {
		t.Errorf("got %v, want NOTAUTH", r)
	}
	if len(rec.calls()) != 0 {
		t.Errorf("hook called: %v", rec.calls())
	}
	// Unsigned, it reaches the hook.
	if r, _ := serve(t, h, notifyMsg("example."), false); r.Rcode != dns.RcodeSuccess || len(rec.calls()) != 1 {
		t.Errorf("unsigned: %v, calls %v", r, rec.calls())
	}
}

// TestSignedQuery: a query signed with a known key gets a signed answer
// (RFC 8945 §5.3), which the client verifies; BIND as a secondary signs its
// SOA checks and refuses an unsigned answer. A wrong secret gets NOTAUTH
// with BADSIG instead of the answer.
func TestSignedQuery(t *testing.T) {
	t.Parallel()
	keys := []xfr.Key{{Name: notifyKeyName, Algorithm: dns.HmacSHA256, Secret: notifySecret}}
	p, err := xfr.NewPrimary(xfr.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	_, addr := startServer(t, Options{Transfers: p})
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range []struct {
			secret string
			rcode  int
			tsig   uint16
		}{{notifySecret, dns.RcodeSuccess, dns.RcodeSuccess}, {otherSecret, dns.RcodeNotAuth, dns.RcodeBadSig}} {
			c := &dns.Client{Net: network, Timeout: 5 * time.Second, TsigSecret: map[string]string{notifyKeyName: tc.secret}}
			m := new(dns.Msg)
			m.SetQuestion("example.", dns.TypeSOA)
			m.SetTsig(notifyKeyName, dns.HmacSHA256, 300, time.Now().Unix())
			r, _, err := c.Exchange(m, addr) // verifies the answer's signature
			if tc.rcode == dns.RcodeSuccess && err != nil {
				t.Fatalf("%s signed SOA: %v", network, err)
			}
			if r == nil || r.Rcode != tc.rcode || r.IsTsig() == nil || r.IsTsig().Error != tc.tsig {
				t.Errorf("%s secret %q: got %v", network, tc.secret, r)
				continue
			}
			if tc.rcode == dns.RcodeSuccess && (len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA) {
				t.Errorf("%s signed SOA answer: %v", network, r.Answer)
			}
		}
	}
}
