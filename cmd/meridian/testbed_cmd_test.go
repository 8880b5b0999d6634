package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/internal/peer"
	"github.com/meridian-dns/meridian/testbed/hier"
)

// TestTestbedCommand runs `meridian testbed` as an operator would: it
// prints every server and a dig line per region, answers dig through a
// region's resolver, serves metrics and health, reloads on SIGHUP (an
// edited zone reaches its secondary), and on SIGINT stops, exits 0 and
// removes its temporary directory.
func TestTestbedCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dig := peer.Require(t, "dig")
	bin := buildMeridian(t)
	dnsPort, metricsPort := testbedPorts(t)
	cmd := exec.Command(bin, "testbed", "-topology", "../../testdata/topologies/quick.yaml",
		"-port", fmt.Sprint(dnsPort), "-metrics-port", fmt.Sprint(metricsPort))

	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out []string
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stdout closed early:\n%s\nstderr:\n%s", strings.Join(out, "\n"), stderr.String())
			}
			out = append(out, l)
			done = strings.Contains(l, "Press Ctrl-C")
		case <-time.After(60 * time.Second):
			t.Fatalf("no prompt within a minute:\n%s\nstderr:\n%s", strings.Join(out, "\n"), stderr.String())
		}
	}
	go func() {
		for range lines {
		}
		_ = cmd.Wait()
		close(exited)
	}()
	text := strings.Join(out, "\n")
	t.Logf("\n%s", text)
	for _, want := range []string{"resolver-a", "root-a", "one.test-a", "secondary", "primary", "meridian testbed -report"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Run the dig lines as printed.
	digLine := regexp.MustCompile(`dig @(\S+) -p (\d+) (\S+)`)
	found := digLine.FindAllStringSubmatch(text, -1)
	if len(found) != 2 {
		t.Fatalf("want a dig line per region, got %v", found)
	}
	for _, m := range found {
		res, err := exec.Command(dig, "@"+m[1], "-p", m[2], m[3], "+tries=1", "+time=5").CombinedOutput()
		if err != nil || !strings.Contains(string(res), "status: NOERROR") || !strings.Contains(string(res), " ra") {
			t.Errorf("dig @%s -p %s %s: %v\n%s", m[1], m[2], m[3], err, res)
		}
	}
	// Each resolver's metrics and health, at the links printed.
	for _, u := range regexp.MustCompile(`http://\S+/(?:metrics|healthz)`).FindAllString(text, -1) {
		resp, err := http.Get(u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.HasSuffix(u, "/metrics") && !bytes.Contains(body, []byte("meridian_resolver_")) {
			t.Errorf("%s: %s", u, resp.Status)
		}
	}
	dir := regexp.MustCompile(`Logs and configs: (\S+)/logs`).FindStringSubmatch(text)
	if dir == nil {
		t.Fatal("no logs directory printed")
	}
	if _, err := os.Stat(filepath.Join(dir[1], "logs", "resolver-a.log")); err != nil {
		t.Error(err)
	}
	// An operator's edit: a new serial in a primary's zone file, then
	// SIGHUP; the primary reloads and NOTIFYs, the secondary transfers.
	bumpSerial(t, filepath.Join(dir[1], "zones", "one.test.zone"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	secondary := regexp.MustCompile(`(?m)^one\.test-a\s+secondary\s+\S+\s+\S+\s+(\S+)`).FindStringSubmatch(text)
	if secondary == nil {
		t.Fatal("no one.test-a secondary in the table")
	}
	if err := waitServing(context.Background(), netip.MustParseAddrPort(secondary[1]), "one.test.", 2, 10*time.Second); err != nil {
		t.Errorf("after SIGHUP, the secondary at %s: %v; stderr:\n%s", secondary[1], err, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within 30s of SIGINT; stderr:\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d; stderr:\n%s", code, stderr.String())
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s left behind: %v", dir[1], err)
	}
}

// TestTestbedUsage checks the refusals: a bad topology names its line and
// nothing starts; a bad flag is a usage error.
func TestTestbedUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("regions:\n  - name: a\n    rtt: {a: 2ms}\nzones:\n  - name: .\n    primary: nowhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"testbed", "-topology", bad}, 1, bad + ":6: "},
		{[]string{"testbed", "-topology", "/nonexistent.yaml"}, 1, "no such file"},
		{[]string{"testbed", "-compare", "bind"}, 2, "only unbound"},
		{[]string{"testbed", "-port", "70000"}, 2, "at most 65535"},
		{[]string{"testbed", "extra"}, 2, "unexpected argument"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

// bumpSerial raises the SOA serial of a zone file by one, as an operator
// editing it would.
func bumpSerial(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var rrs []dns.RR
	zp := dns.NewZoneParser(f, "", path)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if soa, isSOA := rr.(*dns.SOA); isSOA {
			soa.Serial++
		}
		rrs = append(rrs, rr)
	}
	f.Close()
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := hier.WriteZone(&b, rrs[0].Header().Name, rrs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
