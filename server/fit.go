package server

import (
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
)

// maxBuf is the largest pack buffer kept for reuse: a full TCP message and
// the byte miekg's packer wants beyond it.
const maxBuf = dns.MaxMsgSize + 1

// fit packs the response in x into x.buf within the client's limit: the
// UDP size from EDNS (RFC 6891 §6.2.3-5) or 512 (RFC 1035 §4.2.1), and 64 KiB
// over TCP (RFC 1035 §4.2.2). It returns the message, or nil when even an
// error response could not be packed, and whether it was truncated.
func (h *Handler) fit(x *exchange) ([]byte, bool) {
	limit := dns.MaxMsgSize
	if !x.tcp {
		limit = x.edns.udpLimit(h.udpSize)
	}
	if x.edns.state == ednsOK || x.edns.state == ednsBadVer {
		// RFC 6891 §7: a request with OPT gets a response with OPT.
		nsid := h.ident.Load().nsid
		if nsid != nil && !x.nsidFits(nsid[0].(*dns.EDNS0_NSID), limit) {
			nsid = nil
		}
		x.setOPT(h.udpSize, nsid)
		x.withOPT = true
	}
	x.setExtra(x.additional)
	out, err := x.pack()
	if err != nil {
		return h.failed(x, err), false
	}
	if len(out) <= limit {
		return out, false
	}
	out, err = x.truncate(limit)
	if err != nil {
		return h.failed(x, err), false
	}
	return out, true
}

// nsidFits reports whether the NSID fits in limit bytes beside the header,
// the question and the rest of the OPT record. A long identity can fill a
// small UDP limit by itself; it is then left out, rather than send more
// than the client can take or truncate the answer for an option it merely
// asked for.
func (x *exchange) nsidFits(nsid *dns.EDNS0_NSID, limit int) bool {
	// The name as written is at least as long as on the wire but for the
	// root label (escapes only lengthen it); then type and class, the OPT
	// record's fixed fields and the option header.
	n := headerSize + len(x.q[0].Name) + 1 + 4 + 11 + 4 + len(nsid.Nsid)/2
	if x.ede != nil {
		n += 4 + 2 + len(x.ede.ExtraText)
	}
	return n <= limit
}

// failed answers SERVFAIL when the response could not be packed, which
// only broken zone data can cause.
func (h *Handler) failed(x *exchange, err error) []byte {
	h.log.Warn("cannot pack response", "qname", x.q[0].Name, "qtype", dns.Type(x.q[0].Qtype), "err", err)
	m := &x.msg
	m.Rcode, m.Authoritative, m.Truncated = dns.RcodeServerFailure, false, false
	m.Answer, m.Ns = nil, nil
	x.setExtra(nil)
	out, err := x.pack()
	if err != nil {
		return nil
	}
	return out
}

// truncate repacks the response so that it fits limit bytes, keeping whole
// RRsets only (RFC 2181 §9). Answer, authority and additional RRsets are
// kept in order up to the first that does not fit; the rest are left out.
// TC is set when an answer or authority RRset is left out, or, in a
// referral, glue at or below the cut (RFC 9471 §3: a delegation cannot be
// followed without it); other additional records are optional, and
// leaving them out is no reason for TC.
//
// NSD and Knot differ in detail: NSD tries smaller additional RRsets after
// one that did not fit and does not apply RFC 9471; Knot applies it. Both
// keep whole RRsets and set TC as here for answer and authority.
func (x *exchange) truncate(limit int) ([]byte, error) {
	m := &x.msg
	ans, ns, add := m.Answer, m.Ns, x.additional

	// The three sections as one sequence of RRsets; bounds[i] is where the
	// i-th RRset ends. The size grows with the prefix kept, so bisect. A
	// lower bound on the size stops the list where no more can fit, which
	// keeps the packing in the bisection short.
	x.bounds = append(x.bounds[:0], 0)
	least := headerSize
collect:
	for _, sec := range [][]dns.RR{ans, ns, add} {
		base := x.bounds[len(x.bounds)-1]
		for i := 0; i < len(sec); {
			end := rrsetEnd(sec, i)
			if least += minLen(sec[i:end]); least > limit {
				break collect
			}
			i = end
			x.bounds = append(x.bounds, base+i)
		}
	}
	prefix := func(n int) {
		m.Answer = ans[:min(n, len(ans))]
		m.Ns = ns[:min(max(n-len(ans), 0), len(ns))]
		x.setExtra(add[:max(n-len(ans)-len(ns), 0)])
	}
	lo, hi := 0, len(x.bounds)-1 // the empty prefix fits: limit >= 512
	for lo < hi {
		mid := (lo + hi + 1) / 2
		prefix(x.bounds[mid])
		out, err := x.pack()
		if err != nil {
			return nil, err
		}
		if len(out) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	kept := x.bounds[lo]
	prefix(kept)
	m.Truncated = kept < len(ans)+len(ns) || x.glueLeftOut(add[max(kept-len(ans)-len(ns), 0):])
	return x.pack()
}

// glueLeftOut reports whether the additional records left out of a referral
// include glue at or below the cut.
func (x *exchange) glueLeftOut(dropped []dns.RR) bool {
	if x.res.Kind != zone.Referral || len(x.res.Ns) == 0 {
		return false
	}
	cut := x.res.Ns[0].Header().Name
	for _, rr := range dropped {
		if dns.IsSubDomain(cut, rr.Header().Name) {
			return true
		}
	}
	return false
}

// minLen is a lower bound on the packed size of rrs: each owner name takes
// at least a byte (the root), the fixed fields ten, and address data cannot
// be compressed.
func minLen(rrs []dns.RR) int {
	n := 0
	for _, rr := range rrs {
		n += 1 + 10
		switch rr.Header().Rrtype {
		case dns.TypeA:
			n += 4
		case dns.TypeAAAA:
			n += 16
		}
	}
	return n
}

// setExtra makes the additional section rrs, followed by the OPT record when
// the response has one.
func (x *exchange) setExtra(rrs []dns.RR) {
	x.extra = append(x.extra[:0], rrs...)
	if x.withOPT {
		x.extra = append(x.extra, &x.opt)
	}
	x.msg.Extra = x.extra
}

// pack encodes x.msg into x.buf, keeping a larger buffer if the packer had
// to allocate one.
func (x *exchange) pack() ([]byte, error) {
	out, err := x.msg.PackBuffer(x.buf)
	if err != nil {
		return nil, err
	}
	if c := cap(out); c > len(x.buf) && c <= maxBuf {
		x.buf = out[:c]
	}
	return out, nil
}

// rrsetEnd returns the index after the RRset that starts at rrs[i]: the
// records that follow with the same owner and type, and the RRSIGs over that
// type, which belong with it (RFC 4035 §3.1.1).
func rrsetEnd(rrs []dns.RR, i int) int {
	name, t := rrs[i].Header().Name, covered(rrs[i])
	j := i + 1
	for j < len(rrs) && covered(rrs[j]) == t && strings.EqualFold(rrs[j].Header().Name, name) {
		j++
	}
	return j
}

// covered returns the type an RR belongs with: its own, or for an RRSIG the
// type it signs.
func covered(rr dns.RR) uint16 {
	if sig, ok := rr.(*dns.RRSIG); ok {
		return sig.TypeCovered
	}
	return rr.Header().Rrtype
}
