package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// freePort returns a loopback port free for both UDP and TCP, for a
// process whose address another must know before it starts (the
// secondary a primary NOTIFYs).
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// soaSerial asks addr for origin's SOA; ok is false unless the answer is an
// authoritative NOERROR with the SOA.
func soaSerial(addr, origin string) (rcode int, s uint32, ok bool) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(origin), dns.TypeSOA)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return -1, 0, false
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
		return r.Rcode, 0, false
	}
	return r.Rcode, r.Answer[0].(*dns.SOA).Serial, true
}

// waitSerial polls addr until it serves origin with serial want, within
// limit.
func waitSerial(t *testing.T, addr, origin string, want uint32, limit time.Duration, p *process) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		rcode, got, ok := soaSerial(addr, origin)
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s: rcode %d serial %d, want serial %d within %s; secondary log:\n%s",
				origin, addr, rcode, got, want, limit, p.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkXfrstatus runs `meridian xfrstatus` against a converged pair, and
// against the pair and a replica that does not serve the zone.
func checkXfrstatus(t *testing.T, prim, sec, origin string) {
	t.Helper()
	var out, errb strings.Builder
	if code := cmdXfrstatus([]string{"-server", prim, "-zone", origin, "-replica", sec}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "in sync") || !strings.HasSuffix(out.String(), "\nconverged\n") {
		t.Errorf("xfrstatus: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := cmdXfrstatus([]string{"-server", prim, "-zone", origin, "-replica", sec, "-replica", prim, "-zone", "other.example"}, &out, &errb); code != 1 ||
		!strings.Contains(out.String(), "REFUSED") || !strings.Contains(out.String(), "NOT converged") {
		t.Errorf("xfrstatus with an unknown zone: exit %d\n%s%s", code, out.String(), errb.String())
	}
	t.Logf("xfrstatus:\n%s", out.String())
}

// TestReplicationChain runs primary → middle → leaf, the middle one a
// secondary that feeds the leaf (allow-transfer and notify on a secondary
// zone, from a config file) and serves a primary zone of its own besides:
// a change at the primary reaches the leaf by NOTIFY and IXFR, hop by hop.
func TestReplicationChain(t *testing.T) {
	t.Parallel()
	bin := buildMeridian(t)
	const origin = "chain.example."
	dir := t.TempDir()
	zf, own := filepath.Join(dir, "chain.zone"), filepath.Join(dir, "own.zone")
	writeZone(t, zf, origin, 1, false)
	writeZone(t, own, "own.example", 7, false)
	logCfg := writeJSONLogConfig(t, dir)
	midAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	leafAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))

	prim := startProcess(t, bin, "auth", "-config", logCfg, "-listen", "127.0.0.1:0", "-zone", origin+"="+zf,
		"-data", filepath.Join(dir, "primary"), "-allow-transfer", "127.0.0.0/8", "-notify", midAddr)
	midCfg := filepath.Join(dir, "mid.yaml")
	text := fmt.Sprintf(`listen: [%s]
log: {format: json}
data-dir: mid
zones:
  - origin: %s
    type: secondary
    primaries: [%s]
    allow-transfer: [127.0.0.0/8]
    notify: [%s]
  - origin: own.example
    file: own.zone
`, midAddr, origin, prim.dns, leafAddr)
	if err := os.WriteFile(midCfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	mid := startProcess(t, bin, "auth", "-config", midCfg)
	leaf := startProcess(t, bin, "auth", "-config", logCfg, "-listen", leafAddr, "-secondary", origin+"="+midAddr,
		"-data", filepath.Join(dir, "leaf"))

	waitSerial(t, mid.dns, origin, 1, waitTimeout, mid)
	waitSerial(t, leaf.dns, origin, 1, waitTimeout, leaf)
	if _, got, ok := soaSerial(mid.dns, "own.example"); !ok || got != 7 {
		t.Errorf("the middle's own primary zone: serial %d ok %v, want 7", got, ok)
	}

	writeZone(t, zf, origin, 2, false)
	n := prim.signal(t, syscall.SIGHUP)
	prim.log.waitFor(t, n, "reload done")
	waitSerial(t, leaf.dns, origin, 2, 4*time.Second, leaf)
	leaf.log.waitFor(t, 0, "secondary: transferred", "serial", "2", "kind", "ixfr")

	// A reload that drops the middle's secondary zone stops serving it;
	// its own primary zone goes on.
	without := fmt.Sprintf("listen: [%s]\nlog: {format: json}\ndata-dir: mid\nzones:\n  - origin: own.example\n    file: own.zone\n", midAddr)
	if err := os.WriteFile(midCfg, []byte(without), 0o644); err != nil {
		t.Fatal(err)
	}
	n = mid.signal(t, syscall.SIGHUP)
	mid.log.waitFor(t, n, "secondary zone removed; no longer served", "zone", origin)
	mid.log.waitFor(t, n, "reload done")
	if rcode, _, _ := soaSerial(mid.dns, origin); rcode != dns.RcodeRefused {
		t.Errorf("the dropped secondary zone: rcode %s, want REFUSED", dns.RcodeToString[rcode])
	}
	waitSerial(t, mid.dns, "own.example", 7, time.Second, mid)

	// Added back, it serves its copy from the data directory at once and
	// follows the primary again, down the chain.
	if err := os.WriteFile(midCfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	n = mid.signal(t, syscall.SIGHUP)
	mid.log.waitFor(t, n, "secondary zone added", "zone", origin)
	waitSerial(t, mid.dns, origin, 2, time.Second, mid)
	writeZone(t, zf, origin, 3, false)
	n = prim.signal(t, syscall.SIGHUP)
	prim.log.waitFor(t, n, "reload done")
	waitSerial(t, mid.dns, origin, 3, 4*time.Second, mid)
	waitSerial(t, leaf.dns, origin, 3, 4*time.Second, leaf)
}

const (
	xfrSecret   = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="
	otherSecret = "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXI="
)

// TestReplication runs a Meridian primary and a Meridian secondary as
// processes configured by flags alone: the secondary transfers the zone,
// follows a change within a couple of seconds of the primary's SIGHUP
// (the zone's REFRESH is 7200s, so only the NOTIFY can explain it), with
// and without TSIG; a secondary without the key the primary requires gets
// nothing and answers SERVFAIL.
func TestReplication(t *testing.T) {
	t.Parallel()
	bin := buildMeridian(t)
	const origin = "repl.example."
	key := "xfr-key:hmac-sha256:" + xfrSecret

	for _, tc := range []struct {
		name      string
		primary   []string // flags beyond -zone, -data, -listen
		notifyKey string   // @KEY on -notify
		secondary []string // flags beyond -secondary, -data, -listen
		primKey   string   // @KEY on -secondary
		refused   bool
	}{
		{name: "ACL", primary: []string{"-allow-transfer", "127.0.0.0/8"}},
		{name: "TSIG", primary: []string{"-tsig", key, "-allow-transfer", "xfr-key"}, notifyKey: "@xfr-key",
			secondary: []string{"-tsig", key}, primKey: "@xfr-key"},
		{name: "TSIG missing", primary: []string{"-tsig", key, "-allow-transfer", "xfr-key"}, refused: true},
		{name: "TSIG wrong secret", primary: []string{"-tsig", key, "-allow-transfer", "xfr-key"}, refused: true,
			secondary: []string{"-tsig", "xfr-key:hmac-sha256:" + otherSecret}, primKey: "@xfr-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			zf := filepath.Join(dir, "repl.zone")
			writeZone(t, zf, origin, 1, false)
			logCfg := writeJSONLogConfig(t, dir)
			secAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))

			args := append([]string{"auth", "-config", logCfg, "-listen", "127.0.0.1:0", "-zone", origin + "=" + zf,
				"-data", filepath.Join(dir, "primary"), "-notify", secAddr + tc.notifyKey}, tc.primary...)
			prim := startProcess(t, bin, args...)

			args = append([]string{"auth", "-config", logCfg, "-listen", secAddr,
				"-secondary", origin + "=" + prim.dns + tc.primKey, "-data", filepath.Join(dir, "secondary")}, tc.secondary...)
			sec := startProcess(t, bin, args...)

			if tc.refused {
				sec.log.waitFor(t, 0, "secondary: refresh failed")
				if rcode, _, _ := soaSerial(sec.dns, origin); rcode != dns.RcodeServerFailure {
					t.Errorf("secondary without the key: rcode %s, want SERVFAIL", dns.RcodeToString[rcode])
				}
				return
			}
			waitSerial(t, sec.dns, origin, 1, waitTimeout, sec)
			if tc.name == "ACL" {
				checkXfrstatus(t, prim.dns, sec.dns, origin)
			}

			writeZone(t, zf, origin, 2, false)
			n := prim.signal(t, syscall.SIGHUP)
			prim.log.waitFor(t, n, "reload done")
			waitSerial(t, sec.dns, origin, 2, 3*time.Second, sec)
			if r := query(t, "udp", sec.dns, "www."+origin, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("www at the secondary: %v", r)
			}

			// A reload of the secondary keeps its secondary zone.
			n = sec.signal(t, syscall.SIGHUP)
			sec.log.waitFor(t, n, "reload done")
			if _, got, ok := soaSerial(sec.dns, origin); !ok || got != 2 {
				t.Errorf("after the secondary's reload: serial %d ok %v, want 2", got, ok)
			}

			// With the primary gone, a restarted secondary serves its copy
			// from the data directory.
			if tc.name != "ACL" {
				return
			}
			prim.signal(t, syscall.SIGTERM)
			prim.wait(t)
			sec.signal(t, syscall.SIGTERM)
			if code := sec.wait(t); code != 0 {
				t.Fatalf("secondary exit status %d; log:\n%s", code, sec.log)
			}
			sec = startProcess(t, bin, args...)
			waitSerial(t, sec.dns, origin, 2, time.Second, sec)
		})
	}
}

// TestXfrstatusFromConfig checks the sources and replicas xfrstatus takes
// from a config: a primary zone is checked at the server against its
// notify targets, a secondary at its first primary against the server.
func TestXfrstatusFromConfig(t *testing.T) {
	t.Parallel()
	got, err := statusZones("../../testdata/replication.yaml", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort
	want := []statusZone{
		{origin: "example.org.", source: ap("203.0.113.1:53"), replicas: []netip.AddrPort{ap("192.0.2.10:53"), ap("198.51.100.53:53")}},
		{origin: "example.com.", source: ap("192.0.2.10:53"), replicas: []netip.AddrPort{ap("198.51.100.53:53"), ap("198.51.100.54:5353")}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := statusZones("", "", []string{"example.com"}, nil); err == nil {
		t.Error("no -server: accepted")
	}
	if got := listenToQuery(":5353"); got != ap("127.0.0.1:5353") {
		t.Errorf("wildcard listen: %s", got)
	}
}
