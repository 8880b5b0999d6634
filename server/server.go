// Package server answers DNS queries over UDP and TCP from a set of zones,
// or, given a Recursor (Options.Resolver), as a recursive resolver: it owns
// the listeners, checks each request (opcode, class, question count, EDNS),
// asks the zone set or the resolver, maps the result to a response code and
// flags, fits the response to the client's size, writes it once, and
// counts it.
//
// The zone set is swapped whole (SetZones) behind an atomic pointer, so a
// query never waits for a reload and always sees one consistent version;
// so is a resolver's allow list (SetAllow).
//
// UDP is served by reader goroutines of our own that answer inline (see
// udpServer); TCP, with a connection limit around its listener, by a
// connection loop of our own for a resolver (tcpServer), which answers
// pipelined queries concurrently, and by miekg's dns.Server for an
// authority, whose transfers need its TSIG handling. All end in Handler,
// which needs no socket. A resolver answers cache hits inline too, and
// hands each miss to a goroutine of its own, bounded by
// Options.MaxRecursive.
//
// Zone transfers (AXFR, IXFR) are handed to Options.Transfers, which writes
// its own, possibly many, messages (server/xfr implements it); without it
// they are REFUSED.
//
// Metrics, registered on the injected Registerer:
//
//	meridian_server_queries_total{zone,qtype,rcode,transport}  counter
//	meridian_server_response_duration_seconds{transport}       histogram
//	meridian_server_response_size_bytes{transport}             histogram
//	meridian_server_truncated_responses_total                  counter
//	meridian_server_dropped_queries_total{reason}              counter
//	meridian_server_tcp_connections                            gauge
//	meridian_server_tcp_rejected_connections_total             counter
//	meridian_server_acl_refused_queries_total                  counter (resolver)
//	meridian_server_recursions_in_flight                       gauge (resolver)
//	meridian_server_recursions_rejected_total{transport}       counter (resolver)
//	meridian_zone_serial{zone}                                 gauge
//	meridian_zone_records{zone}                                gauge
//	meridian_zone_failed{zone}                                 gauge
//	meridian_zone_reloads_total{zone,result}                   counter
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

// udpReadSize is the largest query read over UDP; larger datagrams are cut
// and answered FORMERR. Queries are small: this leaves room for EDNS
// padding and cookies.
const udpReadSize = 4096

// Server serves the current zone set on every listen address, over UDP and
// TCP. Create it with New, give it zones with SetZones, then Start it; stop
// it with Shutdown. A Server is not restarted after Shutdown.
type Server struct {
	opts    Options
	handler *Handler
	metrics *metrics
	slots   chan struct{} // the TCP connection limit, shared by all listeners

	setMu sync.Mutex // serialises SetZones, so metrics and zones agree

	mu        sync.Mutex
	started   bool
	stopped   bool
	servers   []*dns.Server // TCP for an authority, one per listener
	tcp       []*tcpServer  // TCP for a resolver, one per listener
	udp       []*udpServer
	listeners []*limitListener
	addrs     []net.Addr
	running   sync.WaitGroup // the dns.Server and tcpServer goroutines
	serving   atomic.Bool    // between a successful Start and Shutdown, for Health
}

// New checks the options and registers the metrics. It opens no socket.
func New(opts Options) (*Server, error) {
	opts = opts.withDefaults()
	m, err := newMetrics(opts.Registerer, opts.Resolver != nil)
	if err != nil {
		return nil, fmt.Errorf("server: register metrics: %w", err)
	}
	for _, a := range opts.Listen {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("server: listen address %q: %w", a, err)
		}
	}
	s := &Server{opts: opts, metrics: m, handler: newHandler(opts, m)}
	if opts.TCPMaxConns > 0 {
		s.slots = make(chan struct{}, opts.TCPMaxConns)
	}
	return s, nil
}

// Handler returns the server's query handler, which answers from the same
// zone set as the server and needs no socket.
func (s *Server) Handler() *Handler { return s.handler }

