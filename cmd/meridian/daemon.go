package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
	"github.com/meridian-dns/meridian/server"
	"github.com/meridian-dns/meridian/zone"
)

// shutdownGrace bounds how long queries in flight and metrics scrapes get to
// finish after SIGTERM before the listeners are closed under them.
const shutdownGrace = 5 * time.Second

// authEnv is what runAuth takes from its surroundings. cmdAuth fills it from
// the process (signals, stderr); tests fill it directly and drive the daemon
// without signals.
type authEnv struct {
	Log *slog.Logger
	// Level is the logger's level; a reload sets it from log.level. May be
	// nil.
	Level *slog.LevelVar
	// Reload: every value received reloads the config and the zones. May be
	// nil (never reload).
	Reload <-chan os.Signal
	// Reconfigure re-reads the config for a reload (the file, then the
	// flags). nil reuses the running config: zone files are still re-read.
	Reconfigure func() (*config.Config, error)
	// Ready, if not nil, is called once the DNS and metrics listeners are
	// bound, with their addresses (metrics is nil when off). Tests use it
	// to learn the ports picked for :0.
	Ready func(dns []net.Addr, metrics net.Addr)
	// Reloaded, if not nil, is called after each reload has been applied or
	// refused, so that tests can wait for it instead of polling.
	Reloaded func()
}

// authDaemon is one running `meridian auth`. Only runAuth's goroutine
// touches it: reloads run there, between signals, so no lock is needed; the
// server reads the zone set through its own atomic pointer.
type authDaemon struct {
	env  authEnv
	log  *slog.Logger
	cfg  *config.Config
	set  *zone.Set
	srv  *server.Server
	http *http.Server
}

// runAuth serves cfg until ctx is done, then shuts down gracefully. It
// returns an error only when it cannot start (a listener cannot bind); zone
// failures are logged and served as SERVFAIL instead.
func runAuth(ctx context.Context, cfg *config.Config, env authEnv) error {
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	d := &authDaemon{env: env, log: env.Log, cfg: cfg}
	d.log.Info("meridian auth starting", "version", version, "config", cfg.File(), "zones", len(cfg.Zones))
	if len(cfg.Zones) == 0 {
		d.log.Warn("no zones configured; every query will be REFUSED")
	}

	// A private registry (never the global default): the server's metrics
	// plus the Go runtime and process collectors an operator expects.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := server.New(serverOptions(cfg, d.log, reg))
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	d.srv = srv
	// Metrics first, so that /healthz answers 503 while a large zone loads;
	// DNS only after the zones, so that no query is REFUSED for a zone that
	// is merely still loading.
	metricsAddr, httpDone, err := d.startMetrics(cfg.Metrics)
	if err != nil {
		return err
	}
	d.set = d.loadZones(cfg, nil)
	srv.SetZones(d.set)
	if err := srv.Start(ctx); err != nil {
		d.shutdown(httpDone)
		return fmt.Errorf("auth: %w", err)
	}
	addrs := srv.Addrs()
	for _, a := range addrs {
		d.log.Info("serving DNS", "addr", a.String(), "net", a.Network())
	}
	releaseMemory()
	if env.Ready != nil {
		env.Ready(addrs, metricsAddr)
	}

	for {
		select {
		case <-ctx.Done():
			d.log.Info("meridian auth stopping", "cause", context.Cause(ctx))
			d.shutdown(httpDone)
			d.log.Info("meridian auth stopped")
			return nil
		case <-env.Reload:
			d.reload()
			if env.Reloaded != nil {
				env.Reloaded()
			}
		}
	}
}

// serverOptions maps the config to the server's options. The config says 0
// for "no limit" because that reads naturally in a file; the server says -1.
func serverOptions(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) server.Options {
	noLimit := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	return server.Options{
		Listen:         slices.Clone(cfg.Listen),
		UDPSize:        uint16(cfg.UDPSize), // validated: 512 to 65535
		AuthorityNS:    !cfg.MinimalResponses,
		TCPIdleTimeout: cfg.TCP.IdleTimeout,
		TCPMaxConns:    noLimit(cfg.TCP.MaxConnections),
		TCPMaxQueries:  noLimit(cfg.TCP.MaxQueriesPerConnection),
		Logger:         log,
		Registerer:     reg,
	}
}

// startMetrics serves /metrics and /healthz on addr, unless addr is empty.
// It binds before returning so that a taken port fails the start-up rather
// than a goroutine later. done is closed when the HTTP server has stopped.
func (d *authDaemon) startMetrics(addr string) (net.Addr, <-chan struct{}, error) {
	if addr == "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: metrics: %w", err)
	}
	d.http = &http.Server{
		Handler:           d.srv.HTTPHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics server failed", "err", err)
		}
	}()
	d.log.Info("serving metrics", "addr", ln.Addr().String(), "paths", "/metrics /healthz")
	return ln.Addr(), done, nil
}

// shutdown stops the DNS server (letting queries in flight finish) and the
// metrics server, each within shutdownGrace, and waits for the HTTP
// goroutine to end.
func (d *authDaemon) shutdown(httpDone <-chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		d.log.Warn("DNS server shutdown", "err", err)
	}
	if d.http != nil {
		if err := d.http.Shutdown(ctx); err != nil {
			d.log.Warn("metrics server shutdown", "err", err)
		}
		<-httpDone
	}
}
