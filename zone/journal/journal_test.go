package journal

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone/diff"
	"github.com/meridian-dns/meridian/zone/serial"
)

const testOrigin = "example.com."

func soaRR(origin string, s uint32) *dns.SOA {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
		Ns:  "ns1." + origin, Mbox: "hostmaster." + origin,
		Serial: s, Refresh: 7200, Retry: 3600, Expire: 1209600, Minttl: 300,
	}
}

// mkDelta returns a delta from one serial to another that deletes n address
// records and adds n text records, all named after the serials.
func mkDelta(from, to uint32, n int) diff.Delta {
	d := diff.Delta{Deleted: []dns.RR{soaRR(testOrigin, from)}, Added: []dns.RR{soaRR(testOrigin, to)}}
	for i := range n {
		name := fmt.Sprintf("h%d-%d.%s", from, i, testOrigin)
		d.Deleted = append(d.Deleted, &dns.A{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A:   net.IPv4(192, 0, 2, byte(i)).To4(),
		})
		d.Added = append(d.Added, &dns.TXT{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
			Txt: []string{fmt.Sprintf("serial %d record %d", to, i)},
		})
	}
	return d
}

func render(d diff.Delta) string {
	return fmt.Sprint(d.Deleted, " / ", d.Added)
}

// serials lists the From serial of each delta, then the last To.
func serials(ds []diff.Delta) []uint32 {
	var out []uint32
	for _, d := range ds {
		out = append(out, d.From())
	}
	if len(ds) > 0 {
		out = append(out, ds[len(ds)-1].To())
	}
	return out
}

func mustOpen(t testing.TB, path string, opts Options) *Journal {
	t.Helper()
	j, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// appendChain appends deltas through the given serials, n records each.
func appendChain(t testing.TB, j *Journal, n int, chain ...uint32) []diff.Delta {
	t.Helper()
	var ds []diff.Delta
	for i := 1; i < len(chain); i++ {
		d := mkDelta(chain[i-1], chain[i], n)
		if err := j.Append(d); err != nil {
			t.Fatalf("Append %d→%d: %v", chain[i-1], chain[i], err)
		}
		ds = append(ds, d)
	}
	return ds
}

func TestSince(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		chain []uint32
		since uint32
		want  []uint32 // serials of the returned chain; nil when not covered
	}{
		{"from the oldest", []uint32{1, 2, 3, 4}, 1, []uint32{1, 2, 3, 4}},
		{"from the middle", []uint32{1, 2, 3, 4}, 2, []uint32{2, 3, 4}},
		{"from the last delta", []uint32{1, 2, 3, 4}, 3, []uint32{3, 4}},
		{"current serial: empty chain", []uint32{1, 2, 3, 4}, 4, []uint32{}},
		{"older than the journal", []uint32{5, 6, 7}, 4, nil},
		{"newer than the journal", []uint32{5, 6, 7}, 8, nil},
		{"between versions", []uint32{10, 20, 30}, 15, nil},
		{"empty journal", nil, 1, nil},
		{"across the wrap", []uint32{4294967290, 4294967295, 3, 10}, 4294967290, []uint32{4294967290, 4294967295, 3, 10}},
		{"after the wrap", []uint32{4294967290, 4294967295, 3, 10}, 3, []uint32{3, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := mustOpen(t, filepath.Join(t.TempDir(), "j"), Options{})
			appended := appendChain(t, j, 3, tt.chain...)
			got, ok := j.Since(tt.since)
			if ok != (tt.want != nil) {
				t.Fatalf("Since(%d) ok = %v, want %v", tt.since, ok, tt.want != nil)
			}
			if !ok {
				return
			}
			if s := serials(got); len(tt.want) == 0 && len(s) != 0 || len(tt.want) > 0 && !slices.Equal(s, tt.want) {
				t.Fatalf("Since(%d) = %v, want %v", tt.since, s, tt.want)
			}
			// The deltas come back as they went in.
			for i, d := range got {
				if w := appended[len(appended)-len(got)+i]; render(d) != render(w) {
					t.Errorf("delta %d:\n got %s\nwant %s", i, render(d), render(w))
				}
			}
		})
	}
}

