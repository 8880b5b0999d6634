package exchange

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A long name so that 0x20 leaves it unchanged with probability 2^-40.
const longName = "abcdefghijklmnopqrst.uvwxyzabcdefghijklmnopqrst.example."

func TestExchangeMatches(t *testing.T) {
	t.Parallel()
	seen := make(chan *dns.Msg, 1)
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		seen <- req.msg
		echo(conn, req)
	}, nil)
	c := New(Config{})
	q := query(longName, dns.TypeA)
	orig := q.Copy()

	rep := mustExchange(t, c, r.addr, q, Options{})
	wantA(t, rep, "192.0.2.1")
	sent := <-seen

	if sent.Id == 0 && orig.Id == 0 {
		t.Log("ID 0 drawn (1 in 65536)")
	}
	if sent.Question[0].Name == longName || !strings.EqualFold(sent.Question[0].Name, longName) {
		t.Errorf("sent name %q: want a 0x20 variant of %q", sent.Question[0].Name, longName)
	}
	opt := sent.IsEdns0()
	if opt == nil || opt.UDPSize() != DefaultUDPSize || opt.Do() {
		t.Errorf("sent OPT = %v, want EDNS0 with a %d-byte buffer and DO clear", opt, DefaultUDPSize)
	}
	// The caller's spelling comes back, in the question and the owner.
	if got := rep.Msg.Question[0].Name; got != longName {
		t.Errorf("reply question %q, want %q", got, longName)
	}
	if got := rep.Msg.Answer[0].Header().Name; got != longName {
		t.Errorf("reply owner %q, want %q", got, longName)
	}
	if rep.RTT <= 0 || rep.TCP || rep.Ignored != 0 {
		t.Errorf("reply = RTT %v, TCP %v, Ignored %d", rep.RTT, rep.TCP, rep.Ignored)
	}
	if q.String() != orig.String() {
		t.Errorf("the caller's query was modified:\n%v\nwant\n%v", q, orig)
	}
}

func TestWrongIDIgnored(t *testing.T) {
	t.Parallel()
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		bad := answer(req.msg, "192.0.2.66")
		bad.Id ^= 1
		send(conn, req.from, bad)
		echo(conn, req)
	}, nil)
	rep := mustExchange(t, New(Config{}), r.addr, query("example.", dns.TypeA), Options{})
	wantA(t, rep, "192.0.2.1")
	if rep.Ignored != 1 {
		t.Errorf("Ignored = %d, want 1", rep.Ignored)
	}
}

// A reply with the right ID and question from another port of the
// server's address is not accepted: the connected socket drops it in the
// kernel, and with a Dialer whose sockets do not, the Client's own check.
func TestWrongSourceIgnored(t *testing.T) {
	t.Parallel()
	spoofer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spoofer.Close() })
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		// Loopback delivers in the order sent from one thread, so the
		// forgery arrives first.
		send(spoofer, req.from, answer(req.msg, "192.0.2.66"))
		echo(conn, req)
	}, nil)
	for _, tc := range []struct {
		name        string
		dialer      Dialer
		wantIgnored int
	}{
		{"connected", nil, 0},
		{"unconnected", unconnectedDialer{}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{Dialer: tc.dialer})
			rep := mustExchange(t, c, r.addr, query("example.", dns.TypeA), Options{})
			wantA(t, rep, "192.0.2.1")
			if rep.Ignored != tc.wantIgnored {
				t.Errorf("Ignored = %d, want %d", rep.Ignored, tc.wantIgnored)
			}
		})
	}
}

func TestWrongQuestionIgnored(t *testing.T) {
	t.Parallel()
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		for _, mut := range []func(*dns.Msg){
			func(m *dns.Msg) { m.Question[0].Name = "other.example." },
			func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA },
			func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS },
			func(m *dns.Msg) { m.Question = nil }, // NOERROR without a question
			func(m *dns.Msg) { m.Response = false },
			func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify },
		} {
			bad := answer(req.msg, "192.0.2.66")
			mut(bad)
			send(conn, req.from, bad)
		}
		_, _ = conn.WriteToUDPAddrPort([]byte{1, 2, 3}, req.from) // garbage
		echo(conn, req)
	}, nil)
	rep := mustExchange(t, New(Config{}), r.addr, query("example.", dns.TypeA), Options{})
	wantA(t, rep, "192.0.2.1")
	if rep.Ignored != 7 {
		t.Errorf("Ignored = %d, want 7", rep.Ignored)
	}
}

