package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zone/diff"
	"github.com/meridian-dns/meridian/zone/serial"
)

// The file format (all integers big-endian):
//
//	header:  "MERIDJNL" | version uint32 (1) | flags uint32 (0)
//	records: length uint32 | crc uint32 | payload (length bytes)
//	payload: from uint32 | to uint32 | ndeleted uint32 | nadded uint32 |
//	         the deleted then the added records, uncompressed wire format
//
// crc is CRC-32C (Castagnoli) of the payload. from and to repeat the serials
// of the two SOAs so that the chain can be checked without decoding records.

const (
	magic      = "MERIDJNL"
	version    = 1
	headerSize = 16
	frameSize  = 8  // length and crc
	fixedSize  = 16 // from, to, ndeleted, nadded
	// maxPayload bounds one record, so that a corrupt length cannot make
	// Open allocate without limit. An IXFR of 1 GiB is far past any sane
	// journal bound.
	maxPayload = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header returns the 16 bytes a journal file starts with.
func header() []byte {
	h := make([]byte, 0, headerSize)
	h = append(h, magic...)
	h = binary.BigEndian.AppendUint32(h, version)
	return binary.BigEndian.AppendUint32(h, 0)
}

// entry is one delta as stored: its serials and its payload, kept encoded
// because wire form is several times smaller than the records it decodes
// to, and most deltas are never asked for.
type entry struct {
	from, to uint32
	owner    string // the SOA owner, lower case
	payload  []byte
}

// size is the number of bytes the entry takes in the file.
func (e *entry) size() int64 { return frameSize + int64(len(e.payload)) }

// appendFrame appends the entry as it is written to the file.
func (e *entry) appendFrame(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.payload)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(e.payload, castagnoli))
	return append(dst, e.payload...)
}

// encode turns a validated delta into an entry.
func encode(d diff.Delta) (entry, error) {
	p := make([]byte, 0, fixedSize+64*(len(d.Deleted)+len(d.Added)))
	p = binary.BigEndian.AppendUint32(p, d.From())
	p = binary.BigEndian.AppendUint32(p, d.To())
	p = binary.BigEndian.AppendUint32(p, uint32(len(d.Deleted)))
	p = binary.BigEndian.AppendUint32(p, uint32(len(d.Added)))
	var err error
	if p, err = packRRs(p, d.Deleted); err != nil {
		return entry{}, err
	}
	if p, err = packRRs(p, d.Added); err != nil {
		return entry{}, err
	}
	if len(p) > maxPayload {
		return entry{}, fmt.Errorf("journal: delta %d→%d is %d bytes, over the %d limit", d.From(), d.To(), len(p), maxPayload)
	}
	return entry{from: d.From(), to: d.To(), owner: strings.ToLower(d.Deleted[0].Header().Name), payload: p}, nil
}

// packRRs appends rrs in uncompressed wire format. They go through a
// dns.Msg, a batch at a time, rather than dns.PackRR, which writes Rdlength
// into each record: the records belong to a served zone and are read
// concurrently.
func packRRs(dst []byte, rrs []dns.RR) ([]byte, error) {
	const batch = 1024 // well under the 65535 an ANCOUNT holds
	var m dns.Msg
	var buf []byte
	for len(rrs) > 0 {
		n := min(batch, len(rrs))
		m.Answer = rrs[:n]
		wire, err := m.PackBuffer(buf)
		if err != nil {
			return dst, fmt.Errorf("journal: pack: %w", err)
		}
		dst = append(dst, wire[headerLen:]...)
		buf, rrs = wire, rrs[n:]
	}
	return dst, nil
}

// headerLen is the size of a DNS message header, which packRRs strips.
const headerLen = 12

