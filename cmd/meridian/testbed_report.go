package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/testbed/fabric"
	tbreport "github.com/meridian-dns/meridian/testbed/report"
	"github.com/meridian-dns/meridian/testbed/topology"
	"github.com/meridian-dns/meridian/testbed/unbound"
	"github.com/meridian-dns/meridian/testbed/workload"
)

// reportOptions tune runReport.
type reportOptions struct {
	// Name says which topology ran, for the title.
	Name string
	// Duration of each timed phase (cold, cut-off).
	Duration time.Duration
	// Compare runs the workload through Unbound too (the bed must be on
	// port 53).
	Compare bool
	// HTML is the file the HTML report goes to; "" for none.
	HTML string
	// Out gets the text report, Progress the progress lines.
	Out, Progress io.Writer
}

// resolverUnderTest is what the phases need to know of the resolvers of
// one kind (Meridian's, or Unbound's) in every region.
type resolverUnderTest struct {
	name string
	// addr is the resolver of a region.
	addr func(region string) netip.AddrPort
	// stats returns the client questions a region's resolver answered so
	// far, how many of them from its cache, and how many with expired
	// data (RFC 8767).
	stats func(region string) (resolverCounts, error)
}

// runReport drives the workload through Meridian's resolvers (and
// Unbound's) and writes the report.
func (b *bed) runReport(ctx context.Context, o reportOptions) error {
	rep := &tbreport.Report{}
	for _, r := range b.top.Regions {
		rep.Regions = append(rep.Regions, tbreport.Region{Name: r.Name})
	}
	p := &progress{w: o.Progress}
	meridian := resolverUnderTest{
		name: "meridian",
		addr: func(region string) netip.AddrPort { s, _ := b.top.Resolver(region); return s.Addr },
		stats: func(region string) (resolverCounts, error) {
			s, _ := b.top.Resolver(region)
			return b.resolverStats(s.Addr.Addr())
		},
	}
	runs, err := b.phases(ctx, meridian, o, p, rep)
	if err != nil {
		return err
	}
	for i := range rep.Regions {
		rep.Regions[i].Meridian = *runs[i]
	}
	if o.Compare {
		peers, err := b.startUnbound(ctx)
		if err != nil {
			return err
		}
		defer func() {
			for _, u := range peers {
				u.Close()
			}
		}()
		ub := resolverUnderTest{
			name: "unbound",
			addr: func(region string) netip.AddrPort {
				a, _ := b.top.PeerAddr(region)
				return netip.AddrPortFrom(a, 53)
			},
			stats: func(region string) (resolverCounts, error) {
				st, err := peers[region].Stats()
				return resolverCounts{answered: float64(st.Queries), hits: float64(st.CacheHits), stale: float64(st.Expired)}, err
			},
		}
		runs, err := b.phases(ctx, ub, o, p, rep)
		if err != nil {
			return err
		}
		for i := range rep.Regions {
			rep.Regions[i].Peer = runs[i]
		}
	}
	title := fmt.Sprintf("%s: %d regions, %d servers; cold, warm and cut-off phases of %v each",
		o.Name, len(b.top.Regions), len(b.top.Servers()), o.Duration)
	rep.Title = title
	b.lastReport = rep
	failures := rep.Notes // the phases' failure examples go last
	rep.Notes = nil
	rep.Notes = append(rep.Notes,
		"cold: every cache empty, each client asks its names (Zipf with a share of names that do not exist) for the phase; warm: the clients go on for as long again, over the caches the cold phase filled",
		"hit ratio and upstream/query cover cold and warm; upstream queries are counted where the authoritative servers receive them; nearest share is of the warm phase's upstream queries",
		"clients sit beside their region's resolver (no distance between them); the region's own RTT is between its servers",
		"phys. limit: per cold question, the round trips to the nearest replica of each zone cut an ideal cache of the region would not yet hold (zero for a name already asked), averaged; cold/limit is the cold mean over it, i.e. the total time the cold workload took over the least it could have taken",
		"cut-off: "+b.cutRegion()+"'s links to the other regions dropped; its clients keep their resolver")
	if !o.Compare {
		rep.Notes = append(rep.Notes, "no peer resolver compared (-compare unbound, as root)")
	}
	rep.Notes = append(rep.Notes, failures...)
	if err := rep.WriteText(o.Out); err != nil {
		return err
	}
	if o.HTML != "" {
		f, err := os.Create(o.HTML)
		if err != nil {
			return err
		}
		if err := rep.WriteHTML(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		abs, _ := filepath.Abs(o.HTML)
		fmt.Fprintf(o.Progress, "\nHTML report with plots: %s\n", abs)
	}
	return nil
}

// regionClients are one region's emulated clients. Their samplers run on
// from phase to phase: the warm phase goes on with the questions of the
// cold one, over caches the cold phase filled.
type regionClients struct {
	region   string
	conns    []net.Conn
	samplers []*workload.Sampler
	rates    []float64
}

// clients opens the sockets of every region's clients, bound at their
// region's client addresses and connected to the resolver under test.
func (b *bed) clients(ctx context.Context, r resolverUnderTest) ([]*regionClients, func(), error) {
	var out []*regionClients
	closeAll := func() {
		for _, rc := range out {
			for _, c := range rc.conns {
				c.Close()
			}
		}
	}
	for _, reg := range b.top.Regions {
		rc := &regionClients{region: reg.Name}
		out = append(out, rc)
		n := 0
		for _, g := range b.top.Clients {
			if g.Region != reg.Name {
				continue
			}
			for j := 0; j < g.Count; j++ {
				cfg, err := workload.ForClient(b.top, g, j)
				if err != nil {
					closeAll()
					return nil, nil, err
				}
				s, err := workload.NewSampler(cfg)
				if err != nil {
					closeAll()
					return nil, nil, err
				}
				local, _ := b.top.ClientAddr(reg.Name, n)
				n++
				c, err := b.net.Dialer(local).DialUDP(ctx, netip.AddrPortFrom(local, 0), r.addr(reg.Name))
				if err != nil {
					closeAll()
					return nil, nil, err
				}
				rc.conns = append(rc.conns, c)
				rc.samplers = append(rc.samplers, s)
				rc.rates = append(rc.rates, g.Rate)
			}
		}
	}
	return out, closeAll, nil
}

// drive runs every region's clients at once for one phase; limit, if
// set, gives a region's tracker of physical limits.
func drive(ctx context.Context, rcs []*regionClients, limit func(region string) *workload.Tracker, asked *atomic.Int64) []workload.Result {
	results := make([]workload.Result, len(rcs))
	var wg sync.WaitGroup
	for i, rc := range rcs {
		var clients []workload.Client
		for j, s := range rc.samplers {
			clients = append(clients, workload.Client{Sampler: s, Conn: rc.conns[j], Rate: rc.rates[j]})
		}
		o := workload.Options{Asked: asked}
		if limit != nil {
			o.Limit = limit(rc.region).Limit
		}
		wg.Go(func() { results[i] = workload.Run(ctx, clients, o) })
	}
	wg.Wait()
	return results
}

// phases runs the four phases through one kind of resolver and returns a
// run per region, in the topology's order.
func (b *bed) phases(ctx context.Context, r resolverUnderTest, o reportOptions, p *progress, rep *tbreport.Report) ([]*tbreport.Run, error) {
	rcs, closeClients, err := b.clients(ctx, r)
	if err != nil {
		return nil, err
	}
	defer closeClients()
	runs := make([]*tbreport.Run, len(rcs))
	for i := range runs {
		runs[i] = &tbreport.Run{Resolver: r.name, Latency: map[tbreport.Phase][]time.Duration{}, Failed: map[tbreport.Phase]int{},
			NearestShare: math.NaN(), CacheHitRatio: math.NaN()}
	}
	stats := func() ([]resolverCounts, error) {
		out := make([]resolverCounts, len(rcs))
		for i, rc := range rcs {
			c, err := r.stats(rc.region)
			if err != nil {
				return nil, fmt.Errorf("%s stats in %s: %w", r.name, rc.region, err)
			}
			out[i] = c
		}
		return out, nil
	}
	before, err := stats()
	if err != nil {
		return nil, err
	}
	b.net.Reset()

	// 1. Cold: empty caches, for the phase's duration.
	trackers := map[string]*workload.Tracker{}
	for _, rc := range rcs {
		trackers[rc.region] = workload.NewTracker(b.top, rc.region)
	}
	cold, err := p.phase(ctx, r.name+" cold", o.Duration, func(ctx context.Context, asked *atomic.Int64) ([]workload.Result, error) {
		return drive(ctx, rcs, func(region string) *workload.Tracker { return trackers[region] }, asked), nil
	})
	if err != nil {
		return nil, err
	}
	afterCold := b.net.Counts()

	// 2. Warm: the clients go on, over the caches the cold phase filled.
	warm, err := p.phase(ctx, r.name+" warm", o.Duration, func(ctx context.Context, asked *atomic.Int64) ([]workload.Result, error) {
		return drive(ctx, rcs, nil, asked), nil
	})
	if err != nil {
		return nil, err
	}
	afterWarm := b.net.Counts()
	after, err := stats()
	if err != nil {
		return nil, err
	}
	for i, rc := range rcs {
		run := runs[i]
		run.Latency[tbreport.Cold] = cold[i].Latency
		run.Latency[tbreport.Warm] = warm[i].Latency
		run.Failed[tbreport.Cold] = cold[i].Failed()
		run.Failed[tbreport.Warm] = warm[i].Failed()
		noteFailures(rep, r.name, rc.region, tbreport.Cold, cold[i])
		noteFailures(rep, r.name, rc.region, tbreport.Warm, warm[i])
		if answered := after[i].answered - before[i].answered; answered > 0 {
			run.CacheHitRatio = (after[i].hits - before[i].hits) / answered
		}
		from := r.addr(rc.region).Addr()
		if clientQs := cold[i].Answered() + warm[i].Answered(); clientQs > 0 {
			run.UpstreamPerQuery = float64(sumFrom(afterWarm, from)) / float64(clientQs)
		}
		run.NearestShare = b.nearestShare(rc.region, from, diffCounts(afterWarm, afterCold))
		if r.name == "meridian" && len(cold[i].Limits) > 0 {
			// The peer runs the same questions: the limit is the
			// workload's, taken once.
			var sum time.Duration
			for _, l := range cold[i].Limits {
				sum += l
			}
			rep.Regions[i].Limits = cold[i].Limits
			rep.Regions[i].PhysicalLimit = sum / time.Duration(len(cold[i].Limits))
		}
	}

	// 3. A zone change at a primary, while the clients keep asking.
	if err := b.changePhase(ctx, r, rcs, runs, o, p, rep); err != nil {
		return nil, err
	}

	// 4. One region cut off from the others.
	cut := b.cutRegion()
	beforeCut, err := stats()
	if err != nil {
		return nil, err
	}
	b.net.Cut(cut, true)
	res, err := p.phase(ctx, r.name+" cut-off ("+cut+")", o.Duration, func(ctx context.Context, asked *atomic.Int64) ([]workload.Result, error) {
		return drive(ctx, rcs, nil, asked), nil
	})
	b.net.Cut(cut, false)
	if err != nil {
		return nil, err
	}
	afterCut, err := stats()
	if err != nil {
		return nil, err
	}
	for i := range rcs {
		runs[i].Latency[tbreport.CutOff] = res[i].Latency
		runs[i].Failed[tbreport.CutOff] = res[i].Failed()
		noteFailures(rep, r.name, rcs[i].region, tbreport.CutOff, res[i])
		runs[i].Stale = map[tbreport.Phase]int{tbreport.CutOff: int(afterCut[i].stale - beforeCut[i].stale)}
	}
	return runs, nil
}

// changePhase edits a leaf zone at its primary and measures when every
// secondary of it serves the new serial and every region's resolver
// answers with the new address, while the clients keep asking.
func (b *bed) changePhase(ctx context.Context, r resolverUnderTest, rcs []*regionClients, runs []*tbreport.Run, o reportOptions, p *progress, rep *tbreport.Report) error {
	z := b.changeZone()
	wctx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	var asked atomic.Int64
	var work []workload.Result
	var wg sync.WaitGroup
	wg.Go(func() { work = drive(wctx, rcs, nil, &asked) })

	start := time.Now()
	edit, err := b.change(ctx, z.Name)
	if err != nil {
		stopWork()
		wg.Wait()
		return err
	}
	what := fmt.Sprintf("%s serial %d at its primary (%s): %s A moved from %v to %v; TTL %v",
		z.Name, edit.Serial, z.Primary.Region, edit.Name, edit.Old, edit.New, z.TTL)
	if rep.Change == "" {
		rep.Change = what
	} else {
		rep.Change += fmt.Sprintf("; for %s, serial %d (%v)", r.name, edit.Serial, edit.New)
	}
	// A secondary must see it after NOTIFY and a transfer: a few round
	// trips. A resolver after the cached record's TTL at most, plus one
	// resolution across the topology.
	xfrBound := 10 * time.Second
	resBound := z.TTL + 10*time.Second
	type watch struct {
		seen  tbreport.Seen
		check func() bool
	}
	var watches []*watch
	for _, s := range b.top.ZoneServers(z.Name) {
		if s.Role != topology.RoleSecondary {
			continue
		}
		watches = append(watches, &watch{
			seen: tbreport.Seen{Server: s.Name, Role: "secondary", Region: s.Region, Bound: xfrBound},
			check: func() bool {
				got, err := querySerial(s.Addr, z.Name)
				return err == nil && int32(got-edit.Serial) >= 0
			},
		})
	}
	for _, rc := range rcs {
		local, _ := b.top.ClientAddr(rc.region, 1000) // apart from the workload's
		conn, err := b.net.Dialer(local).DialUDP(ctx, netip.AddrPortFrom(local, 0), r.addr(rc.region))
		if err != nil {
			stopWork()
			wg.Wait()
			return err
		}
		defer conn.Close()
		w := &watch{seen: tbreport.Seen{Server: r.name + "-" + rc.region, Role: "resolver", Region: rc.region, Bound: resBound}}
		w.check = func() bool { return answersWith(conn, edit.Name, edit.New) }
		watches = append(watches, w)
	}
	p.start(r.name+" zone change ("+z.Name+")", resBound, &asked)
	deadline := start.Add(resBound)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pending := 0
		for _, w := range watches {
			if w.seen.After > 0 {
				continue
			}
			if w.check() {
				w.seen.After = time.Since(start)
			} else {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop()
	stopWork()
	wg.Wait()
	for _, w := range watches {
		if w.seen.Role == "secondary" && r.name != "meridian" {
			continue // the same transfer again: reported once
		}
		rep.Seen = append(rep.Seen, w.seen)
		if w.seen.Role == "resolver" {
			for i, rc := range rcs {
				if rc.region == w.seen.Region {
					runs[i].ChangeSeen = w.seen.After
				}
			}
		}
	}
	for i := range rcs {
		runs[i].Latency[tbreport.Change] = work[i].Latency
		runs[i].Failed[tbreport.Change] = work[i].Failed()
		noteFailures(rep, r.name, rcs[i].region, tbreport.Change, work[i])
	}
	return ctx.Err()
}

// noteFailures adds to the report's notes the first questions of a phase
// that failed, so that a failure count comes with examples to look into.
func noteFailures(rep *tbreport.Report, resolver, region string, phase tbreport.Phase, res workload.Result) {
	if len(res.Failures) == 0 {
		return
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("%s in %s, %s phase: %d failed, first: %s",
		resolver, region, phase, res.Failed(), strings.Join(res.Failures, "; ")))
}

// answersWith asks a resolver for name's A record over conn and reports
// whether the answer holds addr.
func answersWith(conn net.Conn, name string, addr netip.Addr) bool {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Conn{Conn: conn}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if err := c.WriteMsg(m); err != nil {
		return false
	}
	for {
		r, err := c.ReadMsg()
		if err != nil {
			return false
		}
		if r.Id != m.Id {
			continue // a late answer to an earlier check
		}
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok && a.A.Equal(addr.AsSlice()) {
				return true
			}
		}
		return false
	}
}

// changeZone is the zone the change phase edits: the first leaf with a
// secondary, so that both transfer and caches show.
func (b *bed) changeZone() *topology.Zone {
	leaves := b.top.Leaves()
	for _, z := range leaves {
		if len(z.Secondaries) > 0 {
			return z
		}
	}
	return leaves[0]
}

// cutRegion is the region the cut-off phase isolates: the one holding the
// most zone servers, whose loss the others feel most.
func (b *bed) cutRegion() string {
	count := map[string]int{}
	for _, s := range b.top.Servers() {
		if s.Role != topology.RoleResolver {
			count[s.Region]++
		}
	}
	best := b.top.Regions[0].Name
	for _, r := range b.top.Regions {
		if count[r.Name] > count[best] {
			best = r.Name
		}
	}
	return best
}

// sumFrom returns the queries sent from an address.
func sumFrom(c map[fabric.Link]uint64, from netip.Addr) uint64 {
	var n uint64
	for l, v := range c {
		if l.From == from {
			n += v
		}
	}
	return n
}

// diffCounts returns a - b per link.
func diffCounts(a, b map[fabric.Link]uint64) map[fabric.Link]uint64 {
	out := make(map[fabric.Link]uint64, len(a))
	for l, v := range a {
		if d := v - b[l]; d > 0 {
			out[l] = d
		}
	}
	return out
}

// nearestShare is the share of the queries sent from a region's resolver
// at from that went to a replica as near as any of its zone's.
func (b *bed) nearestShare(region string, from netip.Addr, c map[fabric.Link]uint64) float64 {
	byAddr := map[netip.Addr]topology.Server{}
	for _, s := range b.top.Servers() {
		byAddr[s.Addr.Addr()] = s
	}
	var total, near uint64
	for l, v := range c {
		s, ok := byAddr[l.To]
		if l.From != from || !ok || s.Role == topology.RoleResolver {
			continue
		}
		total += v
		if _, best, ok := b.top.Nearest(region, s.Zone); ok && b.top.RTT(region, s.Region) == best {
			near += v
		}
	}
	if total == 0 {
		return math.NaN()
	}
	return float64(near) / float64(total)
}

// scrapeClient reads metrics without keeping connections open: the
// testbed leaves no socket behind when it stops.
var scrapeClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// resolverCounts are a resolver's own counters of client questions.
type resolverCounts struct{ answered, hits, stale float64 }

// resolverStats reads a Meridian resolver's answered questions, cache
// hits and stale answers from its metrics endpoint, as an operator's
// scraper would.
func (b *bed) resolverStats(a netip.Addr) (resolverCounts, error) {
	var c resolverCounts
	if b.metricsPort == 0 {
		return resolverCounts{math.NaN(), math.NaN(), math.NaN()}, nil
	}
	url := "http://" + netip.AddrPortFrom(a, b.metricsPort).String() + "/metrics"
	resp, err := scrapeClient.Get(url)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	const metric = "meridian_resolver_response_duration_seconds_count{"
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return c, fmt.Errorf("%s: %q: %w", url, line, err)
		}
		c.answered += v
		switch {
		case strings.Contains(line, `source="cache"`):
			c.hits += v
		case strings.Contains(line, `source="stale"`):
			c.stale += v
		}
	}
	return c, sc.Err()
}

