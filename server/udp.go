package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// udpServer answers queries on one UDP socket with a few reader goroutines
// that each read, answer and write a query in turn. miekg's dns.Server
// starts a goroutine per packet and resets a read deadline per read; on the
// loopback benchmark that costs about 40% more CPU per query and 30% less
// throughput, so UDP, the bulk of an authority's traffic, is served here.
// TCP is served by tcpServer for a resolver, by miekg's server for an
// authority.
//
// Answering inline suits an authority, whose answers come from memory, and a
// resolver's cache hits. A resolver's cache miss, which waits on the
// network, is handed to a goroutine (Handler.resolveMiss) that writes its
// answer on the same socket: a UDP socket's writes are safe from several
// goroutines, each datagram whole.
type udpServer struct {
	pc      net.PacketConn // the socket
	conn    *net.UDPConn   // pc when it is a kernel UDP socket: the fast path; else nil
	h       *Handler
	pktinfo bool // bound to a wildcard address: reply from the address asked
	closing atomic.Bool
	readers sync.WaitGroup
	pending sync.WaitGroup // resolutions answered off the readers
}

// newUDPServer serves pc. A kernel UDP socket gets the fast path (one
// recvmsg per query, IP_PKTINFO on wildcard binds); any other PacketConn,
// such as the testbed's latency-emulating wrapper, is read and written
// through the PacketConn interface.
func newUDPServer(pc net.PacketConn, h *Handler) *udpServer {
	u := &udpServer{pc: pc, h: h}
	if conn, ok := pc.(*net.UDPConn); ok {
		u.conn = conn
		if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.IsUnspecified() {
			u.pktinfo = enablePktinfo(conn)
		}
	}
	return u
}

// start launches one reader per P: reads are serialised by the socket, the
// answering runs in parallel.
func (u *udpServer) start() {
	for range runtime.GOMAXPROCS(0) {
		u.readers.Go(u.read)
	}
}

func (u *udpServer) read() {
	if u.conn == nil {
		u.readPacketConn()
		return
	}
	buf := make([]byte, udpReadSize)
	oob := make([]byte, oobSize)
	w := &udpWriter{conn: u.conn, oob: make([]byte, oobSize), pending: &u.pending}
	var quick quickQuery
	for {
		n, oobn, _, addr, err := u.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if u.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			u.h.log.Debug("UDP read", "err", err)
			continue
		}
		w.addr, w.reply = addr, nil
		w.tsigErr, w.tsigMAC, w.tsigProvider = nil, "", nil
		if u.pktinfo {
			w.reply = replyOOB(w.oob, oob[:oobn])
		}
		u.h.serveWire(w, buf[:n], false, &quick)
	}
}

// readPacketConn is read for a PacketConn that is not a kernel UDP socket.
func (u *udpServer) readPacketConn() {
	buf := make([]byte, udpReadSize)
	w := &udpWriter{pc: u.pc, pending: &u.pending}
	var quick quickQuery
	for {
		n, from, err := u.pc.ReadFrom(buf)
		if err != nil {
			if u.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			u.h.log.Debug("UDP read", "err", err)
			continue
		}
		addr, err := netip.ParseAddrPort(from.String())
		if ua, ok := from.(*net.UDPAddr); ok {
			addr, err = ua.AddrPort(), nil
		}
		if err != nil {
			continue
		}
		w.addr = addr
		w.tsigErr, w.tsigMAC, w.tsigProvider = nil, "", nil
		u.h.serveWire(w, buf[:n], false, &quick)
	}
}

