package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

// versionedZones returns a zone set whose serial and whose answer for
// www.example. A both carry v, so that a response shows which version
// answered it.
func versionedZones(t testing.TB, v int) *zone.Set {
	t.Helper()
	var rrs []dns.RR
	for _, s := range []string{
		fmt.Sprintf("example. 3600 SOA ns1.example. hostmaster.example. %d 7200 3600 1209600 300", v),
		"example. 3600 NS ns1.example.",
		"ns1.example. 3600 A 192.0.2.1",
		fmt.Sprintf("www.example. 3600 A 10.0.%d.%d", v/256%256, v%256),
	} {
		rrs = append(rrs, mustRR(t, s))
	}
	return zone.NewSet(zone.New("example.", rrs))
}

// TestReloadUnderLoad swaps the zone set 200 times while clients query over
// UDP and TCP without pause: every query is answered, correctly, by one
// version or the next, and versions never go backwards for a client.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	// No per-connection query limit: a TCP client here sends thousands.
	s, addr := startServer(t, Options{TCPMaxQueries: -1})
	s.SetZones(versionedZones(t, 0))

	ctx, cancel := context.WithCancel(context.Background())
	var answered, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		network := []string{"udp", "tcp"}[i%2]
		wg.Go(func() {
			c, err := dns.Dial(network, addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			last := -1
			for ctx.Err() == nil {
				m := query{name: "www.example.", qtype: dns.TypeA}.msg()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if err := c.WriteMsg(m); err != nil {
					t.Errorf("%s write: %v", network, err)
					failed.Add(1)
					return
				}
				r, err := c.ReadMsg()
				if err != nil || r.Id != m.Id || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					t.Errorf("%s: %v %v", network, r, err)
					failed.Add(1)
					return
				}
				a := r.Answer[0].(*dns.A).A.To4()
				v := int(a[2])<<8 | int(a[3])
				if v < last {
					t.Errorf("%s: version %d after %d", network, v, last)
				}
				last = v
				answered.Add(1)
			}
		})
	}
	const swaps = 200
	for v := 1; v <= swaps; v++ {
		s.SetZones(versionedZones(t, v))
		// Let queries run against each version; yielding, not sleeping for
		// a result.
		for start := answered.Load(); answered.Load() < start+5 && failed.Load() == 0; {
			time.Sleep(50 * time.Microsecond)
		}
	}
	cancel()
	wg.Wait()
	if failed.Load() != 0 || answered.Load() < swaps {
		t.Fatalf("%d answered, %d failed", answered.Load(), failed.Load())
	}
	if got := s.Zones().Get("example.").Serial(); got != swaps {
		t.Errorf("serving serial %d, want %d", got, swaps)
	}
	t.Logf("%d queries answered across %d swaps", answered.Load(), swaps)
}
