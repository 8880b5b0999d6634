package server

import (
	"log/slog"
	"time"

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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	o.Listen = append([]string(nil), o.Listen...)
	return o
}
