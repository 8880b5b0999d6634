// Package journal keeps, per zone, the history of differences between its
// versions on disk, so that a primary can answer IXFR (RFC 1995) with only
// what changed, even after a restart.
//
// A journal is a chain of diff.Delta values, each starting at the serial the
// previous one reached. Since(serial) returns the chain from a secondary's
// serial to the newest version; when the journal no longer reaches back that
// far, the server answers with the whole zone instead (RFC 1995 §4). The
// journal is bounded in bytes and, optionally, in deltas; the oldest are
// dropped first, as are deltas whose starting serial is no longer older than
// the newest by RFC 1982 arithmetic (a secondary that far behind could not
// be told apart from one ahead).
//
// The journal does not know which version the server holds. At start-up
// the caller compares Newest with the zone's serial and calls Reset when
// they differ (the zone file changed while the server was down); at each
// reload it appends the diff.Diff of the two versions before serving the
// new one. See the example.
//
// # Crash safety
//
// The file is append-only: a 16-byte header, then one record per delta, each
// framed by its length and a CRC-32C of its contents (format.go), and every
// append is followed by fsync. A process killed mid-append leaves at worst a
// partial last record; Open reads records until the first that is torn,
// fails its checksum, does not decode or does not chain to the one before,
// truncates the file there and keeps everything before it. So a journal
// never loads wrong: at worst it loads shorter, which costs a secondary a
// full transfer, never a wrong zone. Appending is cheap (one write and one
// fsync of the new record), which matters because the primary appends at
// every reload.
//
// Dropping old deltas cannot be done by appending, so it rewrites the file:
// the kept records go to a temporary file in the same directory, which is
// fsynced and renamed over the journal, and the directory is fsynced. A
// crash at any point leaves either the old file or the new one, whole.
// Rewrites happen only when an append goes over a bound.
//
// Deltas are stored in uncompressed wire format: compact, fast to decode,
// and exactly what IXFR sends.
//
// A Journal may be used from many goroutines: Since and the other readers
// take no lock (they read an immutable snapshot, as zone lookups do), and
// writers serialise on a mutex. One process at a time may open a journal
// file; nothing stops a second from corrupting it.
package journal

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/meridian-dns/meridian/zone/diff"
	"github.com/meridian-dns/meridian/zone/serial"
)

// DefaultMaxBytes is the size bound of a journal file when Options.MaxBytes
// is zero. BIND bounds a journal by twice the zone's size by default and
// Knot by 20 changesets; 64 MiB holds thousands of typical reloads and is
// small next to the million-record zones it serves.
const DefaultMaxBytes = 64 << 20

// Options bound a journal. The zero value is usable.
type Options struct {
	// MaxBytes bounds the size of the journal file. When an append would
	// pass it, the oldest deltas are dropped until it fits. A delta too
	// large to fit alone empties the journal: sending it would cost about
	// as much as the whole zone, which the server then sends instead (as
	// BIND's max-ixfr-ratio does). Default (0 or less): DefaultMaxBytes.
	MaxBytes int64
	// MaxDeltas bounds the number of deltas kept. Default (0 or less): no
	// bound but MaxBytes.
	MaxDeltas int
}

// Errors that a caller may want to tell apart with errors.Is.
var (
	// ErrFormat: the file is not a journal, or of a version this program
	// does not read. Open refuses it rather than overwrite it.
	ErrFormat = errors.New("not a journal file")
	// ErrGap: the delta does not start at the journal's newest serial, or
	// is for another zone. The caller resets the journal (Reset) and starts
	// a new history: a primary that finds its zone file's serial is not the
	// journal's newest was edited while it was down.
	ErrGap = errors.New("delta does not follow the newest version")
	// ErrClosed: the journal has been closed.
	ErrClosed = errors.New("journal closed")
)

// Journal is the IXFR history of one zone, kept in one file.
type Journal struct {
	path string
	opts Options

	snap atomic.Pointer[snapshot] // what readers see

	mu     sync.Mutex // serialises writers; guards the fields below
	f      *os.File   // nil once closed
	size   int64      // bytes of the file that hold valid data
	broken error      // set when a failed append could not be undone
	trunc  int64      // bytes dropped at Open
}

// snapshot is an immutable view of the journal: the deltas, oldest first.
type snapshot struct {
	entries []entry
	size    int64
}

// Open opens the journal at path, creating it if it does not exist (its
// directory must). A torn or corrupt tail is cut off (see the package
// comment; Truncated reports how much); a file that is not a journal is an
// error wrapping ErrFormat. If the file holds more than opts allow, as after
// the bounds were lowered, the oldest deltas are dropped now.
func Open(path string, opts Options) (*Journal, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	j := &Journal{path: path, opts: opts}
	// A rewrite that crashed before its rename leaves this behind.
	if err := os.Remove(j.tmpPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("journal: %w", err)
	}
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	entries, valid, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	if valid < headerSize {
		// New, empty or with a torn header: write a fresh file.
		j.trunc = int64(len(data))
		if err := j.rewrite(nil); err != nil {
			return nil, err
		}
		return j, nil
	}
	j.trunc = int64(len(data)) - valid
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.f, j.size = f, valid
	if j.trunc > 0 {
		if err := f.Truncate(valid); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: cut torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	j.snap.Store(&snapshot{entries: entries, size: valid})
	if kept := j.bound(entries); len(kept) < len(entries) {
		if err := j.rewrite(kept); err != nil {
			f.Close()
			return nil, err
		}
	}
	return j, nil
}

// Truncated returns the number of bytes Open cut off the end of the file:
// a torn or corrupt tail, worth a log line, never an error.
func (j *Journal) Truncated() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.trunc
}

