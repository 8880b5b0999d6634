package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/internal/strictyaml"
)

// dir holds the config test files; zone paths in them are relative to it.
const dir = "../../../testdata/config"

func TestLoadGood(t *testing.T) {
	t.Parallel()
	zones := filepath.Join(dir, "../zones/sample")
	tests := []struct {
		file string
		want func(*Config)
	}{
		{"empty.yaml", func(c *Config) {}},
		{"minimal.yaml", func(c *Config) {
			c.Zones = []Zone{{Origin: "example.com.", File: filepath.Join(zones, "example.com.zone")}}
		}},
		{"full.yaml", func(c *Config) {
			c.Listen = []string{"127.0.0.1:5300", "[::1]:5300", ":5301"}
			c.Metrics = "[::1]:9100"
			c.Zones = []Zone{
				{Origin: "example.com.", File: filepath.Join(zones, "example.com.zone")},
				{Origin: "Example.NET.", File: filepath.Join(zones, "example.net.zone")},
			}
			c.UDPSize = 4096
			c.TCP = TCP{IdleTimeout: 90 * time.Second, MaxConnections: 10, MaxQueriesPerConnection: 100}
			c.Log = Log{Level: "debug", Format: "json"}
		}},
		{"repl-good.yaml", func(c *Config) {
			c.DataDir = filepath.Join(dir, "data")
			c.TSIGKeys = []TSIGKey{{Name: "xfr-key", Secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="}}
			c.Zones = []Zone{
				{Origin: "example.com.", File: filepath.Join(zones, "example.com.zone"),
					AllowTransfer: []string{"192.0.2.0/24", "2001:db8::1", "xfr-key"},
					Notify:        []string{"192.0.2.2", "[2001:db8::2]:5353@xfr-key"}},
				{Origin: "example.org.", Type: TypeSecondary, Primaries: []string{"192.0.2.1@xfr-key", "192.0.2.3:5353"}},
			}
			c.Secondary.MinRefresh = 30 * time.Second
		}},
		{"../resolver.yaml", func(c *Config) {
			c.Listen = []string{"127.0.0.1:5300"}
			c.Metrics = "127.0.0.1:9154"
			r := &c.Resolver
			r.RootHints = filepath.Join(dir, "..", "zones/hier/root.hints")
			r.NSPort = 5301
			r.Allow = []string{"127.0.0.0/8", "::1/128"}
			r.ClientTimeout = 1800 * time.Millisecond
			r.ForwardZones = []ServerZone{{"corp.example.", []string{"192.0.2.53", "[2001:db8::53]:5353"}}}
			r.StubZones = []ServerZone{{"10.in-addr.arpa.", []string{"192.0.2.54"}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := Load(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if err := got.Validate(); err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(want)
			if !sameSettings(got, want) {
				t.Errorf("got  %+v\nwant %+v", *got, *want)
			}
		})
	}
}

// sameSettings compares the exported settings, not where they came from.
func sameSettings(a, b *Config) bool {
	a2, b2 := *a, *b
	a2.file, a2.lines, a2.flags = "", nil, nil
	b2.file, b2.lines, b2.flags = "", nil, nil
	return reflect.DeepEqual(a2, b2)
}

// TestLoadBad checks that each bad file is refused with a message that
// names the file, the line and the key, so the operator can go straight to
// the mistake.
func TestLoadBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		line int    // 0: no line expected
		want string // substring of the message
	}{
		{"unknown-top.yaml", 3, `listn: unknown key "listn"; known keys: data-dir, identity, listen, log, metrics, minimal-responses, notify-source, resolver, secondary, tcp, transfer-source, tsig-keys, udp-size, version, zones`},
		{"unknown-nested.yaml", 3, `tcp.idle-timout: unknown key "idle-timout" in tcp`},
		{"unknown-zone-key.yaml", 5, `zones[1].fiel: unknown key "fiel" in zones[1]`},
		{"repeated-key.yaml", 3, `udp-size: key repeated (first at line 1)`},
		{"bad-listen.yaml", 3, `listen[1]: "localhost:53": "localhost" is not an IP address`},
		{"bad-listen-port.yaml", 2, `listen[0]: "127.0.0.1:99999": port "99999" is not a number`},
		{"listen-scalar.yaml", 1, `listen: want a list`},
		{"bad-metrics.yaml", 1, `metrics: "9153" is not ADDR:PORT`},
		{"bad-duration.yaml", 3, `tcp.idle-timeout: want a duration such as 10s or 1m30s, got "10 seconds"`},
		{"negative-duration.yaml", 2, `tcp.idle-timeout: -1s: want a positive duration`},
		{"bad-int.yaml", 2, `tcp.max-connections: want an integer, got "many"`},
		{"udp-small.yaml", 2, `udp-size: 511 is out of range; want 512 to 65535`},
		{"udp-big.yaml", 1, `udp-size: 65536 is out of range`},
		{"missing-zone-file.yaml", 5, `zones[1].file: zone file: stat ` + filepath.Join(dir, "../zones/sample/no-such.zone") + `: no such file`},
		{"dup-origin.yaml", 4, `zones[1].origin: zone EXAMPLE.com. listed twice (first as zones[0] at line 2)`},
		{"zone-no-origin.yaml", 2, `zones[0].origin: missing`},
		{"zone-no-file.yaml", 2, `zones[0].file: missing`},
		{"bad-origin.yaml", 2, `zones[0].origin: "exa mple..com" is not a domain name`},
		{"bad-level.yaml", 2, `log.level: "verbose": want debug, info, warn or error`},
		{"bad-format.yaml", 2, `log.format: "xml": want text or json`},
		{"not-mapping.yaml", 1, `want a mapping of keys to values, got a list`},
		{"two-docs.yaml", 2, `more than one YAML document`},
		{"syntax.yaml", 0, `yaml:`},
		{"unknown-resolver-key.yaml", 2, `resolver.qname-minimization: unknown key "qname-minimization" in resolver; known keys: allow, cache, case-randomisation,`},
		{"bad-allow.yaml", 2, `resolver.allow[1]: "10.1.2.3/8" has bits set after the prefix length; did you mean 10.0.0.0/8?`},
		{"bad-allow-name.yaml", 3, `resolver.allow[0]: "localhost" is not a CIDR prefix`},
		{"bad-ns-port.yaml", 2, `resolver.ns-port: 0: want a port from 1 to 65535`},
		{"dup-forward.yaml", 6, `resolver.stub-zones[0].name: zone CORP.example. listed twice (first as resolver.forward-zones[0] at line 3)`},
		{"bad-server.yaml", 4, `resolver.forward-zones[0].servers[1]: "ns1.corp.example" is not an IP address`},
		{"forward-no-servers.yaml", 3, `resolver.forward-zones[0].servers: missing`},
		{"client-timeout.yaml", 3, `resolver.client-timeout: 2s is not shorter than deadline (1s)`},
		{"min-above-max.yaml", 3, `resolver.cache.min-ttl: 2h0m0s is above cache.max-ttl (1h0m0s)`},
		{"missing-root-hints.yaml", 2, `resolver.root-hints: root hints: stat ` + filepath.Join(dir, "no-such.root") + `: no such file`},
		{"cache-size.yaml", 3, `resolver.cache.size: 0: want 1 or more`},
		{"repl-unknown-key.yaml", 4, `zones[0].allow-transfer[1]: "xfr-key" is neither an address prefix nor a key in tsig-keys`},
		{"repl-bad-prefix.yaml", 5, `zones[0].allow-transfer[0]: "10.1.2.3/8" has bits set after the prefix length`},
		{"repl-bad-source.yaml", 3, `transfer-source: "not-an-address" is not an IP address`},
		{"repl-no-primaries.yaml", 3, `zones[0].primaries: missing; a secondary zone needs at least one primary`},
		{"repl-secondary-file.yaml", 5, `zones[0].file: a secondary zone has no file`},
		{"repl-no-data-dir.yaml", 0, `data-dir: missing; secondary zones are stored in the data directory`},
		{"repl-bad-type.yaml", 3, `zones[0].type: "slave": want primary or secondary`},
		{"repl-bad-notify.yaml", 4, `zones[0].notify[0]: "ns2.example.com": want ADDR[:PORT][@KEYNAME]`},
		{"repl-notify-key.yaml", 4, `zones[0].notify[0]: key "nokey" is not in tsig-keys`},
		{"repl-primary-primaries.yaml", 4, `zones[0].primaries: a primary zone has no primaries; did you mean type: secondary?`},
		{"repl-key-both.yaml", 4, `tsig-keys[0].secret-file: key k has both secret and secret-file`},
		{"repl-key-alg.yaml", 2, `tsig-keys[0]: xfr: key k.: unsupported algorithm "hmac-md5"`},
		{"repl-dup-key.yaml", 4, `tsig-keys[1].name: key K. defined twice (first as tsig-keys[0] at line 2)`},
		{"repl-timers.yaml", 3, `secondary.max-refresh: 10m0s is below secondary.min-refresh (1h0m0s)`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tt.file)
			c, err := Load(path)
			if err == nil {
				err = c.Validate()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if tt.line > 0 {
				var ce *Error
				if !errors.As(err, &ce) || ce.Line != tt.line || ce.File != path {
					t.Errorf("error %q: want a config.Error at %s:%d", msg, path, tt.line)
				}
				if want := path + ":" + strconv.Itoa(tt.line) + ": "; !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
		})
	}
}

// TestAllProblemsReported checks that a file with several mistakes gets
// them all at once, not one per run.
func TestAllProblemsReported(t *testing.T) {
	t.Parallel()
	c, err := Parse("many.yaml", []byte("udp-size: 100\nlog:\n  level: loud\n  format: xml\nlisten: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, want := range []string{"many.yaml:1: udp-size", "many.yaml:3: log.level", "many.yaml:4: log.format", "many.yaml:5: listen: no listen address"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: missing %q", err, want)
		}
	}
}

// TestIdentity checks identity and version: the host name and nothing by
// default, an explicit "" hiding the identity, and a value longer than
// MaxIdentity refused at its line.
func TestIdentity(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	long := strings.Repeat("x", MaxIdentity)
	tests := []struct {
		yaml     string
		identity string
		version  string
		err      string // "": valid
	}{
		{"", host, "", ""},
		{"udp-size: 1232\n", host, "", ""},
		{"identity: \"\"\n", "", "", ""},
		{"identity: ns1.fra.example.com\nversion: meridian 1.2\n", "ns1.fra.example.com", "meridian 1.2", ""},
		{"version: \"\"\n", host, "", ""},
		{"identity: " + long + "\nversion: " + long + "\n", long, long, ""},
		{"listen: [\"127.0.0.1:53\"]\nidentity: " + long + "x\n", "", "", "id.yaml:2: identity: 1025 bytes is too long; want at most 1024"},
		{"version: " + long + "yz\n", "", "", "id.yaml:1: version: 1026 bytes is too long; want at most 1024"},
	}
	for _, tt := range tests {
		c, err := Parse("id.yaml", []byte(tt.yaml))
		if err == nil {
			err = c.Validate()
		}
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%.40q: error %v, want %q", tt.yaml, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%.40q: %v", tt.yaml, err)
			continue
		}
		if c.Identity != tt.identity || c.Version != tt.version {
			t.Errorf("%.40q: identity %.40q, version %.40q; want %.40q, %.40q", tt.yaml, c.Identity, c.Version, tt.identity, tt.version)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	zones := filepath.Join(dir, "../zones/sample")
	com := filepath.Join(zones, "example.com.zone")
	net := filepath.Join(zones, "example.net.zone")
	tests := []struct {
		name    string
		args    []string
		listen  []string
		metrics string
		zones   []Zone
		err     string
	}{
		{name: "defaults", listen: []string{DefaultListen}},
		{
			name:   "flags only",
			args:   []string{"-listen", "127.0.0.1:0", "-listen", "[::1]:0", "-zone", "example.com=" + com, "-metrics", "127.0.0.1:0"},
			listen: []string{"127.0.0.1:0", "[::1]:0"}, metrics: "127.0.0.1:0",
			zones: []Zone{{Origin: "example.com.", File: com}},
		},
		{
			name:   "file then flags: listen replaced, zones merged by origin",
			args:   []string{"-config", filepath.Join(dir, "full.yaml"), "-listen", "127.0.0.1:0", "-zone", "EXAMPLE.COM=" + net, "-zone", "example.org=" + com, "-metrics", ""},
			listen: []string{"127.0.0.1:0"}, metrics: "",
			zones: []Zone{{Origin: "EXAMPLE.COM.", File: net}, {Origin: "Example.NET.", File: net}, {Origin: "example.org.", File: com}},
		},
		{
			name:    "file alone",
			args:    []string{"-config", filepath.Join(dir, "full.yaml")},
			listen:  []string{"127.0.0.1:5300", "[::1]:5300", ":5301"},
			metrics: "[::1]:9100",
			zones:   []Zone{{Origin: "example.com.", File: com}, {Origin: "Example.NET.", File: net}},
		},
		{name: "bad zone flag", args: []string{"-zone", "example.com"}, err: "want ORIGIN=FILE"},
		{name: "bad listen flag", args: []string{"-listen", "localhost:53"}, err: "not an IP address"},
		{name: "missing file from flag", args: []string{"-zone", "example.com=/no/such"}, err: "config: flag -zone example.com.=/no/such: zones[0].file: zone file: stat /no/such"},
		{name: "flag fixes a bad file", args: []string{"-config", filepath.Join(dir, "bad-listen.yaml"), "-listen", "127.0.0.1:0"}, listen: []string{"127.0.0.1:0"}},
		{name: "bad allow flag", args: []string{"-allow", "10.0.0.1/8"}, err: "did you mean 10.0.0.0/8?"},
		{name: "bad ns-port flag", args: []string{"-ns-port", "70000"}, err: "not a port"},
		{name: "missing root hints from flag", args: []string{"-root-hints", "/no/such"}, err: "config: flag -root-hints: resolver.root-hints: root hints: stat /no/such"},
		{name: "allow flag fixes a bad file", args: []string{"-config", filepath.Join(dir, "bad-allow.yaml"), "-allow", "127.0.0.1"}, listen: []string{DefaultListen}},
		{
			name: "replication flags",
			args: []string{"-tsig", "k:hmac-sha256:c2VjcmV0", "-zone", "example.com=" + com, "-allow-transfer", "10.0.0.0/8",
				"-allow-transfer", "k", "-notify", "192.0.2.2@k", "-secondary", "example.org=192.0.2.1@k",
				"-secondary", "example.org=192.0.2.3:5353", "-data", "/tmp"},
			listen: []string{DefaultListen},
			zones: []Zone{
				{Origin: "example.com.", File: com, AllowTransfer: []string{"10.0.0.0/8", "k"}, Notify: []string{"192.0.2.2@k"}},
				{Origin: "example.org.", Type: TypeSecondary, Primaries: []string{"192.0.2.1@k", "192.0.2.3:5353"}},
			},
		},
		{name: "secondary flag replaces a file's zone", args: []string{"-config", filepath.Join(dir, "full.yaml"), "-secondary", "example.com=192.0.2.1", "-data", "/tmp"},
			listen: []string{"127.0.0.1:5300", "[::1]:5300", ":5301"}, metrics: "[::1]:9100",
			zones: []Zone{{Origin: "example.com.", Type: TypeSecondary, Primaries: []string{"192.0.2.1"}}, {Origin: "Example.NET.", File: net}}},
		{name: "bad tsig flag", args: []string{"-tsig", "k:hmac-md5:c2VjcmV0"}, err: "unsupported algorithm"},
		{name: "bad secondary flag", args: []string{"-secondary", "example.org"}, err: "want ORIGIN=PRIMARY_ADDR"},
		{name: "bad notify flag", args: []string{"-notify", "ns1.example"}, err: "want ADDR[:PORT][@KEYNAME]"},
		{name: "secondary without -data", args: []string{"-secondary", "example.org=192.0.2.1"}, err: "data-dir: missing"},
		{name: "allow-transfer names an unknown key", args: []string{"-zone", "example.com=" + com, "-allow-transfer", "nokey"},
			err: "config: flag -zone example.com.=" + com + ": zones[0].allow-transfer[0]: \"nokey\" is neither"},
		{name: "secondary names an unknown key", args: []string{"-secondary", "example.org=192.0.2.1@nokey", "-data", "/tmp"},
			err: "flag -secondary example.org=192.0.2.1@nokey: zones[0].primaries[0]: key \"nokey\" is not in tsig-keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f Flags
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f.RegisterCommon(fs)
			f.RegisterZone(fs)
			f.RegisterResolver(fs)
			f.RegisterReplication(fs)
			err := fs.Parse(tt.args)
			var c *Config
			if err == nil {
				c, err = f.Build()
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Listen, tt.listen) || c.Metrics != tt.metrics || !reflect.DeepEqual(c.Zones, tt.zones) {
				t.Errorf("got listen %+v metrics %+v zones %+v\nwant listen %+v metrics %+v zones %+v",
					c.Listen, c.Metrics, c.Zones, tt.listen, tt.metrics, tt.zones)
			}
		})
	}
}

// TestSample checks the sample config that `make run` uses.
func TestSample(t *testing.T) {
	t.Parallel()
	f := Flags{ConfigFile: "../../../testdata/meridian.yaml"}
	c, err := f.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Zones) < 2 || c.Listen[0] != "127.0.0.1:5353" || c.Metrics != "127.0.0.1:9153" {
		t.Errorf("sample config: %+v", c)
	}
}

