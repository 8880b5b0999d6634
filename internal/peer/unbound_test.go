package peer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestStartUnbound runs Unbound with a local zone, which it answers
// without iterating, so that no hierarchy on port 53 (and no root) is
// needed: the test is of the start, the config and the stop.
func TestStartUnbound(t *testing.T) {
	t.Parallel()
	hints := filepath.Join(t.TempDir(), "root.hints")
	if err := os.WriteFile(hints, []byte(".\t3600000\tNS\tns.root-servers.test.\nns.root-servers.test.\t3600000\tA\t127.53.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := StartUnbound(t, UnboundOptions{
		RootHints: hints,
		CacheMB:   12,
		Extra:     []string{`local-zone: "peer.test." static`, `local-data: "www.peer.test. 300 IN A 192.0.2.1"`},
	})
	m := new(dns.Msg)
	m.SetQuestion("www.peer.test.", dns.TypeA)
	for _, proto := range []string{"udp", "tcp"} {
		r, _, err := (&dns.Client{Net: proto}).Exchange(m, s.Addr)
		if err != nil {
			t.Fatalf("unbound %s: %v\n%s", proto, err, s.Output())
		}
		if !r.RecursionAvailable || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Fatalf("unbound %s: unexpected answer\n%v", proto, r)
		}
	}
	conf, err := os.ReadFile(filepath.Join(s.Dir, "unbound.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"msg-cache-size: 4m", "rrset-cache-size: 8m", "num-threads: 1", "root-hints: \"" + hints + "\""} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("unbound.conf lacks %q:\n%s", want, conf)
		}
	}
	s.Stop()
	select {
	case <-s.done:
	default:
		t.Fatal("unbound still running after Stop")
	}
}

func TestUnboundConfigRejectsNewline(t *testing.T) {
	t.Parallel()
	_, err := unboundConfig(t.TempDir(), "127.0.0.1", 53, UnboundOptions{RootHints: "/x", Extra: []string{"a: b\nc: d"}})
	if err == nil {
		t.Fatal("an extra line with a newline was accepted")
	}
}
