#!/usr/bin/env bash
# Benchmark `meridian auth` against NSD and Knot DNS on the same generated
# zone and query mix, on this machine, in one run (make bench).
#
# For each server: QPS at saturation, and server CPU microseconds per query
# at a fixed rate well below saturation (from utime+stime in /proc/PID/stat
# of every process in the server's process group). On a small machine
# dnsperf itself can be the bottleneck at saturation, so CPU per query is the
# figure that counts. Then load time (start until the SOA answers) and memory
# for a 1M-name zone.
#
# Servers are pinned to one core and dnsperf to another with taskset, and
# every server runs one worker, so the figures compare like with like.
#
# Environment (all optional):
#   BENCH_NAMES=100000   entries in the benchmark zone
#   BENCH_BIG=1000000    entries in the load-time zone (0 skips that part)
#   BENCH_SECONDS=10     length of each dnsperf run
#   BENCH_RATE=          fixed query rate for CPU/query (default: a quarter of
#                        the slowest server's saturation QPS)
#   BENCH_SERVER_CPU=0   core for the servers
#   BENCH_CLIENT_CPU=1   core for dnsperf
#   BENCH_SERVERS="meridian nsd knot"
#   MERIDIAN=path        use this meridian binary instead of building one
#   MERIDIAN_REQUIRE_PEERS=1  fail, rather than skip, when a peer is missing
set -euo pipefail

cd "$(dirname "$0")/../.."

NAMES=${BENCH_NAMES:-100000}
BIG=${BENCH_BIG:-1000000}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
SERVERS=${BENCH_SERVERS:-meridian nsd knot}
ORIGIN=bench.test.
SEED=1
HZ=$(getconf CLK_TCK)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/meridian-bench.XXXXXX")
declare -A PID PORT

BENCH="bench"
# shellcheck source=testdata/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cleanup() {
	local s
	for s in "${!PID[@]}"; do
		stop_server "$s"
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM



DNSPERF=$(need dnsperf)
DIG=$(need dig)
[[ -n $DNSPERF && -n $DIG ]] || die "dnsperf and dig are required (apt-get install dnsperf bind9-dnsutils)"
command -v taskset >/dev/null || die "taskset is required (util-linux)"
NSD=$(need nsd)
KNOTD=$(need knotd)
if (($(nproc) < 2)); then
	log "bench: only $(nproc) core; server and dnsperf share it, figures are rough"
	CLIENT_CPU=$SERVER_CPU
fi



# wait_soa PORT TIMEOUT_S PID: poll until the zone's SOA answers
# authoritatively; give up when PID has exited.
wait_soa() {
	local port=$1 deadline=$(($(date +%s) + $2)) pid=$3
	while (($(date +%s) < deadline)); do
		kill -0 "$pid" 2>/dev/null || return 1
		if "$DIG" @127.0.0.1 -p "$port" +norec +time=1 +tries=1 "$ORIGIN" SOA 2>/dev/null |
			grep -q 'flags: qr aa'; then
			return 0
		fi
		sleep 0.02 # pacing between polls; readiness is the answer, not the sleep
	done
	return 1
}

