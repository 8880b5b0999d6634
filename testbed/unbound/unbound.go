// Package unbound runs Unbound resolvers in the testbed's regions for the
// comparison (meridian testbed -compare unbound): each one a process of its
// own, bound to one region address for listening and for its iterative
// queries, with root hints naming the testbed's root servers.
package unbound

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sbinDirs are searched after PATH: Debian installs unbound in /usr/sbin,
// which is not on every user's PATH.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// binaries are the programs a Resolver runs.
type binaries struct {
	unbound, control, checkconf string
}

func lookup(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("unbound: %s not found on PATH or in %s (install the unbound package)", name, strings.Join(sbinDirs, ", "))
}

func findBinaries() (binaries, error) {
	var b binaries
	var err error
	if b.unbound, err = lookup("unbound"); err != nil {
		return b, err
	}
	if b.control, err = lookup("unbound-control"); err != nil {
		return b, err
	}
	if b.checkconf, err = lookup("unbound-checkconf"); err != nil {
		return b, err
	}
	return b, nil
}

// Available reports whether unbound, unbound-control and unbound-checkconf
// can be run here, and if not why, in words for the user.
func Available() (ok bool, why string) {
	b, err := findBinaries()
	if err != nil {
		return false, err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, b.unbound, "-V").CombinedOutput(); err != nil {
		return false, fmt.Sprintf("unbound: %s -V: %v: %s", b.unbound, err, bytes.TrimSpace(out))
	}
	return true, ""
}

// Config describes one resolver.
type Config struct {
	// Dir is the working directory for its configuration, log and control
	// socket; created if missing. Required. Its path must be short enough
	// for a unix socket (about 100 bytes).
	Dir string
	// Addr is the address it listens on and sends its iterative queries
	// from, so that the authoritative servers see them coming from its
	// region. Required.
	Addr netip.Addr
	// Port is the listening port, UDP and TCP: 53 in the comparison, any
	// free port in tests. Required. (Unbound's iterative queries always go
	// to port 53, whatever this is.)
	Port uint16
	// RootHints is the path of a root hints file in master-file format.
	// Required.
	RootHints string
	// Allow lists the clients allowed to query. Default 127.0.0.0/8.
	// Beneath it Unbound's own defaults still apply: localhost allowed,
	// everything else refused.
	Allow []netip.Prefix
	// Zones are the testbed's zones. Unbound answers some special-use
	// names itself (test., invalid., the RFC 1918 reverse zones: RFC 6761,
	// RFC 6303); for these zones it is told not to, so that it resolves
	// them as Meridian does.
	Zones []string
}

// Resolver is a running Unbound.
type Resolver struct {
	bin  binaries
	addr netip.AddrPort
	conf string // path of unbound.conf
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	once sync.Once
	err  error // Close's result
}

// Files in Config.Dir.
const (
	confName    = "unbound.conf"
	logName     = "unbound.log"
	controlName = "control.sock"
)

// grace is how long Close waits after SIGTERM before it kills.
const grace = 5 * time.Second

// Start writes the configuration, checks it with unbound-checkconf, starts
// unbound in the foreground as a process of its own, and returns once its
// control socket answers `unbound-control status`. ctx bounds the start
// only; the process lives until Close.
//
// Readiness goes through the control socket rather than a DNS query so
// that the query counters in Stats hold the workload's queries only.
// Unbound opens its listening sockets before it starts the thread that
// serves the control socket, so a status answer means it is listening.
func Start(ctx context.Context, c Config) (*Resolver, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("unbound: %w", err)
	}
	c.Dir = dir
	if c.RootHints, err = filepath.Abs(c.RootHints); err != nil {
		return nil, fmt.Errorf("unbound: %w", err)
	}
	text, err := config(c)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("unbound: %w", err)
	}
	r := &Resolver{
		bin:  bin,
		addr: netip.AddrPortFrom(c.Addr, c.Port),
		conf: filepath.Join(dir, confName),
		log:  filepath.Join(dir, logName),
		done: make(chan struct{}),
	}
	if err := os.WriteFile(r.conf, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("unbound: %w", err)
	}
	if out, err := exec.CommandContext(ctx, bin.checkconf, r.conf).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("unbound: %s: %v: %s", bin.checkconf, err, bytes.TrimSpace(out))
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	if err := r.wait(ctx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("unbound on %s: %w; log %s:\n%s", r.addr, err, r.log, tail(r.log, 20))
	}
	return r, nil
}

