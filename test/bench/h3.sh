# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# h3.sh — figure H3 of run.sh (sourced): DNS stub throughput of ztdns against
# its peers, all forwarding to the same local Protective DNS server (the
# unbound of run.sh on $PDNS_ADDR, DoT 853 / DoH 443):
#   ztdns    ztdnsd's stub on 127.0.0.1:53, DoH upstream (HTTP/2, libcurl)
#   unbound  unbound on 127.0.0.2:53, forward-zone "." with forward-tls-upstream (DoT)
#   dnsdist  dnsdist on 127.0.0.3:53, one DoH backend (outgoing DoH, nghttp2)
# dnsperf sends every name once per run (qNNN.rROUNDSRV.h3.bench.test, all
# answered by the upstream's redirect zone), so every query is a cache miss
# for a caching forwarder. Interleaved per round: ztdns, unbound, dnsdist; at
# 100 outstanding queries for $H3_S s, then at 1 outstanding for $H3_S s.
# dnsperf 2.10 gives the average and maximum latency, not percentiles: the
# "p99 at 1 outstanding" target is judged by the maximum (an upper bound).
# Writes $RAW/h3.tsv: SERVER OUTSTANDING QPS AVG_MS MAX_MS LOST ROUND.

h3_run() {
	local tsv=$RAW/h3.tsv
	: >"$tsv"
	if ! command -v dnsperf >/dev/null; then
		echo "# not measured: dnsperf is not installed (apt-get install dnsperf)" >>"$tsv"
		say "H3 not measured: dnsperf is not installed"
		return 0
	fi
	local have_dnsdist=1
	command -v dnsdist >/dev/null || have_dnsdist=0

	# ztdns with a DoH upstream (same firewall settings as C). It runs only
	# while its own stub is measured: its default-deny ruleset would block
	# the peers' upstream connections (only its own servers are infra).
	local conf=$TMP/ztdnsd-h3.json
	write_conf "$conf"
	sed -i "s|\"servers\":\[.*\],|\"servers\":[{\"name\":\"pdns\",\"protocol\":\"doh\",\"url\":\"https://pdns.bench.test/dns-query\",\"bootstrap\":[\"$PDNS_ADDR\"],\"ca_file\":\"$TMP/pki/ca.pem\"}],|" "$conf"
	h3_ztdns_up() {
		rm -f "$SOCK"
		ip netns exec "$C" "$ZTD" -c "$conf" --foreground >>"$TMP/ztdnsd.log" 2>&1 &
		ZTD_PID=$!
		PIDS+=("$ZTD_PID")
		wait_until 15 ctl wait-ready --timeout 1
	}

	# unbound forwarding over DoT.
	mkdir -p "$TMP/fwd"
	cat >"$TMP/fwd/unbound.conf" <<EOF
server:
	verbosity: 0
	do-daemonize: no
	username: ""
	chroot: ""
	directory: "$TMP/fwd"
	pidfile: ""
	use-syslog: no
	logfile: ""
	interface: 127.0.0.2@53
	access-control: 127.0.0.0/8 allow
	num-threads: 1
	module-config: "iterator"
	do-not-query-localhost: no
	tls-cert-bundle: "$TMP/pki/ca.pem"
	num-queries-per-thread: 4096
	outgoing-num-tcp: 64
	incoming-num-tcp: 64
	# .test is one of unbound's default static zones (RFC 6761): forward it.
	local-zone: "test." nodefault
forward-zone:
	name: "."
	forward-addr: $PDNS_ADDR@853#pdns.bench.test
	forward-tls-upstream: yes
EOF
	ip netns exec "$C" unbound -d -c "$TMP/fwd/unbound.conf" >"$TMP/fwd/unbound.log" 2>&1 &
	PIDS+=("$!")

	# dnsdist with a DoH backend.
	if [ $have_dnsdist = 1 ]; then
		cat >"$TMP/dnsdist.conf" <<EOF
setSecurityPollSuffix("")
setLocal("127.0.0.3:53")
newServer({address="$PDNS_ADDR:443", tls="openssl", subjectName="pdns.bench.test",
           caStore="$TMP/pki/ca.pem", dohPath="/dns-query", validateCertificates=true,
           name="pdns"})
getServer(0):setUp()
EOF
		ip netns exec "$C" dnsdist --supervised --disable-syslog -C "$TMP/dnsdist.conf" >"$TMP/dnsdist.log" 2>&1 &
		PIDS+=("$!")
	fi
	sleep 1

	local -A addr=([ztdns]=127.0.0.1 [unbound]=127.0.0.2 [dnsdist]=127.0.0.3)
	local srvs=(ztdns unbound)
	[ $have_dnsdist = 1 ] && srvs+=(dnsdist)
	# A sanity query through each before measuring.
	local s
	for s in "${srvs[@]}"; do
		if [ "$s" = ztdns ] && ! h3_ztdns_up; then
			not_ok "H3: ztdnsd (DoH upstream) ready" "$(tail -n 5 "$TMP/ztdnsd.log")"
			echo "# ztdns did not start: not measured" >>"$tsv"
			srvs=("${srvs[@]/$s/}")
			continue
		fi
		if cx dig +time=3 +tries=1 +short "check.r0$s.h3.bench.test" A @"${addr[$s]}" | grep -q '^198\.19\.2\.1$'; then
			ok "H3: $s answers through its encrypted upstream"
		else
			not_ok "H3: $s answers through its encrypted upstream" \
				"$(tail -n 5 "$TMP/$s.log" "$TMP/fwd/unbound.log" 2>/dev/null)"
			echo "# $s did not answer: not measured" >>"$tsv"
			srvs=("${srvs[@]/$s/}")
		fi
		[ "$s" = ztdns ] && cfg_down C
	done

	local r q n out qps avg max lost
	n=$((H3_S * 60000))
	for ((r = 1; r <= H3_ROUNDS; r++)); do
		for s in "${srvs[@]}"; do
			[ -n "$s" ] || continue
			if [ "$s" = ztdns ] && ! h3_ztdns_up; then
				not_ok "H3: ztdnsd (DoH upstream) ready, round $r" "$(tail -n 5 "$TMP/ztdnsd.log")"
				continue
			fi
			for q in 100 1; do
				awk -v n="$n" -v p="r$r$s$q" 'BEGIN { for (i = 0; i < n; i++) printf "q%d.%s.h3.bench.test A\n", i, p }' \
					>"$TMP/h3-queries"
				out=$(cx timeout $((H3_S + 20)) dnsperf -s "${addr[$s]}" -p 53 -d "$TMP/h3-queries" \
					-l "$H3_S" -q "$q" -t 3 -c 1 2>&1)
				echo "=== $s r$r q$q" >>"$RAW/dnsperf.log"
				echo "$out" >>"$RAW/dnsperf.log"
				qps=$(sed -nE 's/^ *Queries per second: *([0-9.]+).*/\1/p' <<<"$out")
				avg=$(sed -nE 's/^ *Average Latency \(s\): *([0-9.]+).*/\1/p' <<<"$out")
				max=$(sed -nE 's/^ *Average Latency \(s\):.*max ([0-9.]+)\).*/\1/p' <<<"$out")
				lost=$(sed -nE 's/^ *Queries lost: *([0-9]+).*/\1/p' <<<"$out")
				if [ -z "$qps" ]; then
					not_ok "H3: dnsperf against $s (q=$q, round $r)" "$(tail -n 5 <<<"$out")"
					continue
				fi
				avg=$(awk -v x="$avg" 'BEGIN { printf "%.3f", x * 1000 }')
				max=$(awk -v x="$max" 'BEGIN { printf "%.3f", x * 1000 }')
				printf '%s %s %s %s %s %s %s\n' "$s" "$q" "$qps" "$avg" "$max" "$lost" "$r" >>"$tsv"
				ok "H3 $s r$r, $q outstanding: $qps qps, avg $avg ms, max $max ms, lost $lost"
			done
			[ "$s" = ztdns ] && cfg_down C
		done
	done
	h7_run "$conf"
	return 0
}

