// Package secondary keeps secondary zones in step with their primaries: it
// follows the SOA timers (RFC 1035 §3.3.13, RFC 1034 §4.3.5), reacts to NOTIFY
// (RFC 1996), pulls new versions by IXFR (RFC 1995) falling back to AXFR
// (RFC 5936), validates each version as a zone file is validated, stores it
// atomically in the data directory before serving it, and records the
// differences it applied in a journal so that it can feed further
// secondaries itself.
//
// The package owns no listener. The daemon passes NOTIFY messages to
// HandleNotify and receives each new version through Options.Publish; it
// serves zone.Failed for a zone reported through Options.Expire. To serve
// a secondary zone to further secondaries, the daemon hands each published
// version to server/xfr's Primary.Update (which journals and NOTIFYs) and
// sets Options.NoJournal, or serves IXFR from Manager.Journal itself.
package secondary

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/server/dial"
	"github.com/meridian-dns/meridian/zone"
	"github.com/meridian-dns/meridian/zone/journal"
)

// Key is a TSIG key (RFC 8945). Algorithm is one of miekg's names, such as
// dns.HmacSHA256; Secret is base64.
type Key struct {
	Name      string
	Algorithm string
	Secret    string
}

// Primary is one server a zone is transferred from.
type Primary struct {
	Addr netip.AddrPort
	// Key signs SOA queries and transfer requests to this primary, and a
	// NOTIFY from it must be signed with a key of the same name. Nil: no
	// TSIG.
	Key *Key
}

// Zone configures one secondary zone.
type Zone struct {
	Origin string
	// Primaries are tried in order at each refresh (RFC 1996 §3.10 lets a
	// secondary pick any; the order is the operator's preference).
	Primaries []Primary
}

// Limits bound the SOA timers a primary may impose. A zero field takes its
// default. BIND and Knot clamp the same way: a typo in a primary's SOA must
// neither hammer it every second nor let a zone expire within minutes.
type Limits struct {
	MinRefresh, MaxRefresh time.Duration // default 2s, 24h
	MinRetry, MaxRetry     time.Duration // default 2s, 12h
	MinExpire, MaxExpire   time.Duration // default 1h, 28 days
}

// Options configure a Manager.
type Options struct {
	// Dir is the data directory: transferred zones, their metadata and
	// their journals live there. Required; it must exist.
	Dir string
	// Limits clamp REFRESH, RETRY and EXPIRE. Default: see Limits.
	Limits Limits
	// QueryTimeout bounds one SOA query. Default 2s.
	QueryTimeout time.Duration
	// TransferTimeout bounds one whole transfer. Default 2m.
	TransferTimeout time.Duration
	// Source is the address SOA queries and transfers leave from (as BIND's
	// transfer-source): a primary may accept only a known address. Default
	// (zero): the kernel chooses.
	Source netip.Addr
	// Dialer opens the sockets of SOA queries and transfers, bound to
	// Source with port 0. Default nil: the system's sockets.
	Dialer dial.Dialer
	// Journal bounds each zone's journal. Default: journal's defaults.
	Journal journal.Options
	// NoJournal keeps no journal here. Set it when the daemon hands each
	// published version to server/xfr's Primary.Update to serve this zone
	// downstream: that keeps its own journal, computed from the versions,
	// and NOTIFYs. Ours is named NAME.in.jnl so that the two never share a
	// file even in one data directory. Default false: journal kept.
	NoJournal bool
	// Publish receives each version to serve, from the disk copy at New
	// or AddZone and after every transfer, and again after an expired zone
	// refreshes. It is called from the zone's goroutine (or from New and
	// AddZone, for the disk copy) and should not block long. It is never
	// called for a zone once RemoveZone has returned, so the daemon can
	// stop serving the zone right then. Like every callback here, it must
	// not call AddZone, RemoveZone or Close, which wait for the zone's
	// goroutine.
	Publish func(origin string, z *zone.Zone)
	// Expire is called when a zone passes EXPIRE without a successful
	// refresh (RFC 1035 §3.3.13), or its disk copy had at New or AddZone;
	// the daemon then serves zone.Failed, which answers SERVFAIL, until
	// Publish.
	Expire func(origin string, err error)
	// SerialChanged is called after a new serial is stored and published,
	// so that the daemon can NOTIFY downstream secondaries (RFC 1996).
	SerialChanged func(origin string, serial uint32)
	// Registerer receives the metrics (metrics.go). Default: a private
	// registry, never the global one.
	Registerer prometheus.Registerer
	// Clock drives the timers. Default: the system clock.
	Clock Clock
	// Logger receives failed refreshes, transfers, expiries and storage
	// errors. Default: discarded.
	Logger *slog.Logger
}

