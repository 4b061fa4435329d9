#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_scope.sh BUILD_DIR — a gateway client's scope cannot be forged (DESIGN.md
# invariant 10, issue 10 section 3): allowances are bound to the LAN interface
# and the MAC address of the client's lookup, sources must be in their
# interface's client subnets, ICMP errors from the LAN pass only about the
# sender's own flow, client identities follow interface and subnet, and the
# gateway's infra rule is not the LAN's.
#
# Topology (five namespaces made here, removed on every exit path):
#
#   ztsa$$ A  a0 192.0.2.130/25 --la--+                     ztsi$$ "the internet"  i0 198.18.0.2/24
#   ztsb$$ B  b0 192.0.2.200/25 --lb--+ lan0 (bridge)          lo 203.0.113.54  nginx stream mTLS :853
#                                     | 192.0.2.129/25             CN idA -> unbound 127.0.0.2:53 (polA)
#                       ztsg$$ gateway (ztdnsd)                    CN idB -> unbound 127.0.0.3:53 (polB)
#   ztsc$$ C  c0 192.0.2.2/26 ---------- lan1 192.0.2.1/26         CN idC -> unbound 127.0.0.4:53 (polC)
#                                       wan0 198.18.0.1/24 ----    198.51.100.0/24 local: ztnet.py serve
#                                                                  (tcp 7001); udp 7003 echo on X
#
# B is the attacker: it writes other hosts' source addresses into packets it
# sends from its own MAC address (raw sockets, test/integration/ztforge.py).
# Every "blocked" is judged at the far end (iptables counters in the internet
# namespace's INPUT, or the backend resolver's query log behind the mTLS
# terminator), and the same packet is shown to arrive there without ztdnsd
# (part 0) or the same destination reachable for the legitimate client.
#
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID (daemon, unbound, nginx, server logs).

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_scope.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
for tool in unbound nginx dig; do
	command -v $tool >/dev/null || { not_ok "$tool is installed"; exit 1; }
done
wait_for 30 test -x "$ZTD" -a -x "$ZTC" || { not_ok "ztdnsd and ztdnsctl are built in $BUILD"; exit 1; }

A=ztsa$$
B=ztsb$$
C=ztsc$$
G=ztsg$$
I=ztsi$$
A_IP=192.0.2.130
B_IP=192.0.2.200
C_IP=192.0.2.2
UNUSED=192.0.2.140 # in A's identity subnet 192.0.2.128/26, nobody's address
GW_LAN=192.0.2.129
GW_LAN1=192.0.2.1
MTLS=203.0.113.54
X=198.51.100.10
PKI=$ZT_TMP/pki
SOCK=$ZT_TMP/ctl.sock
CONF=$ZT_TMP/ztdnsd.json
QNUM=17
ZTD_PID=
FORGE=("$ZT_PY" "$ZT_LIB_DIR/ztforge.py")

ctl() { timeout 8 ip netns exec "$G" "$ZTC" -s "$SOCK" "$@"; }
ctlj() { ctl --json "$@"; }

# reason FROM ADDR PORT
reason() { ctlj explain "$2" --from "$1" --port "$3" 2>/dev/null | json_get reason; }
expect_reason() { # WHY FROM ADDR PORT REASON
	local r
	r=$(reason "$2" "$3" "$4")
	check_eq "$1: explain $3:$4 --from $2 -> $5" "$5" "$r"
}

# status_ge WHY PATH MIN: a daemon counter (ztdnsctl status) is at least MIN.
status_ge() {
	local n
	n=$(ctlj status 2>/dev/null | json_get "$2")
	if [ "$n" -ge "$3" ] 2>/dev/null; then
		ok "$1: status $2 = $n (>= $3)"
	else
		not_ok "$1: status $2 >= $3" "got: $n"
	fi
}

# far-end counters, made on first use
fctr() { # NAME MATCH...: print the count
	local name=$1
	shift
	[ -n "$(ctr_get "$I" 4 "$name")" ] || ctr_add "$I" 4 "$name" "$@"
	ctr_get "$I" 4 "$name"
}
syn_from() { fctr "syn-$1-$2-$3" -s "$1" -d "$2" -p tcp --dport "$3" --syn; }
icmp_from() { fctr "icmp3-$1-$2" -s "$1" -d "$2" -p icmp --icmp-type 3; }

