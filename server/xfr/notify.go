package xfr

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/server/dial"

	"github.com/meridian-dns/meridian/zone"
)

// startNotify begins a NOTIFY round for a new serial of zs (RFC 1996 §3.6:
// notify the secondaries whenever the zone changes). A round still retrying
// for an older serial is cancelled: the new NOTIFY supersedes it. zs.mu is
// held.
func (p *Primary) startNotify(zs *zoneState, z *zone.Zone) {
	if zs.notify != nil {
		zs.notify()
		zs.notify = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg := zs.config()
	targets := cfg.Notify
	if cfg.NotifyNS {
		targets = nsTargets(z, cfg, p.opts.NotifySource)
	}
	if len(targets) == 0 || p.closed {
		return
	}
	ctx, cancel := context.WithCancel(p.ctx)
	zs.notify = cancel
	soa := z.SOA()
	for _, t := range targets {
		p.wg.Go(func() { p.notify(ctx, zs.origin, soa, t) })
	}
}

// nsTargets adds to the configured targets the zone's name servers (RFC
// 1996 §3.3): the in-zone addresses of its NS targets, leaving out the
// primary in the SOA MNAME, our own source address and addresses already
// listed.
func nsTargets(z *zone.Zone, cfg *ZoneConfig, self netip.Addr) []Target {
	targets := slices.Clone(cfg.Notify)
	port := cfg.NotifyNSPort
	if port == 0 {
		port = 53
	}
	_, addrs := z.ApexNS()
	for _, rr := range addrs {
		if strings.EqualFold(rr.Header().Name, z.SOA().Ns) {
			continue
		}
		var a netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(v.AAAA)
		}
		t := Target{Addr: netip.AddrPortFrom(a, port)}
		if !a.IsValid() || a == self || slices.ContainsFunc(targets, func(o Target) bool { return o.Addr == t.Addr }) {
			continue
		}
		targets = append(targets, t)
	}
	return targets
}

// notify sends NOTIFY to t until it is acknowledged, at most
// NotifyAttempts times, waiting NotifyRetry before the first retry and
// twice as long before each next (RFC 1996 §3.6: "periodically
// retransmitted ... until either too many copies have been sent or a
// response has been received").
func (p *Primary) notify(ctx context.Context, origin string, soa *dns.SOA, t Target) {
	wait := p.opts.NotifyRetry
	for attempt := 1; ; attempt++ {
		err := p.sendNotify(ctx, origin, soa, t)
		if err == nil {
			p.metrics.notifies.WithLabelValues("acknowledged").Inc()
			p.log.Debug("NOTIFY acknowledged", "zone", origin, "target", t.Addr, "serial", soa.Serial)
			return
		}
		if ctx.Err() != nil {
			return // superseded or shutting down
		}
		p.metrics.notifies.WithLabelValues("error").Inc()
		if attempt >= p.opts.NotifyAttempts {
			p.metrics.notifies.WithLabelValues("abandoned").Inc()
			p.log.Warn("NOTIFY not acknowledged; giving up", "zone", origin, "target", t.Addr, "serial", soa.Serial, "attempts", attempt, "err", err)
			return
		}
		p.log.Debug("NOTIFY failed; will retry", "zone", origin, "target", t.Addr, "attempt", attempt, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		wait *= 2
	}
}

// sendNotify sends one NOTIFY over UDP (RFC 1996 §3.1) from the configured
// source address, with the zone's SOA in the answer section (§3.7, a hint
// of the new serial), signed when the target has a key, and checks the
// answer: a response with opcode NOTIFY and NOERROR (§4.7), whose TSIG, if
// we signed, miekg's client verifies. The key is looked up in the keys
// current at each send, so that a retry after SetKeys signs with the new
// secret; the exchange keeps that keyring to verify the answer.
func (p *Primary) sendNotify(ctx context.Context, origin string, soa *dns.SOA, t Target) error {
	m := new(dns.Msg)
	m.SetNotify(origin)
	m.Authoritative = true // RFC 1996 §3.7
	m.Answer = []dns.RR{soa}
	c := &dns.Client{Net: "udp", Timeout: p.opts.NotifyTimeout}
	if p.opts.NotifySource.IsValid() {
		c.Dialer = &net.Dialer{Timeout: p.opts.NotifyTimeout,
			LocalAddr: &net.UDPAddr{IP: p.opts.NotifySource.AsSlice(), Zone: p.opts.NotifySource.Zone()}}
	}
	if t.Key != "" {
		k, kr := dns.CanonicalName(t.Key), p.keys.load()
		e, ok := kr[k]
		if !ok {
			return fmt.Errorf("xfr: notify %s: key %s is no longer known", t.Addr, k)
		}
		m.SetTsig(k, e.alg, 300, time.Now().Unix())
		c.TsigProvider = kr
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.NotifyTimeout)
	defer cancel()
	var r *dns.Msg
	var err error
	if p.opts.Dialer != nil {
		r, err = dial.Exchange(ctx, p.opts.Dialer, c, m, p.opts.NotifySource, t.Addr)
	} else {
		r, _, err = c.ExchangeContext(ctx, m, t.Addr.String())
	}
	switch {
	case err != nil:
		return fmt.Errorf("xfr: notify %s: %w", t.Addr, err)
	case r.Opcode != dns.OpcodeNotify || r.Rcode != dns.RcodeSuccess:
		return fmt.Errorf("xfr: notify %s: answered %s, opcode %s", t.Addr, dns.RcodeToString[r.Rcode], dns.OpcodeToString[r.Opcode])
	case t.Key != "" && r.IsTsig() == nil:
		return fmt.Errorf("xfr: notify %s: answer not signed", t.Addr)
	}
	return nil
}
