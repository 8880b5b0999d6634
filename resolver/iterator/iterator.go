// Package iterator resolves one question by following referrals from a zone
// cut down to the answer, as a state machine that does no I/O.
//
// It is modelled on Unbound's iterator: Next says what must happen (look in
// the cache, send a query, find the addresses of name servers, or finish),
// the resolver does it and feeds the outcome back through Delegation,
// Cached, Response or Addresses. Each Response returns what may be cached
// from it, already filtered by bailiwick and ranked (RFC 2181 §5.4.1), so
// nothing a server says about names outside its zone is ever kept.
package iterator

import (
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/resolver/cache"
)

// Config bounds an iteration. Every loop in it has a limit here, so that a
// broken or hostile hierarchy ends in SERVFAIL quickly.
type Config struct {
	// Minimise sends each server only the labels it needs (RFC 9156).
	// The resolver turns it on by default.
	Minimise bool
	// MaxReferrals bounds the referrals followed for one name. Default 30.
	MaxReferrals int
	// MaxRestarts bounds the CNAME and DNAME steps that lead to another
	// zone, for the whole chain. Default 12, as Unbound's MAX_RESTART_COUNT
	// plus one.
	MaxRestarts int
	// MaxGlueless bounds the name-server names looked up for one
	// delegation that came without glue: the NXNSAttack mitigation
	// (Afek et al. 2020) Unbound and BIND adopted. Default 4.
	MaxGlueless int
	// Budget, shared by a client request and all its sub-resolutions,
	// bounds the queries sent upstream for it. Nil means no bound; the
	// resolver always sets one.
	Budget *Budget
	// Select chooses the server to ask among the untried candidates (one
	// or more), by measured RTT. It is called for every query, so the
	// resolver can note how to talk to the server chosen. Nil picks the
	// first.
	Select func(zone string, candidates []netip.Addr) netip.Addr
}

func (c *Config) fill() {
	if c.MaxReferrals == 0 {
		c.MaxReferrals = 30
	}
	if c.MaxRestarts == 0 {
		c.MaxRestarts = 12
	}
	if c.MaxGlueless == 0 {
		c.MaxGlueless = 4
	}
}

// Budget counts the upstream queries of one client request.
type Budget struct {
	Max  int32
	used atomic.Int32
}

// NewBudget returns a budget of max queries.
func NewBudget(max int) *Budget { return &Budget{Max: int32(max)} }

// take spends one query; false when none are left.
func (b *Budget) take() bool { return b == nil || b.used.Add(1) <= b.Max }

// Used returns how many queries were spent.
func (b *Budget) Used() int {
	if b == nil {
		return 0
	}
	return int(b.used.Load())
}

// Kind is what the resolver must do next.
type Kind uint8

const (
	// NeedDelegation: answer (Name, Type) from the cache if it can
	// (Cached), or else give the closest cached zone cut at or above Name
	// (strictly above it when Parent is set: DS lives in the parent).
	NeedDelegation Kind = iota
	// SendQuery: ask Server, which serves Zone, the question (Name, Type),
	// and give the outcome to Response.
	SendQuery
	// NeedAddresses: find the addresses of the name servers Names, from
	// the cache or by resolving them, and give them to Addresses.
	NeedAddresses
	// Done: the result is ready (Result).
	Done
)

// Action is one step for the resolver to carry out.
type Action struct {
	Kind   Kind
	Name   string
	Type   uint16
	Parent bool
	Server netip.Addr
	Zone   string
	Names  []string
}

// RRset is data learned from a response, with the rank it deserves.
type RRset struct {
	RRs  []dns.RR
	Rank cache.Rank
}

// Learned is what a response taught that may be cached.
type Learned struct {
	RRsets   []RRset
	Negative *cache.Negative
}

// Extended DNS error codes (RFC 8914 §4) the iterator reports.
const (
	EDENone            = -1
	EDEOther           = 0 // with a text: RFC 8914 has no code for loops or limits
	EDENoReachableAuth = 22
)

type state uint8

const (
	stDelegation state = iota
	stQuery
	stAddresses
	stDone
)