// Errors a caller may tell apart with errors.Is.
var (
	// ErrExpired: the zone passed EXPIRE without a successful refresh.
	ErrExpired = errors.New("secondary: zone expired")
	// ErrInvalid: a transferred version failed validation.
	ErrInvalid = errors.New("secondary: transferred zone is invalid")
	// ErrClosed: AddZone or RemoveZone after Close, or after the context
	// given to New is done.
	ErrClosed = errors.New("secondary: manager closed")
)

// Manager keeps a set of secondary zones. Its goroutines, one per zone,
// stop at RemoveZone for that zone, at Close, or when the context given to
// New is done.
type Manager struct {
	opts Options
	// zones maps lower-case origins to zones. AddZone and RemoveZone
	// replace the whole map rather than edit it, so that the NOTIFY path,
	// Status and the metrics read it without a lock (STYLE rule 2).
	zones   atomic.Pointer[map[string]*szone]
	metrics *metrics
	ctx     context.Context // parent of every zone goroutine's context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // every zone goroutine, for Close

	// mu serialises AddZone, RemoveZone and Close, so that a zone's files
	// are never open twice and Close sees every goroutine started.
	mu     sync.Mutex
	closed bool
}

// New loads each zone's copy from the data directory and publishes it at
// once (or reports it expired), then starts the refresh loops, which check
// the primaries immediately. The list may be empty: zones can be added
// later with AddZone.
func New(ctx context.Context, opts Options, zones []Zone) (*Manager, error) {
	if opts.Dir == "" {
		return nil, errors.New("secondary: no data directory")
	}
	opts = opts.withDefaults()
	m := &Manager{opts: opts}
	set := make(map[string]*szone, len(zones))
	for _, zc := range zones {
		z, err := m.open(zc, set)
		if err != nil {
			closeJournals(set)
			return nil, err
		}
		set[z.origin] = z
	}
	m.zones.Store(&set)
	var err error
	if m.metrics, err = newMetrics(opts.Registerer, m); err != nil {
		closeJournals(set)
		return nil, err
	}
	m.ctx, m.cancel = context.WithCancel(ctx)
	for _, z := range set {
		m.start(z)
	}
	return m, nil
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	l := &o.Limits
	def(&l.MinRefresh, 2*time.Second)
	def(&l.MaxRefresh, 24*time.Hour)
	def(&l.MinRetry, 2*time.Second)
	def(&l.MaxRetry, 12*time.Hour)
	def(&l.MinExpire, time.Hour)
	def(&l.MaxExpire, 28*24*time.Hour)
	def(&o.QueryTimeout, 2*time.Second)
	def(&o.TransferTimeout, 2*time.Minute)
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Publish == nil {
		o.Publish = func(string, *zone.Zone) {}
	}
	if o.Expire == nil {
		o.Expire = func(string, error) {}
	}
	if o.SerialChanged == nil {
		o.SerialChanged = func(string, uint32) {}
	}
	return o
}

// open prepares one zone: its journal, and its disk copy if any, which it
// publishes. have is the zones kept already.
func (m *Manager) open(zc Zone, have map[string]*szone) (*szone, error) {
	origin := canonical(zc.Origin)
	if _, dup := have[origin]; dup {
		return nil, fmt.Errorf("secondary: zone %s configured twice", origin)
	}
	if len(zc.Primaries) == 0 {
		return nil, fmt.Errorf("secondary: zone %s has no primaries", origin)
	}
	z := &szone{origin: origin, kick: make(chan struct{}, 1)}
	z.setPrimaries(zc.Primaries)
	z.store = newStore(m.opts.Dir, origin)
	if err := z.store.clean(); err != nil {
		return nil, err
	}
	if !m.opts.NoJournal {
		j, err := journal.Open(z.store.journalPath(), m.opts.Journal)
		if err != nil {
			return nil, fmt.Errorf("secondary: %s: %w", origin, err)
		}
		z.journal = j
	}
	m.loadDisk(z)
	return z, nil
}

