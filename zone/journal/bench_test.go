package journal

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkAppend measures recording one reload's delta of ten changed
// records, fsync included: the primary pays it at every reload. With a
// MaxDeltas bound reached, each append also rewrites the file.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"unbounded", Options{}},
		{"rewrite/max=100", Options{MaxDeltas: 100}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			j := mustOpen(b, filepath.Join(b.TempDir(), "j"), bc.opts)
			s := uint32(1)
			for b.Loop() {
				if err := j.Append(mkDelta(s, s+1, 10)); err != nil {
					b.Fatal(err)
				}
				s++
			}
		})
	}
}

// BenchmarkSince measures serving an IXFR: decoding the chain from a
// secondary's serial, ten changed records per delta.
func BenchmarkSince(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("deltas=%d", n), func(b *testing.B) {
			j := mustOpen(b, filepath.Join(b.TempDir(), "j"), Options{})
			for s := uint32(1); s <= 200; s++ {
				if err := j.Append(mkDelta(s, s+1, 10)); err != nil {
					b.Fatal(err)
				}
			}
			from := uint32(201 - n)
			for b.Loop() {
				ds, ok := j.Since(from)
				if !ok || len(ds) != n {
					b.Fatalf("Since(%d) = %d deltas, %v", from, len(ds), ok)
				}
			}
		})
	}
}

// BenchmarkOpen measures loading a journal of 1000 deltas at start-up,
// every record checksummed and decoded.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "j")
	j := mustOpen(b, path, Options{})
	for s := uint32(1); s <= 1000; s++ {
		if err := j.Append(mkDelta(s, s+1, 10)); err != nil {
			b.Fatal(err)
		}
	}
	j.Close()
	for b.Loop() {
		j, err := Open(path, Options{})
		if err != nil || j.Len() != 1000 {
			b.Fatalf("Open: %v, %d deltas", err, j.Len())
		}
		j.Close()
	}
}
