// Command zonegen writes a synthetic zone, or a dnsperf query file for it,
// so that shell scripts (make bench) can use the same generator as the Go
// benchmarks and tests.
//
// Usage:
//
//	zonegen -origin bench.test. -names 100000 -seed 1 -out zone.db
//	zonegen -origin bench.test. -names 100000 -seed 1 -queries 500000 -out queries.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/meridian-dns/meridian/zone/zonegen"
)

func main() {
	origin := flag.String("origin", "bench.test.", "zone origin")
	names := flag.Int("names", 1000, "number of generated entries")
	seed := flag.Int64("seed", 1, "generator seed; the same seed gives the same output")
	queries := flag.Int("queries", 0, "write this many dnsperf query lines instead of the zone")
	out := flag.String("out", "-", "output file, - for standard output")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "zonegen: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := run(*out, func(w io.Writer) error {
		if *queries > 0 {
			return zonegen.Queries(w, *origin, *names, *queries, *seed)
		}
		return zonegen.Write(w, *origin, *names, *seed)
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run opens the output, lets gen write it, and reports a failed close, which
// on a full disk is where the error shows.
func run(out string, gen func(io.Writer) error) error {
	if out == "-" {
		w := bufio.NewWriter(os.Stdout)
		if err := gen(w); err != nil {
			return err
		}
		return w.Flush()
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("zonegen: %w", err)
	}
	if err := gen(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("zonegen: %w", err)
	}
	return nil
}
