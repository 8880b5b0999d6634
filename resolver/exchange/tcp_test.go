package exchange

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// big returns a reply to req with n A records: more than 1232 bytes for n
// above about 75.
func big(req *dns.Msg, n int) *dns.Msg {
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
	}
	return answer(req, addrs...)
}

// truncating answers over UDP with TC=1 and no records.
func truncating(conn *net.UDPConn, req request) {
	m := new(dns.Msg).SetReply(req.msg)
	m.Truncated = true
	send(conn, req.from, m)
}

func TestTruncatedRetriedOverTCP(t *testing.T) {
	t.Parallel()
	r := startResponder(t, truncating, func(req *dns.Msg) []byte { return framed(big(req, 200)) })
	c := New(Config{})
	rep := mustExchange(t, c, r.addr, query(longName, dns.TypeA), Options{})
	if !rep.TCP || len(rep.Msg.Answer) != 200 || rep.Msg.Truncated {
		t.Fatalf("TCP %v, %d answers, TC %v: want the full answer over TCP", rep.TCP, len(rep.Msg.Answer), rep.Msg.Truncated)
	}
	if got := rep.Msg.Answer[199].Header().Name; got != longName {
		t.Errorf("owner %q, want the caller's spelling %q", got, longName)
	}

	rep, err := c.Exchange(context.Background(), r.addr, query("example.", dns.TypeA), Options{NoTCPFallback: true})
	wantErr(t, err, ErrTruncated)
	if rep.Msg == nil || !rep.Msg.Truncated {
		t.Errorf("NoTCPFallback: Msg = %v, want the truncated answer", rep.Msg)
	}
}

// A server that truncates bytes, not records, sends a TC answer that does
// not parse past the question; it is still retried over TCP.
func TestTruncatedMidRecord(t *testing.T) {
	t.Parallel()
	r := startResponder(t, func(conn *net.UDPConn, req request) {
		m := big(req.msg, 200)
		m.Truncated = true
		b, _ := m.Pack()
		_, _ = conn.WriteToUDPAddrPort(b[:512], req.from)
	}, func(req *dns.Msg) []byte { return framed(big(req, 200)) })
	rep := mustExchange(t, New(Config{}), r.addr, query("example.", dns.TypeA), Options{})
	if !rep.TCP || len(rep.Msg.Answer) != 200 {
		t.Fatalf("TCP %v, %d answers: want 200 over TCP", rep.TCP, len(rep.Msg.Answer))
	}
}

// Messages up to the 64 KiB bound of the two-byte length come through.
func TestTCPLargestMessage(t *testing.T) {
	t.Parallel()
	r := startResponder(t, nil, func(req *dns.Msg) []byte {
		m := new(dns.Msg).SetReply(req)
		txt := strings.Repeat("x", 255)
		for m.Len() < 65000 {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET},
				Txt: []string{txt},
			})
		}
		return framed(m)
	})
	rep := mustExchange(t, New(Config{}), r.addr, query("example.", dns.TypeTXT), Options{TCP: true})
	if n := rep.Msg.Len(); n < 65000 || n > 65535 {
		t.Fatalf("message of %d bytes, want 65000-65535", n)
	}
}

func TestTCPFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		reply func(req *dns.Msg, hang <-chan struct{}) []byte
		kinds []error
	}{
		{"short", func(req *dns.Msg, _ <-chan struct{}) []byte { return framed(answer(req))[:20] }, []error{ErrNetwork}},
		{"silent", func(_ *dns.Msg, hang <-chan struct{}) []byte { <-hang; return nil }, []error{ErrTimeout}},
		{"wrong ID", func(req *dns.Msg, _ <-chan struct{}) []byte {
			m := answer(req)
			m.Id ^= 1
			return framed(m)
		}, []error{ErrMismatch}},
		{"garbage", func(*dns.Msg, <-chan struct{}) []byte { return []byte{0, 3, 1, 2, 3} }, []error{ErrMalformed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A silent server holds its connection until the test ends;
			// this cleanup runs before the responder's, which waits for it.
			hang := make(chan struct{})
			timeout := 5 * time.Second // ample for the failures that come at once
			if tc.name == "silent" {
				timeout = 100 * time.Millisecond
			}
			r := startResponder(t, nil, func(req *dns.Msg) []byte { return tc.reply(req, hang) })
			t.Cleanup(func() { close(hang) })
			_, err := New(Config{}).Exchange(context.Background(), r.addr, query("example.", dns.TypeA),
				Options{TCP: true, Timeout: timeout})
			wantErr(t, err, tc.kinds...)
		})
	}
}

// When the TCP retry of a TC answer fails, the error says both.
func TestTruncatedThenTCPRefused(t *testing.T) {
	t.Parallel()
	r := startResponder(t, truncating, nil) // no TCP listener on the port
	rep, err := New(Config{}).Exchange(context.Background(), r.addr, query("example.", dns.TypeA), Options{})
	wantErr(t, err, ErrTruncated, ErrNetwork)
	if rep.Msg == nil || !rep.Msg.Truncated {
		t.Errorf("Msg = %v, want the truncated answer", rep.Msg)
	}
}
