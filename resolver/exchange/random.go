package exchange

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
)

// randBuf hands out bytes from crypto/rand, read 4 KiB at a time, so that
// the ID and 0x20 bits of a query cost a copy under a mutex rather than a
// system call. The IDs must come from a cryptographic source: a predictable
// ID is what the Kaminsky attack exploits (RFC 5452 §4.3, §9.2).
type randBuf struct {
	mu  sync.Mutex
	buf [4096]byte
	off int // bytes of buf already used
}

func newRandBuf() *randBuf {
	r := &randBuf{}
	r.off = len(r.buf)
	return r
}

// read fills p with random bytes. Bytes handed out are wiped from the
// buffer so that a later memory disclosure does not reveal past IDs.
func (r *randBuf) read(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(p) > 0 {
		if r.off == len(r.buf) {
			rand.Read(r.buf[:]) // never fails since Go 1.24 (it crashes the program instead)
			r.off = 0
		}
		n := copy(p, r.buf[r.off:])
		clear(r.buf[r.off : r.off+n])
		r.off += n
		p = p[n:]
	}
}

func (r *randBuf) uint16() uint16 {
	var b [2]byte
	r.read(b[:])
	return binary.BigEndian.Uint16(b[:])
}

// randomizeCase flips the case of each ASCII letter of name with
// probability 1/2 (draft-vixie-dnsext-dns0x20 §3): a server copies the
// question into its answer byte for byte, so a forger must also guess one
// bit per letter. Letters are never escaped in presentation format, and
// an escaped letter (\a) means the letter itself, so flipping bytes of the
// presentation form is flipping the name's letters.
func (r *randBuf) randomizeCase(name string) string {
	letters := 0
	for i := 0; i < len(name); i++ {
		if isLetter(name[i]) {
			letters++
		}
	}
	if letters == 0 {
		return name
	}
	var bits [32]byte // a name has at most 255 octets, so at most 255 letters
	letters = min(letters, 8*len(bits))
	r.read(bits[:(letters+7)/8])
	b := []byte(name)
	j := 0
	for i, ch := range b {
		if !isLetter(ch) || j == letters {
			continue
		}
		if bits[j/8]>>(j%8)&1 == 1 {
			b[i] = ch ^ 0x20
		}
		j++
	}
	return string(b)
}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