# start_server NAME ZONEFILE: start NAME pinned to SERVER_CPU in its own
# process group (setsid), on a free port, and wait until it answers.
start_server() {
	local name=$1 zone=$2 dir=$WORK/$1 port
	mkdir -p "$dir"
	port=$(free_port)
	case $name in
	meridian)
		set -- "$WORK/bin/meridian" auth -listen "127.0.0.1:$port" -metrics= -zone "$ORIGIN=$zone"
		;;
	nsd)
		# username "" and chroot "": stay root, read the work directory.
		# rrl-ratelimit 0: Debian builds NSD with rate limiting, which would
		# answer a benchmark with TC=1 slips.
		cat >"$dir/nsd.conf" <<-EOF
			server:
			  ip-address: 127.0.0.1@$port
			  port: $port
			  do-ip6: no
			  username: ""
			  chroot: ""
			  zonesdir: "$dir"
			  database: ""
			  zonelistfile: "$dir/zone.list"
			  xfrdfile: "$dir/xfrd.state"
			  xfrdir: "$dir"
			  pidfile: "$dir/nsd.pid"
			  zonefiles-write: 0
			  server-count: 1
			  verbosity: 0
			  rrl-ratelimit: 0
			  rrl-whitelist-ratelimit: 0
			remote-control:
			  control-enable: no
			zone:
			  name: "$ORIGIN"
			  zonefile: "$zone"
		EOF
		set -- "$NSD" -d -c "$dir/nsd.conf"
		;;
	knot)
		cat >"$dir/knot.conf" <<-EOF
			server:
			    rundir: "$dir"
			    pidfile: "$dir/knot.pid"
			    listen: 127.0.0.1@$port
			    udp-workers: 1
			    tcp-workers: 1
			    background-workers: 1
			log:
			  - target: stderr
			    any: warning
			database:
			    storage: "$dir/db"
			control:
			    listen: "$dir/knot.sock"
			template:
			  - id: default
			    storage: "$dir"
			    zonefile-sync: -1
			    zonefile-load: whole
			    journal-content: none
			zone:
			  - domain: "$ORIGIN"
			    file: "$zone"
		EOF
		set -- "$KNOTD" -c "$dir/knot.conf"
		;;
	esac
	local t0
	t0=$(now_ns)
	setsid taskset -c "$SERVER_CPU" "$@" >"$dir/log" 2>&1 &
	PID[$name]=$!
	PORT[$name]=$port
	if ! wait_soa "$port" 600 "${PID[$name]}"; then
		log "bench: $name did not answer on port $port; its log:"
		tail -20 "$dir/log" >&2
		return 1
	fi
	LOAD_MS=$((($(now_ns) - t0) / 1000000))
}

stop_server() {
	local name=$1 pid=${PID[$1]:-}
	[[ -z $pid ]] && return 0
	unset "PID[$name]"
	kill -TERM -- "-$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.05
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}



mem_kb() { # "PSS_KB HWM_KB": proportional set size summed over the group
	# (NSD's forked server shares the zone with its parent; summing RSS
	# would count it twice) and the largest peak RSS of any one process.
	local pss=0 hwm=0 p v
	for p in $(group_pids "$1"); do
		v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
		pss=$((pss + ${v:-0}))
		v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		((${v:-0} > hwm)) && hwm=$v
	done
	printf '%d %d\n' "$pss" "$hwm"
}

# perf NAME EXTRA_ARGS...: run dnsperf pinned to CLIENT_CPU; prints
# "QPS COMPLETED LOST".
perf() {
	local name=$1 out
	shift
	out=$(taskset -c "$CLIENT_CPU" "$DNSPERF" -s 127.0.0.1 -p "${PORT[$name]}" -d "$WORK/queries.txt" \
		-l "$SECONDS_PER_RUN" -t 2 "$@" 2>&1) || { log "$out"; return 1; }
	printf '%s\n' "$out" >"$WORK/$name/dnsperf.$(date +%s%N).log"
	awk '/Queries completed:/ {c=$3} /Queries lost:/ {l=$3} /Queries per second:/ {q=$4}
		END {printf "%d %d %d\n", q, c, l}' <<<"$out"
}

log "bench: building meridian and zonegen"
mkdir -p "$WORK/bin"
go build -o "$WORK/bin/zonegen" ./zone/zonegen/cmd/zonegen
if [[ -n ${MERIDIAN:-} ]]; then # make bench passes the binary it built
	[[ -x $MERIDIAN ]] || die "MERIDIAN=$MERIDIAN is not an executable"
	ln -s "$(realpath "$MERIDIAN")" "$WORK/bin/meridian"
elif ! go build -o "$WORK/bin/meridian" ./cmd/meridian 2>"$WORK/build.log"; then
	cat "$WORK/build.log" >&2
	die "go build ./cmd/meridian failed"
fi

log "bench: generating a $NAMES-name zone and its query mix"
"$WORK/bin/zonegen" -origin "$ORIGIN" -names "$NAMES" -seed "$SEED" -out "$WORK/zone.db"
"$WORK/bin/zonegen" -origin "$ORIGIN" -names "$NAMES" -seed "$SEED" -queries 200000 -out "$WORK/queries.txt"

declare -a RUN=()
for s in $SERVERS; do
	case $s in
	meridian) RUN+=(meridian) ;;
	nsd) if [[ -n $NSD ]]; then RUN+=(nsd); fi ;;
	knot) if [[ -n $KNOTD ]]; then RUN+=(knot); fi ;;
	*) die "unknown server $s" ;;
	esac
