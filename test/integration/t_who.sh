#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Who sent it: the verdict log, watch and the metrics name the local process
# behind a flow (pid, command name, cgroup), found on the loop by sock_diag
# and /proc. Two programs (copies of curl, socat and dig under their own names, one
# in a cgroup v2 scope of its own when the machine lets us make one) make
# denied flows, TCP and UDP, and an allowed one (judged at the far end).
# Then as privileges.user nobody: another user's process is shown by its uid
# only ("owner":"not-permitted"), one of the daemon's own user by its name.
# In audit mode, audit-report counts the would-denies by sender.
#   client ns (ztdnsd, senders)  <-veth->  net ns (unbound over DoT, echo server)

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=$(cd "${1:?usage: t_who.sh BUILD_DIR}" && pwd)
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
C=ztwc$$
N=ztwn$$
W=$ZT_TMP
chmod 755 "$W"
mkdir -p "$W/run"
chown 65534:65534 "$W/run"
SOCK=$W/run/ctl.sock
VLOG=$W/run/verdicts.log

ns_new "$C"
ns_new "$N"
ns_veth "$C" vc "$N" vn
ip -n "$C" addr add 192.0.2.1/24 dev vc
ip -n "$N" addr add 192.0.2.53/24 dev vn
ip -n "$N" addr add 198.51.100.10/32 dev vn
ip -n "$N" addr add 198.51.100.99/32 dev vn
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
ctr_add "$N" 4 syn10 -d 198.51.100.10 -p tcp --dport 8080 --syn
ctr_add "$N" 4 syn99 -d 198.51.100.99 -p tcp --dport 8080 --syn
ctr_add "$N" 4 udp99 -d 198.51.100.99 -p udp --dport 8081

# The senders: their command names are their file names (curl, socat, dig).
cp "$(command -v curl)" "$W/zt-who-a"
cp "$(command -v socat)" "$W/zt-who-b"
cp "$(command -v dig)" "$W/zt-who-u"
chmod 755 "$W"/zt-who-*

# A cgroup v2 scope for zt-who-a, if the unified hierarchy is writable.
CG=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
SCOPE=""
if [ -n "$CG" ] && mkdir "$CG/ztwho$$.scope" 2>/dev/null; then
	SCOPE=ztwho$$.scope
	zt_on_cleanup rmdir "$CG/$SCOPE"
else
	diag "no writable cgroup v2 hierarchy: zt-who-a stays in the test's cgroup"
fi

write_conf() { # $1: privileges block or ""
	cat >"$W/ztdns.json" <<JSON
{"mode": "host",
 "servers": [{"name": "pdns", "protocol": "dot", "address": "192.0.2.53",
              "tls_name": "pdns.test", "ca_file": "$W/ca.pem"}],
 "control": {"socket": "$SOCK", "uid": 65534},
 "log": {"verdicts": true, "verdict_file": "$VLOG", "format": "json"},
 "metrics": {"listen": "127.0.0.1:9153"}$1}
JSON
}
start() {
	rm -f "$VLOG"
	install -o 65534 -g 65534 -m 644 /dev/null "$VLOG"
	ip netns exec "$C" "$ZTD" -f -c "$W/ztdns.json" >>"$W/daemon.log" 2>&1 &
	DPID=$!
	ZT_PIDS+=("$DPID")
}
ready() { ns_exec "$C" "$ZTC" -s "$SOCK" wait-ready --timeout 10; }
metric() {
	ns_exec "$C" curl -s --max-time 3 http://127.0.0.1:9153/metrics |
		awk -v m="$1" '$1 == m { print $2; exit }'
}
# The verdict log's lines for a flow: lines DPORT DST [PROTO].
lines() { jq -c --arg d "$2" --argjson p "$1" --arg pr "${3:-tcp}" \
	'select(.dst == $d and .dport == $p and .proto == $pr)' "$VLOG" 2>/dev/null; }
