package server

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPHandler serves the operator's endpoints: GET /metrics, the metrics
// gathered from g in the Prometheus text format, and GET /healthz, which
// answers 200 "ok" while health returns nil and 503 with the error's text
// otherwise. Pass (*Server).Health as health, and as g the registry given to
// the Server as its Registerer.
func HTTPHandler(g prometheus.Gatherer, health func() error) http.Handler {
	mux := http.NewServeMux()
	if g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := health(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// HTTPHandler is the package's HTTPHandler for this server: its metrics,
// gathered from Options.Registerer when that is also a prometheus.Gatherer
// (a *prometheus.Registry is; otherwise /metrics is not served), and its
// Health.
func (s *Server) HTTPHandler() http.Handler {
	g, _ := s.opts.Registerer.(prometheus.Gatherer)
	return HTTPHandler(g, s.Health)
}
