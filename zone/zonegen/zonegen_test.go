package zonegen

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/internal/peer"
)

func TestDeterministic(t *testing.T) {
	t.Parallel()
	gen := func(seed int64) (zone, queries []byte) {
		var z, q bytes.Buffer
		if err := Write(&z, "example.com.", 3000, seed); err != nil {
			t.Fatal(err)
		}
		if err := Queries(&q, "example.com.", 3000, 2000, seed); err != nil {
			t.Fatal(err)
		}
		return z.Bytes(), q.Bytes()
	}
	z1, q1 := gen(7)
	z2, q2 := gen(7)
	if !bytes.Equal(z1, z2) || !bytes.Equal(q1, q2) {
		t.Fatal("same seed gave different output")
	}
	z3, q3 := gen(8)
	if bytes.Equal(z1, z3) || bytes.Equal(q1, q3) {
		t.Fatal("different seeds gave the same output")
	}
}

// zoneIndex parses a generated zone with miekg/dns, independently of
// Meridian's loader, and records which owner names and types exist.
type zoneIndex struct {
	types map[string]map[uint16]bool // owner → types
	cuts  map[string]bool            // delegation points
	kinds map[uint16]int
}

func parse(t *testing.T, text []byte, origin string) *zoneIndex {
	t.Helper()
	ix := &zoneIndex{types: map[string]map[uint16]bool{}, cuts: map[string]bool{}, kinds: map[uint16]int{}}
	zp := dns.NewZoneParser(bytes.NewReader(text), origin, "gen.db")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		name := strings.ToLower(h.Name)
		if ix.types[name] == nil {
			ix.types[name] = map[uint16]bool{}
		}
		ix.types[name][h.Rrtype] = true
		ix.kinds[h.Rrtype]++
		if h.Rrtype == dns.TypeNS && name != origin {
			ix.cuts[name] = true
		}
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("generated zone does not parse: %v", err)
	}
	return ix
}

// exists says whether name owns data or has a descendant that does (an
// empty non-terminal exists too, RFC 4592 §2.2.2).
func (ix *zoneIndex) exists(name string) bool {
	if ix.types[name] != nil {
		return true
	}
	for owner := range ix.types {
		if dns.IsSubDomain(name, owner) {
			return true
		}
	}
	return false
}

func (ix *zoneIndex) underCut(name string) bool {
	for cut := range ix.cuts {
		if dns.IsSubDomain(cut, name) {
			return true
		}
	}
	return false
}

func TestZoneAndQueriesAgree(t *testing.T) {
	t.Parallel()
	const origin = "example.com."
	var z bytes.Buffer
	if err := Write(&z, origin, 2000, 3); err != nil {
		t.Fatal(err)
	}
	ix := parse(t, z.Bytes(), origin)
	for _, typ := range []uint16{dns.TypeSOA, dns.TypeNS, dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypeCNAME, dns.TypeSRV, dns.TypeDS} {
		if ix.kinds[typ] == 0 {
			t.Errorf("no %s records in the generated zone", dns.TypeToString[typ])
		}
	}
	if len(ix.cuts) == 0 {
		t.Error("no delegations in the generated zone")
	}

	g, err := New(origin, 2000, 3)
	if err != nil {
		t.Fatal(err)
	}
	classes := map[Class]int{}
	for i := range 5000 {
		q := g.Query(i)
		classes[q.Class]++
		name := strings.ToLower(q.Name)
		if _, ok := dns.StringToType[q.Type]; !ok {
			t.Fatalf("query %d: unknown type %q", i, q.Type)
		}
		switch q.Class {
		case NXDomain:
			if ix.exists(name) {
				t.Errorf("query %d %s %s: expected NXDOMAIN, but the name exists", i, q.Name, q.Type)
			}
		case Referral:
			if !ix.underCut(name) {
				t.Errorf("query %d %s %s: expected a referral, but no cut above it", i, q.Name, q.Type)
			}
		case DSAtCut:
			if !ix.cuts[name] {
				t.Errorf("query %d %s DS: not a delegation point", i, q.Name)
			}
		case NoData:
			if ix.types[name][dns.StringToType[q.Type]] {
				t.Errorf("query %d %s %s: expected NODATA, but the type exists", i, q.Name, q.Type)
			}
		}
	}
	for c, min := range map[Class]int{Positive: 2000, NoData: 500, NXDomain: 500, Referral: 300, DSAtCut: 50} {
		if classes[c] < min {
			t.Errorf("class %d: %d queries of 5000, want at least %d", c, classes[c], min)
		}
	}
}

// TestCheckzone loads generated zones in the reference checkers, which are
// stricter than our own parser about glue, MX/SRV targets and CNAMEs.
func TestCheckzone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "gen.db")
	var z bytes.Buffer
	if err := Write(&z, "gen.test.", 20000, 11); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("named-checkzone", func(t *testing.T) {
		t.Parallel()
		bin := peer.Require(t, "named-checkzone")
		// -i local: out-of-zone NS and MX targets would otherwise be looked
		// up in the DNS, which is slow or impossible in a sandbox.
		out, err := exec.Command(bin, "-i", "local", "-k", "fail", "-n", "fail",
			"-m", "fail", "-M", "fail", "-S", "fail", "gen.test.", file).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("OK")) {
			t.Fatalf("named-checkzone rejects the zone: %v\n%s", err, out)
		}
	})
	t.Run("nsd-checkzone", func(t *testing.T) {
		t.Parallel()
		bin := peer.Require(t, "nsd-checkzone")
		out, err := exec.Command(bin, "gen.test.", file).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("is ok")) {
			t.Fatalf("nsd-checkzone rejects the zone: %v\n%s", err, out)
		}
	})
}

func BenchmarkWrite1M(b *testing.B) {
	for b.Loop() {
		if err := Write(discard{}, "bench.test.", 1_000_000, 1); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
