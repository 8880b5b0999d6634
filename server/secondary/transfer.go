package secondary

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone"
	"github.com/meridian-dns/meridian/zone/diff"
	"github.com/meridian-dns/meridian/zone/journal"
	"github.com/meridian-dns/meridian/zone/serial"
)

const (
	kindAXFR = "axfr"
	kindIXFR = "ixfr"
)

// errUpToDate: the transfer answered with the primary's SOA alone, whose
// serial is not newer than ours (RFC 1995 §4); nothing to do.
var errUpToDate = errors.New("secondary: already up to date")

// tsig fills miekg's secret map for a primary's key, and signs m with it.
func tsig(m *dns.Msg, k *Key) map[string]string {
	if k == nil {
		return nil
	}
	name := strings.ToLower(dns.Fqdn(k.Name))
	m.SetTsig(name, dns.Fqdn(k.Algorithm), 300, time.Now().Unix())
	return map[string]string{name: k.Secret}
}

// querySOA asks p for the zone's SOA over UDP, and over TCP when the answer
// is truncated (RFC 1034 §4.3.5 uses the SOA serial to decide whether to
// transfer).
func (m *Manager) querySOA(ctx context.Context, origin string, p Primary) (*dns.SOA, error) {
	q := new(dns.Msg)
	q.SetQuestion(origin, dns.TypeSOA)
	q.RecursionDesired = false
	c := &dns.Client{Net: "udp", Timeout: m.opts.QueryTimeout, Dialer: m.dialer()}
	c.TsigSecret = tsig(q, p.Key)
	r, err := m.exchange(ctx, c, q, p.Addr)
	if err == nil && r.Truncated {
		// Sending stripped the TSIG from q (miekg's TsigGenerate does):
		// sign it again, or the primary refuses the retry.
		tsig(q, p.Key)
		c.Net = "tcp"
		if m.opts.Source.IsValid() {
			c.Dialer.LocalAddr = &net.TCPAddr{IP: m.opts.Source.AsSlice()}
		}
		r, err = m.exchange(ctx, c, q, p.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("soa query: %w", err)
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
		return nil, fmt.Errorf("soa query: rcode %s, aa %t", dns.RcodeToString[r.Rcode], r.Authoritative)
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, origin) {
			return soa, nil
		}
	}
	return nil, errors.New("soa query: no SOA in the answer")
}

