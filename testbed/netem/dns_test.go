package netem

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/resolver/exchange"
	"github.com/miekg/dns"
)

// TestDNSServer runs a miekg/dns server on wrapped sockets, as the testbed
// runs Meridian's, and times queries over UDP and TCP from a client in
// another emulated region.
func TestDNSServer(t *testing.T) {
	t.Parallel()
	delay := regions(25 * time.Millisecond)
	pc, err := net.ListenPacket("udp4", "127.10.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.10.0.3:0")
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: net.IPv4(192, 0, 2, 1)})
		w.WriteMsg(m)
	})
	started := make(chan struct{}, 2)
	servers := []*dns.Server{
		{PacketConn: WrapPacketConn(pc, delay), Handler: mux, NotifyStartedFunc: func() { started <- struct{}{} }},
		{Listener: WrapListener(ln, delay), Handler: mux, NotifyStartedFunc: func() { started <- struct{}{} }},
	}
	done := make(chan error, 2)
	for _, s := range servers {
		go func() { done <- s.ActivateAndServe() }()
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
		}
		<-done
		<-done
	})
	<-started
	<-started

	d := &Dialer{Base: exchange.NetDialer{}, Delay: delay, Local: netip.MustParseAddr("127.11.0.3")}
	ask := func(c net.Conn) error {
		dc := &dns.Conn{Conn: c}
		m := new(dns.Msg)
		m.SetQuestion("www.example.", dns.TypeA)
		if err := dc.WriteMsg(m); err != nil {
			return err
		}
		r, err := dc.ReadMsg()
		if err == nil && len(r.Answer) != 1 {
			t.Errorf("answer %v", r)
		}
		return err
	}
	udp, err := d.DialUDP(context.Background(), netip.AddrPort{}, AddrPort(pc.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udp.SetDeadline(time.Now().Add(5 * time.Second))
	within(t, "DNS over UDP", median(t, 9, func() error { return ask(udp) }), 50*time.Millisecond)

	tcp, err := d.DialTCP(context.Background(), netip.AddrPort{}, AddrPort(ln.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tcp.SetDeadline(time.Now().Add(5 * time.Second))
	within(t, "DNS over TCP", median(t, 9, func() error { return ask(tcp) }), 50*time.Millisecond)
}
