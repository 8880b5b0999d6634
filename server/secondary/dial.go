package secondary

import (
	"context"
	"net"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/server/dial"
)

// dialer is the system's dialer, bound to Source, for when Options.Dialer
// is nil.
func (m *Manager) dialer() *net.Dialer {
	d := &net.Dialer{Timeout: m.opts.QueryTimeout}
	if m.opts.Source.IsValid() {
		d.LocalAddr = &net.UDPAddr{IP: m.opts.Source.AsSlice()}
	}
	return d
}

// dialTCP opens a transfer's connection to raddr, waiting at most
// QueryTimeout for it.
func (m *Manager) dialTCP(ctx context.Context, raddr netip.AddrPort) (net.Conn, error) {
	if m.opts.Dialer == nil {
		d := m.dialer()
		if m.opts.Source.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: m.opts.Source.AsSlice()}
		}
		return d.DialContext(ctx, "tcp", raddr.String())
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.QueryTimeout)
	defer cancel()
	return m.opts.Dialer.DialTCP(ctx, dial.Local(m.opts.Source), raddr)
}

// exchange sends q to raddr over c.Net ("udp" or "tcp") and reads the
// answer within c's timeouts, on a socket of Options.Dialer when there is
// one and otherwise on c's own.
func (m *Manager) exchange(ctx context.Context, c *dns.Client, q *dns.Msg, raddr netip.AddrPort) (*dns.Msg, error) {
	if m.opts.Dialer == nil {
		r, _, err := c.ExchangeContext(ctx, q, raddr.String())
		return r, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.QueryTimeout)
	defer cancel()
	return dial.Exchange(ctx, m.opts.Dialer, c, q, m.opts.Source, raddr)
}
