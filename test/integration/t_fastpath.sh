#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The opt-in kernel fast path: learned destinations mirrored into ipsets
# with their allowance as timeout, accepted in the kernel before NFQUEUE.
# Judged at the far end, and by the queue's own packet counter.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=$(cd "${1:?usage: t_fastpath.sh BUILD_DIR}" && pwd)
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
C=ztfc$$
N=ztfn$$
W=$ZT_TMP
SOCK=$W/ctl.sock

ns_new "$C"
ns_new "$N"
ns_veth "$C" vc "$N" vn
ip -n "$C" addr add 192.0.2.1/24 dev vc
ip -n "$N" addr add 192.0.2.53/24 dev vn
ip -n "$N" addr add 198.51.100.10/32 dev vn
ip -n "$N" addr add 198.51.100.11/32 dev vn
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.53

pki_init "$W"
pki_server "$W" pdns ca pdns.test 192.0.2.53
printf 'web.test. 300 A 198.51.100.10\nshort.test. 1 A 198.51.100.11\n' >"$W/names"
pdns_unbound_conf "$W" 192.0.2.53 "$W/pdns.pem" "$W/pdns.key" "$W/names" >"$W/unbound.conf"
pdns_unbound_start "$N" "$W"
ZT_PIDS+=("$PDNS_PID")
pdns_wait_port "$N" 192.0.2.53 853 || { not_ok "unbound did not start"; exit 1; }
bg_start web "$N" "${ZT_NET[@]}" serve --tcp 8080 --udp 8081 --log "$W/web.log"
wait_for 5 bash -c "ip netns exec $N ss -Hltn 'sport = :8080' | grep -q 8080"
ctr_setup "$N"
ctr_add "$N" 4 syn10 -d 198.51.100.10 -p tcp --dport 8080 --syn
ctr_add "$N" 4 syn11 -d 198.51.100.11 -p tcp --dport 8080 --syn

cat >"$W/ztdns.json" <<JSON
{"mode": "host",
 "servers": [{"protocol": "dot", "address": "192.0.2.53", "tls_name": "pdns.test",
              "ca_file": "$W/ca.pem"}],
 "ttl": {"min": 1, "max": 300, "grace": 1},
 "control": {"socket": "$SOCK"},
 "ruleset": {"fast_path": true}}
JSON
ip netns exec "$C" "$ZTD" -f -c "$W/ztdns.json" >"$W/daemon.log" 2>&1 &
DPID=$!
ZT_PIDS+=("$DPID")
check "ready" ns_exec "$C" "$ZTC" -s "$SOCK" wait-ready --timeout 10
check "the rule before NFQUEUE" bash -c "ip netns exec $C iptables -S ZTDNS-OUT | grep -q -- '--match-set ztdns4 dst -j ACCEPT'"
check "the IPv6 rule" bash -c "ip netns exec $C ip6tables -S ZTDNS-OUT | grep -q -- '--match-set ztdns6 dst -j ACCEPT'"

connect() { ns_exec "$C" "${ZT_NET[@]}" tcp "$1" 8080 --timeout 2 >/dev/null 2>&1; }
qpk() { ns_exec "$C" "$ZTC" -s "$SOCK" status --json | json_get queues.0.packets; }
inset() { ns_exec "$C" ipset test ztdns4 "$1" >/dev/null 2>&1; }

check_fail "never resolved: blocked" connect 198.51.100.10
check_eq "far end saw nothing" 0 "$(ctr_get "$N" 4 syn10)"
check_eq "resolve web.test" 198.51.100.10 "$(ns_exec "$C" dig +short +time=3 +tries=1 @127.0.0.1 web.test A)"
wait_for 2 inset 198.51.100.10
check "mirrored into the set" inset 198.51.100.10
q0=$(qpk)
for i in 1 2 3 4 5; do connect 198.51.100.10; done
check_eq "five connections reached the far end" 5 "$(ctr_get "$N" 4 syn10)"
check_eq "none of them went through the queue" "$q0" "$(qpk)"
tmo=$(ns_exec "$C" ipset list ztdns4 | awk '$1 == "198.51.100.10" { print $3 }')
check "the set entry's timeout is the allowance (<= 301 s, > 250 s): $tmo" test "${tmo:-0}" -gt 250 -a "${tmo:-0}" -le 301

# Revocation leaves the kernel too.
ns_exec "$C" "$ZTC" -s "$SOCK" revoke 198.51.100.10 >/dev/null
check_fail "revoked: out of the set" inset 198.51.100.10
check_fail "revoked: blocked" connect 198.51.100.10
check_eq "far end saw nothing new" 5 "$(ctr_get "$N" 4 syn10)"

