// Package xfr is the primary side of zone replication: it answers outgoing
// zone transfers (AXFR, RFC 5936; IXFR, RFC 1995, from a journal of
// differences), enforces who may transfer (address ACLs and TSIG, RFC 8945),
// sends NOTIFY (RFC 1996) when a zone's serial changes, and tracks how far
// behind each secondary is.
//
// The server routes AXFR and IXFR queries to a Primary through the
// server.Transfers interface; the daemon tells the Primary about each
// (re)loaded version of a zone with Update, and a reload's new keys and
// zone settings with SetKeys and SetZoneConfig (reconfig.go).
//
// Metrics, registered on the injected Registerer:
//
//	meridian_xfr_transfers_out_total{kind,outcome}         counter
//	meridian_xfr_transfer_out_bytes_total{kind}            counter
//	meridian_xfr_transfer_out_duration_seconds{kind}       histogram
//	meridian_xfr_notifies_sent_total{outcome}              counter
//	meridian_xfr_secondary_lag_serials{secondary,zone}     gauge
//	meridian_xfr_secondary_lag_seconds{secondary,zone}     gauge
package xfr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/server/dial"
	"github.com/meridian-dns/meridian/zone"
	"github.com/meridian-dns/meridian/zone/diff"
	"github.com/meridian-dns/meridian/zone/journal"
	"github.com/meridian-dns/meridian/zone/serial"
)

// Defaults for the zero values of Options.
const (
	// DefaultNotifyAttempts bounds the NOTIFYs sent for one change to one
	// target; BIND gives up after 5 as well.
	DefaultNotifyAttempts = 5
	// DefaultNotifyRetry is the wait before the first retry; it doubles
	// after each (RFC 1996 §4.4 leaves the interval to the implementation).
	DefaultNotifyRetry = 2 * time.Second
	// DefaultNotifyTimeout bounds the wait for one NOTIFY's answer.
	DefaultNotifyTimeout = 2 * time.Second
	// maxSecondaries bounds the secondaries tracked for the lag metrics.
	maxSecondaries = 1024
	// historyLen bounds the publication times kept per zone for the lag in
	// seconds.
	historyLen = 256
)

// Options configure a Primary.
type Options struct {
	// Keys are the TSIG keys known: for verifying requests, naming in ACLs
	// and signing NOTIFY. Default none.
	Keys []Key
	// DataDir holds the journals, one file per zone (journal.FileName).
	// Default "": no journal; IXFR is answered with the whole zone.
	DataDir string
	// Journal bounds each journal. Default: journal.Options' defaults.
	Journal journal.Options
	// NotifySource is the address NOTIFYs are sent from (BIND's
	// notify-source, Knot's via): peers accept a NOTIFY only from the
	// primary's address. The daemon sets it to its listen address. Default:
	// the kernel's choice.
	NotifySource netip.Addr
	// Dialer opens the NOTIFY sockets, bound to NotifySource with port 0.
	// Default nil: the system's sockets.
	Dialer dial.Dialer
	// NotifyAttempts, NotifyRetry and NotifyTimeout bound the NOTIFYs of one
	// change to one target: at most NotifyAttempts sends, NotifyRetry before
	// the first retry, doubling, each waiting NotifyTimeout for the answer.
	// Defaults 5, 2s and 2s.
	NotifyAttempts int
	NotifyRetry    time.Duration
	NotifyTimeout  time.Duration
	// Logger receives refused transfers, journal problems and NOTIFY
	// failures. Default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics. Default: a private registry.
	Registerer prometheus.Registerer
	// Now is the clock, for the lag in seconds. Default time.Now.
	Now func() time.Time
	// Served reports whether the server is authoritative for a zone. A
	// transfer of a zone it serves but that was never added (AddZone) is
	// REFUSED, as a zone whose ACL lets nobody in; one of a zone not
	// served is NOTAUTH (RFC 5936 §2.2.1). Default nil: NOTAUTH for every
	// zone not added.
	Served func(origin string) bool
}

