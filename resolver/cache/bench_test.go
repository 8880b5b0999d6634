package cache

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/miekg/dns"
)

// benchNames returns n distinct owner names.
func benchNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("host%d.zone%d.example.com.", i, i%97)
	}
	return names
}

// fillA caches an A RRset of two records at each name.
func fillA(b *testing.B, c *Cache, names []string) {
	for _, n := range names {
		mustInsert(b, c, RankAuthAnswer, n+" 3600 IN A 192.0.2.1", n+" 3600 IN A 192.0.2.2")
	}
}

// BenchmarkAnswerHit is the warm-cache path with a response message the
// caller reuses: what remains is the copies of the records.
func BenchmarkAnswerHit(b *testing.B) {
	c, _ := newCache(b, newClock(), Config{})
	fillA(b, c, []string{"www.example.com."})
	q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	m := new(dns.Msg)
	m.Answer = make([]dns.RR, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		m.Answer = m.Answer[:0]
		if res := c.Answer(m, q, Fresh); res.Kind != Positive {
			b.Fatal(res.Kind)
		}
	}
}

// BenchmarkAnswerHitNewMsg builds a fresh response message per question,
// as a handler that does not pool messages does.
func BenchmarkAnswerHitNewMsg(b *testing.B) {
	c, _ := newCache(b, newClock(), Config{})
	fillA(b, c, []string{"www.example.com."})
	req := new(dns.Msg)
	req.SetQuestion("www.example.com.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		m := new(dns.Msg)
		m.SetReply(req)
		if res := c.Answer(m, req.Question[0], Fresh); res.Kind != Positive {
			b.Fatal(res.Kind)
		}
	}
}

// BenchmarkAnswerHitCNAME follows one CNAME to an A RRset.
func BenchmarkAnswerHitCNAME(b *testing.B) {
	c, _ := newCache(b, newClock(), Config{})
	fillA(b, c, []string{"www.example.com."})
	mustInsert(b, c, RankAuthAnswer, "alias.example.com. 3600 IN CNAME www.example.com.")
	q := dns.Question{Name: "alias.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	m := new(dns.Msg)
	m.Answer = make([]dns.RR, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		m.Answer = m.Answer[:0]
		if res := c.Answer(m, q, Fresh); res.Kind != Positive {
			b.Fatal(res.Kind)
		}
	}
}

// BenchmarkAnswerHitParallel spreads hits over 10000 names on every CPU.
func BenchmarkAnswerHitParallel(b *testing.B) {
	c, _ := newCache(b, newClock(), Config{})
	names := benchNames(10_000)
	fillA(b, c, names)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		m := new(dns.Msg)
		m.Answer = make([]dns.RR, 0, 8)
		i := 0
		for pb.Next() {
			m.Answer = m.Answer[:0]
			q := dns.Question{Name: names[i%len(names)], Qtype: dns.TypeA, Qclass: dns.ClassINET}
			if res := c.Answer(m, q, Fresh); res.Kind != Positive {
				b.Fatal(res.Kind)
			}
			i++
		}
	})
}

// BenchmarkAnswerMiss is the cost a cache miss adds before iteration: the
// lookups of the name, a CNAME and an NXDOMAIN.
func BenchmarkAnswerMiss(b *testing.B) {
	c, _ := newCache(b, newClock(), Config{})
	q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	m := new(dns.Msg)
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Answer(m, q, Fresh); res.Kind != Miss {
			b.Fatal(res.Kind)
		}
	}
}

// BenchmarkInsert stores two-record RRsets under distinct names into a
// cache that is full, so that every insert also evicts.
func BenchmarkInsert(b *testing.B) {
	const size = 10_000
	c, _ := newCache(b, newClock(), Config{Size: size})
	names := benchNames(4 * size)
	sets := make([][]dns.RR, len(names))
	for i, n := range names {
		sets[i] = rrs(b, n+" 3600 IN A 192.0.2.1", n+" 3600 IN A 192.0.2.2")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Insert(sets[i%len(sets)], RankAuthAnswer)
		i++
	}
}

// BenchmarkClosest finds a delegation two labels up with its addresses.
func BenchmarkClosest(b *testing.B) {
	c, _ := newCache(b, newClock(), Config{})
	mustInsert(b, c, RankAuthority, "example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.example.com.")
	fillA(b, c, []string{"ns1.example.com.", "ns2.example.com."})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Closest("a.www.example.com.", dns.ClassINET); !ok {
			b.Fatal("no delegation")
		}
	}
}

// BenchmarkMemoryPerEntry measures the heap an entry takes, LRU bookkeeping
// included, for the two-address RRsets of fillA: the figure behind the
// bytes-to-entries rule in Config.Size.
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 100_000
	names := benchNames(n)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c, _ := newCache(b, newClock(), Config{Size: n})
		fillA(b, c, names)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/entry")
		runtime.KeepAlive(c)
	}
}
