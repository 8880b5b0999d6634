// Command meridian is the Meridian DNS server: one binary whose subcommands
// are the daemons (auth, resolver, later testbed) and the tools (checkzone,
// version).
//
// This package only reads flags and the config file, handles signals and
// wires the zone, resolver and server packages together; the DNS work
// happens there.
// Its command lines are a contract that operators, tests and the testbed
// script against: add to them, do not change them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=…" (see the
// Makefile). It is the only package variable: the linker can set nothing
// else.
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the exit status.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order the usage text shows them.
func commands() []command {
	return []command{
		{"auth", "serve zones authoritatively over UDP and TCP", cmdAuth},
		{"resolver", "resolve names recursively for the clients allowed, with a cache", cmdResolver},
		{"checkzone", "check a zone file as the server would load it", cmdCheckzone},
		{"testbed", "run a multi-region hierarchy with emulated latency, and report what the caches hide", cmdTestbed},
		{"xfrstatus", "print each zone's serial on its source and replicas, and whether they converged", cmdXfrstatus},
		{"version", "print the version", cmdVersion},
	}
}

// run dispatches to a subcommand. Exit status: 0 success, 1 failure, 2 bad
// usage (as the flag package does).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "meridian: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Meridian is an authoritative DNS server and a recursive resolver.\n\nUsage:\n\n\tmeridian <command> [flags] [arguments]\n\nCommands:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "\t%-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"meridian <command> -h\" for a command's flags.\n")
}

// newFlagSet returns a flag set for a subcommand whose -h prints synopsis
// and description before the flags. Errors and help go to stderr, as the Go
// tools do.
func newFlagSet(name, synopsis, description string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("meridian "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: meridian %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(description))
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(stderr, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args and turns the outcome into an exit status for the
// caller to return: -1 to go on, 0 after -h, 2 on a usage error.
func parseFlags(fs *flag.FlagSet, args []string) int {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	return -1
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "", "Print the version of this binary, the Go version that built it, and the platform.", stderr)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	fmt.Fprintf(stdout, "meridian %s %s %s/%s\n", version, goVersion(), runtime.GOOS, runtime.GOARCH)
	return 0
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return runtime.Version()
}
