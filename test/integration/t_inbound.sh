#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_inbound.sh BUILD_DIR — flows the far side starts (DESIGN.md invariant 9):
# no two-way traffic with a peer nothing proved, simultaneous open included.
#
# Part 1, host mode:
#
#   ztc$$ (app, runs ztdnsd)                   zts$$ (peer, no firewall)
#     c0 192.0.2.1/24        <---- veth ---->    s0 192.0.2.2/24, 198.51.100.2/24
#        2001:db8:1::1/64                           2001:db8:1::2/64
#     198.51.100.0/24 via 192.0.2.2
#
#   The app side runs three ztnet.py responders: tcp 7001 / udp 7002 (not
#   listed), tcp 7003 / udp 7004 (inbound.services, any source), tcp 7005
#   (listed from 198.51.100.0/24 only). Every "refused" is judged at the far
#   end of the flow — the app's own responder log (nothing arrived) and, for
#   answers, the peer's INPUT counters (nothing came back) — and the same
#   probe is shown working where the policy allows it.
#   Simultaneous open (v4, v6): the app binds tcp 7007 (listed) and
#   connect()s to the never-resolved peer; the peer connects back from the
#   port the app aimed at. The app's SYN-ACK must never reach the peer,
#   while a listener on the same port still accepts another connection.
#
# Part 2, gateway mode, routed without NAT:
#
#   ztl$$ (LAN client)        ztg$$ (gateway, ztdnsd)          ztw$$ (WAN peer)
#     l0 198.18.1.10/24 <--> lan0 198.18.1.1  wan0 203.0.113.1 <--> w0 203.0.113.2
#        2001:db8:a::10/64       2001:db8:a::1     2001:db8:b::1       2001:db8:b::2
#
#   New flows from the WAN toward the client are refused unless a
#   gateway.port_forwards entry lists them (tcp 7003, udp 7004, tcp 7005),
#   judged at the client's INPUT counters; a SYN that crosses one the
#   gateway denied (the client connect()ed from forwarded port 7005 to the
#   peer's 9000, the peer connects back from 9000) is refused even though
#   7005 is forwarded, while the same port from another source port passes.
#
# Both parts end with a clean stop that must leave the ruleset
# byte-identical to before the daemon (the new chains removed too).

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_inbound.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
INB=("$ZT_PY" "$ZT_LIB_DIR/inbound.py")

C=ztc$$
S=zts$$
L=ztl$$
G=ztg$$
W=ztw$$
QNUM=9
CONF=$ZT_TMP/ztdnsd.json
SOCK=$ZT_TMP/ctl.sock
VLOG=$ZT_TMP/verdicts.log
ZTD_PID=
ZTD_NS=
RUN=0

fam() { case $1 in *:*) echo 6 ;; *) echo 4 ;; esac; }
ctl() { timeout 8 ip netns exec "$ZTD_NS" "$ZTC" -s "$SOCK" "$@"; }

# daemon_start LABEL NS: ztdnsd with $CONF in NS, ready within 15 s.
daemon_start() {
	local label=$1 i out
	ZTD_NS=$2
	RUN=$((RUN + 1))
	bg_start "ztdnsd-$RUN" "$ZTD_NS" "$ZTD" -c "$CONF" --foreground -v
	ZTD_PID=$BG_PID
	for ((i = 0; i < 15; i++)); do
		out=$(ctl wait-ready --timeout 1 2>&1) && break
		pid_alive "$ZTD_PID" || break
		sleep 1
	done
	if pid_alive "$ZTD_PID" && ctl wait-ready --timeout 2 >/dev/null 2>&1; then
		ok "$label: ztdnsd started and is ready"
		return 0
	fi
	not_ok "$label: ztdnsd started and is ready" "wait-ready: $out" \
		"$(tail -n 15 "$ZT_TMP/ztdnsd-$RUN.log")"
	return 1
}

# daemon_stop LABEL: SIGTERM, exit 0, and the ruleset is what it was before.
daemon_stop() {
	local label=$1 before=$2 rc
	bg_stop "$ZTD_PID" TERM 10
	rc=$?
	check_eq "$label: clean stop exits 0" 0 "$rc"
	ruleset_save "$ZTD_NS" >"$ZT_TMP/after-$RUN.txt"
	if cmp -s "$before" "$ZT_TMP/after-$RUN.txt"; then
		ok "$label: the ruleset after the clean stop is byte-identical to before"
	else
		not_ok "$label: the ruleset after the clean stop is byte-identical to before" \
			"$(diff "$before" "$ZT_TMP/after-$RUN.txt" | head -20)"
	fi
}

