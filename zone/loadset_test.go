package zone

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func writeZone(t *testing.T, dir, origin string, serial int, broken bool) string {
	t.Helper()
	text := fmt.Sprintf("$TTL 300\n@ SOA ns1 hostmaster %d 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n", serial)
	if broken {
		text += "www A 192.0.2\n"
	}
	file := filepath.Join(dir, origin+"zone")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestLoadSetReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeZone(t, dir, "a.example.", 1, false)
	b := writeZone(t, dir, "b.example.", 1, true)
	c := writeZone(t, dir, "c.example.", 1, false)

	// Start-up: b fails and has nothing to fall back on, so it answers
	// SERVFAIL while a and c serve.
	set, res := LoadSet([]Spec{{"a.example", a}, {"B.Example.", b}, {"c.example.", c}}, nil, LoadOptions{})
	if set.Len() != 3 {
		t.Fatalf("%d zones, want 3", set.Len())
	}
	check := func(r LoadResult, origin string, ok, kept bool, serial uint32) {
		t.Helper()
		if r.Origin != origin || r.OK != ok || r.KeptPrevious != kept || (r.Err == nil) != ok || r.Serial != serial {
			t.Errorf("result %+v; want origin %s ok %v kept %v serial %d", r, origin, ok, kept, serial)
		}
	}
	check(res[0], "a.example.", true, false, 1)
	check(res[1], "b.example.", false, false, 0)
	check(res[2], "c.example.", true, false, 1)
	var p Problem
	if !errors.As(res[1].Err, &p) || p.File != b || p.Line != 5 {
		t.Errorf("b: error %v, want one naming %s:5", res[1].Err, b)
	}
	if z := set.Get("b.example."); z == nil || z.Err() == nil {
		t.Errorf("b is %v, want a Failed placeholder", z)
	}
	if res[0].Records != 3 {
		t.Errorf("a: %d records, want 3", res[0].Records)
	}

	// Reload: a breaks and keeps serving serial 1; b is fixed; c is no
	// longer configured.
	writeZone(t, dir, "a.example.", 2, true)
	writeZone(t, dir, "b.example.", 2, false)
	set2, res := LoadSet([]Spec{{"a.example.", a}, {"b.example.", b}}, set, LoadOptions{Parallel: 1})
	check(res[0], "a.example.", false, true, 1)
	check(res[1], "b.example.", true, false, 2)
	if set2.Len() != 2 || set2.Get("c.example.") != nil {
		t.Errorf("zones %v, want a and b only", set2.Zones())
	}
	if set2.Get("a.example.") != set.Get("a.example.") {
		t.Error("a is not the previous version")
	}

	// b breaks again: its previous version is kept; a, still broken,
	// keeps the version it kept before.
	writeZone(t, dir, "b.example.", 3, true)
	set3, res := LoadSet([]Spec{{"a.example.", a}, {"b.example.", b}}, set2, LoadOptions{})
	check(res[0], "a.example.", false, true, 1)
	check(res[1], "b.example.", false, true, 2)
	if set3.Get("b.example.").Serial() != 2 {
		t.Errorf("b serial %d, want 2", set3.Get("b.example.").Serial())
	}
}

func TestLoadSetEdges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeZone(t, dir, "a.example.", 7, false)
	other := writeZone(t, dir, "other.example.", 9, false)

	t.Run("duplicate origin", func(t *testing.T) {
		t.Parallel()
		set, res := LoadSet([]Spec{{"a.example.", a}, {"A.EXAMPLE", other}}, nil, LoadOptions{})
		if !res[0].OK || res[1].OK || res[1].Err == nil || set.Len() != 1 || set.Get("a.example.").Serial() != 7 {
			t.Errorf("results %+v, zones %d", res, set.Len())
		}
	})
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		set, res := LoadSet([]Spec{{"x.example.", filepath.Join(dir, "nope")}}, nil, LoadOptions{})
		if res[0].OK || !errors.Is(res[0].Err, os.ErrNotExist) || set.Get("x.example.").Err() == nil {
			t.Errorf("result %+v", res[0])
		}
	})
	t.Run("a placeholder is not a previous version", func(t *testing.T) {
		t.Parallel()
		prev := NewSet(Failed("x.example.", errors.New("earlier")))
		set, res := LoadSet([]Spec{{"x.example.", filepath.Join(dir, "nope")}}, prev, LoadOptions{})
		if res[0].KeptPrevious || set.Get("x.example.").Err() == nil {
			t.Errorf("result %+v", res[0])
		}
	})
	t.Run("many zones in parallel", func(t *testing.T) {
		t.Parallel()
		var specs []Spec
		for i := range 50 {
			origin := fmt.Sprintf("z%d.example.", i)
			specs = append(specs, Spec{origin, writeZone(t, t.TempDir(), origin, i+1, i%10 == 3)})
		}
		set, res := LoadSet(specs, nil, LoadOptions{})
		if set.Len() != 50 {
			t.Fatalf("%d zones", set.Len())
		}
		for i, r := range res {
			if r.OK != (i%10 != 3) || (r.OK && r.Serial != uint32(i+1)) {
				t.Errorf("zone %d: %+v", i, r)
			}
		}
	})
	t.Run("warnings", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "w.zone")
		text := "$TTL 300\n@ SOA ns1 hostmaster 5 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nns1 A 192.0.2.1\n"
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, res := LoadSet([]Spec{{"w.example.", file}}, nil, LoadOptions{})
		if w := res[0].Warnings(); !res[0].OK || len(w) != 1 || w[0].Line != 5 || res[0].Records != 3 {
			t.Errorf("result %+v", res[0])
		}
	})
	t.Run("no zones", func(t *testing.T) {
		t.Parallel()
		set, res := LoadSet(nil, nil, LoadOptions{})
		if set.Len() != 0 || len(res) != 0 {
			t.Errorf("set %d, results %d", set.Len(), len(res))
		}
	})
}