func TestNewestOldest(t *testing.T) {
	t.Parallel()
	j := mustOpen(t, filepath.Join(t.TempDir(), "j"), Options{})
	if _, ok := j.Newest(); ok {
		t.Error("Newest of an empty journal is ok")
	}
	if _, ok := j.Oldest(); ok {
		t.Error("Oldest of an empty journal is ok")
	}
	appendChain(t, j, 1, 7, 8, 9)
	if s, ok := j.Newest(); s != 9 || !ok {
		t.Errorf("Newest = %d, %v; want 9, true", s, ok)
	}
	if s, ok := j.Oldest(); s != 7 || !ok {
		t.Errorf("Oldest = %d, %v; want 7, true", s, ok)
	}
	if j.Len() != 2 {
		t.Errorf("Len = %d, want 2", j.Len())
	}
}

func TestAppendErrors(t *testing.T) {
	t.Parallel()
	other := mkDelta(3, 4, 1)
	other.Deleted[0], other.Added[0] = soaRR("example.org.", 3), soaRR("example.org.", 4)
	tests := []struct {
		name string
		d    diff.Delta
		want error
	}{
		{"gap", mkDelta(4, 5, 1), ErrGap},
		{"goes back", mkDelta(2, 3, 1), ErrGap},
		{"another zone", other, ErrGap},
		{"serial not raised", mkDelta(3, 3, 1), diff.ErrSerial},
		{"no SOA", diff.Delta{Deleted: mkDelta(3, 4, 1).Deleted[1:], Added: mkDelta(3, 4, 1).Added}, diff.ErrBadDelta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "j")
			j := mustOpen(t, path, Options{})
			appendChain(t, j, 1, 1, 2, 3)
			before, _ := os.ReadFile(path)
			if err := j.Append(tt.d); !errors.Is(err, tt.want) {
				t.Fatalf("Append error = %v, want %v", err, tt.want)
			}
			after, _ := os.ReadFile(path)
			if !slices.Equal(before, after) || j.Len() != 2 {
				t.Errorf("a failed Append changed the journal")
			}
		})
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	j, err := Open(filepath.Join(t.TempDir(), "j"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendChain(t, j, 1, 1, 2)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(mkDelta(2, 3, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if err := j.Reset(); !errors.Is(err, ErrClosed) {
		t.Errorf("Reset after Close: %v, want ErrClosed", err)
	}
	if _, ok := j.Since(1); !ok {
		t.Error("Since after Close lost the loaded history")
	}
	if err := j.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := appendChain(t, j, 5, 100, 101, 105)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j = mustOpen(t, path, Options{})
	if j.Truncated() != 0 {
		t.Errorf("Truncated = %d after a clean close", j.Truncated())
	}
	got, ok := j.Since(100)
	if !ok || len(got) != len(want) {
		t.Fatalf("Since(100) after reopen = %d deltas, %v", len(got), ok)
	}
	for i := range got {
		if render(got[i]) != render(want[i]) {
			t.Errorf("delta %d:\n got %s\nwant %s", i, render(got[i]), render(want[i]))
		}
	}
	// The reopened journal appends where it left off.
	appendChain(t, j, 1, 105, 106)
	if st, err := os.Stat(path); err != nil || st.Size() != j.Size() {
		t.Errorf("file size %v, Size() %d (%v)", st.Size(), j.Size(), err)
	}
	j2 := mustOpen(t, filepath.Join(filepath.Dir(path), "j"), Options{})
	if got, ok := j2.Since(100); !ok || len(got) != 3 {
		t.Errorf("Since(100) after the second reopen = %d deltas, %v", len(got), ok)
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	one := func() int64 { e, _ := encode(mkDelta(1, 2, 10)); return e.size() }()
	tests := []struct {
		name       string
		opts       Options
		chain      []uint32
		wantOldest uint32
		wantLen    int
	}{
		{"no bound reached", Options{}, []uint32{1, 2, 3, 4, 5}, 1, 4},
		{"max deltas", Options{MaxDeltas: 2}, []uint32{1, 2, 3, 4, 5}, 3, 2},
		{"max bytes", Options{MaxBytes: headerSize + 3*one}, []uint32{1, 2, 3, 4, 5, 6}, 3, 3},
		{"both, deltas tighter", Options{MaxBytes: headerSize + 3*one, MaxDeltas: 1}, []uint32{1, 2, 3, 4}, 3, 1},
		{"one delta over the bound empties", Options{MaxBytes: headerSize + one - 1}, []uint32{1, 2, 3}, 0, 0},
		// RFC 1982: once the newest serial is 2^31 or more ahead of a
		// delta's start, that start is no longer "older" and must go.
		{"serial horizon", Options{}, []uint32{0, serial.MaxAdd, serial.MaxAdd + 10, serial.MaxAdd + 20}, serial.MaxAdd, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "j")
			j := mustOpen(t, path, tt.opts)
			appendChain(t, j, 10, tt.chain...)
			check := func(j *Journal, when string) {
				t.Helper()
				if o, _ := j.Oldest(); o != tt.wantOldest || j.Len() != tt.wantLen {
					t.Errorf("%s: oldest %d, %d deltas; want %d, %d", when, o, j.Len(), tt.wantOldest, tt.wantLen)
				}
				if n, ok := j.Newest(); ok != (tt.wantLen > 0) || ok && n != tt.chain[len(tt.chain)-1] {
					t.Errorf("%s: newest %d, %v; want %d", when, n, ok, tt.chain[len(tt.chain)-1])
				}
				st, err := os.Stat(path)
				if err != nil || st.Size() != j.Size() {
					t.Fatalf("%s: file is %v bytes, Size() %d (%v)", when, st.Size(), j.Size(), err)
				}
				if j.Len() > 1 && j.Size() > max(tt.opts.MaxBytes, 0) && tt.opts.MaxBytes > 0 {
					t.Errorf("%s: %d bytes, over the bound %d", when, j.Size(), tt.opts.MaxBytes)
				}
				if _, ok := j.Since(tt.wantOldest); ok != (tt.wantLen > 0) {
					t.Errorf("%s: Since(oldest) covered: %v", when, ok)
				}
			}
			check(j, "after appends")
			j.Close()
			check(mustOpen(t, path, tt.opts), "after reopen")
		})
	}
}

// TestBoundsLoweredAtOpen: a journal written under looser bounds is cut to
// the new ones when opened.
func TestBoundsLoweredAtOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j := mustOpen(t, path, Options{})
	appendChain(t, j, 2, 1, 2, 3, 4, 5)
	j.Close()
	j = mustOpen(t, path, Options{MaxDeltas: 2})
	if o, _ := j.Oldest(); o != 3 || j.Len() != 2 {
		t.Errorf("oldest %d, %d deltas; want 3, 2", o, j.Len())
	}
	if st, _ := os.Stat(path); st.Size() != j.Size() {
		t.Errorf("file not rewritten: %d bytes, Size() %d", st.Size(), j.Size())
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j := mustOpen(t, path, Options{})
	appendChain(t, j, 2, 1, 2, 3)
	if err := j.Reset(); err != nil {
		t.Fatal(err)
	}
	if j.Len() != 0 || j.Size() != headerSize {
		t.Errorf("after Reset: %d deltas, %d bytes", j.Len(), j.Size())
	}
	// A new history may start anywhere.
	appendChain(t, j, 2, 50, 51)
	j.Close()
	j = mustOpen(t, path, Options{})
	if o, _ := j.Oldest(); o != 50 || j.Len() != 1 {
		t.Errorf("after reopen: oldest %d, %d deltas", o, j.Len())
	}
}

func TestStaleTempRemoved(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	if err := os.WriteFile(path+".tmp", []byte("half a rewrite"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path, Options{})
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file left: %v", err)
	}
}

func TestOpenMissingDir(t *testing.T) {
	t.Parallel()
	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "j"), Options{}); err == nil {
		t.Fatal("Open in a missing directory succeeded")
	}
}