// TestEveryKeyDecodes sets every key of the schema in the two sample files
// (meridian.yaml for auth, resolver.yaml for the resolver section), so a
// field of a kind the decoder cannot fill is caught here rather than by an
// operator.
func TestEveryKeyDecodes(t *testing.T) {
	t.Parallel()
	set := map[string]bool{}
	for _, file := range []string{"../../../testdata/meridian.yaml", "../../../testdata/resolver.yaml", "../../../testdata/replication.yaml"} {
		c, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		for k := range c.lines {
			set[index.ReplaceAllString(k, "[]")] = true // any entry of a list
		}
	}
	for _, key := range keys() {
		if !set[key] {
			t.Errorf("key %s is not set in testdata/meridian.yaml, resolver.yaml or replication.yaml; show every key there", key)
		}
	}
}

var index = regexp.MustCompile(`\[[0-9]+\]`)

// TestResolverDefaults checks the defaults the README documents.
func TestResolverDefaults(t *testing.T) {
	t.Parallel()
	r := Default().Resolver
	want := "[127.0.0.0/8 ::1/128 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7]"
	if got := fmt.Sprint(r.Allow); got != want {
		t.Errorf("allow %s, want %s", got, want)
	}
	if r.NSPort != 53 || r.MaxRecursive != 1024 || !r.QnameMinimisation || !r.CaseRandomisation || r.MaxQueries != 64 ||
		r.Deadline != 10*time.Second || r.ClientTimeout != 1800*time.Millisecond || !r.Prefetch || !r.ServeStale ||
		r.StaleWindow != 24*time.Hour || r.Cache != (ResolverCache{Size: 100000, MaxTTL: 24 * time.Hour, NegativeMaxTTL: 3 * time.Hour}) {
		t.Errorf("resolver defaults %+v", r)
	}
}

