// Command coldlat asks a resolver each question of a file once, in order
// and one at a time, and prints how long each answer took: the cold-cache
// resolution latency of testdata/bench/resolver.sh, which restarts the
// resolver before each pass so that every name is resolved afresh.
//
// Usage: coldlat [-server ADDR:PORT] [-timeout D] FILE
//
// FILE holds one question a line, "NAME TYPE" as dnsperf reads them. For
// each, coldlat prints "MICROSECONDS RCODE ANSWERS", or "- timeout 0" when
// no answer came within the timeout.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func main() {
	server := flag.String("server", "127.0.0.1:53", "resolver to ask, ADDR:PORT")
	timeout := flag.Duration("timeout", 5*time.Second, "how long to wait for each answer")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: coldlat [-server ADDR:PORT] [-timeout D] FILE")
		os.Exit(2)
	}
	if err := run(*server, *timeout, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "coldlat:", err)
		os.Exit(1)
	}
}

func run(server string, timeout time.Duration, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	c := &dns.Client{Net: "udp", Timeout: timeout}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		qtype := dns.TypeA
		if len(fields) > 1 {
			t, ok := dns.StringToType[strings.ToUpper(fields[1])]
			if !ok {
				return fmt.Errorf("%s:%d: unknown type %q", file, line, fields[1])
			}
			qtype = t
		}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(fields[0]), qtype)
		m.SetEdns0(1232, false)
		// A socket per question, as a stub resolver opens one: the
		// resolver sees a fresh source port each time.
		r, rtt, err := c.Exchange(m, server)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			fmt.Fprintln(out, "- timeout 0")
		case err != nil:
			return fmt.Errorf("%s %s: %w", fields[0], dns.TypeToString[qtype], err)
		default:
			fmt.Fprintf(out, "%d %s %d\n", rtt.Microseconds(), dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}
	return sc.Err()
}
