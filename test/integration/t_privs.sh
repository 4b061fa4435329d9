#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Least privilege: started as root with privileges.user, ztdnsd runs as that
# user with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only (bounding set empty,
# CAP_NET_ADMIN ambient for its iptables-restore children), no_new_privs and
# a seccomp filter, and still does all of its work: rules, verdicts, reload,
# journal, clean stop. Judged at the far end.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=$(cd "${1:?usage: t_privs.sh BUILD_DIR}" && pwd)
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
C=ztpc$$
S=ztps$$
W=$ZT_TMP
chmod 755 "$W"
mkdir -p "$W/run"
chown 65534:65534 "$W/run"
SOCK=$W/run/ctl.sock

ns_new "$C"
ns_new "$S"
ns_veth "$C" vc "$S" vs
ip -n "$C" addr add 192.0.2.1/24 dev vc
ip -n "$S" addr add 192.0.2.2/24 dev vs
bg_start srv "$S" "${ZT_NET[@]}" serve --tcp 8080 --udp 8081 --log "$W/srv.log"
wait_for 5 bash -c "ip netns exec $S ss -Hltn 'sport = :8080' | grep -q 8080"
ctr_setup "$S"
ctr_add "$S" 4 syn -d 192.0.2.2 -p tcp --dport 8080 --syn

write_conf() {
	cat >"$W/ztdns.json" <<JSON
{"mode": "host",
 "servers": [{"protocol": "dot", "address": "203.0.113.53", "tls_name": "pdns.test"}],
 "listen": ["127.0.0.1:53"],
 "control": {"socket": "$SOCK", "uid": 65534},
 "state": {"journal": "$W/run/journal.json", "journal_interval_s": 1},
 "privileges": {"user": "nobody", "seccomp": "$1"}}
JSON
}
start() {
	ip netns exec "$C" "$ZTD" -f -c "$W/ztdns.json" >>"$W/daemon.log" 2>&1 &
	DPID=$!
	ZT_PIDS+=("$DPID")
}
ready() { ns_exec "$C" "$ZTC" -s "$SOCK" wait-ready --timeout 10; }
field() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$DPID/status"; }
connect() { ns_exec "$C" "${ZT_NET[@]}" tcp 192.0.2.2 8080 --timeout 2 >/dev/null 2>&1; }

write_conf kill
start
check "ready as nobody" ready
check_eq "uid" 65534 "$(field Uid)"
check_eq "no supplementary groups" "" "$(awk '$1 == "Groups:" { print $2 }' "/proc/$DPID/status")"
check_eq "CapEff: NET_ADMIN and NET_BIND_SERVICE only" 0000000000001400 "$(field CapEff)"
check_eq "CapPrm: the same" 0000000000001400 "$(field CapPrm)"
check_eq "CapBnd: empty (nothing can come back)" 0000000000000000 "$(field CapBnd)"
check_eq "CapAmb: NET_ADMIN for the ruleset tools" 0000000000001000 "$(field CapAmb)"
check_eq "NoNewPrivs" 1 "$(field NoNewPrivs)"
check_eq "Seccomp: filter mode" 2 "$(field Seccomp)"
check "rules installed" bash -c "ip netns exec $C iptables -S | grep -q ZTDNS-OUT"
check "port 53 bound" bash -c "ip netns exec $C ss -Hlun 'sport = :53' | grep -q 127.0.0.1"

s0=$(ctr_get "$S" 4 syn)
check_fail "a never-resolved destination is blocked" connect
check_eq "far end saw nothing" "$s0" "$(ctr_get "$S" 4 syn)"
check "the control uid may use the socket" \
	ip netns exec "$C" setpriv --reuid=65534 --regid=65534 --clear-groups "$ZTC" -s "$SOCK" allow 192.0.2.2 --ttl 60
check "allowed now (verdicts under the filter)" connect
check "far end saw it" test "$(ctr_get "$S" 4 syn)" -gt "$s0"
# Reload runs iptables-restore as a child, under the same filter.
kill -HUP "$DPID"
wait_for 5 grep -q "configuration reloaded" "$W/daemon.log"
check "SIGHUP reload works under seccomp (child iptables-restore)" grep -q "configuration reloaded" "$W/daemon.log"
check "still alive after the reload" pid_alive "$DPID"
wait_for 3 test -s "$W/run/journal.json"
check_eq "journal written by the user" "nobody 600" "$(stat -c '%U %a' "$W/run/journal.json")"
bg_stop "$DPID" TERM 10
check_eq "clean stop (exit 0) under the filter" 0 "$?"
check_fail "clean stop removed the rules (as the user, through its child)" \
	bash -c "ip netns exec $C iptables -S | grep -q ZTDNS"
check_fail "no seccomp kill was logged" bash -c "dmesg 2>/dev/null | tail -n 50 | grep -q 'type=1326.* pid='$DPID' comm=\"ztdnsd\"'"

write_conf off
start
check "seccomp off: ready" ready
check_eq "seccomp off: no filter" 0 "$(field Seccomp)"
bg_stop "$DPID" TERM 10

# Refusals.
sed 's/"user": "nobody"/"user": "root"/' "$W/ztdns.json" >"$W/root.json"
check_fail "privileges.user root is refused" "$ZTD" --check -c "$W/root.json"
sed 's/"user": "nobody"/"user": "no-such-user-zt"/' "$W/ztdns.json" >"$W/nouser.json"
ip netns exec "$C" "$ZTD" -f -c "$W/nouser.json" >"$W/nouser.log" 2>&1
check_eq "an unknown user stops the start (exit 1)" 1 "$?"
check "and says why" grep -q 'cannot become user "no-such-user-zt"' "$W/nouser.log"
# A failed start never opens the network: with no ruleset in place, it
# installs the lockdown (t_lifecycle.sh), which the operator then removes.
check "and leaves the lockdown (installed: none was there)" bash -c "ip netns exec $C iptables -S | grep -q -- '-A OUTPUT -j ZTDNS-OUT'"
check "ztdnsd --remove-ruleset removes it" ip netns exec "$C" "$ZTD" --remove-ruleset -c "$W/nouser.json"
check_fail "and no rule is left" bash -c "ip netns exec $C iptables -S | grep -q ZTDNS"
