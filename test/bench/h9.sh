# SPDX-License-Identifier: GPL-2.0-or-later
# H9 (issue 11): the worst verdict delay while the daemon is busy. Sourced
# by run.sh (its namespaces, server, Protective DNS lab and helpers).
#
# One ztdnsd with the kernel fast path (when the build has it) and an
# exception for 198.19.0.0/24, so that every connect of the measuring
# client goes through NFQUEUE (exceptions are never mirrored into the fast
# path) and is judged on the verdict path. Two phases, the same client
# (1 connection at a time, time-bounded, count-bounded):
#   quiet  nothing else
#   busy   meanwhile, from other processes: SIGHUP every 100 ms (a full
#          reload each), fast-path churn (ztdnsctl allow + revoke of
#          198.18.64.x, each one a set add and a set removal in the
#          kernel), and dnsperf asking the stub up to 10 000 distinct
#          names/s (h9-N.bench.test, one distinct address each: learned,
#          mirrored into the fast path)
# Reported: connect p50, p99, p99.9, max of each phase and their ratio, the
# reloads, fast-path operations and learned addresses the busy phase
# achieved, and the queue drop counters (which must not move). Every loop is
# bounded in count; no figure is judged.

H9_NAMES=30000 # distinct names (and addresses, 198.18.128.0/17) for the learning load

# The names for unbound (appended to the lab's data by pdns_setup) ...
h9_zone() {
	local i a
	for ((i = 0; i < H9_NAMES; i++)); do
		a=$((32768 + i)) # 198.18.128.0 + i
		echo "h9-$i.bench.test. 300 A 198.18.$((a / 256)).$((a % 256))"
	done
}

# ... and for dnsperf.
h9_queries() {
	local i
	for ((i = 0; i < H9_NAMES; i++)); do echo "h9-$i.bench.test A"; done
}

# h9_status: "RELOADS LEARNED FP_ADDED FP_REMOVED FP_ERRORS" from the daemon.
h9_status() {
	ctl --json status 2>/dev/null | jq -r '[.reloads // .config.reloads // 0,
		.dns.learned // 0, .fast_path.added // 0, .fast_path.removed // 0,
		.fast_path.errors // 0] | @tsv'
}

h9_churn_start() {
	local n=$((H9_S * 10 + 20)) i
	H9_CHURN=()
	# SIGHUP every 100 ms, at most n of them.
	(for ((i = 0; i < n; i++)); do kill -HUP "$ZTD_PID" 2>/dev/null || exit 0; sleep 0.1; done) &
	H9_CHURN+=($!)
	# Fast-path churn: allow + revoke, at most 20 per second of the phase.
	(for ((i = 0; i < H9_S * 20; i++)); do
		a=198.18.64.$((i % 256))
		ctl allow "$a" --ttl 60 >/dev/null 2>&1
		ctl revoke "$a" >/dev/null 2>&1
	done) &
	H9_CHURN+=($!)
	# Learning: up to 10 000 queries/s for the phase (dnsperf -l bounds it).
	cx dnsperf -s 127.0.0.1 -p 53 -d "$TMP/h9-queries" -Q 10000 -c 4 -l "$H9_S" -t 3 \
		>"$RAW/h9-dnsperf.log" 2>&1 &
	H9_CHURN+=($!)
	PIDS+=("${H9_CHURN[@]}")
}

h9_churn_stop() {
	local p
	for p in "${H9_CHURN[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${H9_CHURN[@]}"; do wait "$p" 2>/dev/null; done
	H9_CHURN=()
}

