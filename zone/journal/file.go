package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// fileMode is the mode of new journal files: zone data can be private (its
// transfer is refused by default), so other users get nothing.
const fileMode = 0o640

func (j *Journal) tmpPath() string { return j.path + ".tmp" }

// rewrite replaces the file with one holding entries, atomically: write a
// temporary file, fsync it, rename it over the journal, fsync the
// directory. On error the journal, on disk and in memory, is as it was.
// The caller holds j.mu (or owns j alone, in Open).
func (j *Journal) rewrite(entries []entry) (err error) {
	tmp := j.tmpPath()
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return fmt.Errorf("journal: rewrite: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 256<<10)
	size := int64(headerSize)
	if _, err := w.Write(header()); err != nil {
		return fmt.Errorf("journal: rewrite: %w", err)
	}
	var frame []byte
	for i := range entries {
		frame = entries[i].appendFrame(frame[:0])
		if _, err := w.Write(frame); err != nil {
			return fmt.Errorf("journal: rewrite: %w", err)
		}
		size += entries[i].size()
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("journal: rewrite: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: rewrite: %w", err)
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return fmt.Errorf("journal: rewrite: %w", err)
	}
	// From here the new file is the journal, whatever happens next; only
	// the directory entry's durability is left to secure.
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.size, j.broken = f, size, nil
	j.snap.Store(&snapshot{entries: entries, size: size})
	if err := syncDir(filepath.Dir(j.path)); err != nil {
		return fmt.Errorf("journal: rewrite: %w", err)
	}
	return nil
}

// readFile returns the journal file's bytes, none if it does not exist. It
// reads the header first and stops there when it is not a journal's, so
// that a path pointing at some large unrelated file costs nothing.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, headerSize)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if n < headerSize || !bytes.Equal(head, header()) {
		return head[:n], nil // parse says what is wrong with it
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return append(head, rest...), nil
}

// syncDir makes a rename in dir durable: without it, a crash can bring back
// the old directory entry even though the new file's data is on disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// FileName returns the name of the journal file for a zone, for use in the
// data directory: the origin in lower case without its final dot, with
// every byte other than a letter, a digit, '-' and '.' written %XX so that
// no origin can name a path outside the directory or collide with another,
// and ".jnl" appended. The root zone is "@.jnl" ('@' is otherwise escaped).
func FileName(origin string) string {
	origin = strings.TrimSuffix(strings.ToLower(origin), ".")
	if origin == "" {
		return "@.jnl"
	}
	var b strings.Builder
	for i := 0; i < len(origin); i++ {
		c := origin[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
			b.WriteByte(c)
		case c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String() + ".jnl"
}