// countConn counts the bytes a transfer brings in.
type countConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// transfer pulls the zone from p by IXFR (from cur) or AXFR, builds,
// validates and stores the new version, and installs it. The outcome is
// counted whatever it is.
func (m *Manager) transfer(ctx context.Context, z *szone, p Primary, cur *zone.Zone, kind string) (err error) {
	start := time.Now()
	var conn *countConn
	defer func() {
		outcome := "ok"
		switch {
		case errors.Is(err, errUpToDate):
			outcome, err = "uptodate", nil
		case errors.Is(err, ErrInvalid):
			outcome = "invalid"
		case err != nil:
			outcome = "failed"
		}
		var n int64
		if conn != nil {
			n = conn.n.Load()
			m.metrics.bytes.WithLabelValues(kind).Add(float64(n))
		}
		m.metrics.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
		m.metrics.transfers.WithLabelValues(kind, outcome).Inc() // last: tests wait on it
		log := m.opts.Logger.With("zone", z.origin, "primary", p.Addr, "kind", kind, "bytes", n)
		if err != nil {
			log.Warn("secondary: transfer failed", "outcome", outcome, "err", err)
		} else if outcome == "ok" {
			log.Info("secondary: transferred", "serial", z.current().Serial(), "duration", time.Since(start))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, m.opts.TransferTimeout)
	defer cancel()
	conn, rrs, err := m.fetch(ctx, z.origin, p, cur, kind)
	if err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	v, err := build(z.origin, cur, rrs)
	if err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	recs := make([]zone.Record, len(v.rrs))
	file := "transfer from " + p.Addr.String()
	for i, rr := range v.rrs {
		recs[i] = zone.Record{RR: rr, File: file}
	}
	nz, err := validate(z.origin, recs)
	if err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	// A zone being removed keeps what it has: the daemon has stopped
	// serving it, and its disk copy is the base if it is added back.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	return m.install(z, cur, nz, v.deltas)
}

// fetch runs miekg's transfer and collects the whole stream. The channel is
// always drained to its end, so miekg's goroutine never blocks; the
// context closes the connection, which ends that goroutine.
//
// miekg only carries the messages: build judges the stream. It matters
// because miekg's IXFR reader compares serials with >= rather than RFC
// 1982, so across a wrap it stops after the first message; a stream of
// several messages is then incomplete, build rejects it, and the refresh
// falls back to AXFR, whose reader compares no serials.
func (m *Manager) fetch(ctx context.Context, origin string, p Primary, cur *zone.Zone, kind string) (*countConn, []dns.RR, error) {
	nc, err := m.dialTCP(ctx, p.Addr)
	if err != nil {
		return nil, nil, err
	}
	conn := &countConn{Conn: nc}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	q := new(dns.Msg)
	if kind == kindIXFR {
		// RFC 1995 §3: our SOA in the authority section.
		q.SetQuestion(origin, dns.TypeIXFR)
		q.Ns = []dns.RR{dns.Copy(cur.SOA())}
	} else {
		q.SetAxfr(origin)
	}
	t := &dns.Transfer{Conn: &dns.Conn{Conn: conn}, ReadTimeout: m.opts.TransferTimeout, WriteTimeout: m.opts.QueryTimeout}
	t.TsigSecret = tsig(q, p.Key)
	ch, err := t.In(q, p.Addr.String())
	if err != nil {
		nc.Close()
		return conn, nil, err
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			if err == nil {
				err = env.Error
			}
			continue
		}
		if err == nil {
			rrs = append(rrs, env.RR...)
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	return conn, rrs, err
}

// version is what a transfer stream describes: the records of the new
// version and, for an incremental transfer, the deltas applied.
type version struct {
	rrs    []dns.RR
	deltas []diff.Delta
}

// build interprets a complete transfer stream (RFC 1995 §4, RFC 5936 §2.2)
// against cur, which may be nil. A stream whose second record is an SOA is
// incremental and is applied to cur; otherwise it is a full zone between
// two copies of the same SOA. Anything else is an error, and so is a
// version whose serial is not newer than cur's by RFC 1982 arithmetic.
func build(origin string, cur *zone.Zone, rrs []dns.RR) (version, error) {
	if len(rrs) == 0 {
		return version{}, errors.New("empty transfer")
	}
	first, ok := rrs[0].(*dns.SOA)
	if !ok || !strings.EqualFold(first.Hdr.Name, origin) {
		return version{}, errors.New("transfer does not start with the zone's SOA")
	}
	newer := cur == nil || serial.Greater(first.Serial, cur.Serial())
	if len(rrs) == 1 {
		if !newer {
			return version{}, errUpToDate
		}
		return version{}, errors.New("transfer holds only an SOA")
	}
	if !newer {
		return version{}, fmt.Errorf("serial %d is not newer than %d", first.Serial, cur.Serial())
	}
	last, ok := rrs[len(rrs)-1].(*dns.SOA)
	if !ok || last.Serial != first.Serial {
		return version{}, errors.New("transfer does not end with the zone's SOA")
	}
	if _, incr := rrs[1].(*dns.SOA); incr && cur != nil {
		deltas, err := splitDeltas(rrs[1 : len(rrs)-1])
		if err != nil {
			return version{}, err
		}
		if n := len(deltas); n == 0 || deltas[n-1].To() != first.Serial {
			return version{}, errors.New("incremental transfer does not reach the announced serial")
		}
		out, err := diff.Apply(collect(cur), deltas...)
		if err != nil {
			return version{}, err
		}
		return version{rrs: out, deltas: deltas}, nil
	}
	for _, rr := range rrs[1 : len(rrs)-1] {
		if rr == nil || rr.Header().Rrtype == dns.TypeSOA {
			return version{}, errors.New("full transfer holds a second SOA")
		}
	}
	return version{rrs: rrs[:len(rrs)-1]}, nil
}

// splitDeltas cuts the body of an incremental transfer into its difference
// sequences: SOA(old) deletions SOA(new) additions, repeated (RFC 1995 §4).
func splitDeltas(body []dns.RR) ([]diff.Delta, error) {
	var deltas []diff.Delta
	adding := true
	for _, rr := range body {
		if rr == nil {
			return nil, errors.New("nil record in transfer")
		}
		if _, ok := rr.(*dns.SOA); ok {
			if adding {
				deltas = append(deltas, diff.Delta{})
			}
			adding = !adding
		}
		d := &deltas[len(deltas)-1]
		if adding {
			d.Added = append(d.Added, rr)
		} else {
			d.Deleted = append(d.Deleted, rr)
		}
	}
	for _, d := range deltas {
		if err := d.Validate(); err != nil {
			return nil, err
		}
	}
	return deltas, nil
}

// collect lists a zone's records for diff.Apply, which wants them in no
// particular order.
func collect(z *zone.Zone) []dns.RR {
	out := make([]dns.RR, 0, z.Len())
	for rr := range z.All() {
		out = append(out, rr)
	}
	return out
}

// validate runs the checks a zone file gets (zone.Check) and indexes the
// result; any Error problem rejects the version.
func validate(origin string, recs []zone.Record) (*zone.Zone, error) {
	rrs, problems := zone.Check(origin, recs)
	for _, p := range problems {
		if p.Severity == zone.Error {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, p)
		}
	}
	z := zone.New(origin, rrs)
	if err := z.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return z, nil
}

// install stores the new version durably, journals what changed (so that
// this secondary can serve IXFR downstream, RFC 1995), then serves it and
// reports the new serial for NOTIFY downstream (RFC 1996). The zone goes to
// disk first: a journal entry leading to a version we could lose at a crash
// would be worse than a short journal (loadDisk resets a journal that does
// not end at the stored version). The primary side should answer IXFR from
// the journal only when its newest serial is the served zone's.
func (m *Manager) install(z *szone, cur, nz *zone.Zone, deltas []diff.Delta) error {
	now := m.opts.Clock.Now()
	if err := z.store.writeZone(nz, now); err != nil {
		return err
	}
	m.journalDeltas(z, cur, nz, deltas)
	z.mu.Lock()
	z.cur = nz
	z.expired = false
	z.mu.Unlock()
	m.opts.Publish(z.origin, nz)
	m.opts.SerialChanged(z.origin, nz.Serial())
	return nil
}

// journalDeltas appends what changed. After an AXFR the difference is
// computed from the two versions, so downstream keeps getting IXFR. A
// journal that does not chain (ErrGap, as after an AXFR across a history
// we never saw) is reset and starts anew: its history no longer leads to
// what we hold. Failing that, it is emptied, which costs downstream a full
// transfer, never a wrong one.
func (m *Manager) journalDeltas(z *szone, cur, nz *zone.Zone, deltas []diff.Delta) {
	if z.journal == nil {
		return
	}
	if deltas == nil && cur != nil {
		d, err := diff.Diff(cur, nz)
		if err == nil {
			deltas = []diff.Delta{d}
		}
	}
	if deltas == nil {
		m.resetJournal(z, nil)
		return
	}
	for i, d := range deltas {
		err := z.journal.Append(d)
		if errors.Is(err, journal.ErrGap) {
			m.resetJournal(z, nil)
			err = z.journal.Append(d)
		}
		if err != nil {
			m.resetJournal(z, fmt.Errorf("delta %d of %d: %w", i+1, len(deltas), err))
			return
		}
	}
}

func (m *Manager) resetJournal(z *szone, cause error) {
	if cause != nil {
		m.opts.Logger.Warn("secondary: journal append failed, emptying it", "zone", z.origin, "err", cause)
	}
	if err := z.journal.Reset(); err != nil {
		m.opts.Logger.Warn("secondary: resetting journal", "zone", z.origin, "err", err)
	}
}
