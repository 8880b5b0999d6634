package exchange

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// request is a query as the test responder received it.
type request struct {
	msg  *dns.Msg
	from netip.AddrPort
}

// responder is a small DNS server on 127.0.0.1 written on raw sockets, so
// that a test controls every packet it sends: wrong IDs, wrong sources,
// garbage, silence.
type responder struct {
	addr netip.AddrPort
	udp  *net.UDPConn
	tcp  *net.TCPListener // nil unless started with a TCP handler
}

// udpHandler answers one UDP query by writing any packets it likes on conn.
type udpHandler func(conn *net.UDPConn, req request)

// tcpHandler returns the raw bytes (length prefix included) to write back
// on a TCP connection, and whether to write them at all.
type tcpHandler func(req *dns.Msg) []byte

// startResponder starts UDP (and, if th is not nil, TCP on the same port)
// on 127.0.0.1. Its goroutines stop, and are waited for, in t.Cleanup.
func startResponder(t testing.TB, uh udpHandler, th tcpHandler) *responder {
	t.Helper()
	r := &responder{}
	for attempt := 0; ; attempt++ {
		u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		r.udp, r.addr = u, u.LocalAddr().(*net.UDPAddr).AddrPort()
		if th == nil {
			break
		}
		l, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(r.addr))
		if err == nil {
			r.tcp = l
			break
		}
		u.Close()
		if attempt == 20 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.serveUDP(uh) })
	if r.tcp != nil {
		wg.Go(func() { r.serveTCP(th) })
	}
	t.Cleanup(func() {
		r.udp.Close()
		if r.tcp != nil {
			r.tcp.Close()
		}
		wg.Wait()
	})
	return r
}

func (r *responder) serveUDP(h udpHandler) {
	buf := make([]byte, 65535)
	for {
		n, from, err := r.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		m := new(dns.Msg)
		if m.Unpack(buf[:n]) != nil {
			continue
		}
		if h != nil {
			h(r.udp, request{msg: m, from: from})
		}
	}
}

func (r *responder) serveTCP(h tcpHandler) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := r.tcp.Accept()
		if err != nil {
			return // closed
		}
		wg.Go(func() {
			defer c.Close()
			var prefix [2]byte
			if _, err := io.ReadFull(c, prefix[:]); err != nil {
				return
			}
			buf := make([]byte, binary.BigEndian.Uint16(prefix[:]))
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf) != nil {
				return
			}
			if out := h(m); out != nil {
				_, _ = c.Write(out)
			}
		})
	}
}

// answer returns a reply to req with one A record per address.
func answer(req *dns.Msg, addrs ...string) *dns.Msg {
	m := new(dns.Msg).SetReply(req)
	for _, a := range addrs {
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A:   net.ParseIP(a).To4(),
		})
	}
	return m
}

func send(conn *net.UDPConn, to netip.AddrPort, m *dns.Msg) {
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	_, _ = conn.WriteToUDPAddrPort(b, to)
}

// framed packs m behind a two-byte length, as over TCP.
func framed(m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

// echo answers every query with 192.0.2.1.
func echo(conn *net.UDPConn, req request) {
	send(conn, req.from, answer(req.msg, "192.0.2.1"))
}

func query(name string, qtype uint16) *dns.Msg {
	return new(dns.Msg).SetQuestion(name, qtype)
}

// unconnectedDialer is a Dialer whose UDP sockets are not connected, so
// that packets from any source reach the Client and its own source check.
type unconnectedDialer struct{ NetDialer }

type unconnected struct {
	*net.UDPConn
	raddr netip.AddrPort
}

func (u unconnected) Write(b []byte) (int, error) { return u.WriteToUDPAddrPort(b, u.raddr) }

func (unconnectedDialer) DialUDP(_ context.Context, _, raddr netip.AddrPort) (net.Conn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	return unconnected{c, raddr}, nil
}

func mustExchange(t *testing.T, c *Client, server netip.AddrPort, q *dns.Msg, opts Options) Reply {
	t.Helper()
	r, err := c.Exchange(context.Background(), server, q, opts)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return r
}

func wantA(t *testing.T, r Reply, addr string) {
	t.Helper()
	if r.Msg == nil || len(r.Msg.Answer) != 1 {
		t.Fatalf("answer = %v, want one A %s", r.Msg, addr)
	}
	if a, ok := r.Msg.Answer[0].(*dns.A); !ok || a.A.String() != addr {
		t.Fatalf("answer = %v, want A %s", r.Msg.Answer[0], addr)
	}
}

func wantErr(t *testing.T, err error, kinds ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", kinds)
	}
	for _, k := range kinds {
		if !errors.Is(err, k) {
			t.Errorf("err = %v; errors.Is(err, %v) = false", err, k)
		}
	}
}
