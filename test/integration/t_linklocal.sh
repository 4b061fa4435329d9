#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_linklocal.sh BUILD_DIR — what stays on the link under lockdown (issue 10,
# section 6): neighbour discovery, MLD and IGMP, judged at the far end.
#
# Every "nothing arrives" is counted in the network namespace's raw
# PREROUTING chain (each packet that reaches the wire, before any local
# processing) and shown arriving without ztdnsd first; each refused
# destination is shown reachable by an allowed flow.
#
#   (1) an NS (type 135, hop limit 255) behind a Mobility, HIP or Shim6
#       header toward a global off-link address: protocol 135/139/140 for
#       the kernel, never "infra" for us; the same far end receives an
#       allowed TCP flow;
#   (2) a plain NS with hop limit 255 toward that off-link address, small or
#       with a large payload: refused (the in-kernel NDP accepts are only for
#       fe80::/10, ff02::/16 and on-link prefixes);
#   (3) toward the on-link neighbour: a small NS leaves, one with a payload
#       larger than its options allow (RFC 4861 §4.3) does not;
#   (4) genuine neighbour resolution both ways with flushed caches: ping6
#       of an allowed on-link address works, and so does the neighbour's
#       ping of us, which needs our unicast NA to its global address;
#   (5) an MLD report and an IGMP report (joining groups) leave and are
#       counted by the daemon as infra; an "MLD report" to a global address
#       does not leave;
#   (6) the rendered ruleset: on-link prefixes from the routing table,
#       nothing for the routed one; a prefix added later after SIGHUP.
#
# Topology (namespaces made here, removed on every exit path):
#   llc$$ (client, ztdnsd)  c0 192.0.2.1/24, 2001:db8:1::1/64
#   lln$$ (network)         n0 192.0.2.2/24, 2001:db8:1::2/64
#       2001:db8:10::/64 local (AnyIP) behind 2001:db8:1::2: off-link for
#       the client; ztnet.py serve on 7001.
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID.

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_linklocal.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
[ -x "$ZTD" ] && [ -x "$ZTC" ] || { not_ok "ztdnsd and ztdnsctl are built in $BUILD"; exit 1; }

C=llc$$
N=lln$$
SOCK=$ZT_TMP/ctl.sock
VLOG=$ZT_TMP/verdicts.log
PORT=7001
QNUM=13
ADV=("$ZT_PY" "$ZT_LIB_DIR/adv/advnet.py")
ZTD_PID=
OFF=2001:db8:10::99 # global, off-link (routed through the neighbour)
ONL=2001:db8:1::2   # global, on-link (the neighbour itself)
ME=2001:db8:1::1

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
infra_count() { ctl --json status 2>/dev/null | json_get verdicts.by_reason.infra; }

raw_setup() {
	local t
	for t in iptables ip6tables; do
		ns_exec "$N" $t -w 5 -t raw -N LLRAW || return 1
		ns_exec "$N" $t -w 5 -t raw -I PREROUTING 1 -i n0 -j LLRAW || return 1
	done
}
raw_add() { # raw_add 4|6 NAME MATCH...
	local t=iptables name=$2
	[ "$1" = 6 ] && t=ip6tables
	shift 2
	ns_exec "$N" $t -w 5 -t raw -A LLRAW "$@" -m comment --comment "$name"
}
raw_get() { # raw_get 4|6 NAME
	local t=iptables
	[ "$1" = 6 ] && t=ip6tables
	ns_exec "$N" $t -w 5 -t raw -L LLRAW -v -x -n 2>/dev/null |
		awk -v c="/* $2 */" 'index($0, c) { print $1; exit }'
}

nout_get() {
	ns_exec "$N" ip6tables -w 5 -t raw -L LLOUT -v -x -n 2>/dev/null |
		awk 'index($0, "/* n-ns */") { print $1; exit }'
}

# send KIND DST [ARGS...]: one crafted packet from the client.
send() {
	local k=$1 d=$2
	shift 2
	timeout 5 ip netns exec "$C" "${ADV[@]}" nd --src "$ME" --dst "$d" --kind "$k" "$@"
}