// ZoneConfig is what a Primary knows of one zone besides its data.
type ZoneConfig struct {
	// ACL says who may transfer the zone. The zero ACL refuses everyone.
	ACL ACL
	// Notify lists the secondaries told of each new serial (RFC 1996 §3.6).
	Notify []Target
	// NotifyNS also tells the zone's own name servers, as RFC 1996 §3.3
	// describes: every NS target but the primary named in the SOA MNAME,
	// at the addresses the zone itself gives for it (targets outside the
	// zone have none here and are skipped). Default false.
	NotifyNS bool
	// NotifyNSPort is the port of those servers. Default 53.
	NotifyNSPort uint16
}

// Target is a secondary to NOTIFY: its address and, optionally, the name
// of the key that signs the NOTIFY.
type Target struct {
	Addr netip.AddrPort
	Key  string
}

// Primary serves the transfers of the primary zones and NOTIFYs their
// secondaries. Its methods are safe for concurrent use.
type Primary struct {
	opts    Options
	keys    liveKeys // the TSIG provider; SetKeys swaps its keyring
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	// zones maps lower-case origins to zones. Transfers read it without a
	// lock; AddZone replaces the map (copy on write) under addMu. addMu
	// also serialises SetKeys and SetZoneConfig, so that checking a zone's
	// key names against the keyring and storing its config are one step.
	zones atomic.Pointer[map[string]*zoneState]
	addMu sync.Mutex

	lagMu sync.Mutex
	lag   map[secondaryKey]*secondaryState

	mu     sync.Mutex // guards closed and wg.Go against Close
	closed bool
	ctx    context.Context // ends the NOTIFY goroutines
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// zoneState is one primary zone. Transfers read cur, cfg and the journal
// without locks; Update serialises on update, which it holds while it
// diffs and journals (seconds on a large zone), and takes mu only briefly,
// so that neither transfers nor a metrics scrape wait for a reload.
// SetZoneConfig swaps cfg: a request reads it once, so a transfer under
// way finishes under the config it started with.
type zoneState struct {
	origin  string
	cfg     atomic.Pointer[ZoneConfig] // never nil; replaced, never modified
	cur     atomic.Pointer[zone.Zone]
	journal *journal.Journal // nil without DataDir
	update  sync.Mutex

	mu      sync.Mutex
	history []published        // newest last
	notify  context.CancelFunc // the NOTIFY round in flight, if any
}

// published records when a serial was first served, for the lag in seconds.
type published struct {
	serial uint32
	at     time.Time
}

type secondaryKey struct {
	addr netip.Addr
	zone string
}

type secondaryState struct {
	serial uint32
	known  bool // serial is known (an IXFR or a finished AXFR)
}

// NewPrimary checks the keys and registers the metrics.
func NewPrimary(opts Options) (*Primary, error) {
	if opts.NotifyAttempts <= 0 {
		opts.NotifyAttempts = DefaultNotifyAttempts
	}
	if opts.NotifyRetry <= 0 {
		opts.NotifyRetry = DefaultNotifyRetry
	}
	if opts.NotifyTimeout <= 0 {
		opts.NotifyTimeout = DefaultNotifyTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	kr, err := newKeyring(opts.Keys)
	if err != nil {
		return nil, err
	}
	p := &Primary{opts: opts, log: opts.Logger, now: opts.Now,
		lag: make(map[secondaryKey]*secondaryState)}
	p.keys.store(kr)
	p.zones.Store(&map[string]*zoneState{})
	if p.metrics, err = newMetrics(opts.Registerer, p); err != nil {
		return nil, fmt.Errorf("xfr: register metrics: %w", err)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// AddZone declares a primary zone before its first Update, and opens its
// journal. Keys named in cfg must be among the current keys (Options.Keys,
// or those of the last SetKeys).
func (p *Primary) AddZone(origin string, cfg ZoneConfig) error {
	origin = dns.CanonicalName(origin)
	cfg = cfg.clone()
	if err := p.checkConfig(origin, &cfg); err != nil {
		return err // early, before a journal is opened for nothing
	}
	zs := &zoneState{origin: origin}
	zs.cfg.Store(&cfg)
	if p.opts.DataDir != "" {
		j, err := journal.Open(filepath.Join(p.opts.DataDir, journal.FileName(origin)), p.opts.Journal)
		if err != nil {
			return fmt.Errorf("xfr: zone %s: %w", origin, err)
		}
		if n := j.Truncated(); n > 0 {
			p.log.Warn("journal had a torn tail, cut off", "zone", origin, "bytes", n)
		}
		zs.journal = j
	}
	p.addMu.Lock()
	defer p.addMu.Unlock()
	old := *p.zones.Load()
	err := p.checkConfig(origin, &cfg) // again: SetKeys may have run meanwhile
	if _, dup := old[origin]; dup && err == nil {
		err = fmt.Errorf("xfr: zone %s added twice", origin)
	}
	if err != nil {
		if zs.journal != nil {
			zs.journal.Close()
		}
		return err
	}
	m := make(map[string]*zoneState, len(old)+1)
	maps.Copy(m, old)
	m[origin] = zs
	p.zones.Store(&m)
	return nil
}

// Update makes z the version of its zone that transfers serve, after each
// (re)load. A higher serial (RFC 1982) appends the difference from the
// previous version to the journal and NOTIFYs the targets. A lower serial,
// or the same serial with other content, breaks the history the journal
// describes: it is reset (secondaries then need AXFR) and logged, because
// secondaries will not pick up a version whose serial did not go up
// (RFC 1996 §4.7, RFC 1034 §4.3.5). A zone that failed to load (no SOA)
// changes nothing: the previous version stays served.
func (p *Primary) Update(z *zone.Zone) error {
	if z == nil || z.SOA() == nil {
		return nil
	}
	zs := p.zone(z.Origin())
	if zs == nil {
		return fmt.Errorf("xfr: zone %s is not a primary zone (AddZone)", z.Origin())
	}
	zs.update.Lock()
	defer zs.update.Unlock()
	// The new version is served before it is journaled: diffing a large
	// zone takes seconds, and the daemon already answers SOA queries from
	// it, so transfers must not lag behind. Meanwhile an IXFR from the old
	// serial finds no journal entry leading to the new one and gets the
	// whole zone, which RFC 1995 §4 always allows, instead of the old SOA.
	old := zs.cur.Swap(z)
	changed, err := p.record(zs, old, z)
	zs.mu.Lock()
	defer zs.mu.Unlock()
	if changed || len(zs.history) == 0 {
		zs.history = append(zs.history, published{z.Serial(), p.now()})
		if len(zs.history) > historyLen {
			zs.history = zs.history[len(zs.history)-historyLen:]
		}
	}
	if changed {
		p.startNotify(zs, z)
	}
	return err
}

// record journals the change from old to z (old is nil at the first load
// since start-up, when only the journal knows the past) and says whether
// the serial changed.
func (p *Primary) record(zs *zoneState, old, z *zone.Zone) (changed bool, err error) {
	j, s := zs.journal, z.Serial()
	if old == nil {
		if j == nil {
			return true, nil
		}
		// After a restart the journal still serves IXFR if the file is the
		// version it ends at; otherwise the file was edited while we were
		// down, and there is no old version to diff against.
		if newest, ok := j.Newest(); ok && newest == s {
			return false, nil
		} else if ok {
			p.log.Warn("zone changed while stopped; journal reset", "zone", zs.origin, "journal", newest, "serial", s)
			return true, p.reset(zs)
		}
		return true, nil
	}
	switch serial.Compare(old.Serial(), s) {
	case serial.LessThan:
		if j == nil {
			return true, nil
		}
		d, err := diff.Diff(old, z)
		if err == nil {
			err = j.Append(d)
			if errors.Is(err, journal.ErrGap) {
				if err = j.Reset(); err == nil {
					err = j.Append(d)
				}
			}
		}
		if err != nil {
			p.log.Error("journal append failed; IXFR falls back to AXFR", "zone", zs.origin, "err", err)
			return true, errors.Join(fmt.Errorf("xfr: zone %s: journal: %w", zs.origin, err), p.reset(zs))
		}
		return true, nil
	case serial.EqualTo:
		if sameContent(old, z) {
			return false, nil
		}
		p.log.Warn("zone content changed but its serial did not; secondaries will not follow", "zone", zs.origin, "serial", s)
	default:
		p.log.Warn("zone serial went backwards; secondaries will not follow", "zone", zs.origin, "old", old.Serial(), "serial", s)
	}
	return true, p.reset(zs)
}

func (p *Primary) reset(zs *zoneState) error {
	if zs.journal == nil {
		return nil
	}
	if err := zs.journal.Reset(); err != nil {
		return fmt.Errorf("xfr: zone %s: journal reset: %w", zs.origin, err)
	}
	return nil
}

// sameContent reports whether two versions hold the same records, TTLs
// included, comparing name by name in a's index.
func sameContent(a, b *zone.Zone) bool {
	if a.Len() != b.Len() {
		return false
	}
	var buf []dns.RR
	for name, rrs := range b.Owners() {
		buf = a.AppendRecords(buf[:0], name)
		if len(buf) != len(rrs) {
			return false
		}
	next:
		for _, rr := range rrs {
			for _, o := range buf {
				if dns.IsDuplicate(rr, o) && rr.Header().Ttl == o.Header().Ttl ||
					rr.Header().Rrtype == dns.TypeSOA && o.Header().Rrtype == dns.TypeSOA && rr.String() == o.String() {
					continue next
				}
			}
			return false
		}
	}
	return true
}

// zone returns the state of the zone named name, or nil.
func (p *Primary) zone(name string) *zoneState {
	return (*p.zones.Load())[dns.CanonicalName(name)]
}

// ObserveSOA notes an SOA query for origin from client, if client is a
// secondary of that zone (in its ACL or NOTIFY list), so that the lag
// metrics cover it; other clients are not tracked, which bounds the
// metrics' cardinality. An SOA query carries no serial, so it records only
// that the secondary exists. It implements server.Transfers.
func (p *Primary) ObserveSOA(client netip.Addr, origin string) {
	zs := p.zone(origin)
	if zs == nil || !zs.isSecondary(client.Unmap()) {
		return
	}
	p.observe(client, zs.origin, 0, false)
}

func (zs *zoneState) isSecondary(client netip.Addr) bool {
	cfg := zs.config()
	for _, t := range cfg.Notify {
		if t.Addr.Addr().Unmap() == client {
			return true
		}
	}
	return cfg.ACL.allows(client, "")
}

// config returns the zone's current config, which the caller must not
// modify.
func (zs *zoneState) config() *ZoneConfig { return zs.cfg.Load() }

// observe records the serial a secondary holds, known or not.
func (p *Primary) observe(client netip.Addr, origin string, s uint32, known bool) {
	p.lagMu.Lock()
	defer p.lagMu.Unlock()
	k := secondaryKey{client.Unmap(), origin}
	st := p.lag[k]
	if st == nil {
		if len(p.lag) >= maxSecondaries {
			return
		}
		st = &secondaryState{}
		p.lag[k] = st
	}
	if known {
		st.serial, st.known = s, true
	}
}

// Close stops the NOTIFYs in flight and closes the journals.
func (p *Primary) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cancel()
	p.mu.Unlock()
	p.wg.Wait()
	var errs []error
	for _, zs := range *p.zones.Load() {
		zs.update.Lock() // no Update is journaling
		if zs.journal != nil {
			errs = append(errs, zs.journal.Close())
		}
		zs.update.Unlock()
	}
	return errors.Join(errs...)
}