// Append records a delta as the newest. It must validate (diff.Delta's
// Validate) and, unless the journal is empty, start at the newest serial
// for the same zone (else ErrGap). The record is on disk (fsynced) when
// Append returns nil. On error the journal is as it was, with one
// exception: when dropping old deltas rewrote the file but the directory
// could not be fsynced, the rewrite stands and the error says so.
func (j *Journal) Append(d diff.Delta) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("journal: append: %w", err)
	}
	e, err := encode(d)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.f == nil:
		return fmt.Errorf("journal: append: %w", ErrClosed)
	case j.broken != nil:
		return fmt.Errorf("journal: append: an earlier write failed and could not be undone: %w", j.broken)
	}
	old := j.snap.Load().entries
	if len(old) > 0 && !chainOK(&old[len(old)-1], &e) {
		return fmt.Errorf("journal: append %s %d→%d: %w (newest is %s %d)", e.owner, e.from, e.to, ErrGap, old[len(old)-1].owner, old[len(old)-1].to)
	}
	// Appending in place is safe: readers of the current snapshot never
	// look past its length, and the writers hold j.mu.
	entries := append(old, e)
	if kept := j.bound(entries); len(kept) < len(entries) {
		return j.rewrite(kept)
	}
	if _, err := j.f.WriteAt(e.appendFrame(nil), j.size); err != nil {
		return j.undo(fmt.Errorf("journal: append: %w", err))
	}
	if err := j.f.Sync(); err != nil {
		return j.undo(fmt.Errorf("journal: append: %w", err))
	}
	j.size += e.size()
	j.snap.Store(&snapshot{entries: entries, size: j.size})
	return nil
}

// undo cuts a failed append off the file, so that the next append does not
// land after garbage (which Open would then drop). If even that fails, the
// journal refuses further appends.
func (j *Journal) undo(err error) error {
	if terr := j.f.Truncate(j.size); terr != nil {
		j.broken = err
	}
	return err
}

// bound returns the suffix of entries that the options allow: at most
// MaxDeltas deltas in at most MaxBytes of file, each starting at a serial
// older than the newest by RFC 1982 (RFC 1982 §3.2: a secondary further
// behind cannot be told from one ahead).
func (j *Journal) bound(entries []entry) []entry {
	if len(entries) == 0 {
		return entries
	}
	newest := entries[len(entries)-1].to
	size := int64(headerSize)
	for i := range entries {
		size += entries[i].size()
	}
	for len(entries) > 0 {
		e := &entries[0]
		over := size > j.opts.MaxBytes || (j.opts.MaxDeltas > 0 && len(entries) > j.opts.MaxDeltas)
		if !over && serial.Less(e.from, newest) {
			break
		}
		size -= e.size()
		entries = entries[1:]
	}
	return entries
}

// Since returns the deltas that lead from the version with the given
// serial to the newest, oldest first, decoded afresh for the caller to keep
// or modify. For the newest serial itself the chain is empty and ok is
// true. ok is false when the journal does not hold that serial: it is older
// than the oldest delta (or was never a version here), or the journal is
// empty; the server then sends the whole zone (RFC 1995 §4).
//
// The serial is matched exactly, searching from the newest delta back:
// RFC 1995 gives no meaning to a serial between two versions.
func (j *Journal) Since(s uint32) (deltas []diff.Delta, ok bool) {
	entries := j.snap.Load().entries
	if len(entries) == 0 {
		return nil, false
	}
	if entries[len(entries)-1].to == s {
		return []diff.Delta{}, true
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].from != s {
			continue
		}
		out := make([]diff.Delta, 0, len(entries)-i)
		for k := i; k < len(entries); k++ {
			d, err := decode(entries[k].payload)
			if err != nil {
				// Checked at Open and Append; a failure here is a bug, and a
				// full transfer is the safe answer.
				return nil, false
			}
			out = append(out, d)
		}
		return out, true
	}
	return nil, false
}

// Newest returns the serial of the newest version the journal leads to;
// ok is false when it is empty.
func (j *Journal) Newest() (s uint32, ok bool) {
	entries := j.snap.Load().entries
	if len(entries) == 0 {
		return 0, false
	}
	return entries[len(entries)-1].to, true
}

// Oldest returns the oldest serial Since can start from; ok is false when
// the journal is empty.
func (j *Journal) Oldest() (s uint32, ok bool) {
	entries := j.snap.Load().entries
	if len(entries) == 0 {
		return 0, false
	}
	return entries[0].from, true
}

// Len returns the number of deltas held.
func (j *Journal) Len() int { return len(j.snap.Load().entries) }

// Size returns the size of the journal file in bytes.
func (j *Journal) Size() int64 { return j.snap.Load().size }

// Reset empties the journal, as when the zone's history is lost (the
// primary finds its zone file's serial is not the journal's newest).
func (j *Journal) Reset() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("journal: reset: %w", ErrClosed)
	}
	return j.rewrite(nil)
}

// Close closes the file. Readers keep working on what was loaded; writers
// get ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	if err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}