# expect WHY arrives|nothing COUNTER CMD...: run CMD, judge by the far end.
expect() {
	local why=$1 want=$2 ctr=$3 b n out
	shift 3
	b=$(raw_get 6 "$ctr")
	out=$("$@" 2>&1)
	sleep 0.4
	n=$(raw_get 6 "$ctr")
	if [ -z "$b" ] || [ -z "$n" ]; then
		not_ok "$why" "no far-end counter $ctr" "$out"
	elif [ "$want" = arrives ] && [ "$n" -gt "$b" ]; then
		ok "$why: arrives at the far end ($ctr $b -> $n)"
	elif [ "$want" = nothing ] && [ "$n" = "$b" ]; then
		ok "$why: nothing arrives at the far end ($ctr stays $n)"
	else
		not_ok "$why: $want" "far-end $ctr $b -> $n" "$out"
	fi
}

stub_listens() { ns_exec "$C" ss -Hlun "sport = :53" | grep -q '127.0.0.1:53'; }

daemon_start() {
	local i out
	out=$(timeout 5 "$ZTD" --check -c "$ZT_TMP/zt.json" 2>&1) ||
		{ not_ok "ztdnsd --check accepts the configuration" "$out"; return 1; }
	bg_start ztdnsd "$C" "$ZTD" -c "$ZT_TMP/zt.json" --foreground -v
	ZTD_PID=$BG_PID
	for ((i = 0; i < 15; i++)); do
		ctl wait-ready --timeout 1 >/dev/null 2>&1 && break
		pid_alive "$ZTD_PID" || break
		sleep 0.5
	done
	if pid_alive "$ZTD_PID" && ctl wait-ready --timeout 2 >/dev/null 2>&1 && wait_for 5 stub_listens; then
		ok "ztdnsd ready"
		return 0
	fi
	not_ok "ztdnsd ready" "$(tail -n 15 "$ZT_TMP/ztdnsd.log")"
	return 1
}

# neigh_fresh: forget what each side knows of the other, so the next packet
# needs neighbour discovery again.
neigh_fresh() {
	ip -n "$C" -6 neigh flush dev c0
	ip -n "$N" -6 neigh flush dev n0
}

# ------------------------------------------------------------------ topology

ns_new "$C" && ns_new "$N" || { not_ok "create namespaces $C and $N"; exit 1; }
ns_veth "$C" c0 "$N" n0 || { not_ok "create veth pair"; exit 1; }
ns_addr "$C" c0 192.0.2.1/24
ns_addr "$C" c0 $ME/64
ip -n "$C" -6 route add 2001:db8:10::/64 via $ONL
ns_addr "$N" n0 192.0.2.2/24
ns_addr "$N" n0 $ONL/64
ip -n "$N" -6 route add local 2001:db8:10::/64 dev lo
# IGMP and MLD as a host on a plain LAN sends them (v3 / v2, the defaults).
ns_exec "$C" sysctl -qw net.ipv4.conf.c0.force_igmp_version=0 >/dev/null 2>&1
raw_setup || { not_ok "far-end counting chains"; exit 1; }
raw_add 6 off-all -d $OFF
raw_add 6 off-tcp -d $OFF -p tcp --dport $PORT --syn
raw_add 6 onl-ns -d $ONL -p icmpv6 --icmpv6-type 135
raw_add 6 onl-na -s $ME -d $ONL -p icmpv6 --icmpv6-type 136
raw_add 6 onl-echo -s $ME -d $ONL -p icmpv6 --icmpv6-type echo-request
raw_add 6 mld -d ff02::16 -p icmpv6 --icmpv6-type 143
# The neighbour's own neighbour solicitations, counted as they leave it: (4)
# tells "we did not answer" from "it did not ask".
ns_exec "$N" ip6tables -w 5 -t raw -N LLOUT &&
	ns_exec "$N" ip6tables -w 5 -t raw -I OUTPUT 1 -o n0 -j LLOUT &&
	ns_exec "$N" ip6tables -w 5 -t raw -A LLOUT -p icmpv6 --icmpv6-type 135 -m comment --comment n-ns ||
	{ not_ok "neighbour's NS counter"; exit 1; }
raw_add 4 igmp -d 224.0.0.22 -p igmp

bg_start web "$N" "${ZT_NET[@]}" serve --tcp $PORT --udp 7002 --log "$ZT_TMP/web-server.log" --max-seconds 300
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started" "$(cat "$ZT_TMP/web.log")"; exit 1; }

tcp_off() { timeout 4 ip netns exec "$C" "${ZT_NET[@]}" tcp $OFF $PORT --timeout 1.2 --tag "l$$"; }
ping_onl() { timeout 4 ip netns exec "$C" ping -6 -n -c 1 -W 2 $ONL; }
ping_me() { timeout 4 ip netns exec "$N" ping -6 -n -c 1 -W 2 $ME; }