# moved WHY BEFORE CMD...: CMD (a counter) ends above BEFORE within 3 s.
moved() {
	local why=$1 before=$2 now i
	shift 2
	for ((i = 0; i < 30; i++)); do
		now=$("$@")
		[ "${now:-0}" -gt "${before:-0}" ] && break
		sleep 0.1
	done
	if [ "${now:-0}" -gt "${before:-0}" ]; then
		ok "$why (far end $before -> $now)"
	else
		not_ok "$why" "far-end counter $before -> $now"
	fi
}
# stayed WHY BEFORE CMD...: 0.6 s later CMD still equals BEFORE.
stayed() {
	local why=$1 before=$2 now
	shift 2
	sleep 0.6
	now=$("$@")
	if [ -n "$before" ] && [ "$now" = "$before" ]; then
		ok "$why (far end stays $now)"
	else
		not_ok "$why" "far-end counter $before -> $now"
	fi
}

tcp_probe() { timeout 4 ip netns exec "$1" "${ZT_NET[@]}" tcp "$2" "${3:-7001}" --timeout 1.2 --tag "s$$" >/dev/null 2>&1; }
forge() { local ns=$1; shift; timeout 10 ip netns exec "$ns" "${FORGE[@]}" "$@"; }

# dnsq NS SERVER NAME: "STATUS ADDR..." (NONE: no answer)
dnsq() {
	local out st
	out=$(timeout 10 ip netns exec "$1" dig @"$2" +time=3 +tries=1 +noall +comments +answer "$3" A 2>&1)
	st=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | head -n 1)
	# shellcheck disable=SC2046
	echo "${st:-NONE}" $(awk '$4 == "A" { print $5 }' <<<"$out" | sort)
}
expect_dns() { # WHY NS SERVER NAME EXPECTED
	local got
	got=$(dnsq "$2" "$3" "$4")
	check_eq "$1: dig @$3 $4 -> $5" "$5" "${got% }"
}

# asked BACKEND NAME: how many queries for NAME the backend resolver logged.
asked() { grep -c "info: .* $2\. A IN" "$ZT_TMP/ub-$1/unbound.log" 2>/dev/null; }

# conf_write EXTRA_GATEWAY_JSON
conf_write() {
	cat >"$CONF.tmp" <<EOF
{"mode":"gateway",
 "servers":[{"name":"mtls","protocol":"dot","address":"$MTLS","tls_name":"mtls.test","ca_file":"$PKI/ca.pem"}],
 "client_cert":"$PKI/idA.pem","client_key":"$PKI/idA.key",
 "listen":["127.0.0.1:53","$GW_LAN:53","$GW_LAN1:53"],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "limits":{"upstream_timeout_ms":2000},
 "log":{"level":"info","verdicts":true,"verdict_file":"$ZT_TMP/verdicts.log"},
 "gateway":{"lan":[{"interface":"lan0","subnets":["192.0.2.128/25"]},
                   {"interface":"lan1","subnets":["192.0.2.0/26"]}],
  "client_identities":[
   {"interface":"lan0","subnet":"192.0.2.128/26","client_cert":"$PKI/idA.pem","client_key":"$PKI/idA.key"},
   {"interface":"lan0","subnet":"192.0.2.192/26","client_cert":"$PKI/idB.pem","client_key":"$PKI/idB.key"},
   {"interface":"lan1","subnet":"192.0.2.0/26","client_cert":"$PKI/idC.pem","client_key":"$PKI/idC.key"}]${1:+,
  $1}}}
EOF
	mv "$CONF.tmp" "$CONF"
}

stub_listens() { ns_exec "$G" ss -Hlun "sport = :53" | grep -q "$GW_LAN1:53"; }

# ------------------------------------------------------------------ topology

ns_new "$A" && ns_new "$B" && ns_new "$C" && ns_new "$G" && ns_new "$I" ||
	{ not_ok "create namespaces"; exit 1; }
