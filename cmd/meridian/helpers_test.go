package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// waitTimeout bounds every wait in these tests; a healthy run takes
// milliseconds, a slow CI machine a little more.
const waitTimeout = 15 * time.Second

// writeZone writes a small valid zone for origin with the given serial.
// broken adds a CNAME beside other data, an error that refuses the zone.
func writeZone(t *testing.T, path, origin string, serial uint32, broken bool) {
	t.Helper()
	text := fmt.Sprintf(`$ORIGIN %s
$TTL 300
@    SOA ns1 hostmaster %d 7200 3600 1209600 300
     NS  ns1
ns1  A   192.0.2.1
www  A   192.0.2.10
`, dns.Fqdn(origin), serial)
	if broken {
		text += "www CNAME elsewhere.example.\n"
	}
	// Write then rename, as an operator's deploy would, so that a reload
	// never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// writeConfig writes a YAML config that serves zones (origin → file name in
// dir) on a free loopback port, logging JSON so tests can read the records.
func writeConfig(t *testing.T, path string, zones ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("listen: [127.0.0.1:0]\nlog:\n  level: debug\n  format: json\nzones:\n")
	for i := 0; i+1 < len(zones); i += 2 {
		fmt.Fprintf(&b, "  - origin: %s\n    file: %s\n", zones[i], zones[i+1])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// query asks addr one question over network ("udp" or "tcp").
func query(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s to %s: %v", name, dns.TypeToString[qtype], network, addr, err)
	}
	return r
}

// serial asks for origin's SOA and returns its serial, failing the test on
// anything but an authoritative NOERROR answer.
func serial(t *testing.T, addr, origin string) uint32 {
	t.Helper()
	r := query(t, "udp", addr, origin, dns.TypeSOA)
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
		t.Fatalf("SOA %s: rcode %s aa %v answers %d", origin, dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer))
	}
	return r.Answer[0].(*dns.SOA).Serial
}

// logRecords collects JSON log records written to it, line by line, and lets
// a test wait for one. It is an io.Writer so that it can be a subprocess's
// Stderr (exec copies into it) or a slog handler's output.
type logRecords struct {
	mu      sync.Mutex
	partial []byte
	recs    []map[string]any
	lines   []string
	changed chan struct{} // closed and replaced on every new record
}

func newLogRecords() *logRecords { return &logRecords{changed: make(chan struct{})} }

func (l *logRecords) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		var rec map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber() // serials print as 2024060101, not 2.024060101e+09
		if dec.Decode(&rec) != nil {
			rec = map[string]any{"msg": line} // not JSON: a panic, say
		}
		l.recs = append(l.recs, rec)
		l.lines = append(l.lines, line)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// len is the number of records so far; pass it to waitFor to see only
// records written after this point.
func (l *logRecords) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recs)
}

// waitFor waits for a record at index from or later whose msg is msg and
// whose other fields equal attrs (values compared as printed), and returns
// its index.
func (l *logRecords) waitFor(t *testing.T, from int, msg string, attrs ...string) int {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		l.mu.Lock()
		for i := from; i < len(l.recs); i++ {
			if matches(l.recs[i], msg, attrs) {
				l.mu.Unlock()
				return i
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log record %q %q within %s; log:\n%s", msg, attrs, waitTimeout, l.String())
		}
	}
}

func matches(rec map[string]any, msg string, attrs []string) bool {
	if rec["msg"] != msg {
		return false
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		if fmt.Sprint(rec[attrs[i]]) != attrs[i+1] {
			return false
		}
	}
	return true
}

// rec returns record i.
func (l *logRecords) rec(i int) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recs[i]
}

func (l *logRecords) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
