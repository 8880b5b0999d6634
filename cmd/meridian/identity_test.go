package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
)

// chaosTXT asks addr a CHAOS TXT question and returns the rcode and the
// TXT strings of the answer.
func chaosTXT(t *testing.T, addr, name string) (int, []string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("CH TXT %s: %v", name, err)
	}
	if len(r.Answer) != 1 {
		return r.Rcode, nil
	}
	txt, ok := r.Answer[0].(*dns.TXT)
	if !ok {
		t.Fatalf("CH TXT %s: answer %v", name, r.Answer[0])
	}
	return r.Rcode, txt.Txt
}

// TestIdentityConfig starts both daemons with identity and version set,
// then reloads them with other values: the CHAOS answers follow at once.
func TestIdentityConfig(t *testing.T) {
	t.Parallel()
	port := startInprocHier(t)
	hints, err := filepath.Abs(filepath.Join(hierDir, "root.hints"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		common string // the config but for identity and version
		run    func(context.Context, *config.Config, daemonEnv) error
	}{
		{"auth", "listen: [127.0.0.1:0]\nlog: {level: debug, format: json}\n", runAuth},
		{"resolver", fmt.Sprintf("listen: [127.0.0.1:0]\nlog: {level: debug, format: json}\nresolver:\n  ns-port: %d\n  root-hints: %s\n", port, hints), runResolver},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfgFile := filepath.Join(t.TempDir(), "meridian.yaml")
			write := func(ident string) {
				t.Helper()
				if err := os.WriteFile(cfgFile, []byte(tt.common+ident), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("identity: ns1.fra\nversion: meridian 9\n")
			d := startDaemonWith(t, &config.Flags{ConfigFile: cfgFile}, tt.run)
			check := func(name string, txt string) {
				t.Helper()
				rcode, got := chaosTXT(t, d.dns, name)
				switch {
				case txt == "" && rcode != dns.RcodeRefused:
					t.Errorf("%s: %s %q, want REFUSED", name, dns.RcodeToString[rcode], got)
				case txt != "" && (rcode != dns.RcodeSuccess || len(got) != 1 || got[0] != txt):
					t.Errorf("%s: %s %q, want %q", name, dns.RcodeToString[rcode], got, txt)
				}
			}
			check("id.server.", "ns1.fra")
			check("version.bind.", "meridian 9")

			n := d.log.len()
			write("identity: ns2.ams\n")
			d.doReload(t)
			d.log.waitFor(t, n, "identity changed", "identity", "ns2.ams", "version", "")
			check("hostname.bind.", "ns2.ams")
			check("version.server.", "")

			n = d.log.len()
			write("identity: \"\"\nversion: v2\n")
			d.doReload(t)
			d.log.waitFor(t, n, "identity changed", "identity", "", "version", "v2")
			check("id.server.", "")
			check("version.bind.", "v2")
		})
	}
}

// TestIdentityDefault: without identity in the config a daemon names
// itself by the host name, and tells no version.
func TestIdentityDefault(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no host name")
	}
	d := startDaemon(t, &config.Flags{Listen: []string{"127.0.0.1:0"}})
	if rcode, got := chaosTXT(t, d.dns, "id.server."); rcode != dns.RcodeSuccess || len(got) != 1 || got[0] != host {
		t.Errorf("id.server.: %s %q, want %q", dns.RcodeToString[rcode], got, host)
	}
	if rcode, _ := chaosTXT(t, d.dns, "version.bind."); rcode != dns.RcodeRefused {
		t.Errorf("version.bind.: %s, want REFUSED", dns.RcodeToString[rcode])
	}
}
