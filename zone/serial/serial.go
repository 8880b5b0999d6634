// Package serial implements serial number arithmetic (RFC 1982) for SOA
// serials, so that "newer" means what it means on every DNS server even
// after the 32-bit counter wraps.
//
// A secondary decides whether to transfer by comparing serials (RFC 1034
// §4.3.5), and a primary decides between IXFR, AXFR and a lone SOA the same
// way (RFC 1995 §2). Plain integer comparison gets the wrap wrong: 4294967295
// is older than 5 when a zone's serial has been incremented past 2^32.
package serial

import "fmt"

// MaxAdd is the largest increment RFC 1982 §3.1 defines: adding more would
// make the result compare as smaller than where it started.
const MaxAdd = 1<<31 - 1

// half is 2^(SERIAL_BITS-1), the distance at which two serials cannot be
// ordered (RFC 1982 §3.2).
const half = 1 << 31

// Order is the result of comparing two serials.
type Order int8

const (
	// EqualTo: the serials are the same number.
	EqualTo Order = iota
	// LessThan: the first serial is older than the second.
	LessThan
	// GreaterThan: the first serial is newer than the second.
	GreaterThan
	// Undefined: the serials are exactly 2^31 apart; RFC 1982 §3.2 leaves
	// their order undefined, and implementations disagree, so Meridian treats
	// neither as newer and the caller falls back to a full transfer.
	Undefined
)

var orderNames = [...]string{"equal", "less", "greater", "undefined"}

func (o Order) String() string {
	if o >= 0 && int(o) < len(orderNames) {
		return orderNames[o]
	}
	return fmt.Sprintf("order(%d)", int8(o))
}

// Compare orders a and b by RFC 1982 §3.2: a is less than b when b lies
// less than 2^31 ahead of a on the 32-bit circle.
func Compare(a, b uint32) Order {
	switch d := b - a; {
	case d == 0:
		return EqualTo
	case d < half:
		return LessThan
	case d > half:
		return GreaterThan
	default:
		return Undefined
	}
}

// Less reports whether a is older than b (RFC 1982 §3.2). It is false when
// the order is undefined, so "transfer when Less(ours, theirs)" never
// transfers on an ambiguous serial.
func Less(a, b uint32) bool { return Compare(a, b) == LessThan }

// Greater reports whether a is newer than b (RFC 1982 §3.2); false when the
// order is undefined.
func Greater(a, b uint32) bool { return Compare(a, b) == GreaterThan }

// Add returns s + n modulo 2^32 (RFC 1982 §3.1). An n above MaxAdd is an
// error: the result would not compare as greater than s, which is the whole
// point of incrementing a serial.
func Add(s, n uint32) (uint32, error) {
	if n > MaxAdd {
		return s, fmt.Errorf("serial: increment %d exceeds 2^31-1 (RFC 1982 §3.1)", n)
	}
	return s + n, nil
}

// Distance returns how far b is ahead of a: b - a when a is older than or
// equal to b, with ok true. When b is not ahead (it is older, or the order
// is undefined) ok is false. A primary reports a secondary's lag in serials
// with it.
func Distance(a, b uint32) (d uint32, ok bool) {
	switch Compare(a, b) {
	case EqualTo:
		return 0, true
	case LessThan:
		return b - a, true
	}
	return 0, false
}

// Max returns the newer of a and b, and ok false when their order is
// undefined (then it returns a). A secondary that hears serials from several
// primaries follows the newest one.
func Max(a, b uint32) (uint32, bool) {
	switch Compare(a, b) {
	case LessThan:
		return b, true
	case Undefined:
		return a, false
	}
	return a, true
}

// Steps returns the serials a zone must be published with, in order, to
// move from from to to when to is not newer than from: RFC 1982 §7 (and RFC
// 2182 §7) resets a serial by adding at most 2^31-1 at a time, letting every
// secondary transfer each intermediate version. When to is already newer,
// Steps returns [to]; when equal, nil.
func Steps(from, to uint32) []uint32 {
	var out []uint32
	for cur := from; cur != to; {
		if Less(cur, to) {
			return append(out, to)
		}
		cur += MaxAdd
		out = append(out, cur)
	}
	return out
}
