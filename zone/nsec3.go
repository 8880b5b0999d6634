package zone

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Authenticated denial of existence with NSEC3 (RFC 5155 §7.2). A zone
// signed with NSEC3 keeps its NSEC3 owners sorted by their hash label, built
// once with the zone; a proof hashes the names it is about with the zone's
// parameters and binary-searches that ring for the NSEC3 matching or covering
// each hash. Only negative answers, wildcard answers and insecure referrals
// with DO hash anything; other lookups and other zones pay nothing.

// nsec3Chain is the NSEC3 chain of a zone and the parameters that hash
// names into it.
type nsec3Chain struct {
	iter   uint16
	salt   string // hex, "" for none
	owners []nsec3Owner
}

// nsec3Owner is one NSEC3 owner: the node and its hash label in upper case,
// as dns.HashName writes it. Base32hex keeps the order of the hashes
// (RFC 4648 §7), so sorting the labels as strings sorts the ring.
type nsec3Owner struct {
	hash string
	n    *node
}

// hideNSEC3 marks the names that are not part of the zone's name space:
// owners of NSEC3 records and nothing else, and empty non-terminals above
// only those (RFC 5155 §7.2.8: such a name does not exist, whatever the
// question). It walks z.nodes backwards, so children come before parents.
func (z *Zone) hideNSEC3() {
	for _, n := range z.nodes {
		n.hidden = n != z.apex && n.onlyNSEC3() // empty non-terminals too, until a child shows
	}
	for i := len(z.nodes) - 1; i >= 0; i-- {
		if n := z.nodes[i]; !n.hidden && n.parent != nil {
			n.parent.hidden = false
		}
	}
}

// onlyNSEC3 reports whether every RRset of n is NSEC3 (with its RRSIGs),
// which an empty non-terminal also satisfies.
func (n *node) onlyNSEC3() bool {
	for i := range n.rrsets {
		if n.rrsets[i].rtype != dns.TypeNSEC3 {
			return false
		}
	}
	return true
}

// indexNSEC3 builds the chain of a zone signed with NSEC3 and without NSEC.
// The parameters are those of the NSEC3PARAM at the apex (RFC 5155 §4), or
// of the first NSEC3 when there is none; NSEC3 records with other parameters
// (a chain being replaced) are left out. Only SHA-1 is defined.
func (z *Zone) indexNSEC3() {
	if len(z.nsec) > 0 {
		return
	}
	c := &nsec3Chain{}
	found := false
	if s := z.apex.get(dns.TypeNSEC3PARAM); s != nil {
		for _, rr := range s.rrs {
			if p, ok := rr.(*dns.NSEC3PARAM); ok && p.Hash == dns.SHA1 {
				c.iter, c.salt, found = p.Iterations, strings.ToUpper(p.Salt), true
				break
			}
		}
	}
	for _, n := range z.nodes {
		s := n.get(dns.TypeNSEC3)
		if s == nil {
			continue
		}
		r, ok := s.rrs[0].(*dns.NSEC3)
		if !ok || r.Hash != dns.SHA1 {
			continue
		}
		if !found {
			c.iter, c.salt, found = r.Iterations, strings.ToUpper(r.Salt), true
		}
		if r.Iterations != c.iter || !strings.EqualFold(r.Salt, c.salt) {
			continue
		}
		label := n.name
		if off, end := dns.NextLabel(n.name, 0); !end {
			label = n.name[:off-1]
		}
		c.owners = append(c.owners, nsec3Owner{hash: strings.ToUpper(label), n: n})
	}
	if len(c.owners) == 0 {
		return
	}
	slices.SortFunc(c.owners, func(a, b nsec3Owner) int { return strings.Compare(a.hash, b.hash) })
	c.owners = slices.Clip(c.owners)
	z.nsec3 = c
}

// hash returns the NSEC3 hash of name, "" if it cannot be hashed.
func (c *nsec3Chain) hash(name string) string {
	return dns.HashName(name, dns.SHA1, c.iter, c.salt)
}

func compareOwnerHash(o nsec3Owner, h string) int { return strings.Compare(o.hash, h) }

// matching returns the NSEC3 owner whose hash is that of name, or nil.
func (c *nsec3Chain) matching(name string) *node {
	h := c.hash(name)
	if i, found := slices.BinarySearchFunc(c.owners, h, compareOwnerHash); found && h != "" {
		return c.owners[i].n
	}
	return nil
}

// covering returns the NSEC3 owner whose hash precedes that of name on the
// ring: its NSEC3 covers name (RFC 5155 §3.1.7). The last owner covers the
// hashes after it and those before the first. A hash equal to an owner's
// gives that owner, which then matches rather than covers.
func (c *nsec3Chain) covering(name string) *node {
	h := c.hash(name)
	if h == "" {
		return nil
	}
	i, found := slices.BinarySearchFunc(c.owners, h, compareOwnerHash)
	switch {
	case found:
		return c.owners[i].n
	case i == 0:
		return c.owners[len(c.owners)-1].n
	}
	return c.owners[i-1].n
}

// addNSEC3 puts the NSEC3 RRset of n and its signatures in the authority
// section, once.
func (q *query) addNSEC3(n *node) { q.addProof(n, dns.TypeNSEC3) }

