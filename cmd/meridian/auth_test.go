package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
)

// daemon is runAuth running in the test process, driven without signals.
type daemon struct {
	dns      string // UDP and TCP share the port
	metrics  string // "" when off
	log      *logRecords
	reload   chan os.Signal
	reloaded chan struct{}
	stop     func() error
}

// startDaemon builds the config from f, as cmdAuth does, and runs it until
// the test ends.
func startDaemon(t *testing.T, f *config.Flags) *daemon {
	t.Helper()
	return startDaemonWith(t, f, runAuth)
}

// startDaemonWith is startDaemon for any daemon's run function.
func startDaemonWith(t *testing.T, f *config.Flags, run func(context.Context, *config.Config, daemonEnv) error) *daemon {
	t.Helper()
	cfg, err := f.Build()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{log: newLogRecords(), reload: make(chan os.Signal), reloaded: make(chan struct{}, 1)}
	level := new(slog.LevelVar)
	level.Set(slog.LevelDebug)
	ready := make(chan struct{})
	env := daemonEnv{
		Log:         slog.New(slog.NewJSONHandler(d.log, &slog.HandlerOptions{Level: level})),
		Level:       level,
		Reload:      d.reload,
		Reconfigure: f.Build,
		Ready: func(addrs []net.Addr, metrics net.Addr) {
			d.dns = addrs[0].String()
			if metrics != nil {
				d.metrics = metrics.String()
			}
			close(ready)
		},
		Reloaded: func() { d.reloaded <- struct{}{} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, env) }()
	d.stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(waitTimeout):
			t.Errorf("the daemon did not return within %s of cancel", waitTimeout)
			return nil
		}
	})
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Error(err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v\n%s", err, d.log)
	case <-time.After(waitTimeout):
		t.Fatal("daemon not ready")
	}
	return d
}

// doReload sends a reload and waits until it has been applied or refused.
func (d *daemon) doReload(t *testing.T) {
	t.Helper()
	d.reload <- syscall.SIGHUP
	select {
	case <-d.reloaded:
	case <-time.After(waitTimeout):
		t.Fatal("reload did not finish")
	}
}

