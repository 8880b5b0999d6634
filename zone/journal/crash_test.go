package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeJournal builds a journal of the given chain in a fresh directory
// and returns its bytes and the offset at which its last record starts.
func writeJournal(t *testing.T, chain ...uint32) (data []byte, lastStart int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "j")
	j := mustOpen(t, path, Options{})
	appendChain(t, j, 4, chain[:len(chain)-1]...)
	lastStart = j.Size()
	appendChain(t, j, 4, chain[len(chain)-2:]...)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, lastStart
}

// TestTornTail cuts the file at every byte offset of its last record, as a
// crash mid-append would: the journal must open with the earlier records
// intact, cut the torn bytes off the file, and accept the append again.
func TestTornTail(t *testing.T) {
	t.Parallel()
	data, lastStart := writeJournal(t, 1, 2, 3, 4)
	for cut := lastStart; cut < int64(len(data)); cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "j")
			if err := os.WriteFile(path, data[:cut], 0o600); err != nil {
				t.Fatal(err)
			}
			j := mustOpen(t, path, Options{})
			if n, _ := j.Newest(); n != 3 || j.Len() != 2 {
				t.Fatalf("newest %d, %d deltas; want 3, 2", n, j.Len())
			}
			if j.Truncated() != cut-lastStart {
				t.Errorf("Truncated = %d, want %d", j.Truncated(), cut-lastStart)
			}
			if st, _ := os.Stat(path); st.Size() != lastStart {
				t.Errorf("file is %d bytes, want the torn tail cut to %d", st.Size(), lastStart)
			}
			if ds, ok := j.Since(1); !ok || len(ds) != 2 {
				t.Fatalf("Since(1) = %d deltas, %v", len(ds), ok)
			}
			appendChain(t, j, 4, 3, 4)
			j.Close()
			if j := mustOpen(t, path, Options{}); j.Len() != 3 || j.Truncated() != 0 {
				t.Errorf("after re-append and reopen: %d deltas, %d truncated", j.Len(), j.Truncated())
			}
		})
	}
}

// TestCorrupt damages one record; everything from it on is dropped and
// everything before it kept.
func TestCorrupt(t *testing.T) {
	t.Parallel()
	data, lastStart := writeJournal(t, 1, 2, 3, 4)
	second := int64(headerSize) + int64(binary.BigEndian.Uint32(data[headerSize:])) + frameSize
	tests := []struct {
		name     string
		at       int64 // byte to flip
		wantLen  int
		wantSize int64
	}{
		{"last record's checksum", lastStart + 4, 2, lastStart},
		{"last record's payload", lastStart + frameSize + 20, 2, lastStart},
		{"last record's final byte", int64(len(data)) - 1, 2, lastStart},
		{"last record's length", lastStart + 1, 2, lastStart},
		{"a middle record's payload", second + frameSize + 30, 1, second},
		{"the first record's serial", headerSize + frameSize + 3, 0, headerSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bad := append([]byte(nil), data...)
			bad[tt.at] ^= 0x40
			path := filepath.Join(t.TempDir(), "j")
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			j := mustOpen(t, path, Options{})
			if j.Len() != tt.wantLen || j.Size() != tt.wantSize {
				t.Errorf("%d deltas in %d bytes; want %d in %d", j.Len(), j.Size(), tt.wantLen, tt.wantSize)
			}
			if j.Truncated() != int64(len(data))-tt.wantSize {
				t.Errorf("Truncated = %d, want %d", j.Truncated(), int64(len(data))-tt.wantSize)
			}
		})
	}
}

// TestValidChecksumBadChain: a record with a correct checksum that does not
// chain to the one before (as a bug or a hand edit could write) is dropped
// like a corrupt one.
func TestValidChecksumBadChain(t *testing.T) {
	t.Parallel()
	data, _ := writeJournal(t, 1, 2, 3)
	e, err := encode(mkDelta(7, 8, 1))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "j")
	if err := os.WriteFile(path, e.appendFrame(data), 0o600); err != nil {
		t.Fatal(err)
	}
	j := mustOpen(t, path, Options{})
	if n, _ := j.Newest(); n != 3 || j.Len() != 2 {
		t.Errorf("newest %d, %d deltas; want 3, 2", n, j.Len())
	}
}

func TestHeader(t *testing.T) {
	t.Parallel()
	good := header()
	badVersion := append([]byte(nil), good...)
	binary.BigEndian.PutUint32(badVersion[8:], 99)
	badFlags := append(journalBytes(t, 1, 2), 0)
	badFlags[15] = 1
	tests := []struct {
		name    string
		data    []byte
		wantErr bool
	}{
		{"empty file", nil, false},
		{"torn header", good[:5], false},
		{"header only", good, false},
		{"short garbage", []byte("hello"), true},
		{"a zone file", []byte("$ORIGIN example.com.\n@ SOA ns1 hostmaster 1 2 3 4 5\n"), true},
		{"other version", badVersion, true},
		{"unknown flags", badFlags, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "j")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			j, err := Open(path, Options{})
			if tt.wantErr {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("Open error = %v, want ErrFormat", err)
				}
				// A file that is not a journal is left alone.
				if got, _ := os.ReadFile(path); string(got) != string(tt.data) {
					t.Errorf("Open changed a file it refused")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer j.Close()
			if j.Len() != 0 || j.Size() != headerSize {
				t.Errorf("%d deltas, %d bytes; want an empty journal", j.Len(), j.Size())
			}
			if got, _ := os.ReadFile(path); string(got) != string(good) {
				t.Errorf("file = %q, want a fresh header", got)
			}
		})
	}
}