# Lines of a responder log that show a peer's flow arrived.
app_seen() { grep -c -- "$2" "$ZT_TMP/$1.log" 2>/dev/null; }

# tcp_probe NS HOST PORT: ztnet's connect, send a line, expect it back.
tcp_probe() { timeout 5 ip netns exec "$1" "${ZT_NET[@]}" tcp "$2" "$3" --timeout 1.5 --tag "i$$"; }
udp_probe() { timeout 5 ip netns exec "$1" "${ZT_NET[@]}" udp "$2" "$3" --timeout 1.5 --tag "i$$"; }

# expect_in WHY OK|NO PROTO FROM_NS HOST PORT APPLOG PATTERN [SRC]:
# a peer in FROM_NS starts a flow to HOST:PORT; the app's log APPLOG must
# (OK) or must not (NO) gain a line matching PATTERN, and the probe must
# succeed or fail accordingly.
expect_in() {
	local why=$1 want=$2 proto=$3 ns=$4 host=$5 port=$6 log=$7 pat=$8 src=${9:-}
	local before after rc out
	before=$(app_seen "$log" "$pat")
	if [ -n "$src" ]; then
		out=$(timeout 6 ip netns exec "$ns" "${INB[@]}" peer "$host" "$port" \
			--src "$src" --src-port $((40000 + RANDOM % 10000)) --timeout 2 2>&1)
	elif [ "$proto" = tcp ]; then
		out=$(tcp_probe "$ns" "$host" "$port" 2>&1)
	else
		out=$(udp_probe "$ns" "$host" "$port" 2>&1)
	fi
	rc=$?
	sleep 0.3
	after=$(app_seen "$log" "$pat")
	if [ "$want" = OK ] && [ $rc -eq 0 ] && [ "$after" -gt "$before" ]; then
		ok "$why: $proto to $host:$port works (app saw it: $before -> $after)"
	elif [ "$want" = NO ] && [ $rc -ne 0 ] && [ "$after" = "$before" ]; then
		ok "$why: $proto to $host:$port refused (app log stays at $after)"
	else
		not_ok "$why: $proto to $host:$port $([ "$want" = OK ] && echo works || echo refused)" \
			"probe exit $rc, app log $before -> $after" "$out"
	fi
}

# ====================================================================
# Part 1: host mode
# ====================================================================

ns_new "$C" && ns_new "$S" || exit 1
ns_veth "$C" c0 "$S" s0 || exit 1
ns_addr "$C" c0 192.0.2.1/24
ns_addr "$C" c0 2001:db8:1::1/64
ns_addr "$S" s0 192.0.2.2/24
ns_addr "$S" s0 198.51.100.2/24
ns_addr "$S" s0 2001:db8:1::2/64
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.2

for p in "7001 7002" "7003 7004" "7005 7006"; do
	set -- $p
	bg_start "app-$1" "$C" "${ZT_NET[@]}" serve --tcp "$1" --udp "$2" \
		--log "$ZT_TMP/app-$1.log" --max-seconds 600
done
wait_for 5 grep -q ready "$ZT_TMP/app-7001.log" "$ZT_TMP/app-7003.log" "$ZT_TMP/app-7005.log"

# The peer's INPUT counters: answers that came back from the app.
ctr_setup "$S"
for f in 4 6; do
	if [ $f = 4 ]; then a=192.0.2.1; else a=2001:db8:1::1; fi
	ctr_add "$S" $f "udpr-7002-$f" -s "$a" -p udp --sport 7002
	ctr_add "$S" $f "udpr-7004-$f" -s "$a" -p udp --sport 7004
	ctr_add "$S" $f "synack-7007-$f" -s "$a" -p tcp --sport 7007 --tcp-flags SYN,ACK SYN,ACK
	ctr_add "$S" $f "syn-9000-$f" -s "$a" -p tcp --dport 9000 --syn
done

cat >"$CONF" <<EOF
{"mode":"host",
 "servers":[{"protocol":"doh","url":"https://dns.test/dns-query","bootstrap":["203.0.113.53"]}],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "log":{"level":"debug","verdicts":true,"verdict_file":"$VLOG"},
 "inbound":{"services":[
   {"proto":"tcp","port":7003},{"proto":"udp","port":7004},
   {"proto":"tcp","port":7005,"from":["198.51.100.0/24","2001:db8:5::/48"]},
   {"proto":"tcp","port":7007}]}}