func TestCaseMismatch(t *testing.T) {
	t.Parallel()
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		req.msg.Question[0].Name = strings.ToLower(req.msg.Question[0].Name)
		echo(conn, req)
	}, nil)
	c := New(Config{})
	_, err := c.Exchange(context.Background(), r.addr, query(longName, dns.TypeA), Options{})
	wantErr(t, err, ErrCaseMismatch)

	// The caller's fallback: the same without 0x20.
	wantA(t, mustExchange(t, c, r.addr, query(longName, dns.TypeA), Options{No0x20: true}), "192.0.2.1")
}

func TestNo0x20SendsNameAsGiven(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 1)
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		seen <- req.msg.Question[0].Name
		echo(conn, req)
	}, nil)
	mustExchange(t, New(Config{}), r.addr, query("MiXed.Example.", dns.TypeA), Options{No0x20: true})
	if got := <-seen; got != "MiXed.Example." {
		t.Errorf("sent %q, want the name as given", got)
	}
}

func TestEDNSOptions(t *testing.T) {
	t.Parallel()
	seen := make(chan *dns.Msg, 1)
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		seen <- req.msg
		echo(conn, req)
	}, nil)
	c := New(Config{})

	withDO := query("example.", dns.TypeA)
	withDO.SetEdns0(4096, true)
	mustExchange(t, c, r.addr, withDO, Options{})
	if opt := (<-seen).IsEdns0(); opt == nil || opt.UDPSize() != 4096 || !opt.Do() {
		t.Errorf("the query's own OPT was not kept: %v", opt)
	}
	mustExchange(t, c, r.addr, withDO, Options{NoEDNS: true})
	if opt := (<-seen).IsEdns0(); opt != nil {
		t.Errorf("NoEDNS sent an OPT: %v", opt)
	}
}

// Old servers answer EDNS with FORMERR and no question (RFC 6891 §7); the
// caller must see that answer to fall back.
func TestFormErrWithoutQuestion(t *testing.T) {
	t.Parallel()
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		m := new(dns.Msg).SetRcode(req.msg, dns.RcodeFormatError)
		m.Question = nil
		send(conn, req.from, m)
	}, nil)
	rep := mustExchange(t, New(Config{}), r.addr, query("example.", dns.TypeA), Options{})
	if rep.Msg.Rcode != dns.RcodeFormatError {
		t.Errorf("rcode = %s, want FORMERR", dns.RcodeToString[rep.Msg.Rcode])
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	silent := startResponder(t, nil, nil)
	c := New(Config{})
	q := query("example.", dns.TypeA)

	start := time.Now()
	_, err := c.Exchange(context.Background(), silent.addr, q, Options{Timeout: 50 * time.Millisecond})
	wantErr(t, err, ErrTimeout)
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second {
		t.Errorf("timed out after %v, want about 50ms", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = c.Exchange(ctx, silent.addr, q, Options{})
	wantErr(t, err, ErrTimeout, context.DeadlineExceeded)

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start = time.Now()
	_, err = c.Exchange(ctx, silent.addr, q, Options{})
	wantErr(t, err, context.Canceled)
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %v to end the exchange", d)
	}
}

// A timeout after ignored packets says what they were.
func TestTimeoutSaysWhatWasIgnored(t *testing.T) {
	t.Parallel()
	wrongID := startResponder(t, func(conn *net.UDPConn, req request) {
		req.msg.Id ^= 0x8000
		echo(conn, req)
	}, nil)
	garbage := startResponder(t, func(conn *net.UDPConn, req request) {
		b, _ := answer(req.msg).Pack()
		_, _ = conn.WriteToUDPAddrPort(b[:len(b)-3], req.from) // cut inside the question
	}, nil)
	c := New(Config{})
	opts := Options{Timeout: 300 * time.Millisecond} // the bad packet comes at once; this is margin for a loaded machine
	rep, err := c.Exchange(context.Background(), wrongID.addr, query("example.", dns.TypeA), opts)
	wantErr(t, err, ErrTimeout, ErrMismatch)
	if rep.Ignored != 1 {
		t.Errorf("Ignored = %d, want 1", rep.Ignored)
	}
	_, err = c.Exchange(context.Background(), garbage.addr, query("example.", dns.TypeA), opts)
	wantErr(t, err, ErrTimeout, ErrMalformed)
}

// ICMP port unreachable ends the exchange at once on a connected socket.
func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	closed := u.LocalAddr().(*net.UDPAddr).AddrPort()
	u.Close()
	_, err = New(Config{}).Exchange(context.Background(), closed, query("example.", dns.TypeA), Options{Timeout: 5 * time.Second})
	wantErr(t, err, ErrNetwork)
}

