package topology

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes the loader panic or loop.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"small.yaml", "files.yaml", "default.yaml"} {
		if data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "topologies", name)); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(base))
	f.Add([]byte("regions: &r\n  - name: a\n    rtt: *r\n"))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		Parse("fuzz.yaml", "", data)
	})
}
