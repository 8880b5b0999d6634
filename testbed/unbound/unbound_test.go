package unbound

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// requireEnv turns a missing unbound from a skip into a failure, as in
// internal/peer.
const requireEnv = "MERIDIAN_REQUIRE_PEERS"

func requireUnbound(t *testing.T) {
	t.Helper()
	if ok, why := Available(); !ok {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s (%s=1)", why, requireEnv)
		}
		t.Skipf("%s; skipping (set %s=1 to make this a failure)", why, requireEnv)
	}
}

// rootZone is served by the test's root server, authoritative for x.mer.
// as well since nothing is delegated.
const rootZone = `
.            3600 IN SOA a.root.mer. admin.mer. 1 3600 600 86400 60
.            3600 IN NS  a.root.mer.
a.root.mer. 3600 IN A   127.77.0.1
x.mer.      300  IN A   192.0.2.7
x.test.     300  IN A   192.0.2.8
`

// authServer answers from rootZone and records the source addresses of
// the queries it sees.
type authServer struct {
	rrs     []dns.RR
	mu      sync.Mutex
	sources map[netip.Addr]int
}

func (a *authServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if ap, err := netip.ParseAddrPort(w.RemoteAddr().String()); err == nil {
		a.mu.Lock()
		a.sources[ap.Addr().Unmap()]++
		a.mu.Unlock()
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	exists := false
	for _, rr := range a.rrs {
		h := rr.Header()
		if dns.CanonicalName(h.Name) == dns.CanonicalName(q.Name) && h.Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
		// A name exists if it owns records or has descendants that do
		// (an empty non-terminal, which QNAME minimisation asks about).
		if dns.IsSubDomain(q.Name, h.Name) {
			exists = true
		}
	}
	switch {
	case len(m.Answer) > 0 && q.Qtype == dns.TypeNS:
		for _, rr := range a.rrs {
			if rr.Header().Rrtype == dns.TypeA && rr.Header().Name == "a.root.mer." {
				m.Extra = append(m.Extra, rr)
			}
		}
	case len(m.Answer) == 0:
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, a.rrs[0]) // the SOA
	}
	_ = w.WriteMsg(m)
}

// startAuth serves rootZone on port 53 of addr, which only root may bind.
func startAuth(t *testing.T, addr string) *authServer {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: Unbound sends its iterative queries to port 53 only")
	}
	a := &authServer{sources: map[netip.Addr]int{}}
	zp := dns.NewZoneParser(strings.NewReader(rootZone), ".", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		a.rrs = append(a.rrs, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, "53"))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: a, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	<-started
	return a
}

func (a *authServer) queriesFrom(addr netip.Addr) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sources[addr]
}

// freePort returns a UDP port on addr that was free a moment ago.
func freePort(t *testing.T, addr string) uint16 {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port)
}

func writeHints(t *testing.T, root string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "root.hints")
	hints := ".  3600000 NS a.root.mer.\na.root.mer. 3600000 A " + root + "\n"
	if err := os.WriteFile(p, []byte(hints), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolve(t *testing.T) {
	t.Parallel()
	requireUnbound(t)
	auth := startAuth(t, "127.77.0.1")
	addr := netip.MustParseAddr("127.77.0.2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := Start(ctx, Config{
		Dir:       t.TempDir(),
		Addr:      addr,
		Port:      freePort(t, addr.String()),
		RootHints: writeHints(t, "127.77.0.1"),
		Zones:     []string{"test."}, // else answered NXDOMAIN by Unbound itself (RFC 6761)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	server := r.Addr().String()
	c := &dns.Client{Timeout: 5 * time.Second}
	for i, want := range []struct{ name, addr string }{{"x.mer.", "192.0.2.7"}, {"x.mer.", "192.0.2.7"}, {"x.test.", "192.0.2.8"}} {
		q := new(dns.Msg)
		q.SetQuestion(want.name, dns.TypeA)
		resp, _, err := c.Exchange(q, server)
		if err != nil {
			t.Fatalf("query %d: %v; log:\n%s", i, err, tail(r.Log(), 30))
		}
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
			t.Fatalf("query %d: %v", i, resp)
		}
		a, ok := resp.Answer[0].(*dns.A)
		if !ok || a.A.String() != want.addr {
			t.Fatalf("query %d: answer %v, want %s A %s", i, resp.Answer[0], want.name, want.addr)
		}
	}

	st, err := r.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Queries != 3 || st.CacheHits < 1 {
		t.Errorf("stats %+v, want 3 queries and at least 1 cache hit", st)
	}
	if n := auth.queriesFrom(addr); n == 0 {
		t.Errorf("the root saw no queries from %v", addr)
	}

	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if r.cmd.ProcessState == nil {
		t.Error("no process state after Close: not waited for")
	}
	if err := syscall.Kill(r.cmd.Process.Pid, 0); err != syscall.ESRCH {
		t.Errorf("kill -0 after Close: %v, want ESRCH", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := r.Stats(); err == nil {
		t.Error("Stats after Close succeeded")
	}
}

func TestStartBadConfig(t *testing.T) {
	t.Parallel()
	requireUnbound(t)
	hints := writeHints(t, "127.77.0.1")
	good := func() Config {
		return Config{Dir: t.TempDir(), Addr: netip.MustParseAddr("127.77.0.3"), Port: 5353, RootHints: hints}
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string // in the error
	}{
		{"no addr", func(c *Config) { c.Addr = netip.Addr{} }, "Config.Addr is not a valid address"},
		{"no port", func(c *Config) { c.Port = 0 }, "Config.Port is 0"},
		{"no hints file", func(c *Config) { c.RootHints = filepath.Join(c.Dir, "missing") }, "root hints"},
		{"quote in dir", func(c *Config) { c.Dir = filepath.Join(c.Dir, `a"b`) }, "cannot hold"},
		{"long dir", func(c *Config) { c.Dir = filepath.Join(c.Dir, strings.Repeat("d", 100)) }, "shorter Config.Dir"},
		// TEST-NET-1 is on no interface here: unbound exits at bind.
		{"foreign addr", func(c *Config) { c.Addr = netip.MustParseAddr("192.0.2.1") }, "exited before it was ready"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := good()
			tc.edit(&c)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := Start(ctx, c)
			if err == nil {
				r.Close()
				t.Fatal("Start succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestParseStats(t *testing.T) {
	t.Parallel()
	out := "thread0.num.queries=9\ntotal.num.queries=12\ntotal.num.queries_ip_ratelimited=0\n" +
		"total.num.cachehits=7\ntotal.num.cachemiss=5\ntotal.num.prefetch=2\ntotal.num.expired=1\n" +
		"total.requestlist.avg=0.5\n"
	got, err := parseStats([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Queries: 12, CacheHits: 7, CacheMiss: 5, Prefetch: 2, Expired: 1}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseStats([]byte("total.num.queries=1\n")); err == nil {
		t.Error("partial output accepted")
	}
}
