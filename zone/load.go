package zone

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// LoadOptions tunes Parse, Load and LoadSet. The zero value is the default:
// $INCLUDE is allowed but confined to the zone file's directory, and LoadSet
// loads up to GOMAXPROCS zones at a time.
type LoadOptions struct {
	// NoInclude rejects every $INCLUDE directive. Default: allowed.
	NoInclude bool
	// Parallel bounds how many zones LoadSet loads at once. Default (0):
	// GOMAXPROCS.
	Parallel int
}

// Load reads the master file at path, validates it (see Check) and indexes
// it. The problems hold every warning and error found, each with its file
// and line. The error is non-nil when the zone must not be served: an I/O
// error, or an Error-severity problem, which it wraps (errors.As finds the
// Problem). On error the zone is nil.
func Load(origin, path string, opt LoadOptions) (*Zone, []Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("zone: load %s: %w", origin, err)
	}
	defer f.Close()
	recs, problems := Parse(f, origin, path, opt)
	// A syntax error stops miekg's parser, so the records read so far are a
	// prefix of the file: checking them would only add noise (no NS, say).
	if !hasError(problems) {
		var rrs []dns.RR
		var more []Problem
		rrs, more = Check(origin, recs)
		problems = append(problems, more...)
		if !hasError(problems) {
			return New(origin, rrs), problems, nil
		}
	}
	for i := range problems {
		if problems[i].File == "" {
			problems[i].File = path
		}
	}
	return nil, problems, loadError(origin, problems)
}

func hasError(problems []Problem) bool {
	for _, p := range problems {
		if p.Severity == Error {
			return true
		}
	}
	return false
}

