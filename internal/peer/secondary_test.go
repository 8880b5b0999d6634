package peer

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestXfrRoles checks the replication helpers against each other, without
// Meridian: a BIND primary feeds a Knot secondary and a Knot primary a BIND
// secondary, with TSIG; a change to the primary's file and a reload reach
// the secondary by NOTIFY and IXFR.
func TestXfrRoles(t *testing.T) {
	t.Parallel()
	key := &Key{Name: "xfr-key", Algorithm: "hmac-sha256", Secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="}
	type starter func(testing.TB, XfrOptions) *Server
	for _, tc := range []struct {
		name               string
		primary, secondary starter
	}{
		{"bind→knot", StartBINDPrimary, StartKnotSecondary},
		{"knot→bind", StartKnotPrimary, StartBINDSecondary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port, err := FreePort("127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			secAddr := "127.0.0.1:" + strconv.Itoa(port)
			p := tc.primary(t, XfrOptions{Origin: "peer.test", File: writeZone(t), Notify: []string{secAddr}, Key: key})
			s := tc.secondary(t, XfrOptions{Origin: "peer.test", Primary: p.Addr, Key: key, Port: port})
			if s.Addr != secAddr {
				t.Fatalf("secondary on %s, want %s", s.Addr, secAddr)
			}
			text := strings.Replace(testZone, "hostmaster 1 ", "hostmaster 2 ", 1) + "new\tA\t192.0.2.2\n"
			if err := os.WriteFile(p.ZoneFile()+".tmp", []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p.ZoneFile()+".tmp", p.ZoneFile()); err != nil {
				t.Fatal(err)
			}
			if err := p.Reload(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			m := new(dns.Msg)
			m.SetQuestion("new.peer.test.", dns.TypeA)
			for {
				r, _, err := (&dns.Client{}).Exchange(m, s.Addr)
				if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the change did not reach the secondary: %v %v\nprimary:\n%s\nsecondary:\n%s", r, err, p.Output(), s.Output())
				}
				time.Sleep(20 * time.Millisecond) // pacing between polls
			}
			// Both log an outgoing IXFR: BIND "transfer of 'peer.test/IN':
			// IXFR started", Knot "IXFR, outgoing".
			if out := p.Output(); !strings.Contains(out, "IXFR") {
				t.Errorf("the primary's log shows no IXFR:\n%s", out)
			}
		})
	}
}
