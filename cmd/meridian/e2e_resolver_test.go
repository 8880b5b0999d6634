package main

// End to end for `meridian resolver`: the hermetic hierarchy of
// testdata/zones/hier served by `meridian auth` subprocesses, the resolver
// as a subprocess, and real clients against it. dig and kdig run on
// loopback without privileges, the hierarchy on a shared free port given
// to the resolver with -ns-port. glibc's stub resolver (getent) and the
// differential against Unbound need the hierarchy on port 53, since
// neither Unbound nor the stub can be told another port: they run in a
// network namespace of the test's own, where port 53 is ours alone.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/internal/peer"
	"github.com/meridian-dns/meridian/internal/testhier"
)

const hierDir = "../../testdata/zones/hier"

// proc is a subprocess in a process group of its own, stopped in
// t.Cleanup.
type proc struct {
	cmd  *exec.Cmd
	out  *logRecords
	done chan struct{} // closed when it has exited
	once sync.Once
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{out: newLogRecords(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop sends SIGTERM, then SIGKILL to the group after 5s, and waits.
func (p *proc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startHier starts one `meridian auth` per server of the hierarchy, all on
// one port, and returns the port: the one given, or with 0 a free one,
// tried again with another if a server could not bind it.
func startHier(t *testing.T, bin string, port int) int {
	t.Helper()
	for attempt := 0; ; attempt++ {
		p := port
		if p == 0 {
			var err error
			if p, err = peer.FreePort(testhier.Servers[0].Addr); err != nil {
				t.Fatal(err)
			}
		}
		procs, died, err := tryHier(t, bin, p)
		if err == nil {
			return p
		}
		for _, pr := range procs {
			pr.stop()
		}
		if port != 0 || !died || attempt == 2 {
			t.Fatal(err)
		}
	}
}

func tryHier(t *testing.T, bin string, port int) (procs []*proc, died bool, err error) {
	t.Helper()
	for _, s := range testhier.Servers {
		args := []string{"auth", "-listen", net.JoinHostPort(s.Addr, strconv.Itoa(port)), "-metrics="}
		for _, z := range s.Zones {
			args = append(args, "-zone", z+"="+filepath.Join(hierDir, testhier.Files[z]))
		}
		procs = append(procs, startProc(t, bin, args...))
	}
	// All start at once; then each is waited for in turn.
	for i, s := range testhier.Servers {
		addr := net.JoinHostPort(s.Addr, strconv.Itoa(port))
		if len(s.Zones) == 0 {
			err = peer.WaitAnswer(addr, waitTimeout, procs[i].done)
		} else {
			err = peer.WaitSOA(addr, s.Zones, waitTimeout, procs[i].done)
		}
		if err != nil {
			return procs, procs[i].exited(), fmt.Errorf("meridian auth on %s: %w; output:\n%s", addr, err, procs[i].out)
		}
	}
	return procs, false, nil
}

// startResolver runs `meridian resolver` on host:port (port 0: a free
// one) for the hierarchy on nsPort, and returns its address once it
// answers.
func startResolver(t *testing.T, bin, host string, port, nsPort int) string {
	t.Helper()
	for attempt := 0; ; attempt++ {
		p := port
		if p == 0 {
			var err error
			if p, err = peer.FreePort(host); err != nil {
				t.Fatal(err)
			}
		}
		addr := net.JoinHostPort(host, strconv.Itoa(p))
		args := []string{"resolver", "-listen", addr, "-root-hints", filepath.Join(hierDir, "root.hints"), "-metrics="}
		if nsPort != 53 {
			args = append(args, "-ns-port", strconv.Itoa(nsPort))
		}
		r := startProc(t, bin, args...)
		err := peer.WaitAnswer(addr, waitTimeout, r.done)
		if err == nil {
			return addr
		}
		died := r.exited()
		r.stop()
		if port != 0 || !died || attempt == 2 {
			t.Fatalf("meridian %s: %v; output:\n%s", strings.Join(args, " "), err, r.out)
		}
	}
}

var digEDE = regexp.MustCompile(`(?m)^; EDE: \d+`)

// digSections reads the final message that dig or kdig printed into its
// sections, each record as "owner IN TYPE RDATA" with the owner lower-cased
// and the TTL, which counts down in a resolver's cache, left out.
func digSections(out string) map[string][]string {
	if i := strings.LastIndex(out, "->>HEADER<<-"); i >= 0 {
		out = out[i:]
	}
	secs := map[string][]string{}
	sec := ""
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == ";;" && f[2] == "SECTION:" {
			sec = f[1]
			continue
		}
		if sec == "" || !digRecord.MatchString(l) {
			continue
		}
		f := strings.Fields(l)
		secs[sec] = append(secs[sec], strings.ToLower(f[0])+" "+strings.Join(f[2:], " "))
	}
	return secs
}

// digTTL returns the TTL of the first record in out's final answer
// section, or -1.
func digTTL(out string) int {
	if i := strings.LastIndex(out, ";; ANSWER SECTION:"); i >= 0 {
		for _, l := range strings.Split(out[i:], "\n")[1:] {
			if digRecord.MatchString(l) {
				n, _ := strconv.Atoi(strings.Fields(l)[1])
				return n
			}
		}
	}
	return -1
}

func TestE2EResolverDig(t *testing.T) {
	t.Parallel()
	dig := peer.Require(t, "dig")
	kdig := peer.Require(t, "kdig")
	bin := buildMeridian(t)
	nsPort := startHier(t, bin, 0)
	host, port, err := net.SplitHostPort(startResolver(t, bin, "127.0.0.1", 0, nsPort))
	if err != nil {
		t.Fatal(err)
	}

	const (
		www     = "www.example.org. IN A 192.0.2.1"
		www6    = "www.example.org. IN AAAA 2001:db8::1"
		alias   = "alias.example.org. IN CNAME www.other.net."
		other   = "www.other.net. IN A 192.0.2.2"
		subhost = "host.sub.example.org. IN A 192.0.2.3"
		soa     = "example.org. IN SOA ns1.example.org. hostmaster.example.org. 1 1800 900 604800 60"
		txt     = `txt.example.org. IN TXT "only text here"`
	)
	type check func(t *testing.T, out string)
	status := func(s string) check {
		return func(t *testing.T, out string) {
			if d := parseDig(out); d.status != s {
				t.Errorf("status %q, want %s", d.status, s)
			}
		}
	}
	flags := func(want ...string) check { // exactly these: RA set, AA and AD clear
		return func(t *testing.T, out string) {
			got := slices.Sorted(slices.Values(parseDig(out).flags))
			if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Errorf("flags %v, want %v", got, want)
			}
		}
	}
	section := func(name string, want ...string) check { // exactly these records, in any order
		return func(t *testing.T, out string) {
			got := slices.Sorted(slices.Values(digSections(out)[name]))
			if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Errorf("%s section %q, want %q", name, got, want)
			}
		}
	}
	overTCP := func(t *testing.T, out string) {
		if !parseDig(out).tcp {
			t.Error("answer not over TCP")
		}
	}
	ede := func(t *testing.T, out string) {
		if !digEDE.MatchString(out) {
			t.Error("no extended DNS error (RFC 8914) printed")
		}
	}
	ttlAtMost := func(limit int) check { // a cached TTL has not grown
		return func(t *testing.T, out string) {
			if n := digTTL(out); n < 0 || n > limit {
				t.Errorf("answer TTL %d, want 0..%d", n, limit)
			}
		}
	}
	rec := []string{"qr", "rd", "ra"}
	norec := []string{"qr", "ra"}

	type digCase struct {
		name   string
		tool   string
		args   []string
		checks []check
	}
	run := func(t *testing.T, tc digCase) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args := []string{"@" + host, "-p", port, "+time=5", "+tries=1"}
		if tc.tool == kdig {
			args = []string{"@" + host, "-p", port, "+time=5", "+retry=0"}
		}
		cmd := exec.CommandContext(ctx, tc.tool, append(args, tc.args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", tc.tool, strings.Join(cmd.Args[1:], " "), err, out)
		}
		for _, c := range tc.checks {
			c(t, string(out))
		}
		if t.Failed() {
			t.Logf("%s %s printed:\n%s", tc.tool, strings.Join(cmd.Args[1:], " "), out)
		}
	}

	// First every name cold, in parallel; then, from the cache, with RD
	// clear: a resolver answers those from its cache alone.
	for _, phase := range []struct {
		name  string
		cases []digCase
	}{
		{"cold", []digCase{
			{"dig www", dig, []string{"www.example.org", "A"},
				[]check{status("NOERROR"), flags(rec...), section("ANSWER", www)}},
			{"kdig www AAAA", kdig, []string{"www.example.org", "AAAA"},
				[]check{status("NOERROR"), flags(rec...), section("ANSWER", www6)}},
			{"dig CNAME across zones", dig, []string{"alias.example.org", "A"},
				[]check{status("NOERROR"), flags(rec...), section("ANSWER", alias, other)}},
			{"kdig glueless", kdig, []string{"host.sub.example.org", "A"},
				[]check{status("NOERROR"), flags(rec...), section("ANSWER", subhost)}},
			{"dig nxdomain", dig, []string{"nope.example.org", "A"},
				[]check{status("NXDOMAIN"), flags(rec...), section("ANSWER"), section("AUTHORITY", soa)}},
			{"kdig nodata", kdig, []string{"txt.example.org", "A"},
				[]check{status("NOERROR"), flags(rec...), section("ANSWER"), section("AUTHORITY", soa)}},
			{"dig tcp", dig, []string{"+tcp", "txt.example.org", "TXT"},
				[]check{status("NOERROR"), flags(rec...), section("ANSWER", txt), overTCP}},
			{"dig dead delegation", dig, []string{"www.dead.org", "A"},
				[]check{status("SERVFAIL"), flags(rec...), section("ANSWER"), ede}},
			{"kdig dead delegation", kdig, []string{"www.dead.org", "A"},
				[]check{status("SERVFAIL"), flags(rec...), section("ANSWER")}},
		}},
		{"cached", []digCase{
			{"dig norec www", dig, []string{"+norec", "www.example.org", "A"},
				[]check{status("NOERROR"), flags(norec...), section("ANSWER", www), ttlAtMost(300)}},
			{"kdig norec CNAME", kdig, []string{"+norec", "alias.example.org", "A"},
				[]check{status("NOERROR"), flags(norec...), section("ANSWER", alias, other)}},
			{"dig norec nxdomain", dig, []string{"+norec", "nope.example.org", "A"},
				[]check{status("NXDOMAIN"), flags(norec...), section("ANSWER"), section("AUTHORITY", soa)}},
			{"dig norec glueless", dig, []string{"+norec", "host.sub.example.org", "A"},
				[]check{status("NOERROR"), flags(norec...), section("ANSWER", subhost), ttlAtMost(300)}},
		}},
	} {
		t.Run(phase.name, func(t *testing.T) {
			for _, tc := range phase.cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					run(t, tc)
				})
			}
		})
	}
}

