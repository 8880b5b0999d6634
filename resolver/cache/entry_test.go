package cache

import (
	"testing"

	"github.com/miekg/dns"
)

// TestCopyTypes checks that every record type comes back equal, as a copy
// with the TTL left, whether copied shallowly or deeply.
func TestCopyTypes(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"x.example. 100 IN A 192.0.2.1",
		"x.example. 100 IN AAAA 2001:db8::1",
		"x.example. 100 IN CNAME y.example.",
		"x.example. 100 IN NS ns.example.",
		"x.example. 100 IN SOA ns.example. host.example. 1 2 3 4 5",
		"x.example. 100 IN MX 10 mx.example.",
		`x.example. 100 IN TXT "a b" c`,
		"x.example. 100 IN PTR y.example.",
		"x.example. 100 IN SRV 1 2 3 y.example.",
		"x.example. 100 IN CAA 0 issue \"ca.example\"",
		"x.example. 100 IN HTTPS 1 . alpn=h2",
		"x.example. 100 IN TYPE65400 \\# 2 abcd",
	} {
		c, _ := newCache(t, newClock(), Config{})
		in := rr(t, s)
		mustInsert(t, c, RankAnswer, s)
		got, _, ok := c.Lookup(nil, "x.example.", in.Header().Rrtype, dns.ClassINET)
		if !ok || len(got) != 1 || got[0].String() != in.String() {
			t.Errorf("%s: got %v", s, got)
			continue
		}
		got[0].Header().Ttl = 7
		again, _, _ := c.Lookup(nil, "x.example.", in.Header().Rrtype, dns.ClassINET)
		if again[0].Header().Ttl != 100 {
			t.Errorf("%s: a reader changed the cached TTL", s)
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ got, want string }{
		{RankAdditional.String(), "additional"},
		{RankAuthority.String(), "authority"},
		{RankAnswer.String(), "answer"},
		{RankAuthAuthority.String(), "auth-authority"},
		{RankAuthAnswer.String(), "auth-answer"},
		{Rank(0).String(), "invalid"},
		{Miss.String(), "miss"},
		{Positive.String(), "positive"},
		{NXDomain.String(), "nxdomain"},
		{NoData.String(), "nodata"},
		{Partial.String(), "partial"},
		{Kind(9).String(), "invalid"},
	} {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}
