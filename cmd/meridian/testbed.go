package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/meridian-dns/meridian/testbed/topology"
	"github.com/meridian-dns/meridian/testbed/unbound"
)

const testbedSynopsis = "[-topology FILE] [-port N] [-metrics-port N] [-dir DIR]\n" +
	"    [-report [-duration D] [-compare unbound] [-html FILE]]"

const testbedHelp = `
Run a whole multi-region naming service on this machine: every
authoritative server (primaries loaded from zone files or generated,
secondaries fed by real AXFR/IXFR after NOTIFY) and one caching resolver per
region, each a Meridian server with its own config, log and metrics, on its
own loopback address in its region's block 127.(10+i).0.0/16, all on one
shared high port. Latency between regions is emulated per packet, in user
space, by the sockets the testbed hands to the servers.

Without -report it prints the servers and a dig line for each region's
resolver, then runs until interrupted (SIGINT, SIGTERM). SIGHUP makes
every server re-read its config and zone files, as meridian auth does:
edit a zone under DIR/zones, raise its serial, and the primary reloads
and NOTIFYs its secondaries.

With -report it drives the topology's clients through four phases (cold
caches, warm caches, a zone change at a primary, one region cut off) and
prints per region the client latency, cache hit ratio, upstream queries per
client query, the share sent to the nearest replica and the physical limit;
the same report, with plots, goes to an HTML file. -compare unbound runs the
same workload through Unbound resolvers in the same regions: Unbound queries
port 53 only, so this puts every server on port 53 and needs root.

Example:
  meridian testbed
  meridian testbed -report -duration 20s -compare unbound
`

// testbedFlags are the flags of `meridian testbed`.
type testbedFlags struct {
	topology    string
	port        uint
	metricsPort uint
	dir         string
	logLevel    string
	report      bool
	duration    time.Duration
	compare     string
	html        string
}

func cmdTestbed(args []string, stdout, stderr io.Writer) int {
	var f testbedFlags
	fs := newFlagSet("testbed", testbedSynopsis, testbedHelp, stderr)
	fs.StringVar(&f.topology, "topology", "", "topology `FILE` (default: the embedded one, also in testdata/topologies/default.yaml)")
	fs.UintVar(&f.port, "port", 0, "shared DNS `port` of every server (default: the topology's)")
	fs.UintVar(&f.metricsPort, "metrics-port", 9153, "`port` of every server's /metrics and /healthz, on its own address (0: off)")
	fs.StringVar(&f.dir, "dir", "", "`directory` for zone files, configs, copies and logs (default: a new temporary one, removed at exit)")
	fs.StringVar(&f.logLevel, "log-level", "info", "`level` of the servers' log files")
	fs.BoolVar(&f.report, "report", false, "drive the clients through the phases and report")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "length of each timed phase of -report")
	fs.StringVar(&f.compare, "compare", "", "also run the workload through this resolver: unbound")
	fs.StringVar(&f.html, "html", "testbed-report.html", "`file` the -report HTML goes to")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "meridian testbed: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if f.port > 65535 || f.metricsPort > 65535 {
		fmt.Fprintln(stderr, "meridian testbed: a port is at most 65535")
		return 2
	}
	if f.compare != "" && f.compare != "unbound" {
		fmt.Fprintf(stderr, "meridian testbed: -compare %q: only unbound is supported\n", f.compare)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := runTestbed(ctx, f, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "meridian testbed: %v\n", err)
		return 1
	}
	return 0
}

