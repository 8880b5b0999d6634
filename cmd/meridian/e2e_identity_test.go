package main

// Interop of the server identity: NSD, Knot and `meridian auth` given the
// same identity and version, and asked the same CHAOS and NSID questions.
// Meridian answers as NSD 4.6 does; where Knot answers otherwise, the
// difference is written down beside the comparison it skips.

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/internal/peer"
)

const (
	e2eIdentity = "ns1.fra.example"
	e2eVersion  = "test-9.9"
)

// identityQuestion is one question of the identity comparison.
type identityQuestion struct {
	name  string
	class uint16
	qtype uint16
	nsid  bool // ask for the NSID
}

func (q identityQuestion) String() string {
	s := fmt.Sprintf("%s %s %s", q.name, dns.ClassToString[q.class], dns.TypeToString[q.qtype])
	if q.nsid {
		s += " +nsid"
	}
	return s
}

// identityQuestions are the CHAOS questions NSD answers (each name: TXT,
// ANY and a type it does not), a name's case, names it does not answer, and
// IN questions with the NSID that end in NOERROR, NXDOMAIN and REFUSED.
func identityQuestions() []identityQuestion {
	var qs []identityQuestion
	for _, name := range []string{"id.server.", "hostname.bind.", "version.server.", "version.bind."} {
		for _, qtype := range []uint16{dns.TypeTXT, dns.TypeANY, dns.TypeA} {
			qs = append(qs, identityQuestion{name, dns.ClassCHAOS, qtype, false})
		}
	}
	return append(qs,
		identityQuestion{"ID.Server.", dns.ClassCHAOS, dns.TypeTXT, false},
		identityQuestion{"Version.BIND.", dns.ClassCHAOS, dns.TypeTXT, false},
		identityQuestion{"authors.bind.", dns.ClassCHAOS, dns.TypeTXT, false},
		identityQuestion{"x.id.server.", dns.ClassCHAOS, dns.TypeTXT, false},
		identityQuestion{"diff.test.", dns.ClassCHAOS, dns.TypeSOA, false},
		identityQuestion{"id.server.", dns.ClassCHAOS, dns.TypeTXT, true},
		identityQuestion{"authors.bind.", dns.ClassCHAOS, dns.TypeTXT, true},
		identityQuestion{"diff.test.", dns.ClassINET, dns.TypeSOA, true},
		identityQuestion{"diff.test.", dns.ClassINET, dns.TypeSOA, false},
		identityQuestion{"nope.diff.test.", dns.ClassINET, dns.TypeA, true},
		identityQuestion{"example.org.", dns.ClassINET, dns.TypeA, true},
	)
}

// identityAnswer is what the comparison looks at: rcode, AA, the answer
// section (owner, TTL, class, data) and the NSID option, as text.
func identityAnswer(t *testing.T, network, addr string, q identityQuestion) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.Question[0].Qclass = q.class
	m.RecursionDesired = false
	m.SetEdns0(1232, false)
	if q.nsid {
		m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}}
	}
	c := &dns.Client{Net: network, Timeout: 3 * time.Second}
	var r *dns.Msg
	var err error
	for range 3 { // loopback UDP loss is rare but not impossible under -race
		if r, _, err = c.Exchange(m, addr); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("%s over %s to %s: %v", q, network, addr, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s aa=%v", dns.RcodeToString[r.Rcode], r.Authoritative)
	var ans []string
	for _, rr := range r.Answer {
		ans = append(ans, rr.String())
	}
	slices.Sort(ans)
	fmt.Fprintf(&b, " answer=%q", ans)
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if n, ok := e.(*dns.EDNS0_NSID); ok {
				raw, _ := hex.DecodeString(n.Nsid)
				fmt.Fprintf(&b, " nsid=%q", raw)
			}
		}
	}
	return b.String()
}

// knotDiffers picks the questions Knot answers otherwise than NSD;
// Meridian is compared with NSD on them. Knot 3.2 answers a CHAOS question
// of type TXT only, and REFUSED to ANY; NSD 4.6 answers ANY with the
// TXT record, as a client asking "what is there" expects, and so does
// Meridian. On everything else here (TTL 0, class CH, the owner's case, AA
// clear, REFUSED for other names and types, the NSID whatever the rcode)
// the three agree.
func knotDiffers(q identityQuestion) bool {
	return q.class == dns.ClassCHAOS && q.qtype == dns.TypeANY
}

func TestE2EIdentity(t *testing.T) {
	t.Parallel()
	zones := []peer.Zone{{Origin: "diff.test.", File: "../../testdata/zones/diff/diff.test.zone"}}
	opts := peer.Options{Zones: zones, Identity: e2eIdentity, Version: e2eVersion}
	bin := buildMeridian(t)
	mer := e2eStartMeridianConfig(t, bin, zones, fmt.Sprintf("identity: %q\nversion: %q\n", e2eIdentity, e2eVersion))
	for _, ref := range []struct {
		name, binary string
		start        func(testing.TB, peer.Options) *peer.Server
		skip         func(identityQuestion) bool
	}{
		{"nsd", "nsd", peer.StartNSD, func(identityQuestion) bool { return false }},
		{"knot", "knotd", peer.StartKnot, knotDiffers},
	} {
		t.Run(ref.name, func(t *testing.T) {
			t.Parallel()
			peer.Require(t, ref.binary)
			srv := ref.start(t, opts)
			for _, network := range []string{"udp", "tcp"} {
				for _, q := range identityQuestions() {
					want := identityAnswer(t, network, srv.Addr, q)
					got := identityAnswer(t, network, mer.Addr, q)
					if q.nsid && !strings.Contains(want, fmt.Sprintf("nsid=%q", e2eIdentity)) {
						t.Errorf("%s %s: %s sent no NSID: %s", network, q, ref.name, want)
					}
					if ref.skip(q) {
						t.Logf("%s %s: %s answers %s, Meridian %s (not compared)", network, q, ref.name, want, got)
						continue
					}
					if got != want {
						t.Errorf("%s %s:\n  %-8s %s\n  meridian %s", network, q, ref.name, want, got)
					}
				}
			}
		})
	}
}
