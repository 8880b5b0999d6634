// Package topology is the model of the geo testbed (issue 5): the regions
// and the round-trip times between them, the zones with the regions of
// their primaries and secondaries, one resolver per region, and the
// clients' workload. It loads a YAML topology strictly (an unknown key or a
// broken rule is an error naming its line), validates it, and allocates
// every server a loopback address inside its region's block, so that the
// region of any packet's endpoint can be told from its address alone.
package topology

import (
	_ "embed"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// defaultYAML is the topology `meridian testbed` runs when given none. The
// same file is kept at testdata/topologies/default.yaml; a test checks that
// the two are identical.
//
// It is a string so that it cannot be changed.
//
//go:embed default.yaml
var defaultYAML string

// DefaultYAML returns the text of the embedded default topology.
func DefaultYAML() []byte { return []byte(defaultYAML) }

// Default returns the embedded default topology, loaded and validated.
func Default() (*Topology, error) { return Parse("default.yaml", "", []byte(defaultYAML)) }

// Topology is a loaded and validated topology. Its exported fields are
// what the file said (with defaults filled in); the methods give what was
// derived from it: servers, addresses and delays.
type Topology struct {
	// Port is the one port every server listens on, each on its own
	// loopback address. Default 5300: high, so that the testbed runs
	// unprivileged (the resolvers' -ns-port points at it).
	Port uint16 `yaml:"port"`
	// Regions, in order: region i gets the block 127.(10+i).0.0/16.
	Regions []Region `yaml:"regions"`
	// Zones of the hierarchy; exactly one is the root.
	Zones []Zone `yaml:"zones"`
	// Clients, per region, and the names they ask for.
	Clients []Client `yaml:"clients"`

	file    string
	lines   map[string]int // key path → line, kept for messages
	servers []Server
	region  map[string]int // region name → index
}

// Region is an emulated region: an address block and its distances.
type Region struct {
	Name string `yaml:"name"`
	// RTT maps a region name (this one included, for the round trip
	// within the region) to the round-trip time to it. Each pair must be
	// given in at least one of its two rows, and the same in both if given
	// in both.
	RTT map[string]time.Duration `yaml:"rtt"`
	// ResolverAddress optionally fixes the address of the region's
	// resolver; default the first address of the block, 127.(10+i).0.1.
	ResolverAddress string `yaml:"resolver-address"`
}

// Zone is a zone of the hierarchy and where its servers are.
type Zone struct {
	// Name is the zone's apex, "." for the root.
	Name string `yaml:"name"`
	// File is a zone file, relative to the topology file. Exclusive
	// with Names.
	File string `yaml:"file"`
	// Names asks for a generated zone with this many address names
	// (host0 .. hostN-1), besides the delegations to its child zones.
	Names int `yaml:"names"`
	// TTL of the generated records; default 5m.
	TTL time.Duration `yaml:"ttl"`
	// Primary is where the zone is edited; required.
	Primary Replica `yaml:"primary"`
	// Secondaries copy the zone by AXFR/IXFR after a NOTIFY.
	Secondaries []Replica `yaml:"secondaries"`
}

// Replica is one server of a zone. In the file it is a mapping, or just
// the region's name.
type Replica struct {
	Region string `yaml:"region"`
	// From is, for a secondary, the region of the replica it transfers
	// from; default the primary's. Chains are allowed, loops are not.
	From string `yaml:"from"`
	// Address optionally fixes the server's address, which must lie in
	// its region's block; default the next free one.
	Address string `yaml:"address"`
}

// SetScalar takes "us-east" as short for {region: us-east} (strictyaml.ScalarSetter).
func (r *Replica) SetScalar(s string) { r.Region = s }

// SetDefaults gives a zone listed in a file its defaults (strictyaml.Defaulter).
func (z *Zone) SetDefaults() { z.TTL = 5 * time.Minute }

// Client is a group of clients in one region asking their resolver.
type Client struct {
	Region string `yaml:"region"`
	// Count of concurrent clients; default 1.
	Count int `yaml:"count"`
	// Rate is how many questions per second each client asks at most;
	// default 100. Each waits for an answer before its next question, so
	// a slow answer lowers its rate. A bound keeps the clients from
	// saturating the machine's cores, which would measure the CPU rather
	// than the distances.
	Rate float64 `yaml:"rate"`
	// Distribution of the names asked: "zipf" (default) or "uniform".
	Distribution string `yaml:"distribution"`
	// Exponent of the Zipf distribution; default 1.0.
	Exponent float64 `yaml:"exponent"`
	// NXShare is the share of queries for names that do not exist;
	// default 0.05.
	NXShare float64 `yaml:"nx-share"`
	// Zones restricts the names asked to these leaf zones; default all.
	Zones []string `yaml:"zones"`
	// Seed makes the sequence of names repeatable; default 1.
	Seed uint64 `yaml:"seed"`
}

// SetDefaults gives a client group listed in a file its defaults (strictyaml.Defaulter).
func (c *Client) SetDefaults() {
	*c = Client{Count: 1, Rate: 100, Distribution: "zipf", Exponent: 1, NXShare: 0.05, Seed: 1}
}

// Role is what a server does.
type Role int

// The roles of the testbed's servers.
const (
	RoleResolver Role = iota
	RolePrimary
	RoleSecondary
)

func (r Role) String() string {
	switch r {
	case RoleResolver:
		return "resolver"
	case RolePrimary:
		return "primary"
	case RoleSecondary:
		return "secondary"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Server is one server the testbed starts.
type Server struct {
	// Name is unique and fit for a file name: "resolver-eu-west",
	// "com-us-east" ("root-..." for the root zone).
	Name   string
	Role   Role
	Region string
	// Zone is the apex served, "" for a resolver.
	Zone string
	// Addr is the server's own loopback address and the shared port.
	Addr netip.AddrPort
	// From is, for a secondary, the server it transfers from (and that
	// NOTIFYs it).
	From netip.AddrPort
	// Line is where the server was declared in the topology file.
	Line int
}

// Load reads, decodes and validates the topology file at path.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return Parse(path, filepath.Dir(path), data)
}

// Parse decodes and validates a topology; file names it in messages and
// dir is where its zone files are (relative File fields are resolved
// against it and rewritten as paths usable from the working directory).
func Parse(file, dir string, data []byte) (*Topology, error) {
	t := &Topology{Port: 5300, file: file, lines: map[string]int{}}
	if err := decode(file, data, t); err != nil {
		return nil, err
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	for i := range t.Zones {
		if f := t.Zones[i].File; f != "" && !filepath.IsAbs(f) && dir != "" {
			t.Zones[i].File = filepath.Join(dir, f)
		}
	}
	return t, nil
}

// Error is a problem in a topology file, with its line (0 if none).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("topology: %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("topology: %s: %s", e.File, e.Msg)
}
