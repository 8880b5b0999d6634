package config

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Flags are the settings given on the command line. They are kept apart from
// the file so that a reload re-reads the file and applies them again: a flag
// keeps winning over the file for the life of the process.
//
// Precedence: defaults, then the file, then the flags. A scalar flag
// (-metrics) replaces the file's value. -listen replaces the file's whole
// listen list, because addresses are what differ between instances sharing a
// file. -zone is merged by origin: a zone the file does not have is added, a
// zone it has gets the flag's file. Later keyed flags (-secondary, -tsig)
// follow the -zone rule.
type Flags struct {
	ConfigFile string   // -config; "" means defaults only
	Listen     []string // -listen, in order; nil if not given
	Zones      []Zone   // -zone, in order
	Metrics    *string  // -metrics; nil if not given, "" turns metrics off

	// The resolver's: -root-hints and -ns-port replace the file's value,
	// -allow replaces its whole list (as -listen does).
	RootHints *string  // -root-hints; nil if not given
	Allow     []string // -allow, in order; nil if not given
	NSPort    *int     // -ns-port; nil if not given
}

// RegisterCommon adds -config, -listen and -metrics, the flags every daemon
// has, to fs.
func (f *Flags) RegisterCommon(fs *flag.FlagSet) {
	fs.StringVar(&f.ConfigFile, "config", "", "read settings from the YAML `FILE`; flags override it")
	fs.Func("listen", "serve UDP and TCP on `ADDR:PORT` (repeatable; replaces the file's list; default "+DefaultListen+")",
		func(s string) error {
			if err := CheckAddr(s); err != nil {
				return err
			}
			f.Listen = append(f.Listen, s)
			return nil
		})
	fs.Func("metrics", "serve /metrics and /healthz over HTTP on `ADDR:PORT` (\"\" turns it off)",
		func(s string) error {
			if s != "" {
				if err := CheckAddr(s); err != nil {
					return err
				}
			}
			f.Metrics = &s
			return nil
		})
}

// RegisterZone adds -zone to fs.
func (f *Flags) RegisterZone(fs *flag.FlagSet) {
	fs.Func("zone", "serve zone ORIGIN from master file FILE, given as `ORIGIN=FILE` (repeatable; merged with the config file's zones by origin)",
		func(s string) error {
			z, err := ParseZoneFlag(s)
			if err != nil {
				return err
			}
			f.Zones = append(f.Zones, z)
			return nil
		})
}

// RegisterResolver adds -root-hints, -allow and -ns-port to fs.
func (f *Flags) RegisterResolver(fs *flag.FlagSet) {
	fs.Func("root-hints", "start from the root servers in `FILE` (named.root format) instead of the IANA ones built in",
		func(s string) error {
			if s == "" {
				return fmt.Errorf("want a file name")
			}
			f.RootHints = &s
			return nil
		})
	fs.Func("allow", "answer clients in `CIDR` (repeatable; replaces the file's list; default loopback, RFC 1918 and ULA)",
		func(s string) error {
			if _, err := ParsePrefix(s); err != nil {
				return err
			}
			f.Allow = append(f.Allow, s)
			return nil
		})
	fs.Func("ns-port", "send queries to authoritative servers on port `N` (default 53; for private test hierarchies)",
		func(s string) error {
			n, err := strconv.ParseUint(s, 10, 16)
			if err != nil || n == 0 {
				return fmt.Errorf("%q is not a port from 1 to 65535", s)
			}
			p := int(n)
			f.NSPort = &p
			return nil
		})
}

// ParseZoneFlag parses ORIGIN=FILE.
func ParseZoneFlag(s string) (Zone, error) {
	origin, file, ok := strings.Cut(s, "=")
	if !ok || origin == "" || file == "" {
		return Zone{}, fmt.Errorf("%q: want ORIGIN=FILE, e.g. example.com=example.com.zone", s)
	}
	if !validName(origin) {
		return Zone{}, fmt.Errorf("%q: %q is not a domain name", s, origin)
	}
	return Zone{Origin: dns.Fqdn(origin), File: file}, nil
}

// Build reads the config file (if any), applies the flags over it and
// validates the result. A reload calls it again, so edits to the file take
// effect and the flags still win.
func (f *Flags) Build() (*Config, error) {
	c := Default()
	if f.ConfigFile != "" {
		var err error
		if c, err = Load(f.ConfigFile); err != nil {
			return nil, err
		}
	}
	f.Apply(c)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Apply lays the flags over c, following the precedence on Flags.
func (f *Flags) Apply(c *Config) {
	if f.Listen != nil {
		c.Listen = append([]string(nil), f.Listen...)
		c.setBy("listen", "-listen")
	}
	if f.Metrics != nil {
		c.Metrics = *f.Metrics
		c.setBy("metrics", "-metrics")
	}
	if f.RootHints != nil {
		c.Resolver.RootHints = *f.RootHints
		c.setBy("resolver.root-hints", "-root-hints")
	}
	if f.Allow != nil {
		c.Resolver.Allow = append([]string(nil), f.Allow...)
		c.setBy("resolver.allow", "-allow")
	}
	if f.NSPort != nil {
		c.Resolver.NSPort = *f.NSPort
		c.setBy("resolver.ns-port", "-ns-port")
	}
	for _, z := range f.Zones {
		i := indexZone(c.Zones, z.Origin)
		if i < 0 {
			i = len(c.Zones)
			c.Zones = append(c.Zones, z)
		} else {
			c.Zones[i] = z
		}
		c.setBy(fmt.Sprintf("zones[%d]", i), "-zone "+z.Origin+"="+z.File)
	}
}

// indexZone finds origin in zones, ignoring case and a missing final dot.
func indexZone(zones []Zone, origin string) int {
	want := strings.ToLower(dns.Fqdn(origin))
	for i, z := range zones {
		if strings.ToLower(dns.Fqdn(z.Origin)) == want {
			return i
		}
	}
	return -1
}
