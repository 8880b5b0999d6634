package peer

// BIND and Knot in the replication roles: as secondaries of a primary under
// test (Meridian), and as primaries that Meridian follows. Transfers and
// NOTIFYs are signed with one TSIG key when Key is set; journals are on so
// that a change to the primary's zone file crosses as an IXFR.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Key is a TSIG key (RFC 8945) shared by both ends of a transfer.
type Key struct {
	Name      string // "xfr-key"
	Algorithm string // "hmac-sha256" (the name BIND and Knot both use)
	Secret    string // base64
}

// XfrOptions configure a peer in a replication role.
type XfrOptions struct {
	// Origin is the one zone replicated.
	Origin string
	// File is the primary's zone file. It is copied into the server's
	// directory (BIND keeps its journal beside it), so change it with
	// Server.ZoneFile and Server.Reload.
	File string
	// Primary is the address (host:port) a secondary transfers from and
	// accepts NOTIFY from.
	Primary string
	// Notify lists the addresses (host:port) a primary NOTIFYs on a
	// change, signed with Key when it is set. A primary lets them
	// transfer the zone (with Key, only requests signed with it). A
	// secondary lets 127.0.0.0/8 transfer its copy, signed with Key when
	// it is set, so that a test can compare it with the primary's.
	Notify []string
	// Key, when set, signs SOA queries, transfers and NOTIFYs, and a
	// primary then allows transfers only to requests signed with it.
	Key *Key
	// Addr is the loopback address to listen on. Default 127.0.0.1.
	Addr string
	// Port to listen on, when the primary must know it before the
	// secondary starts (to NOTIFY it). Default 0: a free port.
	Port int
	// Timeout bounds the wait until the zone answers (for a secondary:
	// until the first transfer is done). Default 60s.
	Timeout time.Duration
}

// StartBINDSecondary starts named as a secondary of o.Primary and returns
// once it serves the zone, that is, once the first AXFR is done.
func StartBINDSecondary(tb testing.TB, o XfrOptions) *Server {
	tb.Helper()
	return startXfr(tb, flavour{name: "bind-secondary", binary: "named", config: bindXfrConfig(o, false)}, o)
}

// StartBINDPrimary starts named as the primary of o.File with
// ixfr-from-differences, so that a reload after a change to the zone file
// records the difference in its journal and serves it as IXFR, and
// "notify explicit" to o.Notify.
func StartBINDPrimary(tb testing.TB, o XfrOptions) *Server {
	tb.Helper()
	return startXfr(tb, flavour{name: "bind-primary", binary: "named", config: bindXfrConfig(o, true)}, o)
}

// StartKnotSecondary starts knotd as a secondary of o.Primary and returns
// once it serves the zone.
func StartKnotSecondary(tb testing.TB, o XfrOptions) *Server {
	tb.Helper()
	return startXfr(tb, flavour{name: "knot-secondary", binary: "knotd", config: knotXfrConfig(o, false)}, o)
}

// StartKnotPrimary starts knotd as the primary of o.File with
// "zonefile-load: difference" and a journal, so that a reload after a
// change to the zone file serves the difference as IXFR, and NOTIFYs
// o.Notify.
func StartKnotPrimary(tb testing.TB, o XfrOptions) *Server {
	tb.Helper()
	return startXfr(tb, flavour{name: "knot-primary", binary: "knotd", config: knotXfrConfig(o, true)}, o)
}

// ZoneFile is the path of a primary's own copy of its zone file: write the
// new version there (write and rename), then call Reload.
func (s *Server) ZoneFile() string { return filepath.Join(s.Dir, "primary.zone") }

// Reload makes the server re-read its zone files: SIGHUP, which both named
// and knotd take as "reload configuration and zones".
func (s *Server) Reload() error {
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("peer: %s: reload: %w", s.Name, err)
	}
	return nil
}

// startXfr is start without the zone file checks: a secondary has no file
// until its first transfer, and a primary's file is copied by its config.
func startXfr(tb testing.TB, f flavour, o XfrOptions) *Server {
	tb.Helper()
	bin := Require(tb, f.binary)
	po := Options{Zones: []Zone{{Origin: dns.Fqdn(o.Origin)}}, Addr: o.Addr, Timeout: o.Timeout}
	po.defaults()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		var s *Server
		var err error
		if o.Port == 0 {
			s, err = launch(tb, f, bin, po)
		} else {
			s, err = launchAt(tb, f, bin, po, o.Port, []string{po.Zones[0].Origin})
		}
		if err == nil {
			return s
		}
		lastErr = err
		if o.Port != 0 || !errors.Is(err, errExited) {
			break
		}
	}
	tb.Fatalf("%v", lastErr)
	return nil
}

// copyZone copies the primary's zone file into dir.
func copyZone(dir, file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "primary.zone")
	return dst, os.WriteFile(dst, b, 0o644)
}

func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	return h, n, err
}

