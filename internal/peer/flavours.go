package peer

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// StartNSD starts NSD serving o.Zones and waits until every zone answers.
func StartNSD(tb testing.TB, o Options) *Server {
	tb.Helper()
	return start(tb, flavour{name: "nsd", binary: "nsd", config: nsdConfig}, o)
}

// StartKnot starts Knot DNS serving o.Zones and waits until every zone
// answers.
func StartKnot(tb testing.TB, o Options) *Server {
	tb.Helper()
	return start(tb, flavour{name: "knot", binary: "knotd", config: knotConfig}, o)
}

// StartBIND starts BIND (named) serving o.Zones and waits until every zone
// answers.
func StartBIND(tb testing.TB, o Options) *Server {
	tb.Helper()
	return start(tb, flavour{name: "bind", binary: "named", config: bindConfig}, o)
}

// nsdConfig writes nsd.conf. Rate limiting is off. username "" keeps NSD as the current user (the
// Debian default drops to "nsd", which cannot read a root test's temporary
// directory); chroot "" and an empty database keep every file in dir.
func nsdConfig(dir, host string, port int, o Options) ([]string, error) {
	zones, err := absZones(o.Zones)
	if err != nil {
		return nil, err
	}
	ident, hide, err := nsdIdentity(o)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	ip-address: %s@%d
	port: %d
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: "%[4]s"
	database: ""
	zonelistfile: "%[4]s/zone.list"
	xfrdfile: "%[4]s/xfrd.state"
	xfrdir: "%[4]s"
	pidfile: "%[4]s/nsd.pid"
	zonefiles-write: 0
	server-count: %d
	verbosity: 1
	hide-version: %[7]s
	reuseport: no
	minimal-responses: %[6]s
	# Response rate limiting (on by default in Debian's build) would turn
	# a test's or a benchmark's rapid repeats into empty TC=1 slips.
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
%[8]sremote-control:
	control-enable: no
`, host, port, port, dir, o.Workers, yesNo(o.Minimal), hide, ident)
	for _, z := range zones {
		f, err := quote(z.File)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "zone:\n\tname: %q\n\tzonefile: %s\n", z.Origin, f)
	}
	conf := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	// -d: foreground, log to stderr.
	return []string{"-d", "-c", conf}, nil
}

// nsdIdentity returns the lines of nsd.conf's server clause that set
// o.Identity and o.Version, the identity as the NSID too ("ascii_" says it
// is text, not hex), and whether the version is told (hide-version).
func nsdIdentity(o Options) (string, string, error) {
	var b strings.Builder
	hide := "yes"
	for _, kv := range []struct{ key, v string }{{"identity", o.Identity}, {"nsid", o.Identity}, {"version", o.Version}} {
		if kv.v == "" {
			continue
		}
		if kv.key == "nsid" {
			kv.v = "ascii_" + kv.v
		}
		if kv.key == "version" {
			hide = "no"
		}
		q, err := quote(kv.v)
		if err != nil {
			return "", "", err
		}
		fmt.Fprintf(&b, "\t%s: %s\n", kv.key, q)
	}
	return b.String(), hide, nil
}

// knotIdentity adds o.Identity and o.Version to knot.conf's server section,
// the identity as the NSID too (a string not starting 0x is taken as text).
func knotIdentity(b *strings.Builder, o Options) error {
	for _, kv := range []struct{ key, v string }{{"identity", o.Identity}, {"nsid", o.Identity}, {"version", o.Version}} {
		if kv.v == "" {
			continue
		}
		q, err := quote(kv.v)
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "    %s: %s\n", kv.key, q)
	}
	return nil
}

// knotConfig writes knot.conf. With no "user:" knotd stays the current
// user; rundir, storage and the control socket all live in dir.
// zonefile-sync -1 and journal-content none stop it writing back to the
// zone file or keeping a journal.
func knotConfig(dir, host string, port int, o Options) ([]string, error) {
	zones, err := absZones(o.Zones)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `server:
    rundir: "%[1]s"
    pidfile: "%[1]s/knot.pid"
    listen: %[2]s@%[3]d
    udp-workers: %[4]d
    tcp-workers: %[4]d
    background-workers: 1
`, dir, host, port, o.Workers)
	if err := knotIdentity(&b, o); err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, `log:
  - target: stderr
    any: info
database:
    storage: "%[1]s/db"
control:
    listen: "%[1]s/knot.sock"
template:
  - id: default
    storage: "%[1]s"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
`, dir)
	for _, z := range zones {
		f, err := quote(z.File)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  - domain: %q\n    file: %s\n", z.Origin, f)
	}
	conf := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return []string{"-c", conf}, nil
}

// bindConfig writes named.conf with an empty controls block (no rndc
// socket), no recursion and every state file in dir. named runs without -u,
// so as the current user.
func bindConfig(dir, host string, port int, o Options) ([]string, error) {
	zones, err := absZones(o.Zones)
	if err != nil {
		return nil, err
	}
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
	notify no;
	minimal-responses %[4]s;
};
controls { };
`, dir, host, port, yesNo(o.Minimal))
	for _, z := range zones {
		f, err := quote(z.File)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "zone %q {\n\ttype primary;\n\tfile %s;\n};\n", z.Origin, f)
	}
	conf := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	// -g: foreground, log to stderr; -4: IPv4 only; -n: worker threads.
	return []string{"-g", "-4", "-n", strconv.Itoa(o.Workers), "-c", conf}, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