// runTestbed is the command after its flags: it loads the topology, starts
// the bed, and either waits for ctx or runs the report.
func runTestbed(ctx context.Context, f testbedFlags, stdout, stderr io.Writer) error {
	var t *topology.Topology
	var err error
	name := "the default topology (embedded)"
	if f.topology != "" {
		t, err = topology.Load(f.topology)
		name = f.topology
	} else {
		t, err = topology.Default()
	}
	if err != nil {
		return err
	}
	if f.port != 0 {
		t.SetPort(uint16(f.port))
	}
	compare := false
	if f.compare == "unbound" {
		ok, why := unbound.Available()
		switch {
		case !ok:
			fmt.Fprintf(stderr, "no comparison with Unbound: %s; reporting Meridian alone\n", why)
		case os.Geteuid() != 0:
			fmt.Fprintln(stderr, "no comparison with Unbound: it sends iterative queries to port 53 only, which an unprivileged user cannot bind; run as root to compare. Reporting Meridian alone.")
		default:
			compare = true
			if t.Port != 53 {
				fmt.Fprintf(stderr, "comparing with Unbound: every server moves to port 53 (Unbound queries no other port)\n")
				t.SetPort(53)
			}
		}
	}
	dir := f.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "meridian-testbed-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	fmt.Fprintf(stderr, "starting %d servers of %s in %s ...\n", len(t.Servers()), name, dir)
	start := time.Now()
	b, err := startBed(ctx, t, bedOptions{Dir: dir, MetricsPort: uint16(f.metricsPort), LogLevel: f.logLevel})
	if err != nil {
		return err
	}
	defer b.close()
	fmt.Fprintf(stderr, "all servers up in %v\n\n", time.Since(start).Round(time.Millisecond))
	if f.report {
		return b.runReport(ctx, reportOptions{
			Name: name, Duration: f.duration, Compare: compare, HTML: f.html,
			Out: stdout, Progress: stderr,
		})
	}
	b.printServers(stdout)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr, "\nstopping ...")
			return nil
		case <-hup:
			fmt.Fprintln(stderr, "SIGHUP: every server re-reads its config and zone files")
			b.reloadAll()
		}
	}
}

// printServers prints the table of servers and what to try.
func (b *bed) printServers(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tROLE\tZONE\tREGION\tADDRESS\tMETRICS")
	for _, s := range b.top.Servers() {
		z := s.Zone
		if z == "" {
			z = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Role, z, s.Region, s.Addr, b.metricsURL(s.Addr.Addr()))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nAsk any region's resolver (the first name of a leaf zone is the most popular):")
	example := b.exampleName()
	for _, r := range b.top.Regions {
		s, _ := b.top.Resolver(r.Name)
		fmt.Fprintf(w, "  dig @%s -p %d %s    # %s\n", s.Addr.Addr(), s.Addr.Port(), example, r.Name)
	}
	if len(b.top.Regions) > 0 {
		s, _ := b.top.Resolver(b.top.Regions[0].Name)
		fmt.Fprintf(w, "  dig CH TXT id.server @%s -p %d    # which server answered: each names itself (or +nsid on any query)\n", s.Addr.Addr(), s.Addr.Port())
	}
	fmt.Fprintln(w, "\nMetrics and health of each resolver:")
	for _, r := range b.top.Regions {
		s, _ := b.top.Resolver(r.Name)
		fmt.Fprintf(w, "  %s/metrics    %s/healthz\n", b.metricsURL(s.Addr.Addr()), b.metricsURL(s.Addr.Addr()))
	}
	fmt.Fprintf(w, "\nLogs and configs: %s/logs, %s/servers\n", b.dir, b.dir)
	fmt.Fprintln(w, "Measure what the resolvers hide: meridian testbed -report")
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}

func (b *bed) metricsURL(a netip.Addr) string {
	if b.metricsPort == 0 {
		return "-"
	}
	return "http://" + netip.AddrPortFrom(a, b.metricsPort).String()
}

// exampleName is a name worth asking: the most popular of the first leaf.
func (b *bed) exampleName() string {
	for _, z := range b.top.Leaves() {
		if names, err := b.top.QueryNames(topology.Client{Zones: []string{z.Name}}); err == nil && len(names) > 0 {
			return names[0]
		}
	}
	return strings.TrimSuffix(b.top.Zones[0].Name, ".") + "."
}
