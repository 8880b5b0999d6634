// Package testhier describes the hermetic hierarchy of
// testdata/zones/hier that the resolver's tests resolve: which loopback
// address serves which zones, and from which files. The resolver's own
// tests run it in-process, cmd/meridian's both in-process and as
// subprocesses, and README.md's resolver quick start by hand; this is the
// one list they share.
package testhier

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/server"
	"github.com/meridian-dns/meridian/zone"
)

// Server is one authoritative server of the hierarchy.
type Server struct {
	Addr  string   // its loopback address; every server shares one port
	Zones []string // the zones it serves; none for the lame one
}

// Servers are the hierarchy's servers. 127.53.3.9 serves nothing, so it
// answers REFUSED for example.org. (lame); ns.dead.org's 127.53.9.9 is
// never started, so it does not answer at all.
var Servers = []Server{
	{"127.53.0.1", []string{"."}},
	{"127.53.1.1", []string{"org."}},
	{"127.53.1.2", []string{"org."}},
	{"127.53.2.1", []string{"net."}},
	{"127.53.3.1", []string{"example.org."}},
	{"127.53.3.2", []string{"example.org."}},
	{"127.53.3.3", []string{"example.org."}},
	{"127.53.3.9", nil},
	{"127.53.4.1", []string{"other.net.", "sub.example.org."}},
}

// Files maps each zone to its file in testdata/zones/hier.
var Files = map[string]string{
	".": "root.zone", "org.": "org.zone", "net.": "net.zone", "example.org.": "example.org.zone",
	"other.net.": "other.net.zone", "sub.example.org.": "sub.example.org.zone",
}

// Hier is the hierarchy running in this process: one authoritative server
// of the server package per address, all on one port, as a resolver
// started with an NSPort sees a private Internet.
type Hier struct {
	Port uint16
	// Servers by address; a test may shut one down to make it unreachable.
	Servers map[string]*server.Server
}

// Start runs the hierarchy, its zone files read from dir (the path of
// testdata/zones/hier from the test), until the test ends. The port is one
// that was free on 127.0.0.1; another test may hold it on one of the
// hierarchy's addresses, so a failed start is retried on another.
func Start(tb testing.TB, dir string) *Hier {
	tb.Helper()
	zones := map[string]*zone.Zone{}
	for origin, file := range Files {
		z, _, err := zone.Load(origin, filepath.Join(dir, file), zone.LoadOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		zones[origin] = z
	}
	for attempt := 0; ; attempt++ {
		h, err := start(tb, zones)
		if err == nil {
			tb.Cleanup(h.Stop)
			return h
		}
		if attempt == 5 {
			tb.Fatalf("starting the hierarchy: %v", err)
		}
	}
}

func start(tb testing.TB, zones map[string]*zone.Zone) (*Hier, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	h := &Hier{Port: uint16(l.Addr().(*net.TCPAddr).Port), Servers: map[string]*server.Server{}}
	l.Close()
	for _, s := range Servers {
		srv, err := server.New(server.Options{Listen: []string{net.JoinHostPort(s.Addr, strconv.Itoa(int(h.Port)))}})
		if err != nil {
			tb.Fatal(err)
		}
		var zs []*zone.Zone
		for _, o := range s.Zones {
			zs = append(zs, zones[o])
		}
		srv.SetZones(zone.NewSet(zs...))
		if err := srv.Start(context.Background()); err != nil {
			h.Stop()
			return nil, err
		}
		h.Servers[s.Addr] = srv
	}
	return h, nil
}

// Stop shuts every server down; a second call does nothing.
func (h *Hier) Stop() {
	for addr, s := range h.Servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.Shutdown(ctx) //nolint:errcheck // a test server
		cancel()
		delete(h.Servers, addr)
	}
}