// startUnbound starts an Unbound resolver in every region, beside
// Meridian's, at the region's peer address on port 53.
func (b *bed) startUnbound(ctx context.Context) (map[string]*unbound.Resolver, error) {
	out := map[string]*unbound.Resolver{}
	var zones []string
	for _, z := range b.top.Zones {
		zones = append(zones, z.Name)
	}
	for _, r := range b.top.Regions {
		a, _ := b.top.PeerAddr(r.Name)
		b.net.External(a)
		u, err := unbound.Start(ctx, unbound.Config{
			Dir:       filepath.Join(b.dir, "servers", "unbound-"+r.Name),
			Addr:      a,
			Port:      53,
			RootHints: filepath.Join(b.dir, "zones", "root.hints"),
			Allow:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Zones:     zones,
		})
		if err != nil {
			for _, u := range out {
				u.Close()
			}
			return nil, err
		}
		out[r.Name] = u
	}
	return out, nil
}

// progress shows the running phase on the terminal: a line rewritten in
// place on a terminal, a line every few seconds otherwise.
type progress struct {
	w       io.Writer
	stopped chan struct{}
	done    chan struct{}
}

// phase runs f under a context that ends after d (0: when f returns by
// itself), showing progress against d.
func (p *progress) phase(ctx context.Context, name string, d time.Duration,
	f func(context.Context, *atomic.Int64) ([]workload.Result, error)) ([]workload.Result, error) {
	var asked atomic.Int64
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	p.start(name, d, &asked)
	res, err := f(ctx, &asked)
	p.stop()
	if err == nil && ctx.Err() != nil && context.Cause(ctx) != context.DeadlineExceeded {
		err = ctx.Err()
	}
	return res, err
}

func (p *progress) start(name string, d time.Duration, asked *atomic.Int64) {
	p.stopped, p.done = make(chan struct{}), make(chan struct{})
	tty := isTerminal(p.w)
	go func() {
		defer close(p.done)
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		line := func() string {
			s := fmt.Sprintf("%-32s %6.1fs", name, time.Since(start).Seconds())
			if d > 0 {
				s += fmt.Sprintf(" of %v", d)
			}
			return s + fmt.Sprintf("  %d answered", asked.Load())
		}
		printed := time.Time{}
		for n := 1; ; n++ {
			select {
			case <-p.stopped:
				switch {
				case tty:
					fmt.Fprintf(p.w, "\r%s\033[K\n", line())
				case time.Since(printed) > 500*time.Millisecond:
					fmt.Fprintln(p.w, line())
				}
				return
			case <-tick.C:
				switch {
				case tty:
					fmt.Fprintf(p.w, "\r%s\033[K", line())
				case n%5 == 0:
					fmt.Fprintln(p.w, line())
					printed = time.Now()
				}
			}
		}
	}()
}

func (p *progress) stop() {
	close(p.stopped)
	<-p.done
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
