package xfr_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/server/xfr"
	"github.com/meridian-dns/meridian/zone"
)

func TestAXFRLargeZone(t *testing.T) {
	t.Parallel()
	z := makeZone(t, 1, 1500)
	s := newSetup(t, xfr.Options{}, xfr.ZoneConfig{ACL: allowLoopback}, z)
	rrs, msgs, err := transferIn(t, s.tcp, axfrQuery(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if msgs < 2 {
		t.Errorf("AXFR came in %d message(s), want several", msgs)
	}
	if want := z.Len() + 1; len(rrs) != want { // the SOA first and last
		t.Errorf("AXFR gave %d records, want %d", len(rrs), want)
	}
	if rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
		t.Error("AXFR does not start and end with the SOA")
	}
	// The client can have the last message before the server has counted
	// the transfer: wait for the count.
	eventually(t, "the transfer counted, with its bytes", func() bool {
		return counter(t, s.reg, "meridian_xfr_transfers_out_total", map[string]string{"kind": "axfr", "outcome": "success"}) == 1 &&
			counter(t, s.reg, "meridian_xfr_transfer_out_bytes_total", map[string]string{"kind": "axfr"}) >= 64<<10
	})
}

// TestAXFRPeers transfers with the dig and kdig installed, if any, plain
// and signed: other clients than miekg's check our framing, compression
// and multi-message TSIG.
func TestAXFRPeers(t *testing.T) {
	t.Parallel()
	z := makeZone(t, 1, 1500)
	opts := xfr.Options{Keys: []xfr.Key{testKey}}
	s := newSetup(t, opts, xfr.ZoneConfig{ACL: xfr.ACL{Prefixes: allowLoopback.Prefixes[:1], Keys: []string{"xfr."}}}, z)
	host, port, _ := net.SplitHostPort(s.tcp)
	for _, tool := range []string{"dig", "kdig"} {
		for _, tsig := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/tsig=%v", tool, tsig), func(t *testing.T) {
				path, err := exec.LookPath(tool)
				if err != nil {
					if os.Getenv("MERIDIAN_REQUIRE_PEERS") == "1" {
						t.Fatalf("%s not installed", tool)
					}
					t.Skipf("%s not installed (set MERIDIAN_REQUIRE_PEERS=1 to require it)", tool)
				}
				args := []string{"@" + host, "-p", port, "+nocomments", "+nostats", "+noquestion"}
				if tsig {
					args = append(args, "-y", "hmac-sha256:xfr.:"+testKey.Secret)
				}
				out, err := exec.Command(path, append(args, "AXFR", origin)...).CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v\n%s", tool, err, out)
				}
				n := 0
				for l := range strings.Lines(string(out)) {
					l = strings.TrimSpace(l)
					if l != "" && !strings.HasPrefix(l, ";") && !strings.Contains(l, "TSIG") {
						n++
					}
					if strings.Contains(l, "fail") || strings.Contains(l, "BADSIG") || strings.Contains(l, "verify") || strings.Contains(l, "WARNING") {
						t.Errorf("%s: %s", tool, l)
					}
				}
				if want := z.Len() + 1; n != want {
					t.Errorf("%s printed %d records, want %d:\n%s", tool, n, want, out[:min(len(out), 2000)])
				}
			})
		}
	}
}

