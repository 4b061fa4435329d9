#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_gateway.sh BUILD_DIR — integration test of gateway mode: LAN clients
# behind a router that runs ztdnsd (FORWARD and OUTPUT enforced, plain DNS from
# the LAN redirected to the stub, allowances scoped per client, client
# identities toward the Protective DNS servers).
#
# Topology (four namespaces made here, removed on every exit path):
#
#   ztga$$ client A                ztgg$$ gateway (ztdnsd, mode gateway)         ztgi$$ "the internet"
#     a0 192.0.2.130/25 <-veth-> la --+                                           i0 198.18.0.2/24
#                                    lan0 (bridge) 192.0.2.129/25                  192.0.2.128/25 via 198.18.0.1
#   ztgb$$ client B                   |    wan0 198.18.0.1/24 <------- veth ------> lo: 203.0.113.53  unbound pdns.test (DoT, DoH)
#     b0 192.0.2.200/25 <-veth-> lb --+    198.51.100.0/24, 203.0.113.0/24            203.0.113.54  nginx stream mTLS :853,
#                                          via 198.18.0.2                                           CN idA -> unbound 127.0.0.2:53
#   A and B route 198.51.100.0/24,                                                                  CN idB -> unbound 127.0.0.3:53
#   203.0.113.0/24 and 198.18.0.0/24                                                   203.0.113.77  unapproved unbound (DoT, DoH)
#   via 192.0.2.129 (no default route                                                  203.0.113.99  rogue plain resolver (unbound :53)
#   anywhere: nothing can leave the lab).                                              198.51.100.0/24 local (AnyIP): ztnet.py
#                                                                                      serve, tcp 7001 on every address
#
# A is in 192.0.2.128/26 and B in 192.0.2.192/26, the two client-identity
# subnets of part (6). The far end counts, in its INPUT path, TCP SYNs per
# destination and port and every packet to the rogue resolver (lib.sh ctr_*):
# every "blocked" below is judged there, and the same destination is shown
# reachable when policy allows it (the client's own lookup, an operator allow,
# shared allowances, or no daemon at all).
#
# Parts: (0) baseline without ztdnsd, (1) per-client scoping, (2) plain DNS to
# a rogue resolver redirected to the stub, (3) hard-coded addresses and
# operator allows, (4) DoT/DoH to an unapproved server, (7) the gateway's own
# OUTPUT, (5) shared_allowances by SIGHUP, (8) clean stop restores the ruleset,
# (6) client identities (restart), (8) again after the second run, (10) the
# answer cache (cache.enabled) kept per identity, (9) one LAN
# client's allowset quota (limits.learned_per_client) leaves the other's whole.
#
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID (daemon, unbound, nginx, server logs).

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_gateway.sh BUILD_DIR"
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
if [ ! -x "$ZTD" ] || [ ! -x "$ZTC" ]; then
	# The lead may be rebuilding: give it a moment.
	wait_for 30 test -x "$ZTD" -a -x "$ZTC" ||
		{ not_ok "ztdnsd and ztdnsctl are built in $BUILD"; exit 1; }
fi

A=ztga$$
B=ztgb$$
G=ztgg$$
I=ztgi$$
A_IP=192.0.2.130
B_IP=192.0.2.200
GW_LAN=192.0.2.129
PDNS=203.0.113.53
MTLS=203.0.113.54
UNAPP=203.0.113.77
ROGUE=203.0.113.99
PKI=$ZT_TMP/pki
SOCK=$ZT_TMP/ctl.sock
CONF=$ZT_TMP/ztdnsd.json
TCP_PORT=7001
QNUM=13
PROBE_TIMEOUT=1.2
ZTD_PID=
ZTD_RUN=0
ZTD_LOG=
ZTD_LABEL=

# ------------------------------------------------------------------ helpers

# The lead may rebuild the binaries while this runs: wait (bounded) for them.
ctl() {
	[ -x "$ZTC" ] || wait_for 30 test -x "$ZTC"
	timeout 8 ip netns exec "$G" "$ZTC" -s "$SOCK" "$@"
}
ctlj() { ctl --json "$@"; }

# reason FROM ADDR [PORT]: the verdict reason a new TCP flow from FROM (a
# client address, or "self" for the gateway's own) to ADDR would get now.
reason() {
	local from=() r i
	[ "$1" = self ] || from=(--from "$1")
	for i in 1 2; do
		r=$(ctlj explain "$2" "${from[@]}" --port "${3:-$TCP_PORT}" 2>/dev/null | json_get reason)
		[ "$r" = "<error>" ] || break
		echo "# explain $2 ${from[*]}: no JSON answer (binary being rebuilt?), retrying" >&2
		sleep 0.5
	done
	echo "$r"
}

expect_reason() { # WHY FROM ADDR REASON [PORT]
	local r
	r=$(reason "$2" "$3" "${5:-}")
	if [ "$r" = "$4" ]; then
		ok "$1: explain $3 --from $2 -> $4"
		return 0
	fi
	if [ "$2" = self ]; then
		not_ok "$1: explain $3 --from $2 -> $4" "got: $r" "$(ctlj explain "$3" --port "${5:-$TCP_PORT}" 2>&1)"
	else
		not_ok "$1: explain $3 --from $2 -> $4" "got: $r" "$(ctlj explain "$3" --from "$2" --port "${5:-$TCP_PORT}" 2>&1)"
	fi
	return 1
}

