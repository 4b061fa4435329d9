#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_threads.sh BUILD_DIR — the enforcement plane's threads (host mode).
#
#   ztc$$ (client, runs ztdnsd, queue.count 2)      zts$$ (server, real responder)
#     c0 192.0.2.1/24  <---------- veth ---------->   s0 192.0.2.2/24
#     198.51.100.0/24, 203.0.113.0/24 via 192.0.2.2      198.51.100.10..25/24 (exception)
#                                                       203.0.113.2/24 (excepted by reload)
#
# --queue-balance spreads flows over the two queues by address, so sixteen
# destinations reach both; every verdict is judged at the server (SYN
# counters in its INPUT chain, lib.sh ctr_*). Sections: (a) two verdict
# threads, each bound to its queue, both giving verdicts that the server
# sees (accepts) and does not see (denies); (b) reloads swap the policy while
# connections flow: none of the flows the policy always allows is lost, and
# the address a reload excepts becomes reachable; (c) the record ring's drop
# counter is in status and metrics, and log lines + dropped records account
# for every verdict; (d) SIGTERM stops the threads and removes the rules.
#
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID.

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_threads.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi

C=ztc$$
S=zts$$
TCP_PORT=7001
QNUM=11
CONF=$ZT_TMP/ztdnsd.json
SOCK=$ZT_TMP/ctl.sock
VLOG=$ZT_TMP/verdicts.log
SRVLOG=$ZT_TMP/server.log
METRICS_PORT=9479
EXC=()
for i in $(seq 10 25); do EXC+=("198.51.100.$i"); done
NEW4=203.0.113.2
DENY4=203.0.113.3

write_conf() { # write_conf EXCEPTION...
	local ex="" e
	for e in "$@"; do ex="$ex${ex:+,}\"$e\""; done
	cat >"$CONF.tmp" <<EOC
{"mode":"host",
 "servers":[{"protocol":"doh","url":"https://dns.test/dns-query","bootstrap":["203.0.113.53"]}],
 "exceptions":[$ex],
 "queue":{"num":$QNUM,"count":2},
 "control":{"socket":"$SOCK"},
 "metrics":{"listen":"127.0.0.1:$METRICS_PORT"},
 "log":{"level":"info","verdicts":true,"verdict_file":"$VLOG","format":"json"}}
EOC
	mv "$CONF.tmp" "$CONF"
}

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
syn_count() { ctr_get "$S" 4 "tcp-$1"; }
connect() { timeout 3 ip netns exec "$C" "${ZT_NET[@]}" tcp "$1" "$TCP_PORT" --timeout 1.5 --tag "t$$" >/dev/null 2>&1; }
status_field() { ctl status --json | json_get "$1"; }
reloads_are() { [ "$(status_field config.reloads)" = "$1" ]; }

# ------------------------------------------------------------------ topology

ns_new "$C" && ns_new "$S" || { not_ok "create namespaces $C and $S"; exit 1; }
ns_veth "$C" c0 "$S" s0 || { not_ok "create veth pair"; exit 1; }
ns_addr "$C" c0 192.0.2.1/24
ip -n "$C" link set lo up
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.2
ip -n "$C" route add 203.0.113.0/24 via 192.0.2.2
ns_addr "$S" s0 192.0.2.2/24
for a in "${EXC[@]}"; do ns_addr "$S" s0 "$a/24"; done
ns_addr "$S" s0 $NEW4/24
ns_addr "$S" s0 $DENY4/24
ctr_setup "$S" || { not_ok "server counting chains"; exit 1; }
for a in "${EXC[@]}" $NEW4 $DENY4; do
	ctr_add "$S" 4 "tcp-$a" -d "$a" -p tcp --dport "$TCP_PORT" --syn
done
bg_start server "$S" "${ZT_NET[@]}" serve --tcp "$TCP_PORT" --udp 7002 --log "$SRVLOG" --max-seconds 600
wait_for 5 grep -q '^[0-9.]* ready' "$SRVLOG" || { not_ok "server responder started" "$(cat "$ZT_TMP/server.log")"; exit 1; }