EOF

# Baseline, no daemon: the peer reaches every responder (the probes below
# that expect a refusal are shown to work without the firewall).
for a in 192.0.2.1 2001:db8:1::1; do
	expect_in "baseline (no daemon)" OK tcp "$S" "$a" 7001 app-7001 "tcp-accept"
	expect_in "baseline (no daemon)" OK udp "$S" "$a" 7002 app-7001 "udp "
done

# An administrator's own rules, which the daemon must leave as they are.
admin_rules() {
	local t
	for t in iptables ip6tables; do
		ns_exec "$1" "$t" -w 5 -N ADMIN-IN && ns_exec "$1" "$t" -w 5 -A INPUT -j ADMIN-IN || return 1
		ns_exec "$1" "$t" -w 5 -t nat -N ADMIN-NAT || return 1
	done
}
# Cost of judging inbound: sequential connects to a listed service (the SYN
# and the listener's SYN-ACK both go through the queue with the daemon).
bench0=$(timeout 30 ip netns exec "$S" "${ZT_NET[@]}" connbench 192.0.2.1 7003 --count 200 2>&1)
diag "connbench to listed tcp 7003 without the daemon: $bench0"
admin_rules "$C"
ruleset_save "$C" >"$ZT_TMP/before-host.txt"
daemon_start "host" "$C" || exit 1
ruleset_save "$C" >"$ZT_TMP/during-host.txt"
check "host: start-up warns that tcp 7001 listens unlisted" \
	grep -q "tcp port 7001 is listening but inbound.services does not list it" "$ZT_TMP/ztdnsd-$RUN.log"
check "host: start-up warns that udp 7006 is bound unlisted" \
	grep -q "udp port 7006 is bound but inbound.services does not list it" "$ZT_TMP/ztdnsd-$RUN.log"
check_fail "host: no warning for listed tcp 7003" grep -q "tcp port 7003 is" "$ZT_TMP/ztdnsd-$RUN.log"
check "host: --check warns the same" \
	bash -c "ip netns exec '$C' '$ZTD' --check -c '$CONF' 2>&1 | grep -q 'tcp port 7001 is listening'"
check "host: ZTDNS-IN is installed and jumped to from INPUT (v4 and v6)" \
	bash -c "[ \$(grep -c -- '^-A INPUT -j ZTDNS-IN' '$ZT_TMP/during-host.txt') = 2 ]"

for a in 192.0.2.1 2001:db8:1::1; do
	f=$(fam $a)
	# (a) of the issue: a datagram from an unproven peer; the app never
	# sees it, so it never answers.
	b=$(ctr_get "$S" $f "udpr-7002-$f")
	expect_in "host v$f: udp from an unproven peer to an unlisted port" NO udp "$S" "$a" 7002 app-7001 "udp "
	check_eq "host v$f: no answer from unlisted udp 7002 reached the peer" "$b" "$(ctr_get "$S" $f "udpr-7002-$f")"
	b=$(ctr_get "$S" $f "udpr-7004-$f")
	expect_in "host v$f: udp to listed service 7004" OK udp "$S" "$a" 7004 app-7003 "udp "
	check "host v$f: the answer from listed udp 7004 reached the peer" \
		test "$(ctr_get "$S" $f "udpr-7004-$f")" -gt "$b"
	expect_in "host v$f: tcp to an unlisted port" NO tcp "$S" "$a" 7001 app-7001 "tcp-accept"
	expect_in "host v$f: tcp to listed service 7003" OK tcp "$S" "$a" 7003 app-7003 "tcp-accept"
done
bench1=$(timeout 30 ip netns exec "$S" "${ZT_NET[@]}" connbench 192.0.2.1 7003 --count 200 2>&1)
diag "connbench to listed tcp 7003 with the daemon: $bench1"
check "host: 200 sequential connections to a listed service all succeed" grep -q "ok=200 fail=0" <<<"$bench1"
# A service listed for some sources only.
expect_in "host v4: tcp 7005 (from 198.51.100.0/24) from 198.51.100.2" OK tcp "$S" 192.0.2.1 7005 \
	app-7005 "tcp-accept .*198\.51\.100\.2:" 198.51.100.2
expect_in "host v4: tcp 7005 (from 198.51.100.0/24) from 192.0.2.2" NO tcp "$S" 192.0.2.1 7005 \
	app-7005 "tcp-accept .*192\.0\.2\.2:" 192.0.2.2