# listed CLIENT ADDR: ADDR is among the allowances of CLIENT (list --client).
listed() {
	ctlj list --client "$1" 2>/dev/null | "$ZT_PY" -c '
import ipaddress, json, sys
want = ipaddress.ip_address(sys.argv[1])
es = json.load(sys.stdin).get("entries", [])
sys.exit(0 if any(ipaddress.ip_address(e["addr"]) == want for e in es) else 1)' "$2"
}

# The far-end SYN counter of ADDR:PORT (the rule is made the first time).
syn_ctr() {
	local a=$1 p=${2:-$TCP_PORT} name="syn-$1-${2:-$TCP_PORT}"
	if [ -z "$(ctr_get "$I" 4 "$name")" ]; then
		ctr_add "$I" 4 "$name" -d "$a" -p tcp --dport "$p" --syn
	fi
	ctr_get "$I" 4 "$name"
}

# tcp_probe NS ADDR: connect, send a line, expect it back (bounded).
tcp_probe() {
	timeout 4 ip netns exec "$1" "${ZT_NET[@]}" tcp "$2" "$TCP_PORT" --timeout "$PROBE_TIMEOUT" --tag "p$$"
}

# expect_reach WHY NS ADDR: the connection succeeds and the far end saw its SYN.
expect_reach() {
	local why=$1 ns=$2 a=$3 before after out rc
	before=$(syn_ctr "$a")
	out=$(tcp_probe "$ns" "$a" 2>&1)
	rc=$?
	after=$(syn_ctr "$a")
	if [ $rc -eq 0 ] && [ -n "$after" ] && [ "$after" -gt "${before:-0}" ]; then
		ok "$why: tcp to $a:$TCP_PORT reaches the server (far-end SYNs $before -> $after)"
		return 0
	fi
	not_ok "$why: tcp to $a:$TCP_PORT reaches the server" "probe exit $rc, far-end SYNs $before -> $after" "$out"
	return 1
}

# expect_deny WHY NS ADDR: the connection fails and no SYN arrived at the far end.
expect_deny() {
	local why=$1 ns=$2 a=$3 before after out rc
	before=$(syn_ctr "$a")
	out=$(tcp_probe "$ns" "$a" 2>&1)
	rc=$?
	sleep 0.2
	after=$(syn_ctr "$a")
	if [ $rc -ne 0 ] && [ -n "$before" ] && [ "$after" = "$before" ]; then
		ok "$why: tcp to $a:$TCP_PORT blocked (far-end SYNs stay $after)"
		return 0
	fi
	not_ok "$why: tcp to $a:$TCP_PORT blocked" "probe exit $rc, far-end SYNs $before -> $after" "$out"
	return 1
}

# dnsq NS SERVER NAME [DIG-OPTION...]: "STATUS ADDR..." from dig (NONE: no answer).
dnsq() {
	local ns=$1 server=$2 name=$3 out st
	shift 3
	out=$(timeout 10 ip netns exec "$ns" dig @"$server" +time=3 +tries=1 "$@" \
		+noall +comments +answer "$name" A 2>&1)
	st=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | head -n 1)
	# shellcheck disable=SC2046 # the addresses, one word each
	echo "${st:-NONE}" $(awk '$4 == "A" { print $5 }' <<<"$out" | sort)
}

# expect_dns WHY NS SERVER NAME EXPECTED [DIG-OPTION...]
expect_dns() {
	local why=$1 ns=$2 server=$3 name=$4 want=$5 got
	shift 5
	got=$(dnsq "$ns" "$server" "$name" "$@")
	got=${got% }
	check_eq "$why: dig @$server $name $* -> $want" "$want" "$got"
}

# expect_dns_blocked WHY NS SERVER PORT NAME DIG-OPTION...: no answer, and no
# SYN to SERVER:PORT arrived at the far end.
expect_dns_blocked() {
	local why=$1 ns=$2 server=$3 port=$4 name=$5 before after got
	shift 5
	before=$(syn_ctr "$server" "$port")
	got=$(dnsq "$ns" "$server" "$name" "$@")
	sleep 0.2
	after=$(syn_ctr "$server" "$port")
	if [ "$got" = NONE ] && [ -n "$before" ] && [ "$after" = "$before" ]; then
		ok "$why: dig @$server $* gets no answer and no SYN reaches $server:$port (stays $after)"
		return 0
	fi
	not_ok "$why: dig @$server $* blocked" "dig: $got; far-end SYNs to :$port $before -> $after"
	return 1
}

# expect_dns_reach WHY NS SERVER PORT NAME EXPECTED DIG-OPTION...
expect_dns_reach() {
	local why=$1 ns=$2 server=$3 port=$4 name=$5 want=$6 before after got
	shift 6
	before=$(syn_ctr "$server" "$port")
	got=$(dnsq "$ns" "$server" "$name" "$@")
	got=${got% }
	after=$(syn_ctr "$server" "$port")
	if [ "$got" = "$want" ] && [ -n "$after" ] && [ "$after" -gt "${before:-0}" ]; then
		ok "$why: dig @$server $* answers '$got' (far-end SYNs to :$port $before -> $after)"
		return 0
	fi
	not_ok "$why: dig @$server $* reaches the server" "dig: '$got' (want '$want'); far-end SYNs to :$port $before -> $after"
	return 1
}

rogue_pkts() { echo $(($(ctr_get "$I" 4 rogue-udp) + $(ctr_get "$I" 4 rogue-tcp))); }

daemon_log() { echo "$ZT_TMP/$ZTD_LOG.log"; }

stub_listens() { ns_exec "$G" ss -Hlun "sport = :53" | grep -q "$GW_LAN:53"; }