field() { lines "$1" "$2" "${4:-tcp}" | jq -r ".$3" | sort -u | paste -sd, -; }

# ---- as root: every local process is found
write_conf ""
start
check "daemon ready" ready
ns_exec "$C" timeout 20 "$ZTC" -s "$SOCK" --json watch --timeout 15 >"$W/watch.out" 2>&1 &
WATCHJ=$!
ZT_PIDS+=("$WATCHJ")
ns_exec "$C" timeout 20 "$ZTC" -s "$SOCK" watch --timeout 15 >"$W/watch.txt" 2>&1 &
WATCH=$!
ZT_PIDS+=("$WATCH")
sleep 0.5

s99=$(ctr_get "$N" 4 syn99)
# zt-who-a: a denied TCP flow (connect() retries its SYN for 2 s), started
# from a shell that first moves itself into the scope.
bash -c '[ -z "$1" ] || echo $$ >"$2/$1/cgroup.procs" || exit 99
	exec ip netns exec "$3" "$4" -s -o /dev/null --connect-timeout 2 http://198.51.100.99:8080/' \
	_ "$SCOPE" "$CG" "$C" "$W/zt-who-a" &
APID=$!
# zt-who-u: a denied UDP flow (dig waits 2 s for its answer).
ip netns exec "$C" "$W/zt-who-u" @198.51.100.99 -p 8081 +time=2 +tries=1 x.test >/dev/null 2>&1 &
UPID=$!
wait "$APID"
arc=$?
wait "$UPID"
check "zt-who-a ran (not refused a cgroup move)" test "$arc" -ne 99
check_eq "the denied SYNs never reached the far end" "$s99" "$(ctr_get "$N" 4 syn99)"
check_eq "nor the denied datagram" 0 "$(ctr_get "$N" 4 udp99)"

out=$(ns_exec "$C" dig +short +time=3 +tries=1 @127.0.0.1 web.test A)
check_eq "web.test resolves through the stub" "198.51.100.10" "$out"
s10=$(ctr_get "$N" 4 syn10)
# zt-who-b (socat): allowed; it holds the connection until its input ends.
sleep 2 | ip netns exec "$C" "$W/zt-who-b" -u - TCP:198.51.100.10:8080 &
BPID=$!
wait "$BPID"
check "the allowed SYN reached the far end" test "$(ctr_get "$N" 4 syn10)" -gt "$s10"
sleep 0.5 # the loop writes the log once per iteration

diag "$(lines 8080 198.51.100.99 | head -2)"
check_eq "verdict log: the denied TCP flow's comm" zt-who-a "$(field 8080 198.51.100.99 comm)"
check_eq "verdict log: its pid (the process started)" "$APID" "$(field 8080 198.51.100.99 pid)"
check_eq "verdict log: it was denied never-resolved" never-resolved "$(field 8080 198.51.100.99 reason)"
if [ -n "$SCOPE" ]; then
	check_eq "verdict log: its cgroup is its own scope" "/$SCOPE" \
		"$(field 8080 198.51.100.99 cgroup | sed 's|.*/|/|')"
	check_eq "verdict log: its unit is the scope" "$SCOPE" "$(field 8080 198.51.100.99 unit)"
fi
check_eq "verdict log: the denied UDP flow's comm" zt-who-u "$(field 8081 198.51.100.99 comm udp)"
check_eq "verdict log: its pid" "$UPID" "$(field 8081 198.51.100.99 pid udp)"
check_eq "verdict log: the allowed flow's comm" zt-who-b "$(field 8080 198.51.100.10 comm)"
check_eq "verdict log: its pid" "$BPID" "$(field 8080 198.51.100.10 pid)"
check_eq "verdict log: accepted as learned" learned "$(field 8080 198.51.100.10 reason)"
check_eq "verdict log: the uid stays" 0 "$(field 8080 198.51.100.10 uid)"
check "watch shows the denied flow's sender" \
	grep -q "\"dst\":\"198.51.100.99\".*\"pid\":$APID,\"comm\":\"zt-who-a\"" "$W/watch.out"
