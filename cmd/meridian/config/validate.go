package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Validate checks every setting, the resolver section included whichever
// daemon runs (one file may serve both), and puts zone names in canonical
// form (fully qualified). It reports all problems at once, one per line, each
// naming its key and the line or flag that set it. It looks at the file
// system too: a zone file that does not exist is a config error, not a zone
// that fails to load, because it is almost always a typo in the path.
func (c *Config) Validate() error {
	var errs []error
	add := func(e *Error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if len(c.Listen) == 0 {
		add(c.errAt("listen", nil, "no listen address; give at least one ADDR:PORT"))
	}
	seen := map[string]int{}
	for i, a := range c.Listen {
		key := fmt.Sprintf("listen[%d]", i)
		add(c.checkAddr(key, a))
		if j, dup := seen[a]; dup {
			add(c.errAt(key, nil, "address %s listed twice (also listen[%d])", a, j))
		}
		seen[a] = i
	}
	if c.Metrics != "" {
		add(c.checkAddr("metrics", c.Metrics))
	}
	errs = append(errs, c.checkZones()...)
	errs = append(errs, c.checkReplication()...)
	errs = append(errs, c.checkResolver()...)
	if c.UDPSize < MinUDPSize || c.UDPSize > MaxUDPSize {
		add(c.errAt("udp-size", nil, "%d is out of range; want %d to %d", c.UDPSize, MinUDPSize, MaxUDPSize))
	}
	for _, k := range []struct{ key, v string }{{"identity", c.Identity}, {"version", c.Version}} {
		if len(k.v) > MaxIdentity {
			add(c.errAt(k.key, nil, "%d bytes is too long; want at most %d", len(k.v), MaxIdentity))
		}
	}
	if c.TCP.IdleTimeout <= 0 {
		add(c.errAt("tcp.idle-timeout", nil, "%s: want a positive duration", c.TCP.IdleTimeout))
	}
	if c.TCP.MaxConnections < 0 {
		add(c.errAt("tcp.max-connections", nil, "%d: want 0 (no limit) or more", c.TCP.MaxConnections))
	}
	if c.TCP.MaxQueriesPerConnection < 0 {
		add(c.errAt("tcp.max-queries-per-connection", nil, "%d: want 0 (no limit) or more", c.TCP.MaxQueriesPerConnection))
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		add(c.errAt("log.level", nil, "%q: want debug, info, warn or error", c.Log.Level))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add(c.errAt("log.format", nil, "%q: want text or json", c.Log.Format))
	}
	return errors.Join(errs...)
}

// checkZones checks each zone entry and that no origin is served twice.
func (c *Config) checkZones() []error {
	var errs []error
	seen := map[string]int{}
	for i := range c.Zones {
		z := &c.Zones[i]
		key := fmt.Sprintf("zones[%d]", i)
		switch {
		case z.Origin == "":
			errs = append(errs, c.errAt(key+".origin", nil, "missing; every zone needs an origin"))
		case !validName(z.Origin):
			errs = append(errs, c.errAt(key+".origin", nil, "%q is not a domain name", z.Origin))
		default:
			z.Origin = dns.Fqdn(z.Origin)
			lower := strings.ToLower(z.Origin)
			if j, dup := seen[lower]; dup {
				errs = append(errs, c.errAt(key+".origin", nil, "zone %s listed twice (first as zones[%d]%s)",
					z.Origin, j, c.atLine(fmt.Sprintf("zones[%d]", j))))
			}
			seen[lower] = i
		}
		if z.IsSecondary() {
			continue // checkReplication
		}
		if z.File == "" {
			errs = append(errs, c.errAt(key+".file", nil, "missing; every primary zone needs a master file"))
			continue
		}
		st, err := os.Stat(z.File)
		switch {
		case err != nil:
			errs = append(errs, c.errAt(key+".file", err, "zone file"))
		case st.IsDir():
			errs = append(errs, c.errAt(key+".file", nil, "%s is a directory, not a zone file", z.File))
		}
	}
	return errs
}

// validName accepts what the zone parser accepts as an origin. "." is the
// root zone, which a testbed serves.
func validName(s string) bool {
	_, ok := dns.IsDomainName(s)
	return ok && !strings.HasPrefix(s, "*")
}

// atLine says " at line N" for a key from the file, "" otherwise.
func (c *Config) atLine(key string) string {
	if _, ok := c.flagFor(key); ok {
		return " from a flag"
	}
	if l := c.lineFor(key); l > 0 {
		return fmt.Sprintf(" at line %d", l)
	}
	return ""
}

// checkAddr accepts IP:PORT or :PORT. Names are refused: a listener bound to
// whatever a name resolved to at start-up is a surprise after a reload.
func (c *Config) checkAddr(key, a string) *Error {
	if err := CheckAddr(a); err != nil {
		return c.errAt(key, err, "")
	}
	return nil
}

// CheckAddr reports whether a is a valid listen address: an IP literal (IPv6
// in brackets) or nothing, a colon, and a port from 0 to 65535. Port 0 picks
// a free port, which tests use.
func CheckAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not ADDR:PORT (IPv6 as [::1]:53)", a)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: %q is not an IP address", a, host)
		}
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", a, port)
	}
	return nil
}

// ParseLevel turns a log.level value into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("config: unknown log level %q", s)
}
