package secondary

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meridian-dns/meridian/zone"
	"github.com/meridian-dns/meridian/zone/journal"
)

// A zone's files in the data directory, named after journal.FileName so
// that no origin can escape the directory or collide with another:
//
//	NAME.zone   the last good version as master-file text, its first line a
//	            comment holding the metadata (serial, time of transfer)
//	NAME.meta   JSON: the serial and the time of the last successful
//	            refresh, rewritten at each SOA check that finds it current
//	NAME.in.jnl the journal of the differences applied (not NAME.jnl,
//	            which server/xfr's Primary uses for the zones it serves)
//
// Both the zone and the metadata are written to a temporary file in the
// same directory (NAME.zone.tmp-*), fsynced, renamed over the old one, and
// the directory fsynced: a crash leaves the old file or the new, whole,
// and at worst a temporary file that clean removes at the next start.
type store struct {
	dir, base string
}

// metaPrefix starts the first line of a stored zone.
const metaPrefix = "; meridian-secondary "

type meta struct {
	Serial    uint32    `json:"serial"`
	Refreshed time.Time `json:"refreshed"`
}

func newStore(dir, origin string) *store {
	return &store{dir: dir, base: strings.TrimSuffix(journal.FileName(origin), ".jnl")}
}

func (s *store) zonePath() string    { return filepath.Join(s.dir, s.base+".zone") }
func (s *store) metaPath() string    { return filepath.Join(s.dir, s.base+".meta") }
func (s *store) journalPath() string { return filepath.Join(s.dir, s.base+".in.jnl") }

// clean removes the temporary files a crash left behind; they are never
// read.
func (s *store) clean() error {
	for _, pat := range []string{s.base + ".zone.tmp-*", s.base + ".meta.tmp-*"} {
		names, err := filepath.Glob(filepath.Join(s.dir, pat))
		if err != nil {
			return fmt.Errorf("secondary: %w", err)
		}
		for _, n := range names {
			if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("secondary: %w", err)
			}
		}
	}
	return nil
}

// writeZone stores z atomically, with the time it was transferred.
func (s *store) writeZone(z *zone.Zone, now time.Time) error {
	hdr, err := json.Marshal(meta{Serial: z.Serial(), Refreshed: now})
	if err != nil {
		return fmt.Errorf("secondary: store: %w", err)
	}
	return s.atomic(s.zonePath(), func(w *bufio.Writer) error {
		w.WriteString(metaPrefix)
		w.Write(hdr)
		w.WriteByte('\n')
		for rr := range z.All() {
			w.WriteString(rr.String())
			w.WriteByte('\n')
		}
		return nil
	})
}

// writeMeta records a successful refresh that transferred nothing.
func (s *store) writeMeta(m meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("secondary: store: %w", err)
	}
	return s.atomic(s.metaPath(), func(w *bufio.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// atomic writes path through a temporary file in the same directory,
// fsync, rename and a directory fsync.
func (s *store) atomic(path string, fill func(*bufio.Writer) error) (err error) {
	f, err := os.CreateTemp(s.dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("secondary: store: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("secondary: store %s: %w", path, err)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<16)
	if err = fill(w); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// load reads the stored version and the time it was last known current.
// A missing file is (nil, zero, nil); a file that does not validate is an
// error, and is not served.
func (s *store) load(origin string) (*zone.Zone, time.Time, error) {
	f, err := os.Open(s.zonePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("secondary: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	line, err := r.ReadString('\n')
	var hdr meta
	if err != nil || !strings.HasPrefix(line, metaPrefix) || json.Unmarshal([]byte(line[len(metaPrefix):]), &hdr) != nil {
		return nil, time.Time{}, fmt.Errorf("secondary: %s: no metadata line", s.zonePath())
	}
	recs, problems := zone.Parse(r, origin, s.zonePath(), zone.LoadOptions{NoInclude: true})
	for _, p := range problems {
		if p.Severity == zone.Error {
			return nil, time.Time{}, fmt.Errorf("secondary: %w", p)
		}
	}
	z, err := validate(origin, recs)
	if err != nil {
		return nil, time.Time{}, err
	}
	refreshed := hdr.Refreshed
	if b, err := os.ReadFile(s.metaPath()); err == nil {
		var m meta
		if json.Unmarshal(b, &m) == nil && m.Serial == z.Serial() && m.Refreshed.After(refreshed) {
			refreshed = m.Refreshed
		}
	}
	return z, refreshed, nil
}

// loadDisk serves the stored copy at once (the restart rule),
// unless it is past EXPIRE, in which case the zone answers SERVFAIL until
// a refresh succeeds; the copy is still the base for IXFR.
func (m *Manager) loadDisk(z *szone) {
	now := m.opts.Clock.Now()
	z.nextCheck = now
	cur, refreshed, err := z.store.load(z.origin)
	if err != nil {
		m.opts.Logger.Warn("secondary: stored copy not usable, transferring anew", "zone", z.origin, "err", err)
		cur = nil
	}
	// The journal must lead exactly to the version held, or a chained
	// secondary would be sent deltas to some other version. A crash
	// between storing a zone and journalling its delta leaves it behind.
	if z.journal != nil {
		if newest, ok := z.journal.Newest(); ok && (cur == nil || newest != cur.Serial()) {
			m.resetJournal(z, nil)
		}
	}
	if cur == nil {
		return
	}
	z.cur, z.lastOK = cur, refreshed
	if now.Sub(refreshed) >= m.timersOf(cur).expire {
		z.expired = true
		m.opts.Expire(z.origin, fmt.Errorf("%w: %s: stored copy last refreshed %s", ErrExpired, z.origin, refreshed.Format(time.RFC3339)))
		return
	}
	m.opts.Publish(z.origin, cur)
}
