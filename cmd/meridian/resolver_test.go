package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
)

// startResolverDaemon runs `meridian resolver` in this process against a fresh
// hierarchy, configured by flags, with metrics on.
func startResolverDaemon(t *testing.T) *daemon {
	t.Helper()
	port := int(startInprocHier(t))
	metrics, hints := "127.0.0.1:0", filepath.Join(hierDir, "root.hints")
	return startDaemonWith(t, &config.Flags{
		Listen:    []string{"127.0.0.1:0"},
		Metrics:   &metrics,
		RootHints: &hints,
		NSPort:    &port,
		Allow:     []string{"127.0.0.0/8"},
	}, runResolver)
}

func TestResolverServesHierarchy(t *testing.T) {
	t.Parallel()
	d := startResolverDaemon(t)
	for _, network := range []string{"udp", "tcp"} {
		r := recurse(t, network, d.dns, "www.example.org", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || !r.RecursionAvailable || r.Authoritative || len(r.Answer) != 1 ||
			r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Errorf("%s www.example.org A: %v", network, r)
		}
	}
	if r := recurse(t, "udp", d.dns, "host.sub.example.org", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("behind a glueless delegation: %v", r)
	}
	if r := recurse(t, "udp", d.dns, "nope.example.org", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("NXDOMAIN: %v", r)
	}
	// RD=0: answered from the cache, which holds the name by now.
	if r := query(t, "udp", d.dns, "www.example.org", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.RecursionAvailable {
		t.Errorf("RD=0 for a cached name: %v", r)
	}
	if code, body := d.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	// A response is counted just after it is written, so the count may
	// trail the answer a little on a busy machine.
	body := d.waitMetrics(t, `meridian_server_queries_total{qtype="A",rcode="NOERROR",transport="tcp",zone="recursive"} 1`)
	for _, want := range []string{
		`meridian_server_queries_total{qtype="A",rcode="NOERROR",transport="tcp",zone="recursive"} 1`,
		`meridian_server_acl_refused_queries_total 0`,
		`meridian_resolver_cache_hits_total `,
		`meridian_resolver_response_duration_seconds_count{source="upstream"} `,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(body, "meridian_server_queries_total"))
		}
	}
	checkREADMEMetrics(t, body)
}

// TestResolverReload walks through what SIGHUP does to a resolver, keeping
// its cache throughout.
func TestResolverReload(t *testing.T) {
	t.Parallel()
	port := startInprocHier(t)
	dir := t.TempDir()
	hints, err := filepath.Abs(filepath.Join(hierDir, "root.hints"))
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "resolver.yaml")
	write := func(resolver string) {
		t.Helper()
		text := fmt.Sprintf("listen: [127.0.0.1:0]\nlog: {level: debug, format: json}\nresolver:\n  ns-port: %d\n  root-hints: %s\n%s", port, hints, resolver)
		if err := os.WriteFile(cfgFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("  allow: [127.0.0.0/8]\n")
	d := startDaemonWith(t, &config.Flags{ConfigFile: cfgFile}, runResolver)
	if r := recurse(t, "udp", d.dns, "www.example.org", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("www.example.org: %v", r)
	}

	t.Log("the allow list applies at once")
	n := d.log.len()
	write("  allow: [10.0.0.0/8]\n")
	d.doReload(t)
	d.log.waitFor(t, n, "allow list changed")
	r := recurse(t, "udp", d.dns, "www.example.org", dns.TypeA)
	if r.Rcode != dns.RcodeRefused || r.RecursionAvailable {
		t.Errorf("a client no longer allowed: %s RA %v", dns.RcodeToString[r.Rcode], r.RecursionAvailable)
	}

	t.Log("resolver settings, TTL clamps, the cache's size and max-recursive apply; the cache stays")
	n = d.log.len()
	write("  allow: [127.0.0.1]\n  cache: {max-ttl: 1h, size: 50000}\n  max-recursive: 10\n" +
		"  forward-zones: [{name: corp.example, servers: [127.0.0.1]}]\n")
	d.doReload(t)
	d.log.waitFor(t, n, "reload done", "changed", "[resolver.allow resolver.max-recursive resolver.cache.size resolver.cache.max-ttl resolver.forward-zones]")
	r = query(t, "udp", d.dns, "www.example.org", dns.TypeA) // RD=0: the cache only
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("the cached answer after a reload: %v", r)
	}
	n = d.log.len()
	d.doReload(t) // the same file: nothing left to change
	d.log.waitFor(t, n, "reload done", "changed", "[]")

	t.Log("an invalid config, or root hints that do not parse, change nothing")
	n = d.log.len()
	write("  allow: [10.0.0.1/8]\n")
	d.doReload(t)
	i := d.log.waitFor(t, n, "reload refused: invalid configuration; still serving the previous configuration")
	if err := d.log.rec(i)["err"].(string); !strings.Contains(err, "resolver.yaml:6: resolver.allow[0]") {
		t.Errorf("refusal %q does not name the key and line", err)
	}
	hints = filepath.Join(dir, "bad.root") // an NS without an address
	if err := os.WriteFile(hints, []byte(". NS a.root.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n = d.log.len()
	write("  allow: [10.0.0.0/8]\n")
	d.doReload(t)
	i = d.log.waitFor(t, n, "reload refused: still serving the previous configuration")
	if err := d.log.rec(i)["err"].(string); !strings.Contains(err, hints) {
		t.Errorf("refusal %q does not name the root hints file", err)
	}
	if r := recurse(t, "udp", d.dns, "www.example.org", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after refused reloads: %s", dns.RcodeToString[r.Rcode])
	}
}

// TestResolverStartErrors: root hints that do not parse, or a listen
// address in use, stop the start-up with an error that names them.
func TestResolverStartErrors(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.root")
	if err := os.WriteFile(bad, []byte(". NS a.root.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &config.Flags{Listen: []string{"127.0.0.1:0"}, RootHints: &bad}
	cfg, err := f.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := runResolver(context.Background(), cfg, daemonEnv{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad root hints: %v", err)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	f = &config.Flags{Listen: []string{taken.Addr().String()}}
	if cfg, err = f.Build(); err != nil {
		t.Fatal(err)
	}
	if err := runResolver(context.Background(), cfg, daemonEnv{}); err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("runResolver on a taken address: %v", err)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// waitMetrics polls /metrics until it contains want, and returns it.
func (d *daemon) waitMetrics(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		_, body := d.get(t, "/metrics")
		if strings.Contains(body, want) || time.Now().After(deadline) {
			return body
		}
		time.Sleep(10 * time.Millisecond)
	}
}
