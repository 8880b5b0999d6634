package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/server"
	"github.com/meridian-dns/meridian/zone"
)

// inprocHier maps each address of testdata/zones/hier (hierDir) to the
// zones it serves, as README.md's resolver quick start runs them:
// 127.53.3.9 serves nothing (lame: REFUSED) and 127.53.9.9 (ns.dead.org)
// is not started at all.
var inprocHier = map[string][]string{
	"127.53.0.1": {"."},
	"127.53.1.1": {"org."},
	"127.53.1.2": {"org."},
	"127.53.2.1": {"net."},
	"127.53.3.1": {"example.org."},
	"127.53.3.2": {"example.org."},
	"127.53.3.3": {"example.org."},
	"127.53.3.9": {},
	"127.53.4.1": {"other.net.", "sub.example.org."},
}

var inprocHierFiles = map[string]string{
	".": "root.zone", "org.": "org.zone", "net.": "net.zone", "example.org.": "example.org.zone",
	"other.net.": "other.net.zone", "sub.example.org.": "sub.example.org.zone",
}

// startInprocHier runs the hierarchy in this process, one authoritative
// server of the server package per address, all on one free port, until
// the test ends, and returns the port. Faster than the subprocesses of
// startHier, for tests of the daemon rather than of the binary.
func startInprocHier(t *testing.T) uint16 {
	t.Helper()
	zones := map[string]*zone.Zone{}
	for origin, file := range inprocHierFiles {
		z, _, err := zone.Load(origin, filepath.Join(hierDir, file), zone.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		zones[origin] = z
	}
	for attempt := 0; ; attempt++ {
		port, err := startInprocHierOn(t, zones)
		if err == nil {
			return port
		}
		if attempt == 5 {
			t.Fatalf("starting the hierarchy: %v", err)
		}
	}
}

// startInprocHierOn starts every server on one port that was free on
// 127.0.0.1; another test may hold it on one of the hierarchy's addresses,
// so the caller retries.
func startInprocHierOn(t *testing.T, zones map[string]*zone.Zone) (uint16, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	var started []*server.Server
	stop := func() {
		for _, s := range started {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.Shutdown(ctx) //nolint:errcheck // a test server
			cancel()
		}
	}
	for addr, origins := range inprocHier {
		s, err := server.New(server.Options{Listen: []string{fmt.Sprintf("%s:%d", addr, port)}})
		if err != nil {
			t.Fatal(err)
		}
		var zs []*zone.Zone
		for _, o := range origins {
			zs = append(zs, zones[o])
		}
		s.SetZones(zone.NewSet(zs...))
		if err := s.Start(context.Background()); err != nil {
			stop()
			return 0, err
		}
		started = append(started, s)
	}
	t.Cleanup(stop)
	return port, nil
}

// recurse asks addr one question with RD set, as a stub resolver does.
func recurse(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s to %s: %v", name, dns.TypeToString[qtype], network, addr, err)
	}
	return r
}
