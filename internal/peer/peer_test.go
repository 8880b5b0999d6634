package peer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
)

const testZone = `$ORIGIN peer.test.
$TTL 300
@	SOA	ns1 hostmaster 1 7200 3600 1209600 300
@	NS	ns1
ns1	A	127.0.0.1
www	A	192.0.2.1
`

func writeZone(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "peer.test.db")
	if err := os.WriteFile(f, []byte(testZone), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(testing.TB, Options) *Server
	}{
		{"nsd", StartNSD},
		{"knot", StartKnot},
		{"bind", StartBIND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t, Options{Zones: []Zone{{Origin: "peer.test", File: writeZone(t)}}})
			m := new(dns.Msg)
			m.SetQuestion("www.peer.test.", dns.TypeA)
			for _, proto := range []string{"udp", "tcp"} {
				r, _, err := (&dns.Client{Net: proto}).Exchange(m, s.Addr)
				if err != nil {
					t.Fatalf("%s %s: %v", tc.name, proto, err)
				}
				if !r.Authoritative || len(r.Answer) != 1 {
					t.Fatalf("%s %s: unexpected answer\n%v", tc.name, proto, r)
				}
			}
			s.Stop()
			select {
			case <-s.done:
			default:
				t.Fatal("server still running after Stop")
			}
		})
	}
}

// fakeTB records Skipf and Fatalf instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

func TestRequireMissing(t *testing.T) {
	const missing = "meridian-no-such-peer"
	t.Setenv(RequireEnv, "")
	f := &fakeTB{TB: t}
	Require(f, missing)
	if !f.skipped || f.failed {
		t.Errorf("without %s: skipped %v failed %v, want a skip", RequireEnv, f.skipped, f.failed)
	}
	t.Setenv(RequireEnv, "1")
	f = &fakeTB{TB: t}
	Require(f, missing)
	if f.skipped || !f.failed {
		t.Errorf("with %s=1: skipped %v failed %v, want a failure", RequireEnv, f.skipped, f.failed)
	}
}