# conf_write SERVERS_JSON GATEWAY_EXTRA_JSON [ROOT_EXTRA_JSON]
conf_write() {
	cat >"$CONF.tmp" <<EOF
{"mode":"gateway",
 "servers":[$1],
 "listen":["127.0.0.1:53","$GW_LAN:53"],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "limits":{"upstream_timeout_ms":2000${GW_LIMITS:+,$GW_LIMITS}},
 "log":{"level":"info","verdicts":true,"verdict_file":"$ZT_TMP/verdicts.log"},
 "gateway":{"lan":[{"interface":"lan0","subnets":["192.0.2.128/25"]}]${2:+,$2}}${3:+,
 $3}}
EOF
	mv "$CONF.tmp" "$CONF"
}

# daemon_start LABEL: start ztdnsd in the gateway, wait until it enforces and
# the stub listens on the LAN address. Bounded: about 15 s.
daemon_start() {
	local label=$1 i out
	ZTD_RUN=$((ZTD_RUN + 1))
	ZTD_LOG=ztdnsd-$ZTD_RUN-$label
	ZTD_LABEL=$label
	wait_for 30 test -x "$ZTD" -a -x "$ZTC"
	out=$(timeout 5 "$ZTD" --check -c "$CONF" 2>&1) ||
		{ not_ok "$label: ztdnsd --check accepts the configuration" "$out" "$(cat "$CONF")"; return 1; }
	bg_start "$ZTD_LOG" "$G" "$ZTD" -c "$CONF" --foreground -v
	ZTD_PID=$BG_PID
	for ((i = 0; i < 15; i++)); do
		out=$(ctl wait-ready --timeout 1 2>&1) && break
		pid_alive "$ZTD_PID" || break
		sleep 0.5
	done
	if pid_alive "$ZTD_PID" && ctl wait-ready --timeout 2 >/dev/null 2>&1 && wait_for 5 stub_listens; then
		ok "$label: ztdnsd (gateway) ready, stub listening on $GW_LAN:53"
		return 0
	fi
	not_ok "$label: ztdnsd (gateway) ready, stub listening on $GW_LAN:53" "wait-ready: $out" \
		"$(tail -n 15 "$(daemon_log)" 2>/dev/null)"
	return 1
}

# daemon_stop: SIGTERM, the daemon must exit 0.
daemon_stop() {
	local rc
	[ -z "$ZTD_PID" ] && return 0
	if pid_alive "$ZTD_PID"; then
		ok "$ZTD_LABEL: ztdnsd still running at the end of the part"
	else
		not_ok "$ZTD_LABEL: ztdnsd still running at the end of the part" "$(tail -n 20 "$(daemon_log)")"
	fi
	bg_stop "$ZTD_PID" TERM 8
	rc=$?
	check_eq "$ZTD_LABEL: ztdnsd exits 0 on SIGTERM" 0 "$rc" || diag "$(tail -n 10 "$(daemon_log)")"
	ZTD_PID=
	rm -f "$SOCK"
	return 0
}

# Take the gateway back to "no ztdnsd" by hand when a start failed half way
# (the namespace is deleted at exit anyway; this keeps later parts honest).
ruleset_scrub() {
	local t
	for t in iptables ip6tables; do
		ns_exec "$G" $t -w 5 -D OUTPUT -j ZTDNS-OUT 2>/dev/null
		ns_exec "$G" $t -w 5 -D FORWARD -i lan0 -j ZTDNS-FWD 2>/dev/null
		ns_exec "$G" $t -w 5 -D FORWARD -i lan0 -s 192.0.2.128/25 -j ZTDNS-FWD 2>/dev/null
		ns_exec "$G" $t -w 5 -D FORWARD -i lan0 -j ZTDNS-SPOOF 2>/dev/null
		ns_exec "$G" $t -w 5 -F ZTDNS-SPOOF 2>/dev/null
		ns_exec "$G" $t -w 5 -X ZTDNS-SPOOF 2>/dev/null
		ns_exec "$G" $t -w 5 -t nat -D PREROUTING -i lan0 -j ZTDNS-DNS 2>/dev/null
		ns_exec "$G" $t -w 5 -F ZTDNS-OUT 2>/dev/null
		ns_exec "$G" $t -w 5 -X ZTDNS-OUT 2>/dev/null
		ns_exec "$G" $t -w 5 -F ZTDNS-FWD 2>/dev/null
		ns_exec "$G" $t -w 5 -X ZTDNS-FWD 2>/dev/null
		ns_exec "$G" $t -w 5 -t nat -F ZTDNS-DNS 2>/dev/null
		ns_exec "$G" $t -w 5 -t nat -X ZTDNS-DNS 2>/dev/null
	done
}

# ruleset_compare WHY: the gateway's iptables-save/ip6tables-save (every
# table: filter and nat) equals the one taken before the first start.
ruleset_compare() {
	local now
	now=$(ruleset_save "$G")
	if [ "$RULES_BEFORE" = "$now" ]; then
		ok "$1: iptables-save and ip6tables-save (filter and nat) identical to before the first start"
		return 0
	fi
	not_ok "$1: iptables-save and ip6tables-save identical to before the first start" \
		"$(diff <(echo "$RULES_BEFORE") <(echo "$now"))"
	return 1
}

# ------------------------------------------------------------------ topology

ns_new "$A" && ns_new "$B" && ns_new "$G" && ns_new "$I" ||
	{ not_ok "create namespaces $A $B $G $I"; exit 1; }
