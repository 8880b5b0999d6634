package config

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/server/xfr"
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

	// Replication (auth). -tsig is merged by key name over the file's
	// tsig-keys; -allow-transfer and -notify apply to every zone given with
	// -zone (replacing what the file says for that zone); -secondary is
	// merged by origin like -zone (given twice for one origin, it lists two
	// primaries); -data replaces data-dir.
	TSIG          []TSIGKey // -tsig, in order
	AllowTransfer []string  // -allow-transfer, in order
	Notify        []string  // -notify, in order
	Secondaries   []Zone    // -secondary, in order
	DataDir       *string   // -data; nil if not given
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

// RegisterReplication adds -tsig, -allow-transfer, -notify, -secondary and
// -data to fs.
func (f *Flags) RegisterReplication(fs *flag.FlagSet) {
	fs.Func("tsig", "define the TSIG key `NAME:ALGORITHM:BASE64SECRET` (repeatable; algorithm hmac-sha256, -sha384, -sha512 or -sha1)",
		func(s string) error {
			k, err := xfr.ParseKey(s)
			if err != nil {
				return err
			}
			f.TSIG = append(f.TSIG, TSIGKey{Name: k.Name, Algorithm: strings.TrimSuffix(k.Algorithm, "."), Secret: k.Secret})
			return nil
		})
	fs.Func("allow-transfer", "allow transfers of every -zone to `PREFIX|KEYNAME` (repeatable)",
		func(s string) error {
			if looksLikeAddr(s) {
				if _, err := ParsePrefix(s); err != nil {
					return err
				}
			}
			f.AllowTransfer = append(f.AllowTransfer, s)
			return nil
		})
	fs.Func("notify", "send NOTIFY for every -zone to `ADDR[:PORT][@KEYNAME]` (repeatable; port 53 by default)",
		func(s string) error {
			if _, err := ParsePeer(s); err != nil {
				return err
			}
			f.Notify = append(f.Notify, s)
			return nil
		})
	fs.Func("secondary", "serve ORIGIN as a secondary of a primary, given as `ORIGIN=PRIMARY_ADDR[:PORT][@KEYNAME]` (repeatable; needs -data)",
		func(s string) error {
			z, err := ParseSecondaryFlag(s)
			if err != nil {
				return err
			}
			f.Secondaries = append(f.Secondaries, z)
			return nil
		})
	fs.Func("data", "keep journals and transferred zones in `DIR` (created if missing)",
		func(s string) error {
			if s == "" {
				return fmt.Errorf("want a directory")
			}
			f.DataDir = &s
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
	if f.DataDir != nil {
		c.DataDir = *f.DataDir
		c.setBy("data-dir", "-data")
	}
	for _, k := range f.TSIG {
		i := slices.IndexFunc(c.TSIGKeys, func(o TSIGKey) bool { return canonical(o.Name) == k.Name })
		if i < 0 {
			i = len(c.TSIGKeys)
			c.TSIGKeys = append(c.TSIGKeys, k)
		} else {
			c.TSIGKeys[i] = k
		}
		c.setBy(fmt.Sprintf("tsig-keys[%d]", i), "-tsig "+k.Name)
	}
	for _, z := range f.Zones {
		z.AllowTransfer = slices.Clone(f.AllowTransfer)
		z.Notify = slices.Clone(f.Notify)
		i := indexZone(c.Zones, z.Origin)
		if i < 0 {
			i = len(c.Zones)
			c.Zones = append(c.Zones, z)
		} else {
			c.Zones[i] = z
		}
		c.setBy(fmt.Sprintf("zones[%d]", i), "-zone "+z.Origin+"="+z.File)
	}
	fromFlag := map[int]bool{}
	for _, z := range f.Secondaries {
		i := indexZone(c.Zones, z.Origin)
		switch {
		case i < 0:
			i = len(c.Zones)
			c.Zones = append(c.Zones, z)
		case fromFlag[i]: // another primary for the same zone
			c.Zones[i].Primaries = append(c.Zones[i].Primaries, z.Primaries...)
		default:
			c.Zones[i] = z
		}
		fromFlag[i] = true
		c.setBy(fmt.Sprintf("zones[%d]", i), "-secondary "+z.Origin+"="+z.Primaries[0])
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
