package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// maxPipelined bounds the resolutions one TCP connection may have in flight
// at once. Past it the connection's reader stops reading until one ends, so
// a client that pipelines faster than upstream servers answer is slowed by
// TCP flow control and cannot take every slot of Options.MaxRecursive.
const maxPipelined = 32

// tcpServer answers a resolver's TCP connections. miekg's server answers
// the queries of a connection one after another: fine for an authority,
// whose answers come from memory, but a resolver's cache miss would hold
// up every query pipelined behind it for as long as upstream servers take.
// RFC 7766 §6.2.1.1 asks servers to process pipelined queries concurrently
// and lets them answer out of order; clients match answers by ID. Here
// cache hits are answered inline by the connection's reader, and misses on
// goroutines of their own (Handler.resolveMiss) that write their answers
// when ready.
//
// An authoritative server keeps miekg's server: zone transfers write many
// TSIG-signed messages, which its ResponseWriter handles.
type tcpServer struct {
	ln         *limitListener
	h          *Handler
	idle       time.Duration // read deadline for each query, the first too (RFC 7766 §6.2.3)
	maxQueries int           // queries read per connection; negative: no limit
	closing    atomic.Bool
	done       chan struct{} // closed when serve returns

	mu    sync.Mutex
	conns map[*tcpConn]struct{}
	wg    sync.WaitGroup // one per connection being served
}

func newTCPServer(ln *limitListener, h *Handler, idle time.Duration, maxQueries int) *tcpServer {
	return &tcpServer{ln: ln, h: h, idle: idle, maxQueries: maxQueries, done: make(chan struct{}), conns: make(map[*tcpConn]struct{})}
}

// serve accepts connections until shutdown. It returns nil then, or the
// listener's error.
func (t *tcpServer) serve() error {
	defer close(t.done)
	var backoff time.Duration
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.closing.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: wait, as
				// net/http does, rather than spin or give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				t.h.log.Warn("TCP accept", "err", err, "retry in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		tc := &tcpConn{conn: c, slots: make(chan struct{}, maxPipelined)}
		t.mu.Lock()
		if t.closing.Load() {
			t.mu.Unlock()
			c.Close()
			continue
		}
		t.conns[tc] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serveConn(tc)
	}
}

// isTemporary reports errors that accept(2) recovers from: no descriptor or
// buffer free, or a connection reset before it was accepted.
func isTemporary(err error) bool {
	type temporary interface{ Temporary() bool }
	var te temporary
	return errors.As(err, &te) && te.Temporary()
}

// serveConn reads and answers the queries of one connection until the
// client closes it, it sits idle, it reaches the query limit, or the server
// shuts down; then it waits for the connection's resolutions to write their
// answers, and closes it.
func (t *tcpServer) serveConn(c *tcpConn) {
	r := bufio.NewReaderSize(c.conn, 1024)
	defer func() {
		c.pending.Wait()
		c.linger(r, t.closing.Load())
		c.conn.Close()
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
		t.wg.Done()
	}()
	// The handler keeps nothing of the message's bytes once it returns,
	// as for UDP: a resolution handed off copies what it needs. No
	// quickQuery: its interned names would cost each connection memory
	// for the sake of TCP, which carries few of a resolver's queries.
	var size [2]byte
	var msg []byte
	for n := 0; t.maxQueries < 0 || n < t.maxQueries; n++ {
		// A slot for this query, held until its answer is written; the
		// reader waits here while the connection has maxPipelined
		// resolutions in flight.
		c.slots <- struct{}{}
		// The deadline first, then the check: a shutdown that sets
		// closing after the check moves the deadline into the past after
		// this one, and wakes the read.
		if err := c.conn.SetReadDeadline(time.Now().Add(t.idle)); err != nil || t.closing.Load() {
			return
		}
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return // closed by the client, idle, or shutting down
		}
		l := int(binary.BigEndian.Uint16(size[:]))
		if cap(msg) < l {
			msg = make([]byte, l)
		}
		msg = msg[:l]
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		c.handedOff = false
		t.h.serveWire(c, msg, true, nil)
		if !c.handedOff {
			<-c.slots
		}
	}
}

// shutdown stops accepting, wakes every connection's reader so that it reads
// no further query, and waits for the connections' answers to be written
// or for ctx to end. The caller then ends the resolutions and closes what
// is left (Server.Shutdown).
func (t *tcpServer) shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.closing.Store(true)
	for c := range t.conns {
		c.conn.SetReadDeadline(time.Unix(1, 0)) //nolint:errcheck // closed already is fine
	}
	t.mu.Unlock()
	t.ln.Close()
	wait := make(chan struct{})
	go func() {
		<-t.done
		t.wg.Wait()
		close(wait)
	}()
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait returns once serve and every connection have ended.
func (t *tcpServer) wait() {
	<-t.done
	t.wg.Wait()
}

// lingerTime bounds the wait for a client to close its side once the
// server has closed its own.
const lingerTime = time.Second

// linger ends the connection gracefully: closing a socket whose client has
// sent queries not yet read makes the kernel reset it, which can destroy
// answers written but not yet delivered. So the server sends its FIN first
// and reads, and drops, what the client still sends until it closes too,
// for at most lingerTime, or not at all in a shutdown.
func (c *tcpConn) linger(r io.Reader, shutdown bool) {
	cw, ok := c.conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil || shutdown {
		return
	}
	if c.conn.SetReadDeadline(time.Now().Add(lingerTime)) == nil {
		io.Copy(io.Discard, r) //nolint:errcheck // ends at EOF or the deadline
	}
}

// tcpConn is one client connection, and the dns.ResponseWriter of every
// query read from it: writes from the reader and from resolutions are
// serialised, each message written whole with its length.
type tcpConn struct {
	conn      net.Conn
	slots     chan struct{}  // one per query being answered: the pipelining bound
	pending   sync.WaitGroup // resolutions that will write on the connection
	handedOff bool           // the current query went to a goroutine, with its slot

	wmu sync.Mutex
	out []byte // the framed message being written
}

// async runs answer on a goroutine of its own, which takes over the current
// query's slot; the reader moves on to the next query.
func (c *tcpConn) async(answer func(w dns.ResponseWriter)) bool {
	c.handedOff = true
	c.pending.Go(func() {
		defer func() { <-c.slots }()
		answer(c)
	})
	return true
}

func (c *tcpConn) LocalAddr() net.Addr  { return c.conn.LocalAddr() }
func (c *tcpConn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Write sends b with its two-octet length in one write, as RFC 7766 §8
// asks.
func (c *tcpConn) Write(b []byte) (int, error) {
	if len(b) > dns.MaxMsgSize {
		return 0, errors.New("server: message too large for TCP")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.out = binary.BigEndian.AppendUint16(c.out[:0], uint16(len(b)))
	c.out = append(c.out, b...)
	if _, err := c.conn.Write(c.out); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *tcpConn) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = c.Write(b)
	return err
}

// Close is not the handler's to call on a connection other queries share;
// the reader closes it when done.
func (c *tcpConn) Close() error        { return nil }
func (c *tcpConn) TsigStatus() error   { return nil }
func (c *tcpConn) TsigTimersOnly(bool) {}
func (c *tcpConn) Hijack()             {}
