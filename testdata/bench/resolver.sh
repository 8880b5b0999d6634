#!/usr/bin/env bash
# Benchmark `meridian resolver` against Unbound on the same hermetic
# hierarchy, the same names and the same machine, in one run (make bench,
# after auth.sh; or alone: bash testdata/bench/resolver.sh).
#
# The hierarchy is testdata/zones/hier plus BENCH_ZONES generated zones
# z1.org. ... delegated from org., every server a `meridian auth` on port
# 53 of its 127.53.x.y address. Unbound queries authoritative servers on
# port 53 only, so everything runs in a network namespace made for the
# run, which needs root; without it the benchmark is skipped.
#
# For each resolver:
#   warm QPS   dnsperf at saturation on a query file of every benchmark
#              name, after a pass that puts them all in the cache, with how
#              busy the resolver kept its core (on two cores dnsperf is
#              often the limit);
#   CPU/query  resolver CPU time per answer at a fixed rate below
#              saturation, warm cache, as auth.sh measures it;
#   cold       latency of each of those names asked once, one at a time,
#              right after a restart (an empty cache), by coldlat (a Go
#              helper next to this script); BENCH_COLD_RUNS restarts,
#              pooled: the median and the 99th percentile.
# The resolvers run one thread each (Unbound num-threads 1; Meridian's Go
# runtime is confined to the core by taskset), pinned to one core;
# dnsperf, coldlat and the authoritative servers to another.
#
# Environment (all optional):
#   BENCH_SECONDS=10     length of each dnsperf run
#   BENCH_ZONES=100      generated zones under org. (3 names and 1 NXDOMAIN each)
#   BENCH_COLD_RUNS=3    cold passes per resolver
#   BENCH_SERVER_CPU=0   core for the resolvers
#   BENCH_CLIENT_CPU=1   core for dnsperf, coldlat and the hierarchy
#   BENCH_RATE=          fixed query rate for CPU/query (default: a quarter of
#                        the slower resolver's warm QPS)
#   BENCH_RESOLVERS="meridian unbound"
#   BENCH_TRANSPORT=udp  dnsperf's transport: udp, or tcp (each dnsperf client
#                        a connection, its queries pipelined on it)
#   MERIDIAN=path        use this meridian binary instead of building one
#   MERIDIAN_REQUIRE_PEERS=1  fail, rather than skip, when a peer is missing
set -euo pipefail

cd "$(dirname "$0")/../.."

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
ZONES=${BENCH_ZONES:-100}
COLD_RUNS=${BENCH_COLD_RUNS:-3}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
RESOLVERS=${BENCH_RESOLVERS:-meridian unbound}
TRANSPORT=${BENCH_TRANSPORT:-udp}
[[ $TRANSPORT == udp || $TRANSPORT == tcp ]] || { echo "BENCH_TRANSPORT: udp or tcp, not $TRANSPORT" >&2; exit 2; }
HZ=$(getconf CLK_TCK)
HIER=testdata/zones/hier
# Roughly the same cache for both, far above the working set: Meridian's
# default of 100000 entries, and for Unbound a third of the bytes to the
# message cache, two thirds to the RRset cache, as its manual advises.
UNBOUND_MSG_CACHE=32m
UNBOUND_RRSET_CACHE=64m

BENCH="bench"
# shellcheck source=testdata/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip() { log "bench: resolver benchmark skipped: $*"; exit 0; }


# Root is a privilege, not a peer: skipped even with MERIDIAN_REQUIRE_PEERS=1.
(($(id -u) == 0)) || skip "needs root for a network namespace whose port 53 the hierarchy can use"
IP=$(PATH="$PATH:/usr/sbin:/sbin" command -v ip || true)
[[ -n $IP ]] || skip "needs ip(8) from iproute2"
DNSPERF=$(need dnsperf)
DIG=$(need dig)
UNBOUND=$(need unbound)
[[ -n $DNSPERF && -n $DIG ]] || die "dnsperf and dig are required (apt-get install dnsperf bind9-dnsutils)"
command -v taskset >/dev/null || die "taskset is required (util-linux)"
if (($(nproc) < 2)); then
	log "bench: only $(nproc) core; resolver and dnsperf share it, figures are rough"
	CLIENT_CPU=$SERVER_CPU
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/meridian-rbench.XXXXXX")
NS=meridian-bench-$$
NS_MADE=
declare -A PID
declare -a HIER_PIDS=()

