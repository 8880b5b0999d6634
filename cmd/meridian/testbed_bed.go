package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
	"github.com/meridian-dns/meridian/testbed/fabric"
	"github.com/meridian-dns/meridian/testbed/hier"
	tbreport "github.com/meridian-dns/meridian/testbed/report"
	"github.com/meridian-dns/meridian/testbed/topology"
)

// bed is one running testbed: every server of a topology as an in-process
// Meridian daemon (runAuth, runResolver) with its own config file, log file
// and metrics endpoint, all of its sockets handed in by the emulated
// network so that every packet crosses the distance between regions.
type bed struct {
	top *topology.Topology
	net *fabric.Net
	dir string
	// metricsPort is where each server's /metrics and /healthz listen,
	// on the server's own address; 0 turns them off.
	metricsPort uint16

	mu      sync.Mutex
	zones   map[string][]dns.RR // current version of each zone, by apex
	daemons []*tbDaemon

	// lastReport is the report of the last runReport, for tests.
	lastReport *tbreport.Report
}

// tbDaemon is one server of the bed.
type tbDaemon struct {
	srv      topology.Server
	cfgFile  string
	logFile  string
	cancel   context.CancelFunc
	done     chan error // receives runAuth's or runResolver's result
	reload   chan os.Signal
	reloaded chan struct{}
	logOut   *os.File
}

// bedOptions tune startBed.
type bedOptions struct {
	// Dir holds the run's zone files, configs, copies and logs; created.
	Dir string
	// MetricsPort, if not 0, serves every server's metrics on its own
	// address at this port.
	MetricsPort uint16
	// LogLevel of every server's log file.
	LogLevel string
}

