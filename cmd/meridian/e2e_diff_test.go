package main

// Differential test: the same zones served by `meridian auth` and by NSD,
// the same questions asked of both, and every difference in rcode, flags or
// sections reported. NSD is the reference because it is the strictest of
// the authoritative-only servers about RFC 1034 §4.3.2 and adds nothing
// beyond what the RFCs ask.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/internal/peer"
	"github.com/meridian-dns/meridian/zone/zonegen"
)

// e2eStartMeridian runs `meridian auth` as a subprocess on a free loopback
// port and waits until every zone answers its SOA. Metrics are off so that
// parallel tests do not contend for the default metrics port. With minimal
// false it answers as NSD does by default: the apex NS RRset in the
// authority section of positive answers.
func e2eStartMeridian(t *testing.T, bin string, zones []peer.Zone, minimal bool) *peer.Server {
	t.Helper()
	return e2eStartMeridianConfig(t, bin, zones, fmt.Sprintf("minimal-responses: %v\n", minimal))
}

// e2eStartMeridianConfig is e2eStartMeridian with the config file's text
// given; the flags set listen, metrics and the zones.
func e2eStartMeridianConfig(t *testing.T, bin string, zones []peer.Zone, text string) *peer.Server {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "meridian.yaml")
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(_, host string, port int, o peer.Options) ([]string, error) {
		a := []string{"auth", "-config", conf, "-listen", fmt.Sprintf("%s:%d", host, port), "-metrics="}
		for _, z := range o.Zones {
			a = append(a, "-zone", z.Origin+"="+z.File)
		}
		return a, nil
	}
	return peer.StartCommand(t, "meridian", bin, args, peer.Options{Zones: zones, Timeout: 30 * time.Second})
}

// diffZones returns the zones of testdata/zones/diff plus a generated one
// written into dir.
func diffZones(t *testing.T, dir string) []peer.Zone {
	t.Helper()
	zones := []peer.Zone{
		{Origin: "diff.test.", File: "../../testdata/zones/diff/diff.test.zone"},
		{Origin: "child.diff.test.", File: "../../testdata/zones/diff/child.diff.test.zone"},
		{Origin: "example.", File: "../../testdata/zones/diff/wild.example.zone"},
		// Signed with NSEC (ldns-signzone; see testdata/zones/signed): the
		// DO transport compares signatures and proofs of non-existence.
		{Origin: "signed.example.", File: "../../testdata/zones/signed/signed.example.zone"},
		{Origin: "nsec3.example.", File: "../../testdata/zones/signed/nsec3.example.zone"}, // the same, with NSEC3
		// With NSEC3 opt-out (dnssec-signzone -A): insecure delegations
		// and the empty non-terminal above one have no NSEC3.
		{Origin: "optout.example.", File: "../../testdata/zones/signed/optout.example.zone"},
	}
	var b bytes.Buffer
	if err := zonegen.Write(&b, genOrigin, genNames, genSeed); err != nil {
		t.Fatal(err)
	}
	gen := filepath.Join(dir, "gen.test.zone")
	if err := os.WriteFile(gen, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(zones, peer.Zone{Origin: genOrigin, File: gen})
}

const (
	genOrigin = "gen.test."
	genNames  = 2000
	genSeed   = 42
)

// transport is one way of asking: over UDP with or without EDNS and with a
// given buffer size, or over TCP.
type transport struct {
	name  string
	net   string
	edns  bool
	bufsz uint16
	do    bool // DNSSEC OK (RFC 3225): signatures and denial proofs
}

var transports = []transport{
	{"udp-edns1232", "udp", true, 1232, false},
	{"udp-noedns", "udp", false, 0, false},
	{"udp-edns512", "udp", true, 512, false},
	{"tcp-edns1232", "tcp", true, 1232, false},
	{"tcp-do", "tcp", true, 4096, true},
}

func ask(addr string, tr transport, q dns.Question) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Qtype)
	m.RecursionDesired = false
	if tr.edns {
		m.SetEdns0(tr.bufsz, tr.do)
	}
	// UDPSize lets the client read whatever the server sends, so that an
	// oversized reply shows up as a difference rather than a read error.
	c := &dns.Client{Net: tr.net, Timeout: 3 * time.Second, UDPSize: dns.MaxMsgSize}
	var err error
	for range 3 { // loopback UDP loss is rare but not impossible under -race
		var r *dns.Msg
		if r, _, err = c.Exchange(m, addr); err == nil {
			return r, nil
		}
	}
	return nil, err
}

