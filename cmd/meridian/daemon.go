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
	"github.com/meridian-dns/meridian/resolver/exchange"
	"github.com/meridian-dns/meridian/server"
	"github.com/meridian-dns/meridian/zone"
)

// shutdownGrace bounds how long queries in flight and metrics scrapes get to
// finish after SIGTERM before the listeners are closed under them.
const shutdownGrace = 5 * time.Second

// daemonEnv is what a daemon (runAuth, runResolver) takes from its
// surroundings. The command fills it from the process (signals, stderr);
// tests fill it directly and drive the daemon without signals.
type daemonEnv struct {
	Log *slog.Logger
	// Level is the logger's level; a reload sets it from log.level. May be
	// nil.
	Level *slog.LevelVar
	// Reload: every value received reloads the config (and auth's zones).
	// May be nil (never reload).
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
	// Net, if not nil, replaces the daemon's own sockets: the geo testbed
	// hands in sockets and a dialer wrapped in its latency emulation.
	Net *daemonNet
}

// daemonNet is the network a daemon runs on when it is not the system's.
type daemonNet struct {
	// Listen returns the sockets to serve instead of binding cfg.Listen,
	// which it is given. The daemon owns them from then on: the server
	// closes them at shutdown, and the daemon if it fails to start. A
	// reload never binds again. nil: bind cfg.Listen.
	Listen func(listen []string) ([]net.PacketConn, []net.Listener, error)
	// Dialer opens every outgoing socket: upstream queries, NOTIFY, SOA
	// refresh queries and zone transfers. nil: the system's sockets.
	Dialer exchange.Dialer
}

// dialer is Net's Dialer, or nil for the system's sockets.
func (e daemonEnv) dialer() exchange.Dialer {
	if e.Net == nil {
		return nil
	}
	return e.Net.Dialer
}

// listen replaces o.Listen with the sockets Net hands in, if it does.
// Until the server starts (and owns them) the caller closes them with
// closeSockets when it gives up.
func (e daemonEnv) listen(o *server.Options) error {
	if e.Net == nil || e.Net.Listen == nil {
		return nil
	}
	pcs, lns, err := e.Net.Listen(slices.Clone(o.Listen))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	o.Listen, o.PacketConns, o.Listeners = nil, pcs, lns
	return nil
}

// closeSockets closes the handed-in sockets of o, for a daemon that fails
// before its server has started. Closing one the server already closed is
// harmless.
func closeSockets(o server.Options) {
	for _, pc := range o.PacketConns {
		pc.Close()
	}
	for _, ln := range o.Listeners {
		ln.Close()
	}
}

// authDaemon is one running `meridian auth`. Only runAuth's goroutine
// touches it: reloads run there, between signals, so no lock is needed; the
// server reads the zone set through its own atomic pointer.
type authDaemon struct {
	env  daemonEnv
	log  *slog.Logger
	cfg  *config.Config
	set  *zone.Set
	srv  *server.Server
	http *httpServer
	repl *replication
}

// runAuth serves cfg until ctx is done, then shuts down gracefully. It
// returns an error only when it cannot start (a listener cannot bind); zone
// failures are logged and served as SERVFAIL instead.
func runAuth(ctx context.Context, cfg *config.Config, env daemonEnv) error {
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	d := &authDaemon{env: env, log: env.Log, cfg: cfg}
	d.log.Info("meridian auth starting", "version", version, "config", cfg.File(), "zones", len(cfg.Zones))
	if len(cfg.Zones) == 0 {
		d.log.Warn("no zones configured; every query will be REFUSED")
	}
	if cfg.InFile("resolver") {
		d.log.Info("the config's resolver section is for meridian resolver; auth ignores it")
	}

	reg := newRegistry()
	repl, err := newReplication(cfg, d.log, reg, env.dialer())
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	d.repl = repl
	opts := repl.serverOptions(serverOptions(cfg, d.log, reg), cfg)
	if err := env.listen(&opts); err != nil {
		repl.close()
		return fmt.Errorf("auth: %w", err)
	}
	srv, err := server.New(opts)
	if err != nil {
		repl.close()
		closeSockets(opts)
		return fmt.Errorf("auth: %w", err)
	}
	d.srv = srv
	srv.SetIdentity(serverIdentity(cfg))
	if err := repl.startSecondaries(ctx, cfg, srv, reg); err != nil {
		repl.close()
		closeSockets(opts)
		return fmt.Errorf("auth: %w", err)
	}
	// Metrics first, so that /healthz answers 503 while a large zone loads;
	// DNS only after the zones, so that no query is REFUSED for a zone that
	// is merely still loading.
	if d.http, err = startHTTP(cfg.Metrics, srv.HTTPHandler(), d.log); err != nil {
		repl.close()
		closeSockets(opts)
		return fmt.Errorf("auth: %w", err)
	}
	d.set = d.loadZones(cfg, nil)
	repl.setPrimaries(d.set)
	if err := srv.Start(ctx); err != nil {
		d.shutdown()
		closeSockets(opts)
		return fmt.Errorf("auth: %w", err)
	}
	addrs := srv.Addrs()
	for _, a := range addrs {
		d.log.Info("serving DNS", "addr", a.String(), "net", a.Network())
	}
	releaseMemory()
	if env.Ready != nil {
		env.Ready(addrs, d.http.Addr())
	}

	for {
		select {
		case <-ctx.Done():
			d.log.Info("meridian auth stopping", "cause", context.Cause(ctx))
			d.shutdown()
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

// serverOptions maps the config's common settings to the server's options.
func serverOptions(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) server.Options {
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

// newRegistry returns a private registry (never the global default) with
// the Go runtime and process collectors an operator expects; the daemon's
// packages add theirs.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// httpServer serves a daemon's /metrics and /healthz.
type httpServer struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{} // closed when Serve has returned
}

// startHTTP serves h on addr, unless addr is empty (then it returns nil,
// which Addr and shutdown accept). It binds before returning so that a
// taken port fails the start-up rather than a goroutine later.
func startHTTP(addr string, h http.Handler, log *slog.Logger) (*httpServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s := &httpServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		addr: ln.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String(), "paths", "/metrics /healthz")
	return s, nil
}

// Addr is the bound address, or nil when metrics are off.
func (s *httpServer) Addr() net.Addr {
	if s == nil {
		return nil
	}
	return s.addr
}

// shutdown stops the server within ctx and waits for its goroutine.
func (s *httpServer) shutdown(ctx context.Context, log *slog.Logger) {
	if s == nil {
		return
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		log.Warn("metrics server shutdown", "err", err)
	}
	<-s.done
}

// shutdown stops the DNS server (letting queries in flight finish) and the
// metrics server, each within shutdownGrace.
func (d *authDaemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		d.log.Warn("DNS server shutdown", "err", err)
	}
	d.http.shutdown(ctx, d.log)
	d.repl.close()
}
