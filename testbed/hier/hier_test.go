package hier

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/testbed/topology"
	"github.com/meridian-dns/meridian/zone"
	"github.com/miekg/dns"
)

// topologies are the topologies every test runs over.
var topologies = []struct {
	name string
	load func() (*topology.Topology, error)
}{
	{"default", topology.Default},
	{"small", func() (*topology.Topology, error) { return topology.Load("../../testdata/topologies/small.yaml") }},
	{"files", func() (*topology.Topology, error) { return topology.Load("../../testdata/topologies/files.yaml") }},
	{"skip", func() (*topology.Topology, error) { return topology.Parse("skip.yaml", "", []byte(skipYAML)) }},
}

// skipYAML has zones whose parents are not their DNS parents: the root
// delegates one.test. (there is no test.), which delegates deep.a.b.one.test.
const skipYAML = `regions:
  - name: a
    rtt: {a: 1ms, b: 9ms}
  - name: b
    rtt: {b: 1ms}
zones:
  - {name: ., primary: a, ttl: 2h}
  - {name: one.test., primary: b, secondaries: [a], names: 3, ttl: 10s}
  - {name: deep.a.b.one.test., primary: a, names: 2}
`

func build(t *testing.T, load func() (*topology.Topology, error)) (*topology.Topology, map[string][]dns.RR) {
	t.Helper()
	top, err := load()
	if err != nil {
		t.Fatal(err)
	}
	zones, err := Build(top, 2026112501)
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != len(top.Zones) {
		t.Fatalf("built %d zones, topology has %d", len(zones), len(top.Zones))
	}
	return top, zones
}

func TestNSName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ zone, region, want string }{
		{".", "eu-west", "ns-eu-west.root-servers."},
		{"com.", "us-east", "ns-us-east.com."},
		{"Example.COM", "a", "ns-a.example.com."},
	} {
		if got := NSName(tc.zone, tc.region); got != tc.want {
			t.Errorf("NSName(%q, %q) = %q, want %q", tc.zone, tc.region, got, tc.want)
		}
	}
}

// TestBuildLoads writes every zone, loads it as the server does and wants
// no problem at all, the same records back, and the SOA and apex NS the
// topology asks for.
func TestBuildLoads(t *testing.T) {
	t.Parallel()
	for _, tc := range topologies {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			top, zones := build(t, tc.load)
			dir := t.TempDir()
			for _, z := range top.Zones {
				rrs := zones[z.Name]
				path := filepath.Join(dir, strings.TrimSuffix("zone."+z.Name, ".")+".zone")
				var buf bytes.Buffer
				if err := WriteZone(&buf, z.Name, rrs); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				loaded, problems, err := zone.Load(z.Name, path, zone.LoadOptions{})
				if err != nil || len(problems) > 0 {
					t.Fatalf("zone %s: %v %v", z.Name, err, problems)
				}
				if got := loaded.Len(); got != len(rrs) {
					t.Errorf("zone %s: loaded %d records, built %d", z.Name, got, len(rrs))
				}
				checkApex(t, top, &z, loaded)
			}
		})
	}
}

func checkApex(t *testing.T, top *topology.Topology, z *topology.Zone, loaded *zone.Zone) {
	t.Helper()
	soa := loaded.SOA()
	if z.File == "" {
		if soa.Serial != 2026112501 || soa.Ns != NSName(z.Name, z.Primary.Region) || soa.Expire != 1209600 ||
			soa.Minttl != min(uint32(z.TTL.Seconds()), 3600) {
			t.Errorf("zone %s: SOA %v", z.Name, soa)
		}
	}
	ns, addrs := loaded.ApexNS()
	var wantNS, gotNS []string
	var wantAddr, gotAddr []netip.Addr
	for _, s := range top.ZoneServers(z.Name) {
		wantNS = append(wantNS, NSName(z.Name, s.Region))
		wantAddr = append(wantAddr, s.Addr.Addr())
	}
	for _, rr := range ns {
		gotNS = append(gotNS, rr.(*dns.NS).Ns)
		if rr.Header().Ttl != uint32(z.TTL.Seconds()) {
			t.Errorf("zone %s: NS TTL %d, want %v", z.Name, rr.Header().Ttl, z.TTL)
		}
	}
	for _, rr := range addrs {
		gotAddr = append(gotAddr, addrOf(rr))
	}
	if !slices.Equal(gotNS, wantNS) || !slices.Equal(gotAddr, wantAddr) {
		t.Errorf("zone %s: apex NS %v at %v, want %v at %v", z.Name, gotNS, gotAddr, wantNS, wantAddr)
	}
}

