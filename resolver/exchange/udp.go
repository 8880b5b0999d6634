package exchange

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// tally counts the packets ignored during one try, by reason.
type tally struct {
	source, mismatch, malformed int
}

func (t *tally) total() int { return t.source + t.mismatch + t.malformed }

// cause says why a try that timed out saw no acceptable response despite
// packets arriving; nil if none arrived.
func (t *tally) cause() error {
	var errs []error
	if t.source+t.mismatch > 0 {
		errs = append(errs, ErrMismatch)
	}
	if t.malformed > 0 {
		errs = append(errs, ErrMalformed)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d packets ignored: %w", t.total(), errors.Join(errs...))
}

// addrPortReader is implemented by *net.UDPConn: it reads the source
// address without allocating.
type addrPortReader interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
}

// udp runs one try over a fresh UDP socket.
func (c *Client) udp(ctx context.Context, server netip.AddrPort, b *buffers, wire []byte, m *matcher, opts Options) (Reply, error) {
	conn, err := c.cfg.Dialer.DialUDP(ctx, c.local(server), server)
	if err != nil {
		return Reply{}, &Error{Kind: ErrNetwork, Server: server, Err: err}
	}
	defer conn.Close()
	if err := conn.SetDeadline(tryDeadline(ctx, opts.Timeout)); err != nil {
		return Reply{}, &Error{Kind: ErrNetwork, Server: server, Err: err}
	}
	// A cancelled ctx wakes the read; AfterFunc starts no goroutine
	// unless ctx ends while we wait, and stop() disarms it.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	defer stop()

	start := time.Now()
	if _, err := conn.Write(wire); err != nil {
		return Reply{}, ioError(ctx, server, false, err, nil)
	}
	var t tally
	for {
		n, src, err := readFrom(conn, b.read[:])
		if err != nil {
			return Reply{Ignored: t.total()}, ioError(ctx, server, false, err, &t)
		}
		// The connected socket already filters by source; this check is
		// for Dialers whose sockets do not (RFC 5452 §9.1).
		if src.IsValid() && netip.AddrPortFrom(src.Addr().Unmap(), src.Port()) != server {
			t.source++
			continue
		}
		msg, v := m.check(b.read[:n])
		switch v {
		case accept:
			return Reply{Msg: msg, RTT: time.Since(start), Ignored: t.total()}, nil
		case caseMismatch:
			// Not waited out: a server that does not preserve case
			// would cost a full timeout on every query, and the retry
			// without 0x20 runs on a new ID and port anyway.
			return Reply{Ignored: t.total()}, &Error{Kind: ErrCaseMismatch, Server: server}
		case mismatch:
			t.mismatch++
		case malformed:
			t.malformed++
		}
	}
}

// readFrom reads one datagram from conn, with its source when the
// connection can tell it.
func readFrom(conn net.Conn, p []byte) (int, netip.AddrPort, error) {
	switch pc := conn.(type) {
	case addrPortReader:
		return pc.ReadFromUDPAddrPort(p)
	case net.PacketConn:
		n, addr, err := pc.ReadFrom(p)
		if err != nil {
			return n, netip.AddrPort{}, err
		}
		src, perr := netip.ParseAddrPort(addr.String())
		if perr != nil {
			return n, netip.AddrPort{}, fmt.Errorf("source address %q: %w", addr, perr)
		}
		return n, src, nil
	default:
		n, err := conn.Read(p)
		return n, netip.AddrPort{}, err
	}
}

// ioError classifies a socket error. t, when not nil, says what was
// ignored before it.
func ioError(ctx context.Context, server netip.AddrPort, tcp bool, err error, t *tally) error {
	var cause error
	if t != nil {
		cause = t.cause()
	}
	cerr := ctx.Err()
	if cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
		return fmt.Errorf("exchange with %v: %w", server, cerr)
	}
	if cerr != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		// The socket's deadline may be ctx's and fire a moment before
		// ctx's own timer does: still ctx's deadline.
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			cause = errors.Join(context.DeadlineExceeded, cause)
		}
		return &Error{Kind: ErrTimeout, Server: server, TCP: tcp, Err: cause}
	}
	return &Error{Kind: ErrNetwork, Server: server, TCP: tcp, Err: err}
}
