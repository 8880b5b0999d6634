#!/usr/bin/env bash
# Benchmark zone transfers out of `meridian auth` against Knot DNS, on this
# machine, in one run (make bench):
#
#   - a full AXFR of a BENCH_XFR_NAMES-name zonegen zone (default 1M), from
#     Meridian and from Knot, with the same client (dig +noall +stats, whose
#     "XFR size" line gives records, messages and bytes), timed wall-clock
#     around the client, best of BENCH_XFR_RUNS;
#   - an IXFR of a 10-record change (10 new A records and the serial bumped),
#     from Meridian (journal in -data, SIGHUP) and from Knot
#     (zonefile-load: difference, journal-content: changes, knotc
#     zone-reload): time and bytes.
#
# Then a table with Meridian/Knot ratios. The issue's target: AXFR time at
# most 1.5x Knot's; IXFR bytes proportional to the change, not the zone.
#
# Environment (all optional):
#   BENCH_XFR_NAMES=1000000  entries in the zone
#   BENCH_XFR_RUNS=3         AXFR runs per server (the best is reported)
#   MERIDIAN=path            use this meridian binary instead of building one
#   MERIDIAN_REQUIRE_PEERS=1 fail, rather than skip Knot, when knotd is missing
set -euo pipefail

cd "$(dirname "$0")/../.."

NAMES=${BENCH_XFR_NAMES:-1000000}
RUNS=${BENCH_XFR_RUNS:-3}
ORIGIN=xfrbench.test.

WORK=$(mktemp -d "${TMPDIR:-/tmp}/meridian-xfrbench.XXXXXX")
declare -A PID PORT


BENCH="xfr bench"
# shellcheck source=testdata/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_server() {
	local name=$1 pid=${PID[$1]:-}
	[[ -z $pid ]] && return 0
	unset "PID[$name]"
	kill -TERM -- "-$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || {
			wait "$pid" 2>/dev/null || true
			return 0
		}
		sleep 0.05
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local s
	for s in "${!PID[@]}"; do
		stop_server "$s"
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


DIG=$(need dig)
[[ -n $DIG ]] || die "dig is required (apt-get install bind9-dnsutils)"
KNOTD=$(need knotd)
KNOTC=$(need knotc)



serial_of() { # serial_of PORT: the SOA serial served, or empty
	"$DIG" @127.0.0.1 -p "$1" +norec +time=1 +tries=1 +short "$ORIGIN" SOA 2>/dev/null | awk '{print $3}'
}

# wait_serial PORT SERIAL TIMEOUT_S PID: poll until the zone is served with
# SERIAL; give up when PID has exited or the time is up.
wait_serial() {
	local port=$1 want=$2 deadline=$(($(date +%s) + $3)) pid=$4
	while (($(date +%s) < deadline)); do
		kill -0 "$pid" 2>/dev/null || return 1
		[[ $(serial_of "$port") == "$want" ]] && return 0
		sleep 0.05 # pacing between polls; readiness is the answer, not the sleep
	done
	return 1
}

if [[ -n ${MERIDIAN:-} ]]; then
	MER=$MERIDIAN
else
	log "xfr bench: building meridian"
	go build -o "$WORK/meridian-bin" ./cmd/meridian
	MER=$WORK/meridian-bin
fi
go build -o "$WORK/zonegen" ./zone/zonegen/cmd/zonegen

log "xfr bench: generating a $NAMES-name zone"
ZONE=$WORK/zone.db
"$WORK/zonegen" -origin "$ORIGIN" -names "$NAMES" -seed 1 -out "$ZONE"
SERIAL1=$(awk '/; serial/ {print $1; exit}' "$ZONE")
SERIAL2=$((SERIAL1 + 1))

# change_zone FILE: the 10-record change, written beside and renamed over
# FILE so a reload never reads half a file.
change_zone() {
	local f=$1
	{
		sed "s/^\([[:space:]]*\)$SERIAL1 ; serial/\1$SERIAL2 ; serial/" "$f"
		for i in $(seq 0 9); do
			printf 'xfrbench-change-%d\t300\tIN\tA\t192.0.2.%d\n' "$i" $((100 + i))
		done
	} >"$f.new"
	mv "$f.new" "$f"
}

start() { # start NAME ARGS...: run in its own process group, wait for SERIAL1
	local name=$1 t0
	shift
	t0=$(now_ns)
	setsid "$@" >"$WORK/$name.log" 2>&1 &
	PID[$name]=$!
	if ! wait_serial "${PORT[$name]}" "$SERIAL1" 600 "${PID[$name]}"; then
		log "xfr bench: $name did not serve $ORIGIN; its log:"
		tail -20 "$WORK/$name.log" >&2
		return 1
	fi
	log "xfr bench: $name loaded in $((($(now_ns) - t0) / 1000000)) ms"
}

