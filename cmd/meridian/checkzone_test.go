package main

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/internal/peer"
)

const zonesDir = "../../testdata/zones"

func TestCheckzone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		origin, file string
		code         int
		lines        []string // the output, line by line; a line starting with ~ is a regexp
	}{
		{
			origin: "example.com", file: zonesDir + "/sample/example.com.zone", code: 0,
			lines: []string{"zone example.com/IN: loaded serial 2024060101", "OK"},
		},
		{
			origin: "example.net.", file: zonesDir + "/sample/example.net.zone", code: 0,
			lines: []string{"zone example.net/IN: loaded serial 2024060101", "OK"},
		},
		{
			origin: "example.com", file: zonesDir + "/checkzone/warnings.zone", code: 0,
			lines: []string{
				"~^" + regexp.QuoteMeta(zonesDir+"/checkzone/warnings.zone:8: warning: ") + ".*different TTLs",
				"zone example.com/IN: loaded serial 2024010101",
				"OK",
			},
		},
		{
			origin: "example.com", file: zonesDir + "/checkzone/errors.zone", code: 1,
			lines: []string{
				"~^" + regexp.QuoteMeta(zonesDir+"/checkzone/errors.zone:9: ") + "CNAME and other data",
				"~^" + regexp.QuoteMeta(zonesDir+"/checkzone/errors.zone:11: ") + ".*glue",
				"zone example.com/IN: not loaded due to errors.",
			},
		},
		{
			// The wrong origin: every record is out of zone.
			origin: "example.org", file: zonesDir + "/sample/example.com.zone", code: 1,
			lines: nil, // many problems; only the verdict is checked below
		},
		{
			origin: "example.com", file: zonesDir + "/checkzone/no-such.zone", code: 1,
			lines: []string{
				"~^zone example.com/IN: loading from master file .*no-such.zone failed: .*no such file",
				"zone example.com/IN: not loaded due to errors.",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.origin+" "+tt.file, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run([]string{"checkzone", tt.origin, tt.file}, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr: %s", &stderr)
			}
			got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if tt.lines == nil {
				if last := got[len(got)-1]; !strings.HasSuffix(last, "not loaded due to errors.") {
					t.Errorf("last line %q", last)
				}
				return
			}
			if len(got) != len(tt.lines) {
				t.Fatalf("got %d lines, want %d:\n%s", len(got), len(tt.lines), &stdout)
			}
			for i, want := range tt.lines {
				if re, ok := strings.CutPrefix(want, "~"); ok {
					if !regexp.MustCompile(re).MatchString(got[i]) {
						t.Errorf("line %d: %q does not match %q", i+1, got[i], re)
					}
				} else if got[i] != want {
					t.Errorf("line %d: %q, want %q", i+1, got[i], want)
				}
			}
		})
	}
}

// TestCheckzoneAgreesWithBIND runs named-checkzone on the same files and
// checks that both accept or both reject each one: the verdicts must agree
// even where the wording differs.
func TestCheckzoneAgreesWithBIND(t *testing.T) {
	t.Parallel()
	named := peer.Require(t, "named-checkzone")
	tests := []struct{ origin, file string }{
		{"example.com", "sample/example.com.zone"},
		{"example.net", "sample/example.net.zone"},
		{"example.com", "checkzone/warnings.zone"},
		{"example.com", "checkzone/errors.zone"},
		{"example.org", "sample/example.com.zone"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			file := zonesDir + "/" + tt.file
			// -i local: no lookups of out-of-zone names over the network,
			// which a test machine may not have.
			out, err := exec.Command(named, "-i", "local", tt.origin, file).CombinedOutput()
			bindOK := err == nil
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			var stdout bytes.Buffer
			ours := run([]string{"checkzone", tt.origin, file}, &stdout, &stdout) == 0
			if ours != bindOK {
				t.Errorf("meridian accepts: %v, named-checkzone accepts: %v\nmeridian:\n%s\nnamed-checkzone:\n%s", ours, bindOK, &stdout, out)
			}
		})
	}
}
