package hier

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/testbed/topology"
	"github.com/miekg/dns"
)

func TestChange(t *testing.T) {
	t.Parallel()
	for _, tc := range topologies {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			top, zones := build(t, tc.load)
			for _, z := range top.Zones {
				rrs := zones[z.Name]
				before := make([]string, len(rrs))
				for i, rr := range rrs {
					before[i] = rr.String()
				}
				once, e1, err := Change(rrs)
				if err != nil {
					if z.Names == 0 && z.File == "" {
						continue // only name servers: nothing to move
					}
					t.Fatalf("zone %s: %v", z.Name, err)
				}
				twice, e2, err := Change(once)
				if err != nil {
					t.Fatal(err)
				}
				for i, rr := range rrs {
					if rr.String() != before[i] {
						t.Fatalf("zone %s: Change modified record %d: %v", z.Name, i, rr)
					}
				}
				serial := rrs[0].(*dns.SOA).Serial
				if e1.Serial != serial+1 || once[0].(*dns.SOA).Serial != serial+1 || e2.Serial != serial+2 {
					t.Errorf("zone %s: serials %d, %d after %d", z.Name, e1.Serial, e2.Serial, serial)
				}
				if z.Names > 0 && (e1.Name != "host0."+z.Name || e1.Old != HostAddr(0)) {
					t.Errorf("zone %s: edit %+v, want host0 at %v", z.Name, e1, HostAddr(0))
				}
				if e2.Name != e1.Name || e2.Old != e1.New || e1.New == e1.Old || e2.New == e1.New || e2.New == e1.Old {
					t.Errorf("zone %s: edits %+v then %+v", z.Name, e1, e2)
				}
				if d := diffA(rrs, once); len(d) != 1 || d[0] != e1.Name {
					t.Errorf("zone %s: A records changed at %v, want only %s", z.Name, d, e1.Name)
				}
				if d := diffA(once, twice); len(d) != 1 || d[0] != e2.Name {
					t.Errorf("zone %s: second change at %v, want only %s", z.Name, d, e2.Name)
				}
				for _, rr := range rrs {
					if a, ok := rr.(*dns.A); ok && addrOf(a) == e1.New {
						t.Errorf("zone %s: new address %v already used by %v", z.Name, e1.New, a)
					}
				}
			}
		})
	}
}

// diffA returns the owners of the records that differ between a and b,
// which must have the same length, and fails unless those are A records
// (the SOA aside).
func diffA(a, b []dns.RR) []string {
	var out []string
	for i := range a {
		if a[i].String() == b[i].String() || a[i].Header().Rrtype == dns.TypeSOA {
			continue
		}
		if a[i].Header().Rrtype != dns.TypeA {
			return []string{"non-A " + a[i].String()}
		}
		out = append(out, a[i].Header().Name)
	}
	return out
}

func TestChangeErrors(t *testing.T) {
	t.Parallel()
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	soa := rr("x. 60 IN SOA ns.x. h.x. 4294967295 2 3 4 5")
	for _, tc := range []struct {
		name string
		rrs  []dns.RR
		want string // owner moved, "" for an error
	}{
		{"no soa", []dns.RR{rr("www.x. 60 IN A 192.0.2.1")}, ""},
		{"only name servers", []dns.RR{soa, rr("x. 60 IN NS ns.x."), rr("ns.x. 60 IN A 192.0.2.1")}, ""},
		{"first non-ns", []dns.RR{soa, rr("x. 60 IN NS ns.x."), rr("ns.x. 60 IN A 192.0.2.1"),
			rr("b.x. 60 IN A 192.0.2.2"), rr("a.x. 60 IN A 192.0.2.3")}, "b.x."},
		{"host0 wins", []dns.RR{soa, rr("b.x. 60 IN A 192.0.2.2"), rr("host0.x. 60 IN A 192.0.2.3")}, "host0.x."},
	} {
		out, e, err := Change(tc.rrs)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: no error", tc.name)
		case tc.want != "" && (err != nil || e.Name != tc.want):
			t.Errorf("%s: moved %q (%v), want %s", tc.name, e.Name, err, tc.want)
		case tc.want != "" && out[0].(*dns.SOA).Serial != 0:
			t.Errorf("%s: serial %d after 2^32-1, want 0 (RFC 1982)", tc.name, out[0].(*dns.SOA).Serial)
		}
	}
}

// TestBuildErrors feeds Build topologies whose names collide, and a zone
// file with an error, which must be named with its file and line.
func TestBuildErrors(t *testing.T) {
	t.Parallel()
	const head = "regions:\n  - name: a\n    rtt: {a: 1ms}\nzones:\n  - {name: ., primary: a}\n"
	for _, tc := range []struct {
		name, zones, file, want string
	}{
		{"root-servers zone", "  - {name: root-servers., primary: a}\n", "", "falls in zone root-servers."},
		{"ns name is a zone", "  - {name: test., primary: a}\n  - {name: ns-a.test., primary: a}\n", "", "ns-a.test. falls in zone ns-a.test."},
		{"host is a zone", "  - {name: test., primary: a, names: 5}\n  - {name: host3.test., primary: a}\n", "", "generated name host3.test."},
		{"bad file", "  - {name: test., primary: a, file: t.zone}\n",
			"$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 300.0.0.1\n", "t.zone:5"},
		{"file cname at ns name", "  - {name: test., primary: a, file: t.zone}\n",
			"$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nns-a CNAME www\nwww A 192.0.2.2\n", "t.zone:5"},
	} {
		dir := t.TempDir()
		if tc.file != "" {
			if err := os.WriteFile(filepath.Join(dir, "t.zone"), []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		top, err := topology.Parse("t.yaml", dir, []byte(head+tc.zones))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err = Build(top, 1)
		t.Logf("%s: %v", tc.name, err)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.want)
		}
	}
}

// TestBuildFileCuts checks that a zone file's own apex NS, its records at
// the topology's name server names and its data under a child zone of the
// topology give way to the topology's, and that the rest of it is kept.
func TestBuildFileCuts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := `$TTL 60
@ SOA ns h 5 2 3 4 5
@ NS ns
ns A 192.0.2.1
ns-a A 192.0.2.9
www A 192.0.2.2
sub NS ns.elsewhere.
www.sub A 192.0.2.3
`
	if err := os.WriteFile(filepath.Join(dir, "t.zone"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	top, err := topology.Parse("t.yaml", dir, []byte(`regions:
  - name: a
    rtt: {a: 1ms}
zones:
  - {name: ., primary: a}
  - {name: test., primary: a, file: t.zone}
  - {name: sub.test., primary: a, names: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	zones, err := Build(top, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range zones["test."] {
		got = append(got, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	sub := top.ZoneServers("sub.test.")[0].Addr.Addr()
	own := top.ZoneServers("test.")[0].Addr.Addr()
	want := []string{
		"test. 60 IN SOA ns.test. h.test. 5 2 3 4 5",
		"test. 300 IN NS ns-a.test.",
		"ns-a.test. 300 IN A " + own.String(),
		"ns.test. 60 IN A 192.0.2.1",
		"www.test. 60 IN A 192.0.2.2",
		"sub.test. 300 IN NS ns-a.sub.test.",
		"ns-a.sub.test. 300 IN A " + sub.String(),
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
