package fabric

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/testbed/netem"
	"github.com/meridian-dns/meridian/testbed/topology"
	"github.com/miekg/dns"
)

// Two regions: a (127.10/16) and b (127.11/16), 40ms apart.
const testTopology = `
regions:
  - name: a
    rtt: {a: 2ms, b: 40ms}
  - name: b
    rtt: {b: 2ms}
zones:
  - name: .
    primary: a
`

const rttAB = 40 * time.Millisecond

func newNet(t testing.TB) *Net {
	t.Helper()
	top, err := topology.Parse("t.yaml", "", []byte(testTopology))
	if err != nil {
		t.Fatal(err)
	}
	return New(top)
}

// serve runs a miekg/dns server answering every query on sockets from
// n.Listen(ip, port 0) and returns its address. The server stops at the
// end of the test.
func serve(t testing.TB, n *Net, ip string) netip.AddrPort {
	t.Helper()
	pc, ln, err := n.Listen(netip.AddrPortFrom(netip.MustParseAddr(ip), 0))
	if err != nil {
		t.Fatal(err)
	}
	stop := startServers(pc, ln)
	t.Cleanup(stop)
	return netem.AddrPort(pc.LocalAddr())
}

// startServers serves pc and ln; the function returned stops both and
// waits for them.
func startServers(pc net.PacketConn, ln net.Listener) func() {
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
	})
	started := make(chan struct{}, 2)
	servers := []*dns.Server{
		{PacketConn: pc, Handler: mux, NotifyStartedFunc: func() { started <- struct{}{} }},
		{Listener: ln, Handler: mux, NotifyStartedFunc: func() { started <- struct{}{} }},
	}
	done := make(chan error, 2)
	for _, s := range servers {
		go func() { done <- s.ActivateAndServe() }()
	}
	<-started
	<-started
	return func() {
		for _, s := range servers {
			s.Shutdown()
		}
		<-done
		<-done
	}
}

// ask sends one query on c and reads the answer within timeout, returning
// how long it took.
func ask(c net.Conn, timeout time.Duration) (time.Duration, error) {
	c.SetDeadline(time.Now().Add(timeout))
	dc := &dns.Conn{Conn: c}
	m := new(dns.Msg)
	m.SetQuestion("www.example.", dns.TypeA)
	start := time.Now()
	if err := dc.WriteMsg(m); err != nil {
		return 0, err
	}
	_, err := dc.ReadMsg()
	return time.Since(start), err
}

// dialUDP opens a UDP socket from local to srv through n's dialer.
func dialUDP(t testing.TB, n *Net, local string, srv netip.AddrPort) net.Conn {
	t.Helper()
	c, err := n.Dialer(netip.MustParseAddr(local)).DialUDP(context.Background(), netip.AddrPort{}, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip checks that a query over c takes the round trip want: never
// less, and not much more.
func roundTrip(t *testing.T, what string, c net.Conn, want time.Duration) {
	t.Helper()
	got, err := ask(c, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got < want || got > want+15*time.Millisecond {
		t.Errorf("%s took %v, want %v to %v", what, got, want, want+15*time.Millisecond)
	}
}
