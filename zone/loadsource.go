package zone

// The line-tracking reader under miekg's ZoneParser, and the file system
// that confines $INCLUDE.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"
)

// parseState follows one Parse call across the main file and its includes.
// miekg's ZoneParser has no line accessor, but its lexer reads a byte at a
// time from any io.ByteReader without buffering ahead, so every input is a
// source that mirrors the lexer's grammar (quotes, escapes, comments,
// parentheses) and notes the line where each entry starts. When Next
// returns a record, the lexer has just consumed the newline ending that
// record's entry and nothing after it, so the source read last holds the
// record's file and first line.
type parseState struct {
	mainName    string            // the file name handed to miekg (absolute)
	mainDisplay string            // the file name as the caller gave it
	dir         string            // absolute directory that confines $INCLUDE
	displayDir  string            // that directory as the caller named it
	names       map[string]string // miekg's file names to display names
	root        *os.Root          // opened on the first $INCLUDE
	cur         *source           // the source read last
	open        []*includeFile    // included files, closed at the end
	fatal       *Problem          // a directive refused by a source
}

// source is one input file wrapped as a line-tracking io.ByteReader.
type source struct {
	ps   *parseState
	br   io.ByteReader
	name string // display name, as records and problems report it
	line int    // line of the next byte

	// A mirror of miekg's lexer state (scan.go, zlexer.Next).
	quote, comment, escape bool
	brace                  int

	open   bool   // inside an entry
	dir    bool   // the entry is a directive: it starts with '$'
	first  bool   // still inside the entry's first token
	prev   byte   // previous byte outside comments
	text   []byte // text of a directive entry, for $TTL and $GENERATE
	ent    entry  // the entry begun last
	ttl    uint32 // $TTL in effect in this file
	ttlSet bool
	eof    bool // the lexer has read to the end
	// off counts the bytes read; closed is off when the last entry ended.
	off, closed int64
}

// entry is what a source knows about one logical record or directive.
type entry struct {
	line   int
	gen    bool   // a $GENERATE directive
	genTTL bool   // whose template sets its own TTL
	ttl    uint32 // $TTL in effect when the entry began
	ttlSet bool
}

// maxDirective bounds the directive text kept for $TTL and $GENERATE.
const maxDirective = 4096

func (s *source) ReadByte() (byte, error) {
	c, err := s.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			s.eof = true
			s.endEntry()
		}
		return 0, err
	}
	s.ps.cur = s
	s.step(c)
	if s.ps.fatal != nil {
		return 0, s.ps.fatal
	}
	return c, nil
}

// Read serves fs.File; the lexer itself only calls ReadByte.
func (s *source) Read(p []byte) (int, error) {
	for i := range p {
		c, err := s.ReadByte()
		if err != nil {
			return i, err
		}
		p[i] = c
	}
	return len(p), nil
}

// step advances the mirror of the lexer by one byte. Outside quotes and
// comments a newline ends the entry unless a parenthesis is open; a
// backslash escapes the next byte except a newline; ';' starts a comment
// that runs to the end of the line.
func (s *source) step(c byte) {
	s.off++
	line := s.line
	if c == '\n' {
		s.line++
	}
	if s.comment {
		if c == '\n' {
			s.comment = false
			s.newline()
		}
		return
	}
	data := true
	switch c {
	case '\n':
		s.escape = false
		if !s.quote {
			s.newline()
			data = false
		}
	case '\r':
		s.escape = false
		data = s.quote
	case ' ', '\t':
		if s.escape || s.quote {
			s.escape = false
		} else {
			s.endToken()
			data = false
		}
	case ';':
		if s.escape || s.quote {
			s.escape = false
		} else {
			s.endToken()
			s.comment = true
			data = false
		}
	case '\\':
		s.escape = !s.escape
	case '"':
		if s.escape {
			s.escape = false
		} else {
			s.endToken()
			s.quote = !s.quote
		}
	case '(', ')':
		if s.escape || s.quote {
			s.escape = false
		} else {
			s.endToken()
			if c == '(' {
				s.brace++
			} else {
				s.brace--
			}
			data = false
		}
	default:
		s.escape = false
	}
	if data && !s.open {
		s.open, s.first, s.dir = true, true, c == '$'
		s.ent = entry{line: line, ttl: s.ttl, ttlSet: s.ttlSet}
		s.text = s.text[:0]
	}
	if s.open && s.dir && len(s.text) < maxDirective {
		s.text = append(s.text, c)
	}
	// miekg's $GENERATE sub-parser turns "$$" and "\$" into a literal '$'
	// and honours a generated $INCLUDE with os.Open, outside the confined
	// file system. A template that can generate a '$' is refused instead.
	if s.ent.gen && s.open && c == '$' && (s.prev == '$' || s.prev == '\\') {
		s.ps.fatal = &Problem{File: s.name, Line: s.ent.line, Severity: Error,
			Msg: `$GENERATE template with a literal '$' ("$$" or "\$") is not supported`}
	}
	s.prev = c
}

func (s *source) endToken() {
	if s.open && s.first {
		s.first = false
		s.ent.gen = strings.EqualFold(string(s.text), "$GENERATE")
	}
}

func (s *source) newline() {
	if s.brace <= 0 && !s.quote {
		s.endToken()
		s.endEntry()
	}
}

