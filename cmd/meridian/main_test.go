package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestUsage checks the dispatcher and that every subcommand answers -h with
// its synopsis and exit status 0: the CLI is a contract, and -h is how
// operators read it.
func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{args: nil, code: 2, stderr: "Commands:"},
		{args: []string{"-h"}, code: 0, stdout: "meridian <command>"},
		{args: []string{"help"}, code: 0, stdout: "checkzone"},
		{args: []string{"bogus"}, code: 2, stderr: `unknown command "bogus"`},
		{args: []string{"auth", "-h"}, code: 0, stderr: "Usage: meridian auth [-config FILE] [-listen ADDR:PORT]... [-zone ORIGIN=FILE]... [-metrics ADDR:PORT]"},
		{args: []string{"auth", "-h"}, code: 0, stderr: "-zone ORIGIN=FILE"},
		{args: []string{"auth", "-h"}, code: 0, stderr: "SIGHUP"},
		{args: []string{"checkzone", "-h"}, code: 0, stderr: "Usage: meridian checkzone ORIGIN FILE"},
		{args: []string{"version", "-h"}, code: 0, stderr: "Usage: meridian version"},
		{args: []string{"version"}, code: 0, stdout: "meridian dev go1."},
		{args: []string{"version", "extra"}, code: 2},
		{args: []string{"auth", "-nosuchflag"}, code: 2, stderr: "flag provided but not defined: -nosuchflag"},
		{args: []string{"auth", "stray"}, code: 2, stderr: `unexpected argument "stray"`},
		{args: []string{"auth", "-listen", "localhost:53"}, code: 2, stderr: `"localhost" is not an IP address`},
		{args: []string{"auth", "-zone", "example.com"}, code: 2, stderr: "want ORIGIN=FILE"},
		{args: []string{"auth", "-config", "../../testdata/config/unknown-top.yaml"}, code: 1, stderr: `unknown-top.yaml:3: listn: unknown key "listn"`},
		{args: []string{"help"}, code: 0, stdout: "resolver"},
		{args: []string{"resolver", "-h"}, code: 0, stderr: "Usage: meridian resolver [-config FILE] [-listen ADDR:PORT]... [-root-hints FILE] [-allow CIDR]... [-ns-port N] [-metrics ADDR:PORT]"},
		{args: []string{"resolver", "-h"}, code: 0, stderr: "-allow CIDR"},
		{args: []string{"resolver", "-h"}, code: 0, stderr: "keeping the\n                   cache"},
		{args: []string{"resolver", "stray"}, code: 2, stderr: `unexpected argument "stray"`},
		{args: []string{"resolver", "-allow", "10.0.0.1/8"}, code: 2, stderr: "did you mean 10.0.0.0/8?"},
		{args: []string{"resolver", "-ns-port", "0"}, code: 2, stderr: `"0" is not a port`},
		{args: []string{"resolver", "-zone", "a=b"}, code: 2, stderr: "flag provided but not defined: -zone"},
		{args: []string{"resolver", "-config", "../../testdata/config/bad-allow.yaml"}, code: 1, stderr: `bad-allow.yaml:2: resolver.allow[1]`},
		{args: []string{"checkzone", "example.com"}, code: 2, stderr: "want ORIGIN and FILE"},
		{args: []string{"checkzone", "bad..name", "x"}, code: 2, stderr: "not a domain name"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q does not contain %q", &stdout, tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q does not contain %q", &stderr, tt.stderr)
			}
		})
	}
}

// TestVersionLdflags builds the binary as the Makefile does and checks that
// -ldflags sets the version it prints.
func TestVersionLdflags(t *testing.T) {
	t.Parallel()
	bin := buildMeridian(t, "-ldflags", "-X main.version=v1.2.3-test")
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "meridian v1.2.3-test ") {
		t.Errorf("version printed %q", out)
	}
}

// buildMeridian builds this command into a temporary directory and returns
// the binary's path.
func buildMeridian(t *testing.T, flags ...string) string {
	t.Helper()
	bin := t.TempDir() + "/meridian"
	args := append([]string{"build", "-o", bin}, flags...)
	cmd := exec.Command("go", append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
