package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
	"github.com/meridian-dns/meridian/internal/peer"
)

// The keys rotated between in these tests: A and B by name, A' under A's
// name with B's secret.
const (
	keyASecret = xfrSecret
	keyBSecret = otherSecret
)

// xfrConfig is a YAML config with one TSIG key and zones: a primary zone
// "ORIGIN=FILE" with allow-transfer naming the key, or a secondary zone
// "ORIGIN<PRIMARY" whose primary is signed with it.
func xfrConfig(listen, dataDir, keyName, secret string, zones ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: [%s]\nlog: {level: debug, format: json}\n", listen)
	if dataDir != "" {
		fmt.Fprintf(&b, "data-dir: %s\n", dataDir)
	}
	fmt.Fprintf(&b, "tsig-keys:\n  - name: %s\n    secret: %s\nzones:\n", keyName, secret)
	for _, z := range zones {
		if origin, file, ok := strings.Cut(z, "="); ok {
			fmt.Fprintf(&b, "  - origin: %s\n    file: %s\n    allow-transfer: [%s]\n", origin, file, keyName)
		} else if origin, primary, ok := strings.Cut(z, "<"); ok {
			fmt.Fprintf(&b, "  - origin: %s\n    type: secondary\n    primaries: [%s@%s]\n", origin, primary, keyName)
		}
	}
	return b.String()
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// watcher asks a server for a zone's SOA over and over until stopped, and
// records every answer that is not an authoritative NOERROR with one of
// the serials allowed: a reload must not make the zone fail, even once.
type watcher struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	asked   int
	failed  []string
	serials map[uint32]bool
}

func watch(addr, origin string, serials ...uint32) *watcher {
	w := &watcher{stop: make(chan struct{}), done: make(chan struct{}), serials: map[uint32]bool{}}
	for _, s := range serials {
		w.serials[s] = true
	}
	go func() {
		defer close(w.done)
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(origin), dns.TypeSOA)
		c := &dns.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			r, _, err := c.Exchange(m, addr)
			var bad string
			switch {
			case err != nil:
				bad = err.Error()
			case r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1:
				bad = fmt.Sprintf("%s aa=%v answers=%d", dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer))
			case !w.serials[r.Answer[0].(*dns.SOA).Serial]:
				bad = fmt.Sprintf("serial %d", r.Answer[0].(*dns.SOA).Serial)
			}
			w.mu.Lock()
			w.asked++
			if bad != "" {
				w.failed = append(w.failed, bad)
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// check stops the watcher once it has asked at least once more, and fails
// the test on any bad answer.
func (w *watcher) check(t *testing.T, what string) {
	t.Helper()
	w.mu.Lock()
	from := w.asked
	w.mu.Unlock()
	deadline := time.Now().Add(waitTimeout)
	for {
		w.mu.Lock()
		n := w.asked
		w.mu.Unlock()
		if n > from || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(w.stop)
	<-w.done
	if w.asked <= from {
		t.Errorf("%s: the watcher asked nothing more within %s", what, waitTimeout)
	}
	if len(w.failed) > 0 {
		t.Errorf("%s: %d of %d SOA queries failed, first: %s", what, len(w.failed), w.asked, w.failed[0])
	}
}

// kdigAXFR transfers origin from addr with kdig, signed with the key, and
// returns the records printed and kdig's complaints.
func kdigAXFR(t *testing.T, kdig, addr, origin, keyName, secret string) (records int, problems []string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kdig, "-y", "hmac-sha256:"+keyName+":"+secret, "@"+host, "-p", port,
		"+nocomments", "+nostats", "+noquestion", origin, "AXFR").CombinedOutput()
	if err != nil {
		problems = append(problems, err.Error())
	}
	for l := range strings.Lines(string(out)) {
		l = strings.TrimSpace(l)
		switch {
		case strings.Contains(l, "\tTSIG\t"): // the record closing a signed transfer
			if !strings.HasSuffix(l, " NOERROR 0") {
				problems = append(problems, l)
			}
		case strings.Contains(l, "fail") || strings.Contains(l, "BAD") || strings.Contains(l, "NOTAUTH") ||
			strings.Contains(l, "REFUSED") || strings.Contains(l, "WARNING") || strings.Contains(l, "ERROR"):
			problems = append(problems, l)
		case l != "" && !strings.HasPrefix(l, ";"):
			records++
		}
	}
	return records, problems
}

// signedAXFR sends an AXFR signed with the key and returns the first
// message's rcode and TSIG error, and whether it carried records.
func signedAXFR(t *testing.T, addr, origin, keyName, secret string) (rcode int, tsigErr uint16, records bool) {
	t.Helper()
	q := new(dns.Msg)
	q.SetAxfr(dns.Fqdn(origin))
	q.SetTsig(dns.Fqdn(keyName), dns.HmacSHA256, 300, time.Now().Unix())
	wire, _, err := dns.TsigGenerate(q, secret, "", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitTimeout))
	co := &dns.Conn{Conn: c}
	if _, err := co.Write(wire); err != nil {
		t.Fatal(err)
	}
	r, err := co.ReadMsg()
	if err != nil && r == nil {
		t.Fatal(err)
	}
	if ts := r.IsTsig(); ts != nil {
		tsigErr = ts.Error
	}
	return r.Rcode, tsigErr, len(r.Answer) > 0
}