// get fetches path from the metrics server and returns status and body.
func (d *daemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + d.metrics + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestAuthServesSampleZones(t *testing.T) {
	t.Parallel()
	metrics := "127.0.0.1:0"
	d := startDaemon(t, &config.Flags{
		ConfigFile: "../../testdata/meridian.yaml",
		Listen:     []string{"127.0.0.1:0"},
		Metrics:    &metrics,
	})
	for _, network := range []string{"udp", "tcp"} {
		r := query(t, network, d.dns, "www.example.com", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 ||
			r.Answer[0].(*dns.A).A.String() != "192.0.2.10" {
			t.Errorf("%s www.example.com A: %v", network, r)
		}
	}
	if r := query(t, "udp", d.dns, "www.example.org", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("a name in no zone: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	d.log.waitFor(t, 0, "zone loaded", "zone", "example.com.", "serial", "2024060101")
	if code, body := d.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	wants := []string{
		`meridian_zone_reloads_total{result="success",zone="example.com."} 1`,
		`meridian_zone_serial{zone="example.net."} 2.024060101e+09`,
		`meridian_server_queries_total{qtype="A",rcode="NOERROR",transport="tcp",zone="example.com."} 1`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	}
	// A query is counted just after its answer is written, so the client
	// can scrape before the count lands: poll, with a deadline.
	var missing []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, body := d.get(t, "/metrics")
		missing = slices.DeleteFunc(slices.Clone(wants), func(w string) bool { return strings.Contains(body, w) })
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, w := range missing {
		t.Errorf("/metrics lacks %q", w)
	}
}

// TestAuthZoneFailsAtStartup: a zone that does not load answers SERVFAIL
// while the others serve, /healthz says so, and a reload that fixes it
// brings it up.
func TestAuthZoneFailsAtStartup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.zone"), filepath.Join(dir, "bad.zone")
	writeZone(t, good, "good.example", 1, false)
	writeZone(t, bad, "bad.example", 1, true)
	metrics := "127.0.0.1:0"
	d := startDaemon(t, &config.Flags{
		Listen:  []string{"127.0.0.1:0"},
		Metrics: &metrics,
		Zones:   []config.Zone{{Origin: "good.example", File: good}, {Origin: "bad.example", File: bad}},
	})
	if got := serial(t, d.dns, "good.example"); got != 1 {
		t.Errorf("good.example serial %d", got)
	}
	if r := query(t, "udp", d.dns, "www.bad.example", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("failed zone: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	d.log.waitFor(t, 0, "zone not loaded; answering SERVFAIL for it", "zone", "bad.example.")
	i := d.log.waitFor(t, 0, "zone problem", "zone", "bad.example.")
	if p := d.log.rec(i)["problem"].(string); !strings.HasPrefix(p, bad+":7: ") {
		t.Errorf("problem %q does not name the file and line", p)
	}
	if code, body := d.get(t, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "bad.example") {
		t.Errorf("/healthz with a failed zone: %d %q", code, body)
	}

	writeZone(t, bad, "bad.example", 2, false)
	d.doReload(t)
	if got := serial(t, d.dns, "bad.example"); got != 2 {
		t.Errorf("after fixing: serial %d", got)
	}
	if code, body := d.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after fixing: %d %q", code, body)
	}
}

// TestAuthReload walks through what a reload does with the config file and
// the zone files, one step after another on one daemon.
func TestAuthReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "meridian.yaml")
	writeZone(t, filepath.Join(dir, "a.zone"), "a.example", 1, false)
	writeZone(t, filepath.Join(dir, "b.zone"), "b.example", 1, false)
	writeZone(t, filepath.Join(dir, "c.zone"), "c.example", 7, false)
	writeConfig(t, cfgFile, "a.example", "a.zone", "b.example", "b.zone")
	metrics := "127.0.0.1:0"
	d := startDaemon(t, &config.Flags{ConfigFile: cfgFile, Metrics: &metrics})
	if got := serial(t, d.dns, "a.example"); got != 1 {
		t.Fatalf("a.example serial %d", got)
	}

	t.Log("a changed zone is served after the reload")
	writeZone(t, filepath.Join(dir, "a.zone"), "a.example", 2, false)
	d.doReload(t)
	if got := serial(t, d.dns, "a.example"); got != 2 {
		t.Errorf("a.example serial %d, want 2", got)
	}

	t.Log("a broken zone keeps its previous version")
	n := d.log.len()
	writeZone(t, filepath.Join(dir, "a.zone"), "a.example", 3, true)
	d.doReload(t)
	d.log.waitFor(t, n, "zone not reloaded; still serving the previous version", "zone", "a.example.", "serial", "2")
	if got := serial(t, d.dns, "a.example"); got != 2 {
		t.Errorf("a.example serial %d, want the previous 2", got)
	}
	if _, body := d.get(t, "/metrics"); !strings.Contains(body, `meridian_zone_reloads_total{result="failure",zone="a.example."} 1`) {
		t.Error("the failed reload is not counted")
	}

	t.Log("a zone removed from the config is no longer served; a new one is")
	writeConfig(t, cfgFile, "a.example", "a.zone", "c.example", "c.zone")
	d.doReload(t)
	if r := query(t, "udp", d.dns, "www.b.example", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("removed zone: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	if got := serial(t, d.dns, "c.example"); got != 7 {
		t.Errorf("c.example serial %d", got)
	}

	t.Log("an invalid config changes nothing")
	n = d.log.len()
	if err := os.WriteFile(cfgFile, []byte("zones: []\nlisn: [127.0.0.1:53]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.doReload(t)
	i := d.log.waitFor(t, n, "reload refused: invalid configuration; still serving the previous configuration and zones")
	if err := d.log.rec(i)["err"].(string); !strings.Contains(err, "meridian.yaml:2: lisn: unknown key") {
		t.Errorf("refusal names %q, not the key and line", err)
	}
	if got := serial(t, d.dns, "c.example"); got != 7 {
		t.Errorf("c.example serial %d after a refused reload", got)
	}

	t.Log("listen changes need a restart; log.level applies at once")
	n = d.log.len()
	if err := os.WriteFile(cfgFile, []byte("listen: [127.0.0.1:1]\nlog: {level: warn}\nzones: [{origin: a.example, file: a.zone}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.doReload(t)
	d.log.waitFor(t, n, "reload: setting needs a restart; keeping the running value", "key", "listen")
	d.log.waitFor(t, n, "log level changed", "level", "warn")
	if r := query(t, "udp", d.dns, "c.example", dns.TypeSOA); r.Rcode != dns.RcodeRefused {
		t.Errorf("c.example after its removal: %s", dns.RcodeToString[r.Rcode])
	}
}

// TestREADMEListsEveryMetric keeps the metric list in README.md in step with
// what the server exports: every meridian_ metric seen at /metrics after a
// query must be documented there.
func TestREADMEListsEveryMetric(t *testing.T) {
	t.Parallel()
	metrics := "127.0.0.1:0"
	d := startDaemon(t, &config.Flags{
		ConfigFile: "../../testdata/meridian.yaml",
		Listen:     []string{"127.0.0.1:0"},
		Metrics:    &metrics,
	})
	query(t, "udp", d.dns, "www.example.com", dns.TypeA)
	_, body := d.get(t, "/metrics")
	checkREADMEMetrics(t, body)
}

// checkREADMEMetrics checks that every meridian_ metric in body, a /metrics
// page, is listed in README.md.
func checkREADMEMetrics(t *testing.T, body string) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for line := range strings.SplitSeq(body, "\n") {
		name, ok := strings.CutPrefix(line, "# HELP meridian_")
		if !ok {
			continue
		}
		name = "meridian_" + strings.Fields(name)[0]
		seen++
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("README.md does not list the metric `%s`", name)
		}
	}
	if seen < 5 {
		t.Errorf("only %d meridian_ metrics at /metrics:\n%s", seen, body)
	}
}

// TestAuthListenInUse: an address that cannot be bound stops the start-up
// with an error naming it, and leaves nothing running.
func TestAuthListenInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	f := &config.Flags{Listen: []string{taken.Addr().String()}}
	cfg, err := f.Build()
	if err != nil {
		t.Fatal(err)
	}
	err = runAuth(context.Background(), cfg, daemonEnv{})
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("runAuth on a taken address: %v", err)
	}
}
