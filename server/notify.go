package server

import (
	"errors"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// NotifyFunc answers a NOTIFY (RFC 1996) received by the server: req as
// read, the client's address, and the name of the TSIG key that signed it
// ("" when unsigned; a request whose TSIG failed verification never reaches
// it). It returns the response to send, or nil to send none. The server
// signs the response with the request's key when the request was signed.
// server/secondary's Manager.HandleNotify has this shape.
type NotifyFunc func(req *dns.Msg, from netip.Addr, tsigKey string) *dns.Msg

// serveNotify passes a NOTIFY to the hook and writes its answer. A signed
// NOTIFY whose TSIG did not verify is answered NOTAUTH with the TSIG error
// (BADKEY, BADSIG or BADTIME; RFC 8945 §5.2) and not passed on: the hook
// must be able to trust tsigKey.
func (h *Handler) serveNotify(w dns.ResponseWriter, r *dns.Msg) {
	from := clientAddr(w).Unmap()
	var key string
	t := r.IsTsig()
	if t != nil {
		err := w.TsigStatus()
		if h.xfr == nil || h.xfr.TsigProvider() == nil {
			// miekg verifies nothing without a key store: no key known.
			err = dns.ErrSecret
		}
		if err != nil {
			h.log.Warn("NOTIFY refused: TSIG did not verify", "remote", from, "key", t.Hdr.Name, "err", err)
			w.WriteMsg(tsigError(r, t, err)) //nolint:errcheck // nothing more to do for this client
			return
		}
		key = dns.CanonicalName(t.Hdr.Name)
	}
	resp := h.notify(r, from, key)
	if resp == nil {
		return
	}
	if t != nil {
		resp.SetTsig(t.Hdr.Name, t.Algorithm, t.Fudge, time.Now().Unix())
	}
	if err := w.WriteMsg(resp); err != nil {
		h.log.Debug("write NOTIFY response", "remote", from, "err", err)
	}
}

// tsigError is the NOTAUTH answer to a request whose TSIG failed, carrying
// the TSIG error code (RFC 8945 §5.2). The writers leave BADKEY and BADSIG
// unsigned and sign BADTIME (§5.3.2).
func tsigError(r *dns.Msg, t *dns.TSIG, err error) *dns.Msg {
	code := uint16(dns.RcodeBadKey)
	switch {
	case errors.Is(err, dns.ErrTime):
		code = dns.RcodeBadTime
	case errors.Is(err, dns.ErrSig):
		code = dns.RcodeBadSig
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeNotAuth)
	// A TSIG with empty RDATA unpacks with an empty algorithm name, which
	// miekg would pack as no bytes at all, leaving a record one byte short
	// (FuzzHandler found it): Fqdn writes the root instead.
	m.Extra = append(m.Extra, &dns.TSIG{
		Hdr:       dns.RR_Header{Name: dns.Fqdn(t.Hdr.Name), Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm: dns.Fqdn(t.Algorithm), Fudge: t.Fudge, OrigId: r.Id, Error: code,
		TimeSigned: t.TimeSigned,
	})
	return m
}

// verifyUDP verifies the TSIG of a signed message read by the UDP loop, as
// miekg's server does for TCP, recording the outcome in w for TsigStatus
// and the request's MAC for signing the answer.
func (h *Handler) verifyUDP(w *udpWriter, wire []byte, r *dns.Msg) {
	t := r.IsTsig()
	if t == nil {
		return
	}
	w.tsigMAC = t.MAC
	if h.xfr == nil || h.xfr.TsigProvider() == nil {
		w.tsigErr = dns.ErrSecret // no keys: BADKEY
		return
	}
	w.tsigProvider = h.xfr.TsigProvider()
	w.tsigErr = dns.TsigVerifyWithProvider(wire, w.tsigProvider, "", false)
}

// writeSigned answers a signed query (RFC 8945 §5.3): a request whose TSIG
// did not verify gets NOTAUTH with the TSIG error instead of its answer;
// otherwise the answer is signed with the request's key. BIND as a
// secondary signs its SOA checks and refuses an unsigned answer. Signed
// queries are rare, so the answer is packed, unpacked and signed by the
// writer rather than kept on the pooled fast path.
func (h *Handler) writeSigned(w dns.ResponseWriter, x *exchange, r *dns.Msg, t *dns.TSIG, start time.Time) {
	err := w.TsigStatus()
	if h.xfr == nil || h.xfr.TsigProvider() == nil {
		err = dns.ErrSecret // no key store: no key is known (BADKEY)
	}
	if err != nil {
		h.log.Warn("signed query refused: TSIG did not verify", "remote", clientAddr(w), "key", t.Hdr.Name, "err", err)
		w.WriteMsg(tsigError(r, t, err)) //nolint:errcheck // nothing more to do for this client
		return
	}
	out, truncated := h.fit(x)
	resp := new(dns.Msg)
	if err := resp.Unpack(out); err != nil {
		h.log.Error("signed answer: repack", "err", err)
		return
	}
	resp.SetTsig(t.Hdr.Name, t.Algorithm, t.Fudge, time.Now().Unix())
	if err := w.WriteMsg(resp); err != nil {
		h.log.Debug("write signed response", "remote", clientAddr(w), "err", err)
		return
	}
	h.metrics.observe(x, len(out), truncated, time.Since(start))
}