func TestE2EDiffNSD(t *testing.T) {
	t.Parallel()
	peer.Require(t, "nsd")
	bin := buildMeridian(t)
	zones := diffZones(t, t.TempDir())
	nsd := peer.StartNSD(t, peer.Options{Zones: zones})
	mer := e2eStartMeridian(t, bin, zones, false)
	// NSEC3 proofs with DO are compared with Knot only: NSD answers two
	// corner cases otherwise. At the literal wildcard owner (*.wild, a
	// type it lacks) it adds the NSEC3 matching "wild" to the one matching
	// the name (RFC 5155 §7.2.3 asks for the latter alone); below an NSEC3
	// owner name it takes that owner, which is not part of the zone
	// (§7.2.8), as the closest encloser and gives no closest encloser
	// proof (§7.2.2). Knot answers both as the RFC does, and so does
	// Meridian.
	// The opt-out zone shows the same two, and agrees with NSD otherwise.
	diffServers(t, "nsd", nsd, mer, zones, diffSkip{doZones: []string{"nsec3.example.", "optout.example."}})
}

func TestE2EDiffKnot(t *testing.T) {
	t.Parallel()
	peer.Require(t, "knotd")
	bin := buildMeridian(t)
	zones := diffZones(t, t.TempDir())
	knot := peer.StartKnot(t, peer.Options{Zones: zones})
	mer := e2eStartMeridian(t, bin, zones, true)
	// An explicit RRSIG question is where NSD and Knot part: NSD answers
	// every RRSIG at the name (they are one RRset, RFC 2181 §5; RFC 1034
	// §4.3.2 copies all of the asked type), Knot only those of one RRset,
	// trimming as for ANY (RFC 8482). Meridian answers as NSD, and is
	// compared on it there.
	diffServers(t, "knot", knot, mer, zones, diffSkip{types: []uint16{dns.TypeRRSIG}})
}

// diffSkip lists what a reference server answers otherwise than the RFCs
// (or than the other reference) on purpose, each case argued where it is
// used: question types not compared, and zones whose DO answers are not.
type diffSkip struct {
	types   []uint16
	doZones []string
}

// diffServers asks ref and mer every question of every zone (but those
// skip lists) over every transport and fails with each difference. Differences that are the same
// over several transports are reported once, and a summary by kind of
// difference comes first, since one cause usually shows in many answers.
func diffServers(t *testing.T, refName string, ref, mer *peer.Server, zones []peer.Zone, skip diffSkip) {
	for _, z := range zones {
		t.Run(strings.TrimSuffix(z.Origin, "."), func(t *testing.T) {
			t.Parallel()
			var r report
			qs := slices.DeleteFunc(diffQuestions(t, z), func(q dns.Question) bool { return slices.Contains(skip.types, q.Qtype) })
			for _, q := range qs {
				for _, tr := range transports {
					if tr.do && slices.Contains(skip.doZones, z.Origin) {
						continue
					}
					want, err := ask(ref.Addr, tr, q)
					if err != nil {
						t.Fatalf("%s: %s over %s: %v", refName, questionString(q), tr.name, err)
					}
					got, err := ask(mer.Addr, tr, q)
					if err != nil {
						r.add(q, tr, "meridian: "+err.Error(), render(want), "", nil)
						continue
					}
					if d := compare(q, want, got); d != "" {
						r.add(q, tr, d, render(want), render(got), kindOf(want, got))
					}
				}
			}
			t.Logf("%d questions × %d transports compared with %s", len(qs), len(transports), refName)
			if len(r.diffs) > 0 {
				t.Errorf("%d questions answered differently from %s:\n%s", len(r.diffs), refName, r.String(refName))
			}
		})
	}
}

// difference is one question answered differently, with the transports
// over which it was.
type difference struct {
	q          dns.Question
	transports []string
	why        string
	ref, got   string
	kind       string
}

type report struct {
	diffs []*difference
	byKey map[string]*difference
}

