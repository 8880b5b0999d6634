package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
	"github.com/meridian-dns/meridian/resolver/exchange"
)

// countingNet is a daemonNet over the system's sockets that counts what a
// daemon opens: the listen calls and every dial, with the sockets still
// open. Its dialed UDP conns hide the kernel socket's type, as the geo
// testbed's wrappers do.
type countingNet struct {
	pc     net.PacketConn // handed to Listen, bound before the daemon starts
	ln     net.Listener
	listen []string // what Listen was asked for

	mu    sync.Mutex
	dials []dialRecord
	open  atomic.Int64
}

type dialRecord struct {
	network      string
	laddr, raddr netip.AddrPort
}

func (r dialRecord) String() string { return fmt.Sprintf("%s %v→%v", r.network, r.laddr, r.raddr) }

// newCountingNet binds UDP and TCP on one free port of ip.
func newCountingNet(t *testing.T, ip string) *countingNet {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return &countingNet{pc: pc, ln: ln}
		}
		pc.Close()
	}
	t.Fatal("no port free for both UDP and TCP on " + ip)
	return nil
}

func (n *countingNet) addr() string { return n.pc.LocalAddr().String() }

func (n *countingNet) daemonNet() *daemonNet {
	return &daemonNet{
		Listen: func(listen []string) ([]net.PacketConn, []net.Listener, error) {
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.listen != nil {
				return nil, nil, errors.New("listen called twice")
			}
			n.listen = listen
			return []net.PacketConn{n.pc}, []net.Listener{n.ln}, nil
		},
		Dialer: (*countingDialer)(n),
	}
}

// countingDialer is countingNet's Dialer.
type countingDialer countingNet

func (d *countingDialer) record(network string, laddr, raddr netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dials = append(d.dials, dialRecord{network, laddr, raddr})
}

func (d *countingDialer) DialUDP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d.record("udp", laddr, raddr)
	c, err := exchange.NetDialer{}.DialUDP(ctx, laddr, raddr)
	if err != nil {
		return nil, err
	}
	d.open.Add(1)
	return &trackedConn{Conn: c, open: &d.open}, nil
}

func (d *countingDialer) DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d.record("tcp", laddr, raddr)
	c, err := exchange.NetDialer{}.DialTCP(ctx, laddr, raddr)
	if err != nil {
		return nil, err
	}
	d.open.Add(1)
	return &trackedConn{Conn: c, open: &d.open}, nil
}

// trackedConn counts itself out of open on its first Close.
type trackedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// count returns the dials on network to raddr, and whether all of them
// were from laddr.
func (n *countingNet) count(network string, laddr, raddr netip.AddrPort) (int, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := 0, true
	for _, d := range n.dials {
		if d.network == network && d.raddr == raddr {
			c++
			ok = ok && d.laddr == laddr
		}
	}
	return c, ok
}

func (n *countingNet) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprintf("listen %v, dials %v, %d open", n.listen, n.dials, n.open.Load())
}

// closed reports whether the handed-in sockets are closed.
func (n *countingNet) closed() error {
	if _, err := n.pc.WriteTo([]byte{0}, n.pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("UDP socket %s not closed: %v", n.addr(), err)
	}
	n.ln.(*net.TCPListener).SetDeadline(time.Now())
	if _, err := n.ln.Accept(); !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("TCP listener %s not closed: %v", n.addr(), err)
	}
	return nil
}

// netDaemon is a daemon run in this process on a countingNet.
type netDaemon struct {
	net    *countingNet
	log    *logRecords
	reload chan os.Signal
	done   chan struct{} // a value on every reload done
	cancel context.CancelFunc
	exit   chan error
}