// netnsEnv carries the namespace's name to the test binary re-run inside
// it, and tells that run it is the one inside; netnsBinEnv carries the
// meridian binary built outside.
const (
	netnsEnv    = "MERIDIAN_E2E_NETNS"
	netnsBinEnv = "MERIDIAN_E2E_NETNS_BIN"
)

// TestE2EResolverNetns creates a network namespace with its own resolv.conf
// and re-runs this test inside it (ip netns exec), where the hierarchy,
// `meridian resolver` and Unbound all listen on port 53 of the namespace's
// loopback: the run inside is netnsChild.
func TestE2EResolverNetns(t *testing.T) {
	if ns := os.Getenv(netnsEnv); ns != "" {
		netnsChild(t, os.Getenv(netnsBinEnv))
		return
	}
	t.Parallel()
	// Root is a privilege, not a peer: the test is skipped without it even
	// when MERIDIAN_REQUIRE_PEERS=1.
	if os.Geteuid() != 0 {
		t.Skipf("needs root for a network namespace and port 53 (a privilege, not a peer: skipped even with %s=1)", peer.RequireEnv)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skipf("needs ip(8) from iproute2 for a network namespace: %v (a system tool, not a peer: skipped even with %s=1)", err, peer.RequireEnv)
	}
	peer.Require(t, "unbound")
	peer.Require(t, "getent")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := buildMeridian(t)
	ns := newNetns(t, ip)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip, "netns", "exec", ns, exe,
		"-test.run=^TestE2EResolverNetns$", "-test.v", "-test.timeout=4m")
	cmd.Env = append(os.Environ(), netnsEnv+"="+ns, netnsBinEnv+"="+bin)
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Errorf("the run inside namespace %s failed: %v; its output:\n%s", ns, err, out)
	case strings.Contains(string(out), "--- SKIP: TestE2EResolverNetns "):
		t.Skipf("skipped inside namespace %s:\n%s", ns, out)
	default:
		t.Logf("the run inside namespace %s:\n%s", ns, out)
	}
}

