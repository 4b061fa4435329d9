#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Operations: readiness and watchdog over sd_notify, the Prometheus endpoint
# (counters move with real traffic), and warm restart from the journal (a
# flow to an address learned before a restart is allowed after it without a
# new lookup; judged at the far end).
#   client ns (ztdnsd)  <-veth->  net ns (unbound over DoT, web server)

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=$(cd "${1:?usage: t_ops.sh BUILD_DIR}" && pwd)
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
C=ztoc$$
N=zton$$
W=$ZT_TMP
SOCK=$W/ctl.sock

ns_new "$C"
ns_new "$N"
ns_veth "$C" vc "$N" vn
ip -n "$C" addr add 192.0.2.1/24 dev vc
ip -n "$N" addr add 192.0.2.53/24 dev vn
ip -n "$N" addr add 198.51.100.10/32 dev vn
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.53

pki_init "$W"
pki_server "$W" pdns ca pdns.test 192.0.2.53
printf 'web.test. 300 A 198.51.100.10\n' >"$W/names"
pdns_unbound_conf "$W" 192.0.2.53 "$W/pdns.pem" "$W/pdns.key" "$W/names" >"$W/unbound.conf"
pdns_unbound_start "$N" "$W"
ZT_PIDS+=("$PDNS_PID")
pdns_wait_port "$N" 192.0.2.53 853 || { not_ok "unbound did not start"; exit 1; }
bg_start web "$N" "${ZT_NET[@]}" serve --tcp 8080 --udp 8081 --log "$W/web.log"
wait_for 5 bash -c "ip netns exec $N ss -Hltn 'sport = :8080' | grep -q 8080"
ctr_setup "$N"
ctr_add "$N" 4 syn -d 198.51.100.10 -p tcp --dport 8080 --syn

cat >"$W/ztdns.json" <<JSON
{"mode": "host",
 "servers": [{"name": "pdns", "protocol": "dot", "address": "192.0.2.53",
              "tls_name": "pdns.test", "ca_file": "$W/ca.pem"}],
 "control": {"socket": "$SOCK"},
 "state": {"journal": "$W/journal.json", "journal_interval_s": 1},
 "metrics": {"listen": "127.0.0.1:9153"}}
JSON

# A notify socket like systemd's; every datagram goes to a file.
cat >"$W/notify.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
end = time.time() + float(sys.argv[3])
with open(sys.argv[2], "a", buffering=1) as out:
    while time.time() < end:
        try:
            out.write(s.recv(4096).decode().replace("\n", " ") + "\n")
        except socket.timeout:
            pass
PY
"$ZT_PY" "$W/notify.py" "$W/notify.sock" "$W/notify.log" 60 &
ZT_PIDS+=($!)
wait_for 3 test -S "$W/notify.sock"

# Not inside check (a subshell): DPID must reach this shell.
start_daemon() {
	# ip netns exec and env exec in place: $! is the daemon itself.
	NOTIFY_SOCKET="$W/notify.sock" WATCHDOG_USEC=1000000 \
		ip netns exec "$C" "$ZTD" -f -c "$W/ztdns.json" >>"$W/daemon.log" 2>&1 &
	DPID=$!
	ZT_PIDS+=("$DPID")
}
ready() { ns_exec "$C" "$ZTC" -s "$SOCK" wait-ready --timeout 10; }