func addrOf(rr dns.RR) netip.Addr {
	a, _ := netip.AddrFromSlice(rr.(*dns.A).A.To4())
	return a
}

// TestWalk resolves the most popular name of every leaf zone iteratively:
// from the root zone alone, each referral must name exactly the servers of
// the next zone on the name's path, with their loopback addresses as glue,
// and the leaf must answer.
func TestWalk(t *testing.T) {
	t.Parallel()
	for _, tc := range topologies {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			top, zones := build(t, tc.load)
			var all []*zone.Zone
			for name, rrs := range zones {
				all = append(all, zone.New(name, rrs))
			}
			set := zone.NewSet(all...)
			for _, leaf := range top.Leaves() {
				_, edit, err := Change(zones[leaf.Name])
				if err != nil {
					t.Fatal(err)
				}
				if leaf.Names > 0 && edit.Name != "host0."+leaf.Name {
					t.Errorf("leaf %s: most popular name %s", leaf.Name, edit.Name)
				}
				walk(t, top, set, edit.Name, edit.Old)
			}
		})
	}
}

func walk(t *testing.T, top *topology.Topology, set *zone.Set, name string, want netip.Addr) {
	t.Helper()
	path := top.Path(name)
	if path[0].Name != "." {
		t.Fatalf("%s: path starts at %s", name, path[0].Name)
	}
	var res zone.Result
	for i, z := range path {
		set.Get(z.Name).Lookup(name, dns.TypeA, false, &res)
		if i == len(path)-1 {
			if res.Kind != zone.Success || len(res.Answer) != 1 || addrOf(res.Answer[0]) != want {
				t.Errorf("%s at %s: %v %v, want %v", name, z.Name, res.Kind, res.Answer, want)
			}
			break
		}
		next := path[i+1]
		var wantNS, gotNS []string
		var wantGlue, gotGlue []netip.Addr
		for _, s := range top.ZoneServers(next.Name) {
			wantNS = append(wantNS, NSName(next.Name, s.Region))
			wantGlue = append(wantGlue, s.Addr.Addr())
		}
		for _, rr := range res.Ns {
			if rr.Header().Name != next.Name || rr.Header().Ttl != uint32(z.TTL.Seconds()) {
				t.Errorf("%s at %s: referral record %v", name, z.Name, rr)
			}
			gotNS = append(gotNS, rr.(*dns.NS).Ns)
		}
		for _, rr := range res.Extra {
			gotGlue = append(gotGlue, addrOf(rr))
		}
		if res.Kind != zone.Referral || !slices.Equal(gotNS, wantNS) || !slices.Equal(gotGlue, wantGlue) {
			t.Errorf("%s at %s: %v to %v at %v, want referral to %v at %v", name, z.Name, res.Kind, gotNS, gotGlue, wantNS, wantGlue)
		}
	}
	// The set as a whole answers from the deepest zone.
	set.Lookup(name, dns.TypeA, false, &res)
	if res.Kind != zone.Success || res.Zone.Origin() != path[len(path)-1].Name {
		t.Errorf("%s in the set: %v from %v", name, res.Kind, res.Zone)
	}
}

func TestBuildDeterministic(t *testing.T) {
	t.Parallel()
	for _, tc := range topologies {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, a := build(t, tc.load)
			_, b := build(t, tc.load)
			if !reflect.DeepEqual(a, b) {
				t.Error("two Builds differ")
			}
		})
	}
}

