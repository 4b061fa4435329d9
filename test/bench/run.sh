#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# run.sh — the ztdns benchmark suite (issue 6). Root; builds (ztdnsd, ztdnsctl,
# connload, allowset_bench), makes its own
# namespaces, measures, prints a table and writes test/bench/results/.
#
#   bash test/bench/run.sh [--quick | --smoke | --full] [--rounds N]
#                          [--build DIR] [--out DIR] [--no-build] [--only h9|prof|h3]
#
#   (default)  5 interleaved rounds of A B C [D], H4 with 2000 trials, H3,
#              H5 at 100k and 1M entries: about 5 minutes on 2 cores
#   --quick    3 rounds, shorter runs, H4 500 trials
#   --full     like the default, but H4 with 100000 trials
#   --smoke    CI: every configuration once for about a second, each part
#              checked to work (no timing is judged); "N passed, N failed"
#   --only prof  only the H6 profile (one C throughput run under perf)
#   --only h3  only H3 and H7 (DNS); H7_PROF=1 also profiles ztdns's hits
#              into raw/prof-h7.txt
#   --only h9  only H9 (h9.sh: verdict delay under reloads, fast-path churn
#              and learning, against the same daemon quiet), e.g. to compare
#              two builds with --build DIR --no-build
#
# Topology (made here, removed on every exit path):
#
#   ztbc$$ (client: connload, ztdnsd)          ztbs$$ (server: no firewall)
#     c0 198.18.0.1/24  <------- veth ------->   s0 198.18.0.2/24, 198.18.0.53 (unbound DoT/DoH)
#     198.19.0.0/16, 198.18.64.0/18,             the same ranges are local there (AnyIP):
#     198.18.128.0/17 via 198.18.0.2             connload serve on ports 9000-9003 of all of them
#
# Configurations, run interleaved (A B C D A B C D ...), conntrack flushed
# before every measurement:
#   A  no firewall in the client namespace
#   B  kernel-only nftables allowlist: output hook, ct state established,
#      related accept, ct state new ip daddr @allow accept, drop
#   C  ztdnsd, every new flow through NFQUEUE (destinations allowed with
#      `ztdnsctl allow` before the run)
#   E  as C with queue.count 2: two queues, two verdict threads (H2)
#   D  ztdnsd with the kernel fast path: run only when the daemon accepts a
#      "fast_path" configuration (it does not yet: the slot says so)
#
# Every measurement FAILS the run if a connection fails or is slow (a first
# SYN lost), if the far end did not see exactly one SYN per attempt and
# accept every connection, or if any NFQUEUE drop counter moved.
set -u -o pipefail

ORIG_ARGS=$*
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/../.." && pwd)
MODE=normal
ROUNDS=
BUILD=$TOP/build
OUT=$BENCH_DIR/results
DO_BUILD=1
ONLY=

while [ $# -gt 0 ]; do
	case $1 in
	--quick) MODE=quick ;;
	--smoke) MODE=smoke ;;
	--full) MODE=full ;;
	--rounds) ROUNDS=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--out) OUT=$2; shift ;;
	--no-build) DO_BUILD=0 ;;
	--only) ONLY=$2; shift ;;
	-h | --help) sed -n '2,35p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

# ------------------------------------------------------------------ parameters

case $MODE in
normal | full) R=5; LAT_N=4000; TPUT_S=4; H4_N=2000; H3_S=5; H3_ROUNDS=3; H5_SIZES="100000 1000000"; H5_LOOKUPS=2000000; H9_S=10 ;;
quick) R=3; LAT_N=2000; TPUT_S=2; H4_N=500; H3_S=3; H3_ROUNDS=2; H5_SIZES="100000 1000000"; H5_LOOKUPS=1000000; H9_S=5 ;;
smoke) R=1; LAT_N=200; TPUT_S=1; H4_N=50; H3_S=1; H3_ROUNDS=1; H5_SIZES="10000"; H5_LOOKUPS=100000; H9_S=1 ;;
esac
case $ONLY in '' | h9 | prof | h3) ;; *) echo "run.sh: --only knows h9, prof and h3" >&2; exit 2 ;; esac
[ "$MODE" = full ] && H4_N=100000
[ -n "$ROUNDS" ] && R=$ROUNDS
case $R in '' | *[!0-9]* | 0) echo "run.sh: --rounds needs a positive number" >&2; exit 2 ;; esac
[ "$R" -gt 50 ] && R=50
TPUT_CLIENTS=8
NADDR=256
PORT=9000
NPORTS=4
QNUM=42