// shutdown stops reading and waits for the queries being answered, those
// handed off to goroutines included, or for ctx to end; then it closes the
// socket. The caller ends the resolutions when ctx ends (Server.Shutdown).
func (u *udpServer) shutdown(ctx context.Context) error {
	u.closing.Store(true)
	u.pc.SetReadDeadline(time.Unix(1, 0)) // wakes the readers
	done := make(chan struct{})
	go func() {
		u.readers.Wait()
		// Only readers start pending work: none starts after this point.
		u.pending.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	u.pc.Close()
	<-done // a reader ends at its next write or read once closed
	return err
}

// udpWriter is the dns.ResponseWriter of a UDP reader, reused for every
// query it reads.
type udpWriter struct {
	pc      net.PacketConn // set, with conn nil, for a PacketConn that is not a kernel socket
	conn    *net.UDPConn
	addr    netip.AddrPort
	oob     []byte          // buffer for reply
	reply   []byte          // control message setting the reply's source, or nil
	pending *sync.WaitGroup // the reader's server's hand-offs; nil once detached

	// TSIG of the current NOTIFY (verifyUDP): the verification's outcome,
	// the request's MAC and the key store that signs the answer.
	tsigErr      error
	tsigMAC      string
	tsigProvider dns.TsigProvider
}

// async answers the current query on a goroutine, with a writer to its
// client that stays valid after the reader has moved on to the next
// datagram, which reuses w and its buffers.
func (w *udpWriter) async(answer func(w dns.ResponseWriter)) bool {
	if w.pending == nil {
		return false
	}
	dw := &udpWriter{pc: w.pc, conn: w.conn, addr: w.addr, reply: bytes.Clone(w.reply)}
	w.pending.Go(func() { answer(dw) })
	return true
}

func (w *udpWriter) LocalAddr() net.Addr {
	if w.conn == nil {
		return w.pc.LocalAddr()
	}
	return w.conn.LocalAddr()
}
func (w *udpWriter) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(w.addr) }

func (w *udpWriter) Write(b []byte) (int, error) {
	if w.conn == nil {
		return w.pc.WriteTo(b, net.UDPAddrFromAddrPort(w.addr))
	}
	n, _, err := w.conn.WriteMsgUDPAddrPort(b, w.reply, w.addr)
	return n, err
}

// WriteMsg packs m and writes it; a message carrying a TSIG RR is signed
// with the key store of the request it answers, as miekg's writer does.
func (w *udpWriter) WriteMsg(m *dns.Msg) error {
	var b []byte
	var err error
	if w.tsigProvider != nil && m.IsTsig() != nil {
		b, _, err = dns.TsigGenerateWithProvider(m, w.tsigProvider, w.tsigMAC, false)
	} else {
		b, err = m.Pack()
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (w *udpWriter) Close() error        { return nil }
func (w *udpWriter) TsigStatus() error   { return w.tsigErr }
func (w *udpWriter) TsigTimersOnly(bool) {}
func (w *udpWriter) Hijack()             {}

// serveWire answers one message as read from the wire, as miekg's server
// does for TCP: the header is checked before anything is unpacked, and
// what cannot be a query gets a bare FORMERR or NOTIMP, or nothing. With
// quick, the reader's reusable request, a plain query is parsed without
// allocating a message; the handler does not keep the request after it
// returns, so the reader may reuse it for the next datagram.
func (h *Handler) serveWire(w dns.ResponseWriter, b []byte, tcp bool, quick *quickQuery) {
	if len(b) < headerSize {
		h.invalid(b, tcp) // no ID to answer to: dropped
		return
	}
	dh := dns.Header{
		Id:      binary.BigEndian.Uint16(b[0:]),
		Bits:    binary.BigEndian.Uint16(b[2:]),
		Qdcount: binary.BigEndian.Uint16(b[4:]),
		Ancount: binary.BigEndian.Uint16(b[6:]),
		Nscount: binary.BigEndian.Uint16(b[8:]),
		Arcount: binary.BigEndian.Uint16(b[10:]),
	}
	switch h.accept(dh, tcp) {
	case dns.MsgIgnore:
		return
	case dns.MsgReject:
		writeBare(w, dh, dns.RcodeFormatError)
		return
	case dns.MsgRejectNotImplemented:
		writeBare(w, dh, dns.RcodeNotImplemented)
		return
	}
	var req *dns.Msg
	if quick != nil && quick.parse(b) {
		req = &quick.msg
	} else {
		req = new(dns.Msg)
		if err := req.Unpack(b); err != nil {
			h.invalid(b, tcp)
			writeBare(w, dh, dns.RcodeFormatError)
			return
		}
	}
	if u, ok := w.(*udpWriter); ok {
		h.verifyUDP(u, b, req)
	}
	h.ServeDNS(w, req)
}

// writeBare writes a header-only error response, keeping the ID, opcode and
// RD of the request, as NSD does: the question may be what was wrong.
func writeBare(w dns.ResponseWriter, dh dns.Header, rcode int) {
	const qr, opcode, rd = 1 << 15, 0xF << 11, 1 << 8
	var b [headerSize]byte
	binary.BigEndian.PutUint16(b[0:], dh.Id)
	binary.BigEndian.PutUint16(b[2:], qr|dh.Bits&(opcode|rd)|uint16(rcode&0xF))
	w.Write(b[:]) //nolint:errcheck // nothing to do about a lost error response
}