// TestReloadRotatesTSIGKey: a primary started with key A, whose zone lets
// A transfer, is reloaded with key B only and B in allow-transfer: A gets
// BADKEY and B the zone, checked with kdig, and the zone answers every
// query meanwhile. Then the allow-transfer goes and the transfer is
// REFUSED.
func TestReloadRotatesTSIGKey(t *testing.T) {
	t.Parallel()
	kdig := peer.Require(t, "kdig")
	const origin = "rotate.example"
	dir := t.TempDir()
	writeZone(t, filepath.Join(dir, "rotate.zone"), origin, 1, false)
	cfgFile := filepath.Join(dir, "meridian.yaml")
	writeFile(t, cfgFile, xfrConfig("127.0.0.1:0", "", "key-a", keyASecret, origin+"=rotate.zone"))
	d := startDaemon(t, &config.Flags{ConfigFile: cfgFile})

	if n, problems := kdigAXFR(t, kdig, d.dns, origin, "key-a", keyASecret); n != 5 || len(problems) > 0 {
		t.Fatalf("kdig AXFR with key A before the reload: %d records, %q", n, problems)
	}
	if rcode, terr, _ := signedAXFR(t, d.dns, origin, "key-b", keyBSecret); rcode != dns.RcodeNotAuth || terr != dns.RcodeBadKey {
		t.Errorf("AXFR with key B before the reload: %s/%s, want NOTAUTH/BADKEY", dns.RcodeToString[rcode], dns.RcodeToString[int(terr)])
	}

	// A config whose allow-transfer names a key it no longer defines is
	// refused as a whole: nothing changes, key A still transfers.
	writeFile(t, cfgFile, fmt.Sprintf("listen: [127.0.0.1:0]\nlog: {level: debug, format: json}\n"+
		"tsig-keys: [{name: key-b, secret: %s}]\nzones: [{origin: %s, file: rotate.zone, allow-transfer: [key-a]}]\n", keyBSecret, origin))
	n := d.log.len()
	d.doReload(t)
	d.log.waitFor(t, n, "reload refused: invalid configuration; still serving the previous configuration and zones")
	if rcode, _, records := signedAXFR(t, d.dns, origin, "key-a", keyASecret); rcode != dns.RcodeSuccess || !records {
		t.Errorf("AXFR with key A after a refused reload: %s records %v", dns.RcodeToString[rcode], records)
	}

	w := watch(d.dns, origin, 1)
	writeFile(t, cfgFile, xfrConfig("127.0.0.1:0", "", "key-b", keyBSecret, origin+"=rotate.zone"))
	n = d.log.len()
	d.doReload(t)
	d.log.waitFor(t, n, "TSIG keys changed", "keys", "[key-b.]")
	d.log.waitFor(t, n, "zone transfer settings changed", "zone", origin+".")
	d.log.waitFor(t, n, "reload done")
	w.check(t, "during the key rotation")
	if strings.Contains(d.log.String(), "setting needs a restart") {
		t.Errorf("a reload warned about a restart:\n%s", d.log)
	}

	rcode, terr, records := signedAXFR(t, d.dns, origin, "key-a", keyASecret)
	if rcode != dns.RcodeNotAuth || terr != dns.RcodeBadKey || records {
		t.Errorf("AXFR with key A after the reload: %s/%s records %v, want NOTAUTH/BADKEY and none",
			dns.RcodeToString[rcode], dns.RcodeToString[int(terr)], records)
	}
	if n, problems := kdigAXFR(t, kdig, d.dns, origin, "key-a", keyASecret); n != 0 || len(problems) == 0 {
		t.Errorf("kdig AXFR with key A after the reload: %d records, no complaint", n)
	}
	if n, problems := kdigAXFR(t, kdig, d.dns, origin, "key-b", keyBSecret); n != 5 || len(problems) > 0 {
		t.Errorf("kdig AXFR with key B after the reload: %d records, %q", n, problems)
	}

	// The key stays, the zone is no longer fed: REFUSED, as a zone never
	// fed.
	writeFile(t, cfgFile, fmt.Sprintf("listen: [127.0.0.1:0]\nlog: {level: debug, format: json}\n"+
		"tsig-keys: [{name: key-b, secret: %s}]\nzones: [{origin: %s, file: rotate.zone}]\n", keyBSecret, origin))
	n = d.log.len()
	d.doReload(t)
	d.log.waitFor(t, n, "zone no longer fed to secondaries; transfers refused", "zone", origin+".")
	if rcode, _, records := signedAXFR(t, d.dns, origin, "key-b", keyBSecret); rcode != dns.RcodeRefused || records {
		t.Errorf("AXFR of a zone no longer fed: %s records %v, want REFUSED", dns.RcodeToString[rcode], records)
	}
}