// Every query gets its own socket on a kernel-chosen random port, and its
// own random ID (RFC 5452 §9.2).
func TestSourcePortsAndIDsRandom(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ports, ids []int
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		mu.Lock()
		ports = append(ports, int(req.from.Port()))
		ids = append(ids, int(req.msg.Id))
		mu.Unlock()
		echo(conn, req)
	}, nil)
	c := New(Config{})
	const n = 50
	for range n {
		mustExchange(t, c, r.addr, query("example.", dns.TypeA), Options{})
	}
	mu.Lock()
	defer mu.Unlock()
	for name, vals := range map[string][]int{"source port": ports, "ID": ids} {
		distinct := map[int]bool{}
		near := 0 // successive values within 16 of each other: a counter, not a random draw
		for i, v := range vals {
			distinct[v] = true
			if i > 0 && abs(v-vals[i-1]) <= 16 {
				near++
			}
		}
		// Birthday bound: 50 draws from ~28000 ports collide with p ~ 4%.
		if len(distinct) < n-3 || near > 3 {
			t.Errorf("%ss not random: %d distinct of %d, %d near their predecessor: %v", name, len(distinct), n, near, vals)
		}
	}
	t.Logf("source ports: %v", ports)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestLocalAddress(t *testing.T) {
	t.Parallel()
	from := make(chan netip.AddrPort, 1)
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		from <- req.from
		echo(conn, req)
	}, nil)
	// 127.0.0.2 is loopback too on Linux; the server sees it as source.
	local := netip.MustParseAddr("127.0.0.2")
	mustExchange(t, New(Config{Local4: local}), r.addr, query("example.", dns.TypeA), Options{})
	if got := (<-from).Addr(); got != local {
		t.Errorf("source address %v, want %v", got, local)
	}
}

func TestBadQuery(t *testing.T) {
	t.Parallel()
	_, err := New(Config{}).Exchange(context.Background(), netip.MustParseAddrPort("127.0.0.1:53"), new(dns.Msg), Options{})
	if err == nil {
		t.Fatal("a query without a question was sent")
	}
}

// Run with -race: one Client shared by many goroutines.
func TestConcurrentExchanges(t *testing.T) {
	t.Parallel()
	r := startResponder(t, echo, nil)
	c := New(Config{})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				name := strings.Repeat("x", g+1) + ".Example."
				rep, err := c.Exchange(context.Background(), r.addr, query(name, dns.TypeA), Options{No0x20: i%2 == 0})
				if err != nil {
					t.Errorf("Exchange: %v", err)
					return
				}
				if rep.Msg.Question[0].Name != name {
					t.Errorf("reply for %q came back for %q", name, rep.Msg.Question[0].Name)
				}
			}
		})
	}
	wg.Wait()
}

func TestRandomizeCase(t *testing.T) {
	t.Parallel()
	r := newRandBuf()
	name := `a\065b-1.\\c.EXAMPLE.`
	flipped := map[int]int{}
	for range 1000 {
		got := r.randomizeCase(name)
		if len(got) != len(name) {
			t.Fatalf("%q: length changed", got)
		}
		for i := range len(name) {
			switch {
			case got[i] == name[i]:
			case isLetter(name[i]) && got[i] == name[i]^0x20:
				flipped[i]++
			default:
				t.Fatalf("%q: byte %d changed from %q", got, i, name[i])
			}
		}
	}
	for i := range len(name) {
		if isLetter(name[i]) && (flipped[i] < 400 || flipped[i] > 600) {
			t.Errorf("letter %d flipped %d times in 1000", i, flipped[i])
		}
	}
	if got := r.randomizeCase("123.-.\\000."); got != "123.-.\\000." {
		t.Errorf("a name without letters changed: %q", got)
	}
}

var _ Exchanger = Func(func(context.Context, netip.AddrPort, *dns.Msg, Options) (Reply, error) {
	return Reply{}, nil
})
