// Package config holds the settings of a Meridian daemon: the YAML file, the
// command-line flags that override it, the defaults, and the checks that run
// before anything starts.
//
// The file and the flags fill the same Config struct. The file is strict: an
// unknown key, a repeated key or a bad value is an error naming the key and
// its line, because a typo that silently falls back to a default is the
// worst kind of DNS outage to debug. Every key has a default, documented in
// README.md (a test keeps the two in step).
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/meridian-dns/meridian/server"
)

// Config is everything `meridian auth` and `meridian resolver` need to run:
// the common settings, the zones (auth) and the resolver section. Later
// daemons (replication, testbed) add sections and zone fields here; the
// decoder takes its schema from the yaml tags, so a new field is a new key.
type Config struct {
	// Listen: every address serves UDP and TCP. Default ["127.0.0.1:53"]:
	// loopback only, so that a server started without thought is not
	// reachable from the network.
	Listen []string `yaml:"listen"`

	// Zones served authoritatively. Default: none. `meridian resolver`
	// ignores them.
	Zones []Zone `yaml:"zones"`

	// Metrics is the address of the HTTP server for /metrics and /healthz.
	// Default "" (off).
	Metrics string `yaml:"metrics"`

	// UDPSize is the EDNS0 UDP payload size advertised and the largest UDP
	// response sent (RFC 6891 §6.2.5); a client's smaller size is honoured.
	// Default 1232, the DNS Flag Day 2020 value: it fits the IPv6 minimum
	// MTU, so answers are not fragmented.
	UDPSize int `yaml:"udp-size"`

	// MinimalResponses leaves the zone's NS RRset out of the authority
	// section of positive answers, and its servers' addresses out of the
	// additional section, as Knot does. Default true. false answers as NSD
	// and BIND do by default.
	MinimalResponses bool `yaml:"minimal-responses"`

	// Identity names this server to whoever asks: the CHAOS TXT questions
	// id.server. and hostname.bind. (RFC 4892) and the NSID option (RFC
	// 5001), so that a client can tell which of many replicas answered.
	// Default: the host name (os.Hostname), as NSD and Unbound do; ""
	// hides it (those questions are REFUSED, no NSID is sent).
	Identity string `yaml:"identity"`

	// Version answers the CHAOS TXT questions version.server. and
	// version.bind. Default "" (hidden, REFUSED): the software version is
	// told only when the operator chooses to.
	Version string `yaml:"version"`

	TCP TCP `yaml:"tcp"`
	Log Log `yaml:"log"`

	// DataDir holds what must survive a restart: the journals of primary
	// zones (so that IXFR works after a restart) and the transferred copies
	// and journals of secondary zones. Created (mode 0700) if missing.
	// Default "" (none): primary zones keep no journal, so IXFR is answered
	// with the whole zone; required when any zone is a secondary.
	DataDir string `yaml:"data-dir"`

	// NotifySource is the address NOTIFYs leave from, and TransferSource
	// the one SOA checks and transfer requests leave from, as BIND's
	// notify-source and transfer-source: peers accept a NOTIFY only from
	// an address they know as the primary, and on a host with many
	// addresses the kernel may pick another. Default "": the first listen
	// address when it is a specific one, else the kernel's choice.
	NotifySource   string `yaml:"notify-source"`
	TransferSource string `yaml:"transfer-source"`

	// TSIGKeys are the TSIG keys (RFC 8945) that allow-transfer, notify and
	// primaries name. Default none.
	TSIGKeys []TSIGKey `yaml:"tsig-keys"`

	// Secondary bounds the SOA timers of secondary zones.
	Secondary SecondaryTimers `yaml:"secondary"`

	// Resolver configures `meridian resolver`; `meridian auth` ignores it.
	Resolver Resolver `yaml:"resolver"`

	// Where each setting came from, for error messages: the config file,
	// the line of each key in it (filled by the decoder), and the flag that
	// replaced a key, if one did.
	file  string
	lines map[string]int
	flags map[string]string
}