// newNetns creates a network namespace with loopback up, and files in
// /etc/netns/NAME that `ip netns exec` bind-mounts over /etc: a
// resolv.conf pointing at 127.0.0.1, and hosts and nsswitch.conf so that
// getent asks DNS and nothing else (no systemd-resolved, no mDNS). Cleanup
// kills what is left in the namespace, all of it started by this test,
// and removes it all.
func newNetns(t *testing.T, ip string) string {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	ns := fmt.Sprintf("meridian-e2e-%d-%s", os.Getpid(), hex.EncodeToString(b[:]))
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add %s: %v: %s (a privilege, not a peer: skipped even with %s=1)", ns, err, out, peer.RequireEnv)
	}
	etc := filepath.Join("/etc/netns", ns)
	t.Cleanup(func() {
		out, _ := exec.Command(ip, "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if out, err := exec.Command(ip, "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
		_ = os.RemoveAll(etc)
		_ = os.Remove("/etc/netns") // only if empty: not ours otherwise
	})
	// getaddrinfo's AI_ADDRCONFIG, which getent ahosts sets, asks for
	// IPv4 (IPv6) only when an address other than 127.0.0.1 (::1) is
	// configured: one of each, on lo, as a host on a network would have.
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", "10.53.0.1/32", "dev", "lo"},
		{"addr", "add", "fd53::1/128", "dev", "lo", "nodad"},
	} {
		if out, err := exec.Command(ip, append([]string{"netns", "exec", ns, ip}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s in namespace %s: %v: %s", strings.Join(args, " "), ns, err, out)
		}
	}
	files := map[string]string{
		"resolv.conf":   "nameserver 127.0.0.1\noptions timeout:3 attempts:2\n",
		"hosts":         "127.0.0.1 localhost\n",
		"nsswitch.conf": "hosts: files dns\n",
	}
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ns
}

