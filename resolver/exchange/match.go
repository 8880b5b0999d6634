package exchange

import (
	"encoding/binary"
	"strings"

	"github.com/miekg/dns"
)

// verdict is what the matcher makes of a packet.
type verdict int

const (
	accept       verdict = iota
	mismatch             // another query's answer, or a forgery: ignore
	malformed            // does not parse: ignore
	caseMismatch         // matches but for the case of the name
)

// matcher checks that a response answers the query that was sent: the
// checks of RFC 5452 §9.1 beyond address and port (which the socket
// enforces): the ID, QR, the opcode, and the question.
type matcher struct {
	id            uint16
	opcode        int
	name          string // as sent, 0x20 case included
	qtype, qclass uint16
	caseSensitive bool // 0x20 is on: compare the name byte for byte
}

// check parses b and says whether it answers the query. The message is
// returned for accept and, when TC is set, also for a malformed packet
// whose question matched (see below).
func (m *matcher) check(b []byte) (*dns.Msg, verdict) {
	// The ID and QR bit first, from the raw header: most forgeries and
	// strays end here without being parsed.
	if len(b) < 12 {
		return nil, malformed
	}
	if binary.BigEndian.Uint16(b) != m.id || b[2]&0x80 == 0 {
		return nil, mismatch
	}
	msg := new(dns.Msg)
	err := msg.Unpack(b)
	if err != nil && !(msg.Truncated && len(msg.Question) == 1) {
		// A TC answer may be cut mid-record by a server that truncates
		// bytes rather than records; its question still parsed, so it is
		// judged on that and retried over TCP. Anything else is garbage.
		return nil, malformed
	}
	if msg.Opcode != m.opcode {
		return nil, mismatch
	}
	if v := m.question(msg); v != accept {
		return nil, v
	}
	return msg, accept
}

// question compares the question section with the query's.
func (m *matcher) question(msg *dns.Msg) verdict {
	switch len(msg.Question) {
	case 1:
	case 0:
		// Old servers answer an OPT record they do not understand with
		// FORMERR or NOTIMP and no question (RFC 6891 §7); those are
		// accepted on ID and address alone so that the caller can fall
		// back to plain DNS.
		if msg.Rcode == dns.RcodeFormatError || msg.Rcode == dns.RcodeNotImplemented {
			return accept
		}
		return mismatch
	default:
		return mismatch
	}
	q := msg.Question[0]
	if q.Qtype != m.qtype || q.Qclass != m.qclass {
		return mismatch
	}
	if q.Name == m.name {
		return accept
	}
	// Names compare case-insensitively (RFC 4343 §3); presentation format
	// escapes every non-ASCII byte, so EqualFold folds ASCII only.
	if !strings.EqualFold(q.Name, m.name) {
		return mismatch
	}
	if m.caseSensitive {
		return caseMismatch
	}
	return accept
}
