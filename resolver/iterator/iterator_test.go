package iterator

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/resolver/cache"
	"github.com/meridian-dns/meridian/zone"
)

// hier is the hermetic hierarchy of testdata/zones/hier, served in memory:
// each server address answers from its zone set with the semantics of
// meridian auth, and every question it receives is logged.
type hier struct {
	servers map[netip.Addr]*zone.Set
	tamper  func(server netip.Addr, m *dns.Msg)       // optional: a hostile server
	drop    func(server netip.Addr, name string) bool // optional: a lost query, a timeout

	mu  sync.Mutex
	log map[netip.Addr][]dns.Question
}

func loadHier(t testing.TB) *hier {
	t.Helper()
	load := func(origin, file string) *zone.Zone {
		z, _, err := zone.Load(origin, filepath.Join("..", "..", "testdata", "zones", "hier", file), zone.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return z
	}
	root, org, net := load(".", "root.zone"), load("org.", "org.zone"), load("net.", "net.zone")
	ex, other, sub := load("example.org.", "example.org.zone"), load("other.net.", "other.net.zone"), load("sub.example.org.", "sub.example.org.zone")
	a := netip.MustParseAddr
	return &hier{
		servers: map[netip.Addr]*zone.Set{
			a("127.53.0.1"): zone.NewSet(root),
			a("127.53.1.1"): zone.NewSet(org),
			a("127.53.1.2"): zone.NewSet(org),
			a("127.53.2.1"): zone.NewSet(net),
			a("127.53.3.1"): zone.NewSet(ex),
			a("127.53.3.2"): zone.NewSet(ex),
			a("127.53.3.3"): zone.NewSet(ex),
			a("127.53.3.9"): zone.NewSet(), // lame: REFUSED
			a("127.53.4.1"): zone.NewSet(other, sub),
			// 127.53.9.9 (ns.dead.org) does not answer at all.
		},
		log: map[netip.Addr][]dns.Question{},
	}
}

// exchange answers as an authoritative server would.
func (h *hier) exchange(server netip.Addr, name string, qtype uint16) (*dns.Msg, error) {
	h.mu.Lock()
	h.log[server] = append(h.log[server], dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET})
	h.mu.Unlock()
	set, ok := h.servers[server]
	if !ok || h.drop != nil && h.drop(server, name) {
		return nil, errTimeout
	}
	var res zone.Result
	set.Lookup(name, qtype, false, &res)
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response = true
	switch res.Kind {
	case zone.Success, zone.CNAMEOut, zone.NoData:
		m.Authoritative = true
	case zone.NXDomain:
		m.Authoritative, m.Rcode = true, dns.RcodeNameError
	case zone.Referral:
		m.Authoritative = len(res.Answer) > 0
	case zone.NotAuth:
		m.Rcode = dns.RcodeRefused
	default:
		m.Rcode = dns.RcodeServerFailure
	}
	m.Answer = slices.Clone(res.Answer)
	m.Ns = slices.Clone(res.Ns)
	m.Extra = slices.Clone(res.Extra)
	if h.tamper != nil {
		h.tamper(server, m)
	}
	return m, nil
}

type timeoutError struct{}

func (timeoutError) Error() string { return "timeout" }
func (timeoutError) Timeout() bool { return true }

var errTimeout error = timeoutError{}

func (h *hier) questions(server string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, q := range h.log[netip.MustParseAddr(server)] {
		out = append(out, strings.ToLower(q.Name)+" "+dns.TypeToString[q.Qtype])
	}
	return out
}

func (h *hier) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, qs := range h.log {
		n += len(qs)
	}
	return n
}

// driver does for the tests what the resolver does: cache, root hints,
// exchanges and bounded sub-resolutions for glueless delegations.
type driver struct {
	t     testing.TB
	h     *hier
	cache *cache.Cache
	cfg   Config
}