expect_in "host v6: tcp 7005 (from 2001:db8:5::/48) from 2001:db8:1::2" NO tcp "$S" 2001:db8:1::1 7005 \
	app-7005 "tcp-accept 2001:db8:1::2" 2001:db8:1::2
check "host: the log says inbound-unlisted for the refused flows" grep -q '"reason":"inbound-unlisted"' "$VLOG"
check "host: the log says inbound-service for the listed ones" grep -q '"reason":"inbound-service"' "$VLOG"

# (b) of the issue: simultaneous open toward a never-resolved address, on a
# listed port with a listener on it too.
for peer in 192.0.2.2 2001:db8:1::2; do
	f=$(fam $peer)
	if [ $f = 4 ]; then a=192.0.2.1; pp=$peer; else a=2001:db8:1::1; pp="[$peer]"; fi
	rm -f "$ZT_TMP/sim-$f.log"
	bs=$(ctr_get "$S" $f "synack-7007-$f")
	bn=$(ctr_get "$S" $f "syn-9000-$f")
	bg_start "simapp-$f" "$C" "${INB[@]}" app --port 7007 --peer "$pp:9000" --seconds 7 \
		--listen --log "$ZT_TMP/sim-$f.log"
	sim_pid=$BG_PID
	wait_for 3 grep -q connecting "$ZT_TMP/sim-$f.log"
	sleep 0.3
	out=$(timeout 6 ip netns exec "$S" "${INB[@]}" peer "$a" 7007 --src-port 9000 --timeout 3 2>&1)
	rc=$?
	check "host v$f: simultaneous open on listed port 7007: the peer's connect fails" test $rc -ne 0
	check_eq "host v$f: simultaneous open: no SYN-ACK from the app reached the peer" \
		"$bs" "$(ctr_get "$S" $f "synack-7007-$f")"
	check_eq "host v$f: simultaneous open: the app's own SYN never reached the peer" \
		"$bn" "$(ctr_get "$S" $f "syn-9000-$f")"
	# Control: the listener on the same port answers another connection.
	expect_in "host v$f: the listener on 7007 (same port) still accepts" OK tcp "$S" "$a" 7007 \
		"sim-$f" "accept " "$peer"
	check "host v$f: its SYN-ACK was counted at the peer" \
		test "$(ctr_get "$S" $f "synack-7007-$f")" -gt "$bs"
	wait "$sim_pid"
	check "host v$f: the app's connecting socket never got connected" \
		grep -q "final not-connected" "$ZT_TMP/sim-$f.log"
done
check "host: the log says simultaneous-open" grep -q '"reason":"simultaneous-open"' "$VLOG"

# An address an allowance holds may start flows (here an operator's allow).
check "host: ztdnsctl allow 192.0.2.2" ctl allow 192.0.2.2
check "host: ztdnsctl allow 2001:db8:1::2" ctl allow 2001:db8:1::2
for a in 192.0.2.1 2001:db8:1::1; do
	f=$(fam $a)
	expect_in "host v$f: tcp from an allowed peer to an unlisted port" OK tcp "$S" "$a" 7001 app-7001 "tcp-accept"
	expect_in "host v$f: udp from an allowed peer to an unlisted port" OK udp "$S" "$a" 7002 app-7001 "udp "
done
ctl revoke 192.0.2.2 >/dev/null 2>&1
ctl revoke 2001:db8:1::2 >/dev/null 2>&1
expect_in "host v4: after revoke, tcp to the unlisted port" NO tcp "$S" 192.0.2.1 7001 app-7001 "tcp-accept"

# A reload that lists tcp 7001 opens it (and the warning goes).
sed -i 's|{"proto":"tcp","port":7007}|{"proto":"tcp","port":7007},{"proto":"tcp","port":7001}|' "$CONF"
n=$(grep -c "configuration reloaded" "$ZT_TMP/ztdnsd-$RUN.log")
kill -HUP "$ZTD_PID"
if wait_for 10 bash -c "[ \$(grep -c 'configuration reloaded' '$ZT_TMP/ztdnsd-$RUN.log') -gt $n ]"; then
	ok "host: SIGHUP with tcp 7001 listed reloads"
else
	not_ok "host: SIGHUP with tcp 7001 listed reloads" "$(tail -5 "$ZT_TMP/ztdnsd-$RUN.log")"
