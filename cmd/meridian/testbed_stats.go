package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-dns/meridian/testbed/fabric"
	"github.com/meridian-dns/meridian/testbed/topology"
	"github.com/meridian-dns/meridian/testbed/unbound"
)

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
