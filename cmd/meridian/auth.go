package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/meridian-dns/meridian/cmd/meridian/config"
)

const authSynopsis = "[-config FILE] [-listen ADDR:PORT]... [-zone ORIGIN=FILE]... [-metrics ADDR:PORT]\n" +
	"    [-tsig NAME:ALG:SECRET]... [-allow-transfer PREFIX|KEYNAME]... [-notify ADDR[:PORT][@KEY]]...\n" +
	"    [-secondary ORIGIN=PRIMARY[:PORT][@KEY]]... [-data DIR]"

const authHelp = `
Serve zones authoritatively over UDP and TCP on every listen address.

Settings come from the defaults, then the YAML file given with -config, then
the flags: -metrics replaces the file's value, -listen replaces the file's
whole listen list, and -zone adds a zone or, for an origin the file already
has, replaces its file. See README.md for every config key and its default.

Replication: -allow-transfer and -notify apply to every -zone; -secondary
serves a zone transferred from a primary (AXFR/IXFR, refreshed at once on
its NOTIFY) and needs -data, where the copies and journals are kept.

A zone that fails to load at start-up is logged and answered with SERVFAIL
while the other zones serve. /healthz answers 200 once every zone is loaded.

Signals:
  SIGHUP           re-read the config file (flags still win) and every zone
                   file; a zone that fails keeps its previous version, a zone
                   no longer configured stops being served. log.level,
                   tsig-keys and the zones' transfer settings apply;
                   changes to listen, metrics, udp-size, tcp.*, log.format,
                   data-dir and secondary.* need a restart and are logged
                   as ignored.
  SIGTERM, SIGINT  stop accepting queries, finish those in flight, exit 0.

Example:
  meridian auth -listen 127.0.0.1:5353 -zone example.com=example.com.zone
  meridian auth -listen 10.0.1.53:53 -zone example.com=example.com.zone \
      -allow-transfer 10.0.0.0/8 -notify 10.0.2.53 -data /var/lib/meridian
  meridian auth -listen 10.0.2.53:53 -secondary example.com=10.0.1.53 -data /var/lib/meridian
`

func cmdAuth(args []string, stdout, stderr io.Writer) int {
	var fl config.Flags
	fs := newFlagSet("auth", authSynopsis, authHelp, stderr)
	fl.RegisterCommon(fs)
	fl.RegisterZone(fs)
	fl.RegisterReplication(fs)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "meridian auth: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	return runDaemon("auth", &fl, stderr, runAuth)
}

// runDaemon builds the config from fl, sets up logging and signals, and runs
// the daemon until SIGTERM or SIGINT; SIGHUP reloads. It returns the exit
// status.
func runDaemon(name string, fl *config.Flags, stderr io.Writer,
	run func(context.Context, *config.Config, daemonEnv) error) int {
	cfg, err := fl.Build()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	level := new(slog.LevelVar)
	lv, _ := config.ParseLevel(cfg.Log.Level) // validated by Build
	level.Set(lv)
	log := newLogger(stderr, cfg.Log.Format, level)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	err = run(ctx, cfg, daemonEnv{Log: log, Level: level, Reload: hup, Reconfigure: fl.Build})
	if err != nil {
		log.Error("meridian "+name+" stopped", "err", err)
		return 1
	}
	return 0
}

// newLogger writes to w in the configured format at a level that a reload
// can change.
func newLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// logLines logs a multi-line error (a config with several problems) one
// problem per record, so each stays readable in a text log.
func logLines(log *slog.Logger, msg string, err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		log.Error(msg, "err", line)
	}
}
