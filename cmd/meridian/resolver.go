package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
	"github.com/meridian-dns/meridian/resolver"
	"github.com/meridian-dns/meridian/resolver/cache"
	"github.com/meridian-dns/meridian/resolver/exchange"
	"github.com/meridian-dns/meridian/server"
)

const resolverSynopsis = "[-config FILE] [-listen ADDR:PORT]... [-root-hints FILE] [-allow CIDR]... [-ns-port N] [-metrics ADDR:PORT]"

const resolverHelp = `
Resolve names recursively for the clients in the allow list, over UDP and
TCP on every listen address: from the cache, or by walking the delegations
from the root servers (or the forward and stub zones of the config file).

Settings come from the defaults, then the YAML file given with -config (its
resolver section and the common keys), then the flags: -metrics, -root-hints
and -ns-port replace the file's value, -listen and -allow its whole list.
See README.md for every config key and its default.

Clients outside the allow list (default: loopback, RFC 1918 and ULA) get
REFUSED. Queries without RD are answered from the cache only. /healthz
answers 200 while serving.

Signals:
  SIGHUP           re-read the config file (flags still win), keeping the
                   cache: the allow list, max-recursive and the cache's
                   size apply at once, the resolver's settings to the
                   resolutions that start afterwards, the TTL clamps and
                   stale-window to what is cached afterwards. Changes to
                   listen, metrics, udp-size, tcp.* and log.format need a
                   restart and are logged as ignored.
  SIGTERM, SIGINT  stop accepting queries, finish those in flight, exit 0.

Example:
  meridian resolver -listen 127.0.0.1:5300 -allow 127.0.0.0/8
`

func cmdResolver(args []string, stdout, stderr io.Writer) int {
	var fl config.Flags
	fs := newFlagSet("resolver", resolverSynopsis, resolverHelp, stderr)
	fl.RegisterCommon(fs)
	fl.RegisterResolver(fs)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "meridian resolver: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	return runDaemon("resolver", &fl, stderr, runResolver)
}

// resolverDaemon is one running `meridian resolver`. As with authDaemon,
// only runResolver's goroutine touches it; the server and the resolver
// take reloaded settings through their own atomic swaps.
type resolverDaemon struct {
	env  daemonEnv
	log  *slog.Logger
	cfg  *config.Config
	res  *resolver.Resolver
	srv  *server.Server
	http *httpServer
}

// runResolver serves cfg until ctx is done, then shuts down gracefully. It
// returns an error only when it cannot start: a listener cannot bind, the
// root hints cannot be read.
func runResolver(ctx context.Context, cfg *config.Config, env daemonEnv) error {
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	d := &resolverDaemon{env: env, log: env.Log, cfg: cfg}
	d.log.Info("meridian resolver starting", "version", version, "config", cfg.File(),
		"root-hints", orDefault(cfg.Resolver.RootHints, "built in"), "allow", cfg.Resolver.Allow)
	if len(cfg.Zones) > 0 {
		d.log.Warn("zones are served by meridian auth; the resolver ignores them", "zones", len(cfg.Zones))
	}
	reg := newRegistry()
	rc, err := resolverConfig(cfg, d.log)
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	rc.Registerer = reg
	if dialer := env.dialer(); dialer != nil {
		// Kept across reloads: Reconfigure keeps the Exchanger.
		rc.Exchanger = exchange.New(exchange.Config{Dialer: dialer})
	}
	if d.res, err = resolver.New(rc); err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	defer d.res.Close() // after the server: no resolution is left waiting
	opts := serverOptions(cfg, d.log, reg)
	opts.Resolver = recursor{d.res}
	opts.Allow = cfg.Resolver.AllowPrefixes()
	opts.MaxRecursive = noLimit(cfg.Resolver.MaxRecursive)
	opts.ResolveTimeout = cfg.Resolver.Deadline
	if err := env.listen(&opts); err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	if d.srv, err = server.New(opts); err != nil {
		closeSockets(opts)
		return fmt.Errorf("resolver: %w", err)
	}
	d.srv.SetIdentity(serverIdentity(cfg))
	if d.http, err = startHTTP(cfg.Metrics, d.srv.HTTPHandler(), d.log); err != nil {
		closeSockets(opts)
		return fmt.Errorf("resolver: %w", err)
	}
	if err := d.srv.Start(ctx); err != nil {
		d.shutdown()
		closeSockets(opts)
		return fmt.Errorf("resolver: %w", err)
	}
	addrs := d.srv.Addrs()
	for _, a := range addrs {
		d.log.Info("serving DNS", "addr", a.String(), "net", a.Network())
	}
	if env.Ready != nil {
		env.Ready(addrs, d.http.Addr())
	}
	for {
		select {
		case <-ctx.Done():
			d.log.Info("meridian resolver stopping", "cause", context.Cause(ctx))
			d.shutdown()
			d.log.Info("meridian resolver stopped")
			return nil
		case <-env.Reload:
			d.reload()
			if env.Reloaded != nil {
				env.Reloaded()
			}
		}
	}
}

