package server

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

// Handler answers DNS queries from the current zone set. It implements
// dns.Handler, so it runs under miekg's dns.Server, and it needs no socket:
// tests, benchmarks and the fuzz target call ServeDNS with a fake writer.
//
// A query is checked, looked up, mapped to an rcode and flags in one switch
// (respond), fitted to the client's size (fit) and written exactly once.
// Everything per query comes from a pool, so the handler itself does not
// allocate on the hot path (see BenchmarkHandler).
type Handler struct {
	zones   atomic.Pointer[zone.Set]
	udpSize uint16
	authNS  bool // Options.AuthorityNS
	metrics *metrics
	log     *slog.Logger
	pool    sync.Pool // of *exchange
	ident   atomic.Pointer[identity]

	// Resolver mode (Options.Resolver); rec is nil on an authority.
	rec            Recursor
	xfr            Transfers  // Options.Transfers; nil: transfers refused
	notify         NotifyFunc // Options.Notify; nil: NOTIFY is NOTIMP
	allow          atomic.Pointer[[]netip.Prefix]
	inflight       atomic.Int64 // resolutions holding a slot
	maxRecursive   atomic.Int64 // Options.MaxRecursive, or SetMaxRecursive's; 0: no limit
	resolveTimeout time.Duration
	prohibited     dns.EDNS0_EDE // for clients outside allow
	// ctx is the lifetime of resolutions: cancelled when a shutdown runs
	// out of time, so that none outlives the server.
	ctx    context.Context
	cancel context.CancelFunc
}