// decode turns an entry's payload back into a delta. It checks everything
// it reads, since at Open the payload may be any bytes at all.
func decode(p []byte) (diff.Delta, error) {
	if len(p) < fixedSize {
		return diff.Delta{}, errors.New("short payload")
	}
	from := binary.BigEndian.Uint32(p)
	to := binary.BigEndian.Uint32(p[4:])
	ndel := binary.BigEndian.Uint32(p[8:])
	nadd := binary.BigEndian.Uint32(p[12:])
	// Every record takes at least 11 bytes (root owner, fixed fields), so
	// the counts cannot promise more records than the payload can hold.
	if uint64(ndel)+uint64(nadd) > uint64(len(p)-fixedSize)/11 {
		return diff.Delta{}, errors.New("record counts exceed the payload")
	}
	off := fixedSize
	var d diff.Delta
	var err error
	if d.Deleted, off, err = unpackRRs(p, off, int(ndel)); err != nil {
		return diff.Delta{}, err
	}
	if d.Added, off, err = unpackRRs(p, off, int(nadd)); err != nil {
		return diff.Delta{}, err
	}
	if off != len(p) {
		return diff.Delta{}, errors.New("trailing bytes after the records")
	}
	if err := d.Validate(); err != nil {
		return diff.Delta{}, err
	}
	if d.From() != from || d.To() != to {
		return diff.Delta{}, fmt.Errorf("serials %d→%d do not match the SOAs %d→%d", from, to, d.From(), d.To())
	}
	return d, nil
}

func unpackRRs(p []byte, off, n int) ([]dns.RR, int, error) {
	rrs := make([]dns.RR, 0, n)
	for range n {
		rr, next, err := dns.UnpackRR(p, off)
		if err != nil {
			return nil, off, fmt.Errorf("record at %d: %w", off, err)
		}
		if rr == nil || next <= off {
			return nil, off, fmt.Errorf("record at %d: empty", off)
		}
		rrs = append(rrs, rr)
		off = next
	}
	return rrs, off, nil
}

// parse reads a journal file's bytes. It returns the valid records, the
// number of bytes they and the header take (the length to truncate the file
// to), and an error only when the file is not a journal at all. Reading
// stops at the first record that is torn (runs past the end of the file),
// fails its checksum, does not decode, or does not chain to the one before:
// everything from there on is dropped.
func parse(data []byte) (entries []entry, valid int64, err error) {
	switch {
	case len(data) == 0:
		return nil, 0, nil // created, header never written: treat as empty
	case len(data) < headerSize:
		if bytes.HasPrefix(header(), data) {
			return nil, 0, nil // a torn header: nothing was ever appended
		}
		return nil, 0, fmt.Errorf("journal: %w: %d bytes", ErrFormat, len(data))
	case string(data[:len(magic)]) != magic:
		return nil, 0, fmt.Errorf("journal: %w: bad magic", ErrFormat)
	case binary.BigEndian.Uint32(data[8:]) != version:
		return nil, 0, fmt.Errorf("journal: %w: version %d", ErrFormat, binary.BigEndian.Uint32(data[8:]))
	case binary.BigEndian.Uint32(data[12:]) != 0:
		// Flags are for later versions; one this version does not know
		// could change what the records mean.
		return nil, 0, fmt.Errorf("journal: %w: flags %#x", ErrFormat, binary.BigEndian.Uint32(data[12:]))
	}
	off := int64(headerSize)
	for {
		rest := data[off:]
		if len(rest) < frameSize {
			break
		}
		n := binary.BigEndian.Uint32(rest)
		if n > maxPayload || int64(n) > int64(len(rest)-frameSize) {
			break
		}
		payload := rest[frameSize : frameSize+n]
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(rest[4:]) {
			break
		}
		d, err := decode(payload)
		if err != nil {
			break
		}
		e := entry{from: d.From(), to: d.To(), owner: strings.ToLower(d.Deleted[0].Header().Name), payload: bytes.Clone(payload)}
		if len(entries) > 0 && !chainOK(&entries[len(entries)-1], &e) {
			break
		}
		entries = append(entries, e)
		off += e.size()
	}
	return entries, off, nil
}

// chainOK reports whether e may follow last: it starts where last ended,
// for the same zone. serial.Less(from, to) holds for both, checked by
// diff.Delta.Validate.
func chainOK(last, e *entry) bool {
	return e.from == last.to && e.owner == last.owner && serial.Less(e.from, e.to)
}
