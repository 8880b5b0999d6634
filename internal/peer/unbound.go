package peer

// Unbound, the reference recursive resolver: Meridian's resolver is
// compared with it answer for answer (cmd/meridian's differential test)
// and QPS for QPS (testdata/bench/resolver.sh).

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// UnboundOptions configure a resolving Unbound. RootHints is required.
type UnboundOptions struct {
	// RootHints is a named.root-format file (root-hints:). For a private
	// hierarchy on loopback, do-not-query-localhost is off, so the hints
	// may name 127.0.0.0/8 addresses. Unbound sends every iterative query
	// to port 53: the hierarchy has to listen there.
	RootHints string
	// Addr is the address to listen on. Default 127.0.0.1.
	Addr string
	// Port to listen on, UDP and TCP. Default 0: a free port, chosen at
	// start and retried if another process takes it first.
	Port int
	// Threads is num-threads. Default 1.
	Threads int
	// CacheMB is the cache size in MiB, split as Unbound's documentation
	// advises: a third to msg-cache-size, two thirds to rrset-cache-size.
	// Default 0 keeps Unbound's defaults (4 MiB and 4 MiB).
	CacheMB int
	// Extra holds further lines for the server: clause, appended after
	// the defaults so that they override them, e.g.
	// "infra-cache-max-rtt: 500".
	Extra []string
	// Timeout bounds the wait for the first answer. Default 15s.
	Timeout time.Duration
}

// StartUnbound starts Unbound as a recursive resolver with only the
// iterator module (no DNSSEC validation), QNAME minimisation on, and
// harden-referral-path off, in its own temporary directory as the current
// user, in the foreground. It returns once Unbound answers a query, and
// stops it in tb.Cleanup.
func StartUnbound(tb testing.TB, o UnboundOptions) *Server {
	tb.Helper()
	bin := Require(tb, "unbound")
	if o.RootHints == "" {
		tb.Fatal("peer: unbound: no root hints")
	}
	hints, err := filepath.Abs(o.RootHints)
	if err == nil {
		_, err = os.Stat(hints)
	}
	if err != nil {
		tb.Fatalf("peer: unbound: root hints: %v", err)
	}
	o.RootHints = hints
	if o.Addr == "" {
		o.Addr = "127.0.0.1"
	}
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := launchUnbound(tb, bin, o)
		if err == nil {
			return s
		}
		lastErr = err
		// Only a free port chosen here can have been taken in between;
		// a fixed one will not come free by trying again.
		if !errors.Is(err, errExited) || o.Port != 0 {
			break
		}
	}
	tb.Fatalf("%v", lastErr)
	return nil
}

func launchUnbound(tb testing.TB, bin string, o UnboundOptions) (*Server, error) {
	dir, err := os.MkdirTemp(tb.TempDir(), "unbound")
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	port := o.Port
	if port == 0 {
		if port, err = FreePort(o.Addr); err != nil {
			return nil, err
		}
	}
	conf, err := unboundConfig(dir, o.Addr, port, o)
	if err != nil {
		return nil, fmt.Errorf("peer: unbound: %w", err)
	}
	confFile := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("peer: unbound: %w", err)
	}
	s := &Server{
		Name: "unbound",
		Addr: net.JoinHostPort(o.Addr, strconv.Itoa(port)),
		Dir:  dir,
		out:  &syncBuffer{},
		done: make(chan struct{}),
	}
	// -d: foreground; with logfile "" and use-syslog no, the log goes
	// to stderr.
	s.cmd = exec.Command(bin, "-d", "-c", confFile)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("peer: unbound: %w", err)
	}
	s.PID = s.cmd.Process.Pid
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(s.Stop)
	if err := WaitAnswer(s.Addr, o.Timeout, s.done); err != nil {
		s.Stop()
		return nil, fmt.Errorf("peer: unbound on %s: %w; output:\n%s", s.Addr, err, s.Output())
	}
	s.Ready = time.Since(began)
	return s, nil
}

// unboundConfig returns the text of an unbound.conf for a resolver on
// host:port keeping its files in dir.
func unboundConfig(dir, host string, port int, o UnboundOptions) (string, error) {
	d, err := quote(dir)
	if err != nil {
		return "", err
	}
	hints, err := quote(o.RootHints)
	if err != nil {
		return "", err
	}
	pid, err := quote(filepath.Join(dir, "unbound.pid"))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	verbosity: 1
	interface: %[1]s@%[2]d
	port: %[2]d
	do-ip4: yes
	do-ip6: no
	do-udp: yes
	do-tcp: yes
	# Fail on a taken port instead of sharing it.
	so-reuseport: no
	do-daemonize: no
	use-syslog: no
	logfile: ""
	log-time-ascii: yes
	chroot: ""
	username: ""
	directory: %[3]s
	pidfile: %[4]s
	root-hints: %[5]s
	num-threads: %[6]d
	access-control: 127.0.0.0/8 allow
	# The hierarchy lives on loopback.
	do-not-query-localhost: no
	qname-minimisation: yes
	# No DNSSEC: the test hierarchy is unsigned, and Meridian does not
	# validate.
	module-config: "iterator"
	harden-referral-path: no
	# Extended DNS errors on SERVFAIL, as Meridian gives them.
	ede: yes
`, host, port, d, pid, hints, o.Threads)
	if o.CacheMB > 0 {
		msg := max(o.CacheMB/3, 1)
		fmt.Fprintf(&b, "\tmsg-cache-size: %dm\n\trrset-cache-size: %dm\n", msg, max(o.CacheMB-msg, 1))
	}
	for _, l := range o.Extra {
		if strings.ContainsRune(l, '\n') {
			return "", fmt.Errorf("extra line %q has a newline", l)
		}
		fmt.Fprintf(&b, "\t%s\n", strings.TrimSpace(l))
	}
	b.WriteString("remote-control:\n\tcontrol-enable: no\n")
	return b.String(), nil
}

// WaitAnswer polls addr over UDP until it answers a query at all (any
// rcode), the deadline passes, or exited is closed. It is the readiness
// check for servers with no zone of their own: resolvers, and an
// authoritative server that serves nothing and refuses everything. The
// question, id.server CH TXT, needs no upstream.
func WaitAnswer(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	c := &dns.Client{Net: "udp", Timeout: 250 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("id.server.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	for {
		_, _, err := c.Exchange(m, addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer after %v (last: %v)", timeout, err)
		}
		// A refused connection comes back at once; pace the retries.
		select {
		case <-exited:
			return errExited
		case <-time.After(20 * time.Millisecond):
		}
	}
}