// startNetDaemon runs run with the config file at cfgFile on n, and waits
// until it is ready.
func startNetDaemon(t *testing.T, run func(context.Context, *config.Config, daemonEnv) error, cfgFile string, n *countingNet) *netDaemon {
	t.Helper()
	flags := &config.Flags{ConfigFile: cfgFile}
	cfg, err := flags.Build()
	if err != nil {
		t.Fatal(err)
	}
	d := &netDaemon{net: n, log: newLogRecords(), reload: make(chan os.Signal), done: make(chan struct{}, 1), exit: make(chan error, 1)}
	ready := make(chan struct{})
	env := daemonEnv{
		Log:         slog.New(slog.NewJSONHandler(d.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Reload:      d.reload,
		Reconfigure: flags.Build,
		Ready:       func([]net.Addr, net.Addr) { close(ready) },
		Reloaded:    func() { d.done <- struct{}{} },
		Net:         n.daemonNet(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.exit <- run(ctx, cfg, env) }()
	select {
	case <-ready:
	case err := <-d.exit:
		t.Fatalf("daemon: %v\n%s", err, d.log)
	case <-time.After(waitTimeout):
		t.Fatalf("daemon not ready\n%s", d.log)
	}
	return d
}

func (d *netDaemon) doReload(t *testing.T) {
	t.Helper()
	d.reload <- syscall.SIGHUP
	select {
	case <-d.done:
	case <-time.After(waitTimeout):
		t.Fatal("reload did not finish")
	}
}

// stop cancels the daemon and waits for it to return.
func (d *netDaemon) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.exit:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(waitTimeout):
		t.Errorf("the daemon did not return within %s of cancel", waitTimeout)
	}
}

// TestDaemonNet runs a primary, its secondary and a resolver stubbing the
// zone to the secondary, all on handed-in sockets and counting dialers (as
// the geo testbed runs them): the zone is transferred, NOTIFY sent and
// upstream queries made through the dialers, reloads keep the sockets,
// and after shutdown no socket or goroutine is left. It is not parallel:
// it counts the goroutines of the process.
func TestDaemonNet(t *testing.T) {
	before := runtime.NumGoroutine()
	var nets []*countingNet
	t.Run("scenario", func(t *testing.T) {
		const origin = "netx.example."
		dir := t.TempDir()
		pn, sn, rn := newCountingNet(t, "127.0.0.1"), newCountingNet(t, "127.0.0.2"), newCountingNet(t, "127.0.0.3")
		nets = []*countingNet{pn, sn, rn}
		zf := filepath.Join(dir, "netx.zone")
		writeZone(t, zf, origin, 1, false)
		write := func(name, text string) string {
			t.Helper()
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			return path
		}
		pcfg := write("primary.yaml", fmt.Sprintf(`listen: [%s]
data-dir: %s
zones:
  - origin: %s
    file: %s
    allow-transfer: [127.0.0.0/8]
    notify: [%s]
`, pn.addr(), filepath.Join(dir, "p"), origin, zf, sn.addr()))
		scfg := write("secondary.yaml", fmt.Sprintf(`listen: [%s]
data-dir: %s
zones:
  - origin: %s
    type: secondary
    primaries: [%s]
`, sn.addr(), filepath.Join(dir, "s"), origin, pn.addr()))
		rcfg := write("resolver.yaml", fmt.Sprintf(`listen: [%s]
resolver:
  allow: [127.0.0.0/8]
  stub-zones:
    - name: %s
      servers: [%s]
`, rn.addr(), origin, sn.addr()))

		prim := startNetDaemon(t, runAuth, pcfg, pn)
		defer prim.stop(t)
		sec := startNetDaemon(t, runAuth, scfg, sn)
		defer sec.stop(t)
		res := startNetDaemon(t, runResolver, rcfg, rn)
		defer res.stop(t)

		sec.log.waitFor(t, 0, "secondary: transferred", "serial", "1")
		prim.log.waitFor(t, 0, "NOTIFY acknowledged", "serial", "1")
		r := recurse(t, "udp", rn.addr(), "www."+origin, dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.10" {
			t.Errorf("www.%s A through the resolver: %v", origin, r)
		}

		// A reload keeps the handed-in sockets: a new serial at the
		// primary is NOTIFYed and reaches the secondary by IXFR.
		writeZone(t, zf, origin, 2, false)
		n := sec.log.len()
		prim.doReload(t)
		sec.log.waitFor(t, n, "secondary: transferred", "serial", "2", "kind", "ixfr")
		sec.doReload(t)
		res.doReload(t)
		if _, got, ok := soaSerial(sn.addr(), origin); !ok || got != 2 {
			t.Errorf("secondary after reloads: serial %d, ok %v", got, ok)
		}
		if r := recurse(t, "tcp", rn.addr(), "ns1."+origin, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("ns1.%s A through the resolver after its reload: %v", origin, r)
		}

		p, s := netip.MustParseAddrPort(pn.addr()), netip.MustParseAddrPort(sn.addr())
		for _, c := range []struct {
			what         string
			n            *countingNet
			network      string
			laddr, raddr netip.AddrPort
			atLeast      int
		}{
			{"NOTIFY", pn, "udp", netip.MustParseAddrPort("127.0.0.1:0"), s, 2},
			{"SOA queries", sn, "udp", netip.MustParseAddrPort("127.0.0.2:0"), p, 1},
			{"transfers", sn, "tcp", netip.MustParseAddrPort("127.0.0.2:0"), p, 2},
			{"upstream queries", rn, "udp", netip.AddrPort{}, s, 1},
		} {
			if got, ok := c.n.count(c.network, c.laddr, c.raddr); got < c.atLeast || !ok {
				t.Errorf("%s: %d dials over %s to %v (want %d or more), all from %v: %v; %v",
					c.what, got, c.network, c.raddr, c.atLeast, c.laddr, ok, c.n)
			}
		}
		for _, n := range nets {
			if !slices.Equal(n.listen, []string{n.addr()}) {
				t.Errorf("Listen was asked for %v, want [%s]", n.listen, n.addr())
			}
		}
	})
	for _, n := range nets {
		if err := n.closed(); err != nil {
			t.Error(err)
		}
		if open := n.open.Load(); open != 0 {
			t.Errorf("%d dialed sockets left open: %v", open, n)
		}
	}
	deadline := time.Now().Add(waitTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
