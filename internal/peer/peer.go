// Package peer starts real reference name servers (NSD, Knot DNS, BIND) on
// loopback for Meridian's differential tests and benchmarks, so that
// "answers exactly as the peers do" is checked against the peers themselves
// rather than against our reading of the RFCs.
//
// Each server gets its own configuration, state and pid files in a
// temporary directory, runs in the foreground as a child process without
// chroot, privilege drop or control sockets in system paths, and is killed
// in t.Cleanup. Start returns only once the server answers an SOA query for
// every zone it was given.
//
// The package lives in the module's top-level internal/ so that tests in
// zone/, server/ and cmd/meridian can all import it.
package peer

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// RequireEnv names the environment variable that turns a missing peer from
// a skip into a failure. CI sets it so that a broken install cannot pass
// silently as a row of skipped tests.
const RequireEnv = "MERIDIAN_REQUIRE_PEERS"

// sbinDirs are searched after PATH: the Debian packages install the daemons
// in /usr/sbin, which is not on every user's PATH.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// Lookup finds a peer binary on PATH or in the sbin directories.
func Lookup(binary string) (string, error) {
	if p, err := exec.LookPath(binary); err == nil {
		return p, nil
	}
	if !strings.ContainsRune(binary, '/') {
		for _, d := range sbinDirs {
			p := filepath.Join(d, binary)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("peer: %s not found on PATH or in %s", binary, strings.Join(sbinDirs, ", "))
}

// Require returns the path of binary. When it is missing the test is
// skipped, or fails if MERIDIAN_REQUIRE_PEERS=1.
func Require(tb testing.TB, binary string) string {
	tb.Helper()
	p, err := Lookup(binary)
	if err == nil {
		return p
	}
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%v (%s=1; install bind9-dnsutils, knot-dnsutils, nsd, knot, bind9)", err, RequireEnv)
		return ""
	}
	tb.Skipf("%v; skipping (set %s=1 to make this a failure)", err, RequireEnv)
	return ""
}

// Zone is one zone to serve: its origin and master file.
type Zone struct {
	Origin string
	File   string
}

// Options configure a peer server. The zero value is not useful: give at
// least one zone.
type Options struct {
	// Zones to serve. Files must be readable by the server, which runs as
	// the current user.
	Zones []Zone
	// Addr is the loopback address to listen on. Default 127.0.0.1. The
	// port is always chosen free at start.
	Addr string
	// Workers is the number of serving threads or processes. Default 1,
	// which makes CPU-per-query figures comparable between servers.
	Workers int
	// Minimal asks for minimal responses: no apex NS in the authority
	// section of positive answers and no additional data for them. It sets
	// NSD's minimal-responses and BIND's minimal-responses; Knot always
	// answers so.
	Minimal bool
	// Identity and Version, when set, are what the server tells about
	// itself: the CHAOS TXT answers for id.server. (and hostname.bind.)
	// and version.server. (and version.bind.), and Identity as the NSID
	// (RFC 5001). NSD and Knot only; unset leaves each server's default.
	Identity, Version string
	// Timeout bounds the wait for every zone to answer. Default 60s, which
	// covers loading a 1M-name zone.
	Timeout time.Duration
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1"
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
}

// Server is a running peer.
type Server struct {
	Name string // "nsd", "knot", "bind"
	Addr string // host:port, UDP and TCP
	Dir  string // configuration and state
	PID  int
	// Ready is how long the server took from exec until every zone
	// answered: the load time.
	Ready time.Duration

	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	once sync.Once
}

// Output returns what the server has written to stdout and stderr so far.
func (s *Server) Output() string { return s.out.String() }

// Stop terminates the server (SIGTERM, then SIGKILL to its process group
// after 5s, so that NSD's forked children go too) and waits for it. It is
// safe to call more than once; Start registers it with Cleanup.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.PID, syscall.SIGKILL)
			<-s.done
		}
	})
}

// Args returns the command-line arguments for a server that is to listen on
// host:port, with dir its own temporary directory for configuration and
// state; it may write configuration files there.
type Args func(dir, host string, port int, o Options) ([]string, error)

// flavour describes how to configure and run one kind of server.
type flavour struct {
	name   string
	binary string // a name to look up, or an absolute path
	config Args
}

// StartCommand starts any server binary (Meridian itself, usually) under the
// same rules as the peers: a free port, a temporary directory, readiness by
// SOA for every zone in o.Zones, and Stop in t.Cleanup. name labels errors.
func StartCommand(tb testing.TB, name, binary string, args Args, o Options) *Server {
	tb.Helper()
	return start(tb, flavour{name: name, binary: binary, config: args}, o)
}