fi
for a in 192.0.2.1 2001:db8:1::1; do
	expect_in "host v$(fam $a): after the reload, tcp to 7001" OK tcp "$S" "$a" 7001 app-7001 "tcp-accept"
done

daemon_stop "host" "$ZT_TMP/before-host.txt"

# ====================================================================
# Part 2: gateway mode
# ====================================================================

ns_new "$L" && ns_new "$G" && ns_new "$W" || exit 1
ns_veth "$L" l0 "$G" lan0 || exit 1
ns_veth "$G" wan0 "$W" w0 || exit 1
ns_addr "$L" l0 198.18.1.10/24
ns_addr "$L" l0 2001:db8:a::10/64
ns_addr "$G" lan0 198.18.1.1/24
ns_addr "$G" lan0 2001:db8:a::1/64
ns_addr "$G" wan0 203.0.113.1/24
ns_addr "$G" wan0 2001:db8:b::1/64
ns_addr "$W" w0 203.0.113.2/24
ns_addr "$W" w0 2001:db8:b::2/64
ip -n "$L" route add 203.0.113.0/24 via 198.18.1.1
ip -n "$L" -6 route add 2001:db8:b::/64 via 2001:db8:a::1
ip -n "$W" route add 198.18.1.0/24 via 203.0.113.1
ip -n "$W" -6 route add 2001:db8:a::/64 via 2001:db8:b::1
ns_exec "$G" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

for p in "7001 7002" "7003 7004"; do
	set -- $p
	bg_start "lan-$1" "$L" "${ZT_NET[@]}" serve --tcp "$1" --udp "$2" \
		--log "$ZT_TMP/lan-$1.log" --max-seconds 600
done
wait_for 5 grep -q ready "$ZT_TMP/lan-7001.log" "$ZT_TMP/lan-7003.log"
ctr_setup "$L"
for f in 4 6; do
	if [ $f = 4 ]; then w=203.0.113.2; else w=2001:db8:b::2; fi
	ctr_add "$L" $f "syn-7001-$f" -s "$w" -p tcp --dport 7001 --syn
	ctr_add "$L" $f "syn-7003-$f" -s "$w" -p tcp --dport 7003 --syn
	ctr_add "$L" $f "udp-7002-$f" -s "$w" -p udp --dport 7002
	ctr_add "$L" $f "udp-7004-$f" -s "$w" -p udp --dport 7004
	ctr_add "$L" $f "syn-7005-9000-$f" -s "$w" -p tcp --sport 9000 --dport 7005 --syn
	ctr_add "$L" $f "syn-7005-other-$f" -s "$w" -p tcp ! --sport 9000 --dport 7005 --syn
done

cat >"$CONF" <<EOF
{"mode":"gateway",
 "servers":[{"protocol":"doh","url":"https://dns.test/dns-query","bootstrap":["203.0.113.53"]}],
 "listen":["127.0.0.1:53","198.18.1.1:53"],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "log":{"level":"debug","verdicts":true,"verdict_file":"$VLOG"},
 "metrics":{"listen":"unix:$ZT_TMP/metrics.sock"},
 "gateway":{"lan_interfaces":["lan0"],
   "port_forwards":[
     {"to":"198.18.1.10","proto":"tcp","port":7003},
     {"to":"2001:db8:a::/64","proto":"tcp","port":7003},
     {"to":"198.18.1.10","proto":"udp","port":7004},
     {"to":"2001:db8:a::10","proto":"udp","port":7004},
     {"to":"198.18.1.0/24","proto":"tcp","port":7005},
     {"to":"2001:db8:a::10","proto":"tcp","port":7005}]}}
EOF

# gw_in WHY OK|NO PROTO HOST PORT COUNTER: from the WAN peer, judged at the
# LAN client's INPUT counter.
gw_in() {
	local why=$1 want=$2 proto=$3 host=$4 port=$5 name=$6 f b a rc out
	f=$(fam "$host")
	b=$(ctr_get "$L" $f "$name")
	if [ "$proto" = tcp ]; then out=$(tcp_probe "$W" "$host" "$port" 2>&1); else out=$(udp_probe "$W" "$host" "$port" 2>&1); fi
	rc=$?
	sleep 0.3
	a=$(ctr_get "$L" $f "$name")
	if [ "$want" = OK ] && [ $rc -eq 0 ] && [ -n "$a" ] && [ "$a" -gt "${b:-0}" ]; then
		ok "$why: $proto to $host:$port works (client counter $b -> $a)"
	elif [ "$want" = NO ] && [ $rc -ne 0 ] && [ -n "$b" ] && [ "$a" = "$b" ]; then
		ok "$why: $proto to $host:$port refused (client counter stays $a)"
	else
		not_ok "$why: $proto to $host:$port $([ "$want" = OK ] && echo works || echo refused)" \
			"probe exit $rc, client counter $b -> $a" "$out"
	fi
}

