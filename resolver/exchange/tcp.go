package exchange

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// tcp runs one try over a new TCP connection: RFC 1035 §4.2.2 framing, a
// two-byte length before each message, so a message is at most 65535
// bytes. wire must sit two bytes into b.query, where the prefix goes.
func (c *Client) tcp(ctx context.Context, server netip.AddrPort, b *buffers, wire []byte, m *matcher, opts Options) (Reply, error) {
	deadline := tryDeadline(ctx, opts.Timeout)
	connectBy := time.Now().Add(min(opts.ConnectTimeout, opts.Timeout))
	if deadline.Before(connectBy) {
		connectBy = deadline
	}
	dctx, cancel := context.WithDeadline(ctx, connectBy)
	conn, err := c.cfg.Dialer.DialTCP(dctx, c.local(server), server)
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return Reply{}, &Error{Kind: ErrTimeout, Server: server, TCP: true, Err: errors.New("connecting")}
		}
		return Reply{}, ioError(ctx, server, true, err, nil)
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return Reply{}, &Error{Kind: ErrNetwork, Server: server, TCP: true, Err: err}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	defer stop()

	// Prefix and message in one write, so they leave in one segment.
	framed := frame(b, wire)
	start := time.Now()
	if _, err := conn.Write(framed); err != nil {
		return Reply{}, ioError(ctx, server, true, err, nil)
	}
	var prefix [2]byte
	if _, err := io.ReadFull(conn, prefix[:]); err != nil {
		return Reply{}, ioError(ctx, server, true, err, nil)
	}
	n := int(binary.BigEndian.Uint16(prefix[:]))
	if _, err := io.ReadFull(conn, b.read[:n]); err != nil {
		return Reply{}, ioError(ctx, server, true, err, nil)
	}
	rtt := time.Since(start)

	// There is no reading on past a bad message here: the connection is
	// ours alone and a forger cannot inject into it without the TCP
	// sequence numbers, so a mismatch is a broken server.
	msg, v := m.check(b.read[:n])
	switch v {
	case accept:
		return Reply{Msg: msg, RTT: rtt, TCP: true}, nil
	case caseMismatch:
		return Reply{}, &Error{Kind: ErrCaseMismatch, Server: server, TCP: true}
	case malformed:
		return Reply{}, &Error{Kind: ErrMalformed, Server: server, TCP: true, Err: fmt.Errorf("%d-byte message", n)}
	default:
		return Reply{}, &Error{Kind: ErrMismatch, Server: server, TCP: true}
	}
}

// frame puts the two-byte length before wire, in place when wire was
// packed into b.query[2:], else in a new slice. prepare has checked that
// wire fits the prefix.
func frame(b *buffers, wire []byte) []byte {
	var out []byte
	if len(wire) <= len(b.query)-2 && &wire[0] == &b.query[2] {
		out = b.query[:2+len(wire)]
	} else {
		out = make([]byte, 2+len(wire))
		copy(out[2:], wire)
	}
	binary.BigEndian.PutUint16(out, uint16(len(wire)))
	return out
}
