// Package exchange sends one query to one upstream server and returns the
// answer that provably belongs to it: the resolver's only network code.
//
// Each query gets a random ID from crypto/rand, a fresh socket on a random
// source port and, by default, a 0x20-randomised name and an EDNS0 OPT
// record with a 1232-byte buffer. Only a response from the address and port
// queried, with the ID, and with the same question is accepted (RFC 5452
// §9.1); anything else is ignored and reading goes on until the deadline.
// A truncated answer is retried over TCP.
//
// Sockets come from a Dialer, so that the geo testbed can add emulated
// latency; the iterator depends on the Exchanger interface, so that its
// unit tests can use a fake.
package exchange

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Defaults.
const (
	// DefaultUDPSize is the EDNS0 buffer size advertised: 1232 bytes fits
	// an IPv6 packet in a 1280-byte MTU, so answers are not fragmented
	// (DNS Flag Day 2020; RFC 9715 §3.2).
	DefaultUDPSize = 1232

	// DefaultTimeout bounds one try when Options.Timeout is zero. The
	// resolver normally passes the server's RTO from the infrastructure
	// cache instead.
	DefaultTimeout = 2 * time.Second

	// DefaultConnectTimeout bounds a TCP handshake when
	// Options.ConnectTimeout is zero.
	DefaultConnectTimeout = time.Second
)

// Exchanger sends a query to a server and returns the response that
// matches it.
type Exchanger interface {
	Exchange(ctx context.Context, server netip.AddrPort, query *dns.Msg, opts Options) (Reply, error)
}

// Func adapts a function to the Exchanger interface, for fakes in tests.
type Func func(ctx context.Context, server netip.AddrPort, query *dns.Msg, opts Options) (Reply, error)

// Exchange calls f.
func (f Func) Exchange(ctx context.Context, server netip.AddrPort, query *dns.Msg, opts Options) (Reply, error) {
	return f(ctx, server, query, opts)
}

// Options tunes one exchange. The zero value is the default: EDNS0 and
// 0x20 on, UDP first with TCP fallback, DefaultTimeout per try.
type Options struct {
	// NoEDNS sends the query without an OPT record (and strips the
	// query's own), for servers that answer EDNS with FORMERR, NOTIMP or
	// garbage (RFC 6891 §7). Default: false, EDNS on.
	NoEDNS bool

	// No0x20 sends the name in the case the caller gave, for servers that
	// do not preserve case. Default: false, 0x20 on.
	No0x20 bool

	// TCP sends over TCP from the start. Default: false, UDP first.
	TCP bool

	// NoTCPFallback returns a TC=1 answer with ErrTruncated instead of
	// retrying over TCP (RFC 7766 §5 asks resolvers to retry). Default:
	// false.
	NoTCPFallback bool

	// Timeout bounds each try: the UDP exchange, and then the TCP one.
	// ctx's deadline wins if earlier. Default: DefaultTimeout (2 s).
	Timeout time.Duration

	// ConnectTimeout bounds a TCP handshake, within Timeout. Default:
	// DefaultConnectTimeout (1 s).
	ConnectTimeout time.Duration
}

// Reply is the outcome of an exchange.
type Reply struct {
	// Msg is the response. With 0x20 on, its question and the owner
	// names that repeat it are given back the caller's spelling. It is
	// also set on ErrTruncated (the truncated answer); otherwise nil on
	// error.
	Msg *dns.Msg

	// RTT is the time from sending the query to receiving the first
	// accepted response (the UDP one when a TC answer was retried over
	// TCP; over TCP alone, excluding the handshake): one round trip, as
	// the infrastructure cache wants.
	RTT time.Duration

	// TCP is set when Msg came over TCP.
	TCP bool

	// Ignored counts the packets ignored: wrong ID, question or source,
	// or malformed. Many of them suggest a spoofing attempt.
	Ignored int
}

// Config configures a Client. The zero value is valid.
type Config struct {
	// Dialer opens the sockets. Default: NetDialer{}.
	Dialer Dialer

	// Local4 and Local6 are the source addresses for IPv4 and IPv6
	// servers. Default: the zero Addr, letting the kernel choose.
	Local4, Local6 netip.Addr

	// UDPSize is the EDNS0 buffer size advertised when the query carries
	// no OPT record of its own. Default: DefaultUDPSize (1232).
	UDPSize uint16
}

// Client is the Exchanger on real (or Dialer-wrapped) sockets. It is safe
// for concurrent use and holds no goroutines.
type Client struct {
	cfg  Config
	rand *randBuf
	bufs sync.Pool // of *buffers
}

// buffers is the per-exchange scratch space, pooled so that an exchange
// allocates little beyond the response it returns.
type buffers struct {
	query [2 + 4096]byte // TCP length prefix, then the packed query
	read  [65535]byte    // one datagram, or one TCP message (RFC 1035 §4.2.2: 16-bit length)
	msg   dns.Msg
	q     [1]dns.Question
	opt   dns.OPT
	m     matcher
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.Dialer == nil {
		cfg.Dialer = NetDialer{}
	}
	if cfg.UDPSize == 0 {
		cfg.UDPSize = DefaultUDPSize
	}
	return &Client{cfg: cfg, rand: newRandBuf(), bufs: sync.Pool{New: func() any { return new(buffers) }}}
}