C=ztbc$$
S=ztbs$$
TMP=/tmp/ztbench-$$
RAW=$TMP/raw
PDNS_ADDR=198.18.0.53
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
CL=$BUILD/connload
SOCK=$TMP/ctl.sock
PASS=0
FAIL=0
PIDS=()
NAMESPACES=()
ZTD_PID=
SRV_PID=

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() {
	FAIL=$((FAIL + 1))
	echo "not ok - $1"
	shift
	local d
	for d in "$@"; do [ -n "$d" ] && printf '%s\n' "$d" | sed 's/^/#   /'; done
	return 0
}
say() { echo "# $*"; }

# ------------------------------------------------------------------ teardown

cleanup() {
	local pid ns
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for ns in "${NAMESPACES[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -TERM 2>/dev/null
	done
	sleep 0.3
	for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
	for ns in "${NAMESPACES[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	if [ "${KEEP_TMP:-0}" = 1 ] || [ "$FAIL" -gt 0 ]; then
		echo "# logs kept in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}

on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	cleanup
	[ -n "${ABORTED:-}" ] && { echo "not ok - aborted by signal $ABORTED"; FAIL=$((FAIL + 1)); }
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -gt 0 ] && [ $rc -eq 0 ] && rc=1
	exit $rc
}
trap on_exit EXIT
trap 'ABORTED=INT; exit 130' INT
trap 'ABORTED=TERM; exit 143' TERM

# ------------------------------------------------------------------ checks

if [ "$(id -u)" != 0 ]; then
	not_ok "the benchmark needs root (network namespaces)"
	exit 1
fi
mkdir -p "$TMP" "$RAW" "$OUT" || exit 1
for t in ip nft conntrack jq unbound openssl; do
	command -v $t >/dev/null || { not_ok "$t is installed (test/setup.sh)"; exit 1; }
done
if [ $DO_BUILD = 1 ]; then
	# Only what the benchmark runs (a unit test being edited elsewhere must
	# not stop it); same configuration as test/build.sh.
	if cmake -S "$TOP" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$TMP/build.log" 2>&1 &&
		cmake --build "$BUILD" -j"$(nproc)" --target ztdnsd ztdnsctl connload allowset_bench \
			>>"$TMP/build.log" 2>&1; then
		ok "build in $BUILD"
	else
		not_ok "build in $BUILD" "$(tail -n 20 "$TMP/build.log")"
		exit 1
	fi
fi
BUILD=$(cd "$BUILD" && pwd)
for b in "$ZTD" "$ZTC" "$CL" "$BUILD/allowset_bench"; do
	[ -x "$b" ] || { not_ok "$b is built"; exit 1; }
done
# shellcheck source=../integration/pki.sh
. "$TOP/test/integration/pki.sh"
# shellcheck source=../integration/pdns.sh
. "$TOP/test/integration/pdns.sh"