// Iterator resolves one question. It is not safe for concurrent use.
type Iterator struct {
	cfg   Config
	qname string // as the client asked, case kept
	qtype uint16
	class uint16

	name  string   // the name being resolved now: qname or a chain's target
	chain []dns.RR // CNAME and DNAME records that led from qname to name

	st     state
	zone   string // current zone cut, lower case
	server map[string][]netip.Addr
	order  []string // NS names in the order given
	tried  map[netip.Addr]bool
	// timeouts counts, for this zone, the queries each server did not
	// answer in time; at triesPerServer the server counts as tried. Nil
	// until the zone's first timeout: most zone steps never see one.
	timeouts map[netip.Addr]int
	asked    map[string]bool // NS names whose addresses were requested
	want     []string        // the names of the NeedAddresses in progress
	last     netip.Addr      // the server of the query in flight

	// QNAME minimisation (RFC 9156 §3): how many labels of name the next
	// query reveals, and how many minimised queries were sent.
	minimise bool
	revealed int
	minSent  int
	qname1   string // the question in flight
	qtype1   uint16

	referrals, restarts, glueless int

	rcode  int
	answer []dns.RR
	ns     []dns.RR
	ede    int
	edeMsg string
}

// New starts the resolution of q.
func New(cfg Config, q dns.Question) *Iterator {
	cfg.fill()
	it := &Iterator{
		cfg:      cfg,
		qname:    q.Name,
		qtype:    q.Qtype,
		class:    q.Qclass,
		name:     q.Name,
		minimise: cfg.Minimise,
		ede:      EDENone,
	}
	return it
}

// Next returns what must happen now. After NeedDelegation, SendQuery and
// NeedAddresses it returns the same action until it is answered.
func (it *Iterator) Next() Action {
	switch it.st {
	case stDelegation:
		return Action{Kind: NeedDelegation, Name: it.name, Type: it.qtype, Parent: it.qtype == dns.TypeDS}
	case stAddresses:
		return Action{Kind: NeedAddresses, Names: slices.Clone(it.want), Zone: it.zone}
	case stQuery:
		if it.qname1 == "" {
			it.pickQuery()
			if it.st != stQuery {
				return it.Next()
			}
		}
		return Action{Kind: SendQuery, Name: it.qname1, Type: it.qtype1, Server: it.last, Zone: it.zone}
	}
	return Action{Kind: Done}
}

// Result returns the response code, the answer (the alias chain first), the
// authority section (the SOA of a negative answer) and an extended error
// code (EDENone for none) with its text.
func (it *Iterator) Result() (rcode int, answer, ns []dns.RR, ede int, edeText string) {
	return it.rcode, it.answer, it.ns, it.ede, it.edeMsg
}

// Cached gives the cache's answer to NeedDelegation's (Name, Type): a
// complete answer (positive or negative) ends the iteration; with next set
// the cache held a CNAME chain that stops at next, which is resolved from
// there.
func (it *Iterator) Cached(rcode int, answer, ns []dns.RR, next string) {
	it.chain = append(it.chain, answer...)
	if next != "" {
		it.restart(next)
		return
	}
	it.finish(rcode, it.chain, ns)
}

// Delegation gives the closest cached zone cut for NeedDelegation: its name
// and, per name server, the known addresses (empty for none).
func (it *Iterator) Delegation(d cache.Delegation) {
	it.setZone(strings.ToLower(d.Zone))
	for _, s := range d.Servers {
		it.addServer(s.Name, s.Addrs)
	}
	it.st = stQuery
}

// Addresses gives the addresses found for one of NeedAddresses' names.
// Call it once for each name; an empty list means none were found.
func (it *Iterator) Addresses(name string, addrs []netip.Addr) {
	it.addServer(name, addrs)
	if it.st == stAddresses {
		it.want = slices.DeleteFunc(it.want, func(n string) bool { return strings.EqualFold(n, name) })
		if len(it.want) == 0 {
			it.st = stQuery
		}
	}
}

func (it *Iterator) setZone(zone string) {
	it.zone = zone
	it.server = make(map[string][]netip.Addr)
	it.order = it.order[:0]
	it.tried = make(map[netip.Addr]bool)
	it.timeouts = nil
	it.asked = make(map[string]bool)
	it.qname1 = ""
	it.revealed = dns.CountLabel(zone)
}

