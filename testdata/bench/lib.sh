# Helpers shared by the benchmark scripts (auth.sh, resolver.sh, xfr.sh),
# sourced by each. BENCH names the script in messages.

log() { printf '%s\n' "$*" >&2; }
die() {
	log "${BENCH:-bench}: $*"
	exit 1
}

need() { # need BINARY: path, or empty (skip) / die (MERIDIAN_REQUIRE_PEERS=1)
	local p
	p=$(PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin" command -v "$1" || true)
	if [[ -z $p && ${MERIDIAN_REQUIRE_PEERS:-} == 1 ]]; then
		die "$1 not found (MERIDIAN_REQUIRE_PEERS=1)"
	fi
	[[ -z $p ]] && log "${BENCH:-bench}: $1 not found; skipping what needs it"
	printf '%s' "$p"
}

free_port() { # a port free for UDP and TCP on 127.0.0.1
	local p=$((20000 + RANDOM % 20000))
	while ss -Hlntu | awk '{print $5}' | grep -q ":$p\$"; do
		p=$((p + 1))
	done
	printf '%d' "$p"
}

now_ns() { date +%s%N; }

group_pids() { # every process in the process group of $1
	ps -e -o pid=,pgid= | awk -v g="$1" '$2 == g {print $1}'
}

cpu_ticks() { # utime+stime summed over the process group of $1
	local sum=0 p stat rest
	for p in $(group_pids "$1"); do
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		rest=${stat##*) }
		read -r -a f <<<"$rest"
		sum=$((sum + f[11] + f[12]))
	done
	printf '%d' "$sum"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "nan" || b == "nan") print "-"; else printf "%.2f", a / b }'; }

fixed_rate() { # fixed_rate QPS...: BENCH_RATE, or a quarter of the lowest, in thousands, at least 1000
	local min= q rate
	if [[ -n ${BENCH_RATE:-} ]]; then
		printf '%d' "$BENCH_RATE"
		return
	fi
	for q in "$@"; do
		if [[ -z $min ]] || ((q < min)); then min=$q; fi
	done
	rate=$(((min / 4) / 1000 * 1000))
	((rate >= 1000)) || rate=1000
	printf '%d' "$rate"
}