# wait_until SECONDS CMD...: bounded polling, 0.1 s step.
wait_until() {
	local n=$(($1 * 10)) i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

cx() { ip netns exec "$C" "$@"; }
sx() { ip netns exec "$S" "$@"; }
ctl() { timeout 10 "$ZTC" -s "$SOCK" "$@"; }

# ------------------------------------------------------------------ namespaces

setup_net() {
	local ns
	for ns in "$C" "$S"; do
		ip netns add "$ns" || return 1
		NAMESPACES+=("$ns")
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
			net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.disable_ipv6=1 >/dev/null
	done
	ip -n "$C" link add c0 type veth peer name s0 netns "$S" || return 1
	ip -n "$C" link set c0 up && ip -n "$S" link set s0 up
	ip -n "$C" addr add 198.18.0.1/24 dev c0
	ip -n "$S" addr add 198.18.0.2/24 dev s0
	ip -n "$S" addr add $PDNS_ADDR/24 dev s0
	local r
	for r in 198.19.0.0/16 198.18.64.0/18 198.18.128.0/17; do
		ip -n "$C" route add "$r" via 198.18.0.2 || return 1
		ip -n "$S" route add local "$r" dev lo || return 1
	done
	# Many short connections: a wide port range, TIME_WAIT reuse, deep
	# backlogs. Identical for every configuration.
	cx sysctl -qw net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1
	sx sysctl -qw net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
	# The far end counts every SYN it receives on the benchmark ports
	# (before anything else; no conntrack is used there).
	sx nft -f - <<'EOF' || return 1
table inet ztbench_count {
	counter syn { }
	chain in {
		type filter hook input priority -300; policy accept;
		tcp dport 9000-9003 tcp flags & (syn | ack) == syn counter name syn
	}
}
EOF
}

far_syns() { sx nft -j list counter inet ztbench_count syn | jq '.nftables[] | select(.counter) | .counter.packets'; }

server_start() {
	# `ip netns exec` execs in place: $! is the process itself (not a subshell).
	ip netns exec "$S" "$CL" serve --port $PORT --nports $NPORTS --threads 2 >"$TMP/server.log" 2>&1 &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	wait_until 5 grep -q 'SERVE listening' "$TMP/server.log"
}

# server_counts: "ACCEPTED CLOSED" (asks the server with SIGUSR1).
server_counts() {
	local before
	before=$(grep -c '^SERVE accepted' "$TMP/server.log")
	kill -USR1 "$SRV_PID" 2>/dev/null || return 1
	wait_until 3 test "$(grep -c '^SERVE accepted' "$TMP/server.log")" -gt "$before" || return 1
	grep '^SERVE accepted' "$TMP/server.log" | tail -n 1 | sed -E 's/.*accepted=([0-9]+) closed=([0-9]+).*/\1 \2/'
}

# ------------------------------------------------------------------ configurations

ALLOW_ADDRS=()
for ((i = 0; i < NADDR; i++)); do ALLOW_ADDRS+=("198.19.$((i / 256)).$((i % 256))"); done

write_conf() { # write_conf FILE [EXTRA_JSON_MEMBERS]
	cat >"$1" <<EOF
{"mode":"host",
 "servers":[{"name":"pdns","protocol":"dot","address":["$PDNS_ADDR"],"tls_name":"pdns.bench.test","ca_file":"$TMP/pki/ca.pem"}],
 "listen":["127.0.0.1:53"],
 "queue":{"num":$QNUM,"count":${QCOUNT:-1},"maxlen":16384},
 "limits":{"learned_max":262144,"pending_queries":4096,"pending_per_client":4096},
 "control":{"socket":"$SOCK"},
 "log":{"level":"warning","verdicts":false}${2:+,
 $2}}
EOF
}

FAST_PATH_JSON='"ruleset":{"fast_path":true}'
fast_path_supported() {
	"$ZTD" --help 2>&1 | grep -qi 'fast' && return 0
	write_conf "$TMP/fp-check.json" "$FAST_PATH_JSON"
	"$ZTD" -n -c "$TMP/fp-check.json" >/dev/null 2>&1
}

# ztd_start CONF LOG: ztdnsd in the client namespace, ready (bounded wait).
ztd_start() {
	local i
	rm -f "$SOCK"
	ip netns exec "$C" "$ZTD" -c "$1" --foreground >>"$2" 2>&1 &
	ZTD_PID=$!
	PIDS+=("$ZTD_PID")
	for ((i = 0; i < 15; i++)); do
		ctl wait-ready --timeout 1 >/dev/null 2>&1 && break
		kill -0 "$ZTD_PID" 2>/dev/null || break
	done
	ctl wait-ready --timeout 2 >/dev/null 2>&1
}

cfg_up() {
	case $1 in
	A) return 0 ;;
	B)
		{
			echo 'table inet ztbench_fw {'
			echo '  set allow { type ipv4_addr; size 1048576; elements = {'
			printf '    %s,\n' "${ALLOW_ADDRS[@]}" | sed '$ s/,$//'
			echo '  } }'
			echo '  chain out {'
			echo '    type filter hook output priority 0; policy accept;'
			echo '    oif lo accept'
			echo '    ct state established,related accept'
			echo '    ct state new ip daddr @allow accept'
			echo '    drop'
			echo '  }'
			echo '}'
		} >"$TMP/nft-b.conf"
		cx nft -f "$TMP/nft-b.conf"
		;;
	C | D | E)
		local conf=$TMP/ztdnsd-$1.json a
		case $1 in
		D) write_conf "$conf" "$FAST_PATH_JSON" ;;
		E) QCOUNT=2 write_conf "$conf" ;;
		*) write_conf "$conf" ;;
		esac
		ztd_start "$conf" "$TMP/ztdnsd.log" || return 1
		for a in "${ALLOW_ADDRS[@]}"; do
			ctl allow "$a" --ttl 3600 >/dev/null || return 1
		done
		;;
	esac
}

