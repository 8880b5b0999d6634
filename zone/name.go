package zone

import "strings"

// appendLower appends name in lower case (ASCII only, as DNS compares names,
// RFC 4343) and with a trailing dot.
func appendLower(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	if len(name) == 0 || name[len(name)-1] != '.' || (len(name) > 1 && name[len(name)-2] == '\\' && !escapedDot(name)) {
		dst = append(dst, '.')
	}
	return dst
}

// escapedDot reports whether the final dot of name is preceded by an even
// number of backslashes, so that it is a real label separator.
func escapedDot(name string) bool {
	n := 0
	for i := len(name) - 2; i >= 0 && name[i] == '\\'; i-- {
		n++
	}
	return n%2 == 0
}

// nextLabel returns the offset of the label after the one starting at off,
// honouring backslash escapes; len(key) after the last label.
func nextLabel(key []byte, off int) int {
	for i := off; i < len(key); i++ {
		switch key[i] {
		case '\\':
			i++
		case '.':
			return i + 1
		}
	}
	return len(key)
}

// compareNames orders two lower-case names canonically (RFC 4034 §6.1):
// by their labels from the right, each compared as bytes. It allocates
// nothing: sorting a million names calls it tens of millions of times.
func compareNames(a, b string) int {
	if a == b {
		return 0
	}
	var bufA, bufB [128]int // a name has at most 127 labels
	la, lb := labelStarts(a, bufA[:0]), labelStarts(b, bufB[:0])
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := strings.Compare(labelAt(a, la, i), labelAt(b, lb, j)); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// compareNameKey is compareNames for a lookup: the second name may be the
// lower-cased query name as bytes, and neither needs a label table, so a
// binary search over many names costs no allocation and little copying.
// Both names must be fully qualified, as the zone's and the keys are.
func compareNameKey[B ~string | ~[]byte](a string, b B) int {
	ea, eb := len(a)-1, len(b)-1 // without the root's dot
	for ea > 0 && eb > 0 {
		sa, sb := labelBefore(a, ea), labelBefore(b, eb)
		if c := compareLabel(a[sa:ea], b[sb:eb]); c != 0 {
			return c
		}
		ea, eb = sa-1, sb-1
	}
	switch {
	case ea > 0:
		return 1
	case eb > 0:
		return -1
	}
	return 0
}

// labelBefore returns where the label ending at end starts: after the
// closest dot before end that no backslash escapes (an even run of
// backslashes before a dot escapes each other, not the dot).
func labelBefore[S ~string | ~[]byte](name S, end int) int {
	for i := end - 1; i >= 0; i-- {
		if name[i] != '.' {
			continue
		}
		bs := 0
		for j := i - 1; j >= 0 && name[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			return i + 1
		}
	}
	return 0
}

// compareLabel compares two labels as octet strings.
func compareLabel[B ~string | ~[]byte](a string, b B) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

// labelStarts appends the offset of each label of name (none for the
// root), honouring backslash escapes.
func labelStarts(name string, dst []int) []int {
	start := true
	for i := 0; i < len(name); i++ {
		if start {
			if name[i] == '.' && i == len(name)-1 {
				break // the root's final dot
			}
			if len(dst) == cap(dst) {
				return dst
			}
			dst = append(dst, i)
			start = false
		}
		switch name[i] {
		case '\\':
			i++
		case '.':
			start = true
		}
	}
	return dst
}

// labelAt returns label i of name, without its dot.
func labelAt(name string, starts []int, i int) string {
	end := len(name)
	if i+1 < len(starts) {
		end = starts[i+1]
	}
	l := name[starts[i]:end]
	if len(l) > 0 && l[len(l)-1] == '.' {
		l = l[:len(l)-1]
	}
	return l
}
