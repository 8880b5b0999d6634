package secondary

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone/diff"
)

func TestBuild(t *testing.T) {
	t.Parallel()
	v1 := zoneRRs(t, 1, "a.example.org. 60 IN A 192.0.2.1")
	v2 := zoneRRs(t, 2, "a.example.org. 60 IN A 192.0.2.2")
	cur := mustZone(t, v1)
	soa := func(s uint32) dns.RR { return zoneRRs(t, s)[0] }
	incr := incremental([][]dns.RR{v1, v2}, 1)
	for _, c := range []struct {
		name    string
		cur     bool
		stream  []dns.RR
		wantErr error // nil: a version; errAny: some error
		deltas  int
	}{
		{"axfr", false, append(v2, v2[0]), nil, 0},
		{"axfr over cur", true, append(v2, v2[0]), nil, 0},
		{"ixfr", true, incr, nil, 1},
		{"ixfr without cur", false, incr, errAny, 0},
		{"up to date", true, []dns.RR{soa(1)}, errUpToDate, 0},
		{"older", true, []dns.RR{soa(0)}, errUpToDate, 0},
		{"only SOA, newer", true, []dns.RR{soa(3)}, errAny, 0},
		{"empty", true, nil, errAny, 0},
		{"no final SOA", true, v2, errAny, 0},
		{"final SOA differs", true, append(v2, soa(3)), errAny, 0},
		{"older full zone", true, append(zoneRRs(t, 0), soa(0)), errAny, 0},
		{"second SOA inside", false, append(append(v2, soa(7)), v2[0]), errAny, 0},
		{"ixfr short of announced", true, append(incr[:len(incr)-1], soa(2), soa(3)), errAny, 0},
		{"ixfr deletes a ghost", true, append(incr[:2:2], append([]dns.RR{mustRR(t, "ghost.example.org. 60 IN A 192.0.2.9")}, incr[2:]...)...), diff.ErrMismatch, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := cur
			if !c.cur {
				base = nil
			}
			v, err := build(origin, base, c.stream)
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case c.wantErr == nil && len(v.deltas) != c.deltas:
				t.Fatalf("%d deltas, want %d", len(v.deltas), c.deltas)
			case c.wantErr == errAny && err == nil, c.wantErr != nil && c.wantErr != errAny && !errors.Is(err, c.wantErr):
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// The SOA timers are clamped by the Limits (RFC 1035 §3.3.13 values from
// a primary are not trusted blindly).
func TestTimersClamped(t *testing.T) {
	t.Parallel()
	m := &Manager{opts: Options{Limits: Limits{MinRefresh: 200 * time.Second, MaxRetry: 10 * time.Second, MinExpire: 2000 * time.Second}}.withDefaults()}
	got := m.timersOf(mustZone(t, zoneRRs(t, 1))) // SOA: refresh 100, retry 50, expire 1000
	want := timers{refresh: 200 * time.Second, retry: 10 * time.Second, expire: 2000 * time.Second}
	if got != want {
		t.Fatalf("timers %+v, want %+v", got, want)
	}
	if got := m.timersOf(nil); got.retry != 2*time.Second {
		t.Fatalf("timers without a version: %+v", got)
	}
}

func TestNotifyMalformed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", nil, Primary{Addr: netip.MustParseAddrPort("127.0.0.1:9")})
	req := new(dns.Msg)
	req.SetNotify(origin)
	req.Question[0].Qtype = dns.TypeA
	r := e.m.HandleNotify(req, netip.MustParseAddr("127.0.0.1"), "")
	if r.Rcode != dns.RcodeFormatError || r.Id != req.Id || r.Opcode != dns.OpcodeNotify || !r.Response {
		t.Fatalf("response %v", r)
	}
}
