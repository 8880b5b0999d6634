package topology

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultMatchesTestdata(t *testing.T) {
	t.Parallel()
	kept, err := os.ReadFile(filepath.Join("..", "..", "testdata", "topologies", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kept, DefaultYAML()) {
		t.Fatal("testdata/topologies/default.yaml differs from testbed/topology/default.yaml; copy the latter over the former")
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	top, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Regions) != 3 {
		t.Fatalf("%d regions, want 3", len(top.Regions))
	}
	for _, r := range top.Regions {
		if _, ok := top.Resolver(r.Name); !ok {
			t.Errorf("no resolver in %s", r.Name)
		}
		for _, o := range top.Regions {
			rtt := top.RTT(r.Name, o.Name)
			if r.Name == o.Name && rtt != 2*time.Millisecond {
				t.Errorf("RTT within %s = %v, want 2ms", r.Name, rtt)
			}
			if r.Name != o.Name && (rtt < 70*time.Millisecond || rtt > 150*time.Millisecond) {
				t.Errorf("RTT %s-%s = %v, want 70-150ms", r.Name, o.Name, rtt)
			}
		}
		// A root and TLD server in every region.
		for _, z := range []string{".", "com.", "net.", "org."} {
			if _, rtt, _ := top.Nearest(r.Name, z); rtt != 2*time.Millisecond {
				t.Errorf("no server of %q in %s", z, r.Name)
			}
		}
	}
	primaries := map[string]bool{}
	for _, z := range top.Leaves() {
		primaries[z.Primary.Region] = true
		if len(z.Secondaries) == 0 {
			t.Errorf("leaf %s has no secondary", z.Name)
		}
	}
	if len(primaries) != 3 {
		t.Errorf("leaf primaries in %d regions, want 3", len(primaries))
	}
	seen := map[netip.Addr]string{}
	for _, s := range top.Servers() {
		if prev, dup := seen[s.Addr.Addr()]; dup {
			t.Errorf("%s and %s share %v", prev, s.Name, s.Addr)
		}
		seen[s.Addr.Addr()] = s.Name
		if p, _ := top.Prefix(s.Region); !p.Contains(s.Addr.Addr()) || s.Addr.Port() != 5300 {
			t.Errorf("%s at %v, outside %v or not on port 5300", s.Name, s.Addr, p)
		}
		if s.Role == RoleSecondary && !s.From.IsValid() {
			t.Errorf("secondary %s transfers from nowhere", s.Name)
		}
	}
}

func TestSmall(t *testing.T) {
	t.Parallel()
	top, err := Load(filepath.Join("..", "..", "testdata", "topologies", "small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := top.Resolver("a")
	if want := netip.MustParseAddrPort("127.10.0.1:5300"); r.Addr != want {
		t.Errorf("resolver of a at %v, want %v", r.Addr, want)
	}
	servers := top.Servers()
	want := []string{
		"resolver-a 127.10.0.1:5300", "resolver-b 127.11.0.1:5300",
		"root-a 127.10.0.2:5300", "root-b 127.11.0.2:5300",
		"test-b 127.11.0.3:5300", "test-a 127.10.0.3:5300",
		"one.test-a 127.10.0.4:5300", "one.test-b 127.11.0.4:5300",
		"two.test-b 127.11.0.5:5300",
	}
	if len(servers) != len(want) {
		t.Fatalf("%d servers, want %d: %v", len(servers), len(want), servers)
	}
	for i, s := range servers {
		if got := s.Name + " " + s.Addr.String(); got != want[i] {
			t.Errorf("server %d = %s, want %s", i, got, want[i])
		}
	}
	if s := servers[7]; s.Role != RoleSecondary || s.From != servers[6].Addr {
		t.Errorf("one.test-b: role %v from %v, want secondary from %v", s.Role, s.From, servers[6].Addr)
	}
	c, _ := top.ClientAddr("b", 0)
	if got := top.OneWay(netip.AddrPortFrom(c, 4000), servers[6].Addr); got != 20*time.Millisecond {
		t.Errorf("one-way b client → a server = %v, want 20ms", got)
	}
	if got := top.OneWay(netip.MustParseAddrPort("127.0.0.1:1"), servers[6].Addr); got != 0 {
		t.Errorf("one-way from outside the regions = %v, want 0", got)
	}
	leaves := top.Leaves()
	if len(leaves) != 2 || leaves[0].Name != "one.test." || len(leaves[0].GeneratedNames()) != 20 {
		t.Errorf("leaves = %v", leaves)
	}
	if cl := top.Clients[0]; cl.Distribution != "zipf" || cl.Exponent != 1 || cl.NXShare != 0.05 {
		t.Errorf("client defaults = %+v", cl)
	}
}

// base is a valid topology that the bad cases below edit.
const base = `port: 5300
regions:
  - name: a
    rtt: {a: 2ms, b: 40ms}
  - name: b
    rtt: {b: 2ms}
zones:
  - name: .
    primary: a
    secondaries: [b]
  - name: x.
    names: 3
    primary: b
clients:
  - {region: a}
`

func TestBad(t *testing.T) {
	t.Parallel()
	if _, err := Parse("bad.yaml", "", []byte(base)); err != nil {
		t.Fatalf("the base of the bad cases is bad itself: %v", err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown key", "port: 5300", "port: 5300\nspeed: 1", "bad.yaml:2: speed: unknown key \"speed\" in the topology"},
		{"unknown key nested", "    names: 3", "    names: 3\n    colour: red", "bad.yaml:13: zones[1].colour: unknown key \"colour\" in zones[1]"},
		{"bad duration", "{a: 2ms, b: 40ms}", "{a: 2ms, b: far}", "bad.yaml:4: regions[0].rtt.b: want a duration"},
		{"unknown region primary", "primary: b", "primary: c", "bad.yaml:13: zone \"x.\": unknown region \"c\" for the primary"},
		{"unknown region secondary", "secondaries: [b]", "secondaries: [b, mars]", "bad.yaml:10: zone \".\": unknown region \"mars\" for a secondary"},
		{"unknown region client", "{region: a}", "{region: z}", "bad.yaml:15: unknown region \"z\" for clients"},
		{"unknown region rtt", "{b: 2ms}", "{b: 2ms, q: 3ms}", "bad.yaml:6: unknown region \"q\" in the RTTs of \"b\""},
		{"no primary", "    names: 3\n    primary: b\n", "    names: 3\n", "bad.yaml:11: zone \"x.\" has no primary"},
		{"transfer from no replica", "secondaries: [b]", "secondaries: [{region: b, from: b}]", "bad.yaml:10: zone \".\": replication cycle b <- b"},
		{"duplicate address", "secondaries: [b]\n  - name: x.\n    names: 3\n    primary: b\n",
			"secondaries: [{region: b, address: 127.11.0.9}]\n  - name: x.\n    names: 3\n    primary: {region: b, address: 127.11.0.9}\n",
			"bad.yaml:13: duplicate address 127.11.0.9 (first used at line 10)"},
		{"address outside region", "  - name: b\n", "  - name: b\n    resolver-address: 127.10.0.9\n",
			"bad.yaml:6: resolver-b: address 127.10.0.9 is not in the server range of region \"b\""},
		{"rtt incomplete", "{a: 2ms, b: 40ms}", "{a: 2ms}", "bad.yaml:3: no RTT between \"a\" and \"b\""},
		{"rtt missing within", "{b: 2ms}", "{a: 40ms}", "bad.yaml:5: no RTT within region \"b\""},
		{"rtt asymmetric", "{b: 2ms}", "{b: 2ms, a: 41ms}", "bad.yaml:4: asymmetric RTT: \"a\" to \"b\" is 40ms but \"b\" to \"a\" is 41ms (line 6)"},
		{"rtt negative", "{a: 2ms, b: 40ms}", "{a: -2ms, b: 40ms}", "bad.yaml:4: negative RTT -2ms from \"a\" to \"a\""},
		{"duplicate region", "  - name: b\n", "  - name: a\n", "bad.yaml:5: region \"a\" declared twice (first at line 3)"},
		{"duplicate zone", "name: x.", "name: .", "bad.yaml:11: zone \".\" declared twice (first at line 8)"},
		{"no root", "name: .", "name: y.", "bad.yaml:8: no root zone"},
		{"file and names", "    names: 3\n", "    names: 3\n    file: x.zone\n", "bad.yaml:12: zone \"x.\": give either file or names"},
		{"client not leaf", "{region: a}", "{region: a, zones: [.]}", "bad.yaml:15: \".\" is not a leaf zone"},
		{"distribution", "{region: a}", "{region: a, distribution: pareto}", "bad.yaml:15: unknown distribution \"pareto\""},
		{"two documents", "port: 5300", "port: 5300\n---\nport: 1", "bad.yaml:2: more than one YAML document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(base, tc.old) {
				t.Fatalf("base does not contain %q", tc.old)
			}
			_, err := Parse("bad.yaml", "", []byte(strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error\n%v\nwant it to contain\n%s", err, tc.want)
			}
		})
	}
}

func TestReplicationCycle(t *testing.T) {
	t.Parallel()
	const y = `regions:
  - name: a
    rtt: {a: 2ms, b: 9ms, c: 9ms}
  - name: b
    rtt: {b: 2ms, c: 9ms}
  - name: c
    rtt: {c: 2ms}
zones:
  - name: .
    primary: a
    secondaries:
      - {region: b, from: c}
      - {region: c, from: b}
`
	_, err := Parse("cycle.yaml", "", []byte(y))
	want := "cycle.yaml:12: zone \".\": replication cycle b <- c <- b"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want it to contain %q", err, want)
	}
}

func TestQueryNames(t *testing.T) {
	t.Parallel()
	top, err := Load(filepath.Join("..", "..", "testdata", "topologies", "files.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names, err := top.QueryNames(top.Clients[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(names, " "), "ns1.one.test. www.one.test. mail.one.test."; got != want {
		t.Errorf("names = %s, want %s", got, want)
	}
	if got := top.ClientZones(top.Clients[0]); len(got) != 1 || got[0] != "one.test." {
		t.Errorf("client zones = %v", got)
	}
	small, err := Load(filepath.Join("..", "..", "testdata", "topologies", "small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names, err = small.QueryNames(Client{Zones: []string{"two.test."}})
	if err != nil || len(names) != 20 || names[0] != "host0.two.test." {
		t.Errorf("generated names = %v, %v", names, err)
	}
}

func TestPhysicalLimit(t *testing.T) {
	t.Parallel()
	top, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, z := range top.Path("host3.bank.com.") {
		path = append(path, z.Name)
	}
	if got := strings.Join(path, " "); got != ". com. bank.com." {
		t.Errorf("path = %s", got)
	}
	// shop.net. lives in us-east and ap-southeast; from eu-west the
	// nearest is us-east at 80ms. Root and net. are local (2ms each); the
	// client's hop to its resolver costs nothing.
	tests := []struct {
		region, name string
		cached       func(string) bool
		want         time.Duration
	}{
		{"eu-west", "host1.shop.net.", nil, 2*time.Millisecond + 2*time.Millisecond + 80*time.Millisecond},
		{"eu-west", "host1.shop.net.", func(z string) bool { return z != "shop.net." }, 80 * time.Millisecond},
		{"ap-southeast", "host1.shop.net.", nil, 6 * time.Millisecond},
		{"us-east", "nx.example.com.", func(string) bool { return true }, 0},
	}
	for _, tc := range tests {
		if got := top.PhysicalLimit(tc.region, tc.name, tc.cached); got != tc.want {
			t.Errorf("PhysicalLimit(%s, %s) = %v, want %v", tc.region, tc.name, got, tc.want)
		}
	}
}
