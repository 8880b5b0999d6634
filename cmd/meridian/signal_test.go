package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// process is `meridian auth` running as a child process, as an operator
// runs it, so that the signal handling itself is under test.
type process struct {
	cmd    *exec.Cmd
	log    *logRecords
	dns    string
	exited chan struct{} // closed when cmd.Wait has returned
}

// startProcess runs bin with args and waits until it serves DNS.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), log: newLogRecords(), exited: make(chan struct{})}
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.exited)
		p.cmd.Wait() //nolint:errcheck // the exit status is read from ProcessState
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill() //nolint:errcheck // it may exit on its own meanwhile
			<-p.exited
		}
	})
	i := p.log.waitFor(t, 0, "serving DNS", "net", "udp")
	p.dns = p.log.rec(i)["addr"].(string)
	return p
}

// signal sends sig and returns the number of log records before it, for
// waitFor to look only at what follows.
func (p *process) signal(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	n := p.log.len()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return n
}

// wait waits for the process to exit and returns its exit status.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(waitTimeout):
		t.Fatalf("meridian did not exit within %s; log:\n%s", waitTimeout, p.log)
		return -1
	}
}

// TestSignals runs the binary and drives it with real signals: SIGHUP with
// a changed zone, with a broken zone, with a zone removed from the config,
// then SIGTERM; and SIGINT on a second process.
func TestSignals(t *testing.T) {
	t.Parallel()
	bin := buildMeridian(t)

	t.Run("SIGHUP and SIGTERM", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		cfg := filepath.Join(dir, "meridian.yaml")
		a, b := filepath.Join(dir, "a.zone"), filepath.Join(dir, "b.zone")
		writeZone(t, a, "a.example", 1, false)
		writeZone(t, b, "b.example", 1, false)
		writeConfig(t, cfg, "a.example", "a.zone", "b.example", "b.zone")
		p := startProcess(t, bin, "auth", "-config", cfg)
		if got := serial(t, p.dns, "a.example"); got != 1 {
			t.Fatalf("a.example serial %d", got)
		}

		// A changed zone: the new serial is served.
		writeZone(t, a, "a.example", 2, false)
		n := p.signal(t, syscall.SIGHUP)
		p.log.waitFor(t, n, "reload done")
		if got := serial(t, p.dns, "a.example"); got != 2 {
			t.Errorf("after reload: a.example serial %d, want 2", got)
		}

		// A broken zone: the error is logged, the old serial still served.
		writeZone(t, a, "a.example", 3, true)
		n = p.signal(t, syscall.SIGHUP)
		p.log.waitFor(t, n, "zone problem", "zone", "a.example.", "level", "ERROR")
		p.log.waitFor(t, n, "zone not reloaded; still serving the previous version", "zone", "a.example.")
		p.log.waitFor(t, n, "reload done")
		if got := serial(t, p.dns, "a.example"); got != 2 {
			t.Errorf("after a broken reload: a.example serial %d, want the previous 2", got)
		}

		// A zone removed from the config: REFUSED afterwards.
		writeConfig(t, cfg, "a.example", "a.zone")
		n = p.signal(t, syscall.SIGHUP)
		p.log.waitFor(t, n, "reload done")
		if r := query(t, "udp", p.dns, "b.example", dns.TypeSOA); r.Rcode != dns.RcodeRefused {
			t.Errorf("removed zone: %s, want REFUSED", dns.RcodeToString[r.Rcode])
		}

		p.signal(t, syscall.SIGTERM)
		if code := p.wait(t); code != 0 {
			t.Errorf("exit status %d after SIGTERM, want 0; log:\n%s", code, p.log)
		}
		p.log.waitFor(t, 0, "meridian auth stopped")
	})

	t.Run("SIGINT", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		a := filepath.Join(dir, "a.zone")
		writeZone(t, a, "a.example", 1, false)
		p := startProcess(t, bin, "auth", "-listen", "127.0.0.1:0", "-zone", "a.example="+a, "-config", writeJSONLogConfig(t, dir))
		if got := serial(t, p.dns, "a.example"); got != 1 {
			t.Fatalf("serial %d", got)
		}
		p.signal(t, syscall.SIGINT)
		if code := p.wait(t); code != 0 {
			t.Errorf("exit status %d after SIGINT, want 0; log:\n%s", code, p.log)
		}
	})
}

// writeJSONLogConfig writes a config that only sets JSON logging, for a
// process configured by flags otherwise.
func writeJSONLogConfig(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "log.yaml")
	if err := os.WriteFile(path, []byte("log: {format: json}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestResolverSignals runs `meridian resolver` and drives it with real
// signals: SIGHUP with a changed allow list, then SIGTERM. It needs no
// hierarchy: the queries have RD clear, so the cache alone answers them.
func TestResolverSignals(t *testing.T) {
	t.Parallel()
	bin := buildMeridian(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "resolver.yaml")
	write := func(allow string) {
		t.Helper()
		text := "listen: [127.0.0.1:0]\nlog: {format: json}\nresolver:\n  allow: [" + allow + "]\n"
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("10.0.0.0/8")
	p := startProcess(t, bin, "resolver", "-config", cfg)
	if r := query(t, "udp", p.dns, "www.example.org", dns.TypeA); r.Rcode != dns.RcodeRefused || r.RecursionAvailable {
		t.Errorf("a client outside the allow list: %s RA %v, want REFUSED", dns.RcodeToString[r.Rcode], r.RecursionAvailable)
	}

	write("127.0.0.0/8")
	n := p.signal(t, syscall.SIGHUP)
	p.log.waitFor(t, n, "reload done")
	if r := query(t, "udp", p.dns, "www.example.org", dns.TypeA); r.Rcode == dns.RcodeRefused || !r.RecursionAvailable {
		t.Errorf("after the reload: %s RA %v, want an answer from the cache", dns.RcodeToString[r.Rcode], r.RecursionAvailable)
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0; log:\n%s", code, p.log)
	}
	p.log.waitFor(t, 0, "meridian resolver stopped")
}
