package secondary

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/zone"
)

const origin = "example.org."

// fakeClock is a Clock that moves only when a test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) At(at time.Time) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: at, c: make(chan time.Time, 1)}
	if !at.After(c.now) {
		t.c <- c.now
		return t.c, func() bool { return false }
	}
	c.timers = append(c.timers, t)
	return t.c, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.timers, t)
		if i >= 0 {
			c.timers = slices.Delete(c.timers, i, i+1)
		}
		return i >= 0
	}
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.c <- c.now
	}
	c.timers = kept
}

// zoneRRs builds a version of example.org with the given serial and extra
// lines of master-file text.
func zoneRRs(t testing.TB, serial uint32, extra ...string) []dns.RR {
	t.Helper()
	lines := append([]string{
		fmt.Sprintf("example.org. 3600 IN SOA ns1.example.org. host.example.org. %d 100 50 1000 60", serial),
		"example.org. 3600 IN NS ns1.example.org.",
		"ns1.example.org. 3600 IN A 192.0.2.1",
	}, extra...)
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

// fakePrimary serves SOA, AXFR and IXFR for example.org from versions the
// test sets, over UDP and TCP on one loopback port, and counts requests.
type fakePrimary struct {
	addr netip.AddrPort

	mu         sync.Mutex
	versions   [][]dns.RR    // history, newest last
	down       bool          // answer everything SERVFAIL
	cut        bool          // close transfers after the first message
	noIXFR     bool          // answer IXFR with a full transfer
	refuseIXFR bool          // answer IXFR REFUSED
	badIXFR    bool          // send an IXFR whose deletion does not match
	truncSOA   bool          // answer SOA over UDP truncated, without records
	hold       chan struct{} // non-nil: transfers stall after the first message until closed
	counts     map[uint16]int
	sources    map[netip.Addr]bool
}

func startPrimary(t *testing.T, key *Key, first []dns.RR) *fakePrimary {
	t.Helper()
	p := &fakePrimary{versions: [][]dns.RR{first}, counts: map[uint16]int{}, sources: map[netip.Addr]bool{}}
	var tsig map[string]string
	if key != nil {
		tsig = map[string]string{dns.Fqdn(key.Name): key.Secret}
	}
	var l net.Listener
	var pc net.PacketConn
	for range 20 {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if pc, err = net.ListenPacket("udp", l.Addr().String()); err == nil {
			break
		}
		l.Close()
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	p.addr = netip.MustParseAddrPort(l.Addr().String())
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { p.serve(w, r, key) })
	for _, s := range []*dns.Server{
		{Listener: l, Handler: h, TsigSecret: tsig},
		{PacketConn: pc, Handler: h, TsigSecret: tsig},
	} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return p
}

func (p *fakePrimary) set(rrs []dns.RR) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.versions = append(p.versions, rrs)
}

// with changes the primary's behaviour under its lock.
func (p *fakePrimary) with(f func(p *fakePrimary)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *fakePrimary) count(qtype uint16) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[qtype]
}

func (p *fakePrimary) serve(w dns.ResponseWriter, r *dns.Msg, key *Key) {
	p.mu.Lock()
	qtype := r.Question[0].Qtype
	p.counts[qtype]++
	if ap, err := netip.ParseAddrPort(w.RemoteAddr().String()); err == nil {
		p.sources[ap.Addr()] = true
	}
	cur := p.versions[len(p.versions)-1]
	versions, down, cut, noIXFR, refuseIXFR, badIXFR, truncSOA, hold := p.versions, p.down, p.cut, p.noIXFR, p.refuseIXFR, p.badIXFR, p.truncSOA, p.hold
	p.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if ts := r.IsTsig(); ts != nil && w.TsigStatus() == nil {
		m.SetTsig(ts.Hdr.Name, ts.Algorithm, 300, time.Now().Unix())
	}
	switch {
	case key != nil && (r.IsTsig() == nil || w.TsigStatus() != nil):
		m.Rcode = dns.RcodeRefused
	case down:
		m.Rcode = dns.RcodeServerFailure
	case qtype == dns.TypeIXFR && refuseIXFR:
		m.Rcode = dns.RcodeRefused
	case qtype == dns.TypeSOA && truncSOA && w.RemoteAddr().Network() == "udp":
		m.Truncated = true
	case qtype == dns.TypeSOA:
		m.Answer = cur[:1]
	case qtype == dns.TypeAXFR || qtype == dns.TypeIXFR:
		var stream []dns.RR
		if qtype == dns.TypeIXFR && !noIXFR && len(r.Ns) == 1 {
			stream = incremental(versions, r.Ns[0].(*dns.SOA).Serial)
			if badIXFR && stream != nil {
				ghost, _ := dns.NewRR("ghost.example.org. 60 IN A 192.0.2.66")
				stream = slices.Insert(stream, 2, ghost)
			}
		}
		if stream == nil {
			stream = append(slices.Clone(cur), cur[0])
		}
		p.send(w, r, stream, cut, hold)
		return
	default:
		m.Rcode = dns.RcodeNotImplemented
	}
	_ = w.WriteMsg(m)
}