# Baseline: every destination reachable without the daemon.
base_ok=0
for a in "${EXC[@]}" $NEW4 $DENY4; do connect "$a" && base_ok=$((base_ok + 1)); done
check_eq "baseline: all 18 destinations reachable without ztdnsd" 18 "$base_ok"

write_conf 198.51.100.0/24
bg_start ztdnsd "$C" "$ZTD" -c "$CONF" --foreground -v
ZTD_PID=$BG_PID
for ((i = 0; i < 15; i++)); do
	ctl wait-ready --timeout 1 >/dev/null 2>&1 && break
	pid_alive "$ZTD_PID" || break
	sleep 1
done
if ! ctl wait-ready --timeout 2 >/dev/null 2>&1; then
	not_ok "ztdnsd with queue.count 2 started" "$(tail -n 20 "$ZT_TMP/ztdnsd.log")"
	exit 1
fi
ok "ztdnsd with queue.count 2 started"

# ------------------------------------------------------------------ (a)

echo "# (a) two verdict threads, both judging"
comms=$(cat /proc/"$ZTD_PID"/task/*/comm 2>/dev/null | sort | tr '\n' ' ')
if grep -q "ztverdict$QNUM " <<<"$comms " && grep -q "ztverdict$((QNUM + 1)) " <<<"$comms "; then
	ok "(a) one thread per queue: ztverdict$QNUM and ztverdict$((QNUM + 1))"
else
	not_ok "(a) one thread per queue" "threads: $comms"
fi
nfq=$(ns_exec "$C" cat /proc/net/netfilter/nfnetlink_queue | awk -v a=$QNUM -v b=$((QNUM + 1)) '$1 == a || $1 == b {print $1, $2}')
ports=$(awk '{print $2}' <<<"$nfq" | sort -u | wc -l)
if [ "$(wc -l <<<"$nfq")" = 2 ] && [ "$ports" = 2 ]; then
	ok "(a) both queues bound, each by its own netlink socket (portids differ)"
else
	not_ok "(a) both queues bound by their own sockets" "$nfq"
fi
reach=0
for a in "${EXC[@]}"; do
	before=$(syn_count "$a")
	connect "$a" && [ "$(syn_count "$a")" -gt "$before" ] && reach=$((reach + 1))
done
check_eq "(a) all 16 excepted destinations reach the server (SYN counted there)" 16 "$reach"
before=$(syn_count $DENY4)
if ! connect $DENY4 && ! connect $NEW4; then
	sleep 0.3
	check_eq "(a) unproven destinations denied: server SYN counter unchanged" "$before" "$(syn_count $DENY4)"
else
	not_ok "(a) unproven destinations denied"
fi
st=$(ctl status --json)
qa=$(json_get queues <<<"$st" | $ZT_PY -c 'import json,sys; print(" ".join(str(q["accepted"]) for q in json.load(sys.stdin)))')
qd=$(json_get queues <<<"$st" | $ZT_PY -c 'import json,sys; print(" ".join(str(q["dropped"]) for q in json.load(sys.stdin)))')
read -r a1 a2 <<<"$qa"
if [ "${a1:-0}" -gt 0 ] && [ "${a2:-0}" -gt 0 ]; then
	ok "(a) both queues gave accept verdicts (per queue: $qa; drops: $qd)"
else
	not_ok "(a) both queues gave accept verdicts" "accepted per queue: $qa"
fi
total_acc=$(json_get verdicts.accepted <<<"$st")
check "(a) the summed counter equals the queues' sum" [ "$total_acc" = "$((a1 + a2))" ]

# ------------------------------------------------------------------ (b)

echo "# (b) reloads swap the policy while connections flow"
# A bounded stream of new connections to the always-excepted addresses: 4
# workers x 40 connections; every one must get through whatever the reloads
# do (the snapshot swap loses no verdict).
WORKERS=()
for w in 1 2 3 4; do
	(
		okc=0
		for ((k = 0; k < 40; k++)); do
			a=${EXC[$(((w * 7 + k) % 16))]}
			connect "$a" && okc=$((okc + 1))
		done
		echo "$okc" >"$ZT_TMP/worker-$w"
	) &
	WORKERS+=($!)
done
sleep 0.5
for r in 1 2 3 4 5; do
	if [ $((r % 2)) = 1 ]; then write_conf 198.51.100.0/24 $NEW4/32; else write_conf 198.51.100.0/24; fi
	ns_exec "$C" kill -HUP "$ZTD_PID"
	sleep 0.7
done
wait "${WORKERS[@]}"
got=0
for w in 1 2 3 4; do got=$((got + $(cat "$ZT_TMP/worker-$w" 2>/dev/null || echo 0))); done
check_eq "(b) 160 connections during 5 reloads all reached the server" 160 "$got"
wait_for 5 reloads_are 5
check_eq "(b) 5 reloads done" 5 "$(status_field config.reloads)"
# The last reload (5, odd) excepts NEW4: reachable now, DENY4 still not.
before=$(syn_count $NEW4)
if connect $NEW4 && [ "$(syn_count $NEW4)" -gt "$before" ]; then
	ok "(b) after the swap, $NEW4 (excepted by the reload) reaches the server"
else
	not_ok "(b) after the swap, $NEW4 reaches the server"
fi
write_conf 198.51.100.0/24
ns_exec "$C" kill -HUP "$ZTD_PID"
wait_for 5 reloads_are 6
before=$(syn_count $NEW4)
connect $NEW4
sleep 0.3
check_eq "(b) and denied again after the next swap (server SYN counter unchanged)" "$before" "$(syn_count $NEW4)"
check "(b) ztdnsd still running" pid_alive "$ZTD_PID"

# ------------------------------------------------------------------ (c)

echo "# (c) the record ring: every verdict is a log line or a counted drop"
st=$(ctl status --json)
dropped=$(json_get verdicts.records_dropped <<<"$st")
acc=$(json_get verdicts.accepted <<<"$st")
den=$(json_get verdicts.denied <<<"$st")
check "(c) status has verdicts.records_dropped ($dropped)" grep -qx '[0-9][0-9]*' <<<"$dropped"
m=$(timeout 5 ip netns exec "$C" curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
check "(c) metrics has ztdns_verdict_records_dropped_total" grep -q '^ztdns_verdict_records_dropped_total [0-9]' <<<"$m"
# The log is written once per loop iteration: wait until it accounts for
# every verdict counted at the status above.
lines_ok() { [ $(($(grep -c '"verdict":' "$VLOG") + dropped)) -ge $((acc + den)) ]; }
wait_for 5 lines_ok
lines=$(grep -c '"verdict":' "$VLOG")
check_eq "(c) log lines ($lines) + dropped records ($dropped) = verdicts ($((acc + den)))" \
	$((acc + den)) $((lines + dropped))

# ------------------------------------------------------------------ (d)

echo "# (d) SIGTERM: threads stop, rules removed"
ns_exec "$C" kill -TERM "$ZTD_PID"
wait_for 10 pid_gone "$ZTD_PID"
check "(d) ztdnsd exited" pid_gone "$ZTD_PID"
rc=0
wait "$ZTD_PID" 2>/dev/null || rc=$?
check_eq "(d) exit status 0" 0 "$rc"
nfq=$(ns_exec "$C" cat /proc/net/netfilter/nfnetlink_queue | awk -v a=$QNUM -v b=$((QNUM + 1)) '$1 == a || $1 == b')
check "(d) both queues unbound" [ -z "$nfq" ]
check "(d) ruleset removed: $DENY4 reachable again" connect $DENY4

zt_summary