// startBed writes the zones and configs of t under o.Dir and starts every
// server: primaries, then secondaries (each after the server it transfers
// from, waiting until it serves the zone), then the resolvers. On error
// everything started is stopped again.
func startBed(ctx context.Context, t *topology.Topology, o bedOptions) (*bed, error) {
	b := &bed{top: t, net: fabric.New(t), dir: o.Dir, metricsPort: o.MetricsPort}
	zones, err := hier.Build(t, 1)
	if err != nil {
		return nil, err
	}
	b.zones = zones
	for _, sub := range []string{"zones", "logs", "servers"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("testbed: %w", err)
		}
	}
	for apex := range zones {
		if err := b.writeZone(apex); err != nil {
			return nil, err
		}
	}
	hints := filepath.Join(o.Dir, "zones", "root.hints")
	var text strings.Builder
	for _, rr := range hier.RootHints(t) {
		text.WriteString(rr.String() + "\n")
	}
	if err := os.WriteFile(hints, []byte(text.String()), 0o644); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			b.close()
		}
	}()
	servers := t.Servers()
	started := map[netip.AddrPort]bool{}
	// Primaries first, then secondaries in rounds, each once its source
	// serves the zone: a chain of transfers starts in order.
	for _, s := range servers {
		if s.Role != topology.RolePrimary {
			continue
		}
		if err := b.start(ctx, s, b.authConfig(s), o.LogLevel); err != nil {
			return nil, err
		}
		started[s.Addr] = true
	}
	for pending := true; pending; {
		// Each round starts every secondary whose source serves the zone,
		// then waits for their first transfers together.
		pending = false
		var round []topology.Server
		for _, s := range servers {
			if s.Role != topology.RoleSecondary || started[s.Addr] {
				continue
			}
			if !started[s.From] {
				pending = true
				continue
			}
			if err := b.start(ctx, s, b.authConfig(s), o.LogLevel); err != nil {
				return nil, err
			}
			round = append(round, s)
		}
		if pending && len(round) == 0 {
			return nil, errors.New("testbed: secondaries transfer from each other in a loop")
		}
		errs := make([]error, len(round))
		var wg sync.WaitGroup
		for i, s := range round {
			wg.Go(func() {
				if err := waitServing(ctx, s.Addr, s.Zone, 1, 30*time.Second); err != nil {
					errs[i] = fmt.Errorf("testbed: %s did not get %s from %v: %w (see %s)",
						s.Name, s.Zone, s.From, err, b.daemon(s.Name).logFile)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		for _, s := range round {
			started[s.Addr] = true
		}
	}
	for _, s := range servers {
		if s.Role != topology.RoleResolver {
			continue
		}
		if err := b.start(ctx, s, b.resolverConfig(s, hints), o.LogLevel); err != nil {
			return nil, err
		}
	}
	ok = true
	return b, nil
}

// writeZone writes the current version of a zone to its file.
func (b *bed) writeZone(apex string) error {
	return writeRRs(b.zoneFile(apex), apex, b.zones[apex])
}

func (b *bed) zoneFile(apex string) string {
	name := strings.TrimSuffix(apex, ".")
	if name == "" {
		name = "root"
	}
	return filepath.Join(b.dir, "zones", name+".zone")
}

// writeRRs writes records as a master file, atomically: a server reloading
// at that moment reads the old file or the new one, never half of one.
func writeRRs(path, origin string, rrs []dns.RR) error {
	var buf bytes.Buffer
	if err := hier.WriteZone(&buf, origin, rrs); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	return nil
}

// authConfig returns the config file of an authoritative server: the
// zone, and the replicas it feeds (allowed to transfer, notified).
func (b *bed) authConfig(s topology.Server) string {
	var c strings.Builder
	fmt.Fprintf(&c, "# %s: %s of %s in %s, written by meridian testbed.\n", s.Name, s.Role, s.Zone, s.Region)
	fmt.Fprintf(&c, "listen: [%q]\n", s.Addr.String())
	b.commonConfig(&c, s)
	fmt.Fprintf(&c, "notify-source: %s\ntransfer-source: %s\n", s.Addr.Addr(), s.Addr.Addr())
	if s.Role == topology.RoleSecondary {
		fmt.Fprintf(&c, "data-dir: %s\n", filepath.Join(b.dir, "servers", s.Name, "data"))
	}
	fmt.Fprintf(&c, "zones:\n  - origin: %q\n", s.Zone)
	if s.Role == topology.RolePrimary {
		fmt.Fprintf(&c, "    file: %s\n", b.zoneFile(s.Zone))
	} else {
		fmt.Fprintf(&c, "    type: secondary\n    primaries: [%q]\n", s.From.String())
	}
	var fed []topology.Server
	for _, o := range b.top.ZoneServers(s.Zone) {
		if o.Role == topology.RoleSecondary && o.From == s.Addr {
			fed = append(fed, o)
		}
	}
	if len(fed) > 0 {
		var allow, notify []string
		for _, o := range fed {
			allow = append(allow, fmt.Sprintf("%q", netip.PrefixFrom(o.Addr.Addr(), 32).String()))
			notify = append(notify, fmt.Sprintf("%q", o.Addr.String()))
		}
		fmt.Fprintf(&c, "    allow-transfer: [%s]\n    notify: [%s]\n", strings.Join(allow, ", "), strings.Join(notify, ", "))
	}
	return c.String()
}

// resolverConfig returns the config file of a region's resolver.
func (b *bed) resolverConfig(s topology.Server, hints string) string {
	var c strings.Builder
	fmt.Fprintf(&c, "# %s: the resolver of %s, written by meridian testbed.\n", s.Name, s.Region)
	fmt.Fprintf(&c, "listen: [%q]\n", s.Addr.String())
	b.commonConfig(&c, s)
	fmt.Fprintf(&c, "resolver:\n  root-hints: %s\n  ns-port: %d\n  allow: [127.0.0.0/8]\n", hints, b.top.Port)
	return c.String()
}

// commonConfig writes what every server's config holds: its name as its
// identity, so that `dig CH TXT id.server` or `+nsid` tells which server
// answered, and its metrics address.
func (b *bed) commonConfig(c *strings.Builder, s topology.Server) {
	fmt.Fprintf(c, "identity: %q\n", s.Name)
	if b.metricsPort != 0 {
		fmt.Fprintf(c, "metrics: %q\n", netip.AddrPortFrom(s.Addr.Addr(), b.metricsPort).String())
	}
}

// start writes a server's config, loads it as the daemon would, and runs
// the daemon until the bed closes, waiting until it serves.
func (b *bed) start(ctx context.Context, s topology.Server, text, level string) error {
	dir := filepath.Join(b.dir, "servers", s.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	d := &tbDaemon{
		srv:      s,
		cfgFile:  filepath.Join(dir, "config.yaml"),
		logFile:  filepath.Join(b.dir, "logs", s.Name+".log"),
		done:     make(chan error, 1),
		reload:   make(chan os.Signal, 1),
		reloaded: make(chan struct{}, 1),
	}
	if err := os.WriteFile(d.cfgFile, []byte(text), 0o644); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	cfg, err := config.Load(d.cfgFile)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return fmt.Errorf("testbed: %s: %w", s.Name, err)
	}
	if d.logOut, err = os.Create(d.logFile); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	lv := new(slog.LevelVar)
	if l, err := config.ParseLevel(level); err == nil {
		lv.Set(l)
	}
	ready := make(chan struct{})
	env := daemonEnv{
		Log:    newLogger(d.logOut, "text", lv),
		Level:  lv,
		Reload: d.reload,
		Reconfigure: func() (*config.Config, error) {
			c, err := config.Load(d.cfgFile)
			if err == nil {
				err = c.Validate()
			}
			return c, err
		},
		Ready: func([]net.Addr, net.Addr) { close(ready) },
		Reloaded: func() {
			select {
			case d.reloaded <- struct{}{}:
			default:
			}
		},
		Net: &daemonNet{
			Listen: func([]string) ([]net.PacketConn, []net.Listener, error) {
				pc, ln, err := b.net.Listen(s.Addr)
				if err != nil {
					return nil, nil, err
				}
				return []net.PacketConn{pc}, []net.Listener{ln}, nil
			},
			Dialer: b.net.Dialer(s.Addr.Addr()),
		},
	}
	dctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	run := runAuth
	if s.Role == topology.RoleResolver {
		run = runResolver
	}
	go func() { d.done <- run(dctx, cfg, env) }()
	b.mu.Lock()
	b.daemons = append(b.daemons, d)
	b.mu.Unlock()
	select {
	case <-ready:
		return nil
	case err := <-d.done:
		d.done <- err // for close
		return fmt.Errorf("testbed: %s: %w", s.Name, err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reloadAll asks every daemon to reload, as SIGHUP would each `meridian
// auth` or `meridian resolver`: primaries re-read their zone files and
// NOTIFY their secondaries of a new serial.
func (b *bed) reloadAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.daemons {
		select {
		case d.reload <- reloadSignal{}:
		default: // one already pending does the same
		}
	}
}

// daemon returns the daemon of a server by name, or nil.
func (b *bed) daemon(name string) *tbDaemon {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.daemons {
		if d.srv.Name == name {
			return d
		}
	}
	return nil
}

// close stops every daemon, resolvers first, and waits for each.
func (b *bed) close() {
	b.mu.Lock()
	ds := b.daemons
	b.daemons = nil
	b.mu.Unlock()
	for i := len(ds) - 1; i >= 0; i-- {
		ds[i].cancel()
	}
	for i := len(ds) - 1; i >= 0; i-- {
		<-ds[i].done
		ds[i].logOut.Close()
	}
}

// change edits a zone at its primary (hier.Change: a new serial and one
// moved address), writes it and reloads the primary, which then NOTIFYs
// its secondaries. It returns the edit once the primary serves it.
func (b *bed) change(ctx context.Context, apex string) (hier.Edit, error) {
	b.mu.Lock()
	next, edit, err := hier.Change(b.zones[apex])
	if err == nil {
		b.zones[apex] = next
	}
	b.mu.Unlock()
	if err != nil {
		return edit, err
	}
	if err := b.writeZone(apex); err != nil {
		return edit, err
	}
	var primary *tbDaemon
	for _, s := range b.top.ZoneServers(apex) {
		if s.Role == topology.RolePrimary {
			primary = b.daemon(s.Name)
		}
	}
	if primary == nil {
		return edit, fmt.Errorf("testbed: no primary for %s", apex)
	}
	primary.reload <- reloadSignal{}
	select {
	case <-primary.reloaded:
	case <-ctx.Done():
		return edit, ctx.Err()
	}
	return edit, waitServing(ctx, primary.srv.Addr, apex, edit.Serial, 10*time.Second)
}

// reloadSignal is what the bed sends a daemon's Reload channel: the
// daemons only need a value, as they would get SIGHUP.
type reloadSignal struct{}

func (reloadSignal) String() string { return "testbed reload" }
func (reloadSignal) Signal()        {}

// controlAddr is where the testbed's own checks come from: outside every
// region, so that the emulation neither delays nor cuts them.
var controlAddr = netip.MustParseAddr("127.0.0.1")

// querySerial asks a server for a zone's SOA serial, undelayed.
func querySerial(addr netip.AddrPort, apex string) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(apex, dns.TypeSOA)
	c := &dns.Client{Timeout: time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: controlAddr.AsSlice()}}}
	r, _, err := c.Exchange(m, addr.String())
	if err != nil {
		return 0, err
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("%s answered %s with no SOA", addr, dns.RcodeToString[r.Rcode])
}

// waitServing waits until a server serves a zone at serial or newer.
func waitServing(ctx context.Context, addr netip.AddrPort, apex string, serial uint32, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		got, err := querySerial(addr, apex)
		if err == nil && int32(got-serial) >= 0 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("serial %d, want %d", got, serial)
		}
		last = err
		select {
		case <-ctx.Done():
			return last
		case <-time.After(20 * time.Millisecond):
		}
	}
}