// nextCloser returns the name one label longer than the closest encloser
// ce that key lies under (RFC 5155 §1.3): key itself when it is a child of
// ce.
func nextCloser(key []byte, ce *node) []byte {
	prev := 0
	for off := 0; off < len(key); off = nextLabel(key, off) {
		if len(key)-off == len(ce.name) {
			break
		}
		prev = off
	}
	return key[prev:]
}

// wildcardAt returns "*." + ce's name, built in the result's scratch buffer.
func (q *query) wildcardAt(ce *node) []byte { return q.wildcardAtName(ce.name) }

func (q *query) wildcardAtName(name string) []byte {
	w := append(q.res.wild[:0], '*')
	if name != "." {
		w = append(w, '.')
	}
	w = append(w, name...)
	q.res.wild = w
	return w
}

// closestEncloserProof adds the NSEC3 matching the closest encloser ce and
// the one covering the next closer name of key (RFC 5155 §7.2.1), and
// returns the encloser proved. With opt-out (RFC 5155 §6) ce may have no
// NSEC3: an empty non-terminal with only unsigned delegations below it.
// The proof is then of the closest provable encloser, an ancestor of ce,
// and of the next closer name on the way to key, whose covering NSEC3
// has the opt-out flag.
func (q *query) closestEncloserProof(ce *node, key []byte) string {
	c := q.z.nsec3
	if m := c.matching(ce.name); m != nil {
		q.addNSEC3(m)
		q.addNSEC3(c.covering(string(nextCloser(key, ce))))
		return ce.name
	}
	return q.provableEncloser(key, len(key)-len(ce.name))
}

// provableEncloser adds the closest provable encloser proof of key (RFC
// 5155 §7.2.1): the NSEC3 matching the nearest name that has one among
// key's suffixes from the one at offset from on, and the NSEC3 covering
// the name one label longer on the way to key, if any. It returns the
// encloser found; the apex, which every signer hashes, ends the search.
// Only opt-out zones get here: elsewhere every name of the zone has an
// NSEC3.
func (q *query) provableEncloser(key []byte, from int) string {
	c := q.z.nsec3
	prev := -1
	for off := 0; off < len(key); prev, off = off, nextLabel(key, off) {
		if off < from {
			continue
		}
		name := string(key[off:])
		if m := c.matching(name); m != nil {
			q.addNSEC3(m)
			if prev >= 0 {
				q.addNSEC3(c.covering(string(key[prev:])))
			}
			return name
		}
	}
	return ""
}

// matchingProof adds the NSEC3 matching name, or, in an opt-out zone where
// name has none, the closest provable encloser proof of name: RFC 5155
// §7.2.3 for a name without the type asked, §7.2.4 for DS at an unsigned
// cut, §7.2.7 for a referral to one.
func (q *query) matchingProof(name string) {
	if m := q.z.nsec3.matching(name); m != nil {
		q.addNSEC3(m)
		return
	}
	q.provableEncloser([]byte(name), 0)
}

// deny3 adds the NSEC3 proofs of a negative answer with DO. NXDOMAIN: the
// closest encloser proof and the NSEC3 covering the wildcard at the closest
// encloser (RFC 5155 §7.2.2). NODATA: the NSEC3 matching the name
// (§7.2.3), which for a DS question at a cut is the cut's (§7.2.4), and
// which an empty non-terminal has too, since signers hash every name of
// the zone; with opt-out, an unsigned cut and an empty non-terminal above
// only such cuts have none, and get the closest provable encloser proof.
func (q *query) deny3(k Kind, n, ce *node, key []byte) {
	c := q.z.nsec3
	if k == NXDomain {
		if enc := q.closestEncloserProof(ce, key); enc != "" {
			q.addNSEC3(c.covering(string(q.wildcardAtName(enc))))
		}
		return
	}
	q.matchingProof(n.name)
}

// denyExpansion adds, for an answer synthesised from the wildcard at ce, the
// proof that no closer name matched key: with NSEC the NSEC covering key
// (RFC 4035 §3.1.3.3, §3.1.3.4); with NSEC3 the NSEC3 covering the next
// closer name (RFC 5155 §7.2.6), and for a wildcard NODATA also the NSEC3
// matching the closest encloser (§7.2.5), next to the wildcard's own that
// the NODATA added.
func (q *query) denyExpansion(ce *node, key []byte) {
	switch {
	case len(q.z.nsec) > 0:
		q.denyName(key)
	case q.z.nsec3 != nil:
		if q.res.Kind == NoData {
			q.closestEncloserProof(ce, key)
			return
		}
		q.addNSEC3(q.z.nsec3.covering(string(nextCloser(key, ce))))
	}
}

// denyDS adds, for a referral to a cut without a DS RRset, the record
// proving there is none: the NSEC at the cut (RFC 4035 §3.1.4.1) or the
// NSEC3 matching it, or with opt-out the closest provable encloser proof
// (RFC 5155 §7.2.7).
func (q *query) denyDS(cut *node) {
	switch {
	case len(q.z.nsec) > 0:
		q.addNSEC(cut)
	case q.z.nsec3 != nil:
		q.matchingProof(cut.name)
	}
}
