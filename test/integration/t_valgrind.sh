#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ztdnsd under valgrind (issue 5: "a daemon run under valgrind shows no
# definite leaks"): the real daemon in a client namespace, a real unbound over
# DoT and DoH (two servers), real work on every path an operator touches
# (lookups over UDP and TCP, A/AAAA/CNAME/NXDOMAIN, connects judged at the far
# end, every ztdnsctl command, metrics, a SIGHUP reload that swaps the
# servers' priorities so both transports answer, an invalid config reload),
# then SIGTERM. Required: exit status 0 (99 is valgrind's "errors found"),
# no definitely lost bytes, no invalid read or write.
#   client ns (ztdnsd under valgrind)  <-veth->  net ns (unbound DoT+DoH, web)
#
# seccomp is off: valgrind's own system calls are not in the allowlist.
# valgrind is slow (and CI runs other tests beside): every wait is generous,
# and bounded. ZT_KEEP_TMP=1 keeps $ZT_TMP (valgrind.log, daemon.log).

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=$(cd "${1:?usage: t_valgrind.sh BUILD_DIR}" && pwd)
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
C=ztvc$$
N=ztvn$$
W=$ZT_TMP
SOCK=$W/ctl.sock
VGLOG=$W/valgrind.log

if ! command -v valgrind >/dev/null; then
	diag "valgrind not installed: skipped"
	exit 0
fi
if grep -q __asan_init "$ZTD"; then
	diag "$ZTD is built with ASan: valgrind cannot run it, skipped"
	exit 0
fi

ns_new "$C"
ns_new "$N"
ns_veth "$C" vc "$N" vn
ns_addr "$C" vc 192.0.2.1/24
ns_addr "$N" vn 192.0.2.53/24
ns_addr "$N" vn 198.51.100.10/32
ns_addr "$N" vn 198.51.100.99/32
ns_addr "$C" vc 2001:db8:1::1/64
ns_addr "$N" vn 2001:db8:1::53/64
ns_addr "$N" vn 2001:db8:2::10/128
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.53
ip -n "$C" -6 route add 2001:db8:2::/64 via 2001:db8:1::53

pki_init "$W"
pki_server "$W" pdns ca pdns.test 192.0.2.53
cat >"$W/names" <<'NAMES'
web.test. 300 A 198.51.100.10
web.test. 300 AAAA 2001:db8:2::10
multi.test. 300 A 198.51.100.21
multi.test. 300 A 198.51.100.22
multi.test. 300 A 198.51.100.23
v6only.test. 300 AAAA 2001:db8:2::10
alias.test. 300 CNAME web.test.
NAMES
# (unbound answers a local CNAME without chasing it: the answer to
# alias.test is the CNAME alone, a chain that proves no address)
pdns_unbound_conf "$W" 192.0.2.53 "$W/pdns.pem" "$W/pdns.key" "$W/names" >"$W/unbound.conf"
pdns_unbound_start "$N" "$W" || { not_ok "unbound configuration refused" "$(cat "$W/unbound.log")"; exit 1; }
ZT_PIDS+=("$PDNS_PID")
pdns_wait_port "$N" 192.0.2.53 853 || { not_ok "unbound did not start (DoT)"; exit 1; }
pdns_wait_port "$N" 192.0.2.53 443 || { not_ok "unbound did not start (DoH)"; exit 1; }
bg_start web "$N" "${ZT_NET[@]}" serve --tcp 8080 --udp 8081 --log "$W/web.log"
wait_for 5 bash -c "ip netns exec $N ss -Hltn 'sport = :8080' | grep -q 8080"
ctr_setup "$N"
ctr_add "$N" 4 syn10 -d 198.51.100.10 -p tcp --dport 8080 --syn
ctr_add "$N" 4 syn99 -d 198.51.100.99 -p tcp --dport 8080 --syn
ctr_add "$N" 6 syn6 -d 2001:db8:2::10 -p tcp --dport 8080 --syn

# write_conf DOH_PRIORITY DOT_PRIORITY: the lower one is asked first.
write_conf() {
	cat >"$W/ztdns.json" <<JSON
{"mode": "host",
 "servers": [{"name": "pdns-doh", "protocol": "doh", "url": "https://pdns.test/dns-query",
              "bootstrap": ["192.0.2.53"], "ca_file": "$W/ca.pem", "priority": $1},
             {"name": "pdns-dot", "protocol": "dot", "address": "192.0.2.53",
              "tls_name": "pdns.test", "ca_file": "$W/ca.pem", "priority": $2}],
 "limits": {"upstream_timeout_ms": 20000},
 "control": {"socket": "$SOCK"},
 "log": {"verdicts": true, "verdict_file": "$W/verdicts.log"},
 "state": {"journal": "$W/journal.json", "journal_interval_s": 1},
 "metrics": {"listen": "127.0.0.1:9153"},
 "privileges": {"seccomp": "off"}}
JSON
}
write_conf 0 10
check "configuration is valid" "$ZTD" --check -c "$W/ztdns.json"