// netnsChild is the run inside the namespace: the hierarchy on port 53,
// `meridian resolver` on 127.0.0.1:53 (resolv.conf's nameserver), Unbound
// on 127.0.0.2:53. The differential runs first so that it sees
// Meridian's cache cold.
func netnsChild(t *testing.T, bin string) {
	if bin == "" {
		t.Fatalf("%s is not set", netnsBinEnv)
	}
	startHier(t, bin, 53)
	mer := startResolver(t, bin, "127.0.0.1", 53, 53)
	ub := peer.StartUnbound(t, peer.UnboundOptions{
		RootHints: filepath.Join(hierDir, "root.hints"),
		Addr:      "127.0.0.2",
		Port:      53,
		// Unbound backs off from the dead server for up to 120s by
		// default and drops the client's query long before; capped,
		// it gives up on www.dead.org within a second.
		Extra: []string{"infra-cache-max-rtt: 500"},
	})
	t.Run("unbound", func(t *testing.T) { differential(t, mer, ub.Addr) })
	t.Run("getent", func(t *testing.T) { getent(t, false) })
	// RES_OPTIONS=use-vc: glibc asks over TCP, and getaddrinfo writes the
	// A and AAAA questions back to back on one connection before reading
	// either answer: pipelined (RFC 7766 §6.2.1.1).
	t.Run("getent-tcp", func(t *testing.T) { getent(t, true) })
	t.Run("unbound-forwarding-tcp", func(t *testing.T) { forwarderTCP(t, bin, mer) })
}

