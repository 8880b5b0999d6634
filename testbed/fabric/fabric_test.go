package fabric

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/resolver/exchange"
	"github.com/meridian-dns/meridian/testbed/netem"
)

var _ exchange.Dialer = (*netem.Dialer)(nil)

func TestDelay(t *testing.T) {
	t.Parallel()
	ap := func(s string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(s), 5300) }
	a1, a2, b1, out := ap("127.10.0.1"), ap("127.10.0.2"), ap("127.11.0.1"), ap("127.0.0.1")
	client := ap("127.10.128.1") // beside a's servers: no distance
	ext := ap("127.11.0.9")
	tests := []struct {
		name          string
		cut           []string
		local, remote netip.AddrPort
		want          time.Duration
	}{
		{"within a", nil, a1, a2, time.Millisecond},
		{"client to its region", nil, client, a1, 0},
		{"its region to a client", nil, a1, client, 0},
		{"client to another region", nil, client, b1, 20 * time.Millisecond},
		{"a to b", nil, a1, b1, 20 * time.Millisecond},
		{"b to a", nil, b1, a1, 20 * time.Millisecond},
		{"outside every region", nil, out, b1, 0},
		{"to outside", nil, b1, out, 0},
		{"to external", nil, a1, ext, rttAB},
		{"from external", nil, ext, a1, 0},
		{"within a cut region", []string{"a"}, a1, a2, time.Millisecond},
		{"out of a cut region", []string{"a"}, a1, b1, -1},
		{"into a cut region", []string{"a"}, b1, a1, -1},
		{"cut: harness to a cut region", []string{"a"}, out, a1, 0},
		{"cut: to external", []string{"b"}, a1, ext, -1},
		{"cut: from external", []string{"b"}, ext, a1, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newNet(t)
			n.External(ext.Addr())
			for _, r := range tc.cut {
				n.Cut(r, true)
			}
			if got := n.Delay(tc.local, tc.remote); got != tc.want {
				t.Errorf("Delay(%v, %v) = %v, want %v", tc.local, tc.remote, got, tc.want)
			}
		})
	}
}

func TestCutUnknownRegion(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Cut of an unknown region did not panic")
		}
	}()
	newNet(t).Cut("nowhere", true)
}

