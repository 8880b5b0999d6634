package main

// Interop with real clients: dig (BIND) and kdig (Knot) against
// `meridian auth`, checked on what they print. These are the tools
// operators debug with, so their view of an answer (flags, status, dig's
// own retry over TCP after TC) is what has to be right.

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/internal/peer"
)

// digOutput is what the test reads from dig's or kdig's printout.
type digOutput struct {
	raw      string
	status   string
	flags    []string
	answer   int      // the ANSWER count in the header line
	sections []string // records in the answer and authority sections, whitespace collapsed
	tcp      bool     // the final answer came over TCP
	retried  bool     // the client saw TC and retried over TCP
}

var (
	digStatus  = regexp.MustCompile(`status: ([A-Z]+)`)
	digFlags   = regexp.MustCompile(`(?i);; flags: ([a-z ]*);`)
	digAnswer  = regexp.MustCompile(`ANSWER: (\d+)`)
	digRecord  = regexp.MustCompile(`^[^;\s]\S*\s+\d+\s+IN\s+\S+\s+.*$`)
	whitespace = regexp.MustCompile(`\s+`)
)

// parseDig reads dig's and kdig's outputs alike: their header lines differ
// only in case and punctuation.
func parseDig(out string) digOutput {
	d := digOutput{raw: out}
	// dig prints a message per attempt; the last one is the final answer.
	if i := strings.LastIndex(out, "->>HEADER<<-"); i >= 0 {
		d.retried = strings.Contains(out[:i], "Truncated, retrying in TCP mode") ||
			strings.Contains(out, "truncated reply")
		out = out[i:]
	}
	if m := digStatus.FindStringSubmatch(out); m != nil {
		d.status = m[1]
	}
	if m := digFlags.FindStringSubmatch(out); m != nil {
		d.flags = strings.Fields(m[1])
	}
	if m := digAnswer.FindStringSubmatch(out); m != nil {
		d.answer, _ = strconv.Atoi(m[1])
	}
	for _, l := range strings.Split(out, "\n") {
		if digRecord.MatchString(l) {
			d.sections = append(d.sections, whitespace.ReplaceAllString(strings.TrimSpace(l), " "))
		}
	}
	d.tcp = strings.Contains(out, "(TCP)")
	return d
}

