package hier

import (
	"bufio"
	"fmt"
	"io"

	"github.com/meridian-dns/meridian/testbed/topology"
	"github.com/miekg/dns"
)

// hintsTTL is the TTL of the root hints, as IANA's named.root gives it:
// the hints are configuration, not cached data.
const hintsTTL = 3600000

// RootHints returns the NS and A records of the root servers (a hints
// file's content, as for named.root): the NS RRset at "." and then the
// address of each name server, in the order of t.ZoneServers("."), with
// TTL 3600000 like IANA's. Nil when t has no root zone.
func RootHints(t *topology.Topology) []dns.RR {
	var ns, addrs []dns.RR
	for _, s := range t.ZoneServers(".") {
		name := NSName(".", s.Region)
		ns = append(ns, &dns.NS{Hdr: hdr(".", dns.TypeNS, hintsTTL), Ns: name})
		addrs = append(addrs, addrRR(nameServer{name, s.Addr.Addr()}, hintsTTL))
	}
	return append(ns, addrs...)
}

// WriteZone writes rrs as a master file (SOA first) that zone.Load /
// miekg's parser reads back identically: an $ORIGIN line, then one record a
// line in presentation format with absolute names and an explicit TTL, so
// that no $TTL or default applies when it is read back. The SOA of origin
// is written first wherever it is in rrs; the other records keep their
// order. There must be exactly one SOA at origin.
func WriteZone(w io.Writer, origin string, rrs []dns.RR) error {
	origin = dns.CanonicalName(origin)
	soa := -1
	for i, rr := range rrs {
		if h := rr.Header(); h.Rrtype == dns.TypeSOA && dns.CanonicalName(h.Name) == origin {
			if soa >= 0 {
				return fmt.Errorf("hier: write %s: more than one SOA", origin)
			}
			soa = i
		}
	}
	if soa < 0 {
		return fmt.Errorf("hier: write %s: no SOA", origin)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "$ORIGIN %s\n%s\n", origin, rrs[soa])
	for i, rr := range rrs {
		if i != soa {
			fmt.Fprintln(bw, rr)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("hier: write %s: %w", origin, err)
	}
	return nil
}
