package zone

import (
	"slices"

	"github.com/miekg/dns"
)

// Authenticated denial of existence with NSEC (RFC 4035 §3.1.3). A zone
// signed with NSEC keeps its NSEC owners in canonical order (RFC 4034 §6.1),
// built once with the zone, so that the NSEC covering a name that does not
// exist is one binary search away. Zones signed with NSEC3 (RFC 5155) get
// their proofs from nsec3.go; unsigned zones pay nothing.

// indexNSEC collects the nodes that own an NSEC RRset, in canonical order.
func (z *Zone) indexNSEC() {
	for _, n := range z.nodes {
		if n.get(dns.TypeNSEC) != nil {
			z.nsec = append(z.nsec, n)
		}
	}
	// The order the searches use. Like compareNames, it compares labels as
	// written, so a label with \DDD escapes may sort apart from where its
	// octets would put it; signers escape few names, and none in practice.
	slices.SortFunc(z.nsec, func(a, b *node) int { return compareNameKey(a.name, b.name) })
	z.nsec = slices.Clip(z.nsec)
}

// covering returns the NSEC owner that precedes the lower-case name key in
// canonical order: its NSEC covers key when key does not exist (RFC 4034
// §4.1.1), and it is key's own node when key owns an NSEC. The apex owns an
// NSEC and sorts before every name of the zone, so there is always one; the
// last owner's NSEC wraps to the apex, which covers the names beyond it.
func (z *Zone) covering(key []byte) *node {
	if len(z.nsec) == 0 {
		return nil
	}
	i, found := slices.BinarySearchFunc(z.nsec, key, compareNodeKey)
	return z.preceding(i, found)
}

func compareNodeKey(n *node, key []byte) int { return compareNameKey(n.name, key) }

// preceding turns a binary search's result into the owner at or before it.
func (z *Zone) preceding(i int, found bool) *node {
	switch {
	case found:
		return z.nsec[i]
	case i == 0:
		return z.nsec[len(z.nsec)-1] // before the apex: not a name of the zone
	}
	return z.nsec[i-1]
}

// addNSEC puts the NSEC RRset of n and its signatures in the authority
// section, once: the same record often proves two things (RFC 4035
// §3.1.3.2 asks for the proofs, not for copies of them).
func (q *query) addNSEC(n *node) { q.addProof(n, dns.TypeNSEC) }

// addProof adds the RRset of type t (NSEC or NSEC3) at n and its signatures
// to the authority section unless it is there already.
func (q *query) addProof(n *node, t uint16) {
	if n == nil {
		return
	}
	s := n.get(t)
	if s == nil || slices.Contains(q.res.Ns, s.rrs[0]) {
		return
	}
	q.res.Ns = append(q.res.Ns, s.rrs...)
	q.res.Ns = append(q.res.Ns, s.sigs...)
}

// denyName adds the NSEC proving that the lower-case name key does not
// exist: the one that covers it.
func (q *query) denyName(key []byte) { q.addNSEC(q.z.covering(key)) }

// denyWildcard adds the NSEC proving that no wildcard at the closest
// encloser ce could have matched (RFC 4035 §3.1.3.2): the one covering
// "*." + ce. The name is built in the result's scratch buffer.
func (q *query) denyWildcard(ce *node) {
	if len(q.z.nsec) == 0 {
		return
	}
	q.denyName(q.wildcardAt(ce))
}

// deny adds the proofs of a negative answer with DO (RFC 4035 §3.1.3). For
// NODATA at n, the NSEC at n shows the type is absent; an empty
// non-terminal owns none, and the NSEC covering it shows it has no data.
// (For a wildcard NODATA, §3.1.3.4, denyExpansion adds the NSEC covering
// the query name, which shows that no closer name matched.) For NXDOMAIN,
// the NSEC covering the name and the one covering the wildcard at the
// closest encloser ce. A zone signed with NSEC3 gets deny3 instead.
func (q *query) deny(k Kind, n, ce *node, key []byte) {
	if len(q.z.nsec) == 0 {
		if q.z.nsec3 != nil {
			q.deny3(k, n, ce, key)
		}
		return
	}
	if k == NXDomain {
		q.denyName(key)
		q.denyWildcard(ce)
		return
	}
	if n.get(dns.TypeNSEC) != nil {
		q.addNSEC(n)
	} else {
		q.addNSEC(q.z.coveringName(n.name))
	}
}

// coveringName is covering for a name already in the zone's lower case.
func (z *Zone) coveringName(name string) *node {
	i, found := slices.BinarySearchFunc(z.nsec, name, compareNodeName)
	return z.preceding(i, found)
}

func compareNodeName(n *node, name string) int { return compareNameKey(n.name, name) }