func newHandler(opts Options, m *metrics) *Handler {
	h := &Handler{udpSize: opts.UDPSize, authNS: opts.AuthorityNS, metrics: m, log: opts.Logger,
		rec: opts.Resolver, xfr: opts.Transfers, notify: opts.Notify, resolveTimeout: opts.ResolveTimeout,
		prohibited: dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeProhibited}}
	h.pool.New = func() any { return &exchange{buf: make([]byte, 2048)} }
	h.setIdentity(Identity{})
	h.setAllow(opts.Allow)
	h.maxRecursive.Store(int64(max(opts.MaxRecursive, 0)))
	if h.rec != nil {
		h.notify = nil // a resolver has no secondary zones
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

// action is what becomes of a query once respond has looked at it.
type action uint8

const (
	actWrite    action = iota // the response in the exchange is ready
	actDrop                   // no response: the query was a response
	actResolve                // resolver mode: a cache miss to resolve
	actTransfer               // an AXFR or IXFR for Options.Transfers
	actNotify                 // a NOTIFY for Options.Notify
)

// exchange is the reusable state of one query: the zone lookup's result, the
// response being built and its wire buffer.
type exchange struct {
	res        zone.Result
	msg        dns.Msg
	opt        dns.OPT
	q          [1]dns.Question
	additional []dns.RR // the additional records to send, OPT aside
	extra      []dns.RR // the additional section as packed: a prefix of additional, then OPT
	bounds     []int    // truncation: where the RRsets of answer and authority end
	buf        []byte
	edns       edns
	withOPT    bool
	tcp        bool
	qtype      int    // the question's type for metrics, or -1 without one
	zone       string // metrics label: the answering zone's origin, noZone or recursiveZone

	// Resolver mode.
	client  netip.Addr     // the client's address
	ede     *dns.EDNS0_EDE // an extended error for the OPT record, or nil
	options [2]dns.EDNS0   // the OPT record's options: EDE, NSID
}

// reset prepares x for a new query.
func (x *exchange) reset(tcp bool) {
	x.msg = dns.Msg{Compress: true}
	x.edns = edns{}
	x.withOPT = false
	x.tcp = tcp
	x.qtype = -1
	x.zone = noZone
	x.ede = nil
}

// release drops every reference into the request and the zones, so that a
// pooled exchange does not keep a replaced zone alive; it keeps capacity.
func (x *exchange) release() {
	x.res.Reset()
	clear(x.extra[:cap(x.extra)])
	x.extra, x.additional = x.extra[:0], nil
	x.msg = dns.Msg{}
	x.q[0] = dns.Question{}
	x.ede, x.opt.Option = nil, nil
	clear(x.options[:])
}

// ServeDNS answers r on w. It writes at most one message: a response to a
// response is dropped, everything else gets an answer.
func (h *Handler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	start := time.Now()
	x := h.pool.Get().(*exchange)
	_, tcp := w.LocalAddr().(*net.TCPAddr)
	x.reset(tcp)
	if h.rec != nil || h.xfr != nil {
		x.client = clientAddr(w)
	}
	switch h.respond(x, r) {
	case actDrop:
		h.metrics.drop(dropResponse)
	case actWrite:
		if t := r.IsTsig(); t != nil {
			h.writeSigned(w, x, r, t, start)
		} else {
			h.write(w, x, start)
		}
	case actResolve:
		if h.resolveMiss(w, x, start) {
			return // a goroutine answers, and puts x back
		}
	case actTransfer:
		h.xfr.ServeTransfer(w, r) // writes its own messages and counts them
	case actNotify:
		h.serveNotify(w, r)
	}
	h.put(x)
}

// write fits the response in x to the client's limit, writes it and counts
// it.
func (h *Handler) write(w dns.ResponseWriter, x *exchange, start time.Time) {
	out, truncated := h.fit(x)
	if _, err := w.Write(out); err != nil {
		h.log.Debug("write response", "remote", w.RemoteAddr(), "err", err)
		return
	}
	h.metrics.observe(x, len(out), truncated, time.Since(start))
}

// put returns x to the pool, holding nothing of this query.
func (h *Handler) put(x *exchange) {
	x.release()
	h.pool.Put(x)
}

// respond builds the response to r in x.msg, except the additional section,
// which fit assembles, and says what to do with it.
func (h *Handler) respond(x *exchange, r *dns.Msg) action {
	m := &x.msg
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	m.RecursionDesired = r.RecursionDesired // RFC 1035 §4.1.1
	switch {
	case r.Response:
		return actDrop // RFC 1035 §4.1.1: QR=1 is not a query
	case r.Opcode == dns.OpcodeNotify && h.notify != nil:
		return actNotify // the hook checks the question (RFC 1996 §3.7)
	case r.Opcode != dns.OpcodeQuery:
		// NOTIFY, UPDATE and the rest are not implemented. Like NSD, the
		// error carries no question: its format depends on the opcode.
		m.Rcode = dns.RcodeNotImplemented
		return actWrite
	case len(r.Question) != 1 || len(r.Answer) != 0 ||
		(len(r.Ns) != 0 && r.Question[0].Qtype != dns.TypeIXFR):
		// A query has one question and, but for IXFR (RFC 1995 §3), no
		// answer or authority records. No question in the error, as NSD.
		m.Rcode = dns.RcodeFormatError
		return actWrite
	}
	x.edns = parseEDNS(r)
	if x.edns.state == ednsBad {
		m.Rcode = dns.RcodeFormatError // RFC 6891 §6.1.1, answered without OPT
		return actWrite
	}
	// The question is echoed as sent: the client matches it byte for byte,
	// case included (RFC 5452 §4.1 and the 0x20 trick).
	x.q[0] = r.Question[0]
	m.Question = x.q[:1]
	q := &x.q[0]
	x.qtype = int(q.Qtype)
	switch {
	case x.edns.state == ednsBadVer:
		m.Rcode = dns.RcodeBadVers // RFC 6891 §6.1.3, with an OPT of version 0
		return actWrite
	case q.Qclass == dns.ClassCHAOS:
		return h.chaos(x)
	case q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY:
		m.Rcode = dns.RcodeRefused // we serve class IN only
		return actWrite
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		if h.xfr == nil || h.rec != nil {
			m.Rcode = dns.RcodeRefused // no transfers without a primary
			return actWrite
		}
		return actTransfer
	case h.rec != nil:
		return h.recursive(x, r)
	}
	h.zones.Load().Lookup(q.Name, q.Qtype, x.edns.do, &x.res)
	if x.res.Zone != nil {
		x.zone = x.res.Zone.Origin()
		if q.Qtype == dns.TypeSOA && h.xfr != nil && x.res.Kind == zone.Success {
			h.xfr.ObserveSOA(x.client, x.zone)
		}
	}
	m.Rcode, m.Authoritative = rcodeFor(&x.res)
	if q.Qclass == dns.ClassANY {
		// RFC 1035 §6.2: the server cannot know it holds every class, so
		// the answer to QCLASS=* is never authoritative (NSD agrees).
		m.Authoritative = false
	}
	switch x.res.Kind {
	case zone.NotAuth, zone.ServFail:
		return actWrite // no records with REFUSED or SERVFAIL
	}
	if h.authNS && x.res.Kind == zone.Success {
		addApexNS(&x.res, q.Qtype, x.edns.do)
	}
	m.Answer, m.Ns, x.additional = x.res.Answer, x.res.Ns, x.res.Extra
	if q.Qtype == dns.TypeANY && !x.tcp && x.res.Kind == zone.Success {
		minimalANY(x)
	}
	return actWrite
}

// addApexNS puts the answering zone's NS RRset in the authority section of a
// positive answer and its servers' addresses in the additional section, as
// NSD does, leaving out what the answer already holds (the records are the
// zone's own, so pointer comparison finds the duplicates). Like NSD, only
// when the answer ends in data of the type asked (not in a CNAME loop), and
// not for DS, which is answered from the parent side of a cut, nor for
// DNSKEY, whose answers are large enough already. With do, each RRset comes
// with its signatures (RFC 4035 §3.1.1).
func addApexNS(res *zone.Result, qtype uint16, do bool) {
	ns, addrs := res.Zone.ApexNS()
	if do {
		ns, addrs = res.Zone.ApexNSSigned()
	}
	if len(ns) == 0 || qtype == dns.TypeDS || qtype == dns.TypeDNSKEY ||
		slices.Contains(res.Answer, ns[0]) || !endsInData(res.Answer, qtype) {
		return
	}
	res.Ns = append(res.Ns, ns...)
	// addrs lists each address RRset followed by its signatures. The
	// signatures follow the decision taken for their RRset: an answer to
	// QTYPE=RRSIG holds a signature without the address it covers, and
	// the address still goes, signed.
	skip := false
	for _, rr := range addrs {
		if rr.Header().Rrtype != dns.TypeRRSIG {
			skip = slices.Contains(res.Answer, rr) || slices.Contains(res.Extra, rr)
		}
		if !skip && !slices.Contains(res.Extra, rr) {
			res.Extra = append(res.Extra, rr)
		}
	}
}

// endsInData reports whether the answer's last RRset, signatures aside, is of
// type qtype (any type for ANY), rather than a CNAME that led nowhere.
func endsInData(answer []dns.RR, qtype uint16) bool {
	for i := len(answer) - 1; i >= 0; i-- {
		t := answer[i].Header().Rrtype
		switch {
		case qtype == dns.TypeANY || t == qtype:
			return true
		case t != dns.TypeRRSIG:
			return false
		}
	}
	return false
}

// rcodeFor maps a lookup's result kind to the response code and the AA flag.
// It is the one place that decides them, so that the differential tests
// against NSD have one thing to adjust.
func rcodeFor(res *zone.Result) (rcode int, aa bool) {
	switch res.Kind {
	case zone.Success, zone.CNAMEOut, zone.NoData:
		return dns.RcodeSuccess, true
	case zone.NXDomain:
		return dns.RcodeNameError, true
	case zone.YXDomain:
		return dns.RcodeYXDomain, true // RFC 6672 §2.2
	case zone.Referral:
		// Not authoritative for what lies below the cut (RFC 1034
		// §4.3.2 step 3b), unless the answer holds a CNAME chain that
		// our zone's data produced before reaching the cut.
		return dns.RcodeSuccess, len(res.Answer) > 0
	case zone.NotAuth:
		return dns.RcodeRefused, false
	default:
		return dns.RcodeServerFailure, false
	}
}

// minimalANY keeps the first RRset of an answer to QTYPE=ANY over UDP, with
// its signatures, and drops the authority and additional sections, as NSD
// and Knot do (RFC 8482 §4.1). Over TCP the whole answer goes, where it
// cannot be used for amplification.
func minimalANY(x *exchange) {
	m := &x.msg
	if len(m.Answer) > 0 {
		m.Answer = m.Answer[:rrsetEnd(m.Answer, 0)]
	}
	m.Ns, x.additional = nil, nil
}

// accept is the dns.Server's MsgAcceptFunc: it looks at the header only,
// before miekg unpacks the rest, and rejects what can never be a valid query
// as cheaply as possible. miekg writes those errors itself (FORMERR or
// NOTIMP, without question or OPT, as NSD does); they are counted here.
func (h *Handler) accept(dh dns.Header, tcp bool) dns.MsgAcceptAction {
	const qr = 1 << 15
	switch {
	case dh.Bits&qr != 0:
		h.metrics.drop(dropResponse)
		return dns.MsgIgnore
	case int(dh.Bits>>11)&0xF == dns.OpcodeNotify && h.notify != nil:
		// RFC 1996 §3.7: one question, perhaps the new SOA in answer.
		if dh.Qdcount != 1 || dh.Ancount > 1 || dh.Nscount != 0 || dh.Arcount > 2 {
			h.metrics.reject(dns.RcodeFormatError, tcp)
			return dns.MsgReject
		}
		return dns.MsgAccept
	case int(dh.Bits>>11)&0xF != dns.OpcodeQuery:
		h.metrics.reject(dns.RcodeNotImplemented, tcp)
		return dns.MsgRejectNotImplemented
	case dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount > 1 || dh.Arcount > 2:
		// One question; an SOA in authority for IXFR; OPT and TSIG in
		// additional at most.
		h.metrics.reject(dns.RcodeFormatError, tcp)
		return dns.MsgReject
	}
	return dns.MsgAccept
}

// invalid is the dns.Server's MsgInvalidFunc: miekg calls it for a message
// it could not unpack. With a whole header miekg answers FORMERR; shorter
// messages are dropped.
func (h *Handler) invalid(m []byte, tcp bool) {
	if len(m) < headerSize {
		h.metrics.drop(dropMalformed)
		return
	}
	h.metrics.reject(dns.RcodeFormatError, tcp)
}

const headerSize = 12
