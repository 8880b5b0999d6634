// Package zone turns RFC 1035 master files into immutable, indexed zone
// snapshots and answers lookups against them with RFC 1034 §4.3.2 semantics.
//
// The package knows nothing of sockets, loggers or request state: the server
// maps a Result to a response, and a reload builds a new Zone (or Set) and
// swaps it in atomically, so readers never take a lock.
package zone

import (
	"fmt"

	"github.com/miekg/dns"
)

// Kind says what sort of answer a lookup produced. The server maps it to the
// response code and the AA flag in one switch.
type Kind uint8

const (
	// Success: the answer section holds the data asked for (possibly after
	// in-zone CNAME or DNAME steps). AA set, NOERROR.
	Success Kind = iota
	// CNAMEOut: a CNAME (or DNAME) chain that leaves the zone. AA set,
	// NOERROR; the client's resolver follows the chain elsewhere.
	CNAMEOut
	// NoData: the name exists but has no data of the type asked for
	// (RFC 2308 §2.2). AA set, NOERROR, SOA in authority.
	NoData
	// NXDomain: the name does not exist (RFC 2308 §2.1). AA set, NXDOMAIN,
	// SOA in authority. After a CNAME chain the answer section holds the
	// chain (RFC 6604).
	NXDomain
	// Referral: the name is at or below a zone cut. AA clear (unless the
	// answer holds a CNAME chain from above the cut), NS in authority, glue
	// in additional.
	Referral
	// NotAuth: the name is not in any zone served (REFUSED).
	NotAuth
	// ServFail: the zone failed to load and has no previous version.
	ServFail
	// YXDomain: a DNAME substitution produced a name longer than 255
	// octets (RFC 6672 §2.2). AA set, YXDOMAIN, the DNAME in the answer.
	YXDomain
)

var kindNames = [...]string{"success", "cname-out", "nodata", "nxdomain", "referral", "notauth", "servfail", "yxdomain"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Result is what a lookup found. It is meant to be reused: Lookup appends to
// the slices after truncating them, so a pooled Result makes lookups free of
// allocation. The RRs are shared with the zone and must not be modified;
// synthesised records (wildcard expansions, DNAME-synthesised CNAMEs) are
// fresh copies.
type Result struct {
	Kind   Kind
	Zone   *Zone // the zone that answered; nil for NotAuth
	Answer []dns.RR
	Ns     []dns.RR
	Extra  []dns.RR

	// Wildcard is set when the answer (or the NODATA) was synthesised from a
	// wildcard (RFC 4592).
	Wildcard bool

	key  []byte // scratch: the query name in lower case
	wild []byte // scratch: a wildcard name to deny (denial.go)
}

// Reset empties the result and keeps its capacity.
func (r *Result) Reset() {
	clear(r.Answer)
	clear(r.Ns)
	clear(r.Extra)
	r.Kind, r.Zone, r.Wildcard = Success, nil, false
	r.Answer, r.Ns, r.Extra = r.Answer[:0], r.Ns[:0], r.Extra[:0]
}

// Record is a resource record together with where it was written, so that
// validation can name the file and line of every problem.
type Record struct {
	RR   dns.RR
	File string
	Line int
}

// Severity separates problems that reject a zone from those that are only
// reported.
type Severity uint8

const (
	Warning Severity = iota
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Problem is one finding of the loader or the validator, with its place in
// the source. Problem implements error.
type Problem struct {
	File     string
	Line     int
	Severity Severity
	Msg      string
}

func (p Problem) Error() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Severity, p.Msg)
	case p.File != "":
		return fmt.Sprintf("%s: %s: %s", p.File, p.Severity, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.Severity, p.Msg)
}