// loadError wraps the first Error-severity problem, saying how many more
// there are.
func loadError(origin string, problems []Problem) error {
	n := 0
	var first Problem
	for _, p := range problems {
		if p.Severity == Error {
			if n == 0 {
				first = p
			}
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("zone: load %s: %w (and %d more errors)", origin, first, n-1)
	}
	return fmt.Errorf("zone: load %s: %w", origin, first)
}

// Parse reads an RFC 1035 §5 master file with miekg's ZoneParser and returns
// its records, each with the file and the line where its entry starts (for
// $GENERATE, the directive's line). file names the input in problems and
// anchors $INCLUDE: relative paths are taken from the including file's
// directory, and no path may leave the directory of file ($INCLUDE is
// refused when file is "" or opt.NoInclude is set).
//
// Where miekg differs from BIND, Parse does as BIND: a record with no TTL
// before any $TTL or explicit TTL gets the SOA MINIMUM, with a warning
// (miekg rejects it), and $GENERATE records without a TTL of their own get
// the $TTL in effect (miekg gives them 3600). A $GENERATE template that can
// produce a literal '$' is refused, because miekg would honour an $INCLUDE
// it generates without the confinement.
//
// miekg stops at the first syntax error, so problems hold at most one of
// those, besides bad record data and refused directives. A panic in the
// parser becomes a problem too.
func Parse(r io.Reader, origin, file string, opt LoadOptions) (recs []Record, problems []Problem) {
	ps := newParseState(file)
	defer ps.close()
	top := ps.newSource(r, file)
	zp := dns.NewZoneParser(top, dns.Fqdn(origin), ps.mainName)
	zp.SetDefaultTTL(noTTL)
	if file != "" && !opt.NoInclude {
		zp.SetIncludeAllowed(true)
		zp.SetIncludeFS(includeFS{ps})
	}
	defer func() {
		// miekg's parser is fuzzed upstream but not promised panic-free;
		// a zone file must never take the server down.
		if v := recover(); v != nil {
			recs = nil
			problems = append(problems, ps.problem(fmt.Sprintf("parser failed: %v", v)))
		}
	}()
	var last uint32 // TTL of the last record not from $GENERATE
	haveLast := false
	for rr, ok := zp.Next(); ok && ps.fatal == nil; rr, ok = zp.Next() {
		src := ps.cur
		if src == nil {
			src = top
		}
		rec := Record{RR: rr, File: src.name, Line: src.ent.line}
		if src.inGenerate() {
			fixGenerateTTL(rr, &src.ent, last, haveLast)
		} else {
			last, haveLast = rr.Header().Ttl, true
		}
		if msg := badData(rr, src.eof || src.inGenerate()); msg != "" {
			problems = append(problems, Problem{File: rec.File, Line: rec.Line, Severity: Error, Msg: msg})
			continue
		}
		recs = append(recs, rec)
	}
	var stop *Problem
	switch {
	case ps.fatal != nil:
		stop = ps.fatal
	case zp.Err() != nil:
		p := ps.parseProblem(zp.Err())
		stop = &p
	}
	if stop != nil {
		// A record yielded just before the error is an artefact of the
		// same broken entry (say, an empty one from a $GENERATE template
		// that failed): the parse error alone explains it.
		problems = slices.DeleteFunc(problems, func(p Problem) bool { return p.File == stop.File && p.Line == stop.Line })
		problems = append(problems, *stop)
	}
	return recs, append(problems, fixMissingTTL(recs)...)
}

// noTTL marks a record written without a TTL before any $TTL or explicit
// TTL. miekg would reject it; BIND uses the SOA MINIMUM with a warning, as
// RFC 1035 §5.2 had the zone's minimum bound every TTL, and NSD uses 3600.
// An explicit TTL of 2^32-1 is taken the same way, which is harmless: RFC
// 2181 §8 does not allow TTLs that large.
const noTTL = 1<<32 - 1

// fixMissingTTL gives records marked noTTL the MINIMUM of the zone's SOA
// (0 without one, when the zone fails anyway) and warns once.
func fixMissingTTL(recs []Record) []Problem {
	first := -1
	var ttl uint32
	for i, r := range recs {
		switch rr := r.RR.(type) {
		case *dns.SOA:
			if rr.Minttl != noTTL && ttl == 0 {
				ttl = rr.Minttl
			}
		}
		if r.RR.Header().Ttl == noTTL && first < 0 {
			first = i
		}
	}
	if first < 0 {
		return nil
	}
	for _, r := range recs[first:] {
		if r.RR.Header().Ttl == noTTL {
			r.RR.Header().Ttl = ttl
		}
	}
	return []Problem{{File: recs[first].File, Line: recs[first].Line, Severity: Warning,
		Msg: fmt.Sprintf("no TTL given and no $TTL before it: using the SOA MINIMUM %d", ttl)}}
}

// fixGenerateTTL gives a record made by $GENERATE the TTL BIND would: the
// template's own TTL, else the $TTL in effect, else the previous record's.
// miekg's $GENERATE sub-parser starts from a fixed default of 3600 instead.
func fixGenerateTTL(rr dns.RR, e *entry, last uint32, haveLast bool) {
	switch {
	case e.genTTL:
	case e.ttlSet:
		rr.Header().Ttl = e.ttl
	case haveLast:
		rr.Header().Ttl = last
	}
}

// isMeta reports the types that may appear in messages but never in zone
// data (RFC 6895 §3.1).
func isMeta(t uint16) bool {
	switch t {
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeIXFR, dns.TypeAXFR,
		dns.TypeMAILA, dns.TypeMAILB, dns.TypeANY:
		return true
	}
	return false
}

// badData reports record data that miekg's parser lets through but a name
// server must not serve: meta types, and a record with no RDATA at all,
// which miekg accepts when nothing but blanks follows the type up to the end
// of its input (its dynamic-update form). That only happens at the end of a
// file or of a $GENERATE line, so atEnd limits the test for empty RDATA to
// those records, and an all-zero value elsewhere (EUI48 00-00-00-00-00-00)
// is not mistaken for it.
func badData(rr dns.RR, atEnd bool) string {
	h := rr.Header()
	if isMeta(h.Rrtype) {
		return fmt.Sprintf("meta type %s is not allowed in zone data", dns.Type(h.Rrtype))
	}
	if _, unknown := rr.(*dns.RFC3597); !atEnd || unknown || h.Rrtype == dns.TypeNULL || h.Rrtype == dns.TypeAPL {
		return "" // empty RDATA is valid for these
	}
	mk, ok := dns.TypeToRR[h.Rrtype]
	if !ok {
		return ""
	}
	empty := mk()
	*empty.Header() = *h
	if dns.IsDuplicate(rr, empty) {
		return fmt.Sprintf("%s record for %s has no data", dns.Type(h.Rrtype), h.Name)
	}
	return ""
}

// parseProblem turns an error from ZoneParser.Err into a Problem. miekg's
// ParseError keeps its file and position unexported and prints them as
// "FILE: dns: MSG: "TOKEN" at line: L:C", so they are read back from there.
func (ps *parseState) parseProblem(err error) Problem {
	var inc *includeError
	var pe *dns.ParseError
	if !errors.As(err, &pe) {
		return ps.problem(err.Error())
	}
	text := pe.Error()
	p := Problem{File: ps.mainDisplay, Severity: Error}
	if i := strings.Index(text, "dns: "); i >= 0 {
		if name, ok := strings.CutSuffix(text[:i], ": "); ok {
			if d, known := ps.names[name]; known {
				p.File = d
			}
		}
		text = text[i+len("dns: "):]
	}
	if i := strings.LastIndex(text, " at line: "); i >= 0 {
		pos := text[i+len(" at line: "):]
		if l, _, ok := strings.Cut(pos, ":"); ok {
			p.Line, _ = strconv.Atoi(l)
		}
		text = text[:i]
	}
	p.Msg = text
	if errors.As(err, &inc) {
		p.Msg = inc.Error()
	}
	// Errors inside a $GENERATE template carry the line number within the
	// generated text; the directive's own line is what the user wrote.
	if src := ps.cur; src != nil && src.inGenerate() && src.name == p.File {
		p.Line = src.ent.line
	}
	return p
}
