package dial

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/server/dial/dialtest"
)

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
	d := &dialtest.Recorder{}
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
	want := []dialtest.Call{{Network: "udp", Local: Local(source), Remote: addr}, {Network: "tcp", Local: Local(source), Remote: addr}}
	if got := d.Calls(); !slices.Equal(got, want) {
		t.Errorf("dialed %+v, want %+v", got, want)
	}
	if Local(netip.Addr{}).IsValid() || Local(source) != netip.AddrPortFrom(source, 0) {
		t.Error("Local: wrong local address")
	}
}