connect() { ns_exec "$C" "${ZT_NET[@]}" tcp 198.51.100.10 8080 --timeout 2 >/dev/null 2>&1; }
syn() { ctr_get "$N" 4 syn; }
scrape() { ns_exec "$C" curl -s --max-time 3 http://127.0.0.1:9153/metrics; }
metric() { scrape | awk -v m="$1" '$1 == m { print $2; exit }'; }
# grep reads to the end (with -q it would stop early and curl fail on the pipe).
scraped() { scrape | grep -- "$1" >/dev/null; }

start_daemon
check "daemon ready" ready

# ---- sd_notify
wait_for 3 grep -q "WATCHDOG=1" "$W/notify.log"
check "READY=1 sent once ready" grep -q "^READY=1" "$W/notify.log"
check "WATCHDOG=1 pings at half of WATCHDOG_USEC" grep -q "^WATCHDOG=1" "$W/notify.log"

# ---- metrics: counters move with traffic
before_deny=$(metric 'ztdns_verdicts_total{reason="never-resolved",verdict="deny"}')
before_q=$(metric 'ztdns_dns_queries_total{transport="udp"}')
s0=$(syn)
check_fail "before a lookup, 198.51.100.10 is blocked" connect
check_eq "far end saw no SYN" "$s0" "$(syn)"
out=$(ns_exec "$C" dig +short +time=3 +tries=1 @127.0.0.1 web.test A)
check_eq "web.test resolves through the stub" "198.51.100.10" "$out"
check "after the lookup it is reachable" connect
check "far end saw the SYN" test "$(syn)" -gt "$s0"
after_deny=$(metric 'ztdns_verdicts_total{reason="never-resolved",verdict="deny"}')
check "metrics: never-resolved denials moved ($before_deny -> $after_deny)" \
	test "${after_deny:-0}" -gt "${before_deny:-0}"
check_eq "metrics: one more UDP query" "$((before_q + 1))" "$(metric 'ztdns_dns_queries_total{transport="udp"}')"
check "metrics: learned counter moved" test "$(metric ztdns_dns_learned_total)" -ge 1
check "metrics: upstream answers counted" \
	scraped 'ztdns_upstream_answers_total{server="pdns",protocol="dot",identity="default"} 1'
check "metrics: latency histogram has +Inf bucket" scraped 'le="+Inf"} 1'
check "metrics: allowset gauge" test "$(metric ztdns_allowset_entries)" -ge 1
code=$(ns_exec "$C" curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://127.0.0.1:9153/other)
check_eq "metrics: other paths are 404" 404 "$code"
code=$(ns_exec "$C" curl -s -o /dev/null -w '%{http_code}' --max-time 3 -X POST http://127.0.0.1:9153/metrics)
check_eq "metrics: POST /metrics is 405" 405 "$code"
head=$(ns_exec "$C" curl -s -I --max-time 3 http://127.0.0.1:9153/metrics | tr -d '\r')
check "metrics: HEAD /metrics is 200" grep -q '^HTTP/1.1 200' <<<"$head"
check "metrics: HEAD has the exposition's Content-Type" \
	grep -qi '^Content-Type: text/plain; version=0.0.4' <<<"$head"
check "metrics: HEAD announces a body length" grep -qi '^Content-Length: [1-9]' <<<"$head"
check_eq "metrics: ztdns_ready is 1" 1 "$(metric ztdns_ready)"
check "metrics: build info carries the version" scraped 'ztdns_build_info{version="'
check "metrics: latency in seconds" scraped 'ztdns_upstream_latency_seconds_count{server="pdns"'
scrape >"$W/metrics.txt"
check "metrics: promtool check metrics passes with no warning" \
	bash -c "promtool check metrics <'$W/metrics.txt' >'$W/promtool.out' 2>&1 && ! grep -q . '$W/promtool.out'"
check_eq "metrics: status JSON carries the same families (registry)" \
	"$(grep -c '^# TYPE ' "$W/metrics.txt")" \
	"$(ns_exec "$C" "$ZTC" -s "$SOCK" status --json | jq '.metrics | length')"
# 60 clients that connect and send nothing (the old responder had 8 slots):
# a scrape is still answered while they hold their connections.
cat >"$W/idle.py" <<'PY'
import socket, sys, time
socks = []
for _ in range(60):
    socks.append(socket.create_connection(("127.0.0.1", 9153), timeout=5))
open(sys.argv[1], "w").write("up\n")
time.sleep(float(sys.argv[2]))
PY
rm -f "$W/idle.up"
ns_exec "$C" timeout 15 "$ZT_PY" "$W/idle.py" "$W/idle.up" 4 &
IDLE=$!
wait_for 8 test -s "$W/idle.up"
check "metrics: 60 idle clients connected" test -s "$W/idle.up"
check "metrics: served while 60 idle clients are connected" scraped 'ztdns_ready 1'
check "metrics: the idle connections were accepted, not refused" \
	test "$(metric 'ztdns_metrics_connections_total{outcome="accepted"}')" -ge 60
check_eq "metrics: none refused" 0 "$(metric 'ztdns_metrics_connections_total{outcome="refused_full"}')"
wait "$IDLE" 2>/dev/null
# Past the bound (METRICS_MAX_CLIENTS 128), connections are refused and counted.
cat >"$W/many.py" <<'PY'
import socket, sys, time
socks = []
for _ in range(140):
    try:
        socks.append(socket.create_connection(("127.0.0.1", 9153), timeout=2))
    except OSError:
        pass
time.sleep(1)
PY
ns_exec "$C" timeout 10 "$ZT_PY" "$W/many.py"
check "metrics: connections past the bound are refused and counted" \
	test "$(metric 'ztdns_metrics_connections_total{outcome="refused_full"}')" -ge 1

# ---- warm restart
wait_for 3 test -s "$W/journal.json"
check "journal written" test -s "$W/journal.json"
check_eq "journal is mode 600" 600 "$(stat -c %a "$W/journal.json")"
bg_stop "$DPID" TERM 10
check "STOPPING=1 sent" grep -q "^STOPPING=1" "$W/notify.log"
# Nothing established survives here: a new flow after the restart.
ns_exec "$C" conntrack -F >/dev/null 2>&1
start_daemon
check "daemon restarted" ready
s1=$(syn)
check "a learned address works after a restart without a new lookup" connect
check "far end saw that SYN" test "$(syn)" -gt "$s1"
q=$(ns_exec "$C" "$ZTC" -s "$SOCK" status --json | json_get dns.udp_queries)
check_eq "no lookup happened after the restart" 0 "$q"
check_eq "journal: one allowance restored" 1 \
	"$(ns_exec "$C" "$ZTC" -s "$SOCK" status --json | json_get journal.loaded)"
check "explain says learned, with the name" \
	bash -c "ip netns exec $C $ZTC -s $SOCK explain 198.51.100.10 --port 8080 | grep -q 'learned.*web.test'"
st=$(ns_exec "$C" "$ZTC" -s "$SOCK" status)
check "status text shows the stub" grep -q '^stub: .* UDP + .* TCP queries' <<<"$st"
check "status text shows each server with its health" grep -q '^server pdns (dot): \(healthy\|in back-off\), ' <<<"$st"
hits() { ns_exec "$C" "$ZTC" -s "$SOCK" list --json | jq '[.entries[] | select(.addr == "198.51.100.10") | .hits] | first'; }
h0=$(hits)
check "the entry's hit counter counted the flow ($h0)" test "${h0:-0}" -ge 1 2>/dev/null
ns_exec "$C" "$ZTC" -s "$SOCK" explain 198.51.100.10 --port 8080 >/dev/null
check_eq "explain is read-only: the entry's hit counter did not move" "$h0" "$(hits)"
bg_stop "$DPID" TERM 10

# A journal anyone could have written is refused.
chmod 644 "$W/journal.json"
start_daemon
check "daemon restarted with an unsafe journal" ready
check_eq "unsafe journal ignored" 0 \
	"$(ns_exec "$C" "$ZTC" -s "$SOCK" status --json | json_get journal.loaded)"
s2=$(syn)
check_fail "so the address is blocked again" connect
check_eq "far end saw no SYN" "$s2" "$(syn)"
check "the refusal is logged" grep -q "not a regular file of ours" "$W/daemon.log"
bg_stop "$DPID" TERM 10

# ---- verdict lines to journald, with their MESSAGE_ID and ZTDNS_* fields
# A real systemd-journald in a private mount namespace: tmpfs over its
# socket directory and its storage, so the host's journal is never touched;
# journalctl reads the private journal with field matches.
cat >"$W/journal.json" <<JSON
{"mode": "host",
 "servers": [{"name": "pdns", "protocol": "dot", "address": "192.0.2.53",
              "tls_name": "pdns.test", "ca_file": "$W/ca.pem"}],
 "control": {"socket": "$SOCK"}, "log": {"verdicts": true, "format": "json"}}
JSON
unshare -m bash -c '
	for d in /run/systemd/journal /run/log/journal /var/log/journal; do
		mkdir -p "$d" && mount -t tmpfs ztjournal "$d" || exit 1
	done
	/lib/systemd/systemd-journald >"$2/journald.out" 2>&1 &
	j=$!
	for i in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
	# Not a terminal and not -f: the daemon logs to journald.
	ip netns exec "$3" "$4" -c "$2/journal.json" </dev/null >/dev/null 2>&1 &
	d=$!
	if ip netns exec "$3" "$5" -s "$6" wait-ready --timeout 10 >/dev/null; then
		for p in 8080 8081 8082; do
			ip netns exec "$3" "$1" '"${ZT_NET[1]}"' tcp 198.51.100.99 $p --timeout 1 >/dev/null 2>&1
		done
		echo "$(ls -l /proc/$d/fd 2>/dev/null | grep -c socket:)" >"$2/daemon.sockets.1"
		ip netns exec "$3" "$1" '"${ZT_NET[1]}"' tcp 198.51.100.99 8083 --timeout 1 >/dev/null 2>&1
		echo "$(ls -l /proc/$d/fd 2>/dev/null | grep -c socket:)" >"$2/daemon.sockets.2"
	fi
	sleep 1
	kill "$d"; wait "$d"
	sleep 0.5
	J="journalctl -D /run/log/journal --no-pager"
	$J -o json SYSLOG_IDENTIFIER=ztdnsd MESSAGE_ID=5a7d0e8c4b2f4c1e9d3a6b7c8e9f0a1b >"$2/j.verdicts"
	$J -o cat ZTDNS_REASON=never-resolved ZTDNS_DST=198.51.100.99 ZTDNS_DPORT=8081 >"$2/j.match"
	$J -o cat ZTDNS_REASON=learned ZTDNS_DST=198.51.100.99 >"$2/j.nomatch"
	$J -o json SYSLOG_IDENTIFIER=ztdnsd PRIORITY=6 >"$2/j.info"
	kill "$j"; wait "$j"' _ "$ZT_PY" "$W" "$C" "$ZTD" "$ZTC" "$SOCK" >/dev/null 2>&1
jfield() { jq -r "select(.ZTDNS_DPORT == \"8080\") | .$1" "$W/j.verdicts" | head -1; }
check "journalctl ZTDNS_REASON=never-resolved ZTDNS_DST=... ZTDNS_DPORT=8081 finds the line" \
	grep -q '"dport":8081' "$W/j.match"
check_eq "and only lines of that flow (SYN retransmits included)" 0 "$(grep -vc '"dport":8081' "$W/j.match")"
check_eq "no line for a match that did not happen" 0 "$(grep -c . "$W/j.nomatch")"
check_eq "ZTDNS_VERDICT" drop "$(jfield ZTDNS_VERDICT)"
check_eq "ZTDNS_REASON" never-resolved "$(jfield ZTDNS_REASON)"
check_eq "ZTDNS_PROTO" tcp "$(jfield ZTDNS_PROTO)"
check_eq "ZTDNS_SRC" 192.0.2.1 "$(jfield ZTDNS_SRC)"
check_eq "ZTDNS_DST" 198.51.100.99 "$(jfield ZTDNS_DST)"
check_eq "ZTDNS_UID (root sent it)" 0 "$(jfield ZTDNS_UID)"
# The sender: the ztnet client, a python process (its comm is the name it
# was started by).
PYCOMM=$(basename "$ZT_PY" | cut -c1-15)
check_eq "ZTDNS_COMM (the sending process)" "$PYCOMM" "$(jfield ZTDNS_COMM)"
check "ZTDNS_PID is a pid" grep -Eq '^[1-9][0-9]*$' <<<"$(jfield ZTDNS_PID)"
check "ZTDNS_CGROUP is a cgroup path" grep -q '^/' <<<"$(jfield ZTDNS_CGROUP)"
check "journalctl ZTDNS_COMM=... finds the sender's lines" \
	test "$(jq -r "select(.ZTDNS_COMM == \"$PYCOMM\") | .ZTDNS_DPORT" "$W/j.verdicts" | sort -u | paste -sd, -)" = "8080,8081,8082,8083"
check_eq "PRIORITY of a verdict line" 6 "$(jfield PRIORITY)"
check_eq "sent over journald's native protocol" journal "$(jfield _TRANSPORT)"
check "MESSAGE is the JSON verdict line" bash -c "jfield() { :; }; jq -r 'select(.ZTDNS_DPORT == \"8080\") | .MESSAGE' '$W/j.verdicts' | grep -q '\"dst\":\"198.51.100.99\"'"
check "the daemon's other logs reach journald too (no MESSAGE_ID)" \
	test "$(jq -r 'select(.MESSAGE_ID == null) | .MESSAGE' "$W/j.info" | grep -c .)" -ge 1
check "one journal socket: another verdict line opens no new socket" \
	test -s "$W/daemon.sockets.1" -a "$(cat "$W/daemon.sockets.1" 2>/dev/null)" = "$(cat "$W/daemon.sockets.2" 2>/dev/null)"
