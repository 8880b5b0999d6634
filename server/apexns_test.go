package server

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

// TestAddApexNSSigned checks the authority NS and additional addresses that
// NSD's mode adds to positive answers: with DO each RRset is signed
// (RFC 4035 §3.1.1), an answer ending in its RRSIGs still counts as data,
// and an address RRset already in the answer is not repeated, whether or
// not its signature is there.
func TestAddApexNSSigned(t *testing.T) {
	t.Parallel()
	z, _, err := zone.Load("signed.example.", filepath.Join("..", "testdata", "zones", "signed", "signed.example.zone"), zone.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := zone.NewSet(z)
	nsSigned := []string{"signed.example. NS", "signed.example. NS", "signed.example. RRSIG NS"}
	addrsSigned := []string{"ns1.signed.example. A", "ns1.signed.example. RRSIG A", "ns2.signed.example. A", "ns2.signed.example. RRSIG A"}
	tests := []struct {
		qname string
		qtype uint16
		do    bool
		ns    []string // added to the authority section
		extra []string // added to the additional section
	}{
		{"www.signed.example.", dns.TypeA, true, nsSigned, addrsSigned},
		{"www.signed.example.", dns.TypeA, false, []string{"signed.example. NS", "signed.example. NS"}, []string{"ns1.signed.example. A", "ns2.signed.example. A"}},
		{"alias.signed.example.", dns.TypeA, true, nsSigned, addrsSigned},
		{"x.wild.signed.example.", dns.TypeTXT, true, nsSigned, addrsSigned},
		// ns1's A and its RRSIG are the answer: only ns2's are added.
		{"ns1.signed.example.", dns.TypeA, true, nsSigned, []string{"ns2.signed.example. A", "ns2.signed.example. RRSIG A"}},
		// The RRSIG of ns1's A is in the answer, the A is not: both go.
		{"ns1.signed.example.", dns.TypeRRSIG, true, nsSigned, addrsSigned},
		// Nothing for DNSKEY and DS (NSD), nor for the NS RRset itself.
		{"signed.example.", dns.TypeDNSKEY, true, nil, nil},
		{"secure.signed.example.", dns.TypeDS, true, nil, nil},
		{"signed.example.", dns.TypeNS, true, nil, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s/do=%v", tc.qname, dns.TypeToString[tc.qtype], tc.do), func(t *testing.T) {
			t.Parallel()
			var res zone.Result
			set.Lookup(tc.qname, tc.qtype, tc.do, &res)
			ns0, extra0 := len(res.Ns), len(res.Extra)
			addApexNS(&res, tc.qtype, tc.do)
			if got := briefs(res.Ns[ns0:]); !slices.Equal(got, tc.ns) {
				t.Errorf("authority added %q, want %q", got, tc.ns)
			}
			if got := briefs(res.Extra[extra0:]); !slices.Equal(got, tc.extra) {
				t.Errorf("additional added %q, want %q", got, tc.extra)
			}
		})
	}
}

func briefs(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		s := rr.Header().Name + " " + dns.TypeToString[rr.Header().Rrtype]
		if sig, ok := rr.(*dns.RRSIG); ok {
			s += " " + dns.TypeToString[sig.TypeCovered]
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
