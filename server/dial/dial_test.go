package dial

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// streamOnly hides a socket's type, as the geo testbed's wrappers do: a
// dialed UDP socket is then not a net.PacketConn.
type streamOnly struct{ net.Conn }

type wrapDialer struct{ udp, tcp int }

func (d *wrapDialer) DialUDP(_ context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d.udp++
	var la *net.UDPAddr
	if laddr.IsValid() {
		la = net.UDPAddrFromAddrPort(laddr)
	}
	c, err := net.DialUDP("udp", la, net.UDPAddrFromAddrPort(raddr))
	return streamOnly{c}, err
}

func (d *wrapDialer) DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d.tcp++
	var nd net.Dialer
	if laddr.IsValid() {
		nd.LocalAddr = net.TCPAddrFromAddrPort(laddr)
	}
	c, err := nd.DialContext(ctx, "tcp", raddr.String())
	return streamOnly{c}, err
}

// serve answers every question with its source address in a TXT record,
// over UDP and TCP on one port of 127.0.0.1.
func serve(t *testing.T) netip.AddrPort {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(q)
		host, _, _ := net.SplitHostPort(w.RemoteAddr().String())
		r.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{host}}}
		_ = w.WriteMsg(r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*dns.Server{{Listener: ln, Handler: h}, {PacketConn: pc, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return netip.MustParseAddrPort(ln.Addr().String())
}

func TestExchange(t *testing.T) {
	t.Parallel()
	addr := serve(t)
	d := &wrapDialer{}
	source := netip.MustParseAddr("127.0.0.2")
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion("x.example.", dns.TypeTXT)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := Exchange(ctx, d, &dns.Client{Net: network, Timeout: time.Second}, m, source, addr)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if got := r.Answer[0].(*dns.TXT).Txt[0]; got != source.String() {
			t.Errorf("%s: the server saw the query from %s, want %s", network, got, source)
		}
	}
	if d.udp != 1 || d.tcp != 1 {
		t.Errorf("dialed %d UDP and %d TCP sockets, want 1 and 1", d.udp, d.tcp)
	}
	if Local(netip.Addr{}).IsValid() || Local(source) != netip.AddrPortFrom(source, 0) {
		t.Error("Local: wrong local address")
	}
}
