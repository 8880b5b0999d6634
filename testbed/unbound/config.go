package unbound

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// maxSocketPath is the longest unix socket path Linux takes (sun_path is
// 108 bytes with the terminating NUL).
const maxSocketPath = 107

// config returns the text of unbound.conf for c, whose paths are
// absolute. The settings mirror Meridian's resolver so that the comparison
// is fair: iteration only, one thread, QNAME minimisation, prefetch, and
// serve-stale as RFC 8767 describes it.
func config(c Config) (string, error) {
	dir, err := quote(c.Dir)
	if err != nil {
		return "", err
	}
	hints, err := quote(c.RootHints)
	if err != nil {
		return "", err
	}
	log, err := quote(filepath.Join(c.Dir, logName))
	if err != nil {
		return "", err
	}
	sock := filepath.Join(c.Dir, controlName)
	if len(sock) > maxSocketPath {
		return "", fmt.Errorf("unbound: control socket path %s is longer than %d bytes: choose a shorter Config.Dir", sock, maxSocketPath)
	}
	if sock, err = quote(sock); err != nil {
		return "", err
	}
	addr := c.Addr.WithZone("").Unmap()
	// Only the family of Addr is usable: the outgoing interface is bound
	// to it, so servers of the other family would only time out.
	ip4, ip6 := "yes", "no"
	if addr.Is6() {
		ip4, ip6 = "no", "yes"
	}
	allow := c.Allow
	if len(allow) == 0 {
		allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	verbosity: 1
	directory: %[1]s
	chroot: ""
	username: ""
	pidfile: ""
	do-daemonize: no
	use-syslog: no
	logfile: %[2]s
	log-time-ascii: yes
	interface: %[3]s@%[4]d
	port: %[4]d
	interface-automatic: no
	outgoing-interface: %[3]s
	do-ip4: %[5]s
	do-ip6: %[6]s
	do-udp: yes
	do-tcp: yes
	# Fail on a taken port instead of sharing it.
	so-reuseport: no
	root-hints: %[7]s
	# The testbed's hierarchy lives on loopback.
	do-not-query-localhost: no
	num-threads: 1
	# No DNSSEC: the testbed is unsigned, and Meridian does not validate.
	module-config: "iterator"
	qname-minimisation: yes
	prefetch: yes
	# RFC 8767 serve-stale, as Meridian does it: try upstream for 1.8s
	# before answering from expired data.
	serve-expired: yes
	serve-expired-client-timeout: 1800
	cache-min-ttl: 0
	minimal-responses: yes
	edns-buffer-size: 1232
	infra-keep-probing: yes
	statistics-cumulative: yes
	extended-statistics: yes
`, dir, log, addr, c.Port, ip4, ip6, hints)
	for _, p := range allow {
		fmt.Fprintf(&b, "\taccess-control: %s allow\n", p.Masked())
	}
	for _, z := range c.Zones {
		q, err := quote(z)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\tlocal-zone: %s nodefault\n", q)
	}
	fmt.Fprintf(&b, `remote-control:
	control-enable: yes
	control-interface: %s
	control-use-cert: no
`, sock)
	return b.String(), nil
}

// quote returns s double-quoted for unbound.conf, which has no escapes.
func quote(s string) (string, error) {
	if strings.ContainsAny(s, "\"\n\r\\") {
		return "", fmt.Errorf("unbound: path %q has characters unbound.conf cannot hold", s)
	}
	return `"` + s + `"`, nil
}