func (it *Iterator) addServer(name string, addrs []netip.Addr) {
	key := strings.ToLower(dns.Fqdn(name))
	if _, ok := it.server[key]; !ok {
		it.order = append(it.order, key)
	}
	it.server[key] = append(it.server[key], addrs...)
}

// pickQuery chooses the next server and question, or moves to fetching
// name-server addresses, or fails.
func (it *Iterator) pickQuery() {
	var cands []netip.Addr
	for _, n := range it.order {
		for _, a := range it.server[n] {
			if !it.tried[a] && !containsAddr(cands, a) {
				cands = append(cands, a)
			}
		}
	}
	if len(cands) == 0 {
		if names := it.pendingNames(); len(names) > 0 {
			it.st = stAddresses
			it.want = names
			for _, n := range names {
				it.asked[n] = true
				it.glueless++
			}
			return
		}
		it.fail(EDENoReachableAuth, "no reachable authority for "+it.zone)
		return
	}
	if !it.cfg.Budget.take() {
		it.fail(EDEOther, "query budget exhausted")
		return
	}
	server := cands[0]
	if it.cfg.Select != nil {
		server = it.cfg.Select(it.zone, cands)
	}
	it.last = server
	it.qname1, it.qtype1 = it.question()
}

// pendingNames lists name servers with no address yet that may be looked up:
// not asked before, within the glueless bound, and not inside the zone
// itself (those need glue; looking them up would loop through this zone).
func (it *Iterator) pendingNames() []string {
	var out []string
	for _, n := range it.order {
		if len(it.server[n]) > 0 || it.asked[n] || dns.IsSubDomain(it.zone, n) {
			continue
		}
		if it.glueless+len(out) >= it.cfg.MaxGlueless {
			break
		}
		out = append(out, n)
	}
	return out
}

// question is the next question to send: the full one, or under QNAME
// minimisation the zone plus one more label with type A (RFC 9156 §2.1),
// revealing labels one at a time for the first four steps and then in
// larger strides, so that at most ten minimised queries are sent
// (MINIMISE_ONE_LAB and MAX_MINIMISE_COUNT, RFC 9156 §2.3).
func (it *Iterator) question() (string, uint16) {
	total := dns.CountLabel(it.name)
	if !it.minimise || it.qtype == dns.TypeDS && it.revealed+1 >= total || it.revealed >= total {
		return it.name, it.qtype
	}
	const oneLab, maxCount = 4, 10
	step := 1
	if it.minSent >= oneLab {
		left := maxCount - it.minSent
		if left <= 0 {
			return it.name, it.qtype
		}
		step = max(1, (total-it.revealed)/left)
	}
	n := it.revealed + step
	if n >= total {
		return it.name, it.qtype
	}
	it.minSent++
	return suffix(it.name, n), dns.TypeA
}

func (it *Iterator) minimised() bool {
	return !strings.EqualFold(it.qname1, it.name) || it.qtype1 != it.qtype
}

// restart follows an alias to name: the search begins again from the cache.
func (it *Iterator) restart(name string) {
	it.restarts++
	if it.restarts > it.cfg.MaxRestarts {
		it.fail(EDEOther, "alias chain too long")
		return
	}
	it.name = name
	it.minimise = it.cfg.Minimise
	it.minSent = 0
	it.st = stDelegation
}

func (it *Iterator) finish(rcode int, answer, ns []dns.RR) {
	it.rcode, it.answer, it.ns = rcode, answer, ns
	it.st = stDone
}

func (it *Iterator) fail(ede int, text string) {
	it.rcode, it.answer, it.ns = dns.RcodeServerFailure, it.chain, nil
	it.ede, it.edeMsg = ede, text
	it.st = stDone
}

// suffix returns the last n labels of name.
func suffix(name string, n int) string {
	idx := dns.Split(name)
	if n >= len(idx) {
		return name
	}
	return name[idx[len(idx)-n]:]
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, b := range list {
		if a == b {
			return true
		}
	}
	return false
}