cfg_down() {
	case $1 in
	A) ;;
	B) cx nft delete table inet ztbench_fw ;;
	C | D | E)
		kill -TERM "$ZTD_PID" 2>/dev/null
		wait_until 10 bash -c "! kill -0 $ZTD_PID 2>/dev/null" || kill -KILL "$ZTD_PID" 2>/dev/null
		wait "$ZTD_PID" 2>/dev/null
		ZTD_PID=
		;;
	esac
}

# qstat: "PACKETS ACCEPTED ENOBUFS QDROP UDROP" summed over the queues.
qstat() {
	ctl --json status 2>/dev/null | jq -r '[.queues[] | [.packets, .accepted, .enobufs,
		(.kernel.queue_dropped // 0), (.kernel.user_dropped // 0)]] | transpose |
		map(add) | @tsv'
}

# cpu_ticks PID: utime + stime of the whole process (all threads), in ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# ------------------------------------------------------------------ one measurement

kv() { sed -nE "s/.* $2=([^ ]+).*/\\1/p" <<<"$1"; }

# measure CFG ROUND KIND: KIND lat (1 client, count-bounded) or tput (8
# clients, time-bounded). Appends a line to $RAW/runs.tsv; checks counts.
measure() {
	local cfg=$1 round=$2 kind=$3 syn0 syn1 acc0 acc1 q0 q1 cpu0 cpu1 out rc
	local args tag=$cfg-r$round-$kind
	if [ "$kind" = lat ]; then
		args=(--clients 1 --count "$LAT_N" --duration 60)
	else
		args=(--clients "$TPUT_CLIENTS" --count 5000000 --duration "$TPUT_S")
	fi
	cx conntrack -F >/dev/null 2>&1
	syn0=$(far_syns)
	read -r acc0 _ < <(server_counts)
	if [ "$cfg" != A ] && [ "$cfg" != B ]; then
		q0=$(qstat)
		cpu0=$(cpu_ticks "$ZTD_PID")
	fi
	out=$(cx "$CL" connect --dst 198.19.0.0 --naddr $NADDR --port $PORT --nports $NPORTS \
		--timeout-ms 3000 --slow-ms 500 --cdf "$RAW/cdf-$tag.dat" "${args[@]}" 2>"$RAW/err-$tag.log")
	rc=$?
	if [ "$cfg" != A ] && [ "$cfg" != B ]; then
		cpu1=$(cpu_ticks "$ZTD_PID")
		q1=$(qstat)
	fi
	echo "$tag $out" >>"$RAW/connload.log"
	local att okc fail slow
	att=$(kv "$out" attempts)
	okc=$(kv "$out" ok)
	fail=$(kv "$out" fail)
	slow=$(kv "$out" slow)
	# Every connection was accepted and closed by the server: wait (bounded).
	wait_until 5 bash -c "kill -USR1 $SRV_PID; sleep 0.15; tail -n 1 '$TMP/server.log' |
		awk -v a=$((acc0 + ${okc:-0})) '{ split(\$2, x, \"=\"); split(\$3, y, \"=\"); exit !(x[2] == a && y[2] == a) }'"
	read -r acc1 _ < <(server_counts)
	syn1=$(far_syns)
	local problems=()
	[ $rc -eq 0 ] || problems+=("connload exit $rc: $(head -n 3 "$RAW/err-$tag.log")")
	[ -n "$att" ] && [ "$att" -gt 0 ] || problems+=("no attempts: $out")
	[ "${fail:-1}" = 0 ] || problems+=("$fail connections failed")
	[ "${slow:-1}" = 0 ] || problems+=("$slow connects slower than 500 ms (a first SYN lost)")
	[ $((syn1 - syn0)) = "${att:-x}" ] || problems+=("far-end SYNs $((syn1 - syn0)) != attempts $att")
	[ $((acc1 - acc0)) = "${okc:-x}" ] || problems+=("server accepted $((acc1 - acc0)) != ok $okc")
	local verdicts=- cpu_us=-
	if [ "$cfg" != A ] && [ "$cfg" != B ]; then
		local p0 a0 e0 qd0 ud0 p1 a1 e1 qd1 ud1
		read -r p0 a0 e0 qd0 ud0 <<<"$q0"
		read -r p1 a1 e1 qd1 ud1 <<<"$q1"
		if [ -z "$p1" ] || [ -z "$p0" ]; then
			problems+=("ztdnsctl status --json gave no queue counters")
		else
			[ "$e1" = "$e0" ] || problems+=("NFQUEUE enobufs moved: $e0 -> $e1")
			[ "$qd1" = "$qd0" ] || problems+=("kernel queue_dropped moved: $qd0 -> $qd1")
			[ "$ud1" = "$ud0" ] || problems+=("kernel user_dropped moved: $ud0 -> $ud1")
			verdicts=$((p1 - p0))
			if [ "$cfg" != D ] && [ $((a1 - a0)) != "${att:-x}" ]; then
				problems+=("NFQUEUE accepted $((a1 - a0)) != attempts $att (packets $verdicts)")
			fi
			if [ "$verdicts" -gt 0 ]; then
				cpu_us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$verdicts" \
					'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
			fi
		fi
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$round" "$kind" \
		"$(kv "$out" cps)" "$(kv "$out" p50_us)" "$(kv "$out" p99_us)" \
		"$(kv "$out" p999_us)" "$att" "$verdicts" "$cpu_us" >>"$RAW/runs.tsv"
	if [ ${#problems[@]} -eq 0 ]; then
		local extra=""
		[ "$verdicts" != - ] && extra=", verdicts $verdicts, daemon CPU/verdict $cpu_us us"
		ok "$tag: $att connections, cps $(kv "$out" cps), p50 $(kv "$out" p50_us) us, p99 $(kv "$out" p99_us) us$extra"
	else
		not_ok "$tag: every connection made, counted once, no queue drops" "${problems[@]}" "$out"
	fi
}

# ---- H6 breakdown: one more C throughput run with the daemon under perf
# (cpu-clock sampling with call chains), sorted into buckets by prof.py.
prof_run() {
	local pp
	if ! command -v perf >/dev/null 2>&1; then
		echo "prof: perf not installed" >"$RAW/prof.txt"
		return 0
	fi
	cfg_up C || { not_ok "H6 profile: configuration C set up"; cfg_down C; return 0; }
	perf record -q -F 2999 -g -o "$TMP/perf.data" -p "$ZTD_PID" >"$TMP/perf.log" 2>&1 &
	pp=$!
	sleep 0.3
	measure C 0 tput
	kill -INT "$pp" 2>/dev/null
	wait "$pp" 2>/dev/null
	cfg_down C
	local last
	last=$(awk -F'\t' '$1 == "C" && $2 == 0 { v = $9; c = $10 } END { print v, c }' "$RAW/runs.tsv")
	# The profiled run is not one of the rounds: keep it out of the medians.
	sed -i '/^C\t0\t/d' "$RAW/runs.tsv"
	if perf script -i "$TMP/perf.data" >"$TMP/perf.txt" 2>>"$TMP/perf.log" &&
		python3 "$BENCH_DIR/prof.py" "$TMP/perf.txt" $last >"$RAW/prof.txt" 2>&1; then
		ok "H6 profile: $(head -n 1 "$RAW/prof.txt")"
	else
		not_ok "H6 profile (perf record/script, prof.py)" "$(tail -n 5 "$TMP/perf.log")" "$(cat "$RAW/prof.txt" 2>/dev/null)"
	fi
}
# shellcheck source=h9.sh
. "$BENCH_DIR/h9.sh"
# shellcheck source=h3.sh
. "$BENCH_DIR/h3.sh"

# ------------------------------------------------------------------ H4, H3 lab

pdns_setup() { # pdns_setup TRIALS: unbound with DoT/DoH and the H4 names
	local n=$1 i a
	pki_init "$TMP/pki"
	pki_server "$TMP/pki" pdns ca pdns.bench.test "$PDNS_ADDR"
	mkdir -p "$TMP/pdns"
	{
		for ((i = 0; i < n; i++)); do
			if [ $i -lt 65280 ]; then
				a=$((65536 + 256 + i)) # 198.19.1.0 + i
				echo "h4-$i.bench.test. 300 A 198.19.$((a / 256 % 256)).$((a % 256))"
			else
				a=$((16384 + i - 65280)) # 198.18.64.0 + ...
				echo "h4-$i.bench.test. 300 A 198.18.$((a / 256)).$((a % 256))"
			fi
		done
		echo "web.bench.test. 300 A 198.19.0.1"
		h9_zone
	} >"$TMP/pdns/data"
	pdns_unbound_conf "$TMP/pdns" "$PDNS_ADDR" "$TMP/pki/pdns.pem" "$TMP/pki/pdns.key" \
		"$TMP/pdns/data" >"$TMP/pdns/unbound.conf"
	# H3: every name under h3.bench.test answers (cache-miss load).
	sed -i -e 's/^\tlog-queries: yes/\tlog-queries: no/' -e 's/^\tlog-replies: yes/\tlog-replies: no/' \
		-e 's/^\tverbosity: 1/\tverbosity: 0/' "$TMP/pdns/unbound.conf"
	printf '\tlocal-zone: "h3.bench.test." redirect\n\tlocal-data: "h3.bench.test. 300 A 198.19.2.1"\n' \
		>>"$TMP/pdns/unbound.conf"
	pdns_unbound_start "$S" "$TMP/pdns" || return 1
	PIDS+=("$PDNS_PID")
	pdns_wait_port "$S" "$PDNS_ADDR" 853 && pdns_wait_port "$S" "$PDNS_ADDR" 443
}

# ------------------------------------------------------------------ run

say "ztdns benchmark: mode $MODE, $R rounds, $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
START_S=$(date +%s)
setup_net && ok "namespaces $C and $S" || { not_ok "namespaces $C and $S"; exit 1; }
server_start && ok "connload server in $S" || { not_ok "connload server in $S" "$(cat "$TMP/server.log")"; exit 1; }
pdns_setup "$H4_N" && ok "Protective DNS lab: unbound DoT/DoH on $PDNS_ADDR" ||
	{ not_ok "Protective DNS lab: unbound DoT/DoH on $PDNS_ADDR" "$(tail -n 5 "$TMP/pdns/unbound.log")"; exit 1; }

if [ "$ONLY" = h9 ]; then
	h9_run
	exit 0
fi
if [ "$ONLY" = h3 ]; then
	h3_run
	cat "$RAW/h3.tsv" "$RAW/h7.tsv" "$RAW/prof-h7.txt" 2>/dev/null
	exit 0
fi
if [ "$ONLY" = prof ]; then
	: >"$RAW/runs.tsv"
	prof_run
	cat "$RAW/prof.txt"
	exit 0
fi

CONFIGS=(A B C E)
if fast_path_supported; then
	CONFIGS+=(D)
	say "D: ztdnsd accepts a fast_path configuration: measured"
	D_NOTE="measured"
else
	say "D skipped: ztdnsd has no kernel fast path yet (neither --help nor --check accepts $FAST_PATH_JSON)"
	D_NOTE="skipped: no kernel fast path in ztdnsd yet"
fi

: >"$RAW/runs.tsv"
for ((r = 1; r <= R; r++)); do
	for cfg in "${CONFIGS[@]}"; do
		if ! cfg_up "$cfg"; then
			not_ok "round $r: configuration $cfg set up" "$(tail -n 5 "$TMP/ztdnsd.log" 2>/dev/null)"
			cfg_down "$cfg"
			continue
		fi
		measure "$cfg" "$r" lat
		measure "$cfg" "$r" tput
		cfg_down "$cfg"
	done
done

[ "$MODE" != smoke ] && prof_run

# ---- H4: allow-before-answer, N fresh lookups each followed at once by a connect
h4_run() {
	local conf=$TMP/ztdnsd-h4.json out rc syn0 syn1 emit0 emit1 q0 q1
	write_conf "$conf"
	rm -f "$SOCK"
	ip netns exec "$C" "$ZTD" -c "$conf" --foreground >>"$TMP/ztdnsd.log" 2>&1 &
	ZTD_PID=$!
	PIDS+=("$ZTD_PID")
	wait_until 15 ctl wait-ready --timeout 1 || { not_ok "H4: ztdnsd ready"; return 1; }
	# Client side: every SYN the client emits (before any verdict), so a
	# retransmitted first SYN shows even when the retry gets through.
	cx nft -f - <<'EOF'
table inet ztbench_emit {
	counter syn { }
	chain out {
		type filter hook output priority -300; policy accept;
		tcp dport 9000 tcp flags & (syn | ack) == syn counter name syn
	}
}
EOF
	syn0=$(far_syns)
	emit0=$(cx nft -j list counter inet ztbench_emit syn | jq '.nftables[] | select(.counter) | .counter.packets')
	q0=$(qstat)
	out=$(cx "$CL" lookup --dns 127.0.0.1 --name-fmt 'h4-%u.bench.test' --count "$H4_N" \
		--duration 900 --port $PORT --clients 2 --slow-ms 500 --timeout-ms 3000 \
		--cdf "$RAW/cdf-H4.dat" 2>"$RAW/err-H4.log")
	rc=$?
	q1=$(qstat)
	syn1=$(far_syns)
	emit1=$(cx nft -j list counter inet ztbench_emit syn | jq '.nftables[] | select(.counter) | .counter.packets')
	cx nft delete table inet ztbench_emit
	cfg_down C
	echo "H4 $out" >>"$RAW/connload.log"
	local att slow fail dnsf extra
	att=$(kv "$out" attempts)
	slow=$(kv "$out" slow)
	fail=$(kv "$out" fail)
	dnsf=$(kv "$out" dns_fail)
	extra=$((emit1 - emit0 - ${att:-0}))
	H4_MISSES=$((${slow:-0} + ${fail:-0} + (extra > 0 ? extra : 0)))
	H4_LINE="trials=$att misses=$H4_MISSES (slow=$slow fail=$fail dns_fail=$dnsf client SYNs=$((emit1 - emit0)) far-end SYNs=$((syn1 - syn0))) resolve p50 $(kv "$out" resolve_p50_us) us, connect p50 $(kv "$out" p50_us) us p99 $(kv "$out" p99_us) us max $(kv "$out" max_us) us"
	local p0 e0 qd0 ud0 p1 e1 qd1 ud1
	read -r p0 _ e0 qd0 ud0 <<<"$q0"
	read -r p1 _ e1 qd1 ud1 <<<"$q1"
	if [ $rc -eq 0 ] && [ "$att" = "$H4_N" ] && [ "$H4_MISSES" = 0 ] && [ "$dnsf" = 0 ] &&
		[ $((syn1 - syn0)) = "$att" ] && [ $((emit1 - emit0)) = "$att" ] &&
		[ "$e0" = "$e1" ] && [ "$qd0" = "$qd1" ] && [ "$ud0" = "$ud1" ]; then
		ok "H4 allow-before-answer: $H4_LINE"
	else
		not_ok "H4 allow-before-answer: no first-SYN miss, no failure, no queue drop" "$H4_LINE" \
			"queue before: $q0; after: $q1" "$(head -n 5 "$RAW/err-H4.log")"
	fi
}
H4_LINE="not run"
H4_MISSES=-
h4_run

# ---- H5: allowset micro-benchmark
H5_OUT=$("$BUILD/allowset_bench" --lookups "$H5_LOOKUPS" $H5_SIZES 2>&1)
rc=$?
echo "$H5_OUT" >"$RAW/allowset.log"
if [ $rc -eq 0 ]; then ok "H5 allowset micro-benchmark ($H5_SIZES entries)"; else not_ok "H5 allowset micro-benchmark" "$H5_OUT"; fi

# ---- H9: verdict delay while the daemon is busy (h9.sh)
h9_run

# ---- H3: DNS stub throughput against peers
h3_run

# ------------------------------------------------------------------ report
END_S=$(date +%s)
export MODE R TPUT_CLIENTS LAT_N TPUT_S H4_N H4_LINE H4_MISSES D_NOTE H9_LINE
export ELAPSED=$((END_S - START_S)) LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)"
export CMDLINE="bash test/bench/run.sh${ORIG_ARGS:+ $ORIG_ARGS}"
python3 "$BENCH_DIR/report.py" "$RAW" "$OUT/latest.md" && ok "report written to $OUT/latest.md" ||
	not_ok "report written to $OUT/latest.md"
cat "$OUT/latest.md"
rm -rf "$OUT/raw" && cp -r "$RAW" "$OUT/raw"
if command -v gnuplot >/dev/null; then
	if bash "$BENCH_DIR/plot.sh" "$OUT/raw" "$OUT/cdf.png" >"$TMP/plot.log" 2>&1; then
		ok "plot $OUT/cdf.png"
	else
		not_ok "plot $OUT/cdf.png" "$(cat "$TMP/plot.log")"
	fi
else
	say "gnuplot not installed: no plot (apt-get install gnuplot-nox)"
fi
say "elapsed ${ELAPSED}s"