# H7 (issue 12): cache-hit throughput, called by h3_run while its unbound
# forwarder (127.0.0.2, which caches) is up. ztdns is the DoH configuration
# of H3 with cache.enabled. Per round and server: 100 names asked once
# (the warm-up fills the cache), then dnsperf loops over the same 100 names
# at 100 outstanding for $H3_S s, so every measured query is a hit (for
# ztdns a hit includes renewing the allowances of its address). Same
# client, same run, interleaved. Writes $RAW/h7.tsv: SERVER QPS AVG_MS LOST
# ROUND.
h7_run() {
	local base=$1 tsv=$RAW/h7.tsv conf7=$TMP/ztdnsd-h7.json r s out qps avg lost
	local -A addr=([ztdns]=127.0.0.1 [unbound]=127.0.0.2)
	: >"$tsv"
	# the H3 configuration plus the cache
	sed 's|"control":|"cache":{"enabled":true,"max_entries":10000},\n "control":|' "$base" >"$conf7"
	awk 'BEGIN { for (i = 0; i < 100; i++) printf "hit%d.h7.h3.bench.test A\n", i }' >"$TMP/h7-queries"
	for ((r = 1; r <= H3_ROUNDS; r++)); do
		for s in ztdns unbound; do
			if [ "$s" = ztdns ]; then
				rm -f "$SOCK"
				ip netns exec "$C" "$ZTD" -c "$conf7" --foreground >>"$TMP/ztdnsd.log" 2>&1 &
				ZTD_PID=$!
				PIDS+=("$ZTD_PID")
				if ! wait_until 15 ctl wait-ready --timeout 1; then
					not_ok "H7: ztdnsd (cache on) ready, round $r" "$(tail -n 5 "$TMP/ztdnsd.log")"
					cfg_down C
					continue
				fi
			fi
			# warm-up: every name once (a miss), then the measured hits
			cx timeout 30 dnsperf -s "${addr[$s]}" -p 53 -d "$TMP/h7-queries" -n 1 -q 10 -t 3 -c 1 >/dev/null 2>&1
			local pp=
			# H7_PROF=1: the first round's ztdns run under perf (where a hit goes)
			if [ "${H7_PROF:-0}" = 1 ] && [ "$s" = ztdns ] && [ "$r" = 1 ] && command -v perf >/dev/null; then
				perf record -q -F 2999 -g -o "$TMP/perf-h7.data" -p "$ZTD_PID" >"$TMP/perf-h7.log" 2>&1 &
				pp=$!
				sleep 0.3
			fi
			out=$(cx timeout $((H3_S + 20)) dnsperf -s "${addr[$s]}" -p 53 -d "$TMP/h7-queries" \
				-l "$H3_S" -q 100 -t 3 -c 1 2>&1)
			if [ -n "$pp" ]; then
				kill -INT "$pp" 2>/dev/null
				wait "$pp" 2>/dev/null
				perf report -i "$TMP/perf-h7.data" --stdio --no-children --sort dso,sym -g none \
					2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 60 >"$RAW/prof-h7.txt"
			fi
			echo "=== H7 $s r$r" >>"$RAW/dnsperf.log"
			echo "$out" >>"$RAW/dnsperf.log"
			if [ "$s" = ztdns ]; then
				say "H7 ztdns cache: $(ctl --json status 2>/dev/null | python3 -c 'import json,sys; c=json.load(sys.stdin)["cache"]; print("hits", c["hits"], "misses", c["misses"], "renew_refused", c["renew_refused"])' 2>&1)"
				cfg_down C
			fi
			qps=$(sed -nE 's/^ *Queries per second: *([0-9.]+).*/\1/p' <<<"$out")
			avg=$(sed -nE 's/^ *Average Latency \(s\): *([0-9.]+).*/\1/p' <<<"$out")
			lost=$(sed -nE 's/^ *Queries lost: *([0-9]+).*/\1/p' <<<"$out")
			if [ -z "$qps" ]; then
				not_ok "H7: dnsperf against $s (round $r)" "$(tail -n 5 <<<"$out")"
				continue
			fi
			avg=$(awk -v x="$avg" 'BEGIN { printf "%.3f", x * 1000 }')
			printf '%s %s %s %s %s\n' "$s" "$qps" "$avg" "$lost" "$r" >>"$tsv"
			ok "H7 $s r$r, cache hits at 100 outstanding: $qps qps, avg $avg ms, lost $lost"
		done
	done
}