# xfr PORT TYPE: one transfer with dig; prints "ms bytes records messages".
xfr() {
	local port=$1 type=$2 t0 t1 out
	t0=$(now_ns)
	out=$("$DIG" @127.0.0.1 -p "$port" +noall +stats +time=600 +tries=1 "$ORIGIN" "$type")
	t1=$(now_ns)
	# ;; XFR size: 1937 records (messages 2, bytes 51372)
	local size
	size=$(grep 'XFR size' <<<"$out" || true)
	[[ -n $size ]] || die "transfer $type from port $port failed: $out"
	awk -v ms=$((($t1 - t0) / 1000000)) '{gsub(/[(),]/, ""); print ms, $9, $4, $7}' <<<"$size"
}

best_axfr() { # best_axfr PORT: the fastest of RUNS AXFRs, as xfr prints it
	local best="" r
	for _ in $(seq "$RUNS"); do
		r=$(xfr "$1" AXFR)
		log "xfr bench:   AXFR: $r (ms bytes records messages)"
		if [[ -z $best ]] || (($(cut -d' ' -f1 <<<"$r") < $(cut -d' ' -f1 <<<"$best"))); then
			best=$r
		fi
	done
	printf '%s' "$best"
}

declare -A AXFR IXFR

# Meridian.
mkdir -p "$WORK/meridian"
cp "$ZONE" "$WORK/meridian/zone.db"
PORT[meridian]=$(free_port)
start meridian "$MER" auth -listen "127.0.0.1:${PORT[meridian]}" -metrics= \
	-zone "$ORIGIN=$WORK/meridian/zone.db" -allow-transfer 127.0.0.0/8 -data "$WORK/meridian/data"
AXFR[meridian]=$(best_axfr "${PORT[meridian]}")
change_zone "$WORK/meridian/zone.db"
kill -HUP "${PID[meridian]}"
wait_serial "${PORT[meridian]}" "$SERIAL2" 600 "${PID[meridian]}" || die "meridian did not reload"
# The new serial is served before the journal has the difference: until
# "reload done", an IXFR for the old serial gets the old SOA alone.
for _ in $(seq 6000); do
	grep -q 'reload done' "$WORK/meridian.log" && break
	sleep 0.1 # pacing between polls of the log
done
IXFR[meridian]=$(xfr "${PORT[meridian]}" "IXFR=$SERIAL1")
stop_server meridian

# Knot: a journal of the differences between zone file versions, so that
# the reload yields an IXFR.
if [[ -n $KNOTD && -n $KNOTC ]]; then
	d=$WORK/knot
	mkdir -p "$d/db"
	cp "$ZONE" "$d/zone.db"
	PORT[knot]=$(free_port)
	cat >"$d/knot.conf" <<-EOF
		server:
		    rundir: "$d"
		    pidfile: "$d/knot.pid"
		    listen: 127.0.0.1@${PORT[knot]}
		    udp-workers: 1
		    tcp-workers: 1
		    background-workers: 1
		log:
		  - target: stderr
		    any: info
		database:
		    storage: "$d/db"
		    journal-db-max-size: 4G
		control:
		    listen: "$d/knot.sock"
		acl:
		  - id: loopback
		    address: 127.0.0.0/8
		    action: transfer
		template:
		  - id: default
		    storage: "$d"
		    zonefile-sync: -1
		    zonefile-load: difference
		    journal-content: all
		    journal-max-usage: 2G
		    acl: loopback
		zone:
		  - domain: "$ORIGIN"
		    file: "$d/zone.db"
	EOF
	start knot "$KNOTD" -c "$d/knot.conf"
	AXFR[knot]=$(best_axfr "${PORT[knot]}")
	change_zone "$d/zone.db"
	"$KNOTC" -c "$d/knot.conf" zone-reload "$ORIGIN" >>"$WORK/knot.log" 2>&1
	if ! wait_serial "${PORT[knot]}" "$SERIAL2" 600 "${PID[knot]}"; then
		tail -20 "$WORK/knot.log" >&2
		die "knot did not reload"
	fi
	IXFR[knot]=$(xfr "${PORT[knot]}" "IXFR=$SERIAL1")
	stop_server knot
fi

field() { cut -d' ' -f"$2" <<<"$1"; }

printf '\nzone transfers, %d-name zone (%s records in the AXFR), dig as the client, best of %d AXFRs\n\n' \
	"$NAMES" "$(field "${AXFR[meridian]}" 3)" "$RUNS"
printf '%-22s %12s %12s %12s\n' "" meridian knot "meridian/knot"
row() { # row LABEL FIELD MAP
	local -n m=$3
	local a b
	a=$(field "${m[meridian]}" "$2")
	b=$([[ -n ${m[knot]:-} ]] && field "${m[knot]}" "$2" || true)
	printf '%-22s %12s %12s %12s\n' "$1" "$a" "${b:--}" "$(ratio "$a" "$b")"
}
row "AXFR time (ms)" 1 AXFR
row "AXFR bytes" 2 AXFR
row "AXFR messages" 4 AXFR
row "IXFR time (ms)" 1 IXFR
row "IXFR bytes" 2 IXFR
row "IXFR records" 3 IXFR
printf '\nIXFR: a 10-record change (10 A records added, serial %s -> %s)\n' "$SERIAL1" "$SERIAL2"