func (r *report) add(q dns.Question, tr transport, why, ref, got string, kind []string) {
	key := questionString(q) + "\x00" + why + "\x00" + ref + "\x00" + got
	if d := r.byKey[key]; d != nil {
		d.transports = append(d.transports, tr.name)
		return
	}
	if r.byKey == nil {
		r.byKey = map[string]*difference{}
	}
	d := &difference{q: q, transports: []string{tr.name}, why: why, ref: ref, got: got, kind: strings.Join(kind, ", ")}
	r.byKey[key] = d
	r.diffs = append(r.diffs, d)
}

func (r *report) String(refName string) string {
	var b strings.Builder
	counts := map[string]int{}
	for _, d := range r.diffs {
		counts[d.kind]++
	}
	b.WriteString("summary (questions: what differs):\n")
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range counts {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "  %4d: %s\n", counts[k], k)
	}
	for _, d := range r.diffs {
		fmt.Fprintf(&b, "\n%s over %s: %s\n  %s:\n%s\n  meridian:\n%s\n",
			questionString(d.q), strings.Join(d.transports, ","), d.why, refName, indent(d.ref), indent(d.got))
	}
	return b.String()
}

// kindOf names what the peer's answer has that Meridian's lacks and the
// reverse, by section and type ("peer only: authority NS"), so that the
// summary groups differences by their likely cause.
func kindOf(want, got *dns.Msg) []string {
	var k []string
	if want.Rcode != got.Rcode {
		k = append(k, "rcode "+dns.RcodeToString[want.Rcode]+"→"+dns.RcodeToString[got.Rcode])
	}
	if want.Truncated != got.Truncated || want.Authoritative != got.Authoritative {
		k = append(k, "flags")
	}
	only := func(a, b *dns.Msg) []string {
		have := map[string]bool{}
		for _, l := range sectionLines(b) {
			have[l] = true
		}
		set := map[string]bool{}
		for _, l := range sectionLines(a) {
			if !have[l] {
				set[l[:strings.IndexByte(l, ':')]+" "+strings.ToUpper(strings.Fields(l)[4])] = true
			}
		}
		return slices.Sorted(func(yield func(string) bool) {
			for s := range set {
				if !yield(s) {
					return
				}
			}
		})
	}
	if o := only(want, got); len(o) > 0 {
		k = append(k, "peer only: "+strings.Join(o, " "))
	}
	if o := only(got, want); len(o) > 0 {
		k = append(k, "meridian only: "+strings.Join(o, " "))
	}
	return k
}

// sectionLines returns "section: record" lines, as render prints them.
func sectionLines(m *dns.Msg) []string {
	var out []string
	for _, s := range []struct {
		name string
		rrs  []dns.RR
	}{{"answer", m.Answer}, {"authority", m.Ns}, {"additional", m.Extra}} {
		for _, l := range canonical(s.rrs) {
			out = append(out, s.name+": "+l)
		}
	}
	return out
}