# join_groups: a short-lived socket in the client that joins an IPv6 and an
# IPv4 group on c0; the kernel sends the MLD and IGMP reports itself.
join_groups() {
	timeout 6 ip netns exec "$C" "$ZT_PY" - <<'PY'
import socket, struct, time
idx = socket.if_nametoindex("c0")
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
              socket.inet_pton(socket.AF_INET6, "ff12::db8:1") + struct.pack("@I", idx))
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
              socket.inet_aton("239.1.2.3") + socket.inet_aton("192.0.2.1"))
time.sleep(1.5)
PY
}

# ------------------------------------------------------------------ baseline
echo "# baseline: no ztdnsd: every probe arrives (so later zeros mean something)"
for k in mobility hip shim6; do
	expect "baseline: NS behind $k, hop limit 255, to $OFF" arrives off-all send $k $OFF
done
expect "baseline: NS, hop limit 255, to the off-link $OFF" arrives off-all send ns $OFF
expect "baseline: NS with 512 bytes of options to the on-link $ONL" arrives onl-ns send ns $ONL --extra 512
expect "baseline: MLD-shaped report (hop limit 1) to $OFF" arrives off-all send mld $OFF
expect "baseline: TCP to $OFF:$PORT" arrives off-tcp tcp_off

# ------------------------------------------------------------------ lockdown
cat >"$ZT_TMP/zt.json" <<EOF
{"mode":"host",
 "servers":[{"name":"pdns","protocol":"dot","address":"192.0.2.53","tls_name":"pdns.test"}],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "log":{"level":"info","verdicts":true,"verdict_file":"$VLOG"}}
EOF
daemon_start || exit 1

echo "# (6) the rendered NDP rules"
rs=$(ns_exec "$C" ip6tables-save 2>&1)
check "(6) NS/NA accepted toward the on-link 2001:db8:1::/64 on c0 only" \
	grep -q -- "-A ZTDNS-OUT -d 2001:db8:1::/64 -o c0 -p ipv6-icmp -m icmp6 --icmpv6-type 135/0 -m hl --hl-eq 255 -m length --length 64:96 -j ACCEPT" <<<"$rs"
check_eq "(6) no NDP accept names the routed 2001:db8:10::/64" 0 "$(grep -c '2001:db8:10::' <<<"$rs")"
check_eq "(6) every ipv6-icmp ACCEPT is toward fe80::/10, ff02::/16 or an on-link prefix" 0 \
	"$(grep -- '-A ZTDNS-OUT' <<<"$rs" | grep 'ipv6-icmp' | grep -- '-j ACCEPT' |
		grep -cv -e '-d fe80::/10' -e '-d ff02::/16' -e '-d 2001:db8:1::/64 -o c0')"
check "(6) MLD is queued to the daemon, not accepted in the kernel" \
	grep -q -- "-A ZTDNS-OUT -d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type 143 -m hl --hl-eq 1 -j NFQUEUE --queue-num $QNUM" <<<"$rs"

# A prefix that appears later is rendered at the next reload (SIGHUP).
ns_addr "$C" c0 2001:db8:2::1/64
late_rule() { ns_exec "$C" ip6tables-save | grep -q -- "-A ZTDNS-OUT -d 2001:db8:2::/64 -o c0 -p ipv6-icmp"; }
check_fail "(6) a prefix added after the start is not rendered before a reload" late_rule
kill -HUP "$ZTD_PID"
check "(6) after SIGHUP, NS/NA toward the new on-link 2001:db8:2::/64 are accepted" wait_for 10 late_rule

echo "# (1) NS behind Mobility/HIP/Shim6 with hop limit 255 toward a global address"
for k in mobility hip shim6; do
	expect "(1) NS behind $k, hop limit 255, to $OFF" nothing off-all send $k $OFF
done
for p in 135 139 140; do
	n=$(grep -F "\"dst\":\"$OFF\"" "$VLOG" 2>/dev/null | grep -F "\"proto\":\"$p\"" |
		grep -c '"reason":"never-resolved"')
	check "(1) verdict log: protocol $p to $OFF dropped as never-resolved (not infra)" test "${n:-0}" -ge 1
done
check_eq "(1) no infra verdict for $OFF" 0 "$(grep -F "\"dst\":\"$OFF\"" "$VLOG" 2>/dev/null | grep -c '"reason":"infra"')"

