package server

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Recursor answers recursive questions for a server in resolver mode
// (Options.Resolver). *resolver.Resolver is one, through a small adapter in
// cmd/meridian: this package does not import the resolver, whose tests run
// authoritative servers of this package.
//
// m is the reply being built: ID, opcode, question, RD, CD and RA are set.
// A Recursor adds the answer, authority and additional sections and the
// rcode, never an OPT record: the server adds its own, sized for the client
// (RFC 6891 §7), and puts Resolution.EDE in it.
type Recursor interface {
	// FromCache answers q into m from the cache alone and reports whether
	// it could; on false it leaves m as it was. It runs on the goroutine
	// that reads the UDP socket, so it must not wait for anything.
	FromCache(m *dns.Msg, q dns.Question) (Resolution, bool)

	// Resolve answers q into m, resolving it if need be; with rd false
	// (the client asked for no recursion) from the cache only, which must
	// not block either. It returns when the answer is ready or ctx ends,
	// with an answer (SERVFAIL if nothing better) in both cases.
	Resolve(ctx context.Context, m *dns.Msg, q dns.Question, rd bool) Resolution
}

// Resolution says how a Recursor answered.
type Resolution struct {
	// EDE is the extended DNS error (RFC 8914) to send in the response's
	// OPT record when the client sent EDNS, or nil.
	EDE *dns.EDNS0_EDE
}

// DefaultAllow returns the client networks a resolver answers by default:
// loopback, the RFC 1918 private ranges and IPv6 unique local addresses
// (RFC 4193), the networks a resolver on a host or a LAN serves. Anything
// wider has to be configured: RFC 5358 §4 asks that a recursive server
// answer only the clients it is meant for.
func DefaultAllow() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("fc00::/7"),
	}
}

// SetAllow replaces the client networks a resolver answers (Options.Allow).
// Queries being answered are not affected; the next ones are checked
// against the new list. nil restores DefaultAllow(); an empty list refuses
// everyone.
func (s *Server) SetAllow(allow []netip.Prefix) { s.handler.setAllow(allow) }

// Allow returns the client networks a resolver answers.
func (s *Server) Allow() []netip.Prefix {
	return append([]netip.Prefix(nil), *s.handler.allow.Load()...)
}

func (h *Handler) setAllow(allow []netip.Prefix) {
	if allow == nil {
		allow = DefaultAllow()
	}
	list := make([]netip.Prefix, len(allow))
	for i, p := range allow {
		list[i] = p.Masked()
	}
	h.allow.Store(&list)
}