// send writes the stream two records per message, as a primary splits a
// large zone; cut closes the connection after the first message, and hold,
// if not nil, stalls the stream there until it is closed.
func (p *fakePrimary) send(w dns.ResponseWriter, r *dns.Msg, stream []dns.RR, cut bool, hold chan struct{}) {
	ch := make(chan *dns.Envelope)
	tr := new(dns.Transfer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tr.Out(w, r, ch)
	}()
	for i := 0; i < len(stream); i += 2 {
		// tr.Out stops reading at its first write error, when the
		// secondary has hung up; a plain send would then block forever.
		select {
		case ch <- &dns.Envelope{RR: stream[i:min(i+2, len(stream))]}:
		case <-done:
			_ = w.Close()
			return
		}
		if cut {
			break
		}
		if hold != nil && i == 0 {
			<-hold
		}
	}
	close(ch)
	<-done
	_ = w.Close()
}

// incremental builds an IXFR stream from the version with serial from to
// the newest (RFC 1995 §4), or nil when from is not in the history.
func incremental(versions [][]dns.RR, from uint32) []dns.RR {
	start := -1
	for i, v := range versions {
		if v[0].(*dns.SOA).Serial == from {
			start = i
		}
	}
	if start < 0 {
		return nil
	}
	newest := versions[len(versions)-1]
	stream := []dns.RR{newest[0]}
	for i := start; i+1 < len(versions); i++ {
		a, b := versions[i], versions[i+1]
		stream = append(stream, a[0])
		stream = append(stream, minus(a[1:], b[1:])...)
		stream = append(stream, b[0])
		stream = append(stream, minus(b[1:], a[1:])...)
	}
	return append(stream, newest[0])
}

func minus(a, b []dns.RR) []dns.RR {
	var out []dns.RR
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y dns.RR) bool { return x.String() == y.String() }) {
			out = append(out, x)
		}
	}
	return out
}

// sink records what the Manager publishes.
type sink struct {
	mu        sync.Mutex
	published map[string]*zone.Zone
	expired   map[string]error
	serials   []uint32
}

func newSink() *sink {
	return &sink{published: map[string]*zone.Zone{}, expired: map[string]error{}}
}

func (s *sink) serial() (uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.published[origin]
	if z == nil || s.expired[origin] != nil {
		return 0, false
	}
	return z.Serial(), true
}

func (s *sink) expiredErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expired[origin]
}

// tlog writes log lines to the test's log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type env struct {
	t     *testing.T
	dir   string
	clock *fakeClock
	sink  *sink
	reg   *prometheus.Registry
	m     *Manager
}

func (e *env) opts() Options {
	return Options{
		Dir:             e.dir,
		Limits:          Limits{MinRefresh: time.Second, MinRetry: time.Second, MinExpire: time.Second},
		QueryTimeout:    2 * time.Second,
		TransferTimeout: 5 * time.Second,
		Clock:           e.clock,
		Registerer:      e.reg,
		Logger:          slog.New(slog.NewTextHandler(tlog{e.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Publish: func(o string, z *zone.Zone) {
			e.sink.mu.Lock()
			defer e.sink.mu.Unlock()
			e.sink.published[o] = z
			delete(e.sink.expired, o)
		},
		Expire: func(o string, err error) {
			e.sink.mu.Lock()
			defer e.sink.mu.Unlock()
			e.sink.expired[o] = err
		},
		SerialChanged: func(o string, s uint32) {
			e.sink.mu.Lock()
			defer e.sink.mu.Unlock()
			e.sink.serials = append(e.sink.serials, s)
		},
	}
}

// newEnv starts a Manager for example.org in dir (a new one if empty).
func newEnv(t *testing.T, dir string, clock *fakeClock, primaries ...Primary) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if clock == nil {
		clock = newFakeClock()
	}
	e := &env{t: t, dir: dir, clock: clock, sink: newSink(), reg: prometheus.NewRegistry()}
	m, err := New(context.Background(), e.opts(), []Zone{{Origin: origin, Primaries: primaries}})
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	t.Cleanup(func() { _ = m.Close() })
	return e
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) waitSerial(t *testing.T, want uint32) {
	t.Helper()
	eventually(t, 5*time.Second, fmt.Sprintf("serial %d served", want), func() bool {
		s, ok := e.sink.serial()
		return ok && s == want
	})
}

func (e *env) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, mt := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range mt.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case mt.Counter != nil:
				total += mt.Counter.GetValue()
			case mt.Gauge != nil:
				total += mt.Gauge.GetValue()
			}
		}
	}
	return total
}

func rrStrings(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = strings.ToLower(rr.String())
	}
	slices.Sort(out)
	return out
}

// waitCounter waits for a metric (summed over the series matching labels)
// to reach want.
func (e *env) waitCounter(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	eventually(t, 5*time.Second, fmt.Sprintf("%s%v = %v", name, labels, want), func() bool {
		return e.counter(t, name, labels...) == want
	})
}