func TestParseServer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1":           "192.0.2.1:53",
		"192.0.2.1:5300":      "192.0.2.1:5300",
		"2001:db8::1":         "[2001:db8::1]:53",
		"[2001:db8::1]":       "[2001:db8::1]:53",
		"[2001:db8::1]:5300":  "[2001:db8::1]:5300",
		"ns1.example":         "error",
		"192.0.2.1:0":         "error",
		"192.0.2.1:99999":     "error",
		"fe80::1%eth0":        "error",
		"[2001:db8::1]:53:53": "error",
	} {
		ap, err := ParseServer(in, 53)
		got := ap.String()
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("ParseServer(%q) = %s (%v), want %s", in, got, err, want)
		}
	}
}

func TestChanged(t *testing.T) {
	t.Parallel()
	a, b := Default(), Default()
	b.Resolver.Cache.MaxTTL = time.Hour
	b.Resolver.Allow = []string{"10.0.0.0/8"}
	b.Resolver.ForwardZones = []ServerZone{{"corp.", []string{"192.0.2.1"}}}
	b.TCP.MaxConnections = 3
	got := Changed("", *a, *b)
	want := []string{"tcp.max-connections", "resolver.allow", "resolver.cache.max-ttl", "resolver.forward-zones"}
	if !slices.Equal(got, want) {
		t.Errorf("Changed = %q, want %q", got, want)
	}
	if got := Changed("resolver", a.Resolver, a.Resolver); len(got) != 0 {
		t.Errorf("no change: %q", got)
	}
	if got := Lookup(*b, "resolver.cache.max-ttl"); got != time.Hour {
		t.Errorf("Lookup resolver.cache.max-ttl = %v", got)
	}
	if got := Lookup(*b, "resolver.nope"); got != nil {
		t.Errorf("Lookup of no key = %v", got)
	}
}

// TestREADMEDocumentsEveryKey keeps the config reference in README.md in
// step with the struct: every key must appear there, in backquotes.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys() {
		if !strings.Contains(string(readme), "`"+key+"`") {
			t.Errorf("README.md does not document the config key `%s`", key)
		}
	}
}

// keys lists every key of the schema as the README writes it:
// "tcp.idle-timeout", "zones[].file".
func keys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			name := strictyaml.Name(t.Field(i))
			if name == "" {
				continue
			}
			key := prefix + name
			out = append(out, key)
			ft := t.Field(i).Type
			if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
				walk(ft.Elem(), key+"[].")
			} else if ft.Kind() == reflect.Struct {
				walk(ft, key+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}
