package server

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/zone"
)

// metricValue returns the value of the series of name with exactly these
// labels, and whether it exists.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func TestQueryMetrics(t *testing.T) {
	t.Parallel()
	s, reg := newTestServer(t, Options{})
	h := s.Handler()
	for range 3 {
		serve(t, h, query{name: "www.example.", qtype: dns.TypeA}.msg(), false)
	}
	serve(t, h, query{name: "nope.example.", qtype: dns.TypeAAAA}.msg(), true)
	serve(t, h, query{name: "www.example.org.", qtype: 65000}.msg(), false)
	serve(t, h, query{name: "big.example.", qtype: dns.TypeTXT}.msg(), false)
	h.accept(dns.Header{Bits: dns.OpcodeUpdate << 11, Qdcount: 1}, true)
	h.accept(dns.Header{Bits: 1 << 15}, false)
	h.invalid([]byte{1, 2, 3}, false)

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"meridian_server_queries_total", map[string]string{"zone": "example.", "qtype": "A", "rcode": "NOERROR", "transport": "udp"}, 3},
		{"meridian_server_queries_total", map[string]string{"zone": "example.", "qtype": "AAAA", "rcode": "NXDOMAIN", "transport": "tcp"}, 1},
		{"meridian_server_queries_total", map[string]string{"zone": "none", "qtype": "other", "rcode": "REFUSED", "transport": "udp"}, 1},
		{"meridian_server_queries_total", map[string]string{"zone": "none", "qtype": "none", "rcode": "NOTIMP", "transport": "tcp"}, 1},
		{"meridian_server_truncated_responses_total", nil, 1},
		{"meridian_server_dropped_queries_total", map[string]string{"reason": "response"}, 1},
		{"meridian_server_dropped_queries_total", map[string]string{"reason": "malformed"}, 1},
		{"meridian_server_response_duration_seconds", map[string]string{"transport": "udp"}, 5},
		{"meridian_server_response_size_bytes", map[string]string{"transport": "tcp"}, 1},
		{"meridian_zone_serial", map[string]string{"zone": "example."}, 2024010101},
		{"meridian_zone_serial", map[string]string{"zone": "broken.example."}, 0},
		{"meridian_zone_failed", map[string]string{"zone": "broken.example."}, 1},
		{"meridian_zone_failed", map[string]string{"zone": "example."}, 0},
		{"meridian_zone_records", map[string]string{"zone": "sub.example."}, 3},
		{"meridian_zone_reloads_total", map[string]string{"zone": "example.", "result": "failure"}, 0},
	} {
		if got, ok := metricValue(t, reg, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

func TestZoneMetricsFollowTheSet(t *testing.T) {
	t.Parallel()
	s, reg := newTestServer(t, Options{})
	serve(t, s.Handler(), query{name: "www.sub.example.", qtype: dns.TypeA}.msg(), false)
	s.ObserveReload("Example.", true)
	s.ObserveReload("example", false)
	s.ObserveReload("example.", false)
	if got, _ := metricValue(t, reg, "meridian_zone_reloads_total", map[string]string{"zone": "example.", "result": "failure"}); got != 2 {
		t.Errorf("reload failures %v, want 2", got)
	}

	// sub.example. leaves the set: its series go with it.
	s.SetZones(zone.NewSet(readZone(t, "example.", "example.zone")))
	for _, name := range []string{"meridian_zone_serial", "meridian_zone_records"} {
		if _, ok := metricValue(t, reg, name, map[string]string{"zone": "sub.example."}); ok {
			t.Errorf("%s still has sub.example.", name)
		}
	}
	if _, ok := metricValue(t, reg, "meridian_server_queries_total", map[string]string{"zone": "sub.example.", "qtype": "A", "rcode": "NOERROR", "transport": "udp"}); ok {
		t.Error("queries of a removed zone still exported")
	}
	if got, _ := metricValue(t, reg, "meridian_zone_serial", map[string]string{"zone": "example."}); got != 2024010101 {
		t.Errorf("example. serial %v", got)
	}
}

// TestQtypeLabelsBounded sends every qtype: the label set stays small.
func TestQtypeLabelsBounded(t *testing.T) {
	t.Parallel()
	s, reg := newTestServer(t, Options{})
	x := &exchange{}
	for qt := range 1 << 16 {
		x.reset(false)
		x.zone, x.qtype = "example.", qt
		s.metrics.observe(x, 100, false, 0)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "meridian_server_queries_total" && len(f.GetMetric()) > len(qtypeLabels) {
			t.Errorf("%d series for one zone and rcode", len(f.GetMetric()))
		}
	}
	if got, _ := metricValue(t, reg, "meridian_server_queries_total", map[string]string{"zone": "example.", "qtype": "other", "rcode": "NOERROR", "transport": "udp"}); got < 65000 {
		t.Errorf("other: %v", got)
	}
}

func TestHTTPHandler(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s, err := New(Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.HTTPHandler())
	t.Cleanup(ts.Close)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no zones") {
		t.Errorf("before zones: %d %q", code, body)
	}
	s.SetZones(testZones(t)) // broken.example. failed to load
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "broken.example.") {
		t.Errorf("with a failed zone: %d %q", code, body)
	}
	s.SetZones(zone.NewSet(readZone(t, "example.", "example.zone")))
	if code, body := get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("all loaded: %d %q", code, body)
	}
	code, body := get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, `meridian_zone_serial{zone="example."} 2.024010101e+09`) {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, _ := get("/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing: %d", code)
	}

	// The package function with an explicit health check.
	h := HTTPHandler(reg, func() error { return errors.New("warming up") })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "warming up") {
		t.Errorf("%d %q", rec.Code, rec.Body.String())
	}
}

// TestHandlerAllocations keeps the handler's own work free of allocation;
// what remains is miekg's packer, which makes its compression map per
// message.
func TestHandlerAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s, _ := newTestServer(t, Options{})
	h := s.Handler()
	req := query{name: "www.example.", qtype: dns.TypeA, edns: 1232}.msg()
	w := &discardWriter{}
	h.ServeDNS(w, req) // warm the pools and the metric cache
	if n := testing.AllocsPerRun(1000, func() { h.ServeDNS(w, req) }); n > 2 {
		t.Errorf("%v allocations per query", n)
	}
}
