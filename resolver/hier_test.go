package resolver

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/internal/testhier"
	"github.com/meridian-dns/meridian/resolver/exchange"
)

// hierarchy is testdata/zones/hier running in this process
// (internal/testhier), with the resolver's queries to it counted.
type hierarchy struct {
	*testhier.Hier
	count *counting
}

func startHierarchy(t *testing.T) *hierarchy {
	t.Helper()
	return &hierarchy{
		Hier:  testhier.Start(t, filepath.Join("..", "testdata", "zones", "hier")),
		count: &counting{next: exchange.New(exchange.Config{}), n: map[string]int{}, names: map[string][]string{}},
	}
}

// counting is an Exchanger that counts, per server address, the queries
// the resolver sends, and keeps their names.
type counting struct {
	next   exchange.Exchanger
	tamper func(server netip.AddrPort, m *dns.Msg) // a hostile server, if set
	// noEDNS lists servers that answer FORMERR to a query with EDNS, as
	// old middleboxes and servers do (RFC 6891 §7).
	noEDNS map[string]bool
	// no0x20 lists servers whose answers do not keep the query name's case.
	no0x20 map[string]bool
	mu     sync.Mutex
	n      map[string]int
	names  map[string][]string
}

func (c *counting) Exchange(ctx context.Context, s netip.AddrPort, q *dns.Msg, o exchange.Options) (exchange.Reply, error) {
	c.mu.Lock()
	c.n[s.Addr().String()]++
	c.names[s.Addr().String()] = append(c.names[s.Addr().String()], strings.ToLower(q.Question[0].Name))
	c.mu.Unlock()
	if c.noEDNS[s.Addr().String()] && !o.NoEDNS {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeFormatError)
		return exchange.Reply{Msg: m, RTT: time.Millisecond}, nil
	}
	if c.no0x20[s.Addr().String()] && !o.No0x20 {
		return exchange.Reply{}, &exchange.Error{Kind: exchange.ErrCaseMismatch, Server: s}
	}
	rep, err := c.next.Exchange(ctx, s, q, o)
	if err == nil && c.tamper != nil {
		c.tamper(s, rep.Msg)
	}
	return rep, err
}

func (c *counting) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}

func (c *counting) sent(addr string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.names[addr]...)
}

// newResolver returns a resolver for the hierarchy, with a clock tests can
// move.
func (h *hierarchy) newResolver(t *testing.T, clock *fakeClock, mod func(*Config)) *Resolver {
	t.Helper()
	cfg := Config{
		RootHints: []RootServer{{Name: "ns.root-servers.test.", Addrs: []netip.Addr{netip.MustParseAddr("127.53.0.1")}}},
		NSPort:    h.Port,
		Exchanger: h.count,
		Deadline:  3 * time.Second,
	}
	if clock != nil {
		cfg.Now = clock.Now
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ask resolves one question as a client would.
func ask(t *testing.T, r *Resolver, name string, qtype uint16) (*dns.Msg, Info) {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	m := new(dns.Msg)
	m.SetReply(req)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info := r.Resolve(ctx, m, req.Question[0], true)
	return m, info
}

// delayDialer emulates distance in user space: a read on a connection to
// a delayed server completes no sooner than the delay after the last write,
// so the exchanger measures the emulated round trip.
type delayDialer struct {
	delay map[netip.Addr]time.Duration
	exchange.NetDialer
}

func (d delayDialer) DialUDP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	c, err := d.NetDialer.DialUDP(ctx, laddr, raddr)
	if err != nil || d.delay[raddr.Addr()] == 0 {
		return c, err
	}
	return &delayConn{Conn: c, d: d.delay[raddr.Addr()]}, nil
}

type delayConn struct {
	net.Conn
	d    time.Duration
	sent time.Time
}

func (c *delayConn) Write(p []byte) (int, error) {
	c.sent = time.Now()
	return c.Conn.Write(p)
}

func (c *delayConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if wait := time.Until(c.sent.Add(c.d)); err == nil && wait > 0 {
		time.Sleep(wait)
	}
	return n, err
}
