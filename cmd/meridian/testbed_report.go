package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tbreport "github.com/meridian-dns/meridian/testbed/report"
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
	if err := b.changePhase(ctx, r, rcs, runs, p, rep); err != nil {
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

// noteFailures adds to the report's notes the first questions of a phase
// that failed, so that a failure count comes with examples to look into.
func noteFailures(rep *tbreport.Report, resolver, region string, phase tbreport.Phase, res workload.Result) {
	if len(res.Failures) == 0 {
		return
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("%s in %s, %s phase: %d failed, first: %s",
		resolver, region, phase, res.Failed(), strings.Join(res.Failures, "; ")))
}
