package diff

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// A record's key is its identity in a zone, as bytes that sort in canonical
// order (RFC 4034 §6.1 for owners, then type, class and RDATA):
//
//	owner | 0x00 0x00 | TYPE | CLASS | RDATA
//
// The owner is written label by label from the root down, each label in
// lower case with a 0x00 byte inside it written 0x00 0xFF and followed by
// 0x00 0x01, so that plain byte comparison of keys orders owners as RFC 4034
// §6.1 does: a parent before its children, labels compared as unsigned
// octets, a shorter label before a longer one it prefixes.
//
// The RDATA is the uncompressed wire form with every domain name in lower
// case. Two records have the same key when dns.IsDuplicate calls them equal
// (owner, class, type and RDATA alike, names compared without regard to
// case, TTL ignored), which is how zone.Check drops duplicates and how BIND
// compares RDATA when it applies an IXFR; and also when they differ only in
// how a name is escaped ("\097" and "a"), which IsDuplicate, comparing text,
// misses. The TTL is not part of the key: a
// changed TTL is a deletion and an addition (RFC 1995 §4).

// entry is one record with its key, kept in the arena of a keySet.
type entry struct {
	rr  dns.RR
	off int32 // key position in the arena
	n   int32 // key length
	idx int32 // position in the input, to break ties deterministically
}

// keySet is records and their keys, sorted by key once built.
type keySet struct {
	arena   []byte
	entries []entry
}

func (s *keySet) key(e *entry) []byte { return s.arena[e.off : e.off+e.n] }

func (s *keySet) reset() {
	clear(s.entries)
	s.arena, s.entries = s.arena[:0], s.entries[:0]
}

// copyFrom appends entry e of another set, with its key, to s.
func (s *keySet) copyFrom(o *keySet, e *entry) {
	off := len(s.arena)
	s.arena = append(s.arena, o.key(e)...)
	s.entries = append(s.entries, entry{rr: e.rr, off: int32(off), n: e.n, idx: int32(len(s.entries))})
}