func newDriver(t testing.TB, h *hier) *driver {
	c, err := cache.New(cache.Config{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &driver{t: t, h: h, cache: c, cfg: Config{Minimise: true}}
}

var rootHints = cache.Delegation{Zone: ".", Servers: []cache.Server{
	{Name: "ns.root-servers.test.", Addrs: []netip.Addr{netip.MustParseAddr("127.53.0.1")}},
}}

type outcome struct {
	rcode  int
	answer []dns.RR
	ns     []dns.RR
	ede    int
	text   string
}

func (d *driver) resolve(name string, qtype uint16) outcome {
	cfg := d.cfg
	cfg.Budget = NewBudget(100)
	return d.run(cfg, name, qtype, 0)
}

func (d *driver) run(cfg Config, name string, qtype uint16, depth int) outcome {
	it := New(cfg, dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET})
	for step := 0; step < 1000; step++ {
		a := it.Next()
		switch a.Kind {
		case NeedDelegation:
			var m dns.Msg
			r := d.cache.Answer(&m, dns.Question{Name: a.Name, Qtype: a.Type, Qclass: dns.ClassINET}, cache.Fresh)
			switch r.Kind {
			case cache.Positive, cache.NXDomain, cache.NoData:
				it.Cached(m.Rcode, m.Answer, m.Ns, "")
				continue
			case cache.Partial:
				it.Cached(m.Rcode, m.Answer, nil, r.Next)
				continue
			}
			n := a.Name
			if a.Parent {
				if off, end := dns.NextLabel(n, 0); !end {
					n = n[off:]
				} else {
					n = "."
				}
			}
			del, ok := d.cache.Closest(n, dns.ClassINET)
			if !ok {
				del = rootHints
			}
			it.Delegation(del)
		case SendQuery:
			resp, err := d.h.exchange(a.Server, a.Name, a.Type)
			l := it.Response(resp, err)
			for _, s := range l.RRsets {
				d.cache.Insert(s.RRs, s.Rank)
			}
			if l.Negative != nil {
				d.cache.InsertNegative(*l.Negative)
			}
		case NeedAddresses:
			for _, n := range a.Names {
				var addrs []netip.Addr
				if depth < 3 {
					o := d.run(cfg, n, dns.TypeA, depth+1)
					addrs = appendAddrs(nil, o.answer)
				}
				it.Addresses(n, addrs)
			}
		case Done:
			var o outcome
			o.rcode, o.answer, o.ns, o.ede, o.text = it.Result()
			return o
		}
	}
	d.t.Fatalf("%s: iteration did not end", name)
	return outcome{}
}

func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		out = append(out, strings.ToLower(c.String()))
	}
	slices.Sort(out)
	return out
}

