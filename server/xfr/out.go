package xfr

import (
	"encoding/hex"
	"errors"
	"iter"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
	"github.com/meridian-dns/meridian/zone/diff"
	"github.com/meridian-dns/meridian/zone/serial"
)

// maxMessage bounds the uncompressed size of the answer records of one
// transfer message. A TCP message can be 65535 bytes (RFC 1035 §4.2.2);
// 1 KiB is left for the header, the question (a name is at most 255
// octets) and the TSIG RR that WriteMsg appends (about 100 to 200 octets).
const maxMessage = dns.MaxMsgSize - 1024

// ednsSize is the UDP payload size advertised in transfer responses; it is
// the server's default, and matters only to IXFR over UDP.
const ednsSize = 1232

// TsigProvider returns the provider the TCP server verifies requests with
// and signs responses with, and the server's UDP path verifies NOTIFYs and
// signed queries with. It implements server.Transfers. It is one object
// for the Primary's life, which the server takes once at start, and it
// uses the keys current at each call (SetKeys). It is never nil, even
// without keys: then it answers every signed request BADKEY, where a nil
// provider would leave miekg's server verifying nothing.
func (p *Primary) TsigProvider() dns.TsigProvider { return &p.keys }

// request is one transfer being answered.
type request struct {
	w      dns.ResponseWriter
	r      *dns.Msg
	tsig   *dns.TSIG // the request's verified TSIG, or nil
	keys   keyring   // with tsig: the keys that sign the answer
	mac    string    // with tsig: the MAC that the next message's MAC covers
	kind   string    // "axfr" or "ixfr", for metrics
	client netip.Addr
	bytes  int
	msgs   int
	buf    []byte // packing buffer, reused for each message
}

// ServeTransfer answers r, an AXFR or IXFR query, on w, writing as many
// messages as it takes. It implements server.Transfers.
//
// The order of the checks follows the RFCs: TSIG first (RFC 8945 §5.2,
// before anything else in the message is trusted), then the zone (NOTAUTH
// when it is not one of ours, RFC 5936 §2.2.1), then the ACL (REFUSED).
func (p *Primary) ServeTransfer(w dns.ResponseWriter, r *dns.Msg) {
	start := p.now()
	q := r.Question[0]
	req := &request{w: w, r: r, kind: "axfr", client: remoteAddr(w)}
	if q.Qtype == dns.TypeIXFR {
		req.kind = "ixfr"
	}
	outcome := p.serve(req)
	p.metrics.transfer(req.kind, outcome, req.bytes, p.now().Sub(start))
}

// serve answers req and returns the outcome for the metrics.
func (p *Primary) serve(req *request) string {
	if _, tcp := req.w.RemoteAddr().(*net.TCPAddr); !tcp {
		return p.serveUDP(req)
	}
	zs := p.authorize(req)
	if zs == nil {
		return "refused"
	}
	z := zs.cur.Load()
	if req.kind == "ixfr" {
		return p.serveIXFR(req, zs, z)
	}
	err := req.send(axfrRecords(z))
	if err == nil {
		p.observe(req.client, zs.origin, z.Serial(), true)
	}
	return req.outcome(err)
}

// authorize returns the zone req asks for, or answers the refusal itself
// and returns nil.
func (p *Primary) authorize(req *request) *zoneState {
	q := req.r.Question[0]
	if t := req.r.IsTsig(); t != nil {
		// The keys are read once: the whole transfer is signed with
		// them, even if SetKeys replaces them meanwhile.
		kr := p.keys.load()
		if rcode, ok := p.checkTSIG(req, t, kr); !ok {
			p.log.Warn("transfer refused: TSIG", "client", req.client, "zone", q.Name, "key", t.Hdr.Name, "error", dns.RcodeToString[rcode])
			return nil
		}
		req.tsig, req.keys, req.mac = t, kr, t.MAC
	}
	zs := p.zone(q.Name)
	if zs == nil || zs.cur.Load() == nil {
		req.error(p.notFed(zs, q.Name))
		return nil
	}
	key := ""
	if req.tsig != nil {
		key = dns.CanonicalName(req.tsig.Hdr.Name)
	}
	if !zs.config().ACL.allows(req.client, key) {
		p.log.Warn("transfer refused: not allowed", "client", req.client, "zone", zs.origin, "kind", req.kind, "key", key)
		req.error(dns.RcodeRefused)
		return nil
	}
	return zs
}