check "watch shows the allowed flow's sender" \
	grep -q "\"dst\":\"198.51.100.10\".*\"pid\":$BPID,\"comm\":\"zt-who-b\"" "$W/watch.out"
check "metrics: senders found by a /proc scan" \
	test "$(metric 'ztdns_sender_lookups_total{outcome="found"}')" -ge 3
check "metrics: SYN retransmits found in the cache" \
	test "$(metric 'ztdns_sender_lookups_total{outcome="cached"}')" -ge 1
check_eq "metrics: nothing refused for want of permission" 0 \
	"$(metric 'ztdns_sender_lookups_total{outcome="not_permitted"}')"
check "watch (text) shows the denied flow's sender" \
	grep -q "198.51.100.99:8080 .*pid=$APID comm=zt-who-a" "$W/watch.txt"
kill "$WATCH" "$WATCHJ" 2>/dev/null
wait "$WATCH" "$WATCHJ" 2>/dev/null
bg_stop "$DPID" TERM 10

# ---- as nobody (no CAP_SYS_PTRACE): root's processes by uid only
write_conf ', "privileges": {"user": "nobody"}'
start
check "daemon ready as nobody" ready
ip netns exec "$C" "$W/zt-who-a" -s -o /dev/null --connect-timeout 2 http://198.51.100.99:8080/
ip netns exec "$C" setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$W/zt-who-u" @198.51.100.99 -p 8081 +time=2 +tries=1 x.test >/dev/null 2>&1 &
NPID=$!
wait "$NPID"
sleep 0.5
diag "$(lines 8080 198.51.100.99 | head -1)"
check_eq "nobody: root's sender is shown by uid" 0 "$(field 8080 198.51.100.99 uid)"
check_eq "nobody: and marked not permitted, no pid" "not-permitted,null" \
	"$(lines 8080 198.51.100.99 | jq -r '.owner, .pid' | sort -u | paste -sd, -)"
check_eq "nobody: a sender of the daemon's own user is named" zt-who-u \
	"$(field 8081 198.51.100.99 comm udp)"
check_eq "nobody: its pid" "$NPID" "$(field 8081 198.51.100.99 pid udp)"
check "metrics: not-permitted lookups counted" \
	test "$(metric 'ztdns_sender_lookups_total{outcome="not_permitted"}')" -ge 1
bg_stop "$DPID" TERM 10
check_eq "clean stop" 0 "$?"

# ---- audit mode: audit-report counts the would-denies by sender
write_conf ', "enforce": false'
start
check "daemon ready in audit mode" ready
s99=$(ctr_get "$N" 4 syn99)
sleep 1 | ip netns exec "$C" "$W/zt-who-b" -u - TCP:198.51.100.99:8080 &
BPID=$!
wait "$BPID"
check "audit mode: the flow reached the far end" test "$(ctr_get "$N" 4 syn99)" -gt "$s99"
rep=$(ns_exec "$C" "$ZTC" -s "$SOCK" audit-report --json)
check_eq "audit-report: the entry names its sender" zt-who-b \
	"$(jq -r '.entries[] | select(.dst == "198.51.100.99" and .port == 8080) | .comm' <<<"$rep")"
check_eq "audit-report: senders groups it (comm, uid, count)" "zt-who-b 0 1" \
	"$(jq -r '.senders[] | select(.comm == "zt-who-b") | "\(.comm) \(.uid) \(.count)"' <<<"$rep")"
txt=$(ns_exec "$C" "$ZTC" -s "$SOCK" audit-report)
check "audit-report text: the sender table" grep -Eq '^zt-who-b +- +0 +1$' <<<"$txt"
bg_stop "$DPID" TERM 10

zt_summary