// sortDedup sorts the entries by key and drops records that repeat an
// earlier one's key, keeping the first in input order: a zone holds a record
// once (RFC 2181 §5), however often a master file spelled it.
func (s *keySet) sortDedup() {
	slices.SortFunc(s.entries, func(a, b entry) int {
		if c := bytes.Compare(s.key(&a), s.key(&b)); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	s.entries = slices.CompactFunc(s.entries, func(a, b entry) bool {
		return bytes.Equal(s.key(&a), s.key(&b))
	})
}

// keyer builds keys. It is not safe for concurrent use; each call of Diff or
// Apply makes its own.
type keyer struct {
	msg   dns.Msg // packs one record at a time, uncompressed
	buf   []byte
	names map[reflect.Type][]int // indexes of the domain-name fields of each RR type
}

func newKeyer() *keyer {
	k := &keyer{buf: make([]byte, 0, 512), names: make(map[reflect.Type][]int)}
	k.msg.Answer = make([]dns.RR, 1)
	return k
}

// add appends rr's key to the arena of s and its entry to s.entries.
func (k *keyer) add(s *keySet, rr dns.RR, idx int) error {
	start := len(s.arena)
	arena, err := k.appendKey(s.arena, rr)
	if err != nil {
		return err
	}
	if len(arena) > 1<<31-1 {
		return fmt.Errorf("diff: more than 2 GiB of record keys")
	}
	s.arena = arena
	s.entries = append(s.entries, entry{rr: rr, off: int32(start), n: int32(len(arena) - start), idx: int32(idx)})
	return nil
}

// appendKey appends the key of rr to dst.
//
// Records are packed through a dns.Msg rather than dns.PackRR, because
// PackRR writes Rdlength into the record's header: the records here are
// shared with a served zone, which must not be written to.
func (k *keyer) appendKey(dst []byte, rr dns.RR) ([]byte, error) {
	packed := rr
	if lc, ok := k.lowerNames(rr); ok {
		packed = lc
	}
	k.msg.Answer[0] = packed
	wire, err := k.msg.PackBuffer(k.buf[:cap(k.buf)])
	if err != nil {
		return dst, fmt.Errorf("diff: pack %s: %w", rr.Header().Name, err)
	}
	if cap(wire) > cap(k.buf) {
		k.buf = wire[:0]
	}
	// wire: 12-byte message header, then owner, TYPE, CLASS, TTL,
	// RDLENGTH, RDATA.
	dst, off, ok := appendOwnerWire(dst, wire, 12)
	if !ok || off+10 > len(wire) {
		return dst, fmt.Errorf("diff: pack %s: short record", rr.Header().Name)
	}
	dst = binary.BigEndian.AppendUint16(dst, rr.Header().Rrtype)
	dst = binary.BigEndian.AppendUint16(dst, rr.Header().Class)
	return append(dst, wire[off+10:]...), nil
}

// appendOwnerWire appends the key form of the uncompressed wire name at
// wire[off:] and returns the offset after the name.
func appendOwnerWire(dst, wire []byte, off int) ([]byte, int, bool) {
	var labels [128]int // a name has at most 127 labels
	n := 0
	for off < len(wire) && wire[off] != 0 {
		if n == len(labels) || wire[off]&0xC0 != 0 || off+1+int(wire[off]) > len(wire) {
			return dst, off, false
		}
		labels[n] = off
		n++
		off += int(wire[off]) + 1
	}
	if off >= len(wire) {
		return dst, off, false
	}
	for i := n - 1; i >= 0; i-- {
		l := labels[i]
		for _, c := range wire[l+1 : l+1+int(wire[l])] {
			switch {
			case c == 0:
				dst = append(dst, 0, 0xFF)
			case 'A' <= c && c <= 'Z':
				dst = append(dst, c+'a'-'A')
			default:
				dst = append(dst, c)
			}
		}
		dst = append(dst, 0, 1)
	}
	return append(dst, 0, 0), off + 1, true
}

// appendOwner appends the key form of a domain name in presentation format,
// the owner part of the keys of its records. Names without escapes, nearly
// all of them, are converted in place; others are packed to wire form first.
func (k *keyer) appendOwner(dst []byte, name string) ([]byte, error) {
	if strings.IndexByte(name, '\\') < 0 {
		end := len(name)
		if end > 0 && name[end-1] == '.' {
			end--
		}
		for end > 0 {
			start := strings.LastIndexByte(name[:end], '.') + 1
			for i := start; i < end; i++ {
				c := name[i]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				dst = append(dst, c)
			}
			dst = append(dst, 0, 1)
			end = start - 1
		}
		return append(dst, 0, 0), nil
	}
	k.buf = slices.Grow(k.buf[:0], 256)[:256]
	n, err := dns.PackDomainName(dns.Fqdn(name), k.buf, 0, nil, false)
	if err != nil {
		return dst, fmt.Errorf("diff: name %q: %w", name, err)
	}
	dst, _, ok := appendOwnerWire(dst, k.buf[:n], 0)
	if !ok {
		return dst, fmt.Errorf("diff: name %q: bad wire form", name)
	}
	return dst, nil
}

// lowerNames returns a copy of rr with the domain names in its RDATA in
// lower case, or ok false when they already are (the common case, which
// costs no copy). The fields are found once per type from miekg's struct
// tags, so every type with names in its RDATA is covered, not only the
// RFC 4034 §6.2 list.
func (k *keyer) lowerNames(rr dns.RR) (dns.RR, bool) {
	v := reflect.ValueOf(rr)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	v = v.Elem()
	fields, ok := k.names[v.Type()]
	if !ok {
		fields = nameFields(v.Type())
		k.names[v.Type()] = fields
	}
	upper := false
	for _, i := range fields {
		f := v.Field(i)
		if f.Kind() == reflect.String {
			upper = upper || hasUpper(f.String())
			continue
		}
		for j := range f.Len() {
			upper = upper || hasUpper(f.Index(j).String())
		}
	}
	if !upper {
		return nil, false
	}
	cp := dns.Copy(rr)
	c := reflect.ValueOf(cp).Elem()
	for _, i := range fields {
		f := c.Field(i)
		if f.Kind() == reflect.String {
			f.SetString(strings.ToLower(f.String()))
			continue
		}
		lower := make([]string, f.Len())
		for j := range lower {
			lower[j] = strings.ToLower(f.Index(j).String())
		}
		f.Set(reflect.ValueOf(lower))
	}
	return cp, true
}

// nameFields lists the fields of an RR struct that hold domain names.
func nameFields(t reflect.Type) []int {
	var out []int
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("dns")
		if tag != "domain-name" && tag != "cdomain-name" {
			continue
		}
		if f.Type.Kind() == reflect.String || (f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String) {
			out = append(out, i)
		}
	}
	return out
}

// hasUpper reports whether s holds an ASCII capital, the only letters DNS
// folds (RFC 4343 §3).
func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