// TestUDPCounts times queries from region a to a server in b and counts
// them per link.
func TestUDPCounts(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	srv := serve(t, n, "127.11.0.10")
	c1 := dialUDP(t, n, "127.10.0.10", srv)
	c2 := dialUDP(t, n, "127.10.0.11", srv)
	for range 3 {
		roundTrip(t, "UDP a to b", c1, rttAB)
	}
	roundTrip(t, "UDP a to b", c2, rttAB)
	want := map[Link]uint64{
		{From: netip.MustParseAddr("127.10.0.10"), To: srv.Addr()}: 3,
		{From: netip.MustParseAddr("127.10.0.11"), To: srv.Addr()}: 1,
	}
	if got := n.Counts(); !maps.Equal(got, want) {
		t.Errorf("Counts() = %v, want %v", got, want)
	}
	n.Reset()
	if got := n.Counts(); len(got) != 0 {
		t.Errorf("Counts() after Reset = %v, want none", got)
	}
	roundTrip(t, "UDP a to b after Reset", c2, rttAB)
	want = map[Link]uint64{{From: netip.MustParseAddr("127.10.0.11"), To: srv.Addr()}: 1}
	if got := n.Counts(); !maps.Equal(got, want) {
		t.Errorf("Counts() after Reset and a query = %v, want %v", got, want)
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	srv := serve(t, n, "127.11.0.20")
	far := dialUDP(t, n, "127.10.0.20", srv)
	near := dialUDP(t, n, "127.11.0.21", srv)

	n.Cut("b", true)
	if _, err := ask(far, 3*rttAB); err == nil {
		t.Error("a query crossed into a cut region")
	}
	roundTrip(t, "UDP within the cut region", near, 2*time.Millisecond)
	// A socket dialed during the cut keeps working once it ends: the cut
	// is checked per packet, not fixed at dial time.
	during := dialUDP(t, n, "127.10.0.22", srv)

	n.Cut("b", false)
	roundTrip(t, "UDP a to b after the cut", far, rttAB)
	roundTrip(t, "UDP a to b on a socket dialed during the cut", during, rttAB)
}

// TestCutReply checks that a reply already owed is dropped when the
// region is cut between query and answer.
func TestCutReply(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	srv := serve(t, n, "127.11.0.25")
	c := dialUDP(t, n, "127.10.0.25", srv)
	errc := make(chan error, 1)
	go func() { _, err := ask(c, 3*rttAB); errc <- err }()
	time.Sleep(rttAB / 4) // the query is on its way (20ms one way)
	n.Cut("a", true)
	if err := <-errc; err == nil {
		t.Error("an answer crossed a link cut while it was in flight")
	}
}

// TestExternal checks that a process we cannot wrap, asking from region
// a with a plain socket, still sees the full round trip: the reply
// carries both halves.
func TestExternal(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	srv := serve(t, n, "127.11.0.30")
	client := netip.MustParseAddr("127.10.0.30")
	n.External(client)
	c, err := exchange.NetDialer{}.DialUDP(context.Background(), netip.AddrPortFrom(client, 0), srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, "external UDP a to b", c, rttAB)
	if got := n.Counts()[Link{From: client, To: srv.Addr()}]; got != 1 {
		t.Errorf("%d queries counted from the external client, want 1", got)
	}
}

func TestTCP(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	srv := serve(t, n, "127.11.0.40")
	local := netip.MustParseAddr("127.10.0.40")
	c, err := n.Dialer(local).DialTCP(context.Background(), netip.AddrPort{}, srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		roundTrip(t, "TCP a to b", c, rttAB)
	}
	want := map[Link]uint64{{From: local, To: srv.Addr()}: 3}
	if got := n.Counts(); !maps.Equal(got, want) {
		t.Errorf("Counts() = %v, want %v", got, want)
	}

	// A connection open across a new cut breaks at its next write.
	n.Cut("b", true)
	if _, err := ask(c, time.Second); err == nil {
		t.Error("a TCP query crossed a cut on a connection opened before it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := n.Dialer(local).DialTCP(ctx, netip.AddrPort{}, srv); !errors.Is(err, netem.ErrCut) {
		t.Errorf("TCP dial across a cut: %v, want netem.ErrCut", err)
	}
}

func TestListenAddress(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	pc, ln, err := n.Listen(netip.MustParseAddrPort("127.11.0.50:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ln.Close()
	u, l := netem.AddrPort(pc.LocalAddr()), netem.AddrPort(ln.Addr())
	if u != l || u.Addr() != netip.MustParseAddr("127.11.0.50") || u.Port() == 0 {
		t.Errorf("bound UDP %v and TCP %v, want one port on 127.11.0.50", u, l)
	}
	// The exact address: a second Listen on it fails.
	if pc2, ln2, err := n.Listen(u); err == nil {
		pc2.Close()
		ln2.Close()
		t.Errorf("second Listen on %v succeeded", u)
	}
}

// TestNoGoroutineLeft checks that closing what Listen and Dialer return
// (a Meridian server's Shutdown closing its sockets and connections)
// releases every goroutine. It
// counts the process's goroutines, so it does not run in parallel: the
// parallel tests wait, paused, until the serial ones are done.
func TestNoGoroutineLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		n := newNet(t)
		srv, stop := startMeridian(t, n, "127.11.0.60:0")
		defer stop()
		d := n.Dialer(netip.MustParseAddr("127.10.0.60"))
		u, err := d.DialUDP(context.Background(), netip.AddrPort{}, srv)
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		tc, err := d.DialTCP(context.Background(), netip.AddrPort{}, srv)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		for _, c := range []net.Conn{u, tc} {
			if _, err := ask(c, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left after Close:\n%s", after-before, buf[:runtime.Stack(buf, true)])
	}
}

func TestFramer(t *testing.T) {
	t.Parallel()
	// Two messages of 3 and 0 octets, then half of a third's prefix.
	stream := []byte{0, 3, 'a', 'b', 'c', 0, 0, 0}
	tests := []struct {
		name   string
		splits []int // where Read boundaries fall
		want   []uint64
	}{
		{"one read", nil, []uint64{2}},
		{"prefix split", []int{1}, []uint64{0, 2}},
		{"body split", []int{3}, []uint64{0, 2}},
		{"octet by octet", []int{1, 2, 3, 4, 5, 6, 7}, []uint64{0, 0, 0, 0, 1, 0, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var f framer
			prev := 0
			for i, end := range append(tc.splits, len(stream)) {
				if got := f.feed(stream[prev:end]); got != tc.want[i] {
					t.Errorf("read %d (%v): %d messages, want %d", i, stream[prev:end], got, tc.want[i])
				}
				prev = end
			}
		})
	}
}

// TestCountersConcurrent counts on many links from several goroutines at
// once, as the readers of many sockets do, across the copies of the
// lock-free map.
func TestCountersConcurrent(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	const links, workers = 300, 4
	to := netip.MustParseAddr("127.11.0.1")
	from := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 10, byte(i >> 8), byte(i)}) }
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range links {
				n.counts.get(Link{From: from(i), To: to}).Add(1)
			}
		}()
	}
	for range workers {
		<-done
	}
	got := n.Counts()
	if len(got) != links {
		t.Fatalf("%d links counted, want %d", len(got), links)
	}
	for i := range links {
		if c := got[Link{From: from(i), To: to}]; c != workers {
			t.Errorf("link from %v counted %d, want %d", from(i), c, workers)
		}
	}
}
