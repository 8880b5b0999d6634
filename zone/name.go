package zone

import (
	"strings"

	"github.com/miekg/dns"
)

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
// by their labels from the right, each compared as bytes.
func compareNames(a, b string) int {
	if a == b {
		return 0
	}
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := strings.Compare(la[i], lb[j]); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}