// SetZones makes set the zones served. Queries in flight finish with the set
// they started with; the next ones see the new set. A nil set serves nothing
// (every query REFUSED).
func (s *Server) SetZones(set *zone.Set) {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	s.metrics.setZones(set)
	s.handler.zones.Store(set)
}

// Zones returns the zone set being served, or nil before SetZones.
func (s *Server) Zones() *zone.Set { return s.handler.zones.Load() }

// ObserveReload counts one load of a zone's file, successful or not, in
// meridian_zone_reloads_total. The caller loads zones (at start-up and on
// every reload) and calls this for each before SetZones.
func (s *Server) ObserveReload(origin string, ok bool) { s.metrics.reload(origin, ok) }

// Health returns nil when zones are set and every one of them loaded, else
// an error naming what is missing. A zone whose reload failed but which
// still serves its previous version counts as loaded. A resolver is healthy
// while it serves: after Start, before Shutdown.
func (s *Server) Health() error {
	if s.opts.Resolver != nil {
		if !s.serving.Load() {
			return errors.New("not serving (starting or shutting down)")
		}
		return nil
	}
	set := s.Zones()
	if set == nil {
		return errors.New("no zones loaded yet")
	}
	var failed []string
	for _, z := range set.Zones() {
		if err := z.Err(); err != nil {
			failed = append(failed, fmt.Sprintf("zone %s: %v", z.Origin(), err))
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// Start binds every listen address, UDP and TCP, and returns once all of
// them are serving, or with the first error (then nothing is left open). ctx
// bounds the start-up only; Shutdown stops the server.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.started || s.stopped:
		return errors.New("server: already started")
	case len(s.opts.Listen) == 0 && len(s.opts.PacketConns) == 0 && len(s.opts.Listeners) == 0:
		return errors.New("server: no listen address")
	}
	s.started = true
	n := len(s.opts.Listen) + len(s.opts.Listeners)
	ready := make(chan struct{}, n)
	failed := make(chan error, n)
	for _, addr := range s.opts.Listen {
		ln, pc, err := bind(ctx, addr)
		if err != nil {
			s.abort()
			return fmt.Errorf("server: listen %s: %w", addr, err)
		}
		ll := newLimitListener(ln, s.slots, s.opts.TCPIdleTimeout, s.metrics)
		s.listeners = append(s.listeners, ll)
		s.addrs = append(s.addrs, pc.LocalAddr(), ln.Addr())
		u := newUDPServer(pc, s.handler)
		u.start() // ready at once: the socket is bound and queues datagrams
		s.udp = append(s.udp, u)
		s.serveTCP(ll, ready, failed)
	}
	for _, pc := range s.opts.PacketConns {
		u := newUDPServer(pc, s.handler)
		u.start()
		s.udp = append(s.udp, u)
		s.addrs = append(s.addrs, pc.LocalAddr())
	}
	for _, ln := range s.opts.Listeners {
		ll := newLimitListener(ln, s.slots, s.opts.TCPIdleTimeout, s.metrics)
		s.listeners = append(s.listeners, ll)
		s.addrs = append(s.addrs, ln.Addr())
		s.serveTCP(ll, ready, failed)
	}
	for range len(s.servers) + len(s.tcp) {
		select {
		case <-ready:
		case err := <-failed:
			s.abort()
			return fmt.Errorf("server: %w", err)
		case <-ctx.Done():
			s.abort()
			return ctx.Err()
		}
	}
	for _, a := range s.addrs {
		s.opts.Logger.Debug("listening", "addr", a.String(), "net", a.Network())
	}
	s.serving.Store(true)
	return nil
}

// serveTCP serves one TCP listener: a resolver's with tcpServer, an
// authority's with miekg's server.
func (s *Server) serveTCP(ln *limitListener, ready chan<- struct{}, failed chan<- error) {
	if s.opts.Resolver == nil {
		s.serve(s.miekgServer(ln, ready), failed)
		return
	}
	t := newTCPServer(ln, s.handler, s.opts.TCPIdleTimeout, s.opts.TCPMaxQueries)
	s.tcp = append(s.tcp, t)
	ready <- struct{}{} // the listener is bound already
	s.running.Go(func() {
		if err := t.serve(); err != nil {
			s.opts.Logger.Error("DNS server stopped", "err", err)
		}
		t.wait() // the connections, closed by a shutdown out of time
	})
}

// miekgServer configures miekg's server for one TCP listener. It never
// falls back on dns.DefaultServeMux: the handler is always ours.
func (s *Server) miekgServer(ln net.Listener, ready chan<- struct{}) *dns.Server {
	h := s.handler
	idle := s.opts.TCPIdleTimeout
	var tsig dns.TsigProvider
	if s.opts.Transfers != nil {
		// RFC 8945: miekg verifies a request's TSIG before the handler
		// runs (the result is w.TsigStatus) and signs responses that
		// carry a TSIG RR; the transfer code maps failures to BADKEY,
		// BADSIG and BADTIME.
		tsig = s.opts.Transfers.TsigProvider()
	}
	return &dns.Server{
		TsigProvider:      tsig,
		Listener:          ln,
		Handler:           h,
		MsgAcceptFunc:     func(dh dns.Header) dns.MsgAcceptAction { return h.accept(dh, true) },
		MsgInvalidFunc:    func(m []byte, _ error) { h.invalid(m, true) },
		NotifyStartedFunc: func() { ready <- struct{}{} },
		ReadTimeout:       idle, // the first query too (RFC 7766 §6.2.3)
		IdleTimeout:       func() time.Duration { return idle },
		MaxTCPQueries:     s.opts.TCPMaxQueries,
	}
}

// serve runs srv until Shutdown; an error before it is ready goes to failed.
func (s *Server) serve(srv *dns.Server, failed chan<- error) {
	s.servers = append(s.servers, srv)
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		if err := srv.ActivateAndServe(); err != nil {
			select {
			case failed <- err:
			default:
			}
			s.opts.Logger.Error("DNS server stopped", "err", err)
		}
	}()
}