ip -n "$G" link add lan0 type bridge || { not_ok "bridge lan0 in the gateway"; exit 1; }
ns_veth "$A" a0 "$G" la && ns_veth "$B" b0 "$G" lb && ns_veth "$G" wan0 "$I" i0 ||
	{ not_ok "create veth pairs"; exit 1; }
ip -n "$G" link set la master lan0
ip -n "$G" link set lb master lan0
ip -n "$G" link set lan0 up
ns_addr "$G" lan0 $GW_LAN/25
ns_addr "$G" wan0 198.18.0.1/24
ns_exec "$G" sysctl -qw net.ipv4.ip_forward=1
# No ICMP redirects from the gateway: the clients must keep using it.
ns_exec "$G" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.lan0.send_redirects=0
ip -n "$G" route add 198.51.100.0/24 via 198.18.0.2
ip -n "$G" route add 203.0.113.0/24 via 198.18.0.2

ns_addr "$A" a0 $A_IP/25
ns_addr "$B" b0 $B_IP/25
for ns in "$A" "$B"; do
	for r in 198.51.100.0/24 203.0.113.0/24 198.18.0.0/24; do
		ip -n "$ns" route add $r via $GW_LAN
	done
done

ns_addr "$I" i0 198.18.0.2/24
ip -n "$I" route add 192.0.2.128/25 via 198.18.0.1
for a in $PDNS $MTLS $UNAPP $ROGUE; do ns_addr "$I" lo $a/32; done
ip -n "$I" route add local 198.51.100.0/24 dev lo
for a in 127.0.0.2 127.0.0.3; do ip -n "$I" addr add $a/8 dev lo 2>/dev/null; done

ctr_setup "$I" || { not_ok "far-end counting chains"; exit 1; }
ctr_add "$I" 4 rogue-udp -d $ROGUE -p udp --dport 53
ctr_add "$I" 4 rogue-tcp -d $ROGUE -p tcp --dport 53
ctr_add "$I" 4 pdns-dot -d $PDNS -p tcp --dport 853 --syn

bg_start web "$I" "${ZT_NET[@]}" serve --tcp "$TCP_PORT" --udp 7002 --log "$ZT_TMP/web-server.log" --max-seconds 900
WEB_PID=$BG_PID
wait_for 5 grep -q 'ready' "$ZT_TMP/web-server.log" || { not_ok "web server started" "$(cat "$ZT_TMP/web.log")"; exit 1; }