stop_pid() { # stop_pid PID: SIGTERM its process group, SIGKILL after 5s
	local pid=$1
	kill -TERM -- "-$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.05 # pacing between checks; the exit is what is waited for
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local p
	for p in "${PID[@]}" "${HIER_PIDS[@]}"; do
		stop_pid "$p"
	done
	if [[ -n $NS_MADE ]]; then
		# Anything still in the namespace was started by this script.
		for p in $("$IP" netns pids "$NS" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
		"$IP" netns del "$NS" 2>/dev/null || log "bench: could not delete network namespace $NS"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$IP" netns add "$NS" 2>"$WORK/netns.err" || skip "ip netns add failed: $(cat "$WORK/netns.err")"
NS_MADE=1
"$IP" netns exec "$NS" "$IP" link set lo up
ns() { "$IP" netns exec "$NS" "$@"; }

log "bench: building meridian and coldlat"
mkdir -p "$WORK/bin" "$WORK/zones"
go build -o "$WORK/bin/coldlat" ./testdata/bench/coldlat
if [[ -n ${MERIDIAN:-} ]]; then # make bench passes the binary it built
	[[ -x $MERIDIAN ]] || die "MERIDIAN=$MERIDIAN is not an executable"
	ln -s "$(realpath "$MERIDIAN")" "$WORK/bin/meridian"
elif ! go build -o "$WORK/bin/meridian" ./cmd/meridian 2>"$WORK/build.log"; then
	cat "$WORK/build.log" >&2
	die "go build ./cmd/meridian failed"
fi
BIN=$WORK/bin/meridian

# The hierarchy's zones, org. with the generated delegations added, and
# the generated zones, all served by 127.53.5.1.
log "bench: generating $ZONES zones under org."
cp "$HIER"/*.zone "$WORK/zones/"
{
	printf '; benchmark delegations, all to 127.53.5.1\n'
	for ((i = 1; i <= ZONES; i++)); do
		printf 'z%d IN NS ns.z%d.org.\nns.z%d IN A 127.53.5.1\n' "$i" "$i" "$i"
	done
} >>"$WORK/zones/org.zone"
BENCH_ZONE_ARGS=()
for ((i = 1; i <= ZONES; i++)); do
	cat >"$WORK/zones/z$i.org.zone" <<-EOF
		\$ORIGIN z$i.org.
		\$TTL 300
		@   IN SOA ns hostmaster 1 1800 900 604800 300
		@   IN NS  ns
		ns  IN A   127.53.5.1
		w1  IN A   192.0.2.$((i % 250 + 1))
		w2  IN A   198.51.100.$((i % 250 + 1))
		w3  IN AAAA 2001:db8::$i
	EOF
	BENCH_ZONE_ARGS+=(-zone "z$i.org.=$WORK/zones/z$i.org.zone")
done

# The names: the hierarchy's own (CNAMEs across zones, a glueless
# delegation, a wildcard, NXDOMAIN and NODATA), then per generated zone
# its first name (a new zone: a referral from org.), then the others and
# an NXDOMAIN (the zone cut already known). Both files hold the same names.
{
	printf '%s\n' "www.example.org A" "www.example.org AAAA" "alias.example.org A" "inalias.example.org A" \
		"host.sub.example.org A" "x.wild.example.org A" "nope.example.org A" "txt.example.org A" \
		"txt.example.org TXT" "www.other.net A" "nope.net A" "nope.org A"
	for w in "w1 A" "w2 A" "w3 AAAA" "nx A"; do
		for ((i = 1; i <= ZONES; i++)); do
			printf '%s.z%d.org %s\n' "${w% *}" "$i" "${w#* }"
		done
	done
} >"$WORK/names.txt"
NAMES=$(wc -l <"$WORK/names.txt")

# start_auth ADDR ZONE_ARGS...: one authoritative server of the hierarchy.
start_auth() {
	local addr=$1
	shift
	setsid "$IP" netns exec "$NS" taskset -c "$CLIENT_CPU" "$BIN" auth -listen "$addr:53" -metrics= "$@" \
		>>"$WORK/auth.log" 2>&1 &
	HIER_PIDS+=($!)
}

# wait_answer ADDR NAME TYPE [CLASS] PID: poll until ADDR answers (any rcode
# when TYPE is TXT in CH, else NOERROR with AA); give up when PID exits.
wait_answer() {
	local addr=$1 name=$2 type=$3 class=$4 pid=$5 deadline=$(($(date +%s) + 30)) want='status: '
	[[ $class == IN ]] && want='flags: qr aa'
	while (($(date +%s) < deadline)); do
		kill -0 "$pid" 2>/dev/null || return 1
		if ns "$DIG" @"$addr" +norec +time=1 +tries=1 -c "$class" "$name" "$type" 2>/dev/null | grep -q "$want"; then
			return 0
		fi
		sleep 0.02 # pacing between polls; readiness is the answer, not the sleep
	done
	return 1
}

log "bench: starting the hierarchy in network namespace $NS"
start_auth 127.53.0.1 -zone ".=$WORK/zones/root.zone"
start_auth 127.53.1.1 -zone "org.=$WORK/zones/org.zone"
start_auth 127.53.1.2 -zone "org.=$WORK/zones/org.zone"
start_auth 127.53.2.1 -zone "net.=$WORK/zones/net.zone"
for i in 1 2 3; do
	start_auth "127.53.3.$i" -zone "example.org.=$WORK/zones/example.org.zone"
done
start_auth 127.53.3.9 # lame: serves nothing, refuses everything
start_auth 127.53.4.1 -zone "other.net.=$WORK/zones/other.net.zone" -zone "sub.example.org.=$WORK/zones/sub.example.org.zone"
start_auth 127.53.5.1 "${BENCH_ZONE_ARGS[@]}"
checks=(
	"127.53.0.1 . SOA IN" "127.53.1.1 org. SOA IN" "127.53.1.2 org. SOA IN" "127.53.2.1 net. SOA IN"
	"127.53.3.1 example.org. SOA IN" "127.53.3.2 example.org. SOA IN" "127.53.3.3 example.org. SOA IN"
	"127.53.3.9 id.server. TXT CH" "127.53.4.1 sub.example.org. SOA IN" "127.53.5.1 z$ZONES.org. SOA IN"
)
for i in "${!checks[@]}"; do
	read -r a n t c <<<"${checks[$i]}"
	wait_answer "$a" "$n" "$t" "$c" "${HIER_PIDS[$i]}" || {
		tail -20 "$WORK/auth.log" >&2
		die "the authoritative server on $a did not answer"
	}
done

# start_resolver NAME: start NAME on 127.0.0.1:53 pinned to SERVER_CPU and
# wait until it answers.
start_resolver() {
	local name=$1 dir=$WORK/$1
	mkdir -p "$dir"
	case $name in
	meridian)
		set -- "$BIN" resolver -listen 127.0.0.1:53 -root-hints "$HIER/root.hints" -metrics=
		;;
	unbound)
		# As internal/peer's StartUnbound: the iterator alone (the
		# hierarchy is unsigned and Meridian does not validate), QNAME
		# minimisation, loopback servers allowed, no privilege drop.
		cat >"$dir/unbound.conf" <<-EOF
			server:
			  verbosity: 1
			  interface: 127.0.0.1@53
			  port: 53
			  do-ip6: no
			  so-reuseport: no
			  do-daemonize: no
			  use-syslog: no
			  logfile: ""
			  chroot: ""
			  username: ""
			  directory: "$dir"
			  pidfile: "$dir/unbound.pid"
			  root-hints: "$(realpath "$HIER/root.hints")"
			  num-threads: 1
			  msg-cache-size: $UNBOUND_MSG_CACHE
			  rrset-cache-size: $UNBOUND_RRSET_CACHE
			  access-control: 127.0.0.0/8 allow
			  do-not-query-localhost: no
			  qname-minimisation: yes
			  module-config: "iterator"
			  harden-referral-path: no
			remote-control:
			  control-enable: no
		EOF
		set -- "$UNBOUND" -d -c "$dir/unbound.conf"
		;;
	esac
	setsid "$IP" netns exec "$NS" taskset -c "$SERVER_CPU" "$@" >>"$dir/log" 2>&1 &
	PID[$name]=$!
	if ! wait_answer 127.0.0.1 id.server. TXT CH "${PID[$name]}"; then
		tail -20 "$dir/log" >&2
		return 1
	fi
}

stop_resolver() {
	local pid=${PID[$1]:-}
	[[ -n $pid ]] || return 0
	unset "PID[$1]"
	stop_pid "$pid"
}

# perf ARGS...: dnsperf inside the namespace, pinned to CLIENT_CPU; prints
# "QPS COMPLETED LOST".
perf() {
	local out
	out=$(ns taskset -c "$CLIENT_CPU" "$DNSPERF" -m "$TRANSPORT" -s 127.0.0.1 -p 53 -d "$WORK/names.txt" -t 2 "$@" 2>&1) ||
		{ log "$out"; return 1; }
	awk '/Queries completed:/ {c=$3} /Queries lost:/ {l=$3} /Queries per second:/ {q=$4}
		END {printf "%d %d %d\n", q, c, l}' <<<"$out"
}

declare -a RUN=()
for r in $RESOLVERS; do
	case $r in
	meridian) RUN+=(meridian) ;;
	unbound) if [[ -n $UNBOUND ]]; then RUN+=(unbound); fi ;;
	*) die "unknown resolver $r" ;;
	esac
done
((${#RUN[@]} > 0)) || die "no resolver to benchmark"


# warm_up NAME: start NAME and ask every name twice, so that the timed run
# finds them all in the cache (TTLs are 300s, far longer than a run).
warm_up() {
	start_resolver "$1" || die "$1 failed to start"
	log "bench: $1: warming the cache"
	perf -n 2 -c 1 -q 10 >/dev/null
}

declare -A QPS LOST BUSY MED P99 ERRS CPU_US
for r in "${RUN[@]}"; do
	: >"$WORK/$r.cold"
	for ((run = 1; run <= COLD_RUNS; run++)); do
		start_resolver "$r" || die "$r failed to start"
		log "bench: $r: cold pass $run of $COLD_RUNS, $NAMES names"
		ns taskset -c "$CLIENT_CPU" "$WORK/bin/coldlat" "$WORK/names.txt" >>"$WORK/$r.cold"
		stop_resolver "$r"
	done
	ERRS[$r]=$(awk '$1 == "-" || $2 == "SERVFAIL" || $2 == "REFUSED" {e++} END {print e + 0}' "$WORK/$r.cold")
	read -r MED[$r] P99[$r] < <(awk '$1 != "-" {print $1}' "$WORK/$r.cold" | sort -n | awk '
		{v[NR] = $1}
		END {
			if (NR == 0) {print "nan nan"; exit}
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			i = int(NR * 0.99 + 0.999999); if (i > NR) i = NR
			printf "%.3f %.3f\n", m / 1000, v[i] / 1000
		}')

	warm_up "$r"
	log "bench: $r: warm cache, saturation, ${SECONDS_PER_RUN}s"
	before=$(cpu_ticks "${PID[$r]}")
	read -r QPS[$r] _ LOST[$r] < <(perf -l "$SECONDS_PER_RUN" -c 20 -q 500)
	after=$(cpu_ticks "${PID[$r]}")
	# How busy the resolver's core was: near 100% means the resolver was
	# the limit; well below, dnsperf was, and CPU per query is the figure
	# that compares.
	BUSY[$r]=$(awk -v t=$((after - before)) -v hz="$HZ" -v s="$SECONDS_PER_RUN" 'BEGIN {printf "%.0f%%", t * 100 / hz / s}')
	stop_resolver "$r"
done

# CPU per query at one fixed rate for all, well below saturation, as
# auth.sh measures the authoritative servers.
RATE=$(fixed_rate "${QPS[@]}")
for r in "${RUN[@]}"; do
	warm_up "$r"
	log "bench: $r: warm cache, fixed rate $RATE q/s, ${SECONDS_PER_RUN}s"
	before=$(cpu_ticks "${PID[$r]}")
	read -r _ answered _ < <(perf -l "$SECONDS_PER_RUN" -c 4 -Q "$RATE")
	after=$(cpu_ticks "${PID[$r]}")
	if ((answered > 0)); then
		CPU_US[$r]=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$answered" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
	else
		CPU_US[$r]=nan
	fi
	stop_resolver "$r"
done


printf '\nResolver benchmark: testdata/zones/hier + %d generated zones under org., %d names\n' "$ZONES" "$NAMES"
printf '(each zone: 2 A, 1 AAAA, 1 NXDOMAIN), servers on port 53 in a network namespace.\n'
printf 'Resolvers on core %s, one thread; dnsperf, coldlat and the hierarchy on core %s;\n' "$SERVER_CPU" "$CLIENT_CPU"
printf '%ss per dnsperf run over %s, %d cold passes pooled, %d cores, %s\n\n' "$SECONDS_PER_RUN" "$TRANSPORT" "$COLD_RUNS" "$(nproc)" "$(uname -r)"
printf '%-9s %10s %6s %10s %16s %15s %12s %12s\n' resolver "warm QPS" lost "core busy" "CPU µs/q @$RATE" "cold median ms" "cold p99 ms" "cold errors"
for r in "${RUN[@]}"; do
	printf '%-9s %10s %6s %10s %16s %15s %12s %12s\n' "$r" "${QPS[$r]}" "${LOST[$r]}" "${BUSY[$r]}" "${CPU_US[$r]}" \
		"${MED[$r]}" "${P99[$r]}" "${ERRS[$r]}"
done
if [[ -n ${QPS[meridian]:-} && -n ${QPS[unbound]:-} ]]; then
	printf '\nmeridian / unbound: warm QPS %s×   CPU per query %s×   cold median %s×   cold p99 %s×\n' \
		"$(ratio "${QPS[meridian]}" "${QPS[unbound]}")" "$(ratio "${CPU_US[meridian]}" "${CPU_US[unbound]}")" \
		"$(ratio "${MED[meridian]}" "${MED[unbound]}")" "$(ratio "${P99[meridian]}" "${P99[unbound]}")"
	if [[ ${BUSY[meridian]%\%} -lt 90 && ${BUSY[unbound]%\%} -lt 90 ]]; then
		printf '(neither resolver kept its core busy at saturation: dnsperf was the limit, and CPU per query compares them)\n'
	fi
fi
