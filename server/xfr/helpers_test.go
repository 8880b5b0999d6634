package xfr_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/server"
	"github.com/meridian-dns/meridian/server/xfr"
	"github.com/meridian-dns/meridian/zone"
)

const origin = "example."

// testKey is the key the tests sign with; wrongKey has its name and
// another secret.
var (
	testKey  = xfr.Key{Name: "xfr.", Algorithm: "hmac-sha256", Secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="}
	wrongKey = xfr.Key{Name: "xfr.", Algorithm: "hmac-sha256", Secret: "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItMTI="}
)

// makeZone builds example. at serial s with n hosts of an A and a TXT each;
// 1500 hosts make about 110 KiB uncompressed, more than one message.
func makeZone(t testing.TB, s uint32, n int, extra ...string) *zone.Zone {
	t.Helper()
	lines := []string{
		fmt.Sprintf("example. 3600 IN SOA ns.example. host.example. %d 3600 600 86400 300", s),
		"example. 3600 IN NS ns.example.",
		"ns.example. 3600 IN A 192.0.2.1",
	}
	for i := range n {
		lines = append(lines,
			fmt.Sprintf("host%05d.example. 3600 IN A 198.51.%d.%d", i, i/256%256, i%256),
			fmt.Sprintf("host%05d.example. 3600 IN TXT \"some text to make the zone large enough %d\"", i, i))
	}
	lines = append(lines, extra...)
	rrs := make([]dns.RR, 0, len(lines))
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	z := zone.New(origin, rrs)
	if z.Err() != nil {
		t.Fatal(z.Err())
	}
	return z
}

// setup is a primary behind a started server on 127.0.0.1.
type setup struct {
	p   *xfr.Primary
	srv *server.Server
	reg *prometheus.Registry
	tcp string // the server's TCP address
	udp string
}

func newSetup(t testing.TB, opts xfr.Options, cfg xfr.ZoneConfig, z *zone.Zone) *setup {
	t.Helper()
	s := &setup{reg: prometheus.NewRegistry()}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	opts.Registerer = s.reg
	p, err := xfr.NewPrimary(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.p = p
	t.Cleanup(func() { p.Close() })
	if err := p.AddZone(origin, cfg); err != nil {
		t.Fatal(err)
	}
	if err := p.Update(z); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Listen: []string{"127.0.0.1:0"}, Transfers: p, Registerer: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetZones(zone.NewSet(z))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.srv = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	addrs := srv.Addrs()
	s.udp, s.tcp = addrs[0].String(), addrs[1].String()
	return s
}

// update gives z to both the primary and the server.
func (s *setup) update(t testing.TB, z *zone.Zone) {
	t.Helper()
	if err := s.p.Update(z); err != nil {
		t.Fatal(err)
	}
	s.srv.SetZones(zone.NewSet(z))
}

// allowLoopback is an ACL that lets the tests in by address.
var allowLoopback = xfr.ACL{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// transferIn runs q through miekg's client, draining its channel, and
// returns the records and the number of messages.
func transferIn(t testing.TB, addr string, q *dns.Msg, key *xfr.Key) ([]dns.RR, int, error) {
	t.Helper()
	tr := &dns.Transfer{ReadTimeout: 5 * time.Second}
	if key != nil {
		tr.TsigSecret = map[string]string{dns.CanonicalName(key.Name): key.Secret}
		q.SetTsig(dns.CanonicalName(key.Name), dns.CanonicalName(key.Algorithm), 300, time.Now().Unix())
	}
	ch, err := tr.In(q, addr)
	if err != nil {
		return nil, 0, err
	}
	var rrs []dns.RR
	n := 0
	for env := range ch { // drained to the end, error or not
		if env.Error != nil && err == nil {
			err = env.Error
		}
		n++
		rrs = append(rrs, env.RR...)
	}
	return rrs, n, err
}

func axfrQuery() *dns.Msg {
	m := new(dns.Msg)
	m.SetAxfr(origin)
	return m
}

func ixfrQuery(s uint32) *dns.Msg {
	m := new(dns.Msg)
	m.SetIxfr(origin, s, "ns.example.", "host.example.")
	return m
}

// rawTCP sends wire over TCP and returns the first message of the answer.
func rawTCP(t testing.TB, addr string, wire []byte) *dns.Msg {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b := binary.BigEndian.AppendUint16(nil, uint16(len(wire)))
	if _, err := c.Write(append(b, wire...)); err != nil {
		t.Fatal(err)
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf); err != nil {
		t.Fatal(err)
	}
	return m
}

// signed packs q signed with k at the given time.
func signed(t testing.TB, q *dns.Msg, k xfr.Key, at time.Time) []byte {
	t.Helper()
	q.SetTsig(dns.CanonicalName(k.Name), dns.CanonicalName(k.Algorithm), 300, at.Unix())
	wire, _, err := dns.TsigGenerate(q, k.Secret, "", false)
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

// counter returns the value of a counter of reg with the given labels.
func counter(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return -1
}

// eventually polls cond until it holds or 5 seconds pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