// TestConcurrent appends while readers call Since; run with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	j := mustOpen(t, filepath.Join(t.TempDir(), "j"), Options{MaxDeltas: 5})
	appendChain(t, j, 2, 0, 1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// The journal may move on between the two calls, so the
				// chain may be longer than one; it must still chain.
				n, _ := j.Newest()
				ds, ok := j.Since(n - 1)
				if !ok {
					continue // dropped by MaxDeltas in the meantime
				}
				s := serials(ds)
				for i := 1; i < len(s); i++ {
					if s[i] != s[i-1]+1 {
						t.Errorf("Since(%d) = %v", n-1, s)
						return
					}
				}
				if len(s) < 2 || s[0] != n-1 {
					t.Errorf("Since(%d) = %v", n-1, s)
					return
				}
			}
		})
	}
	for s := uint32(1); s < 40; s++ {
		if err := j.Append(mkDelta(s, s+1, 2)); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
}

func TestFileName(t *testing.T) {
	t.Parallel()
	tests := []struct{ origin, want string }{
		{"example.com.", "example.com.jnl"},
		{"Example.COM", "example.com.jnl"},
		{".", "@.jnl"},
		{"", "@.jnl"},
		{"_tcp.example.", "%5Ftcp.example.jnl"},
		{"a/b.example.", "a%2Fb.example.jnl"},
		{`a\.b.example.`, "a%5C.b.example.jnl"},
		{"..", "%2E.jnl"},
		{"xn--bcher-kva.example.", "xn--bcher-kva.example.jnl"},
	}
	for _, tt := range tests {
		if got := FileName(tt.origin); got != tt.want {
			t.Errorf("FileName(%q) = %q, want %q", tt.origin, got, tt.want)
		}
	}
}