// Zone is one zone served: a primary from a master file, or a secondary
// transferred from its primaries (replication.go).
type Zone struct {
	// Origin is the zone's apex name. Required.
	Origin string `yaml:"origin"`
	// Type is primary (served from File) or secondary (transferred from
	// Primaries). Default primary.
	Type string `yaml:"type"`
	// File is the master file of a primary zone: required for a primary,
	// refused for a secondary. A relative path is taken from the directory
	// of the config file (from the working directory for -zone).
	File string `yaml:"file"`
	// AllowTransfer lists who may transfer the zone (AXFR, IXFR): address
	// prefixes (10.0.0.0/8, 2001:db8::/32, or a bare IP) and names of keys
	// in tsig-keys, whose signed requests are allowed from anywhere.
	// Default none: every transfer is refused.
	AllowTransfer []string `yaml:"allow-transfer"`
	// Notify lists the secondaries sent a NOTIFY (RFC 1996) when the
	// serial changes, each ADDR[:PORT][@KEYNAME] (port 53 by default;
	// signed with the key when named). Default none.
	Notify []string `yaml:"notify"`
	// NotifyNS also sends NOTIFY to the zone's own name servers (RFC 1996
	// §3.3): the addresses the zone gives its NS targets, on port 53, except
	// the primary named in the SOA MNAME. Targets outside the zone have no
	// address here and are skipped. Default false.
	NotifyNS bool `yaml:"notify-ns"`
	// Primaries lists the servers a secondary zone is transferred from,
	// tried in order, each ADDR[:PORT][@KEYNAME]; with a key, SOA queries
	// and transfers are signed with it and a NOTIFY from that primary must
	// be. Required for a secondary, refused for a primary.
	Primaries []string `yaml:"primaries"`
}

// Zone types.
const (
	TypePrimary   = "primary"
	TypeSecondary = "secondary"
)

// IsSecondary reports whether z is transferred from primaries.
func (z Zone) IsSecondary() bool { return z.Type == TypeSecondary }

// TCP bounds the resources that TCP clients can hold (RFC 7766 §6.2).
type TCP struct {
	// IdleTimeout closes a connection that has not completed a query for
	// this long. Default 10s: RFC 7766 §6.2.3 asks for seconds, not minutes,
	// so idle clients cannot pin every slot.
	IdleTimeout time.Duration `yaml:"idle-timeout"`
	// MaxConnections is the number of TCP connections open at once, all
	// listen addresses together; one over the limit is closed at once.
	// 0 means no limit. Default 1024.
	MaxConnections int `yaml:"max-connections"`
	// MaxQueriesPerConnection closes a connection after this many queries,
	// bounding pipelining (RFC 7766 §6.2.1.1); the client opens another.
	// 0 means no limit. Default 1000.
	MaxQueriesPerConnection int `yaml:"max-queries-per-connection"`
}

// Log chooses what is logged and how.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// The limits and defaults, named so the README, the flags and the checks
// agree. The server's own defaults are used so the two cannot drift.
const (
	DefaultListen         = "127.0.0.1:53"
	DefaultUDPSize        = server.DefaultUDPSize
	MinUDPSize            = 512 // RFC 1035 §2.3.4; RFC 6891 §6.2.5 treats less as 512
	MaxUDPSize            = 65535
	DefaultIdleTimeout    = server.DefaultTCPIdleTimeout
	DefaultMaxConnections = server.DefaultTCPMaxConns
	DefaultMaxQueries     = server.DefaultTCPMaxQueries
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
	// MaxIdentity bounds identity and version: an answer splits them into
	// TXT strings of 255 bytes, and the NSID goes into every response that
	// asks for it.
	MaxIdentity = 1024
)

// Default returns a Config holding every default.
func Default() *Config {
	return &Config{
		Listen:   []string{DefaultListen},
		UDPSize:  DefaultUDPSize,
		Identity: DefaultIdentity(),

		MinimalResponses: true,
		TCP: TCP{
			IdleTimeout:             DefaultIdleTimeout,
			MaxConnections:          DefaultMaxConnections,
			MaxQueriesPerConnection: DefaultMaxQueries,
		},
		Log:       Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Secondary: defaultSecondaryTimers(),
		Resolver:  defaultResolver(),
		lines:     map[string]int{},
		flags:     map[string]string{},
	}
}