ip -n "$G" link add lan0 type bridge || { not_ok "bridge lan0 in the gateway"; exit 1; }
ns_veth "$A" a0 "$G" la && ns_veth "$B" b0 "$G" lb && ns_veth "$C" c0 "$G" lan1 &&
	ns_veth "$G" wan0 "$I" i0 || { not_ok "create veth pairs"; exit 1; }
ip -n "$G" link set la master lan0
ip -n "$G" link set lb master lan0
ip -n "$G" link set lan0 up
ns_addr "$G" lan0 $GW_LAN/25
ns_addr "$G" lan1 $GW_LAN1/26
ns_addr "$G" wan0 198.18.0.1/24
# Forwarding on; no ICMP redirects; rp_filter off, so that what stops a
# forged source below is ztdns and nothing else.
ns_exec "$G" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
	net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
	net.ipv4.conf.lan0.rp_filter=0 net.ipv4.conf.lan1.rp_filter=0 net.ipv4.conf.wan0.rp_filter=0
ip -n "$G" route add 198.51.100.0/24 via 198.18.0.2
ip -n "$G" route add 203.0.113.0/24 via 198.18.0.2
ns_addr "$A" a0 $A_IP/25
ns_addr "$B" b0 $B_IP/25
ns_addr "$C" c0 $C_IP/26
for ns in "$A" "$B"; do
	for r in 198.51.100.0/24 203.0.113.0/24 198.18.0.0/24; do ip -n "$ns" route add $r via $GW_LAN; done
done
for r in 198.51.100.0/24 203.0.113.0/24 198.18.0.0/24; do ip -n "$C" route add $r via $GW_LAN1; done
ns_addr "$I" i0 198.18.0.2/24
ip -n "$I" route add 192.0.2.0/24 via 198.18.0.1
ns_addr "$I" lo $MTLS/32
ip -n "$I" route add local 198.51.100.0/24 dev lo
for a in 127.0.0.2 127.0.0.3 127.0.0.4; do ip -n "$I" addr add $a/8 dev lo 2>/dev/null; done
ctr_setup "$I" || { not_ok "far-end counting chains"; exit 1; }

bg_start web "$I" "${ZT_NET[@]}" serve --tcp 7001 --udp 7002 --log "$ZT_TMP/web-server.log" --max-seconds 900
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started"; exit 1; }
# A UDP echo bound to X itself: its answers belong to the client's flow (the
# web server's UDP socket answers from the route's source address instead).
bg_start echo "$I" "${FORGE[@]}" udp-echo $X 7003 --seconds 900
wait_for 5 grep -q ready "$ZT_TMP/echo.log" || { not_ok "udp echo started"; exit 1; }