// bindXfrConfig writes named.conf for a primary or a secondary.
func bindXfrConfig(o XfrOptions, primary bool) Args {
	return func(dir, host string, port int, _ Options) ([]string, error) {
		var b strings.Builder
		fmt.Fprintf(&b, `options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[3]d { %[2]s; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify-delay 0;
	querylog yes;
	// Retry quickly: the tests wait on convergence.
	min-refresh-time 1;
	min-retry-time 1;
};
controls { };
logging {
	channel out { stderr; severity info; print-category yes; };
	category default { out; };
	category xfer-in { out; };
	category xfer-out { out; };
	category notify { out; };
};
`, dir, host, port)
		keyRef := ""
		if o.Key != nil {
			fmt.Fprintf(&b, "key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n", o.Key.Name, o.Key.Algorithm, o.Key.Secret)
			keyRef = " key " + strconv.Quote(o.Key.Name)
		}
		origin := dns.Fqdn(o.Origin)
		if primary {
			file, err := copyZone(dir, o.File)
			if err != nil {
				return nil, err
			}
			var notify, allow []string
			for _, n := range o.Notify {
				h, p, err := splitHostPort(n)
				if err != nil {
					return nil, err
				}
				notify = append(notify, fmt.Sprintf("%s port %d%s;", h, p, keyRef))
				allow = append(allow, h+";")
			}
			if o.Key != nil {
				allow = []string{strings.TrimPrefix(keyRef, " ") + ";"}
			}
			fmt.Fprintf(&b, `zone %q {
	type primary;
	file %q;
	ixfr-from-differences yes;
	notify explicit;
	also-notify { %s };
	allow-transfer { %s };
};
`, origin, file, strings.Join(notify, " "), strings.Join(allow, " "))
		} else {
			h, p, err := splitHostPort(o.Primary)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, `zone %q {
	type secondary;
	file "secondary.zone";
	masterfile-format text;
	primaries { %s port %d%s; };
	allow-notify { %s; };
	allow-transfer { 127.0.0.0/8; };
	request-ixfr yes;
};
`, origin, h, p, keyRef, h)
		}
		conf := filepath.Join(dir, "named.conf")
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			return nil, err
		}
		return []string{"-g", "-4", "-n", "1", "-c", conf}, nil
	}
}

// knotXfrConfig writes knot.conf for a primary or a secondary. The journal
// keeps the changes (and, for a primary, the zone itself, which
// "zonefile-load: difference" diffs the new file against).
func knotXfrConfig(o XfrOptions, primary bool) Args {
	return func(dir, host string, port int, _ Options) ([]string, error) {
		// Knot does not create its database directory; without it the
		// journal cannot be opened and every reload fails.
		if err := os.MkdirAll(filepath.Join(dir, "db"), 0o755); err != nil {
			return nil, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, `server:
    rundir: "%[1]s"
    pidfile: "%[1]s/knot.pid"
    listen: %[2]s@%[3]d
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "%[1]s/db"
control:
    listen: "%[1]s/knot.sock"
`, dir, host, port)
		keyLine := ""
		if o.Key != nil {
			fmt.Fprintf(&b, "key:\n  - id: %s\n    algorithm: %s\n    secret: %s\n", o.Key.Name, o.Key.Algorithm, o.Key.Secret)
			keyLine = "\n    key: " + o.Key.Name
		}
		origin := dns.Fqdn(o.Origin)
		if primary {
			file, err := copyZone(dir, o.File)
			if err != nil {
				return nil, err
			}
			if len(o.Notify) > 0 {
				b.WriteString("remote:\n")
			}
			ids := make([]string, len(o.Notify))
			for i, n := range o.Notify {
				h, p, err := splitHostPort(n)
				if err != nil {
					return nil, err
				}
				ids[i] = fmt.Sprintf("notify%d", i)
				fmt.Fprintf(&b, "  - id: %s\n    address: %s@%d%s\n", ids[i], h, p, keyLine)
			}
			addr := "127.0.0.0/8"
			if o.Key != nil {
				addr = "0.0.0.0/0"
			}
			fmt.Fprintf(&b, `acl:
  - id: transfer
    address: %s%s
    action: transfer
zone:
  - domain: %q
    file: %q
    storage: "%s"
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: all
    notify: [%s]
    acl: transfer
`, addr, keyLine, origin, file, dir, strings.Join(ids, ", "))
		} else {
			h, p, err := splitHostPort(o.Primary)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, `remote:
  - id: primary
    address: %[1]s@%[2]d%[3]s
acl:
  - id: notify
    address: %[1]s%[3]s
    action: notify
  - id: transfer
    address: 127.0.0.0/8%[3]s
    action: transfer
zone:
  - domain: %[4]q
    file: "%[5]s/secondary.zone"
    storage: "%[5]s"
    master: primary
    acl: [notify, transfer]
    zonefile-sync: 0
    journal-content: changes
`, h, p, keyLine, origin, dir)
		}
		conf := filepath.Join(dir, "knot.conf")
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			return nil, err
		}
		return []string{"-c", conf}, nil
	}
}