// abort closes whatever a failed Start opened. s.mu is held.
func (s *Server) abort() {
	for _, srv := range s.servers {
		srv.Shutdown() //nolint:errcheck // not started yet is fine
		srv.Listener.Close()
	}
	for _, t := range s.tcp {
		t.shutdown(context.Background()) //nolint:errcheck // cannot time out
	}
	for _, u := range s.udp {
		u.shutdown(context.Background()) //nolint:errcheck // cannot time out
	}
	for _, ll := range s.listeners {
		ll.closeAll()
	}
	s.running.Wait()
	s.servers, s.tcp, s.udp, s.listeners, s.addrs = nil, nil, nil, nil, nil
	s.stopped = true
}

// Addrs returns the bound addresses: for each Listen entry in order, its UDP
// address (*net.UDPAddr) then its TCP address (*net.TCPAddr), which have the
// same port. Empty before Start and after Shutdown.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Shutdown stops accepting queries and waits for those in flight to be
// answered, resolutions included, or for ctx to end, when it cancels the
// resolutions, closes the remaining connections and returns ctx's error.
// Calling it again, or before Start, does nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.handler.cancel() // nothing resolves after a shutdown
	if !s.started || s.stopped {
		s.stopped = true
		return nil
	}
	s.stopped = true
	s.serving.Store(false)
	stop := context.AfterFunc(ctx, s.handler.cancel)
	defer stop()
	var errMu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	collect := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	for _, srv := range s.servers {
		wg.Go(func() { collect(srv.ShutdownContext(ctx)) })
	}
	for _, t := range s.tcp {
		wg.Go(func() { collect(t.shutdown(ctx)) })
	}
	for _, u := range s.udp {
		wg.Go(func() { collect(u.shutdown(ctx)) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		for _, ll := range s.listeners {
			ll.closeAll()
		}
	}
	s.running.Wait()
	s.servers, s.tcp, s.udp, s.listeners, s.addrs = nil, nil, nil, nil, nil
	s.opts.Logger.Info("DNS server stopped")
	return errors.Join(errs...)
}
