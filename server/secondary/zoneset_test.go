package secondary

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// newEmptyEnv starts a Manager with no zones, as the daemon does when a
// data directory is configured but no secondary zone yet.
func newEmptyEnv(t *testing.T, dir string) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	e := &env{t: t, dir: dir, clock: newFakeClock(), sink: newSink(), reg: prometheus.NewRegistry()}
	m, err := New(context.Background(), e.opts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	t.Cleanup(func() { _ = m.Close() })
	return e
}

func (e *env) notify(name string) int {
	req := new(dns.Msg)
	req.SetNotify(name)
	return e.m.HandleNotify(req, netip.MustParseAddr("127.0.0.1"), "").Rcode
}

func (e *env) publishedCount() int {
	e.sink.mu.Lock()
	defer e.sink.mu.Unlock()
	return len(e.sink.published)
}

func TestNewWithoutZones(t *testing.T) {
	t.Parallel()
	if _, err := New(context.Background(), Options{}, nil); err == nil {
		t.Fatal("New without a data directory: no error")
	}
	e := newEmptyEnv(t, "")
	if st := e.m.Status(); len(st) != 0 {
		t.Fatalf("status of an empty manager: %+v", st)
	}
	if rc := e.notify(origin); rc != dns.RcodeNotAuth {
		t.Fatalf("NOTIFY to an empty manager: %s", dns.RcodeToString[rc])
	}
}

func TestAddZone(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1))
	e := newEmptyEnv(t, "")
	if err := e.m.AddZone(Zone{Origin: "Example.ORG", Primaries: []Primary{{Addr: p.addr}}}); err != nil {
		t.Fatal(err)
	}
	e.waitSerial(t, 1)
	if rc := e.notify(origin); rc != dns.RcodeSuccess {
		t.Fatalf("NOTIFY after AddZone: %s", dns.RcodeToString[rc])
	}
	st := e.m.Status()
	if len(st) != 1 || st[0].Origin != origin || st[0].Serial != 1 || !st[0].HasData {
		t.Fatalf("status after AddZone: %+v", st)
	}
	if got := e.counter(t, "meridian_secondary_zone_serial", "zone", origin); got != 1 {
		t.Fatalf("serial gauge = %v", got)
	}
}

func TestZoneSetErrors(t *testing.T) {
	t.Parallel()
	p := Primary{Addr: netip.MustParseAddrPort("127.0.0.1:9")}
	for _, c := range []struct {
		name string
		op   func(m *Manager) error
		want error // nil: any error
	}{
		{"add twice", func(m *Manager) error {
			if err := m.AddZone(Zone{Origin: origin, Primaries: []Primary{p}}); err != nil {
				t.Fatal(err)
			}
			return m.AddZone(Zone{Origin: "EXAMPLE.org", Primaries: []Primary{p}})
		}, nil},
		{"add without primaries", func(m *Manager) error {
			return m.AddZone(Zone{Origin: origin})
		}, nil},
		{"add after close", func(m *Manager) error {
			m.Close()
			return m.AddZone(Zone{Origin: origin, Primaries: []Primary{p}})
		}, ErrClosed},
		{"remove unknown", func(m *Manager) error {
			return m.RemoveZone(origin)
		}, nil},
		{"remove twice", func(m *Manager) error {
			if err := m.AddZone(Zone{Origin: origin, Primaries: []Primary{p}}); err != nil {
				t.Fatal(err)
			}
			if err := m.RemoveZone(origin); err != nil {
				t.Fatal(err)
			}
			return m.RemoveZone(origin)
		}, nil},
		{"remove after close", func(m *Manager) error {
			if err := m.AddZone(Zone{Origin: origin, Primaries: []Primary{p}}); err != nil {
				t.Fatal(err)
			}
			m.Close()
			return m.RemoveZone(origin)
		}, ErrClosed},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEmptyEnv(t, "")
			err := c.op(e.m)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

func TestRemoveZone(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1))
	e := newEnv(t, "", nil, Primary{Addr: p.addr})
	e.waitSerial(t, 1)
	if err := e.m.RemoveZone("EXAMPLE.org"); err != nil {
		t.Fatal(err)
	}
	e.sink.mu.Lock()
	clear(e.sink.published)
	e.sink.mu.Unlock()

	if z := e.m.Current(origin); z != nil {
		t.Fatalf("Current after RemoveZone: serial %d", z.Serial())
	}
	if e.m.Refresh(origin) {
		t.Fatal("Refresh after RemoveZone reports the zone kept")
	}
	if e.m.Journal(origin) != nil {
		t.Fatal("Journal after RemoveZone")
	}
	if st := e.m.Status(); len(st) != 0 {
		t.Fatalf("status after RemoveZone: %+v", st)
	}
	if got := e.counter(t, "meridian_secondary_zone_serial", "zone", origin); got != 0 {
		t.Fatalf("serial gauge after RemoveZone = %v", got)
	}
	// A newer version and a NOTIFY for it change nothing: the zone's
	// goroutine is gone, so nothing is published.
	p.set(zoneRRs(t, 2, "new.example.org. 60 IN A 192.0.2.2"))
	if rc := e.notify(origin); rc != dns.RcodeNotAuth {
		t.Fatalf("NOTIFY after RemoveZone: %s", dns.RcodeToString[rc])
	}
	e.clock.Advance(200 * time.Second) // past REFRESH, well within EXPIRE
	soas := p.count(dns.TypeSOA)
	time.Sleep(50 * time.Millisecond) // a negative: give a stray goroutine the chance to show
	if n := e.publishedCount(); n != 0 || p.count(dns.TypeSOA) != soas {
		t.Fatalf("after RemoveZone: %d publishes, %d SOA queries", n, p.count(dns.TypeSOA)-soas)
	}
	if _, err := os.Stat(newStore(e.dir, origin).zonePath()); err != nil {
		t.Fatalf("disk copy after RemoveZone: %v", err)
	}

	// Added back with the primary unreachable, it serves the disk copy at
	// once, from within AddZone.
	p.with(func(p *fakePrimary) { p.down = true })
	if err := e.m.AddZone(Zone{Origin: origin, Primaries: []Primary{{Addr: p.addr}}}); err != nil {
		t.Fatal(err)
	}
	if s, ok := e.sink.serial(); !ok || s != 1 {
		t.Fatalf("after AddZone again serving %d, %v; want the disk copy", s, ok)
	}
	if z := e.m.Current(origin); z == nil || z.Serial() != 1 {
		t.Fatalf("Current after AddZone again: %v", z)
	}
	// Its journal was closed by RemoveZone and is open again.
	if e.m.Journal(origin) == nil {
		t.Fatal("no journal after AddZone again")
	}
	// And it follows the primary again once that is back.
	p.with(func(p *fakePrimary) { p.down = false })
	e.m.Refresh(origin)
	e.waitSerial(t, 2)
}

