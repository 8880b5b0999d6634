package server

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestReplyOOB receives a datagram with packet information and answers with
// the control message replyOOB builds: the kernel accepts it, the source is
// the address the datagram was sent to, and the client (a connected socket,
// which drops answers from any other source) receives the answer.
func TestReplyOOB(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Logf("%s: %v", addr, err)
			continue
		}
		defer pc.Close()
		srv := pc.(*net.UDPConn)
		if !enablePktinfo(srv) {
			t.Fatalf("%s: pktinfo not enabled", addr)
		}
		c, err := net.Dial("udp", srv.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		srv.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("query")); err != nil {
			t.Fatal(err)
		}
		buf, oob := make([]byte, 64), make([]byte, oobSize)
		_, oobn, _, from, err := srv.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		reply := replyOOB(make([]byte, oobSize), oob[:oobn])
		if reply == nil {
			t.Fatalf("%s: no packet information in % x", addr, oob[:oobn])
		}
		want := netip.MustParseAddrPort(srv.LocalAddr().String()).Addr()
		// in_pktinfo: ifindex, then spec_dst, the source to use;
		// in6_pktinfo: the source first.
		at := syscall.CmsgLen(0)
		if want.Is4() {
			at += 4
		}
		if got, _ := netip.AddrFromSlice(reply[at : at+len(want.AsSlice())]); got != want {
			t.Errorf("%s: reply source %v, want %v", addr, got, want)
		}
		if _, _, err := srv.WriteMsgUDPAddrPort([]byte("answer"), reply, from); err != nil {
			t.Fatalf("%s: sendmsg with %x: %v", addr, reply, err)
		}
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "answer" {
			t.Fatalf("%s: read %q, %v", addr, buf[:n], err)
		}
	}
}
