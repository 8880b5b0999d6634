package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	tbreport "github.com/meridian-dns/meridian/testbed/report"
	"github.com/meridian-dns/meridian/testbed/topology"
	"github.com/meridian-dns/meridian/testbed/workload"
)

// changePhase edits a leaf zone at its primary and measures when every
// secondary of it serves the new serial and every region's resolver
// answers with the new address, while the clients keep asking.
func (b *bed) changePhase(ctx context.Context, r resolverUnderTest, rcs []*regionClients, runs []*tbreport.Run, p *progress, rep *tbreport.Report) error {
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