# h9_phase PHASE: one measurement; sets H9_OUT_<PHASE> (connload summary)
# and H9_DELTA_<PHASE> (status deltas), checks the queue counters.
h9_phase() {
	local phase=$1 out rc q0 q1 s0 s1 problems=()
	cx conntrack -F >/dev/null 2>&1
	q0=$(qstat)
	s0=$(h9_status)
	[ "$phase" = busy ] && h9_churn_start
	out=$(cx "$CL" connect --dst 198.19.0.0 --naddr "$NADDR" --port $PORT --nports $NPORTS \
		--clients 1 --count 2000000 --duration "$H9_S" --timeout-ms 3000 --slow-ms 500 \
		--cdf "$RAW/cdf-H9-$phase.dat" 2>"$RAW/err-H9-$phase.log")
	rc=$?
	[ "$phase" = busy ] && h9_churn_stop
	q1=$(qstat)
	s1=$(h9_status)
	echo "H9-$phase $out" >>"$RAW/connload.log"
	local p0 a0 e0 qd0 ud0 p1 a1 e1 qd1 ud1
	read -r p0 a0 e0 qd0 ud0 <<<"$q0"
	read -r p1 a1 e1 qd1 ud1 <<<"$q1"
	[ $rc -eq 0 ] || problems+=("connload exit $rc: $(head -n 3 "$RAW/err-H9-$phase.log")")
	[ "$(kv "$out" fail)" = 0 ] || problems+=("$(kv "$out" fail) connections failed")
	[ "${e1:-x}" = "${e0:-y}" ] || problems+=("NFQUEUE enobufs moved: $e0 -> $e1")
	[ "${qd1:-x}" = "${qd0:-y}" ] || problems+=("kernel queue_dropped moved: $qd0 -> $qd1")
	[ "${ud1:-x}" = "${ud0:-y}" ] || problems+=("kernel user_dropped moved: $ud0 -> $ud1")
	local r0 l0 fa0 fr0 fe0 r1 l1 fa1 fr1 fe1
	read -r r0 l0 fa0 fr0 fe0 <<<"$s0"
	read -r r1 l1 fa1 fr1 fe1 <<<"$s1"
	local delta="reloads $((r1 - r0)), learned $((l1 - l0)) ($(((l1 - l0) / H9_S))/s), fast-path adds $((fa1 - fa0)) removals $((fr1 - fr0)) errors $((fe1 - fe0)), verdicts $((p1 - p0))"
	printf -v "H9_OUT_$phase" '%s' "$out"
	printf -v "H9_DELTA_$phase" '%s' "$delta"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$(kv "$out" attempts)" "$(kv "$out" p50_us)" \
		"$(kv "$out" p99_us)" "$(kv "$out" p999_us)" "$(kv "$out" max_us)" "$delta" >>"$RAW/h9.tsv"
	local line="$(kv "$out" attempts) connects, p50 $(kv "$out" p50_us) us, p99 $(kv "$out" p99_us) us, p99.9 $(kv "$out" p999_us) us, max $(kv "$out" max_us) us; $delta"
	if [ ${#problems[@]} -eq 0 ]; then
		ok "H9 $phase: $line"
	else
		not_ok "H9 $phase: every connection made, no queue drop" "${problems[@]}" "$line"
	fi
}

h9_run() {
	local conf=$TMP/ztdnsd-H9.json extra
	H9_LINE="not run"
	if ! command -v dnsperf >/dev/null; then
		say "H9 not measured: dnsperf is not installed (apt-get install dnsperf)"
		return 0
	fi
	h9_queries >"$TMP/h9-queries"
	extra='"exceptions":["198.19.0.0/24"]'
	if fast_path_supported; then extra="$extra,$FAST_PATH_JSON"; fi
	write_conf "$conf" "$extra"
	: >"$RAW/h9.tsv"
	if ! ztd_start "$conf" "$TMP/ztdnsd-H9.log"; then
		not_ok "H9: ztdnsd ready" "$(tail -n 5 "$TMP/ztdnsd-H9.log")"
		cfg_down C
		return 1
	fi
	h9_phase quiet
	h9_phase busy
	h9_phase quiet2
	cfg_down C
	local qa=${H9_OUT_quiet:-} b=${H9_OUT_busy:-}
	H9_LINE="quiet p99.9 $(kv "$qa" p999_us) us max $(kv "$qa" max_us) us; busy p99.9 $(kv "$b" p999_us) us max $(kv "$b" max_us) us; ratio p99.9 $(awk -v a="$(kv "$b" p999_us)" -v q="$(kv "$qa" p999_us)" 'BEGIN { if (q > 0) printf "%.2f", a / q; else print "-" }')x; busy: ${H9_DELTA_busy:-}"
	say "H9 $H9_LINE"
}
