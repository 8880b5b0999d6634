package iterator

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/resolver/cache"
)

// FuzzResponse feeds arbitrary responses to an iterator that is asking the
// example.org servers, and checks the two things no response may achieve: a
// panic, and data for the cache from outside example.org.
func FuzzResponse(f *testing.F) {
	h := loadHier(f)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.org.", dns.TypeA}, {"nope.example.org.", dns.TypeA}, {"alias.example.org.", dns.TypeA},
		{"host.sub.example.org.", dns.TypeA}, {"www.dname.example.org.", dns.TypeA}, {"txt.example.org.", dns.TypeMX},
	} {
		m, _ := h.exchange(netip.MustParseAddr("127.53.3.1"), q.name, q.qtype)
		for _, tamper := range []func(*dns.Msg){
			func(*dns.Msg) {},
			func(m *dns.Msg) { // poison in every section
				rr, _ := dns.NewRR("www.other.net. 300 IN A 6.6.6.6")
				ns, _ := dns.NewRR("org. 300 IN NS ns.evil.test.")
				m.Answer, m.Ns, m.Extra = append(m.Answer, rr), append(m.Ns, ns), append(m.Extra, rr)
			},
		} {
			tamper(m)
			if wire, err := m.Pack(); err == nil {
				f.Add(wire, q.name, q.qtype)
			}
		}
	}
	f.Fuzz(func(t *testing.T, wire []byte, name string, qtype uint16) {
		if _, ok := dns.IsDomainName(name); !ok || !dns.IsSubDomain("example.org.", dns.Fqdn(name)) {
			return
		}
		resp := new(dns.Msg)
		if resp.Unpack(wire) != nil {
			return
		}
		it := New(Config{Minimise: true, Budget: NewBudget(20)}, dns.Question{Name: dns.Fqdn(name), Qtype: qtype, Qclass: dns.ClassINET})
		it.Next()
		it.Delegation(cache.Delegation{Zone: "example.org.", Servers: []cache.Server{
			{Name: "ns1.example.org.", Addrs: []netip.Addr{netip.MustParseAddr("127.53.3.1")}},
		}})
		// The same response, again and again, walks the iterator through
		// whatever states it leads to, until it ends or asks elsewhere.
		for range 20 {
			a := it.Next()
			if a.Kind != SendQuery {
				break
			}
			l := it.Response(resp, nil)
			for _, s := range l.RRsets {
				for _, rr := range s.RRs {
					if !dns.IsSubDomain(a.Zone, rr.Header().Name) {
						t.Fatalf("%s server gave %v to cache", a.Zone, rr)
					}
				}
			}
			if l.Negative != nil && !dns.IsSubDomain(a.Zone, l.Negative.SOA.Hdr.Name) {
				t.Fatalf("%s server gave negative SOA %v", a.Zone, l.Negative.SOA)
			}
		}
	})
}