// endEntry closes the current entry and applies what a directive means for
// line bookkeeping: $TTL changes the default, $GENERATE notes whether its
// template has a TTL of its own.
func (s *source) endEntry() {
	if !s.open {
		return
	}
	s.endToken()
	s.open, s.closed = false, s.off
	if len(s.text) == 0 {
		return
	}
	f := strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(string(s.text)))
	switch {
	case strings.EqualFold(f[0], "$TTL") && len(f) > 1:
		if ttl, ok := parseTTL(f[1]); ok {
			s.ttl, s.ttlSet = ttl, true
		}
	case s.ent.gen && len(f) > 3:
		s.ent.genTTL = templateHasTTL(f[3:])
	}
}

// inGenerate reports whether the parser is still in the $GENERATE entry
// begun last, or in the records it generates: nothing read since.
func (s *source) inGenerate() bool {
	return s.ent.gen && (s.open || s.off == s.closed)
}

// problem reports msg as an error at the entry read last.
func (ps *parseState) problem(msg string) Problem {
	p := Problem{File: ps.mainDisplay, Severity: Error, Msg: msg}
	if ps.cur != nil {
		p.File, p.Line = ps.cur.name, ps.cur.ent.line
	}
	return p
}

func newParseState(file string) *parseState {
	ps := &parseState{mainDisplay: file, names: make(map[string]string)}
	if file == "" {
		return ps
	}
	ps.displayDir = filepath.Dir(file)
	ps.mainName = filepath.ToSlash(file)
	if abs, err := filepath.Abs(file); err == nil {
		// miekg joins $INCLUDE paths to the directory of this name and
		// strips the leading '/' before calling the FS, so an absolute
		// name lets includeFS see where an include really points.
		ps.mainName, ps.dir = filepath.ToSlash(abs), filepath.Dir(abs)
	}
	ps.names[ps.mainName] = file
	return ps
}

func (ps *parseState) newSource(r io.Reader, name string) *source {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &source{ps: ps, br: br, name: name, line: 1}
}

func (ps *parseState) close() {
	for _, s := range ps.open {
		s.Close()
	}
	if ps.root != nil {
		ps.root.Close()
	}
}

// includeFS opens $INCLUDE targets for miekg, only inside the directory of
// the zone file. os.Root also refuses symbolic links that lead out of it.
type includeFS struct{ ps *parseState }

// includeError is an $INCLUDE that could not be opened.
type includeError struct {
	path string // as the user would name it
	err  error
}

func (e *includeError) Error() string { return fmt.Sprintf("$INCLUDE %s: %v", e.path, e.err) }
func (e *includeError) Unwrap() error { return e.err }

// errOutside is the reason an $INCLUDE leaving the zone's directory fails.
var errOutside = errors.New("outside the zone file's directory")

func (f includeFS) Open(name string) (fs.File, error) {
	ps := f.ps
	abs := filepath.FromSlash("/" + name)
	rel, err := filepath.Rel(ps.dir, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || ps.dir == "" {
		return nil, &includeError{path: abs, err: errOutside}
	}
	display := filepath.Join(ps.displayDir, rel)
	if ps.root == nil {
		if ps.root, err = os.OpenRoot(ps.dir); err != nil {
			return nil, &includeError{path: display, err: err}
		}
	}
	file, err := ps.root.Open(rel)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the message already
		}
		return nil, &includeError{path: display, err: err}
	}
	parent := ps.cur
	s := ps.newSource(bufio.NewReader(file), display)
	if parent != nil {
		// The included file starts with the includer's $TTL, as miekg's
		// sub-parser starts with its default TTL.
		s.ttl, s.ttlSet = parent.ttl, parent.ttlSet
	}
	inc := &includeFile{source: s, f: file}
	ps.names[name] = display
	ps.open = append(ps.open, inc)
	return inc, nil
}

// includeFile is an included file as miekg reads it: a source, so that it
// keeps its own line count, and an fs.File, so that miekg can close it.
type includeFile struct {
	*source
	f      *os.File
	closed bool
}

func (i *includeFile) Stat() (fs.FileInfo, error) { return i.f.Stat() }

func (i *includeFile) Close() error {
	if i.closed {
		return nil
	}
	i.closed = true
	return i.f.Close()
}

// templateHasTTL reports whether the fields of a $GENERATE template after
// its owner ("[ttl] [class] type rdata") start with an explicit TTL.
func templateHasTTL(fields []string) bool {
	for i, f := range fields {
		if i == 2 {
			break
		}
		u := strings.ToUpper(f)
		if _, ok := dns.StringToClass[u]; ok || strings.HasPrefix(u, "CLASS") {
			continue
		}
		if _, ok := dns.StringToType[u]; ok || strings.HasPrefix(u, "TYPE") {
			return false
		}
		_, ok := parseTTL(f)
		return ok
	}
	return false
}

// parseTTL reads a TTL as miekg does: seconds, or a sum of numbers with the
// BIND units s, m, h, d and w.
func parseTTL(s string) (uint32, bool) {
	if s == "" {
		return 0, false
	}
	var total, n uint64
	for _, c := range strings.ToLower(s) {
		switch c {
		case 's':
			total, n = total+n, 0
		case 'm':
			total, n = total+n*60, 0
		case 'h':
			total, n = total+n*3600, 0
		case 'd':
			total, n = total+n*86400, 0
		case 'w':
			total, n = total+n*604800, 0
		default:
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + uint64(c-'0')
		}
		if n > 1<<32 || total > 1<<32 {
			return 0, false
		}
	}
	total += n
	if total > 1<<32-1 {
		return 0, false
	}
	return uint32(total), true
}