func TestRootHints(t *testing.T) {
	t.Parallel()
	for _, tc := range topologies {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			top, zones := build(t, tc.load)
			hints := RootHints(top)
			var buf bytes.Buffer
			for _, rr := range hints {
				buf.WriteString(rr.String() + "\n")
			}
			parsed := parse(t, ".", buf.String())
			if !equalRRs(parsed, hints) {
				t.Fatalf("hints read back as %v, want %v", parsed, hints)
			}
			ns, addrs := zone.New(".", zones["."]).ApexNS()
			var wantNS, gotNS []string
			var wantAddr, gotAddr []netip.Addr
			for _, rr := range ns {
				wantNS = append(wantNS, rr.(*dns.NS).Ns)
			}
			for _, rr := range addrs {
				wantAddr = append(wantAddr, addrOf(rr))
			}
			for _, rr := range hints {
				if rr.Header().Ttl != 3600000 {
					t.Errorf("hint %v: TTL not 3600000", rr)
				}
				switch v := rr.(type) {
				case *dns.NS:
					gotNS = append(gotNS, v.Ns)
				case *dns.A:
					gotAddr = append(gotAddr, addrOf(v))
				}
			}
			if !slices.Equal(gotNS, wantNS) || !slices.Equal(gotAddr, wantAddr) {
				t.Errorf("hints %v at %v, root zone %v at %v", gotNS, gotAddr, wantNS, wantAddr)
			}
			if len(hints) != 2*len(top.ZoneServers(".")) {
				t.Errorf("%d hints for %d root servers", len(hints), len(top.ZoneServers(".")))
			}
		})
	}
}

func parse(t *testing.T, origin, text string) []dns.RR {
	t.Helper()
	zp := dns.NewZoneParser(strings.NewReader(text), origin, "test")
	var out []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		out = append(out, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// equalRRs compares records with their TTLs.
func equalRRs(a, b []dns.RR) bool {
	return slices.EqualFunc(a, b, func(x, y dns.RR) bool {
		return dns.IsDuplicate(x, y) && x.Header().Ttl == y.Header().Ttl
	})
}

func TestWriteZoneRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range topologies {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, zones := build(t, tc.load)
			for origin, rrs := range zones {
				var buf bytes.Buffer
				if err := WriteZone(&buf, origin, rrs); err != nil {
					t.Fatal(err)
				}
				if got := parse(t, origin, buf.String()); !equalRRs(got, rrs) {
					t.Errorf("zone %s read back differently:\n%s", origin, buf.String())
				}
				recs, problems := zone.Parse(&buf, origin, "", zone.LoadOptions{})
				if len(problems) > 0 || len(recs) != len(rrs) {
					t.Errorf("zone %s: zone.Parse: %d records, %v", origin, len(recs), problems)
				}
			}
		})
	}
}

func TestWriteZoneErrors(t *testing.T) {
	t.Parallel()
	soa := func(name string) dns.RR {
		rr, _ := dns.NewRR(name + " 60 IN SOA ns. h. 1 2 3 4 5")
		return rr
	}
	a, _ := dns.NewRR("www.x. 60 IN A 192.0.2.1")
	for _, tc := range []struct {
		name string
		rrs  []dns.RR
		ok   bool
	}{
		{"soa first", []dns.RR{soa("x."), a}, true},
		{"soa later", []dns.RR{a, soa("x.")}, true},
		{"no soa", []dns.RR{a}, false},
		{"soa elsewhere", []dns.RR{soa("y."), a}, false},
		{"two soas", []dns.RR{soa("x."), soa("x.")}, false},
	} {
		var buf bytes.Buffer
		err := WriteZone(&buf, "x.", tc.rrs)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
		}
		if tc.ok && !strings.HasPrefix(strings.SplitN(buf.String(), "\n", 3)[1], "x.\t60\tIN\tSOA") {
			t.Errorf("%s: SOA not first:\n%s", tc.name, buf.String())
		}
	}
}