# ------------------------------------------------------------------ PKI and servers

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test $PDNS
pki_server "$PKI" mtls ca mtls.test $MTLS
pki_server "$PKI" unapp ca unapproved.test $UNAPP
pki_client "$PKI" idA ca idA
pki_client "$PKI" idB ca idB
PIN=$(pki_spki "$PKI/pdns.pem")
[ ${#PIN} -eq 44 ] || { not_ok "test PKI generated" "pin: $PIN"; exit 1; }

cat >"$ZT_TMP/pdns.data" <<EOF
web.test. 60 A 198.51.100.10
shared.test. 60 A 198.51.100.20
shared2.test. 60 A 198.51.100.21
shared3.test. 60 A 198.51.100.22
gw.test. 60 A 198.51.100.70
q1.test. 300 A 198.51.100.41
q2.test. 300 A 198.51.100.42
q3.test. 300 A 198.51.100.43
EOF
echo "web.test. 60 A 198.51.100.250" >"$ZT_TMP/rogue.data"
echo "web.test. 60 A 198.51.100.77" >"$ZT_TMP/unapp.data"
echo "policy.test. 60 A 198.51.100.31" >"$ZT_TMP/polA.data"
echo "policy.test. 60 A 198.51.100.32" >"$ZT_TMP/polB.data"

# unbound_up LABEL ADDR CERT DATA [PLAINPORT]: a real unbound in the internet ns.
unbound_up() {
	local label=$1 addr=$2 cert=$3 data=$4 plain=${5:-} dir=$ZT_TMP/ub-$1
	mkdir -p "$dir"
	pdns_unbound_conf "$dir" "$addr" "$PKI/$cert.pem" "$PKI/$cert.key" "$data" "$plain" >"$dir/unbound.conf"
	pdns_unbound_start "$I" "$dir" ||
		{ not_ok "unbound $label: configuration valid" "$(unbound-checkconf "$dir/unbound.conf" 2>&1)"; return 1; }
	ZT_PIDS+=("$PDNS_PID")
	ZT_PID_LABELS+=("unbound-$label")
	pdns_wait_port "$I" "$addr" 853 && pdns_wait_port "$I" "$addr" 443 && {
		[ -z "$plain" ] || pdns_wait_port "$I" "$addr" "$plain"
	}
}

unbound_up pdns $PDNS pdns "$ZT_TMP/pdns.data" || exit 1
unbound_up unapp $UNAPP unapp "$ZT_TMP/unapp.data" || exit 1
unbound_up rogue $ROGUE pdns "$ZT_TMP/rogue.data" 53 || exit 1
unbound_up polA 127.0.0.2 pdns "$ZT_TMP/polA.data" 53 || exit 1
unbound_up polB 127.0.0.3 pdns "$ZT_TMP/polB.data" 53 || exit 1
ok "five unbound servers listening (Protective DNS, unapproved, rogue, policy backends A and B)"

NGX=$ZT_TMP/nginx
mkdir -p "$NGX"
cat >"$NGX/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
pid $NGX/nginx.pid;
user root;
events { worker_connections 64; }
stream {
	log_format s '\$msec \$remote_addr \$server_addr:\$server_port \$status dn="\$ssl_client_s_dn" verify=\$ssl_client_verify up=\$upstream_addr';
	access_log $NGX/stream-access.log s;
	# The client identity picks the backend: per-client policy.
	map \$ssl_client_s_dn \$mtls_backend {
		~CN=idA 127.0.0.2:53;
		~CN=idB 127.0.0.3:53;
		default 127.0.0.9:9;
	}
	server {
		listen $MTLS:853 ssl;
		ssl_certificate $PKI/mtls.pem;
		ssl_certificate_key $PKI/mtls.key;
		ssl_client_certificate $PKI/ca.pem;
		ssl_verify_client on;
		proxy_pass \$mtls_backend;
	}
}
EOF
if ! nginx_start nginx "$I" "$NGX" "$NGX/nginx.conf" 2>"$ZT_TMP/nginx-t.log"; then
	not_ok "nginx configuration accepted" "$(cat "$ZT_TMP/nginx-t.log" "$NGX/nginx-error.log" 2>/dev/null)"
	exit 1
fi
pdns_wait_port "$I" $MTLS 853 || { not_ok "nginx mTLS terminator listening" "$(cat "$NGX/nginx-error.log")"; exit 1; }
ok "nginx mTLS terminator listening on $MTLS:853 (CN idA -> .31 backend, CN idB -> .32 backend)"

# Unrelated rules in the gateway that the daemon must leave alone (filter and
# nat, v4 and v6), before anything of ours is installed.
ns_exec "$G" iptables -w 5 -A FORWARD -p tcp --dport 2222 -m comment --comment "ztdns-test unrelated" -j ACCEPT
ns_exec "$G" iptables -w 5 -N UNRELATED
ns_exec "$G" iptables -w 5 -A UNRELATED -j RETURN
ns_exec "$G" iptables -w 5 -A OUTPUT -p udp --dport 9999 -j UNRELATED
ns_exec "$G" iptables -w 5 -t nat -A PREROUTING -p udp --dport 9998 -j RETURN
ns_exec "$G" iptables -w 5 -t nat -A POSTROUTING -d 203.0.113.250 -j RETURN
ns_exec "$G" ip6tables -w 5 -A FORWARD -p tcp --dport 2222 -m comment --comment "ztdns-test unrelated v6" -j ACCEPT
ns_exec "$G" ip6tables -w 5 -t nat -A PREROUTING -p udp --dport 9998 -j RETURN
RULES_BEFORE=$(ruleset_save "$G")

# ================================================================== (0) baseline

echo "# (0) baseline, no ztdnsd: every destination is reachable, so later zeros mean something"
expect_reach "(0) baseline A" "$A" 198.51.100.10
expect_reach "(0) baseline B" "$B" 198.51.100.10
expect_reach "(0) baseline A" "$A" 198.51.100.66
expect_reach "(0) baseline gateway" "$G" 198.51.100.70
r0=$(rogue_pkts)
expect_dns "(0) baseline A: the rogue resolver answers plain DNS (udp)" "$A" $ROGUE web.test "NOERROR 198.51.100.250"
expect_dns "(0) baseline A: the rogue resolver answers plain DNS (tcp)" "$A" $ROGUE web.test "NOERROR 198.51.100.250" +tcp
r1=$(rogue_pkts)
if [ "$r1" -gt "$r0" ]; then ok "(0) baseline: the rogue resolver's counter moves ($r0 -> $r1)"
else not_ok "(0) baseline: the rogue resolver's counter moves" "$r0 -> $r1"; fi
expect_dns_reach "(0) baseline A: DoT to the unapproved server" "$A" $UNAPP 853 web.test "NOERROR 198.51.100.77" +tls
expect_dns_reach "(0) baseline A: DoH to the unapproved server" "$A" $UNAPP 443 web.test "NOERROR 198.51.100.77" +https

# ================================================================== run 1

DOT=$(printf '{"name":"pdns-dot","protocol":"dot","address":"%s","tls_name":"pdns.test","ca_file":"%s","spki_pins":["%s"]}' \
	$PDNS "$PKI/ca.pem" "$PIN")
conf_write "$DOT" '"shared_allowances":false'

out=$(timeout 5 "$ZTD" --print-ruleset -c "$CONF" 2>&1)
if grep -q -- '-I FORWARD 1 -i lan0 -s 192.0.2.128/25 -j ZTDNS-FWD' <<<"$out" &&
	grep -q -- '-A ZTDNS-DNS -p udp -m udp --dport 53 -j REDIRECT --to-ports 53' <<<"$out" &&
	grep -q -- '-I PREROUTING 1 -i lan0 -j ZTDNS-DNS' <<<"$out" && ! grep -q -- '--queue-bypass' <<<"$out"; then
	ok "--print-ruleset: FORWARD -i lan0 -s 192.0.2.128/25 -> ZTDNS-FWD, nat PREROUTING -i lan0 -> ZTDNS-DNS (REDIRECT 53), no bypass"
else
	not_ok "--print-ruleset: gateway chains" "$out"
fi

if ! daemon_start R1; then
	ruleset_scrub
	not_ok "parts 1-5, 7 not run: the daemon is not running"
	exit 1
fi

echo "# (1) per-client scoping: A's lookup allows A only"
expect_dns "(1) A resolves via the gateway's stub" "$A" $GW_LAN web.test "NOERROR 198.51.100.10"
expect_reach "(1) A after its own lookup" "$A" 198.51.100.10
expect_reason "(1)" $A_IP 198.51.100.10 learned
expect_reason "(1)" $B_IP 198.51.100.10 other-client
if listed $A_IP 198.51.100.10 && ! listed $B_IP 198.51.100.10; then
	ok "(1) list --client: 198.51.100.10 is A's, not B's"
else
	not_ok "(1) list --client: 198.51.100.10 is A's, not B's" \
		"A: $(ctlj list --client $A_IP 2>&1)" "B: $(ctlj list --client $B_IP 2>&1)"
fi
expect_deny "(1) B without its own lookup" "$B" 198.51.100.10
expect_reason "(1) still" $B_IP 198.51.100.10 other-client
expect_dns "(1) B resolves it itself" "$B" $GW_LAN web.test "NOERROR 198.51.100.10"
expect_reach "(1) B after its own lookup" "$B" 198.51.100.10
expect_reason "(1)" $B_IP 198.51.100.10 learned
n=$(ctlj status 2>/dev/null | json_get verdicts.by_reason.other-client)
if [ -n "$n" ] && [ "$n" != "<absent>" ] && [ "$n" -ge 1 ] 2>/dev/null; then
	ok "(1) status: verdicts.by_reason.other-client = $n"
else
	not_ok "(1) status: verdicts.by_reason.other-client >= 1" "$(ctlj status 2>&1 | head -c 1500)"
fi

echo "# (2) plain DNS to a rogue resolver is answered by the stub; the rogue sees nothing"
r0=$(rogue_pkts)
expect_dns "(2) A: dig @$ROGUE (udp) gets the Protective DNS answer" "$A" $ROGUE web.test "NOERROR 198.51.100.10"
expect_dns "(2) A: dig @$ROGUE +tcp gets the Protective DNS answer" "$A" $ROGUE web.test "NOERROR 198.51.100.10" +tcp
expect_dns "(2) B: dig @$ROGUE (udp) gets the Protective DNS answer" "$B" $ROGUE shared.test "NOERROR 198.51.100.20"
sleep 0.3
r1=$(rogue_pkts)
check_eq "(2) the rogue resolver saw no packet (far-end udp+tcp/53 counter; it moved in the baseline)" "$r0" "$r1"
# The redirected lookup taught the stub for B (the real client address).
expect_reason "(2) redirected lookup learned for B" $B_IP 198.51.100.20 learned
expect_reason "(2) ... and not for A" $A_IP 198.51.100.20 other-client

echo "# (3) hard-coded addresses: blocked for A and B, reachable after an operator allow"
expect_reason "(3)" $A_IP 198.51.100.66 never-resolved
expect_deny "(3) A hard-coded" "$A" 198.51.100.66
expect_deny "(3) B hard-coded" "$B" 198.51.100.66
check "(3) ztdnsctl allow 198.51.100.66" ctl allow 198.51.100.66 --ttl 120
if listed operator 198.51.100.66; then ok "(3) list --client operator shows 198.51.100.66"
else not_ok "(3) list --client operator shows 198.51.100.66" "$(ctlj list --client operator 2>&1)"; fi
expect_reason "(3) after allow" $B_IP 198.51.100.66 manual
expect_reach "(3) A after the operator allow" "$A" 198.51.100.66
expect_reach "(3) B after the operator allow" "$B" 198.51.100.66
check "(3) ztdnsctl revoke 198.51.100.66" ctl revoke 198.51.100.66
expect_deny "(3) A after revoke" "$A" 198.51.100.66

echo "# (4) DoT and DoH to an unapproved server"
expect_dns_blocked "(4) A: DoT" "$A" $UNAPP 853 web.test +tls
expect_dns_blocked "(4) A: DoH" "$A" $UNAPP 443 web.test +https
expect_dns_blocked "(4) B: DoT" "$B" $UNAPP 853 web.test +tls
check "(4) ztdnsctl allow $UNAPP" ctl allow $UNAPP --ttl 120
expect_dns_reach "(4) A after allow: DoT" "$A" $UNAPP 853 web.test "NOERROR 198.51.100.77" +tls
expect_dns_reach "(4) A after allow: DoH" "$A" $UNAPP 443 web.test "NOERROR 198.51.100.77" +https
expect_dns_reach "(4) B after allow: DoT" "$B" $UNAPP 853 web.test "NOERROR 198.51.100.77" +tls
# What another resolver said teaches nothing.
expect_reason "(4) the unapproved server's answer taught nothing" $A_IP 198.51.100.77 never-resolved
expect_deny "(4) A to the unapproved server's answer" "$A" 198.51.100.77
check "(4) ztdnsctl revoke $UNAPP" ctl revoke $UNAPP
expect_dns_blocked "(4) A after revoke: DoT" "$A" $UNAPP 853 web.test +tls

echo "# (7) the gateway's own OUTPUT is enforced"
expect_reason "(7)" self 198.51.100.70 never-resolved
expect_deny "(7) gateway hard-coded" "$G" 198.51.100.70
expect_dns "(7) the gateway resolves gw.test itself" "$G" 127.0.0.1 gw.test "NOERROR 198.51.100.70"
expect_reason "(7) after its lookup" self 198.51.100.70 learned
expect_reach "(7) gateway after its own lookup" "$G" 198.51.100.70
if listed self 198.51.100.70; then ok "(7) list --client self shows 198.51.100.70"
else not_ok "(7) list --client self shows 198.51.100.70" "$(ctlj list --client self 2>&1)"; fi
# The gateway's own allowance is not the clients'.
expect_reason "(7) not for A" $A_IP 198.51.100.70 other-client
expect_deny "(7) A to the gateway's learned address" "$A" 198.51.100.70
expect_dns "(7) A resolves gw.test" "$A" $GW_LAN gw.test "NOERROR 198.51.100.70"
expect_reach "(7) A after its own lookup" "$A" 198.51.100.70

echo "# (5) shared_allowances: true (SIGHUP): B may use A's lookups"
expect_dns "(5) A resolves shared2.test" "$A" $GW_LAN shared2.test "NOERROR 198.51.100.21"
expect_reason "(5) before the reload" $B_IP 198.51.100.21 other-client
expect_deny "(5) before the reload, B" "$B" 198.51.100.21
conf_write "$DOT" '"shared_allowances":true'
loglines=$(wc -l <"$(daemon_log)")
kill -HUP "$ZTD_PID"
reloaded() { tail -n +$((loglines + 1)) "$(daemon_log)" | grep -q 'configuration reloaded'; }
if wait_for 5 reloaded; then ok "(5) SIGHUP: the daemon logged 'configuration reloaded'"
else not_ok "(5) SIGHUP: the daemon logged 'configuration reloaded'" "$(tail -n +$((loglines + 1)) "$(daemon_log)" | tail -n 5)"; fi
# Allowances learned before the reload: A keeps its own, and (shared now) B
# may use them too.
expect_reason "(5) after the reload, A's own earlier lookup" $A_IP 198.51.100.21 learned
expect_reach "(5) after the reload, A on its own earlier lookup" "$A" 198.51.100.21
expect_reason "(5) after the reload, A's earlier lookup" $B_IP 198.51.100.21 learned
expect_reach "(5) after the reload, B on A's earlier lookup" "$B" 198.51.100.21
# A fresh lookup by A after the reload, of a name B never resolved.
expect_deny "(5) after the reload, before A's lookup, B" "$B" 198.51.100.22
expect_dns "(5) A resolves shared3.test after the reload" "$A" $GW_LAN shared3.test "NOERROR 198.51.100.22"
expect_reason "(5) after the reload, A's fresh lookup" $B_IP 198.51.100.22 learned
expect_reach "(5) after the reload, B on A's fresh lookup" "$B" 198.51.100.22
expect_deny "(5) a hard-coded address stays blocked for B" "$B" 198.51.100.66

daemon_stop
echo "# (8) clean stop restores the gateway's ruleset"
ruleset_compare "(8) after run 1"

# ================================================================== run 2: identities

echo "# (6) client identities: A (192.0.2.128/26) -> idA, B (192.0.2.192/26) -> idB"
MT=$(printf '{"name":"mtls-dot","protocol":"dot","address":"%s","tls_name":"mtls.test","ca_file":"%s"}' $MTLS "$PKI/ca.pem")
conf_write "$MT" "$(printf '"client_identities":[{"interface":"lan0","subnet":"192.0.2.128/26","client_cert":"%s","client_key":"%s"},{"interface":"lan0","subnet":"192.0.2.192/26","client_cert":"%s","client_key":"%s"}]' \
	"$PKI/idA.pem" "$PKI/idA.key" "$PKI/idB.pem" "$PKI/idB.key")"
if daemon_start R2-identities; then
	st=$(ctlj status 2>/dev/null)
	subs=$(json_get dns.identities <<<"$st" | "$ZT_PY" -c 'import json,sys; print(" ".join(i["subnet"] for i in json.load(sys.stdin)))' 2>/dev/null)
	check_eq "(6) status: dns.identities lists both subnets" "192.0.2.128/26 192.0.2.192/26" "$subs"
	expect_deny "(6) before any lookup, A" "$A" 198.51.100.31
	expect_deny "(6) before any lookup, B" "$B" 198.51.100.32
	expect_dns "(6) A (identity idA) resolves policy.test" "$A" $GW_LAN policy.test "NOERROR 198.51.100.31"
	expect_dns "(6) B (identity idB) resolves policy.test" "$B" $GW_LAN policy.test "NOERROR 198.51.100.32"
	expect_reach "(6) A to its own answer" "$A" 198.51.100.31
	expect_reach "(6) B to its own answer" "$B" 198.51.100.32
	expect_reason "(6)" $A_IP 198.51.100.32 other-client
	expect_reason "(6)" $B_IP 198.51.100.31 other-client
	expect_deny "(6) A to B's answer" "$A" 198.51.100.32
	expect_deny "(6) B to A's answer" "$B" 198.51.100.31
	st=$(ctlj status 2>/dev/null)
	qa=$(json_get dns.identities.0.servers.0.transport.answers <<<"$st")
	qb=$(json_get dns.identities.1.servers.0.transport.answers <<<"$st")
	if [ "${qa:-0}" -ge 1 ] 2>/dev/null && [ "${qb:-0}" -ge 1 ] 2>/dev/null; then
		ok "(6) status: each identity's upstream answered (idA $qa, idB $qb)"
	else
		not_ok "(6) status: each identity's upstream answered" "idA: $qa idB: $qb" "$(json_get dns.identities <<<"$st")"
	fi
	daemon_stop
	# nginx logs a stream session when it ends: after the daemon closed its
	# connections.
	acc() { grep -q 'dn="[^"]*CN=idA' "$NGX/stream-access.log" && grep -q 'dn="[^"]*CN=idB' "$NGX/stream-access.log"; }
	if wait_for 3 acc; then
		ok "(6) the mTLS terminator saw identities idA and idB"
	else
		not_ok "(6) the mTLS terminator saw identities idA and idB" "$(tail -n 8 "$NGX/stream-access.log" 2>&1)"
	fi
	ruleset_compare "(8) after run 2"
else
	ruleset_scrub
fi

echo "# (8) after the clean stop: no enforcement, no redirect"
expect_dns "(8) A: the rogue resolver answers again (no redirect left)" "$A" $ROGUE web.test "NOERROR 198.51.100.250"
expect_reach "(8) B to a never-resolved address" "$B" 198.51.100.66
if [ -z "$(ns_exec "$G" awk -v q="$QNUM" '$1 == q' /proc/net/netfilter/nfnetlink_queue 2>/dev/null)" ]; then
	ok "(8) queue $QNUM unbound in the gateway"
else
	not_ok "(8) queue $QNUM unbound in the gateway" "$(ns_exec "$G" cat /proc/net/netfilter/nfnetlink_queue)"
fi

# ================================================================== run 2b: identities, answer cache
echo "# (10) answer cache per identity: A's cached answer is never served to B"
conf_write "$MT" "$(printf '"client_identities":[{"interface":"lan0","subnet":"192.0.2.128/26","client_cert":"%s","client_key":"%s"},{"interface":"lan0","subnet":"192.0.2.192/26","client_cert":"%s","client_key":"%s"}]' \
	"$PKI/idA.pem" "$PKI/idA.key" "$PKI/idB.pem" "$PKI/idB.key")" '"cache":{"enabled":true}'
if daemon_start R2b-cache; then
	expect_dns "(10) A (idA) resolves policy.test" "$A" $GW_LAN policy.test "NOERROR 198.51.100.31"
	h0=$(ctlj status 2>/dev/null | json_get cache.hits)
	expect_dns "(10) A again" "$A" $GW_LAN policy.test "NOERROR 198.51.100.31"
	check_eq "(10) A's second lookup was a cache hit" 1 "$(($(ctlj status 2>/dev/null | json_get cache.hits) - h0))"
	expect_dns "(10) B (idB) resolves policy.test: its identity's answer, not A's cached one" "$B" $GW_LAN policy.test "NOERROR 198.51.100.32"
	expect_dns "(10) B again (its own entry)" "$B" $GW_LAN policy.test "NOERROR 198.51.100.32"
	check_eq "(10) B's second lookup was a hit of its own" 2 "$(($(ctlj status 2>/dev/null | json_get cache.hits) - h0))"
	expect_reach "(10) B to its own answer" "$B" 198.51.100.32
	expect_deny "(10) B to A's answer" "$B" 198.51.100.31
	lst=$(ctl cache list 2>&1)
	check "(10) ztdnsctl cache list: policy.test once per identity (1 and 2)" \
		bash -c 'grep -q "^policy.test type 1 identity 1 " <<<"$1" && grep -q "^policy.test type 1 identity 2 " <<<"$1"' _ "$lst"
	daemon_stop
	ruleset_compare "(8) after run 2b"
else
	ruleset_scrub
fi

# ================================================================== run 3: quotas
echo "# (9) limits.learned_per_client 2 per LAN client: A fills its quota, B is unaffected"
GW_LIMITS='"learned_per_client":2' conf_write "$DOT" '"shared_allowances":false'
if daemon_start R3-quota; then
	expect_dns "(9) A resolves q1.test" "$A" $GW_LAN q1.test "NOERROR 198.51.100.41"
	expect_dns "(9) A resolves q2.test" "$A" $GW_LAN q2.test "NOERROR 198.51.100.42"
	lq0=$(ctlj status 2>/dev/null | json_get dns.learn_quota)
	expect_dns "(9) A's third address is past its quota: SERVFAIL (nothing proven is left)" "$A" $GW_LAN q3.test "SERVFAIL"
	lq1=$(ctlj status 2>/dev/null | json_get dns.learn_quota)
	check_eq "(9) dns.learn_quota counted it (+1)" 1 "$((lq1 - lq0))"
	expect_reach "(9) A to its learned 198.51.100.41" "$A" 198.51.100.41
	expect_deny "(9) A to 198.51.100.43 (over its quota, not learned)" "$A" 198.51.100.43
	expect_dns "(9) B, meanwhile, resolves q3.test" "$B" $GW_LAN q3.test "NOERROR 198.51.100.43"
	expect_dns "(9) ... and web.test" "$B" $GW_LAN web.test "NOERROR 198.51.100.10"
	expect_reach "(9) B to 198.51.100.43 (its own quota)" "$B" 198.51.100.43
	expect_reach "(9) B to 198.51.100.10" "$B" 198.51.100.10
	out=$(ctlj revoke 198.51.100.41 2>&1)
	check_eq "(9) ztdnsctl revoke takes 198.51.100.41 from A's scope" 1 "$(json_get removed <<<"$out")"
	expect_deny "(9) A to 198.51.100.41 once revoked" "$A" 198.51.100.41
	expect_dns "(9) A's quota has room again: q3.test" "$A" $GW_LAN q3.test "NOERROR 198.51.100.43"
	expect_reach "(9) A to 198.51.100.43, now learned for A" "$A" 198.51.100.43
	daemon_stop
else
	ruleset_scrub
fi

if pid_alive "$WEB_PID"; then ok "web server stayed up for the whole test"
else not_ok "web server stayed up for the whole test" "$(tail -n 5 "$ZT_TMP/web-server.log")"; fi
if [ "$ZT_FAIL" -gt 0 ]; then
	for f in "$ZT_TMP"/ztdnsd-*.log; do
		[ -f "$f" ] || continue
		diag "--- last lines of $(basename "$f")"
		diag "$(tail -n 25 "$f")"
	done
fi
exit 0