func TestE2EDig(t *testing.T) {
	t.Parallel()
	dig := peer.Require(t, "dig")
	kdig := peer.Require(t, "kdig")
	bin := buildMeridian(t)
	zones := diffZones(t, t.TempDir())
	mer := e2eStartMeridian(t, bin, zones, true)
	host, port, err := net.SplitHostPort(mer.Addr)
	if err != nil {
		t.Fatal(err)
	}

	const (
		www  = "www.diff.test. 3600 IN A 192.0.2.80"
		www6 = "www.diff.test. 3600 IN AAAA 2001:db8::80"
		soa  = "diff.test. 600 IN SOA ns1.diff.test. hostmaster.diff.test. 2024010101 7200 3600 1209600 600"
	)
	hugeSet := make([]string, 40)
	for i := range hugeSet {
		hugeSet[i] = "huge.diff.test. 3600 IN TXT \"record " + strconv.Itoa(i+1) +
			" of the huge set, padded to make the set overflow 1232 bytes .........\""
	}

	type check func(t *testing.T, d digOutput)
	status := func(s string) check {
		return func(t *testing.T, d digOutput) {
			if d.status != s {
				t.Errorf("status %q, want %s", d.status, s)
			}
		}
	}
	flags := func(want ...string) check { // exactly these flags
		return func(t *testing.T, d digOutput) {
			got := slices.Sorted(slices.Values(d.flags))
			if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Errorf("flags %v, want %v", d.flags, want)
			}
		}
	}
	has := func(records ...string) check {
		return func(t *testing.T, d digOutput) {
			for _, r := range records {
				if !slices.Contains(d.sections, r) {
					t.Errorf("missing record %q", r)
				}
			}
		}
	}
	answers := func(n ...int) check { // the ANSWER count is one of n
		return func(t *testing.T, d digOutput) {
			if !slices.Contains(n, d.answer) {
				t.Errorf("ANSWER: %d, want one of %v", d.answer, n)
			}
		}
	}
	overTCP := func(tcp bool) check {
		return func(t *testing.T, d digOutput) {
			if d.tcp != tcp {
				t.Errorf("final answer over TCP: %v, want %v", d.tcp, tcp)
			}
		}
	}
	retried := func(t *testing.T, d digOutput) {
		if !d.retried {
			t.Error("the client did not report a truncated reply and a TCP retry")
		}
	}

	for _, tc := range []struct {
		name   string
		tool   string
		args   []string
		checks []check
	}{
		{"dig norec", dig, []string{"+norec", "www.diff.test", "A"},
			[]check{status("NOERROR"), flags("qr", "aa"), answers(1), has(www), overTCP(false)}},
		{"dig tcp", dig, []string{"+tcp", "+norec", "www.diff.test", "AAAA"},
			[]check{status("NOERROR"), flags("qr", "aa"), has(www6), overTCP(true)}},
		{"dig bufsize 512 retries over TCP", dig, []string{"+norec", "+bufsize=512", "huge.diff.test", "TXT"},
			[]check{retried, status("NOERROR"), flags("qr", "aa"), answers(40), has(hugeSet...), overTCP(true)}},
		{"dig noedns retries over TCP", dig, []string{"+norec", "+noedns", "big.diff.test", "A"},
			[]check{retried, status("NOERROR"), answers(35), overTCP(true)}},
		// +ignore keeps the truncated reply: whole RRsets only (RFC 2181 §9).
		{"dig bufsize 512 ignore TC", dig, []string{"+norec", "+bufsize=512", "+ignore", "huge.diff.test", "TXT"},
			[]check{status("NOERROR"), flags("qr", "aa", "tc"), answers(0), overTCP(false)}},
		// Below 512 the server must still use 512 (RFC 6891 §6.2.5).
		{"dig bufsize 100", dig, []string{"+norec", "+bufsize=100", "+ignore", "www.diff.test", "A"},
			[]check{status("NOERROR"), flags("qr", "aa"), has(www), overTCP(false)}},
		{"dig refused", dig, []string{"+norec", "nothere.invalid", "A"},
			[]check{status("REFUSED"), answers(0)}},
		{"dig nxdomain", dig, []string{"+norec", "nx.diff.test", "A"},
			[]check{status("NXDOMAIN"), flags("qr", "aa"), answers(0), has(soa)}},

		{"kdig norec", kdig, []string{"+norec", "www.diff.test", "A"},
			[]check{status("NOERROR"), flags("qr", "aa"), answers(1), has(www), overTCP(false)}},
		{"kdig tcp", kdig, []string{"+tcp", "+norec", "www.diff.test", "AAAA"},
			[]check{status("NOERROR"), flags("qr", "aa"), has(www6), overTCP(true)}},
		{"kdig bufsize 512 retries over TCP", kdig, []string{"+norec", "+bufsize=512", "huge.diff.test", "TXT"},
			[]check{retried, status("NOERROR"), answers(40), has(hugeSet...), overTCP(true)}},
		{"kdig bufsize 512 ignore TC", kdig, []string{"+norec", "+bufsize=512", "+ignore", "big.diff.test", "A"},
			[]check{status("NOERROR"), flags("qr", "aa", "tc"), answers(0, 35), overTCP(false)}},
		{"kdig refused", kdig, []string{"+norec", "nothere.invalid", "A"},
			[]check{status("REFUSED"), answers(0)}},
		{"kdig nxdomain", kdig, []string{"+norec", "nx.diff.test", "A"},
			[]check{status("NXDOMAIN"), flags("qr", "aa"), answers(0), has(soa)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := []string{"@" + host, "-p", port, "+time=2", "+tries=2"}
			if tc.tool == kdig {
				args = []string{"@" + host, "-p", port, "+time=2", "+retry=1"}
			}
			cmd := exec.CommandContext(ctx, tc.tool, append(args, tc.args...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", tc.tool, strings.Join(cmd.Args[1:], " "), err, out)
			}
			d := parseDig(string(out))
			for _, c := range tc.checks {
				c(t, d)
			}
			if t.Failed() {
				t.Logf("%s %s printed:\n%s", tc.tool, strings.Join(cmd.Args[1:], " "), out)
			}
		})
	}
}
