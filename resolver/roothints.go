package resolver

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// namedRoot is IANA's root hints file (named.root), as Debian's
// dns-root-data ships it. A resolver needs it only to find the root once;
// after that the root's own NS RRset, fetched and cached, is used.
//
//go:embed named.root
var namedRoot []byte

// RootHints returns the embedded IANA root hints.
func RootHints() []RootServer {
	hints, err := ParseRootHints(bytes.NewReader(namedRoot), "named.root")
	if err != nil {
		panic("resolver: embedded named.root: " + err.Error()) // a build defect
	}
	return hints
}

// ParseRootHints reads root hints in the named.root format: NS records for
// the root and A/AAAA records for their targets. A server without an
// address is an error, since nothing could reach it.
func ParseRootHints(r io.Reader, file string) ([]RootServer, error) {
	zp := dns.NewZoneParser(r, ".", file)
	var order []string
	addrs := map[string][]netip.Addr{}
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		switch v := rr.(type) {
		case *dns.NS:
			if v.Hdr.Name != "." {
				return nil, fmt.Errorf("root hints %s: NS record for %q, not the root", file, v.Hdr.Name)
			}
			name := strings.ToLower(v.Ns)
			if _, seen := addrs[name]; !seen {
				order = append(order, name)
				addrs[name] = nil
			}
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				name := strings.ToLower(v.Hdr.Name)
				addrs[name] = append(addrs[name], a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok {
				name := strings.ToLower(v.Hdr.Name)
				addrs[name] = append(addrs[name], a)
			}
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("root hints: %w", err)
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("root hints %s: no NS records for the root", file)
	}
	out := make([]RootServer, 0, len(order))
	for _, name := range order {
		if len(addrs[name]) == 0 {
			return nil, fmt.Errorf("root hints %s: root server %s has no address", file, name)
		}
		out = append(out, RootServer{Name: name, Addrs: addrs[name]})
	}
	return out, nil
}
