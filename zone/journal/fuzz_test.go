package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// journalBytes encodes a journal of the given chain in memory.
func journalBytes(tb testing.TB, chain ...uint32) []byte {
	tb.Helper()
	b := header()
	for i := 1; i < len(chain); i++ {
		e, err := encode(mkDelta(chain[i-1], chain[i], i))
		if err != nil {
			tb.Fatal(err)
		}
		b = e.appendFrame(b)
	}
	return b
}

// FuzzJournalOpen feeds arbitrary bytes to Open as a journal file. It must
// never panic, and must either refuse the file (ErrFormat) or load a
// journal that is consistent: a prefix of the file, a chain of valid deltas
// that Since returns whole, the same after a reopen, and open to appends.
func FuzzJournalOpen(f *testing.F) {
	valid := journalBytes(f, 1, 2, 3, 4294967295, 5)
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add(header())
	f.Add([]byte{})
	f.Add([]byte(magic))
	f.Add(append(header(), 0, 0, 0, 4, 0, 0, 0, 0, 1, 2, 3, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := Open(path, Options{})
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Open: unexpected error %v", err)
			}
			return
		}
		defer j.Close()
		disk, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(disk)) != j.Size() {
			t.Fatalf("file is %d bytes, Size() %d", len(disk), j.Size())
		}
		if len(data) >= headerSize && !bytes.HasPrefix(data, disk) {
			t.Fatalf("the loaded file is not a prefix of the input")
		}
		if int64(len(data))-j.Truncated() != j.Size() && len(data) >= headerSize {
			t.Fatalf("Truncated %d of %d bytes, but Size() is %d", j.Truncated(), len(data), j.Size())
		}
		oldest, ok := j.Oldest()
		newest, _ := j.Newest()
		if !ok {
			if j.Len() != 0 {
				t.Fatalf("no oldest serial but %d deltas", j.Len())
			}
			return
		}
		ds, ok := j.Since(oldest)
		if !ok || len(ds) != j.Len() {
			t.Fatalf("Since(oldest) = %d deltas, %v; Len %d", len(ds), ok, j.Len())
		}
		for i, d := range ds {
			if err := d.Validate(); err != nil {
				t.Fatalf("delta %d: %v", i, err)
			}
			if i > 0 && d.From() != ds[i-1].To() {
				t.Fatalf("delta %d starts at %d, the one before ends at %d", i, d.From(), ds[i-1].To())
			}
		}
		if ds[len(ds)-1].To() != newest {
			t.Fatalf("chain ends at %d, Newest %d", ds[len(ds)-1].To(), newest)
		}
		if again := mustOpen(t, path, Options{}); again.Len() != j.Len() || again.Truncated() != 0 {
			t.Fatalf("reopen: %d deltas, %d truncated; want %d, 0", again.Len(), again.Truncated(), j.Len())
		}
	})
}