// diffQuestions derives questions from the zone's own data: every owner
// name with every type it holds and a few it lacks, every ancestor (empty
// non-terminals), names below each owner (NXDOMAIN, wildcard matches,
// names under cuts), DS and ANY; plus hand-written questions for the
// RFC 4592 table and DNAME. For the generated zone, zonegen's workload.
func diffQuestions(t *testing.T, z peer.Zone) []dns.Question {
	t.Helper()
	origin := dns.CanonicalName(z.Origin)
	seen := map[dns.Question]bool{}
	var qs []dns.Question
	add := func(name string, types ...uint16) {
		for _, typ := range types {
			q := dns.Question{Name: dns.Fqdn(name), Qtype: typ, Qclass: dns.ClassINET}
			if !seen[q] {
				seen[q] = true
				qs = append(qs, q)
			}
		}
	}
	if origin == genOrigin {
		g, err := zonegen.New(origin, genNames, genSeed)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 400 {
			q := g.Query(i)
			add(q.Name, dns.StringToType[q.Type])
		}
		add(origin, dns.TypeSOA, dns.TypeNS, dns.TypeANY)
		return qs
	}

	f, err := os.Open(z.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	owners := map[string][]uint16{}
	zp := dns.NewZoneParser(f, origin, z.File)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		owners[h.Name] = append(owners[h.Name], h.Rrtype)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	common := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypeNS, dns.TypeDS, dns.TypeCNAME, dns.TypeANY}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range owners {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		add(n, owners[n]...)
		add(n, common...)
		// Ancestors up to the origin: empty non-terminals among them.
		for a := n; dns.IsSubDomain(origin, a) && a != origin; {
			i, _ := dns.NextLabel(a, 0)
			a = a[i:]
			add(a, dns.TypeA, dns.TypeTXT)
		}
		below := "nx-below." + n
		if strings.HasPrefix(n, "*.") {
			below = "anything" + n[1:]
			add("a.b"+n[1:], dns.TypeA, dns.TypeTXT, dns.TypeMX)
		}
		add(below, dns.TypeA, dns.TypeTXT, dns.TypeMX)
	}
	add("no-such-name."+origin, dns.TypeA, dns.TypeSOA)
	// Query-name case must come back as asked (dns.Msg keeps it).
	add(strings.ToUpper("www."+origin), dns.TypeA)
	add("wWw."+origin, dns.TypeAAAA)

	switch origin {
	case "example.": // RFC 4592 §2.2.1: the rows of its table
		add("host3.example.", dns.TypeMX, dns.TypeA)
		add("foo.bar.example.", dns.TypeTXT)
		add("host1.example.", dns.TypeMX)
		add("sub.*.example.", dns.TypeMX)
		add("_telnet._tcp.host1.example.", dns.TypeSRV)
		add("host.subdel.example.", dns.TypeA)
		add("ghost.*.example.", dns.TypeMX)
		add("_ssh._tcp.host1.example.", dns.TypeSRV)
		add("_ssh._tcp.host3.example.", dns.TypeSRV)
		add("_tcp.host1.example.", dns.TypeSRV)
	case "optout.example.":
		// Below the empty non-terminal that has no NSEC3: the closest
		// provable encloser is the apex.
		add("nx.onlyunsigned.optout.example.", dns.TypeA, dns.TypeDS)
		add("nx.x.onlyunsigned.optout.example.", dns.TypeDS)
	case "diff.test.":
		add("x.dname.diff.test.", dns.TypeA)
		add("www.dname.diff.test.", dns.TypeA, dns.TypeAAAA)
		add("mail.dname.diff.test.", dns.TypeMX)
		add("a.b.dname.diff.test.", dns.TypeA)
		add("www.ext.diff.test.", dns.TypeA)
		add("child.diff.test.", dns.TypeDS, dns.TypeNS, dns.TypeSOA, dns.TypeA)
		add("www.child.diff.test.", dns.TypeA, dns.TypeDS)
		add("host.sub.diff.test.", dns.TypeA, dns.TypeDS)
		add("sub.diff.test.", dns.TypeDS, dns.TypeNS, dns.TypeA)
		add("nogl.diff.test.", dns.TypeDS)
		add("foo.wild2.diff.test.", dns.TypeA, dns.TypeCNAME)
	}
	return qs
}

func questionString(q dns.Question) string {
	return q.Name + " " + dns.TypeToString[q.Qtype]
}

// compare returns "" when got matches want as the test defines it, or what
// differs. RA, RD and ID are ignored; TC answers are compared on rcode and
// TC only, since which whole RRsets fit is the server's choice; ANY on rcode
// and whether the answer is empty, since RFC 8482 lets servers answer
// minimally.
func compare(q dns.Question, want, got *dns.Msg) string {
	var d []string
	if want.Rcode != got.Rcode {
		d = append(d, fmt.Sprintf("rcode %s ≠ %s", dns.RcodeToString[want.Rcode], dns.RcodeToString[got.Rcode]))
	}
	if want.Truncated != got.Truncated {
		d = append(d, fmt.Sprintf("TC %v ≠ %v", want.Truncated, got.Truncated))
	}
	if len(got.Question) != 1 || got.Question[0] != q {
		d = append(d, fmt.Sprintf("question not echoed as asked: %v", got.Question))
	}
	if want.Truncated && got.Truncated {
		return strings.Join(d, "; ")
	}
	if q.Qtype == dns.TypeANY {
		if (len(want.Answer) == 0) != (len(got.Answer) == 0) {
			d = append(d, fmt.Sprintf("ANY answer count %d vs %d", len(want.Answer), len(got.Answer)))
		}
		return strings.Join(d, "; ")
	}
	if want.Authoritative != got.Authoritative {
		d = append(d, fmt.Sprintf("AA %v ≠ %v", want.Authoritative, got.Authoritative))
	}
	for _, s := range []struct {
		name      string
		want, got []dns.RR
	}{
		{"answer", want.Answer, got.Answer},
		{"authority", want.Ns, got.Ns},
		{"additional", want.Extra, got.Extra},
	} {
		if !slices.Equal(canonical(s.want), canonical(s.got)) {
			d = append(d, s.name+" differs")
		}
	}
	if (want.IsEdns0() == nil) != (got.IsEdns0() == nil) {
		d = append(d, fmt.Sprintf("OPT present %v ≠ %v", want.IsEdns0() != nil, got.IsEdns0() != nil))
	}
	return strings.Join(d, "; ")
}