// Close stops every zone goroutine, waits for them, and closes the
// journals. A second Close does nothing.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.cancel()
	m.wg.Wait()
	return closeJournals(m.snapshot())
}

func closeJournals(zones map[string]*szone) error {
	var errs []error
	for _, z := range zones {
		if z.journal != nil {
			errs = append(errs, z.journal.Close())
		}
	}
	return errors.Join(errs...)
}

// Journal returns the journal of the differences this secondary applied to
// origin, for the primary side to answer IXFR downstream; nil for a zone
// not kept here (or removed) or with Options.NoJournal. It stays readable
// after Close. It ends at the serial of the version published last.
func (m *Manager) Journal(origin string) *journal.Journal {
	if z := m.zone(origin); z != nil {
		return z.journal
	}
	return nil
}

// Current returns the version of origin held (served unless expired), or
// nil when none has been transferred yet or the zone is not kept here.
func (m *Manager) Current(origin string) *zone.Zone {
	if z := m.zone(origin); z != nil {
		return z.current()
	}
	return nil
}

// Refresh asks for an immediate SOA check of origin, as a NOTIFY does; it
// reports whether the zone is kept here.
func (m *Manager) Refresh(origin string) bool {
	z := m.zone(origin)
	if z != nil {
		z.poke()
	}
	return z != nil
}

// HandleNotify answers a NOTIFY (RFC 1996) for a secondary zone. The server
// has verified its TSIG, if any, and passes the key's name in tsigKey ("" if
// unsigned). A NOTIFY is accepted only from a listed primary's address and,
// when that primary has a key, signed with it (RFC 1996 §3.10, RFC 8945);
// it then triggers an immediate SOA check, whatever serial it carries, as
// §3.11 says a secondary must not trust it. The response echoes the ID and
// question with AA set (§3.7); it is REFUSED from an unknown source and
// NOTAUTH for a zone not served as secondary here.
func (m *Manager) HandleNotify(req *dns.Msg, from netip.Addr, tsigKey string) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	outcome := m.notify(req, from.Unmap(), tsigKey)
	m.metrics.notifies.WithLabelValues(outcome).Inc()
	switch outcome {
	case "accepted":
	case "formerr":
		resp.Rcode = dns.RcodeFormatError
	case "notauth":
		resp.Rcode = dns.RcodeNotAuth
	default:
		resp.Rcode = dns.RcodeRefused
	}
	return resp
}

func (m *Manager) notify(req *dns.Msg, from netip.Addr, tsigKey string) string {
	if req.Opcode != dns.OpcodeNotify || len(req.Question) != 1 || req.Question[0].Qtype != dns.TypeSOA {
		return "formerr"
	}
	z := m.zone(req.Question[0].Name)
	if z == nil {
		return "notauth"
	}
	for _, p := range *z.primaries.Load() {
		if p.Addr.Addr().Unmap() != from {
			continue
		}
		if p.Key != nil && !strings.EqualFold(dns.Fqdn(p.Key.Name), dns.Fqdn(tsigKey)) {
			continue
		}
		z.poke()
		return "accepted"
	}
	return "refused"
}

// Status is where a secondary zone stands, for `meridian xfrstatus` and
// health checks.
type Status struct {
	Origin    string
	Serial    uint32    // of the version held; 0 with HasData false
	HasData   bool      // a version has been transferred or loaded
	Expired   bool      // answering SERVFAIL (RFC 1035 §3.3.13)
	LastOK    time.Time // last successful refresh; zero if none
	NextCheck time.Time // next SOA check by the timers
	ExpiresAt time.Time // zero when expired or without data
}

// Status reports every zone kept, in no particular order.
func (m *Manager) Status() []Status {
	zones := m.snapshot()
	out := make([]Status, 0, len(zones))
	for _, z := range zones {
		z.mu.Lock()
		s := Status{Origin: z.origin, HasData: z.cur != nil, Expired: z.expired, LastOK: z.lastOK, NextCheck: z.nextCheck}
		if z.cur != nil {
			s.Serial = z.cur.Serial()
		}
		s.ExpiresAt, _ = m.expiresAt(z)
		z.mu.Unlock()
		out = append(out, s)
	}
	return out
}
