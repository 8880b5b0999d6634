package server

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// quickQuery is a UDP reader's reusable request, filled from the wire
// without miekg's Unpack for the shape nearly every query has. Unpack
// allocates the message, its question slice, the name, the OPT record and
// its options for every datagram; this allocates nothing for a name it has
// seen before. Anything
// unusual is left to Unpack, which then decides what the message means, so
// the two can never disagree on a query quickQuery accepts (FuzzQuickParse).
type quickQuery struct {
	msg   dns.Msg
	q     [1]dns.Question
	opt   dns.OPT
	extra [1]dns.RR
	name  []byte
	names map[string]string // names seen, so a popular one costs no allocation
}

// maxInterned bounds a reader's interned names. Once full it stops adding:
// a flood of random names then costs what it would have without it, and
// nothing more.
const maxInterned = 4096

// intern returns the string for q.name, allocating only for a name not seen
// before (m[string(b)] does not allocate).
func (q *quickQuery) intern() string {
	if s, ok := q.names[string(q.name)]; ok {
		return s
	}
	s := string(q.name)
	if q.names == nil {
		q.names = make(map[string]string)
	}
	if len(q.names) < maxInterned {
		q.names[s] = s
	}
	return s
}

// parse fills q.msg from b and reports whether b is a plain query: one
// question whose name is uncompressed and made only of letters, digits,
// '-', '_' and '*' (names miekg would print with escapes take the slow
// path), no answer or authority records, at most one additional record,
// an OPT owned by the root with well-formed options, and nothing after it.
// EDNS options are checked but not kept, but for the NSID request, which
// the handler answers (RFC 5001): it is marked by nsidAsked.
func (q *quickQuery) parse(b []byte) bool {
	if len(b) < headerSize {
		return false
	}
	be := binary.BigEndian
	if be.Uint16(b[4:]) != 1 || be.Uint16(b[6:]) != 0 || be.Uint16(b[8:]) != 0 || be.Uint16(b[10:]) > 1 {
		return false
	}
	off := headerSize
	q.name = q.name[:0]
	for {
		if off >= len(b) {
			return false
		}
		l := int(b[off])
		off++
		if l == 0 {
			break
		}
		// l > 63 is a compression pointer or a reserved label type.
		if l > 63 || off+l > len(b) {
			return false
		}
		for _, c := range b[off : off+l] {
			if !plainLabelByte(c) {
				return false
			}
		}
		q.name = append(append(q.name, b[off:off+l]...), '.')
		off += l
	}
	if off-headerSize > 255 || off+4 > len(b) { // RFC 1035 §3.1: 255 octets at most
		return false
	}
	if len(q.name) == 0 {
		q.name = append(q.name, '.')
	}
	qtype, qclass := be.Uint16(b[off:]), be.Uint16(b[off+2:])
	off += 4

	m := &q.msg
	*m = dns.Msg{}
	if be.Uint16(b[10:]) == 1 {
		// The OPT pseudo-RR (RFC 6891 §6.1.2): root owner, type, payload
		// size in the class, extended rcode, version and flags in the TTL.
		if off+11 > len(b) || b[off] != 0 || be.Uint16(b[off+1:]) != dns.TypeOPT {
			return false
		}
		class, ttl, rdlen := be.Uint16(b[off+3:]), be.Uint32(b[off+5:]), int(be.Uint16(b[off+9:]))
		off += 11
		if off+rdlen != len(b) || !wellFormedOptions(b[off:off+rdlen]) {
			return false
		}
		q.opt = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: class, Ttl: ttl, Rdlength: uint16(rdlen)}}
		if hasNSID(b[off : off+rdlen]) {
			q.opt.Option = nsidAsked
		}
		q.extra[0] = &q.opt
		m.Extra = q.extra[:1]
		off += rdlen
	}
	if off != len(b) {
		return false
	}
	bits := be.Uint16(b[2:])
	m.Id = be.Uint16(b)
	m.Response = bits&(1<<15) != 0
	m.Opcode = int(bits>>11) & 0xF
	m.Authoritative = bits&(1<<10) != 0
	m.Truncated = bits&(1<<9) != 0
	m.RecursionDesired = bits&(1<<8) != 0
	m.RecursionAvailable = bits&(1<<7) != 0
	m.Zero = bits&(1<<6) != 0
	m.AuthenticatedData = bits&(1<<5) != 0
	m.CheckingDisabled = bits&(1<<4) != 0
	m.Rcode = int(bits & 0xF)
	if m.Extra != nil {
		m.Rcode |= q.opt.ExtendedRcode() // as Unpack does (RFC 6891 §6.1.3)
	}
	q.q[0] = dns.Question{Name: q.intern(), Qtype: qtype, Qclass: qclass}
	m.Question = q.q[:1]
	return true
}

// plainLabelByte reports whether c appears as itself in miekg's
// presentation of a name, so that copying the label gives the same string.
func plainLabelByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '*'
}

// nsidAsked stands in the OPT record of a quick-parsed query for the NSID
// option it carried: an empty NSID is all a query may send (RFC 5001
// §2.1), and the handler only asks whether there is one.
var nsidAsked = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}}

// hasNSID reports whether well-formed options (wellFormedOptions) hold an
// NSID.
func hasNSID(rdata []byte) bool {
	for len(rdata) >= 4 {
		if binary.BigEndian.Uint16(rdata) == dns.EDNS0NSID {
			return true
		}
		rdata = rdata[4+int(binary.BigEndian.Uint16(rdata[2:])):]
	}
	return false
}

// wellFormedOptions checks that EDNS options (code, length, data) fill rdata
// exactly, and that each is one miekg accepts with any content: NSID,
// COOKIE (which dig sends by default) and PADDING. Others, whose content
// miekg may reject (client subnet, keepalive, extended errors), take the
// slow path.
func wellFormedOptions(rdata []byte) bool {
	for len(rdata) > 0 {
		if len(rdata) < 4 {
			return false
		}
		switch binary.BigEndian.Uint16(rdata) {
		case dns.EDNS0NSID, dns.EDNS0COOKIE, dns.EDNS0PADDING:
		default:
			return false
		}
		n := 4 + int(binary.BigEndian.Uint16(rdata[2:]))
		if n > len(rdata) {
			return false
		}
		rdata = rdata[n:]
	}
	return true
}