func TestIXFR(t *testing.T) {
	t.Parallel()
	z1 := makeZone(t, 1, 1500)
	s := newSetup(t, xfr.Options{}, xfr.ZoneConfig{ACL: allowLoopback}, z1)
	// Version 2 changes one address and adds one name.
	z2 := makeZone(t, 2, 1500, "new.example. 3600 IN A 192.0.2.99")
	z2 = replaceRR(t, z2, "host00007.example. 3600 IN A 198.51.0.7", "host00007.example. 3600 IN A 203.0.113.7")
	s.update(t, z2)

	cases := []struct {
		name   string
		serial uint32
		want   int // records
	}{
		// SOA2, SOA1, deleted A, SOA2, added A and new A, SOA2.
		{"difference", 1, 7},
		{"up to date", 2, 1},
		{"ahead", 3, 1},
		{"not in journal", 0, z2.Len() + 1},
	}
	for _, c := range cases {
		rrs, _, err := transferIn(t, s.tcp, ixfrQuery(c.serial), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(rrs) != c.want {
			t.Errorf("%s: IXFR from %d gave %d records, want %d", c.name, c.serial, len(rrs), c.want)
		}
		if soa, ok := rrs[0].(*dns.SOA); !ok || soa.Serial != 2 {
			t.Errorf("%s: first record %v, want the SOA of serial 2", c.name, rrs[0])
		}
	}

	// Over UDP, the SOA only, prompting TCP (RFC 1995 §2).
	r, _, err := (&dns.Client{Net: "udp"}).Exchange(ixfrQuery(1), s.udp)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA || r.Rcode != dns.RcodeSuccess {
		t.Errorf("IXFR over UDP: %v", r)
	}
}

// replaceRR returns z with the record old replaced by repl.
func replaceRR(t *testing.T, z *zone.Zone, old, repl string) *zone.Zone {
	t.Helper()
	o, _ := dns.NewRR(old)
	n, _ := dns.NewRR(repl)
	var rrs []dns.RR
	for _, rr := range z.Records() {
		if dns.IsDuplicate(rr, o) {
			rr = n
		}
		rrs = append(rrs, rr)
	}
	return zone.New(origin, rrs)
}

func TestACL(t *testing.T) {
	t.Parallel()
	z := makeZone(t, 1, 10)
	for _, c := range []struct {
		name  string
		acl   xfr.ACL
		rcode int
	}{
		{"default refuses", xfr.ACL{}, dns.RcodeRefused},
		{"other network", xfr.ACL{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, dns.RcodeRefused},
		{"loopback", allowLoopback, dns.RcodeSuccess},
	} {
		s := newSetup(t, xfr.Options{}, xfr.ZoneConfig{ACL: c.acl}, z)
		for _, q := range []*dns.Msg{axfrQuery(), ixfrQuery(0)} {
			r, _, err := (&dns.Client{Net: "tcp"}).Exchange(q, s.tcp)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if r.Rcode != c.rcode {
				t.Errorf("%s: %s answered %s, want %s", c.name, dns.TypeToString[q.Question[0].Qtype], dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
			}
		}
	}
	// A zone we do not serve: NOTAUTH (RFC 5936 §2.2.1).
	s := newSetup(t, xfr.Options{}, xfr.ZoneConfig{ACL: allowLoopback}, z)
	q := new(dns.Msg)
	q.SetAxfr("other.")
	r, _, err := (&dns.Client{Net: "tcp"}).Exchange(q, s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeNotAuth && r.Rcode != dns.RcodeRefused {
		t.Errorf("AXFR of a zone not served: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestTSIG(t *testing.T) {
	t.Parallel()
	z := makeZone(t, 1, 1500)
	opts := xfr.Options{Keys: []xfr.Key{testKey, {Name: "other.", Algorithm: "hmac-sha512", Secret: testKey.Secret}}}
	s := newSetup(t, opts, xfr.ZoneConfig{ACL: xfr.ACL{Keys: []string{"xfr"}}}, z)

	// No key: refused.
	r, _, err := (&dns.Client{Net: "tcp"}).Exchange(axfrQuery(), s.tcp)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("unsigned AXFR: %v, %v; want REFUSED", r, err)
	}
	// A known key that the ACL does not list: refused.
	if _, _, err := transferIn(t, s.tcp, axfrQuery(), &xfr.Key{Name: "other.", Algorithm: "hmac-sha512", Secret: testKey.Secret}); err == nil {
		t.Error("AXFR signed with a key not in the ACL succeeded")
	}

	now := time.Now()
	for _, c := range []struct {
		name  string
		key   xfr.Key
		at    time.Time
		error uint16
	}{
		{"wrong secret", wrongKey, now, dns.RcodeBadSig},
		{"unknown key", xfr.Key{Name: "nobody.", Algorithm: "hmac-sha256", Secret: testKey.Secret}, now, dns.RcodeBadKey},
		{"wrong algorithm", xfr.Key{Name: "xfr.", Algorithm: "hmac-sha512", Secret: testKey.Secret}, now, dns.RcodeBadKey},
		{"old signature", testKey, now.Add(-time.Hour), dns.RcodeBadTime},
	} {
		r := rawTCP(t, s.tcp, signed(t, axfrQuery(), c.key, c.at))
		ts := r.IsTsig()
		if r.Rcode != dns.RcodeNotAuth || ts == nil || ts.Error != c.error {
			t.Errorf("%s: answered %s with TSIG %v, want NOTAUTH and %s", c.name, dns.RcodeToString[r.Rcode], ts, dns.RcodeToString[int(c.error)])
			continue
		}
		if c.error == dns.RcodeBadTime {
			// RFC 8945 §5.2.3: signed, our time in Other Data.
			if ts.MAC == "" || ts.OtherLen != 6 {
				t.Errorf("%s: BADTIME answer unsigned or without our time: %v", c.name, ts)
			}
		} else if ts.MAC != "" {
			t.Errorf("%s: %s answer is signed: %v", c.name, dns.RcodeToString[int(c.error)], ts)
		}
	}

	// The right key: the whole zone, every message signed (miekg's
	// client verifies each and fails on an unsigned one).
	rrs, msgs, err := transferIn(t, s.tcp, axfrQuery(), &testKey)
	if err != nil {
		t.Fatalf("signed AXFR: %v", err)
	}
	if len(rrs) != z.Len()+1 || msgs < 2 {
		t.Errorf("signed AXFR: %d records in %d messages, want %d in several", len(rrs), msgs, z.Len()+1)
	}
	rrs, _, err = transferIn(t, s.tcp, ixfrQuery(1), &testKey)
	if err != nil || len(rrs) != 1 {
		t.Errorf("signed IXFR up to date: %d records, %v", len(rrs), err)
	}

	// A primary without keys answers any signed request BADKEY, even from
	// an address its ACL allows: the signature cannot be checked.
	s = newSetup(t, xfr.Options{}, xfr.ZoneConfig{ACL: allowLoopback}, z)
	r = rawTCP(t, s.tcp, signed(t, axfrQuery(), testKey, now))
	if ts := r.IsTsig(); r.Rcode != dns.RcodeNotAuth || ts == nil || ts.Error != dns.RcodeBadKey {
		t.Errorf("signed AXFR to a primary without keys: %v", r)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	k, err := xfr.ParseKey("Xfr.Example:HMAC-SHA384:" + testKey.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "xfr.example." || k.Algorithm != "hmac-sha384." || k.Secret != testKey.Secret {
		t.Errorf("ParseKey: %+v", k)
	}
	for _, bad := range []string{"", "name", "name:hmac-sha256", "name:hmac-md5:" + testKey.Secret, "name:hmac-sha256:not base64!", "name:hmac-sha256:"} {
		if _, err := xfr.ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) succeeded", bad)
		}
	}
}
