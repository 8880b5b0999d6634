package main

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/internal/testhier"
)

// startInprocHier runs testdata/zones/hier in this process
// (internal/testhier) until the test ends, and returns its port. Faster
// than the subprocesses of startHier, for tests of the daemon rather than
// of the binary.
func startInprocHier(t *testing.T) uint16 { return testhier.Start(t, hierDir).Port }

// recurse asks addr one question with RD set, as a stub resolver does.
func recurse(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s to %s: %v", name, dns.TypeToString[qtype], network, addr, err)
	}
	return r
}
