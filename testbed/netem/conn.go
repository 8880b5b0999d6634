package netem

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// PacketConn delays each datagram written by the one-way delay from its
// local address to the destination. It is what the testbed hands a
// server as its UDP socket; reads are not delayed (the sender's wrapper
// delayed them already).
type PacketConn struct {
	net.PacketConn
	delay DelayFunc
	local netip.AddrPort
	s     *scheduler
	once  sync.Once
}

// WrapPacketConn wraps pc; the wrapper owns pc and a goroutine, both
// released by Close.
func WrapPacketConn(pc net.PacketConn, delay DelayFunc) *PacketConn {
	return &PacketConn{PacketConn: pc, delay: delay, local: AddrPort(pc.LocalAddr()), s: newScheduler()}
}

// WriteTo queues a copy of b and returns at once, as a kernel with a free
// send buffer would. A write that fails when its time comes is lost, as a
// datagram may be.
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	remote := AddrPort(addr)
	d := c.delay(c.local, remote)
	if d < 0 {
		return len(b), nil // dropped on a cut link
	}
	buf := bytes.Clone(b)
	if !c.s.schedule(remote, d, func() { _, _ = c.PacketConn.WriteTo(buf, addr) }) {
		return 0, net.ErrClosed
	}
	return len(b), nil
}

// Close drops the datagrams still queued, stops the wrapper's goroutine
// and closes the socket.
func (c *PacketConn) Close() error {
	c.once.Do(func() { c.s.close(false) })
	return c.PacketConn.Close()
}

// Conn delays each write on a connected socket (TCP, or connected UDP) by
// the one-way delay from its local to its remote address.
type Conn struct {
	net.Conn
	d     time.Duration // the delay, fixed for the connection's life
	flush bool
	s     *scheduler
	dst   netip.AddrPort
	err   atomic.Pointer[error] // first failed delayed write
	once  sync.Once
}

// WrapConn wraps a connected socket. A stream's Close (TCP) first sends
// what is still queued, waiting up to the one-way delay, as TCP sends
// written data before its FIN; a datagram socket's (connected UDP, told
// by c being a net.PacketConn too) drops it. The result is a
// net.PacketConn when c is, so that code telling datagrams from streams by
// that test (miekg/dns's Conn) still frames them right. The wrapper owns c
// and a goroutine, both released by Close.
func WrapConn(c net.Conn, delay DelayFunc) net.Conn {
	local, remote := AddrPort(c.LocalAddr()), AddrPort(c.RemoteAddr())
	pc, dgram := c.(net.PacketConn)
	w := &Conn{Conn: c, d: delay(local, remote), flush: !dgram, s: newScheduler(), dst: remote}
	if dgram {
		return &datagramConn{Conn: w, pc: pc}
	}
	return w
}

// Write queues a copy of b and returns at once. A stream write that fails
// when its time comes fails every later Write with the same error.
func (c *Conn) Write(b []byte) (int, error) {
	if err := c.err.Load(); err != nil {
		return 0, *err
	}
	if c.d < 0 {
		return len(b), nil // a cut link: the bytes go nowhere
	}
	buf := bytes.Clone(b)
	ok := c.s.schedule(c.dst, c.d, func() {
		if _, err := c.Conn.Write(buf); err != nil {
			c.err.CompareAndSwap(nil, &err)
		}
	})
	if !ok {
		return 0, net.ErrClosed
	}
	return len(b), nil
}

// Close flushes or drops the queued writes (see WrapConn), stops the
// wrapper's goroutine and closes the connection.
func (c *Conn) Close() error {
	c.once.Do(func() {
		if c.flush {
			// A peer that stops reading must not hold Close forever.
			_ = c.Conn.SetWriteDeadline(time.Now().Add(max(c.d, 0) + time.Second))
		}
		c.s.close(c.flush)
	})
	return c.Conn.Close()
}

// datagramConn is a wrapped connected UDP socket.
type datagramConn struct {
	*Conn
	pc net.PacketConn
}

// ReadFrom implements net.PacketConn; reads are not delayed.
func (c *datagramConn) ReadFrom(b []byte) (int, net.Addr, error) { return c.pc.ReadFrom(b) }

// WriteTo implements net.PacketConn. As on a connected socket, only the
// connected peer may be written to.
func (c *datagramConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if AddrPort(addr) != c.dst {
		return 0, fmt.Errorf("netem: write to %v on a socket connected to %v", addr, c.dst)
	}
	return c.Write(b)
}

// Listener wraps the connections it accepts in a Conn, so that a TCP
// server's replies are delayed like its UDP ones.
type Listener struct {
	net.Listener
	delay DelayFunc
}

// WrapListener wraps l.
func WrapListener(l net.Listener, delay DelayFunc) *Listener {
	return &Listener{Listener: l, delay: delay}
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return WrapConn(c, l.delay), nil
}