// serveIXFR answers an IXFR (RFC 1995 §4) for z, the zone's current
// version: the single SOA to a secondary that is up to date, the
// difference sequences when the journal leads from its serial (in the
// request's authority SOA) to z, else the whole zone, which the client
// recognises by its second record not being an SOA.
func (p *Primary) serveIXFR(req *request, zs *zoneState, z *zone.Zone) string {
	soa, ok := ixfrSOA(req.r)
	if !ok {
		req.error(dns.RcodeFormatError)
		return "error"
	}
	p.observe(req.client, zs.origin, soa.Serial, true)
	have, now := soa.Serial, z.Serial()
	switch serial.Compare(have, now) {
	case serial.EqualTo, serial.GreaterThan:
		return req.outcome(req.send(slices.Values([]dns.RR{z.SOA()})))
	case serial.LessThan:
		if zs.journal != nil {
			if deltas, ok := zs.journal.Since(have); ok && lastTo(deltas) == now {
				return req.outcome(req.send(slices.Values(ixfrRecords(z.SOA(), deltas))))
			}
		}
	}
	return req.outcome(req.send(axfrRecords(z))) // also for an Undefined order
}

// axfrRecords yields the zone as AXFR sends it (RFC 5936 §2.2): the SOA,
// every other record, the SOA again. No order is needed, so the zone is
// walked as it is stored, without sorting or copying it.
func axfrRecords(z *zone.Zone) iter.Seq[dns.RR] {
	return func(yield func(dns.RR) bool) {
		for rr := range z.All() {
			if !yield(rr) {
				return
			}
		}
		yield(z.SOA())
	}
}

// serveUDP answers a transfer request that came over UDP. AXFR is TCP only
// (RFC 5936 §4.2): REFUSED. IXFR gets the current SOA, the answer RFC 1995
// §2 gives when the difference does not fit, which sends the client to
// TCP. That SOA is what any SOA query returns, so it needs no ACL; and TSIG
// is not verified on our UDP path, so a signed request cannot be trusted
// here and the answer is not signed.
func (p *Primary) serveUDP(req *request) string {
	zs := p.zone(req.r.Question[0].Name)
	switch {
	case req.kind == "axfr":
		req.error(dns.RcodeRefused)
		return "refused"
	case zs == nil || zs.cur.Load() == nil:
		req.error(p.notFed(zs, req.r.Question[0].Name))
		return "refused"
	}
	return req.outcome(req.send(slices.Values([]dns.RR{zs.cur.Load().SOA()})))
}

// notFed is the rcode for a transfer of name when zs, its state, is nil or
// has no version yet: REFUSED for a zone the server serves but does not
// feed to secondaries (Options.Served), as its zero ACL would; otherwise
// NOTAUTH, we are not its primary (RFC 5936 §2.2.1).
func (p *Primary) notFed(zs *zoneState, name string) int {
	if zs == nil && p.opts.Served != nil && p.opts.Served(name) {
		return dns.RcodeRefused
	}
	return dns.RcodeNotAuth
}

func lastTo(ds []diff.Delta) uint32 {
	if len(ds) == 0 {
		return 0
	}
	return ds[len(ds)-1].To()
}

// ixfrRecords lays out an incremental answer (RFC 1995 §4): the new SOA,
// then per delta the old SOA and the deletions, the new SOA and the
// additions, and the new SOA again.
func ixfrRecords(soa *dns.SOA, deltas []diff.Delta) []dns.RR {
	n := 2
	for _, d := range deltas {
		n += len(d.Deleted) + len(d.Added)
	}
	rrs := make([]dns.RR, 0, n)
	rrs = append(rrs, soa)
	for _, d := range deltas {
		rrs = append(rrs, d.Deleted...)
		rrs = append(rrs, d.Added...)
	}
	return append(rrs, soa)
}

// ixfrSOA returns the SOA of an IXFR request's authority section, for the
// zone asked.
func ixfrSOA(r *dns.Msg) (*dns.SOA, bool) {
	if len(r.Ns) != 1 {
		return nil, false
	}
	soa, ok := r.Ns[0].(*dns.SOA)
	return soa, ok && dns.CanonicalName(soa.Hdr.Name) == dns.CanonicalName(r.Question[0].Name)
}

func (req *request) outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "success"
}

// reply returns a response header for req, signed when the request was.
func (req *request) reply(rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req.r, rcode)
	m.Authoritative = rcode == dns.RcodeSuccess
	m.RecursionAvailable = false
	m.Compress = true
	if opt := req.r.IsEdns0(); opt != nil {
		// RFC 6891 §7: a response to a query with OPT carries one.
		m.SetEdns0(ednsSize, false)
	}
	if req.tsig != nil {
		m.SetTsig(req.tsig.Hdr.Name, req.tsig.Algorithm, req.tsig.Fudge, time.Now().Unix())
	}
	return m
}

// error writes a one-message error answer.
func (req *request) error(rcode int) {
	if _, err := req.write(req.reply(rcode)); err == nil {
		req.msgs++
	}
}

