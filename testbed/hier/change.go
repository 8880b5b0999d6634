package hier

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// Edit is the change made by Change: the name whose A record changed, and
// its old and new address, and the zone's new SOA serial.
type Edit struct {
	Name     string
	Old, New netip.Addr
	Serial   uint32
}

// movedBase and movedSize are where Change puts a moved name: the shared
// address space of RFC 6598 (100.64.0.0/10), apart from the generated
// hosts' 198.18.0.0/15, so that a resolver still answering the old address
// is told from one that saw the change by the answer alone.
var movedBase = netip.AddrFrom4([4]byte{100, 64, 0, 0})

const movedSize = 1 << 22

// Change returns a copy of a zone's records with the SOA serial increased
// by one (RFC 1982 arithmetic) and the A record of the zone's most popular
// address name (for a generated zone host0.<zone>; else the first A owner
// in the records that is not a name server name) moved to a new address
// never used before in the zone (derive it from the new serial). It does
// not modify rrs.
//
// The new address is 100.64.0.0/10 plus the new serial modulo 2^22, moved
// on past any address the zone already holds, so successive changes give
// distinct addresses for four million serials. The copy shares the
// records that did not change with rrs; records are never modified.
func Change(rrs []dns.RR) ([]dns.RR, Edit, error) {
	si := slices.IndexFunc(rrs, func(rr dns.RR) bool { _, ok := rr.(*dns.SOA); return ok })
	if si < 0 {
		return nil, Edit{}, errors.New("hier: change: no SOA")
	}
	soa := rrs[si].(*dns.SOA)
	ai := target(rrs, dns.CanonicalName(soa.Hdr.Name))
	if ai < 0 {
		return nil, Edit{}, errors.New("hier: change " + soa.Hdr.Name + ": no address name to move")
	}
	old := rrs[ai].(*dns.A)
	serial := soa.Serial + 1 // RFC 1982 §3.1: addition modulo 2^32
	used := map[netip.Addr]bool{}
	for _, rr := range rrs {
		if a, ok := rr.(*dns.A); ok {
			if addr, ok := netip.AddrFromSlice(a.A.To4()); ok {
				used[addr] = true
			}
		}
	}
	var addr netip.Addr
	for k := uint32(0); ; k++ {
		if k == movedSize {
			return nil, Edit{}, errors.New("hier: change " + soa.Hdr.Name + ": no free address in 100.64.0.0/10")
		}
		addr = movedAddr(serial + k)
		if !used[addr] {
			break
		}
	}
	out := slices.Clone(rrs)
	newSOA := dns.Copy(soa).(*dns.SOA)
	newSOA.Serial = serial
	out[si] = newSOA
	newA := dns.Copy(old).(*dns.A)
	newA.A = addr.AsSlice()
	out[ai] = newA
	oldAddr, _ := netip.AddrFromSlice(old.A.To4())
	return out, Edit{Name: dns.CanonicalName(old.Hdr.Name), Old: oldAddr, New: addr, Serial: serial}, nil
}

func movedAddr(n uint32) netip.Addr {
	n %= movedSize
	b := movedBase.As4()
	b[1] += byte(n >> 16)
	b[2], b[3] = byte(n>>8), byte(n)
	return netip.AddrFrom4(b)
}

// target returns the index of the A record Change moves: host0.<apex> if
// the zone has it, else the first A record whose owner no NS record names.
// Build lists a file zone's records in file order, so that is the first
// address name of the file, the one topology.QueryNames ranks first.
func target(rrs []dns.RR, apex string) int {
	host0 := join("host0", apex)
	if i := slices.IndexFunc(rrs, func(rr dns.RR) bool {
		_, ok := rr.(*dns.A)
		return ok && dns.CanonicalName(rr.Header().Name) == host0
	}); i >= 0 {
		return i
	}
	ns := map[string]bool{}
	for _, rr := range rrs {
		if v, ok := rr.(*dns.NS); ok {
			ns[dns.CanonicalName(v.Ns)] = true
		}
	}
	return slices.IndexFunc(rrs, func(rr dns.RR) bool {
		_, ok := rr.(*dns.A)
		return ok && !ns[dns.CanonicalName(rr.Header().Name)]
	})
}