// TestReloadFeedsWithoutReplication: a daemon started with no key and no
// zone fed refuses transfers (REFUSED, as it always has) and answers a
// signed query BADKEY; a reload that adds a key and an allow-transfer
// naming it feeds the zone, without a restart.
func TestReloadFeedsWithoutReplication(t *testing.T) {
	t.Parallel()
	const origin = "plain.example"
	dir := t.TempDir()
	writeZone(t, filepath.Join(dir, "plain.zone"), origin, 1, false)
	cfgFile := filepath.Join(dir, "meridian.yaml")
	writeConfig(t, cfgFile, origin, "plain.zone")
	d := startDaemon(t, &config.Flags{ConfigFile: cfgFile})

	r, _, err := (&dns.Client{Net: "tcp", Timeout: waitTimeout}).Exchange(axfrMsg(origin), d.dns)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("unsigned AXFR without replication: %v %v, want REFUSED", r, err)
	}
	if rcode, terr, records := signedAXFR(t, d.dns, origin, "key-a", keyASecret); rcode != dns.RcodeNotAuth || terr != dns.RcodeBadKey || records {
		t.Errorf("signed AXFR without keys: %s/%s records %v, want NOTAUTH/BADKEY", dns.RcodeToString[rcode], dns.RcodeToString[int(terr)], records)
	}

	writeFile(t, cfgFile, xfrConfig("127.0.0.1:0", "", "key-a", keyASecret, origin+"=plain.zone"))
	n := d.log.len()
	d.doReload(t)
	d.log.waitFor(t, n, "reload done")
	rrs := axfr(t, d.dns, origin, &peer.Key{Name: "key-a", Algorithm: "hmac-sha256", Secret: keyASecret})
	if len(rrs) != 4 {
		t.Errorf("AXFR after the reload: %d records, want 4", len(rrs))
	}
}

// TestReloadRekeysSecondary: a secondary whose primary's key changes,
// to another name or to a new secret under the same name, is re-keyed by
// a reload without ever ceasing to serve its copy, then transfers the
// primary's next version with the new key.
func TestReloadRekeysSecondary(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, newName string }{
		{"new key name", "key-b"},
		{"same name, new secret", "key-a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			const origin = "rekey.example"
			dir := t.TempDir()
			zf := filepath.Join(dir, "rekey.zone")
			writeZone(t, zf, origin, 1, false)
			primCfg, secCfg := filepath.Join(dir, "primary.yaml"), filepath.Join(dir, "secondary.yaml")
			writeFile(t, primCfg, xfrConfig("127.0.0.1:0", "", "key-a", keyASecret, origin+"=rekey.zone"))
			prim := startDaemon(t, &config.Flags{ConfigFile: primCfg})
			writeFile(t, secCfg, xfrConfig("127.0.0.1:0", "data", "key-a", keyASecret, origin+"<"+prim.dns))
			sec := startDaemon(t, &config.Flags{ConfigFile: secCfg})
			waitSerial(t, sec.dns, origin, 1, waitTimeout, &process{log: sec.log})

			// The primary moves to the new key and serial 2: the
			// secondary, still on the old key, cannot follow (and its
			// REFRESH is 7200s, so only the re-key explains a transfer).
			writeZone(t, zf, origin, 2, false)
			writeFile(t, primCfg, xfrConfig("127.0.0.1:0", "", c.newName, keyBSecret, origin+"=rekey.zone"))
			n := prim.log.len()
			prim.doReload(t)
			prim.log.waitFor(t, n, "reload done")

			w := watch(sec.dns, origin, 1, 2)
			writeFile(t, secCfg, xfrConfig("127.0.0.1:0", "data", c.newName, keyBSecret, origin+"<"+prim.dns))
			n = sec.log.len()
			sec.doReload(t)
			sec.log.waitFor(t, n, "secondary zone primaries changed", "zone", origin+".")
			sec.log.waitFor(t, n, "reload done")
			waitSerial(t, sec.dns, origin, 2, waitTimeout, &process{log: sec.log})
			w.check(t, "during the secondary's re-key")
			sec.log.waitFor(t, n, "secondary: transferred", "serial", "2")
			if strings.Contains(sec.log.String(), "secondary zone removed") {
				t.Errorf("the re-key removed the zone:\n%s", sec.log)
			}
		})
	}
}

func axfrMsg(origin string) *dns.Msg {
	m := new(dns.Msg)
	m.SetAxfr(dns.Fqdn(origin))
	return m
}
