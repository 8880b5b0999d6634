package exchange

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkExchange is one UDP exchange over loopback, with 0x20 and EDNS
// on: a socket, a random ID, a write, a read, the checks.
func BenchmarkExchange(b *testing.B) {
	r := startResponder(b, echo, nil)
	c := New(Config{})
	q := query("www.example.com.", dns.TypeA)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Exchange(ctx, r.addr, q, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRandomID measures the buffered crypto/rand ID source.
func BenchmarkRandomID(b *testing.B) {
	r := newRandBuf()
	b.ReportAllocs()
	for b.Loop() {
		r.uint16()
	}
}