func TestResolve(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string // owner, type and data; TTLs are ignored
		soa    bool     // a negative answer carries the zone's SOA
	}{
		{"www.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"www.example.org.\t0\tin\ta\t192.0.2.1"}, false},
		{"WWW.Example.ORG.", dns.TypeAAAA, dns.RcodeSuccess, []string{"www.example.org.\t0\tin\taaaa\t2001:db8::1"}, false},
		{"nope.example.org.", dns.TypeA, dns.RcodeNameError, nil, true},
		{"txt.example.org.", dns.TypeA, dns.RcodeSuccess, nil, true},
		{"x.y.wild.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"x.y.wild.example.org.\t0\tin\ta\t192.0.2.7"}, false},
		{"a.b.c.d.e.f.g.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"a.b.c.d.e.f.g.example.org.\t0\tin\ta\t192.0.2.8"}, false},
		// CNAME across zones, and inside one
		{"alias.example.org.", dns.TypeA, dns.RcodeSuccess, []string{
			"alias.example.org.\t0\tin\tcname\twww.other.net.", "www.other.net.\t0\tin\ta\t192.0.2.2"}, false},
		{"inalias.example.org.", dns.TypeA, dns.RcodeSuccess, []string{
			"inalias.example.org.\t0\tin\tcname\twww.example.org.", "www.example.org.\t0\tin\ta\t192.0.2.1"}, false},
		// DNAME into another zone
		{"www.dname.example.org.", dns.TypeA, dns.RcodeSuccess, []string{
			"dname.example.org.\t0\tin\tdname\tother.net.", "www.dname.example.org.\t0\tin\tcname\twww.other.net.",
			"www.other.net.\t0\tin\ta\t192.0.2.2"}, false},
		// glueless delegation: ns1.other.net is resolved on the side
		{"host.sub.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"host.sub.example.org.\t0\tin\ta\t192.0.2.3"}, false},
		{"nosuch.tld.", dns.TypeA, dns.RcodeNameError, nil, true},
	}
	h := loadHier(t)
	d := newDriver(t, h)
	for _, tc := range cases {
		o := d.resolve(tc.name, tc.qtype)
		if o.rcode != tc.rcode {
			t.Errorf("%s %s: rcode %s, want %s (%s)", tc.name, dns.TypeToString[tc.qtype], dns.RcodeToString[o.rcode], dns.RcodeToString[tc.rcode], o.text)
			continue
		}
		want := slices.Clone(tc.answer)
		slices.Sort(want)
		if got := rrStrings(o.answer); !slices.Equal(got, want) {
			t.Errorf("%s %s: answer\n got %q\nwant %q", tc.name, dns.TypeToString[tc.qtype], got, want)
		}
		if hasSOA := len(o.ns) == 1 && o.ns[0].Header().Rrtype == dns.TypeSOA; hasSOA != tc.soa {
			t.Errorf("%s: authority %v", tc.name, o.ns)
		}
	}
}

func TestCachedSecondTimeAndNegative(t *testing.T) {
	t.Parallel()
	h := loadHier(t)
	d := newDriver(t, h)
	for _, q := range []string{"www.example.org.", "nope.example.org."} {
		d.resolve(q, dns.TypeA)
		before := h.total()
		o := d.resolve(q, dns.TypeA)
		if h.total() != before {
			t.Errorf("%s: %d upstream queries on the second resolution", q, h.total()-before)
		}
		if q == "nope.example.org." && o.rcode != dns.RcodeNameError {
			t.Errorf("cached NXDOMAIN: rcode %d", o.rcode)
		}
	}
	// A new name in a known zone starts at the cached cut: the root and
	// org servers are not asked again.
	root, org := len(h.questions("127.53.0.1")), len(h.questions("127.53.1.1"))+len(h.questions("127.53.1.2"))
	d.resolve("txt.example.org.", dns.TypeTXT)
	if len(h.questions("127.53.0.1")) != root || len(h.questions("127.53.1.1"))+len(h.questions("127.53.1.2")) != org {
		t.Errorf("resolution did not start at the cached delegation")
	}
}

// TestMinimisedAtRoot: the root sees only the top-level label (RFC 9156).
func TestMinimisedAtRoot(t *testing.T) {
	t.Parallel()
	h := loadHier(t)
	d := newDriver(t, h)
	d.resolve("a.b.c.d.e.f.g.example.org.", dns.TypeA)
	d.resolve("host.sub.example.org.", dns.TypeAAAA)
	for _, q := range h.questions("127.53.0.1") {
		if dns.CountLabel(strings.Fields(q)[0]) > 1 {
			t.Errorf("the root saw %q", q)
		}
	}
	for _, q := range append(h.questions("127.53.1.1"), h.questions("127.53.1.2")...) {
		if dns.CountLabel(strings.Fields(q)[0]) > 2 {
			t.Errorf("org saw %q", q)
		}
	}
	// Without minimisation the root sees the full name.
	h2 := loadHier(t)
	d2 := newDriver(t, h2)
	d2.cfg.Minimise = false
	d2.resolve("www.example.org.", dns.TypeA)
	if qs := h2.questions("127.53.0.1"); len(qs) == 0 || qs[0] != "www.example.org. A" {
		t.Errorf("without minimisation the root saw %q", qs)
	}
}

func TestFailuresEndInServfail(t *testing.T) {
	t.Parallel()
	h := loadHier(t)
	d := newDriver(t, h)
	for _, tc := range []struct{ name, why string }{
		{"loop.example.org.", "alias chain too long"},
		{"www.dead.org.", "no reachable authority for dead.org."},
	} {
		start := h.total()
		o := d.resolve(tc.name, dns.TypeA)
		if o.rcode != dns.RcodeServerFailure || o.text != tc.why {
			t.Errorf("%s: rcode %s %q, want SERVFAIL %q", tc.name, dns.RcodeToString[o.rcode], o.text, tc.why)
		}
		if n := h.total() - start; n > 40 {
			t.Errorf("%s: %d upstream queries", tc.name, n)
		}
	}
	// The query budget bounds everything.
	d.cfg.Budget = nil
	cfg := d.cfg
	cfg.Budget = NewBudget(2)
	o := d.run(cfg, "host.sub.example.org.", dns.TypeMX, 0)
	if o.rcode != dns.RcodeServerFailure || cfg.Budget.Used() > 3 {
		t.Errorf("budget of 2: rcode %d, used %d", o.rcode, cfg.Budget.Used())
	}
}

// TestTimeoutRetried: a server that does not answer in time is asked again
// once before it counts as tried, so that one lost datagram to a zone's
// only server does not fail the question; a server that never answers is
// given up after triesPerServer queries.
func TestTimeoutRetried(t *testing.T) {
	t.Parallel()
	only := netip.MustParseAddr("127.53.4.1") // other.net.'s only server
	asked := func(h *hier, name string) int {
		n := 0
		for _, q := range h.questions(only.String()) {
			if q == name+" A" {
				n++
			}
		}
		return n
	}
	t.Run("one lost", func(t *testing.T) {
		t.Parallel()
		h := loadHier(t)
		var mu sync.Mutex
		lost := false
		h.drop = func(server netip.Addr, name string) bool {
			mu.Lock()
			defer mu.Unlock()
			if server == only && name == "www.other.net." && !lost {
				lost = true
				return true
			}
			return false
		}
		o := newDriver(t, h).resolve("www.other.net.", dns.TypeA)
		if o.rcode != dns.RcodeSuccess || len(o.answer) != 1 {
			t.Fatalf("rcode %s, %d answers, %q; want the answer after one retry", dns.RcodeToString[o.rcode], len(o.answer), o.text)
		}
		if n := asked(h, "www.other.net."); n != 2 {
			t.Errorf("the server was asked %d times, want 2", n)
		}
	})
	t.Run("never answers", func(t *testing.T) {
		t.Parallel()
		h := loadHier(t)
		h.drop = func(server netip.Addr, name string) bool { return server == only && name == "www.other.net." }
		o := newDriver(t, h).resolve("www.other.net.", dns.TypeA)
		if o.rcode != dns.RcodeServerFailure || o.text != "no reachable authority for other.net." {
			t.Fatalf("rcode %s %q, want SERVFAIL", dns.RcodeToString[o.rcode], o.text)
		}
		if n := asked(h, "www.other.net."); n != triesPerServer {
			t.Errorf("the server was asked %d times, want %d", n, triesPerServer)
		}
	})
}

// TestLameServerSkipped: example.org lists a server that answers REFUSED;
// every resolution still succeeds, whichever server is tried first.
func TestLameServerSkipped(t *testing.T) {
	t.Parallel()
	h := loadHier(t)
	d := newDriver(t, h)
	lame := netip.MustParseAddr("127.53.3.9")
	d.cfg.Select = func(zone string, cands []netip.Addr) netip.Addr {
		if slices.Contains(cands, lame) {
			return lame // the worst case: the lame one first
		}
		return cands[0]
	}
	o := d.resolve("www.example.org.", dns.TypeA)
	if o.rcode != dns.RcodeSuccess || len(o.answer) != 1 {
		t.Fatalf("rcode %d answer %v", o.rcode, o.answer)
	}
	if len(h.questions("127.53.3.9")) == 0 {
		t.Fatalf("the lame server was never tried")
	}
}

// TestBailiwick: a hostile example.org server adds records for names it does
// not serve; none of them reaches the cache.
func TestBailiwick(t *testing.T) {
	t.Parallel()
	h := loadHier(t)
	evil := func(s string) dns.RR { rr, _ := dns.NewRR(s); return rr }
	h.tamper = func(server netip.Addr, m *dns.Msg) {
		if !strings.HasPrefix(server.String(), "127.53.3.") {
			return
		}
		m.Answer = append(m.Answer, evil("www.other.net. 300 IN A 6.6.6.6"))
		m.Ns = append(m.Ns, evil("other.net. 300 IN NS ns.evil.test."), evil("org. 300 IN NS ns.evil.test."))
		m.Extra = append(m.Extra, evil("ns.evil.test. 300 IN A 6.6.6.6"), evil("ns1.nic.org. 300 IN A 6.6.6.6"))
	}
	d := newDriver(t, h)
	d.resolve("www.example.org.", dns.TypeA)
	d.resolve("nope.example.org.", dns.TypeA)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.other.net.", dns.TypeA}, {"other.net.", dns.TypeNS}, {"org.", dns.TypeNS},
		{"ns.evil.test.", dns.TypeA}, {"ns1.nic.org.", dns.TypeA},
	} {
		rrs, _, ok := d.cache.Lookup(nil, q.name, q.qtype, dns.ClassINET)
		for _, rr := range rrs {
			if strings.Contains(rr.String(), "6.6.6.6") || strings.Contains(rr.String(), "evil") {
				t.Errorf("poison cached: %v (ok=%v)", rr, ok)
			}
		}
	}
	o := d.resolve("www.other.net.", dns.TypeA)
	if got := rrStrings(o.answer); len(got) != 1 || !strings.HasSuffix(got[0], "192.0.2.2") {
		t.Errorf("www.other.net after poisoning attempt: %v", got)
	}
}

func TestDSGoesToParent(t *testing.T) {
	t.Parallel()
	h := loadHier(t)
	d := newDriver(t, h)
	d.resolve("www.example.org.", dns.TypeA) // example.org's cut is now cached
	before := len(h.questions("127.53.1.1")) + len(h.questions("127.53.1.2"))
	o := d.resolve("example.org.", dns.TypeDS)
	if o.rcode != dns.RcodeSuccess || len(o.answer) != 0 {
		t.Fatalf("DS: rcode %d answer %v", o.rcode, o.answer)
	}
	if len(h.questions("127.53.1.1"))+len(h.questions("127.53.1.2")) != before+1 {
		t.Errorf("DS question did not go to the org servers")
	}
}