// shutdown stops the DNS server, letting the resolutions in flight finish
// within shutdownGrace, then the metrics server. The resolver itself is
// closed by runResolver's defer.
func (d *resolverDaemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		d.log.Warn("DNS server shutdown", "err", err)
	}
	d.http.shutdown(ctx, d.log)
}

// resolverConfig maps the config's resolver section to the resolver's
// Config, reading the root hints file. The Registerer is left to the
// caller: a reload builds a Config only to hand its settings over.
func resolverConfig(cfg *config.Config, log *slog.Logger) (resolver.Config, error) {
	r := &cfg.Resolver
	rc := resolver.Config{
		NSPort:        uint16(r.NSPort), // validated: 1 to 65535
		NoMinimise:    !r.QnameMinimisation,
		No0x20:        !r.CaseRandomisation,
		MaxQueries:    r.MaxQueries,
		Deadline:      r.Deadline,
		ClientTimeout: r.ClientTimeout,
		NoPrefetch:    !r.Prefetch,
		NoServeStale:  !r.ServeStale,
		Cache: cache.Config{
			Size:           r.Cache.Size,
			MinTTL:         r.Cache.MinTTL,
			MaxTTL:         r.Cache.MaxTTL,
			NegativeMaxTTL: r.Cache.NegativeMaxTTL,
			StaleWindow:    r.StaleWindow,
		},
		Logger: log,
	}
	if r.RootHints != "" {
		f, err := os.Open(r.RootHints)
		if err != nil {
			return rc, err
		}
		defer f.Close()
		if rc.RootHints, err = resolver.ParseRootHints(f, r.RootHints); err != nil {
			return rc, err
		}
	}
	var err error
	if rc.Forward, err = serverZones(r.ForwardZones, 53); err != nil {
		return rc, err
	}
	// Stub zone servers are authoritative: their default port is the
	// one every authoritative server is asked on.
	if rc.Stub, err = serverZones(r.StubZones, uint16(r.NSPort)); err != nil {
		return rc, err
	}
	return rc, nil
}

// serverZones converts forward or stub zones, already validated.
func serverZones(zs []config.ServerZone, port uint16) ([]resolver.Zone, error) {
	out := make([]resolver.Zone, 0, len(zs))
	for _, z := range zs {
		rz := resolver.Zone{Name: z.Name}
		for _, s := range z.Servers {
			ap, err := config.ParseServer(s, port)
			if err != nil {
				return nil, fmt.Errorf("zone %s: %w", z.Name, err)
			}
			rz.Servers = append(rz.Servers, ap)
		}
		out = append(out, rz)
	}
	return out, nil
}

// recursor adapts *resolver.Resolver to server.Recursor. The server does not
// import the resolver (the resolver's tests run servers of that package), so
// the result types differ and this carries the one field across. It is one
// pointer wide: storing it in the interface does not allocate.
type recursor struct{ r *resolver.Resolver }

func (a recursor) FromCache(m *dns.Msg, q dns.Question) (server.Resolution, bool) {
	info, ok := a.r.FromCache(m, q)
	return server.Resolution{EDE: info.EDE}, ok
}

func (a recursor) Resolve(ctx context.Context, m *dns.Msg, q dns.Question, rd bool) server.Resolution {
	return server.Resolution{EDE: a.r.Resolve(ctx, m, q, rd).EDE}
}

// noLimit maps the config's 0 for "no limit", which reads naturally in a
// file, to the server's -1.
func noLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
