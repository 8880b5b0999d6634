package workload

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/testbed/topology"
)

// fakeResolver answers every question at once: NXDOMAIN for names under
// "nx-", NOERROR otherwise; names starting "drop" get no answer.
func fakeResolver(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		name := q.Question[0].Name
		if len(name) >= 4 && name[:4] == "drop" {
			return
		}
		r := new(dns.Msg)
		r.SetReply(q)
		if len(name) >= 3 && name[:3] == "nx-" {
			r.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(r)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func dialClient(t *testing.T, addr string, c Config, rate float64) Client {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s, err := NewSampler(c)
	if err != nil {
		t.Fatal(err)
	}
	return Client{Sampler: s, Conn: conn, Rate: rate}
}

func TestRun(t *testing.T) {
	t.Parallel()
	addr := fakeResolver(t)
	cfg := Config{Names: names(50), Zones: []string{"example."}, Exponent: 1, NXShare: 0.2, Seed: 3}
	t.Run("unpaced", func(t *testing.T) {
		t.Parallel()
		// As fast as answers come, until the deadline: the questions cut
		// short by the deadline are neither errors nor samples.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		res := Run(ctx, []Client{dialClient(t, addr, cfg, 0), dialClient(t, addr, cfg, 0)}, Options{})
		if res.Errors != 0 || res.Answered() < 100 {
			t.Errorf("answered %d, errors %d (%v)", res.Answered(), res.Errors, res.FirstErr)
		}
		if res.Rcodes[dns.RcodeNameError] == 0 || res.Rcodes[dns.RcodeSuccess] == 0 {
			t.Errorf("rcodes %v: want both NOERROR and NXDOMAIN", res.Rcodes)
		}
		if res.Asked[0]+res.Asked[1] != res.Answered() {
			t.Errorf("asked %v, answered %d", res.Asked, res.Answered())
		}
	})
	t.Run("paced", func(t *testing.T) {
		t.Parallel()
		// 50 a second for half a second: at most 26 questions (the first
		// goes at once), and a loaded machine may manage fewer.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		res := Run(ctx, []Client{dialClient(t, addr, cfg, 50)}, Options{})
		if n := res.Answered(); n > 26 || n < 5 {
			t.Errorf("answered %d at 50/s in 0.5 s", n)
		}
	})
	t.Run("timeouts", func(t *testing.T) {
		t.Parallel()
		drop := Config{Names: []string{"drop.example."}, Seed: 1}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res := Run(ctx, []Client{dialClient(t, addr, drop, 0)}, Options{Timeout: 200 * time.Millisecond})
		if res.Errors < 3 || res.FirstErr == nil || res.Answered() != 0 || res.Failed() != res.Errors {
			t.Errorf("errors %d (%v), answered %d", res.Errors, res.FirstErr, res.Answered())
		}
		if len(res.Failures) == 0 || len(res.Failures) > maxFailures || !strings.HasPrefix(res.Failures[0], "drop.example.: ") {
			t.Errorf("failure examples %q", res.Failures)
		}
	})
}

func TestTracker(t *testing.T) {
	t.Parallel()
	top, err := topology.Default()
	if err != nil {
		t.Fatal(err)
	}
	k := NewTracker(top, "eu-west")
	ms := time.Millisecond
	steps := []struct {
		name   string
		exists bool
		want   time.Duration
	}{
		// Root and com. local (2 ms each), shop.net. nearest in us-east.
		{"host1.shop.net.", true, 2*ms + 2*ms + 80*ms},
		{"host1.shop.net.", true, 0},              // asked: a hit
		{"host2.shop.net.", true, 80 * ms},        // cuts known, new name
		{"nx-1.shop.net.", false, 80 * ms},        // a new name always asks
		{"nx-1.shop.net.", false, 80 * ms},        // not cached as a name: NX names are new each time
		{"host0.example.com.", true, 2*ms + 2*ms}, // com. and example.com. local
		{"host0.bank.com.", true, 2 * ms},         // bank.com. has a copy in eu-west
		{"host0.news.org.", true, 2*ms + 2*ms},    // org. and news.org. local
	}
	for _, s := range steps {
		if got := k.Limit(s.name, s.exists); got != s.want {
			t.Errorf("Limit(%s) = %v, want %v", s.name, got, s.want)
		}
	}
}
