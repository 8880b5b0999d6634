package server

import (
	"encoding/hex"
	"strings"

	"github.com/miekg/dns"
)

// Identity is what a server tells about itself. In a service with replicas
// in many regions, "which server answered me?" is the first question when
// something looks wrong, and the one the DNS can answer: a CHAOS-class TXT
// question for id.server. (RFC 4892) or hostname.bind. names the server,
// as does the NSID option (RFC 5001) in the OPT record of any response to a
// query that asks for it. version.server. and version.bind. give the
// version. An empty field is not told: those questions are REFUSED, and no
// NSID is sent. NSD, Unbound and BIND answer the same questions so.
type Identity struct {
	ID      string
	Version string
}

// identity is an Identity as the handler uses it.
type identity struct {
	id, version []string    // TXT strings, at most 255 bytes each
	nsid        []dns.EDNS0 // the NSID option to send, or nil
}

// SetIdentity sets what the server tells about itself (see Identity). It
// applies to the next query; the default tells nothing.
func (s *Server) SetIdentity(id Identity) { s.handler.setIdentity(id) }

func (h *Handler) setIdentity(id Identity) {
	ident := &identity{id: txtStrings(id.ID), version: txtStrings(id.Version)}
	if id.ID != "" {
		ident.nsid = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: hex.EncodeToString([]byte(id.ID))}}
	}
	h.ident.Store(ident)
}

// txtStrings splits s into TXT character-strings (RFC 1035 §3.3.14: 255
// bytes each), or nil for "".
func txtStrings(s string) []string {
	var out []string
	for len(s) > 255 {
		out, s = append(out, s[:255]), s[255:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// The CHAOS names a server answers, and what each tells.
var chaosNames = map[string]func(*identity) []string{
	"id.server.":      func(i *identity) []string { return i.id },
	"hostname.bind.":  func(i *identity) []string { return i.id },
	"version.server.": func(i *identity) []string { return i.version },
	"version.bind.":   func(i *identity) []string { return i.version },
}

// chaos answers a CHAOS-class question, as NSD does: a TXT (or ANY)
// question for one of chaosNames gets one TXT record, TTL 0, owned by the
// name as asked, not authoritative; everything else is REFUSED. A resolver
// answers only the clients it serves.
func (h *Handler) chaos(x *exchange) action {
	m, q := &x.msg, &x.q[0]
	m.Rcode = dns.RcodeRefused
	if h.rec != nil && !h.allowed(x.client) {
		h.metrics.aclRefused.Inc()
		x.ede = &h.prohibited
		return actWrite
	}
	tell, ok := chaosNames[strings.ToLower(q.Name)]
	if !ok || q.Qtype != dns.TypeTXT && q.Qtype != dns.TypeANY {
		return actWrite
	}
	txt := tell(h.ident.Load())
	if txt == nil {
		return actWrite
	}
	m.Rcode = dns.RcodeSuccess
	m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS}, Txt: txt}}
	return actWrite
}