var _ Exchanger = (*Client)(nil)

// Exchange sends query to server and returns the matching response. The
// query must have exactly one question; it is not modified: the ID, the
// 0x20 case and the OPT record are set on a copy.
func (c *Client) Exchange(ctx context.Context, server netip.AddrPort, query *dns.Msg, opts Options) (Reply, error) {
	if query == nil || len(query.Question) != 1 {
		return Reply{}, errors.New("exchange: the query must have exactly one question")
	}
	if err := ctx.Err(); err != nil {
		return Reply{}, fmt.Errorf("exchange with %v: %w", server, err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())

	b := c.bufs.Get().(*buffers)
	defer c.put(b)
	m, wire, err := c.prepare(b, query, opts)
	if err != nil {
		return Reply{}, err
	}

	var r Reply
	if opts.TCP {
		r, err = c.tcp(ctx, server, b, wire, m, opts)
	} else {
		r, err = c.udp(ctx, server, b, wire, m, opts)
		if err == nil && r.Msg.Truncated {
			r, err = c.fallback(ctx, server, b, wire, m, opts, r)
		}
	}
	if r.Msg != nil {
		restoreCase(r.Msg, m.name, query.Question[0].Name)
	}
	return r, err
}

// fallback retries a truncated UDP answer over TCP (RFC 7766 §5).
func (c *Client) fallback(ctx context.Context, server netip.AddrPort, b *buffers, wire []byte, m *matcher, opts Options, udp Reply) (Reply, error) {
	if opts.NoTCPFallback {
		return udp, &Error{Kind: ErrTruncated, Server: server}
	}
	r, err := c.tcp(ctx, server, b, wire, m, opts)
	r.RTT = udp.RTT
	r.Ignored += udp.Ignored
	if err != nil {
		r.Msg = udp.Msg
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return r, err // cancelled: say so, not "truncated"
		}
		return r, &Error{Kind: ErrTruncated, Server: server, TCP: true, Err: err}
	}
	return r, nil
}

// prepare builds the message to send in b's scratch space and packs it
// after b.query's two-byte TCP prefix.
func (c *Client) prepare(b *buffers, query *dns.Msg, opts Options) (*matcher, []byte, error) {
	q := query.Question[0]
	m := &b.m
	*m = matcher{id: c.rand.uint16(), opcode: query.Opcode, name: q.Name, qtype: q.Qtype, qclass: q.Qclass}
	if !opts.No0x20 {
		m.name = c.rand.randomizeCase(q.Name)
		m.caseSensitive = true
	}

	msg := &b.msg
	msg.MsgHdr = query.MsgHdr
	msg.Id = m.id
	msg.Response = false
	msg.Compress = false // one name in a query: nothing to compress, and no map to allocate
	b.q[0] = dns.Question{Name: m.name, Qtype: q.Qtype, Qclass: q.Qclass}
	msg.Question = b.q[:]
	msg.Answer, msg.Ns = query.Answer, query.Ns
	msg.Extra = msg.Extra[:0]
	hasOPT := false
	for _, rr := range query.Extra {
		if _, ok := rr.(*dns.OPT); ok {
			if opts.NoEDNS {
				continue
			}
			hasOPT = true
		}
		msg.Extra = append(msg.Extra, rr)
	}
	if !opts.NoEDNS && !hasOPT {
		// RFC 6891 §6.1: an OPT pseudo-RR whose class is our UDP payload
		// size; TTL 0 (extended rcode 0, version 0, DO clear: we do not
		// validate, so we do not ask for signatures).
		b.opt = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: c.cfg.UDPSize}}
		msg.Extra = append(msg.Extra, &b.opt)
	}

	wire, err := msg.PackBuffer(b.query[2:])
	if err != nil {
		return nil, nil, fmt.Errorf("exchange: packing the query: %w", err)
	}
	if len(wire) > 65535 {
		return nil, nil, errors.New("exchange: query longer than 65535 bytes")
	}
	return m, wire, nil
}

// put clears the references b holds and returns it to the pool.
func (c *Client) put(b *buffers) {
	extra := b.msg.Extra[:0]
	clear(b.msg.Extra[:cap(b.msg.Extra)])
	b.msg = dns.Msg{Extra: extra}
	b.q[0] = dns.Question{}
	b.m = matcher{}
	c.bufs.Put(b)
}

// local returns the source address for server, port 0.
func (c *Client) local(server netip.AddrPort) netip.AddrPort {
	a := c.cfg.Local6
	if server.Addr().Is4() {
		a = c.cfg.Local4
	}
	if !a.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, 0)
}

// tryDeadline is the end of a try: Timeout from now, or ctx's deadline if
// earlier.
func tryDeadline(ctx context.Context, timeout time.Duration) time.Time {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// restoreCase gives the caller's spelling of the name back to the
// question and to the owner names that the server copied from it, so the
// randomised case does not leak into caches and answers to clients.
func restoreCase(msg *dns.Msg, sent, orig string) {
	if sent == orig {
		return
	}
	if len(msg.Question) == 1 && msg.Question[0].Name == sent {
		msg.Question[0].Name = orig
	}
	for _, sec := range [][]dns.RR{msg.Answer, msg.Ns, msg.Extra} {
		for _, rr := range sec {
			if h := rr.Header(); h.Name == sent {
				h.Name = orig
			}
		}
	}
}
