package server

import (
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for the zero values of Options.
const (
	// DefaultUDPSize is the EDNS UDP payload size advertised and the largest
	// UDP response sent: 1232 bytes fits the IPv6 minimum MTU of 1280 less
	// the IPv6 and UDP headers, so responses are never fragmented (DNS Flag
	// Day 2020).
	DefaultUDPSize = 1232
	// DefaultTCPIdleTimeout is how long a TCP connection may sit without a
	// complete query before it is closed (RFC 7766 §6.2.3: seconds, not
	// minutes).
	DefaultTCPIdleTimeout = 10 * time.Second
	// DefaultTCPMaxConns bounds the TCP connections open at once.
	DefaultTCPMaxConns = 1024
	// DefaultTCPMaxQueries bounds the queries answered on one TCP connection
	// before it is closed; the client opens a new one (RFC 7766 §6.2.1).
	DefaultTCPMaxQueries = 1000
	// DefaultMaxRecursive bounds the client resolutions in flight at once,
	// as Unbound's num-queries-per-thread (1024 with libevent) does.
	DefaultMaxRecursive = 1024
	// DefaultResolveTimeout bounds one client's wait for a resolution; the
	// resolver's own deadline (10s, as BIND's resolver-query-timeout)
	// normally ends it first.
	DefaultResolveTimeout = 10 * time.Second
)

// minUDPSize is the smallest UDP payload every DNS client accepts
// (RFC 1035 §4.2.1); an EDNS size below it means 512 (RFC 6891 §6.2.5).
const minUDPSize = 512

// Options configure a Server. The zero value of every field selects the
// documented default, so Options{Listen: []string{"127.0.0.1:0"}} is a
// complete configuration.
type Options struct {
	// Listen lists the addresses to serve, each "host:port" ("[::1]:53" for
	// IPv6, ":53" for every address). Each address serves both UDP and TCP on
	// the same port; port 0 picks a free one, the same for both. No default:
	// Start fails when it is empty (a Server without addresses can still
	// answer through Handler).
	Listen []string

	// PacketConns and Listeners are sockets served as they are, besides
	// Listen: the geo testbed hands in sockets wrapped to emulate the
	// latency between regions. A PacketConn that is not a kernel UDP
	// socket is served without IP_PKTINFO. The server closes them at
	// Shutdown. Default none.
	PacketConns []net.PacketConn
	Listeners   []net.Listener

	// UDPSize is the EDNS UDP payload size advertised in responses and the
	// most sent over UDP; a client's smaller size is honoured (never below
	// 512). Default 1232 (DefaultUDPSize); values below 512 mean 512.
	UDPSize uint16

	// TCPIdleTimeout closes a TCP connection that has not completed a query
	// for this long, and bounds the time to write one response. Default 10s.
	TCPIdleTimeout time.Duration

	// TCPMaxConns is the most TCP connections open at once, all listen
	// addresses together; a connection over the limit is closed at once.
	// Default 1024; negative means no limit.
	TCPMaxConns int

	// TCPMaxQueries is the most queries answered on one TCP connection, which
	// bounds pipelining (RFC 7766 §6.2.1.1); the connection is closed after
	// the last. Default 1000; negative means no limit.
	TCPMaxQueries int

	// AuthorityNS adds the answering zone's apex NS RRset to the authority
	// section of positive answers, and the addresses of its servers to the
	// additional section, as NSD and BIND do by default. Default false:
	// minimal responses, as Knot sends: smaller, so less use for
	// amplification, and resolvers do not need them to use the answer.
	AuthorityNS bool

	// Resolver, when set, makes the server a recursive resolver: every query
	// that passes the request checks and comes from a client in Allow is
	// answered by it (RA set, AA clear), from its cache inline and otherwise
	// off the reading goroutine; the zone set is not consulted. Default nil:
	// an authoritative server.
	Resolver Recursor

	// Allow lists the client networks a resolver answers; everyone else
	// gets REFUSED with extended error 18 (Prohibited, RFC 8914), because an
	// open resolver is an amplifier and a cache anyone can probe (RFC 5358
	// §4). IPv4-mapped IPv6 clients match IPv4 prefixes. Default
	// DefaultAllow(): loopback, RFC 1918 and ULA (fc00::/7). SetAllow
	// replaces it while serving. Unused without Resolver.
	Allow []netip.Prefix

	// MaxRecursive bounds the client resolutions in flight at once, UDP and
	// TCP together; cache hits do not count. Over the limit a UDP query is
	// dropped (the client retries, perhaps at another resolver, as it would
	// with Unbound) and a TCP query gets SERVFAIL. Default 1024; negative
	// means no limit.
	MaxRecursive int

	// ResolveTimeout bounds the wait for one resolution; Resolve's context
	// ends then, and at a shutdown whose time is up. Default 10s.
	ResolveTimeout time.Duration

	// Transfers, when set, answers zone transfer requests (AXFR and IXFR,
	// RFC 5936 and RFC 1995) and verifies TSIG on TCP requests (see
	// Transfers; server/xfr.Primary implements it). Default nil: every
	// transfer request is REFUSED. Unused with Resolver.
	Transfers Transfers

	// Notify, when set, answers NOTIFY messages (RFC 1996), over UDP and
	// TCP; server/secondary's Manager.HandleNotify fits. A signed NOTIFY is
	// verified first with the keys of Transfers' TsigProvider (UDP and TCP
	// alike); one that fails is answered NOTAUTH with the TSIG error and
	// not passed on. Default nil: NOTIFY is answered NOTIMP. Unused with
	// Resolver.
	Notify NotifyFunc

	// Logger receives start-up, shut-down and error messages; nothing is
	// logged per query. Default: discard.
	Logger *slog.Logger

	// Registerer receives the server's metrics (see Metrics). Default: a
	// private registry that nothing exports; never the global default one.
	Registerer prometheus.Registerer
}

// withDefaults returns o with every zero field replaced by its default.
func (o Options) withDefaults() Options {
	if o.UDPSize == 0 {
		o.UDPSize = DefaultUDPSize
	}
	o.UDPSize = max(o.UDPSize, minUDPSize)
	if o.TCPIdleTimeout <= 0 {
		o.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if o.TCPMaxConns == 0 {
		o.TCPMaxConns = DefaultTCPMaxConns
	}
	if o.TCPMaxQueries == 0 {
		o.TCPMaxQueries = DefaultTCPMaxQueries
	}
	if o.MaxRecursive == 0 {
		o.MaxRecursive = DefaultMaxRecursive
	}
	if o.ResolveTimeout <= 0 {
		o.ResolveTimeout = DefaultResolveTimeout
	}
	if o.Allow == nil {
		o.Allow = DefaultAllow() // the handler keeps a copy of its own
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	o.Listen = append([]string(nil), o.Listen...)
	return o
}

// Transfers serves zone transfers for the server. It is an interface so that
// the server needs nothing of how transfers are decided and built
// (server/xfr does that), and tests can put a fake in its place.
type Transfers interface {
	// ServeTransfer answers r, a query for AXFR or IXFR that passed the
	// request checks, on w, writing every message itself: a transfer over
	// TCP can take many (RFC 5936 §2.2). Over UDP w is the server's UDP
	// writer, whose TsigStatus is always nil (TSIG is verified on TCP
	// only).
	ServeTransfer(w dns.ResponseWriter, r *dns.Msg)
	// ObserveSOA is told of every SOA query answered from a zone (its
	// origin) and the client that asked: secondaries poll the SOA (RFC 1034
	// §4.3.5), and the primary tracks them.
	ObserveSOA(client netip.Addr, origin string)
	// TsigProvider verifies the TSIG of requests over TCP and signs the
	// responses that carry one (RFC 8945). The server takes it once, at
	// Start: to change keys while running, return one provider that
	// consults the current keys (server/xfr.Primary does). nil when no key
	// is known: signed requests then get BADKEY.
	TsigProvider() dns.TsigProvider
}