// canonical returns a section's records as sorted text, with owner names
// and the names inside RDATA in lower case (RFC 4034 §6.2 lists the types
// whose RDATA names are case-insensitive), and without the OPT record,
// which is compared on its own.
func canonical(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		rr = dns.Copy(rr)
		h := rr.Header()
		h.Name = strings.ToLower(h.Name)
		s := rr.String()
		switch h.Rrtype {
		case dns.TypeNS, dns.TypeCNAME, dns.TypeDNAME, dns.TypeMX, dns.TypeSRV,
			dns.TypePTR, dns.TypeSOA, dns.TypeNAPTR, dns.TypeNSEC, dns.TypeRRSIG:
			s = strings.ToLower(s)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// render prints a response in the canonical form compare uses.
func render(m *dns.Msg) string {
	var b strings.Builder
	flags := []string{}
	if m.Authoritative {
		flags = append(flags, "aa")
	}
	if m.Truncated {
		flags = append(flags, "tc")
	}
	fmt.Fprintf(&b, "rcode %s flags [%s] edns %v", dns.RcodeToString[m.Rcode], strings.Join(flags, " "), m.IsEdns0() != nil)
	for _, l := range sectionLines(m) {
		b.WriteString("\n" + l)
	}
	return b.String()
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// TestE2EDiffCompare guards the comparison itself: a differential test whose
// compare always agreed would pass against any server.
func TestE2EDiffCompare(t *testing.T) {
	t.Parallel()
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	q := dns.Question{Name: "www.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	base := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(q.Name, q.Qtype)
		m.Response, m.Authoritative = true, true
		m.Answer = []dns.RR{rr("www.example. 300 IN A 192.0.2.1"), rr("www.example. 300 IN A 192.0.2.2")}
		m.Ns = []dns.RR{rr("example. 300 IN NS ns.example.")}
		return m
	}
	same := base()
	same.Id, same.RecursionAvailable = 7, true
	same.Answer = []dns.RR{rr("WWW.Example. 300 IN A 192.0.2.2"), rr("www.example. 300 IN A 192.0.2.1")}
	same.Ns = []dns.RR{rr("example. 300 IN NS NS.EXAMPLE.")}
	if d := compare(q, base(), same); d != "" {
		t.Errorf("equal answers reported as different: %s", d)
	}
	for name, change := range map[string]func(*dns.Msg){
		"rcode":      func(m *dns.Msg) { m.Rcode = dns.RcodeNameError },
		"aa":         func(m *dns.Msg) { m.Authoritative = false },
		"tc":         func(m *dns.Msg) { m.Truncated = true },
		"answer":     func(m *dns.Msg) { m.Answer = m.Answer[:1] },
		"ttl":        func(m *dns.Msg) { m.Answer[0].Header().Ttl = 1 },
		"authority":  func(m *dns.Msg) { m.Ns = nil },
		"additional": func(m *dns.Msg) { m.Extra = []dns.RR{rr("ns.example. 300 IN A 192.0.2.53")} },
		"question":   func(m *dns.Msg) { m.Question[0].Name = "WWW.example." },
	} {
		m := base()
		change(m)
		if compare(q, base(), m) == "" {
			t.Errorf("%s: difference not detected", name)
		}
	}
}