// TestAppendDoesNotWriteRecords: the records of a delta belong to a served
// zone, read concurrently; with -race this shows Append only reads them
// (dns.PackRR would set Rdlength).
func TestAppendDoesNotWriteRecords(t *testing.T) {
	t.Parallel()
	j := mustOpen(t, filepath.Join(t.TempDir(), "j"), Options{})
	ds := make([]diff.Delta, 20)
	for i := range ds {
		ds[i] = mkDelta(uint32(i), uint32(i+1), 5)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			for _, d := range ds {
				for _, rr := range d.Added {
					_ = rr.Header().Rdlength
				}
			}
		}
	}()
	for _, d := range ds {
		if err := j.Append(d); err != nil {
			t.Error(err)
			break
		}
	}
	<-done
}

// TestLargeDelta stores a delta far larger than a DNS message (packRRs
// packs in batches; offsets pass 64 KiB) and reads it back after a reopen.
func TestLargeDelta(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j := mustOpen(t, path, Options{})
	d := mkDelta(1, 2, 3000)
	for _, rr := range d.Added[1:] {
		rr.(*dns.TXT).Txt = append(rr.(*dns.TXT).Txt, string(make([]byte, 250)))
	}
	if err := j.Append(d); err != nil {
		t.Fatal(err)
	}
	if j.Size() < 900_000 {
		t.Fatalf("delta is only %d bytes", j.Size())
	}
	j.Close()
	got, ok := mustOpen(t, path, Options{}).Since(1)
	if !ok || len(got) != 1 || render(got[0]) != render(d) {
		t.Fatalf("Since(1) after reopen: %d deltas, %v, equal %v", len(got), ok, len(got) == 1 && render(got[0]) == render(d))
	}
}