// DefaultIdentity is the default identity: the host name, or "" when the
// system cannot tell it.
func DefaultIdentity() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

// Load reads a config file over the defaults. It does not validate: apply
// the flags first, then call Validate, so that a value a flag replaces is
// never checked.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for a file already read; path names it in messages and
// anchors relative zone file names.
func Parse(path string, data []byte) (*Config, error) {
	c := Default()
	c.file = path
	if err := parseYAML(path, data, c); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	for i := range c.Zones {
		if f := c.Zones[i].File; f != "" && !filepath.IsAbs(f) {
			c.Zones[i].File = filepath.Join(dir, f)
		}
	}
	for i := range c.TSIGKeys {
		if f := c.TSIGKeys[i].SecretFile; f != "" && !filepath.IsAbs(f) {
			c.TSIGKeys[i].SecretFile = filepath.Join(dir, f)
		}
	}
	if f := c.DataDir; f != "" && !filepath.IsAbs(f) {
		c.DataDir = filepath.Join(dir, f)
	}
	if f := c.Resolver.RootHints; f != "" && !filepath.IsAbs(f) {
		c.Resolver.RootHints = filepath.Join(dir, f)
	}
	return c, nil
}

// File is the config file the settings came from, or "" if none.
func (c *Config) File() string { return c.file }

// InFile reports whether the config file sets key ("resolver",
// "zones[0].file"), so that a daemon can say it ignores a section.
func (c *Config) InFile(key string) bool {
	_, ok := c.lines[key]
	return ok
}

// Error is a problem with one setting. It names where the value came from
// (file and line, or the flag) so the operator can go straight to it.
type Error struct {
	File string // the config file, when the value came from it
	Line int    // its line, when known
	Flag string // the flag that set the value, e.g. "-zone", when it came from one
	Key  string // the key's path, e.g. "tcp.idle-timeout" or "zones[1].file"
	Msg  string
	Err  error // the underlying error, if any
}

func (e *Error) Error() string {
	var where string
	switch {
	case e.Flag != "":
		where = "flag " + e.Flag + ": "
	case e.File != "" && e.Line > 0:
		where = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	case e.File != "":
		where = e.File + ": "
	}
	key := ""
	if e.Key != "" {
		key = e.Key + ": "
	}
	msg := e.Msg
	if e.Err != nil {
		if msg != "" {
			msg += ": "
		}
		msg += e.Err.Error()
	}
	return "config: " + where + key + msg
}

func (e *Error) Unwrap() error { return e.Err }

// errAt builds an Error for key, placed where the key was set.
func (c *Config) errAt(key string, err error, format string, args ...any) *Error {
	e := &Error{Key: key, Msg: fmt.Sprintf(format, args...), Err: err}
	if f, ok := c.flagFor(key); ok {
		e.Flag = f
		return e
	}
	e.File = c.file
	e.Line = c.lineFor(key)
	return e
}

// lineFor finds the line of key or, failing that, of its closest parent, so
// that a check on zones[1] without a file points at the zone entry.
func (c *Config) lineFor(key string) int {
	for k := key; k != ""; k = parent(k) {
		if l, ok := c.lines[k]; ok {
			return l
		}
	}
	return 0
}

func (c *Config) flagFor(key string) (string, bool) {
	for k := key; k != ""; k = parent(k) {
		if f, ok := c.flags[k]; ok {
			return f, true
		}
	}
	return "", false
}

// parent strips the last element of a key path: "zones[1].file" →
// "zones[1]" → "zones" → "".
func parent(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		switch key[i] {
		case '.':
			return key[:i]
		case '[':
			return key[:i]
		}
	}
	return ""
}

// setBy records that a flag set key, replacing any line from the file.
func (c *Config) setBy(key, flag string) {
	if c.flags == nil {
		c.flags = map[string]string{}
	}
	c.flags[key] = flag
}