for h in 198.18.1.10 2001:db8:a::10; do
	f=$(fam $h)
	gw_in "gateway v$f baseline (no daemon)" OK tcp "$h" 7001 "syn-7001-$f"
	gw_in "gateway v$f baseline (no daemon)" OK udp "$h" 7002 "udp-7002-$f"
done

admin_rules "$G"
ruleset_save "$G" >"$ZT_TMP/before-gw.txt"
daemon_start "gateway" "$G" || exit 1

for h in 198.18.1.10 2001:db8:a::10; do
	f=$(fam $h)
	gw_in "gateway v$f: WAN to LAN, no port forward" NO tcp "$h" 7001 "syn-7001-$f"
	gw_in "gateway v$f: WAN to LAN, no port forward" NO udp "$h" 7002 "udp-7002-$f"
	gw_in "gateway v$f: WAN to LAN, port forward" OK tcp "$h" 7003 "syn-7003-$f"
	gw_in "gateway v$f: WAN to LAN, port forward" OK udp "$h" 7004 "udp-7004-$f"
done

# The crossing SYN: the client connect()s from forwarded port 7005 to the
# never-resolved peer port 9000 (refused by the gateway), the peer connects
# back from 9000 to 7005.
for w in 203.0.113.2 2001:db8:b::2; do
	f=$(fam $w)
	if [ $f = 4 ]; then h=198.18.1.10; wp=$w; else h=2001:db8:a::10; wp="[$w]"; fi
	rm -f "$ZT_TMP/cross-$f.log"
	b=$(ctr_get "$L" $f "syn-7005-9000-$f")
	bg_start "crossapp-$f" "$L" "${INB[@]}" app --port 7005 --peer "$wp:9000" --seconds 6 \
		--log "$ZT_TMP/cross-$f.log"
	cross_pid=$BG_PID
	wait_for 3 grep -q connecting "$ZT_TMP/cross-$f.log"
	sleep 0.5
	out=$(timeout 6 ip netns exec "$W" "${INB[@]}" peer "$h" 7005 --src-port 9000 --timeout 3 2>&1)
	rc=$?
	check "gateway v$f: crossing SYN to forwarded port 7005: the peer's connect fails" test $rc -ne 0
	check_eq "gateway v$f: crossing SYN never reached the client" "$b" "$(ctr_get "$L" $f "syn-7005-9000-$f")"
	# Control: the same forwarded port from another source port arrives.
	b=$(ctr_get "$L" $f "syn-7005-other-$f")
	timeout 6 ip netns exec "$W" "${INB[@]}" peer "$h" 7005 --src-port 9001 --timeout 2 >/dev/null 2>&1
	check "gateway v$f: forwarded port 7005 from another source port reaches the client" \
		test "$(ctr_get "$L" $f "syn-7005-other-$f")" -gt "$b"
	wait "$cross_pid"
	check "gateway v$f: the client's connecting socket never got connected" \
		grep -q "final not-connected" "$ZT_TMP/cross-$f.log"
done
check "gateway: the log says crossing" grep -q '"reason":"crossing"' "$VLOG"
ip netns exec "$G" curl -s --max-time 5 --unix-socket "$ZT_TMP/metrics.sock" http://x/metrics \
	>"$ZT_TMP/metrics.txt"
check "gateway: metrics count crossing verdicts" \
	grep -Eq '^ztdns_verdicts_total\{reason="crossing",verdict="deny"\} [1-9]' "$ZT_TMP/metrics.txt"
check "gateway: metrics count the recorded denied SYNs, no set failing closed" \
	bash -c "grep -Eq '^ztdns_crossing_recorded_total [1-9]' '$ZT_TMP/metrics.txt' &&
		grep -Eq '^ztdns_crossing_sets_failing_closed 0' '$ZT_TMP/metrics.txt'"
check "gateway: the log says inbound-unlisted" grep -q '"reason":"inbound-unlisted"' "$VLOG"

daemon_stop "gateway" "$ZT_TMP/before-gw.txt"