echo "# (2) a plain NS with hop limit 255 toward the off-link address"
expect "(2) NS (24 bytes + link-layer option), hop limit 255, to the off-link $OFF" nothing off-all send ns $OFF
expect "(2) NS with 512 bytes of options, hop limit 255, to the off-link $OFF" nothing off-all send ns $OFF --extra 512

echo "# (1, 2) the same far end receives an allowed flow"
expect "(1, 2) TCP to $OFF:$PORT, not allowed" nothing off-all tcp_off
ctl allow $OFF --ttl 60 >/dev/null
expect "(1, 2) the same far end, allowed (ztdnsctl allow): TCP to $OFF:$PORT" arrives off-tcp tcp_off
ctl revoke $OFF >/dev/null
# The allowed connection's last packets (FIN, ACK) are its own: let them
# pass before anything else is counted at $OFF.
sleep 1

echo "# (3) NS toward the on-link neighbour, by size"
expect "(3) NS with 512 bytes of options to the on-link $ONL" nothing onl-ns send ns $ONL --extra 512
expect "(3) NS with 32 bytes of options to the on-link $ONL (past the 64:96 bound)" nothing onl-ns send ns $ONL --extra 32
expect "(3) NS (24 bytes + link-layer option) to the on-link $ONL" arrives onl-ns send ns $ONL
expect "(3) NS with a hop limit of 64 to the on-link $ONL" nothing onl-ns send ns $ONL --hlim 64

echo "# (4) genuine neighbour discovery with flushed caches"
neigh_fresh
check_fail "(4) ping6 $ONL, not allowed: no answer" ping_onl
ctl allow $ONL --ttl 60 >/dev/null
neigh_fresh
b=$(raw_get 6 onl-echo)
check "(4) ping6 $ONL (allowed, on-link) works after the neighbour caches were flushed" ping_onl
check "(4) the far end counted the echo request" test "$(raw_get 6 onl-echo)" -gt "$b"
ctl revoke $ONL >/dev/null
neigh_fresh
# The neighbour resolves us (its NS, our unicast NA to its global address),
# then its echo request is a flow a peer starts from an address nothing
# proved: ZTDNS-IN refuses it (t_inbound.sh). What matters here is the NA,
# and it is owed only if the neighbour asked: an NS counted leaving it. A
# neighbour that still knew us (an entry the flush left, or one learned again
# from our own traffic) sends none; that is shown, and tried once more.
for try in 1 2; do
	b=$(raw_get 6 onl-na)
	bns=$(nout_get)
	check_fail "(4) the neighbour's ping6 of $ME: its echo request is refused by ZTDNS-IN" ping_me
	sleep 0.3
	nns=$(nout_get)
	[ "${nns:-0}" -gt "${bns:-0}" ] && break
	diag "(4) try $try: the neighbour sent no NS for $ME ($bns -> $nns): $(ip -n "$N" -6 neigh show dev n0 | tr '\n' ';')"
	neigh_fresh
done
check "(4) the neighbour asked for $ME (its NS left it: $bns -> $nns)" test "${nns:-0}" -gt "${bns:-0}"
check "(4) the far end counted our unicast NA to $ONL" test "$(raw_get 6 onl-na)" -gt "$b"

echo "# (5) MLD and IGMP reports"
i0=$(infra_count)
bm=$(raw_get 6 mld)
bi=$(raw_get 4 igmp)
join_groups
sleep 0.5
nm=$(raw_get 6 mld)
ni=$(raw_get 4 igmp)
i1=$(infra_count)
check "(5) an MLDv2 report to ff02::16 left (far end $bm -> $nm)" test "$nm" -gt "$bm"
check "(5) an IGMPv3 report to 224.0.0.22 left (far end $bi -> $ni)" test "$ni" -gt "$bi"
check "(5) the daemon counted them: infra verdicts $i0 -> $i1 (at least 2 more)" test "$i1" -ge $((i0 + 2))
check "(5) verdict log: ff02::16 accepted as infra" grep -q '"reason":"infra".*"dst":"ff02::16"' "$VLOG"
check "(5) verdict log: 224.0.0.22 accepted as infra" grep -q '"reason":"infra".*"dst":"224.0.0.22"' "$VLOG"
expect "(5) an MLD-shaped report with hop limit 1 to the global $OFF" nothing off-all send mld $OFF

if pid_alive "$ZTD_PID"; then ok "ztdnsd still running at the end"
else not_ok "ztdnsd still running at the end" "$(tail -n 20 "$ZT_TMP/ztdnsd.log")"; fi
bg_stop "$ZTD_PID" TERM 8
ZTD_PID=
zt_summary