// allowed reports whether a client at a may be answered. The lists are a
// handful of prefixes, so a scan beats any tree.
func (h *Handler) allowed(a netip.Addr) bool {
	// A zone (fe80::1%eth0) would make Contains false for every prefix.
	a = a.Unmap().WithZone("")
	for _, p := range *h.allow.Load() {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr returns the address of the client behind w. Our UDP writer
// gives it without building a net.Addr.
func clientAddr(w dns.ResponseWriter) netip.Addr {
	if u, ok := w.(*udpWriter); ok {
		return u.addr.Addr()
	}
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr()
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	}
	return netip.Addr{}
}

// recursive answers, in resolver mode, a query that passed the request
// checks: REFUSED for a client outside the allow list, else from the cache
// inline; a miss that needs a resolution is left to resolveMiss.
func (h *Handler) recursive(x *exchange, r *dns.Msg) action {
	m := &x.msg
	q := &x.q[0]
	if !h.allowed(x.client) {
		// RFC 5358 §4; RFC 8914 §4.19 names the reason.
		h.metrics.aclRefused.Inc()
		m.Rcode = dns.RcodeRefused
		x.ede = &h.prohibited
		return actWrite
	}
	m.RecursionAvailable = true
	// RFC 4035 §3.2.2: a recursive server copies CD into the response.
	m.CheckingDisabled = r.CheckingDisabled
	if q.Qclass != dns.ClassINET {
		// The cache and the iterator hold class IN only, and a QCLASS=*
		// answer could never be known complete (RFC 1035 §6.2).
		m.Rcode = dns.RcodeRefused
		return actWrite
	}
	x.zone = recursiveZone
	if res, ok := h.rec.FromCache(m, *q); ok {
		x.took(res)
		return actWrite
	}
	if !r.RecursionDesired {
		// RD=0: from the cache only, a referral to the closest known cut
		// on a miss (RFC 1034 §4.3.1); it does not block.
		clearSections(m)
		x.took(h.rec.Resolve(h.ctx, m, *q, false))
		return actWrite
	}
	return actResolve
}

// took finishes a Recursor's answer in x: the additional section goes
// where fit expects it, and the EDE into the OPT record.
func (x *exchange) took(res Resolution) {
	m := &x.msg
	m.Authoritative = false // RFC 1035 §4.1.1: a cache is not an authority
	x.additional, m.Extra = m.Extra, nil
	x.ede = res.EDE
}

// asyncWriter is a ResponseWriter whose reader can move on to the next
// query while this one is answered: our UDP readers and TCP connections.
type asyncWriter interface {
	// async runs answer on a goroutine of its own, with a writer that
	// stays valid after the reader has moved on, and reports whether it
	// did.
	async(answer func(w dns.ResponseWriter)) bool
}

// resolveMiss resolves a cache miss and writes the answer. A query read by
// one of our UDP readers or TCP connections is handed to a goroutine, so
// that the reader goes back to the socket and cache hits, and on TCP the
// queries pipelined behind this one, keep flowing while upstream servers
// are slow; then it returns true and the goroutine owns x. Anywhere else
// it resolves in place and returns false.
//
// Each resolution holds a slot of Options.MaxRecursive. Without one, a UDP
// query is dropped: the client retries after its timeout, perhaps at
// another server, where SERVFAIL would make it give up or be cached as a
// failure (RFC 9520). A TCP client holds a connection, so it gets SERVFAIL
// at once instead of a silence that lasts the idle timeout.
func (h *Handler) resolveMiss(w dns.ResponseWriter, x *exchange, start time.Time) bool {
	if !h.acquire() {
		h.metrics.overflow(x.tcp)
		if x.tcp {
			x.msg.Rcode = dns.RcodeServerFailure
			h.write(w, x, start)
		}
		return false
	}
	if a, ok := w.(asyncWriter); ok && a.async(func(w dns.ResponseWriter) {
		h.resolve(x)
		h.write(w, x, start)
		h.put(x)
	}) {
		return true
	}
	h.resolve(x)
	h.write(w, x, start)
	return false
}

// resolve runs one resolution within Options.ResolveTimeout, or until a
// shutdown runs out of time, and gives its slot back.
func (h *Handler) resolve(x *exchange) {
	defer h.release()
	ctx, cancel := context.WithTimeout(h.ctx, h.resolveTimeout)
	defer cancel()
	m := &x.msg
	clearSections(m)
	x.took(h.rec.Resolve(ctx, m, x.q[0], true))
}

// clearSections undoes whatever a FromCache that missed may have left in
// m, so that Resolve starts from the bare reply.
func clearSections(m *dns.Msg) {
	m.Answer, m.Ns, m.Extra, m.Rcode = nil, nil, nil, dns.RcodeSuccess
}

// acquire takes a slot for a resolution, without waiting.
func (h *Handler) acquire() bool {
	n := h.inflight.Add(1)
	if limit := h.maxRecursive.Load(); limit > 0 && n > limit {
		h.inflight.Add(-1)
		return false
	}
	h.metrics.recursions.Inc()
	return true
}

func (h *Handler) release() {
	h.metrics.recursions.Dec()
	h.inflight.Add(-1)
}

// SetMaxRecursive changes Options.MaxRecursive of a running server, for a
// reload: resolutions beyond a lowered limit finish; new ones wait for the
// count to drop below it. 0 means no limit.
func (s *Server) SetMaxRecursive(n int) { s.handler.maxRecursive.Store(int64(max(n, 0))) }
