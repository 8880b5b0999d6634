package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

const checkzoneHelp = `
Load FILE as the zone ORIGIN with exactly the checks "meridian auth" runs at
start-up and on reload, and report in the manner of named-checkzone:

  each problem as FILE:LINE: message (warnings marked "warning:"), then
  zone ORIGIN/IN: loaded serial N
  OK

and exit status 0; or, when the zone has errors,

  zone ORIGIN/IN: not loaded due to errors.

and exit status 1. Warnings alone do not stop a zone from loading.
`

func cmdCheckzone(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("checkzone", "ORIGIN FILE", checkzoneHelp, stderr)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "meridian checkzone: want ORIGIN and FILE")
		fs.Usage()
		return 2
	}
	origin, file := fs.Arg(0), fs.Arg(1)
	if _, ok := dns.IsDomainName(origin); !ok {
		fmt.Fprintf(stderr, "meridian checkzone: %q is not a domain name\n", origin)
		return 2
	}
	return checkzone(dns.Fqdn(origin), file, stdout)
}

// checkzone loads one zone and prints the outcome; it returns the exit
// status. Everything goes to stdout, as named-checkzone does, so that the
// problems and the verdict stay in order in a pipe.
func checkzone(origin, file string, w io.Writer) int {
	z, problems, err := zone.Load(origin, file, zone.LoadOptions{})
	hasError := false
	for _, p := range problems {
		fmt.Fprintln(w, formatProblem(p))
		if p.Severity == zone.Error {
			hasError = true
		}
	}
	name := displayName(origin)
	if err != nil || z == nil || hasError {
		// An error that is not one of the problems printed (the file
		// cannot be read, say) is shown here so the reason is never lost.
		if err != nil && !hasError {
			fmt.Fprintf(w, "zone %s/IN: loading from master file %s failed: %v\n", name, file, err)
		}
		fmt.Fprintf(w, "zone %s/IN: not loaded due to errors.\n", name)
		return 1
	}
	fmt.Fprintf(w, "zone %s/IN: loaded serial %d\nOK\n", name, z.Serial())
	return 0
}

// formatProblem prints a problem as FILE:LINE: message, the form editors and
// named-checkzone use, with warnings marked so they are not taken for the
// errors that stopped a load.
func formatProblem(p zone.Problem) string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		fmt.Fprintf(&b, "%s: ", p.File)
	}
	if p.Severity == zone.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// displayName writes an origin as named-checkzone does: without the final
// dot, except for the root.
func displayName(origin string) string {
	if origin == "." {
		return origin
	}
	return strings.TrimSuffix(origin, ".")
}