# A revocation is in the kernel before `ztdnsctl revoke` returns: learn,
# wait until mirrored, revoke, and connect at once, five times over. Each
# connection attempt follows the command with nothing in between.
far=$(ctr_get "$N" 4 syn10)
for i in 1 2 3 4 5; do
	ns_exec "$C" dig +short +time=3 +tries=1 @127.0.0.1 web.test A >/dev/null
	wait_for 2 inset 198.51.100.10 || break
	ns_exec "$C" "$ZTC" -s "$SOCK" revoke 198.51.100.10 >/dev/null
	connect 198.51.100.10 && break
done
check_eq "five revocations, each in force when the command returned" 5 "$i"
check_eq "far end saw none of the five attempts" "$far" "$(ctr_get "$N" 4 syn10)"
check_fail "and the entry is gone from the set" inset 198.51.100.10
fpj() { ns_exec "$C" "$ZTC" -s "$SOCK" status --json | json_get "fast_path.$1"; }
check_eq "no kernel errors so far" 0 "$(fpj errors)"

# Expiry: a 1 s TTL (+1 s grace) entry times out in the kernel as well.
check_eq "resolve short.test (TTL 1)" 198.51.100.11 "$(ns_exec "$C" dig +short +time=3 +tries=1 @127.0.0.1 short.test A)"
check "short.test reachable at once" connect 198.51.100.11
sleep 3
check_fail "after TTL + grace: gone from the set" inset 198.51.100.11
check_fail "and blocked" connect 198.51.100.11
check_eq "far end saw only the first" 1 "$(ctr_get "$N" 4 syn11)"
check_eq "explain says expired" expired \
	"$(ns_exec "$C" "$ZTC" -s "$SOCK" explain 198.51.100.11 --port 8080 --json | json_get reason)"

# Flush empties the sets.
ns_exec "$C" dig +short +time=3 +tries=1 @127.0.0.1 web.test A >/dev/null
wait_for 2 inset 198.51.100.10
ns_exec "$C" "$ZTC" -s "$SOCK" flush >/dev/null
check_fail "flush empties the set" inset 198.51.100.10

# A kernel refusal is counted, and fails closed: swap in a set without
# timeout support under our set's name (the rule follows the swap), so
# every timed add is refused. The entry is not in the kernel set, the flow
# goes through the queue, which allows it from the allowset.
ns_exec "$C" ipset create ztnot$$ hash:ip family inet maxelem 16
ns_exec "$C" ipset swap ztdns4 ztnot$$
ns_exec "$C" "$ZTC" -s "$SOCK" revoke 198.51.100.10 >/dev/null 2>&1 || true
e0=$(fpj errors)
far=$(ctr_get "$N" 4 syn10)
q0=$(qpk)
ns_exec "$C" dig +short +time=3 +tries=1 @127.0.0.1 web.test A >/dev/null
errs_above() { [ "$(fpj errors)" -gt "$1" ]; }
wait_for 3 errs_above "$e0"
check "the refused add is counted in fast_path.errors ($e0 -> $(fpj errors))" test "$(fpj errors)" -gt "$e0"
check_fail "the refused entry is not in the kernel set" inset 198.51.100.10
check "still reachable through the queue" connect 198.51.100.10
check_eq "the far end saw it" $((far + 1)) "$(ctr_get "$N" 4 syn10)"
check "and it went through the queue" test "$(qpk)" -gt "$q0"

# A removal the kernel refuses empties the sets (fail closed). Swap in a
# bitmap set covering only 198.51.100.11-12 under our name, plant .11 in
# it (an entry the daemon does not allow: short.test expired long ago), and
# revoke .10 (allowed above, outside the bitmap's range: the kernel refuses
# the removal). The planted entry must be gone, judged at the far end.
ns_exec "$C" ipset create ztbm$$ bitmap:ip range 198.51.100.11-198.51.100.12 timeout 300
ns_exec "$C" ipset swap ztdns4 ztbm$$
ns_exec "$C" ipset add ztdns4 198.51.100.11 timeout 300
far11=$(ctr_get "$N" 4 syn11)
check "the planted entry is accepted by the kernel (the hole this guards against)" connect 198.51.100.11
check_eq "the far end saw it" $((far11 + 1)) "$(ctr_get "$N" 4 syn11)"
check_eq "no failsafe flush yet" 0 "$(fpj failsafe_flushes)"
ns_exec "$C" "$ZTC" -s "$SOCK" revoke 198.51.100.10 >/dev/null
check_eq "the refused removal emptied the sets (fast_path.failsafe_flushes)" 1 "$(fpj failsafe_flushes)"
check_fail "the planted entry is gone from the kernel set" inset 198.51.100.11
check_fail "and 198.51.100.11 is blocked again" connect 198.51.100.11
check_eq "the far end saw nothing new" $((far11 + 1)) "$(ctr_get "$N" 4 syn11)"

bg_stop "$DPID" TERM 10
check_fail "clean stop destroys the sets" bash -c "ip netns exec $C ipset list -n | grep -q ztdns"
