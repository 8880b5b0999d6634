package server

import "github.com/miekg/dns"

// ednsState is what a request's OPT record (RFC 6891) says.
type ednsState uint8

const (
	ednsNone   ednsState = iota // no OPT: plain DNS, 512-byte UDP limit
	ednsOK                      // one well-formed OPT of version 0
	ednsBadVer                  // version above 0: answer BADVERS (§6.1.3)
	ednsBad                     // malformed: answer FORMERR without OPT
)

// edns is the request's EDNS state and what it asked for.
type edns struct {
	state ednsState
	size  uint16 // the client's UDP payload size, at least 512
	do    bool   // DNSSEC OK (RFC 3225)
	nsid  bool   // the NSID option was sent (RFC 5001)
}

// doBit is the DO flag in the OPT TTL field (RFC 3225 §3).
const doBit = 1 << 15

// parseEDNS reads the OPT record of a request. RFC 6891 §6.1.1 allows one
// OPT, owned by the root, in the additional section only: anything else is
// a format error. Of the options only NSID is looked at; §6.1.2 says
// unknown ones are ignored.
func parseEDNS(r *dns.Msg) edns {
	if hasOPT(r.Answer) || hasOPT(r.Ns) {
		return edns{state: ednsBad, size: minUDPSize}
	}
	var opt *dns.OPT
	for _, rr := range r.Extra {
		o, ok := rr.(*dns.OPT)
		if !ok {
			continue
		}
		if opt != nil || o.Hdr.Name != "." {
			return edns{state: ednsBad, size: minUDPSize}
		}
		opt = o
	}
	if opt == nil {
		return edns{state: ednsNone, size: minUDPSize}
	}
	e := edns{state: ednsOK, size: max(opt.UDPSize(), minUDPSize), do: opt.Hdr.Ttl&doBit != 0}
	if opt.Version() != 0 {
		e.state = ednsBadVer
	}
	for _, o := range opt.Option {
		if o.Option() == dns.EDNS0NSID {
			e.nsid = true
		}
	}
	return e
}

func hasOPT(rrs []dns.RR) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			return true
		}
	}
	return false
}

// udpLimit is the largest UDP response for this request: the client's size
// (512 without EDNS, RFC 1035 §4.2.1), capped by what the server advertises.
func (e edns) udpLimit(ours uint16) int {
	return int(min(e.size, ours))
}

// setOPT fills x.opt as the response's OPT record: the server's payload
// size in the class, version 0, the DO bit echoed (RFC 3225 §3), the
// extended error, if any (RFC 8914 §3: only to a client that sent EDNS),
// and the server's NSID to a client that asked for it (RFC 5001 §2.1), if
// it has one. The extended rcode bits are filled in by dns.Msg.Pack from
// the message's Rcode.
func (x *exchange) setOPT(ours uint16, nsid []dns.EDNS0) {
	opt := &x.opt
	opt.Hdr = dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: ours}
	if x.edns.do {
		opt.Hdr.Ttl = doBit
	}
	opts := x.options[:0]
	if x.ede != nil {
		opts = append(opts, x.ede)
	}
	if x.edns.nsid && nsid != nil {
		opts = append(opts, nsid[0])
	}
	opt.Option = nil
	if len(opts) > 0 {
		opt.Option = opts
	}
}
