package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// bind opens the TCP listener and the UDP socket of one listen address. TCP
// is bound first so that, with port 0, UDP can take the port TCP was given;
// if another socket holds that UDP port, both are tried again on a new one.
func bind(ctx context.Context, addr string) (net.Listener, net.PacketConn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lc net.ListenConfig
	for attempt := 0; ; attempt++ {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		got := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		pc, err := lc.ListenPacket(ctx, "udp", net.JoinHostPort(host, got))
		if err == nil {
			return ln, pc, nil
		}
		ln.Close()
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) || attempt == 10 {
			return nil, nil, err
		}
	}
}

// limitListener enforces the TCP connection limit: a connection accepted over
// the limit is closed at once, so the client learns immediately rather than
// waiting in the kernel's backlog. It also tracks its connections so that a
// shutdown that runs out of time can close them.
type limitListener struct {
	net.Listener
	slots        chan struct{} // one token per open connection; nil: no limit
	writeTimeout time.Duration
	metrics      *metrics

	mu    sync.Mutex
	conns map[*limitConn]struct{}
}

// newLimitListener wraps ln; listeners that share slots share the limit.
func newLimitListener(ln net.Listener, slots chan struct{}, writeTimeout time.Duration, m *metrics) *limitListener {
	return &limitListener{Listener: ln, slots: slots, writeTimeout: writeTimeout, metrics: m, conns: make(map[*limitConn]struct{})}
}

// Accept returns the next connection within the limit.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			default:
				c.Close()
				l.metrics.tcpRejected.Inc()
				continue
			}
		}
		lc := &limitConn{Conn: c, l: l}
		l.mu.Lock()
		l.conns[lc] = struct{}{}
		l.mu.Unlock()
		l.metrics.tcpConns.Inc()
		return lc, nil
	}
}

// closeAll closes every open connection, to end a shutdown whose time is up.
func (l *limitListener) closeAll() {
	l.mu.Lock()
	conns := make([]*limitConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// limitConn gives its slot back when closed, and bounds each write: miekg's
// server sets no write deadline, so a client that stops reading would hold a
// goroutine (and a shutdown) forever.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Write(b []byte) (int, error) {
	if err := c.SetWriteDeadline(time.Now().Add(c.l.writeTimeout)); err != nil {
		return 0, fmt.Errorf("server: set write deadline: %w", err)
	}
	return c.Conn.Write(b)
}

// CloseWrite sends the connection's FIN when the connection underneath
// can (a *net.TCPConn can).
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.metrics.tcpConns.Dec()
		if c.l.slots != nil {
			<-c.l.slots
		}
	})
	return err
}
