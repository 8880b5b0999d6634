package cache

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestClosest(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T, c *Cache) {
		mustInsert(t, c, RankAuthAnswer, ". 518400 IN NS a.root-servers.net.")
		mustInsert(t, c, RankAuthAnswer, "a.root-servers.net. 518400 IN A 198.41.0.4")
		mustInsert(t, c, RankAuthority, "com. 172800 IN NS a.gtld-servers.net.", "com. 172800 IN NS b.gtld-servers.net.")
		mustInsert(t, c, RankAdditional, "a.gtld-servers.net. 172800 IN A 192.5.6.30")
		mustInsert(t, c, RankAdditional, "a.gtld-servers.net. 172800 IN AAAA 2001:503:a83e::2:30")
		mustInsert(t, c, RankAuthority, "example.com. 600 IN NS ns1.example.com.", "example.com. 600 IN NS ns.glueless.net.")
		mustInsert(t, c, RankAdditional, "ns1.example.com. 600 IN A 192.0.2.53", "ns1.example.com. 600 IN A 192.0.2.54")
		mustInsert(t, c, RankAuthority, `dot\.ted.example.com. 600 IN NS ns1.example.com.`)
	}
	type server struct {
		name  string
		addrs []string
	}
	tests := []struct {
		name    string
		qname   string
		advance time.Duration
		zone    string // "": none found
		rank    Rank
		servers []server
	}{
		{name: "the cut itself", qname: "example.com.", zone: "example.com.", rank: RankAuthority,
			servers: []server{{"ns1.example.com.", []string{"192.0.2.53", "192.0.2.54"}}, {"ns.glueless.net.", nil}}},
		{name: "below a cut", qname: "a.b.WWW.Example.com.", zone: "example.com.", rank: RankAuthority,
			servers: []server{{"ns1.example.com.", []string{"192.0.2.53", "192.0.2.54"}}, {"ns.glueless.net.", nil}}},
		{name: "TLD", qname: "www.example.net.", zone: ".", rank: RankAuthAnswer,
			servers: []server{{"a.root-servers.net.", []string{"198.41.0.4"}}}},
		{name: "both families", qname: "other.com.", zone: "com.", rank: RankAuthority,
			servers: []server{{"a.gtld-servers.net.", []string{"192.5.6.30", "2001:503:a83e::2:30"}}, {"b.gtld-servers.net.", nil}}},
		{name: "expired cut falls back to its parent", qname: "www.example.com.", advance: 600 * time.Second, zone: "com.", rank: RankAuthority,
			servers: []server{{"a.gtld-servers.net.", []string{"192.5.6.30", "2001:503:a83e::2:30"}}, {"b.gtld-servers.net.", nil}}},
		{name: "escaped dot is not a label boundary", qname: `x.dot\.ted.example.com.`, zone: `dot\.ted.example.com.`, rank: RankAuthority,
			servers: []server{{"ns1.example.com.", []string{"192.0.2.53", "192.0.2.54"}}}},
		{name: "root", qname: ".", zone: ".", rank: RankAuthAnswer,
			servers: []server{{"a.root-servers.net.", []string{"198.41.0.4"}}}},
		{name: "nothing fresh", qname: "www.example.com.", advance: 1000 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			c, _ := newCache(t, clk, Config{MaxTTL: 10 * 24 * time.Hour})
			setup(t, c)
			clk.Advance(tt.advance)
			d, ok := c.Closest(tt.qname, dns.ClassINET)
			if ok != (tt.zone != "") || d.Zone != tt.zone || d.Rank != tt.rank {
				t.Fatalf("Closest = %q %v %v, want %q %v", d.Zone, d.Rank, ok, tt.zone, tt.rank)
			}
			if !ok {
				return
			}
			if len(d.NS) != len(tt.servers) {
				t.Errorf("NS = %v", d.NS)
			}
			var got []server
			for _, s := range d.Servers {
				var addrs []string
				for _, a := range s.Addrs {
					addrs = append(addrs, a.String())
				}
				got = append(got, server{s.Name, addrs})
			}
			if !slices.EqualFunc(got, tt.servers, func(a, b server) bool { return a.name == b.name && slices.Equal(a.addrs, b.addrs) }) {
				t.Errorf("Servers = %v, want %v", got, tt.servers)
			}
		})
	}
}

// TestClosestEmpty checks that an empty cache has no cut, not even the
// root's: the iterator then starts from its hints.
func TestClosestEmpty(t *testing.T) {
	t.Parallel()
	c, _ := newCache(t, newClock(), Config{})
	if d, ok := c.Closest("www.example.com.", dns.ClassINET); ok {
		t.Errorf("Closest = %+v on an empty cache", d)
	}
}

// TestClosestAddrsUnmapped checks that IPv4 addresses come out as IPv4.
func TestClosestAddrsUnmapped(t *testing.T) {
	t.Parallel()
	c, _ := newCache(t, newClock(), Config{})
	mustInsert(t, c, RankAuthority, "example. 60 IN NS ns.example.")
	a := rr(t, "ns.example. 60 IN A 192.0.2.1").(*dns.A)
	a.A = a.A.To16()
	if !c.Insert([]dns.RR{a}, RankAdditional) {
		t.Fatal("Insert = false")
	}
	d, _ := c.Closest("example.", dns.ClassINET)
	if want := netip.MustParseAddr("192.0.2.1"); len(d.Servers) != 1 || !slices.Equal(d.Servers[0].Addrs, []netip.Addr{want}) {
		t.Errorf("Servers = %+v, want %v", d.Servers, want)
	}
}

// TestLookup checks that Lookup returns every rank, with the rank.
func TestLookup(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c, _ := newCache(t, clk, Config{})
	mustInsert(t, c, RankAdditional, "ns.example. 60 IN A 192.0.2.1")
	clk.Advance(10 * time.Second)
	dst := make([]dns.RR, 0, 4)
	got, rank, ok := c.Lookup(dst, "NS.example.", dns.TypeA, dns.ClassINET)
	if !ok || rank != RankAdditional {
		t.Fatalf("Lookup = %v %v", rank, ok)
	}
	wantRRs(t, "Lookup", got, []string{"ns.example. 50 IN A 192.0.2.1"})
	if &got[0] != &dst[:1][0] {
		t.Error("Lookup did not append to the slice given")
	}
	if _, _, ok := c.Lookup(nil, "ns.example.", dns.TypeAAAA, dns.ClassINET); ok {
		t.Error("Lookup found an AAAA")
	}
	clk.Advance(50 * time.Second)
	if _, _, ok := c.Lookup(nil, "ns.example.", dns.TypeA, dns.ClassINET); ok {
		t.Error("Lookup returned expired data")
	}
}