// forwarderTCP puts an Unbound in front of Meridian, forwarding every
// question to it over TCP (tcp-upstream), and asks it all the questions at
// once: Unbound reuses its TCP streams and pipelines its queries on them,
// and answers arrive out of order. Each answer must be Meridian's own.
func forwarderTCP(t *testing.T, bin, mer string) {
	host, port, _ := net.SplitHostPort(mer)
	fw := peer.StartUnbound(t, peer.UnboundOptions{
		RootHints: filepath.Join(hierDir, "root.hints"),
		Addr:      "127.0.0.3",
		Port:      53,
		Extra: []string{
			"tcp-upstream: yes",
			"infra-cache-max-rtt: 500",
			"forward-zone:",
			`name: "."`,
			"forward-addr: " + host + "@" + port,
		},
	})
	type result struct{ via, direct string }
	results := make([]result, len(resolverQuestions))
	ask := func(addr, name string, qtype uint16) string {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, false)
		r, _, err := (&dns.Client{Net: "tcp", Timeout: 8 * time.Second}).Exchange(m, addr)
		if err != nil {
			return "error: " + err.Error()
		}
		return answerKey(r)
	}
	var wg sync.WaitGroup
	for i, q := range resolverQuestions {
		wg.Go(func() { results[i].via = ask(fw.Addr, q.name, q.qtype) })
	}
	wg.Wait()
	for i, q := range resolverQuestions {
		results[i].direct = ask(mer, q.name, q.qtype)
		if results[i].via != results[i].direct {
			t.Errorf("%s %s: through Unbound over TCP %s, from Meridian %s", q.name, dns.TypeToString[q.qtype], results[i].via, results[i].direct)
		}
	}
}

// resolverQuestions are asked of both resolvers: every kind of answer the
// hierarchy holds.
var resolverQuestions = []struct {
	name  string
	qtype uint16
}{
	{"www.example.org.", dns.TypeA},
	{"www.example.org.", dns.TypeAAAA},
	{"www.example.org.", dns.TypeMX},
	{"alias.example.org.", dns.TypeA},
	{"inalias.example.org.", dns.TypeA},
	{"www.dname.example.org.", dns.TypeA},
	{"x.wild.example.org.", dns.TypeA},
	{"y.z.wild.example.org.", dns.TypeA},
	{"wild.example.org.", dns.TypeA},
	{"host.sub.example.org.", dns.TypeA},
	{"nope.sub.example.org.", dns.TypeA},
	{"sub.example.org.", dns.TypeNS},
	{"nope.example.org.", dns.TypeA},
	{"txt.example.org.", dns.TypeTXT},
	{"txt.example.org.", dns.TypeA},
	{"a.b.c.d.e.f.g.example.org.", dns.TypeA},
	{"d.e.f.g.example.org.", dns.TypeA},
	{"example.org.", dns.TypeSOA},
	{"example.org.", dns.TypeNS},
	{"ns2.example.org.", dns.TypeA},
	{"www.other.net.", dns.TypeA},
	{"nope.net.", dns.TypeA},
	{"nope.org.", dns.TypeA},
	{"org.", dns.TypeNS},
	{"loop.example.org.", dns.TypeA},
	{"www.dead.org.", dns.TypeA},
}