// RemoveZone in the middle of a transfer abandons it: nothing stored,
// nothing published, no temporary file left.
func TestRemoveZoneDuringTransfer(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1, "a.example.org. 60 IN A 192.0.2.1", "b.example.org. 60 IN A 192.0.2.2"))
	hold := make(chan struct{})
	p.with(func(p *fakePrimary) { p.hold = hold })
	t.Cleanup(func() { close(hold) }) // before the primary shuts down
	e := newEmptyEnv(t, "")
	if err := e.m.AddZone(Zone{Origin: origin, Primaries: []Primary{{Addr: p.addr}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "transfer started", func() bool { return p.count(dns.TypeAXFR) == 1 })
	start := time.Now()
	if err := e.m.RemoveZone(origin); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("RemoveZone took %v during a transfer", d)
	}
	if n := e.publishedCount(); n != 0 {
		t.Fatalf("%d publishes of an abandoned transfer", n)
	}
	names, _ := filepath.Glob(filepath.Join(e.dir, "*.zone*"))
	if len(names) != 0 {
		t.Fatalf("files left by an abandoned transfer: %v", names)
	}
}

// Adds and removes race with the NOTIFY path, Status, Current and a scrape;
// run under -race. A deadlock fails the test rather than hanging it.
func TestZoneSetConcurrent(t *testing.T) {
	t.Parallel()
	p := startPrimary(t, nil, zoneRRs(t, 1))
	e := newEmptyEnv(t, "")
	origins := []string{origin, "example.net."}

	// A first version on disk, so that the adds below publish at once,
	// racing the readers.
	if err := e.m.AddZone(Zone{Origin: origin, Primaries: []Primary{{Addr: p.addr}}}); err != nil {
		t.Fatal(err)
	}
	e.waitSerial(t, 1)
	if err := e.m.RemoveZone(origin); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for _, read := range []func(){
		func() { e.notify(origin); e.notify("example.net.") },
		func() { e.m.Status() },
		func() { e.m.Current(origin); e.m.Refresh("example.net.") },
		func() {
			if _, err := e.reg.Gather(); err != nil {
				t.Error(err)
			}
		},
	} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
					read()
				}
			}
		}()
	}

	done := make(chan error, 1)
	go func() {
		defer close(done)
		for i := range 30 {
			o := origins[i%len(origins)]
			if err := e.m.AddZone(Zone{Origin: o, Primaries: []Primary{{Addr: p.addr}}}); err != nil {
				done <- err
				return
			}
			if i%3 == 0 {
				e.m.Refresh(o)
			}
			if err := e.m.RemoveZone(o); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(30 * time.Second):
		t.Error("adds and removes did not finish: deadlock?")
	}
	close(stop)
	readers.Wait()
	if st := e.m.Status(); len(st) != 0 {
		t.Fatalf("status after all removed: %+v", st)
	}
}

// Close after adds and removes leaves no goroutine of the Manager. Not
// parallel: it counts the process's goroutines, so it runs while the
// parallel tests wait.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	p := startPrimary(t, nil, zoneRRs(t, 1))
	before := runtime.NumGoroutine()
	e := &env{t: t, dir: t.TempDir(), clock: newFakeClock(), sink: newSink(), reg: prometheus.NewRegistry()}
	m, err := New(context.Background(), e.opts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	for i := range 4 {
		o := fmt.Sprintf("z%d.example.", i)
		if err := m.AddZone(Zone{Origin: o, Primaries: []Primary{{Addr: p.addr}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddZone(Zone{Origin: origin, Primaries: []Primary{{Addr: p.addr}}}); err != nil {
		t.Fatal(err)
	}
	e.waitSerial(t, 1)
	for _, o := range []string{"z1.example.", "z3.example."} {
		if err := m.RemoveZone(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, fmt.Sprintf("goroutines back to %d", before), func() bool {
		return runtime.NumGoroutine() <= before
	})
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