// send writes rrs as the answer, in as many messages as needed, each under
// 64 KiB. Records are batched by their uncompressed length, which bounds
// the compressed one, so nothing is packed twice. The first message carries
// the question (RFC 5936 §2.2.1); when the request was signed, every
// message is, the later ones with the timers only (RFC 8945 §5.3.1). It
// stops at the first write error: the client is gone or too slow (the
// server's write deadline), and the connection is closed behind us.
func (req *request) send(rrs iter.Seq[dns.RR]) error {
	var (
		m    *dns.Msg
		size int
		err  error
	)
	for rr := range rrs {
		l := dns.Len(rr) // uncompressed length, header included
		if m != nil && size+l > maxMessage {
			if err = req.flush(m); err != nil {
				return err
			}
			m = nil
		}
		if m == nil {
			m, size = req.reply(dns.RcodeSuccess), 0
			if req.msgs > 0 {
				m.Question = nil // RFC 5936 §2.2.1: MAY be omitted after the first
			}
		}
		m.Answer = append(m.Answer, rr)
		size += l
	}
	if m == nil { // no records: never from the callers, but answer anyway
		m = req.reply(dns.RcodeSuccess)
	}
	return req.flush(m)
}

// flush writes one message of a transfer.
func (req *request) flush(m *dns.Msg) error {
	n, err := req.write(m)
	if err != nil {
		return err
	}
	req.msgs++
	req.bytes += n
	return nil
}

// write writes one message and returns its size. An unsigned message is
// packed into a buffer reused across the transfer. A signed one is signed
// here with the keys the request was verified with, rather than by the
// server's writer, whose provider holds the current keys: a transfer
// under way is not cut short by SetKeys. Each MAC covers the previous one,
// the first the request's, and after the first message only the timers
// (RFC 8945 §5.3.1), as miekg's writer does.
func (req *request) write(m *dns.Msg) (int, error) {
	if req.tsig != nil {
		b, mac, err := dns.TsigGenerateWithProvider(m, req.keys, req.mac, req.msgs > 0)
		if err != nil {
			return 0, err
		}
		req.mac = mac
		_, err = req.w.Write(b)
		return len(b), err
	}
	b, err := m.PackBuffer(req.buf)
	if err != nil {
		return 0, err
	}
	req.buf = b
	_, err = req.w.Write(b)
	return len(b), err
}

// checkTSIG maps the server's verification of the request's TSIG to RFC
// 8945 §5.2: an unknown key or algorithm is BADKEY, a wrong MAC BADSIG,
// both answered NOTAUTH with an unsigned TSIG carrying the error; a time
// outside the fudge is BADTIME, answered signed with our time in Other
// Data so that the client can tell the clocks apart (§5.2.3).
//
// A nil TsigStatus is trusted only for a key that kr, the keys the answer
// will be signed with, holds: a writer that verified nothing (no provider)
// also says nil, and a key removed by SetKeys between the server's check
// and this one must not count as verified.
func (p *Primary) checkTSIG(req *request, t *dns.TSIG, kr keyring) (int, bool) {
	err := req.w.TsigStatus()
	if err == nil && !kr.knows(t) {
		err = dns.ErrSecret
	}
	if err == nil {
		return 0, true
	}
	var tsigErr uint16
	switch {
	case errors.Is(err, dns.ErrTime):
		tsigErr = dns.RcodeBadTime
	case errors.Is(err, dns.ErrSig):
		tsigErr = dns.RcodeBadSig
	default: // ErrSecret (no such key, or another algorithm), ErrKeyAlg
		tsigErr = dns.RcodeBadKey
	}
	m := new(dns.Msg)
	m.SetRcode(req.r, dns.RcodeNotAuth)
	rr := &dns.TSIG{
		Hdr:       dns.RR_Header{Name: t.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm: t.Algorithm, Fudge: t.Fudge, OrigId: req.r.Id, Error: tsigErr,
	}
	if tsigErr == dns.RcodeBadTime {
		rr.TimeSigned = t.TimeSigned // §5.2.3: the request's time, ours in Other Data
		now := uint64(p.now().Unix())
		rr.OtherLen = 6
		rr.OtherData = hex.EncodeToString([]byte{byte(now >> 40), byte(now >> 32), byte(now >> 24), byte(now >> 16), byte(now >> 8), byte(now)})
	}
	m.Extra = append(m.Extra, rr)
	// miekg's writer signs BADTIME with the key and leaves BADKEY and
	// BADSIG unsigned (RFC 8945 §5.3.2).
	req.w.WriteMsg(m) //nolint:errcheck // nothing more to do for this client
	return int(tsigErr), false
}

// remoteAddr returns the client's address.
func remoteAddr(w dns.ResponseWriter) netip.Addr {
	switch a := w.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