// differential asks Meridian and Unbound each question twice, cold and
// then from the cache, and compares the rcode and the answer section
// (sorted, names lower-cased, TTLs left out).
func differential(t *testing.T, mer, ub string) {
	c := &dns.Client{Net: "udp", Timeout: 8 * time.Second}
	ask := func(addr, name string, qtype uint16) string {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, false)
		r, _, err := c.Exchange(m, addr)
		if err == nil && r.Truncated {
			r, _, err = (&dns.Client{Net: "tcp", Timeout: c.Timeout}).Exchange(m, addr)
		}
		if err != nil {
			return "error: " + err.Error()
		}
		return answerKey(r)
	}
	var table strings.Builder
	for _, q := range resolverQuestions {
		for _, pass := range []string{"cold", "cached"} {
			qs := q.name + " " + dns.TypeToString[q.qtype]
			m, u := ask(mer, q.name, q.qtype), ask(ub, q.name, q.qtype)
			fmt.Fprintf(&table, "%-32s %-6s meridian: %s\n%39s unbound:  %s\n", qs, pass, m, "", u)
			if m != u {
				t.Errorf("%s (%s): Meridian and Unbound differ\n  meridian: %s\n  unbound:  %s", qs, pass, m, u)
			}
		}
	}
	t.Logf("answers:\n%s", &table)
}

// answerKey is the rcode and the sorted answer section, each record
// without its TTL, names lower-cased.
func answerKey(r *dns.Msg) string {
	rrs := make([]string, 0, len(r.Answer))
	for _, rr := range r.Answer {
		rr = dns.Copy(rr)
		rr.Header().Ttl = 0
		f := strings.Fields(rr.String())
		owner, typ, data := strings.ToLower(f[0]), f[3], strings.Join(f[4:], " ")
		if typ != "TXT" { // every other type here has names or addresses
			data = strings.ToLower(data)
		}
		rrs = append(rrs, owner+" "+typ+" "+data)
	}
	slices.Sort(rrs)
	return dns.RcodeToString[r.Rcode] + " [" + strings.Join(rrs, "; ") + "]"
}

// getent asks glibc's stub resolver, which reads the namespace's
// resolv.conf and so asks `meridian resolver` on 127.0.0.1:53. hosts uses
// gethostbyname2 (AAAA, then A if there is none); ahosts uses getaddrinfo,
// which sends the A and AAAA questions at once from one socket. With tcp,
// glibc asks over TCP (use-vc).
func getent(t *testing.T, tcp bool) {
	for _, tc := range []struct {
		db, name string
		status   int
		want     []string // words the output must hold
	}{
		{"hosts", "www.example.org", 0, []string{"2001:db8::1", "www.example.org"}},
		{"ahosts", "www.example.org", 0, []string{"2001:db8::1", "192.0.2.1", "www.example.org"}},
		{"ahostsv4", "alias.example.org", 0, []string{"192.0.2.2", "www.other.net"}},
		{"hosts", "alias.example.org", 0, []string{"192.0.2.2", "www.other.net", "alias.example.org"}},
		{"hosts", "host.sub.example.org", 0, []string{"192.0.2.3", "host.sub.example.org"}},
		{"ahosts", "x.wild.example.org", 0, []string{"192.0.2.7"}},
		{"hosts", "nope.example.org", 2, nil}, // 2: not found
		{"ahosts", "txt.example.org", 2, nil},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "getent", tc.db, tc.name)
		if tcp {
			cmd.Env = append(os.Environ(), "RES_OPTIONS=use-vc")
		}
		out, err := cmd.Output()
		cancel()
		status := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("getent %s %s: %v", tc.db, tc.name, err)
		}
		if status != tc.status {
			t.Errorf("getent %s %s: exit status %d, want %d; printed %q", tc.db, tc.name, status, tc.status, out)
			continue
		}
		words := strings.Fields(string(out))
		for _, w := range tc.want {
			if !slices.Contains(words, w) {
				t.Errorf("getent %s %s printed %q, want %q in it", tc.db, tc.name, out, w)
			}
		}
	}
}