pki_init "$PKI"
pki_server "$PKI" mtls ca mtls.test $MTLS
pki_server "$PKI" be ca be.test 127.0.0.2
for id in idA idB idC; do pki_client "$PKI" $id ca $id; done
printf 'web.test. 60 A %s\nforged1.test. 60 A 198.51.100.41\npolicy.test. 60 A 198.51.100.31\n' $X >"$ZT_TMP/polA.data"
printf 'web.test. 60 A %s\npolicy.test. 60 A 198.51.100.32\n' $X >"$ZT_TMP/polB.data"
printf 'web.test. 60 A %s\nctest.test. 60 A 198.51.100.43\npolicy.test. 60 A 198.51.100.33\n' $X >"$ZT_TMP/polC.data"
for b in polA:127.0.0.2 polB:127.0.0.3 polC:127.0.0.4; do
	label=${b%%:*} addr=${b#*:} dir=$ZT_TMP/ub-${b%%:*}
	mkdir -p "$dir"
	pdns_unbound_conf "$dir" "$addr" "$PKI/be.pem" "$PKI/be.key" "$ZT_TMP/$label.data" 53 >"$dir/unbound.conf"
	pdns_unbound_start "$I" "$dir" || { not_ok "unbound $label configuration" "$(unbound-checkconf "$dir/unbound.conf" 2>&1)"; exit 1; }
	ZT_PIDS+=("$PDNS_PID")
	ZT_PID_LABELS+=("unbound-$label")
	pdns_wait_port "$I" "$addr" 53 || { not_ok "unbound $label listening"; exit 1; }
done
NGX=$ZT_TMP/nginx
mkdir -p "$NGX"
cat >"$NGX/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
pid $NGX/nginx.pid;
user root;
events { worker_connections 64; }
stream {
	log_format s '\$msec \$remote_addr dn="\$ssl_client_s_dn" up=\$upstream_addr';
	access_log $NGX/stream-access.log s;
	map \$ssl_client_s_dn \$be {
		~CN=idA 127.0.0.2:53;
		~CN=idB 127.0.0.3:53;
		~CN=idC 127.0.0.4:53;
		default 127.0.0.9:9;
	}
	server {
		listen $MTLS:853 ssl;
		ssl_certificate $PKI/mtls.pem;
		ssl_certificate_key $PKI/mtls.key;
		ssl_client_certificate $PKI/ca.pem;
		ssl_verify_client on;
		proxy_pass \$be;
	}
}
EOF
nginx_start nginx "$I" "$NGX" "$NGX/nginx.conf" 2>"$ZT_TMP/nginx-t.log" || { not_ok "nginx configuration" "$(cat "$ZT_TMP/nginx-t.log")"; exit 1; }
pdns_wait_port "$I" $MTLS 853 || { not_ok "nginx mTLS terminator listening"; exit 1; }
ok "three backend resolvers behind an mTLS terminator (idA -> polA, idB -> polB, idC -> polC)"
# Unrelated rules the daemon must leave alone (and that make the tables
# exist before, so that before and after compare like for like).
for t in iptables ip6tables; do
	ns_exec "$G" $t -w 5 -A FORWARD -p tcp --dport 2222 -m comment --comment "ztdns-test unrelated" -j ACCEPT
	ns_exec "$G" $t -w 5 -t nat -A PREROUTING -p udp --dport 9998 -j RETURN
done
RULES_BEFORE=$(ruleset_save "$G")

# ================================================================== (0) baseline

echo "# (0) without ztdnsd every forged packet below reaches the far end, so later zeros mean something"
n=$(syn_from $A_IP $X 7001)
tcp_probe "$A" $X
moved "(0) A's own connection to $X:7001 arrives" "$n" syn_from $A_IP $X 7001
n=$(syn_from $A_IP $X 7001)
forge "$B" syn $A_IP $X 7001
moved "(0) B's SYNs forged with A's source arrive" "$n" syn_from $A_IP $X 7001
n=$(syn_from $C_IP $X 7001)
forge "$B" syn $C_IP $X 7001
moved "(0) B's SYNs forged with a lan1 source ($C_IP) arrive" "$n" syn_from $C_IP $X 7001
n=$(icmp_from $B_IP $X)
forge "$B" icmp-unreach $B_IP $X $X 7003 $A_IP 40001
moved "(0) B's ICMP error quoting a flow of A's arrives" "$n" icmp_from $B_IP $X
n=$(syn_from $A_IP $MTLS 853)
tcp_probe "$A" $MTLS 853
moved "(0) A reaches the Protective DNS server $MTLS:853 directly" "$n" syn_from $A_IP $MTLS 853

# ================================================================== run

conf_write
out=$(timeout 5 "$ZTD" --print-ruleset -c "$CONF" 2>&1)
if grep -q -- "-I FORWARD 1 -i lan0 -s 192.0.2.128/25 -j ZTDNS-FWD" <<<"$out" &&
	grep -q -- "-I FORWARD 1 -i lan0 -j ZTDNS-SPOOF" <<<"$out" &&
	grep -q -- "-A ZTDNS-FWD -m conntrack --ctstate NEW,RELATED -j NFQUEUE" <<<"$out" &&
	! grep -q -- "-A ZTDNS-FWD -d $MTLS" <<<"$out"; then
	ok "--print-ruleset: per-subnet FORWARD jumps, ZTDNS-SPOOF drop, RELATED queued, no infra accept in ZTDNS-FWD"
else
	not_ok "--print-ruleset: gateway scope rules" "$out"
fi
out=$(timeout 5 "$ZTD" --check -c "$CONF" 2>&1) || { not_ok "ztdnsd --check" "$out"; exit 1; }
bg_start ztdnsd "$G" "$ZTD" -c "$CONF" --foreground -v
ZTD_PID=$BG_PID
if wait_for 15 ctl wait-ready --timeout 1 && wait_for 5 stub_listens; then
	ok "ztdnsd (gateway, gateway.lan with client subnets) ready"
else
	not_ok "ztdnsd ready" "$(tail -n 20 "$ZT_TMP/ztdnsd.log" 2>/dev/null)"
	exit 1
fi

echo "# (1) A's lookup allows A"
expect_dns "(1) A" "$A" $GW_LAN web.test "NOERROR $X"
n=$(syn_from $A_IP $X 7001)
tcp_probe "$A" $X
moved "(1) A reaches $X after its own lookup" "$n" syn_from $A_IP $X 7001
expect_reason "(1)" $A_IP $X 7001 learned

echo "# (2) B writing A's source address from its own MAC does not get A's allowance"
n=$(syn_from $A_IP $X 7001)
forge "$B" syn $A_IP $X 7001
stayed "(2) B's SYNs forged with A's source are dropped" "$n" syn_from $A_IP $X 7001
status_ge "(2)" verdicts.by_reason.wrong-link 1
n=$(syn_from $A_IP $X 7001)
tcp_probe "$A" $X
moved "(2) A itself still reaches $X" "$n" syn_from $A_IP $X 7001

echo "# (3) a source outside the arrival interface's subnets is dropped in the kernel"
n=$(syn_from $C_IP $X 7001)
forge "$B" syn $C_IP $X 7001
stayed "(3) B's SYNs with lan1's source $C_IP (sent on lan0) are dropped" "$n" syn_from $C_IP $X 7001
sp=$(ns_exec "$G" iptables -w 5 -L ZTDNS-SPOOF -v -x -n 2>/dev/null | awk '$3 == "DROP" { print $1; exit }')
if [ "${sp:-0}" -ge 3 ] 2>/dev/null; then ok "(3) ZTDNS-SPOOF counted them ($sp packets)"
else not_ok "(3) ZTDNS-SPOOF counted them" "$(ns_exec "$G" iptables -w 5 -L ZTDNS-SPOOF -v -x -n 2>&1)"; fi

echo "# (4) a DNS query from an unused address teaches nothing"
qa=$(asked polA forged1.test)
forge "$B" dns $UNUSED $GW_LAN forged1.test
sleep 1
check_eq "(4) the backend behind idA never saw forged1.test" "${qa:-0}" "$(asked polA forged1.test)"
status_ge "(4)" dns.scope_no_neighbour 1
expect_reason "(4) nothing learned for $UNUSED" $UNUSED 198.51.100.41 7001 never-resolved
n=$(syn_from $UNUSED 198.51.100.41 7001)
forge "$B" syn $UNUSED 198.51.100.41 7001
stayed "(4) B's SYNs from $UNUSED to 198.51.100.41 are dropped" "$n" syn_from $UNUSED 198.51.100.41 7001
expect_dns "(4) A asks forged1.test itself" "$A" $GW_LAN forged1.test "NOERROR 198.51.100.41"
if [ "$(asked polA forged1.test)" -gt "${qa:-0}" ] 2>/dev/null; then
	ok "(4) ... and the backend behind idA logged it (the far end sees such queries)"
else
	not_ok "(4) the backend behind idA logged A's forged1.test" "$(tail -n 5 "$ZT_TMP/ub-polA/unbound.log")"
fi
n=$(syn_from $A_IP 198.51.100.41 7001)
tcp_probe "$A" 198.51.100.41
moved "(4) A reaches 198.51.100.41 after its lookup" "$n" syn_from $A_IP 198.51.100.41 7001

echo "# (5) identities follow interface and subnet: a forged lan1 source on lan0 does not get idC"
qc=$(asked polC ctest.test)
forge "$B" dns $C_IP $GW_LAN ctest.test
sleep 1
check_eq "(5) the backend behind idC never saw B's forged ctest.test" "${qc:-0}" "$(asked polC ctest.test)"
status_ge "(5)" dns.scope_refused 1
expect_dns "(5) C (lan1, idC) asks ctest.test" "$C" $GW_LAN1 ctest.test "NOERROR 198.51.100.43"
if [ "$(asked polC ctest.test)" -gt "${qc:-0}" ] 2>/dev/null; then
	ok "(5) ... and the backend behind idC logged C's query"
else
	not_ok "(5) the backend behind idC logged C's query" "$(tail -n 5 "$ZT_TMP/ub-polC/unbound.log")"
fi
expect_dns "(5) A gets idA's policy" "$A" $GW_LAN policy.test "NOERROR 198.51.100.31"
expect_dns "(5) B gets idB's policy" "$B" $GW_LAN policy.test "NOERROR 198.51.100.32"
expect_dns "(5) C gets idC's policy" "$C" $GW_LAN1 policy.test "NOERROR 198.51.100.33"

echo "# (6) ICMP errors from the LAN: only about the sender's own flow"
n=$(icmp_from $A_IP $X)
forge "$A" udp-closed $A_IP 40001 $X 7003
moved "(6) A's genuine port unreachable (its own flow $X:7003 -> $A_IP:40001) passes" "$n" icmp_from $A_IP $X
status_ge "(6)" verdicts.by_reason.related 1
n=$(icmp_from $B_IP $X)
forge "$B" icmp-unreach $B_IP $X $X 7003 $A_IP 40001
stayed "(6) B's ICMP error quoting A's flow is dropped" "$n" icmp_from $B_IP $X
status_ge "(6)" verdicts.by_reason.foreign-related 1
n=$(icmp_from $A_IP $X)
w=$(ctlj status 2>/dev/null | json_get verdicts.by_reason.wrong-link)
forge "$B" icmp-unreach $A_IP $X $X 7003 $A_IP 40001
stayed "(6) B's ICMP error quoting A's flow with A's source is dropped" "$n" icmp_from $A_IP $X
status_ge "(6) the forged one was judged wrong-link" verdicts.by_reason.wrong-link $((${w:-0} + 1))

echo "# (7) the infra rule is the gateway's own: LAN clients do not reach the Protective DNS server"
n=$(syn_from $A_IP $MTLS 853)
tcp_probe "$A" $MTLS 853
stayed "(7) A's connection to $MTLS:853 is dropped" "$n" syn_from $A_IP $MTLS 853
expect_reason "(7)" $A_IP $MTLS 853 never-resolved
conf_write '"lan_may_reach_servers":true'
lines=$(wc -l <"$ZT_TMP/ztdnsd.log")
kill -HUP "$ZTD_PID"
reloaded() { tail -n +$((lines + 1)) "$ZT_TMP/ztdnsd.log" | grep -q 'configuration reloaded'; }
wait_for 5 reloaded && ok "(7) SIGHUP with gateway.lan_may_reach_servers: true" ||
	not_ok "(7) reload" "$(tail -n 5 "$ZT_TMP/ztdnsd.log")"
expect_reason "(7) when configured" $A_IP $MTLS 853 infra
n=$(syn_from $A_IP $MTLS 853)
tcp_probe "$A" $MTLS 853
moved "(7) when configured, A reaches $MTLS:853" "$n" syn_from $A_IP $MTLS 853

echo "# (8) clean stop"
if pid_alive "$ZTD_PID"; then ok "(8) ztdnsd ran through every part"; else not_ok "(8) ztdnsd ran through every part" "$(tail -n 20 "$ZT_TMP/ztdnsd.log")"; fi
bg_stop "$ZTD_PID" TERM 8
check_eq "(8) ztdnsd exits 0 on SIGTERM" 0 "$?"
now=$(ruleset_save "$G")
if [ "$RULES_BEFORE" = "$now" ]; then ok "(8) the gateway's ruleset is as before the start"
else not_ok "(8) the gateway's ruleset is as before the start" "$(diff <(echo "$RULES_BEFORE") <(echo "$now"))"; fi
if [ "$ZT_FAIL" -gt 0 ]; then
	diag "--- ztdnsd log"
	diag "$(tail -n 40 "$ZT_TMP/ztdnsd.log")"
	diag "$(ctr_dump "$I")"
	diag "$(ns_exec "$G" iptables -w 5 -L -v -n -x 2>&1)"
fi
exit 0