# Not inside check (a subshell): DPID must reach this shell. ip netns exec
# and valgrind exec in place: $! is the daemon (valgrind's tool) itself.
ip netns exec "$C" valgrind --leak-check=full --errors-for-leak-kinds=definite \
	--error-exitcode=99 --num-callers=40 --log-file="$VGLOG" \
	"$ZTD" -f -c "$W/ztdns.json" >"$W/daemon.log" 2>&1 &
DPID=$!
ZT_PIDS+=("$DPID")

ctl() { timeout 60 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
status_get() { ctl status --json | json_get "$1"; }
connect() { ns_exec "$C" timeout 30 "${ZT_NET[@]}" tcp "$1" 8080 --timeout "${2:-10}" >/dev/null 2>&1; }
reloaded() { [ "$(grep -c "$1" "$W/daemon.log")" -ge "$2" ]; }

if ! ctl wait-ready --timeout 60 >/dev/null 2>&1; then
	not_ok "ztdnsd under valgrind ready within 60 s" "$(tail -n 20 "$W/daemon.log")" "$(tail -n 40 "$VGLOG")"
	exit 1
fi
ok "ztdnsd under valgrind ready within 60 s"

# lookup NAME TYPE EXPECTED [DIG_OPTION]: EXPECTED is the sorted +short
# answer, or "NXDOMAIN".
LOOKUPS_OK=0
LOOKUPS=0
LOOKUP_ERRS=()
lookup() {
	local name=$1 type=$2 want=$3 opt=${4:-+notcp} out got
	LOOKUPS=$((LOOKUPS + 1))
	out=$(ns_exec "$C" timeout 40 dig "$opt" +time=30 +tries=1 @127.0.0.1 "$name" "$type" 2>&1)
	if [ "$want" = NXDOMAIN ]; then
		got=$(printf '%s\n' "$out" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
	else
		got=$(printf '%s\n' "$out" | awk '/^;; ANSWER SECTION:/ { a = 1; next } a && NF == 0 { a = 0 }
			a { print $5 }' | sort | paste -sd' ')
	fi
	if [ "$got" = "$want" ]; then
		LOOKUPS_OK=$((LOOKUPS_OK + 1))
	else
		LOOKUP_ERRS+=("$name $type $opt: want '$want', got '$got'")
	fi
}
lookups() { # the same ten, over UDP and TCP
	lookup web.test A 198.51.100.10
	lookup web.test AAAA 2001:db8:2::10
	lookup multi.test A "198.51.100.21 198.51.100.22 198.51.100.23"
	lookup alias.test A web.test.
	lookup nowhere.test A NXDOMAIN
	lookup WEB.Test A 198.51.100.10 +tcp
	lookup v6only.test AAAA 2001:db8:2::10 +tcp
	lookup multi.test A "198.51.100.21 198.51.100.22 198.51.100.23" +tcp
	lookup alias.test A web.test. +tcp
	lookup tracker.test AAAA NXDOMAIN +tcp
}
answers_of() { # SERVER: transport answers of that server, now
	ctl status --json | "$ZT_PY" -c '
import json, sys
for s in json.load(sys.stdin)["dns"]["servers"]:
    if s["name"] == sys.argv[1]:
        print(s["transport"]["answers"])' "$1"
}

# ---- before the reload: DoH is preferred
s10=$(ctr_get "$N" 4 syn10)
s99=$(ctr_get "$N" 4 syn99)
check_fail "before any lookup, 198.51.100.10 is blocked" connect 198.51.100.10 3
check_eq "far end saw no SYN" "$s10" "$(ctr_get "$N" 4 syn10)"
lookups
check_eq "10 lookups over DoH answered right" 10 "$LOOKUPS_OK" || diag "${LOOKUP_ERRS[@]}"
check "DoH server answered them" test "$(answers_of pdns-doh)" -ge 8
check "after the lookup 198.51.100.10 is reachable" connect 198.51.100.10
check "far end saw it" test "$(ctr_get "$N" 4 syn10)" -gt "$s10"
s6=$(ctr_get "$N" 6 syn6)
check "2001:db8:2::10 (learned from AAAA) is reachable" connect 2001:db8:2::10
check "far end saw it (IPv6)" test "$(ctr_get "$N" 6 syn6)" -gt "$s6"
check_fail "198.51.100.99, never resolved, is blocked" connect 198.51.100.99 3
check_eq "far end saw no SYN for it" "$s99" "$(ctr_get "$N" 4 syn99)"

# ---- ztdnsctl
check "status" bash -c "ip netns exec $C timeout 60 $ZTC -s $SOCK status | grep -q ."
check_eq "status --json: ok" true "$(status_get ok)"
check "list shows web.test" bash -c "ip netns exec $C timeout 60 $ZTC -s $SOCK list | grep -q web.test"
check "list --name multi.test" bash -c "ip netns exec $C timeout 60 $ZTC -s $SOCK list --name multi.test | grep -q 198.51.100.22"
check "explain 198.51.100.10: learned, with the name" \
	bash -c "ip netns exec $C timeout 60 $ZTC -s $SOCK explain 198.51.100.10 --port 8080 | grep -q 'learned.*web.test'"
check_eq "explain 198.51.100.99: drop, never resolved" "drop never-resolved" \
	"$(ctl --json explain 198.51.100.99 --port 8080 | "$ZT_PY" -c 'import json, sys; o = json.load(sys.stdin); print(o["verdict"], o["reason"])')"
timeout 90 ip netns exec "$C" "$ZTC" -s "$SOCK" watch --addr 198.51.100.99 --count 2 --timeout 80 \
	>"$W/watch.out" 2>"$W/watch.err" &
WPID=$!
ZT_PIDS+=("$WPID")
sleep 1 # the watcher subscribes
check "allow 198.51.100.99 --ttl 60" ctl allow 198.51.100.99 --ttl 60
check "allowed by hand: reachable" connect 198.51.100.99
check "far end saw it" test "$(ctr_get "$N" 4 syn99)" -gt "$s99"
check "revoke 198.51.100.99" ctl revoke 198.51.100.99
s99=$(ctr_get "$N" 4 syn99)
check_fail "revoked: blocked again" connect 198.51.100.99 3
check_eq "far end saw no new SYN" "$s99" "$(ctr_get "$N" 4 syn99)"
wait_for 60 pid_gone "$WPID"
wait "$WPID" 2>/dev/null
check_eq "watch --count 2: two verdicts, then exits" 2 "$(grep -c . "$W/watch.out")" || diag "$(cat "$W/watch.out" "$W/watch.err")"
check "metrics scrape" bash -c "ip netns exec $C curl -s --max-time 30 http://127.0.0.1:9153/metrics | grep -q ztdns_dns_learned_total"
wait_for 10 test -s "$W/journal.json"
check "journal written" test -s "$W/journal.json"

# ---- SIGHUP: the same servers with priorities swapped, so DoT answers now
write_conf 10 0
kill -HUP "$DPID"
wait_for 60 reloaded "configuration reloaded" 1
check "SIGHUP reload" reloaded "configuration reloaded" 1
check_eq "status: one reload" 1 "$(status_get config.reloads)"
LOOKUPS_OK=0
LOOKUP_ERRS=()
lookups
check_eq "10 lookups over DoT answered right" 10 "$LOOKUPS_OK" || diag "${LOOKUP_ERRS[@]}"
check "DoT server answered them" test "$(answers_of pdns-dot)" -ge 8
check "still reachable after the reload" connect 198.51.100.10

# ---- an invalid configuration: refused, the running one kept
cp "$W/ztdns.json" "$W/good.json"
printf '{"mode": "host", "servers": [], "no_such_key": 1}\n' >"$W/ztdns.json"
kill -HUP "$DPID"
wait_for 60 reloaded "reload failed" 1
check "invalid reload refused" reloaded "reload failed" 1
check_eq "status: one reload failure" 1 "$(status_get config.reload_failures)"
check "still alive" pid_alive "$DPID"
LOOKUPS_OK=0
LOOKUP_ERRS=()
lookup web.test A 198.51.100.10
check_eq "still resolving with the old configuration" 1 "$LOOKUPS_OK" || diag "${LOOKUP_ERRS[@]}"
cp "$W/good.json" "$W/ztdns.json"
diag "$LOOKUPS lookups in all"

# ---- SIGTERM, and what valgrind saw
bg_stop "$DPID" TERM 180
rc=$?
check_eq "clean stop: exit status 0 (99: valgrind found errors)" 0 "$rc" || diag "$(tail -n 20 "$W/daemon.log")"
check_fail "clean stop removed the rules" bash -c "ip netns exec $C iptables -S | grep -q ZTDNS"
if ! grep -q "ERROR SUMMARY" "$VGLOG" 2>/dev/null; then
	not_ok "valgrind wrote its summary" "$(tail -n 40 "$VGLOG" 2>&1)"
else
	ok "valgrind wrote its summary: $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$VGLOG" | tail -n 1)"
fi
lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$VGLOG" | tail -n 1)
if [ -z "$lost" ] || [ "$lost" = 0 ]; then
	ok "no definitely lost bytes (${lost:-no leak summary})"
else
	not_ok "no definitely lost bytes: $lost" \
		"$(awk '/definitely lost in loss record/ { p = 1 } p { print } p && NF <= 1 { p = 0 }' "$VGLOG" | head -n 120)"
fi
# vgerr MSG PATTERN: no valgrind report matching PATTERN (shown with its stack)
vgerr() {
	if grep -qE "$2" "$VGLOG"; then
		not_ok "$1" "$(grep -E -A 25 "$2" "$VGLOG" | head -n 150)"
	else
		ok "$1"
	fi
}
vgerr "no invalid read or write" "Invalid (read|write) of size"
vgerr "no invalid or mismatched free" "Invalid free|Mismatched free"
vgerr "no use of uninitialised memory" "uninitialised|Uninitialised"
vgerr "no overlapping copy" "Source and destination overlap"
