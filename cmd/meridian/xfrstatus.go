package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
	zserial "github.com/meridian-dns/meridian/zone/serial"
)

const xfrstatusSynopsis = "[-config FILE] [-server ADDR[:PORT]] [-zone ORIGIN]... [-replica ADDR[:PORT]]..."

const xfrstatusHelp = `
Print, for each zone, the SOA serial on its source and on each replica this
host can see, and whether they have converged (RFC 1982 serial order).

With -config, the zones are the config's: a primary zone's source is the
server itself (its first listen address, or -server) and its replicas are
its notify targets; a secondary zone's source is its first primary and its
replicas are the server itself and its notify targets. Without -config,
give -server (the source), -zone and -replica.

The SOA queries are plain UDP queries, unsigned. Exit status 0 when every
zone has converged, 1 otherwise.

Example:
  meridian xfrstatus -config /etc/meridian.yaml
  meridian xfrstatus -server 192.0.2.1 -zone example.com -replica 192.0.2.2 -replica 192.0.2.3:5353
`

// statusZone is one zone to check: its source and replicas.
type statusZone struct {
	origin   string
	source   netip.AddrPort
	replicas []netip.AddrPort
}

func cmdXfrstatus(args []string, stdout, stderr io.Writer) int {
	var cfgFile, server string
	var zones, replicas []string
	fs := newFlagSet("xfrstatus", xfrstatusSynopsis, xfrstatusHelp, stderr)
	fs.StringVar(&cfgFile, "config", "", "take the zones, sources and replicas from the YAML `FILE`")
	fs.StringVar(&server, "server", "", "the server to ask: the source of -zone, and the primary zones' source with -config (`ADDR[:PORT]`)")
	fs.Func("zone", "check `ORIGIN` (repeatable; without -config)", appendTo(&zones))
	fs.Func("replica", "a replica of every -zone, `ADDR[:PORT]` (repeatable; without -config)", appendTo(&replicas))
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	list, err := statusZones(cfgFile, server, zones, replicas)
	if err != nil {
		fmt.Fprintln(stderr, "meridian xfrstatus:", err)
		return 2
	}
	if printStatus(stdout, list) {
		return 0
	}
	return 1
}

func appendTo(list *[]string) func(string) error {
	return func(s string) error {
		*list = append(*list, s)
		return nil
	}
}

// statusZones builds the zones to check from the config or the flags.
func statusZones(cfgFile, server string, zones, replicas []string) ([]statusZone, error) {
	var self netip.AddrPort
	if server != "" {
		p, err := config.ParsePeer(server)
		if err != nil {
			return nil, err
		}
		self = p.Addr
	}
	if cfgFile == "" {
		if !self.IsValid() || len(zones) == 0 {
			return nil, fmt.Errorf("give -config, or -server and -zone")
		}
		var reps []netip.AddrPort
		for _, r := range replicas {
			p, err := config.ParsePeer(r)
			if err != nil {
				return nil, err
			}
			reps = append(reps, p.Addr)
		}
		out := make([]statusZone, len(zones))
		for i, z := range zones {
			out[i] = statusZone{origin: dns.Fqdn(z), source: self, replicas: reps}
		}
		return out, nil
	}
	cfg, err := (&config.Flags{ConfigFile: cfgFile}).Build()
	if err != nil {
		return nil, err
	}
	if !self.IsValid() {
		self = listenToQuery(cfg.Listen[0])
	}
	var out []statusZone
	for _, z := range cfg.Zones {
		sz := statusZone{origin: z.Origin, source: self}
		if z.IsSecondary() {
			p, _ := config.ParsePeer(z.Primaries[0]) // validated
			sz.source = p.Addr
			sz.replicas = append(sz.replicas, self)
		}
		for _, n := range z.Notify {
			p, _ := config.ParsePeer(n)
			sz.replicas = append(sz.replicas, p.Addr)
		}
		out = append(out, sz)
	}
	return out, nil
}

// listenToQuery turns a listen address into one to query: a wildcard
// address (":53", "0.0.0.0:53") answers on loopback too.
func listenToQuery(listen string) netip.AddrPort {
	host, port, _ := net.SplitHostPort(listen) // validated
	a, err := netip.ParseAddr(host)
	if err != nil || a.IsUnspecified() {
		a = netip.MustParseAddr("127.0.0.1")
	}
	p, _ := strconv.ParseUint(port, 10, 16)
	return netip.AddrPortFrom(a, uint16(p))
}

// printStatus queries every server of every zone, prints a table and
// reports whether all converged.
func printStatus(w io.Writer, zones []statusZone) bool {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ZONE\tSERVER\tROLE\tSERIAL\tSTATUS")
	all := true
	for _, z := range zones {
		src, srcErr := askSerial(z.source, z.origin)
		status := "source"
		if srcErr != nil {
			status, all = srcErr.Error(), false
		}
		fmt.Fprintf(tw, "%s\t%s\tsource\t%s\t%s\n", z.origin, z.source, serialText(src, srcErr), status)
		for _, r := range z.replicas {
			s, err := askSerial(r, z.origin)
			switch {
			case err != nil:
				status, all = err.Error(), false
			case srcErr != nil:
				status, all = "source unknown", false
			case zserial.Compare(s, src) == zserial.EqualTo:
				status = "in sync"
			case zserial.Compare(s, src) == zserial.LessThan:
				status, all = fmt.Sprintf("behind by %d", src-s), false
			default:
				status, all = fmt.Sprintf("ahead by %d", s-src), false
			}
			fmt.Fprintf(tw, "%s\t%s\treplica\t%s\t%s\n", z.origin, r, serialText(s, err), status)
		}
	}
	tw.Flush()
	if all {
		fmt.Fprintln(w, "converged")
	} else {
		fmt.Fprintln(w, "NOT converged")
	}
	return all
}

func serialText(s uint32, err error) string {
	if err != nil {
		return "-"
	}
	return fmt.Sprint(s)
}

// askSerial asks addr for origin's SOA over UDP (TCP when truncated).
func askSerial(addr netip.AddrPort, origin string) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(origin, dns.TypeSOA)
	m.RecursionDesired = false
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr.String())
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(m, addr.String())
	}
	if err != nil {
		return 0, fmt.Errorf("no answer: %w", err)
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return 0, fmt.Errorf("%s", dns.RcodeToString[r.Rcode])
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, fmt.Errorf("no SOA in the answer")
	}
	return soa.Serial, nil
}