// start runs f on a free port, retrying with a new port if another process
// took it between the probe and the server's bind.
func start(tb testing.TB, f flavour, o Options) *Server {
	tb.Helper()
	bin := f.binary
	if !filepath.IsAbs(bin) {
		bin = Require(tb, f.binary)
	}
	o.defaults()
	if len(o.Zones) == 0 {
		tb.Fatalf("peer: %s: no zones", f.name)
	}
	// The server runs in its own directory: relative zone paths would
	// point nowhere.
	zones, err := absZones(o.Zones)
	if err != nil {
		tb.Fatalf("peer: %s: %v", f.name, err)
	}
	o.Zones = zones
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := launch(tb, f, bin, o)
		if err == nil {
			return s
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	tb.Fatalf("%v", lastErr)
	return nil
}

var errExited = errors.New("exited before it answered")

func launch(tb testing.TB, f flavour, bin string, o Options) (*Server, error) {
	port, err := FreePort(o.Addr)
	if err != nil {
		return nil, err
	}
	origins := make([]string, len(o.Zones))
	for i, z := range o.Zones {
		origins[i] = z.Origin
	}
	return launchAt(tb, f, bin, o, port, origins)
}

// launchAt starts f's binary on port in a temporary directory of its own,
// in a process group of its own, stopped at Cleanup, and waits until each
// of origins answers its SOA.
func launchAt(tb testing.TB, f flavour, bin string, o Options, port int, origins []string) (*Server, error) {
	dir, err := os.MkdirTemp(tb.TempDir(), f.name)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	args, err := f.config(dir, o.Addr, port, o)
	if err != nil {
		return nil, fmt.Errorf("peer: %s: %w", f.name, err)
	}
	s := &Server{
		Name: f.name,
		Addr: net.JoinHostPort(o.Addr, strconv.Itoa(port)),
		Dir:  dir,
		out:  &syncBuffer{},
		done: make(chan struct{}),
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// A process group of its own, so that a test interrupted with ^C does
	// not deliver the signal twice, and Stop reaches only this server.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("peer: %s: %w", f.name, err)
	}
	s.PID = s.cmd.Process.Pid
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(s.Stop)
	if err := WaitSOA(s.Addr, origins, o.Timeout, s.done); err != nil {
		s.Stop()
		if errors.Is(err, errExited) {
			return nil, fmt.Errorf("peer: %s on %s %w; output:\n%s", f.name, s.Addr, err, s.Output())
		}
		return nil, fmt.Errorf("peer: %s on %s: %w; output:\n%s", f.name, s.Addr, err, s.Output())
	}
	s.Ready = time.Since(began)
	return s, nil
}

// WaitSOA polls addr over UDP until each origin answers its SOA with
// NOERROR and AA, the deadline passes, or exited is closed (the server
// died). Exported for tests that start Meridian itself as a subprocess.
func WaitSOA(addr string, origins []string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	c := &dns.Client{Net: "udp", Timeout: 250 * time.Millisecond}
	pending := slices.Clone(origins)
	var last string
	for len(pending) > 0 {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(pending[0]), dns.TypeSOA)
		m.RecursionDesired = false
		r, _, err := c.Exchange(m, addr)
		switch {
		case err == nil && r.Rcode == dns.RcodeSuccess && r.Authoritative && len(r.Answer) > 0:
			pending = pending[1:]
			continue
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("rcode %s aa=%v answers=%d", dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zone %s not answering after %v (last: %s)", pending[0], timeout, last)
		}
		// A refused or connection-refused answer comes back at once; pace
		// the retries so a loading server is not spun on.
		select {
		case <-exited:
			return errExited
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// FreePort returns a port on host that is free for both UDP and TCP at the
// time of the call. A DNS server needs both, and the kernel hands out :0
// ports per protocol.
func FreePort(host string) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("peer: free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("peer: no port on %s free for both UDP and TCP", host)
}

// syncBuffer collects a child's output, written from the exec package's
// copying goroutines and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// quote returns s as a double-quoted string for the configuration files,
// which all accept this syntax. Temporary paths have no quotes in them, but
// a zone file path could.
func quote(s string) (string, error) {
	if strings.ContainsAny(s, "\"\n\\") {
		return "", fmt.Errorf("path %q has characters the configuration cannot hold", s)
	}
	return `"` + s + `"`, nil
}

func absZones(zs []Zone) ([]Zone, error) {
	out := make([]Zone, len(zs))
	for i, z := range zs {
		f, err := filepath.Abs(z.File)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(f); err != nil {
			return nil, err
		}
		out[i] = Zone{Origin: dns.Fqdn(z.Origin), File: f}
	}
	return out, nil
}