done
((${#RUN[@]} > 0)) || die "no server to benchmark"

declare -A QPS CPU_US DONE LOST
for s in "${RUN[@]}"; do
	start_server "$s" "$WORK/zone.db" || die "$s failed to start"
	log "bench: $s: saturation, ${SECONDS_PER_RUN}s"
	read -r QPS[$s] _ _ < <(perf "$s" -c 20 -q 500)
	stop_server "$s"
done

RATE=$(fixed_rate "${QPS[@]}")

for s in "${RUN[@]}"; do
	start_server "$s" "$WORK/zone.db" || die "$s failed to start"
	log "bench: $s: fixed rate $RATE q/s, ${SECONDS_PER_RUN}s"
	before=$(cpu_ticks "${PID[$s]}")
	read -r _ DONE[$s] LOST[$s] < <(perf "$s" -c 4 -Q "$RATE")
	after=$(cpu_ticks "${PID[$s]}")
	if ((DONE[$s] > 0)); then
		CPU_US[$s]=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="${DONE[$s]}" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
	else
		CPU_US[$s]=nan
	fi
	stop_server "$s"
done


printf '\nAuthoritative benchmark: %d-name zone, %d-line mixed query file (zonegen seed %d),\n' "$NAMES" 200000 "$SEED"
printf 'servers on core %s with one worker, dnsperf on core %s, %ss per run, %d cores, %s\n\n' \
	"$SERVER_CPU" "$CLIENT_CPU" "$SECONDS_PER_RUN" "$(nproc)" "$(uname -r)"
printf '%-10s %14s %18s %12s %8s\n' server "QPS (sat.)" "CPU µs/q @$RATE" completed lost
for s in "${RUN[@]}"; do
	printf '%-10s %14s %18s %12s %8s\n' "$s" "${QPS[$s]}" "${CPU_US[$s]}" "${DONE[$s]}" "${LOST[$s]}"
done
if [[ -n ${QPS[meridian]:-} ]]; then
	printf '\n'
	for p in nsd knot; do
		[[ -n ${QPS[$p]:-} ]] || continue
		printf 'meridian / %-5s QPS %s×   CPU per query %s×\n' "$p" \
			"$(ratio "${QPS[meridian]}" "${QPS[$p]}")" "$(ratio "${CPU_US[meridian]}" "${CPU_US[$p]}")"
	done
fi

if ((BIG > 0)); then
	log "bench: generating a $BIG-name zone"
	"$WORK/bin/zonegen" -origin "$ORIGIN" -names "$BIG" -seed "$SEED" -out "$WORK/big.db"
	printf '\nLoad of a %d-name zone (%s MB, %d lines): start until the SOA answers\n\n' "$BIG" \
		"$(($(stat -c %s "$WORK/big.db") / 1000000))" "$(wc -l <"$WORK/big.db")"
	printf '%-10s %10s %12s %14s\n' server "load s" "PSS MB" "peak RSS MB"
	declare -A LOADS PSS HWM
	for s in "${RUN[@]}"; do
		log "bench: $s: loading the $BIG-name zone"
		if start_server "$s" "$WORK/big.db"; then
			read -r pss hwm < <(mem_kb "${PID[$s]}")
			LOADS[$s]=$(awk -v ms="$LOAD_MS" 'BEGIN {printf "%.2f", ms / 1000}')
			PSS[$s]=$((pss / 1024))
			HWM[$s]=$((hwm / 1024))
			stop_server "$s"
		else
			LOADS[$s]=failed PSS[$s]=- HWM[$s]=-
			stop_server "$s"
		fi
		printf '%-10s %10s %12s %14s\n' "$s" "${LOADS[$s]}" "${PSS[$s]}" "${HWM[$s]}"
	done
	if [[ -n ${LOADS[meridian]:-} ]]; then
		printf '\n'
		for p in nsd knot; do
			[[ -n ${LOADS[$p]:-} ]] || continue
			printf 'meridian / %-5s load time %s×   memory (PSS) %s×\n' "$p" \
				"$(ratio "${LOADS[meridian]}" "${LOADS[$p]}")" "$(ratio "${PSS[meridian]}" "${PSS[$p]}")"
		done
	fi
fi