func (c *Config) check() error {
	switch {
	case c.Dir == "":
		return errors.New("unbound: Config.Dir is empty")
	case !c.Addr.IsValid():
		return errors.New("unbound: Config.Addr is not a valid address")
	case c.Port == 0:
		return errors.New("unbound: Config.Port is 0")
	case c.RootHints == "":
		return errors.New("unbound: Config.RootHints is empty")
	}
	if _, err := os.Stat(c.RootHints); err != nil {
		return fmt.Errorf("unbound: root hints: %w", err)
	}
	for _, p := range c.Allow {
		if !p.IsValid() {
			return fmt.Errorf("unbound: Config.Allow holds an invalid prefix %v", p)
		}
	}
	return nil
}

// start runs unbound -d. Its stderr goes to the log file as well, where
// Unbound appends its own lines once it has opened the file, so that an
// error from before that point is not lost.
func (r *Resolver) start() error {
	f, err := os.OpenFile(r.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("unbound: %w", err)
	}
	defer f.Close() // the child holds its own descriptor
	r.cmd = exec.Command(r.bin.unbound, "-d", "-c", r.conf)
	r.cmd.Dir = filepath.Dir(r.conf)
	r.cmd.Stdout, r.cmd.Stderr = f, f
	r.cmd.SysProcAttr = &syscall.SysProcAttr{
		// A process group of its own: a ^C at the terminal reaches
		// Meridian, which collects the statistics and then calls Close.
		Setpgid: true,
		// If Meridian dies without Close, do not leave a resolver
		// holding port 53 of a region address. (Linux sends this when
		// the thread that started the child exits; Go keeps its threads
		// unless a goroutine exits locked to one.)
		Pdeathsig: syscall.SIGTERM,
	}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("unbound: %w", err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	return nil
}

// wait polls the control socket until status succeeds, the process exits,
// or ctx ends.
func (r *Resolver) wait(ctx context.Context) error {
	var last error
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := r.control(sctx, "status")
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-r.done:
			return fmt.Errorf("exited before it was ready (%v)", r.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// control runs unbound-control with the resolver's configuration, which
// names its control socket.
func (r *Resolver) control(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, r.bin.control, append([]string{"-c", r.conf}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := bytes.TrimSpace(append(stderr.Bytes(), out...))
		return nil, fmt.Errorf("unbound-control %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// Stats are Unbound's cumulative counters (statistics-cumulative: yes).
// Queries counts client queries only; Start's readiness check adds none.
type Stats struct {
	Queries   uint64 // total.num.queries
	CacheHits uint64 // total.num.cachehits
	CacheMiss uint64 // total.num.cachemiss
	Prefetch  uint64 // total.num.prefetch
	Expired   uint64 // total.num.expired: stale answers served (RFC 8767)
}

// Stats reads the counters with unbound-control stats_noreset.
func (r *Resolver) Stats() (Stats, error) {
	select {
	case <-r.done:
		return Stats{}, errors.New("unbound: stats: process has exited")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := r.control(ctx, "stats_noreset")
	if err != nil {
		return Stats{}, fmt.Errorf("unbound: %w", err)
	}
	return parseStats(out)
}

func parseStats(out []byte) (Stats, error) {
	var s Stats
	fields := map[string]*uint64{
		"total.num.queries":   &s.Queries,
		"total.num.cachehits": &s.CacheHits,
		"total.num.cachemiss": &s.CacheMiss,
		"total.num.prefetch":  &s.Prefetch,
		"total.num.expired":   &s.Expired,
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		p := fields[k]
		if !ok || p == nil {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return Stats{}, fmt.Errorf("unbound: stats: %s: %w", k, err)
		}
		*p = n
		seen++
	}
	if seen != len(fields) {
		return Stats{}, fmt.Errorf("unbound: stats: %d of %d counters in the output", seen, len(fields))
	}
	return s, nil
}

// Addr returns the address and port it listens on.
func (r *Resolver) Addr() netip.AddrPort { return r.addr }

// Log returns the path of its log file.
func (r *Resolver) Log() string { return r.log }

// Close stops the process: SIGTERM, then SIGKILL to its process group
// after a grace period. It waits for the exit and removes nothing. It
// reports an error if the process had already exited or had to be killed.
// It is safe to call more than once.
func (r *Resolver) Close() error {
	r.once.Do(func() {
		select {
		case <-r.done:
			// A crash mid-run would otherwise go unnoticed by a
			// caller that only closes.
			r.err = fmt.Errorf("unbound on %s: had exited before Close (%v); see %s", r.addr, r.cmd.ProcessState, r.log)
			return
		default:
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(grace):
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.done
			r.err = fmt.Errorf("unbound: killed after no exit %v after SIGTERM", grace)
		}
	})
	return r.err
}

// tail returns the last n lines of the file at path, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
