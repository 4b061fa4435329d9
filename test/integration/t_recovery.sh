#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_recovery.sh BUILD_DIR — fast recovery and readiness (issue 12, H8), host
# mode, real unbound servers over DoT and DoH, judged at the far end:
#
#  (R0) readiness.require_answer: with the only server's address dropped,
#       wait-ready fails and status says dns_answered false; once restored,
#       wait-ready succeeds (the daemon's own "invalid. SOA" probe answered).
#  (R1) DoT, the server's address dropped for 15 s (DROP in the server's
#       namespace) while a client asks a fresh name every 0.3 s: after the
#       rule goes, the time until the first fresh name is answered (measured;
#       asserted < 5 s only as a correctness bound), the learned address
#       reachable at the far end.
#  (R2) DoT, the server restarted: time from its port listening again to the
#       first fresh name answered.
#  (R3) the server closes idle connections (unbound tcp-idle-timeout 1 s):
#       each query after an idle period is answered on the first try.
#  (R4) back-off reset on an address change: two servers, the preferred one
#       refused for 8 s (back-off 8 s), back and listening: a query still
#       goes to the second (its answer differs); an address added on the
#       client's link: the next query goes to the preferred one again.
#  (R5) DoH, the same 15 s outage as R1 (measured).
#  (R6) forward_zones: cluster.local to a kube-dns stand-in (unbound K, DoT).
#  (R7) the same zone over plain DNS (insecure_plain_dns): refused without
#       the key, a warning with it; a cluster.local name answered by K over
#       UDP 53 (K's counter) and its address reachable only then; a name
#       outside the zone from A; an application's own plain DNS to K's
#       address still answered by the stub (K's counter unchanged); an
#       unprivileged process cannot set the daemon's socket mark.
#
# Topology: rcc$$ (client, ztdnsd) c0 192.0.2.1/24 <-> rcn$$ n0 192.0.2.2/24
# with unbound A (pdns.test) on 192.0.2.53 (DoT 853, DoH 443), unbound B
# (pdns2.test) on 192.0.2.54 (DoT), 198.51.100.0/24 local with ztnet.py serve.
# The measured figures are printed as "# figure ..." lines.

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_recovery.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
for tool in unbound dig; do
	command -v $tool >/dev/null || { not_ok "$tool is installed"; exit 1; }
done
[ -x "$ZTD" ] && [ -x "$ZTC" ] || { not_ok "ztdnsd and ztdnsctl are built in $BUILD"; exit 1; }

C=rcc$$
N=rcn$$
ZT_FAR_NS=$N
PKI=$ZT_TMP/pki
SOCK=$ZT_TMP/ctl.sock
TCP_PORT=7001
UDP_PORT=7002
QNUM=17
OUTAGE_S=${ZT_OUTAGE_S:-15}
ZTD_PID=
ZTD_RUN=0
UBA_PID=
UBB_PID=
QSEQ=0 # fresh names: q1.test, q2.test, ...
# a subset: ZT_RECOVERY_ONLY="R4 R6" (R0 includes R1 and R2)
ONLY=${ZT_RECOVERY_ONLY:-R0 R5 R3 R4 R6 R7}
want() { [[ " $ONLY " == *" $1 "* ]]; }
H8_DOT_OUTAGE=none
H8_DOT_RESTART=none
H8_DOH_OUTAGE=none

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
st() { ctl --json status 2>/dev/null | json_get "$1"; }
ms_now() { echo $(($(date +%s%N) / 1000000)); }

probe() {
	case $1 in
	tcp) timeout 3 ip netns exec "$C" "${ZT_NET[@]}" tcp "$2" "$TCP_PORT" --timeout 1.5 --tag "r$$" ;;
	udp) timeout 3 ip netns exec "$C" "${ZT_NET[@]}" udp "$2" "$UDP_PORT" --timeout 1.5 --tag "r$$" ;;
	esac
}

# dnsq NAME [TIME_S]: "STATUS ADDR..." through the stub.
dnsq() {
	local out s
	out=$(timeout 12 ip netns exec "$C" dig @127.0.0.1 +time="${2:-4}" +tries=1 +noall +comments +answer "$1" A 2>&1)
	s=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | head -n 1)
	# shellcheck disable=SC2046
	echo "${s:-NONE}" $(awk '$4 == "A" { print $5 }' <<<"$out" | sort)
}

# fresh: FRESH is a name not asked before (not in a subshell: it counts)
fresh() { QSEQ=$((QSEQ + 1)); FRESH=q$QSEQ.test; }

conf_write() { # FILE SERVERS_JSON [EXTRA_JSON]
	cat >"$1.tmp" <<EOF
{"mode":"host",
 "servers":[$2],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "limits":{"upstream_timeout_ms":3000},
 "log":{"level":"info"}${3:+,
 $3}}
EOF
	mv "$1.tmp" "$1"
}
SRV_A_DOT='{"name":"a","protocol":"dot","address":"192.0.2.53","tls_name":"pdns.test","ca_file":"'$PKI'/ca.pem","priority":0}'
SRV_A_DOH='{"name":"a-doh","protocol":"doh","url":"https://pdns.test/dns-query","bootstrap":["192.0.2.53"],"ca_file":"'$PKI'/ca.pem"}'
SRV_K_DOT='{"name":"kube-dns","protocol":"dot","address":"192.0.2.60","tls_name":"kube-dns.test","ca_file":"'$PKI'/ca.pem"}'
SRV_B_DOT='{"name":"b","protocol":"dot","address":"192.0.2.54","tls_name":"pdns2.test","ca_file":"'$PKI'/ca.pem","priority":1}'

stub_listens() { ns_exec "$C" ss -Hlun "sport = :53" | grep -q '127.0.0.1:53'; }

# daemon_up LABEL CONF [noready]: started, and (unless noready) ready.
daemon_up() {
	local label=$1 conf=$2 out
	ZTD_RUN=$((ZTD_RUN + 1))
	ZTD_LOG=ztdnsd-$ZTD_RUN
	out=$(timeout 5 "$ZTD" --check -c "$conf" 2>&1) ||
		{ not_ok "$label: ztdnsd --check accepts the configuration" "$out"; return 1; }
	bg_start "$ZTD_LOG" "$C" "$ZTD" -c "$conf" --foreground -v
	ZTD_PID=$BG_PID
	if ! wait_for 10 stub_listens; then
		not_ok "$label: ztdnsd started" "$(tail -n 15 "$ZT_TMP/$ZTD_LOG.log")"
		return 1
	fi
	[ "${3:-}" = noready ] && return 0
	if ctl wait-ready --timeout 10 >/dev/null 2>&1; then
		ok "$label: ztdnsd ready"
		return 0
	fi
	not_ok "$label: ztdnsd ready" "$(tail -n 15 "$ZT_TMP/$ZTD_LOG.log")"
	return 1
}

daemon_down() {
	[ -z "$ZTD_PID" ] && return 0
	if pid_alive "$ZTD_PID"; then ok "ztdnsd run $ZTD_RUN still running at the end of its part"
	else not_ok "ztdnsd run $ZTD_RUN still running at the end of its part" "$(tail -n 20 "$ZT_TMP/$ZTD_LOG.log")"; fi
	bg_stop "$ZTD_PID" TERM 8
	ZTD_PID=
	rm -f "$SOCK"
}

uba_start() {
	pdns_unbound_start "$N" "$ZT_TMP/uba" || return 1
	UBA_PID=$PDNS_PID
	ZT_PIDS+=("$PDNS_PID")
	ZT_PID_LABELS+=("unbound-a")
	pdns_wait_port "$N" 192.0.2.53 853 && pdns_wait_port "$N" 192.0.2.53 443
}
uba_stop() { [ -n "$UBA_PID" ] && bg_stop "$UBA_PID" TERM 5; UBA_PID=; }
ubb_start() {
	pdns_unbound_start "$N" "$ZT_TMP/ubb" || return 1
	UBB_PID=$PDNS_PID
	ZT_PIDS+=("$PDNS_PID")
	ZT_PID_LABELS+=("unbound-b")
	pdns_wait_port "$N" 192.0.2.54 853
}

drop_on() { ns_exec "$N" iptables -w 5 -I INPUT -d "$1" -j DROP; }
drop_off() { ns_exec "$N" iptables -w 5 -D INPUT -d "$1" -j DROP; }

# querier FILE COUNT: ask fresh names (q<base+i>.test) one after the other,
# 0.3 s apart, each line "END_MS STATUS NAME ADDR"; at most COUNT queries.
querier() {
	local file=$1 count=$2 base=$3 i name out
	for ((i = 1; i <= count; i++)); do
		name=q$((base + i)).test
		out=$(dnsq "$name" 1)
		echo "$(ms_now) $name $out" >>"$file"
		[ -e "$file.stop" ] && break
		sleep 0.3
	done
}

# recovered FILE SINCE_MS: REC_LINE, the first NOERROR line that ended after
# SINCE_MS, and REC_MS, how long after SINCE_MS ("" if none).
recovered() {
	REC_LINE=$(awk -v t="$2" '$1 >= t && $3 == "NOERROR" { print; exit }' "$1")
	REC_MS=
	[ -n "$REC_LINE" ] && REC_MS=$((${REC_LINE%% *} - $2))
	return 0
}

# outage LABEL ADDR: drop ADDR for OUTAGE_S while the querier runs, then
# restore and measure; sets REC_MS, REC_ADDR.
outage() {
	local label=$1 addr=$2 qf=$ZT_TMP/q-$1.log qpid t_restore n
	rm -f "$qf" "$qf.stop"
	drop_on "$addr" || { not_ok "$label: drop rule for $addr"; return 1; }
	querier "$qf" 200 $((QSEQ)) &
	qpid=$!
	QSEQ=$((QSEQ + 200))
	sleep "$OUTAGE_S"
	drop_off "$addr"
	t_restore=$(ms_now)
	wait_for 10 grep -q NOERROR "$qf"
	sleep 0.5
	touch "$qf.stop"
	wait "$qpid" 2>/dev/null
	n=$(awk -v t="$t_restore" '$1 < t && $3 == "NOERROR"' "$qf" | wc -l)
	check_eq "$label: no answer while $addr is dropped" 0 "$n"
	recovered "$qf" "$t_restore"
	REC_ADDR=$(awk '{ print $4 }' <<<"$REC_LINE")
	diag "$label: queries during the outage: $(awk -v t="$t_restore" '$1 < t { print $3 }' "$qf" | sort | uniq -c | tr -s ' \n' ' ')"
	if [ -n "$REC_MS" ] && [ "$REC_MS" -lt 5000 ]; then
		ok "$label: a fresh name answered $REC_MS ms after the ${OUTAGE_S} s outage ended ($REC_LINE)"
	else
		not_ok "$label: a fresh name answered within 5 s of the outage's end" "${REC_MS:-none}" "$(tail -n 5 "$qf")"
	fi
}

# ------------------------------------------------------------------ topology

ns_new "$C" && ns_new "$N" || { not_ok "create namespaces $C and $N"; exit 1; }
ns_veth "$C" c0 "$N" n0 || { not_ok "create veth pair"; exit 1; }
ns_addr "$C" c0 192.0.2.1/24
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.2
ns_addr "$N" n0 192.0.2.2/24
ns_addr "$N" n0 192.0.2.53/32
ns_addr "$N" n0 192.0.2.54/32
ns_addr "$N" n0 192.0.2.60/32
ip -n "$N" route add local 198.51.100.0/24 dev lo
ctr_setup "$N" || { not_ok "server counting chains"; exit 1; }
ctr_add "$N" 4 k-udp53 -d 192.0.2.60 -p udp --dport 53
ctr_add "$N" 4 k-tcp53 -d 192.0.2.60 -p tcp --dport 53 --syn
for a in 198.51.100.1 198.51.100.2 198.51.100.3 198.51.100.4; do
	ctr_add "$N" 4 "tcp-$a" -d "$a" -p tcp --dport "$TCP_PORT" --syn
done
bg_start web "$N" "${ZT_NET[@]}" serve --tcp $TCP_PORT --udp $UDP_PORT --log "$ZT_TMP/web-server.log" --max-seconds 900
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started" "$(cat "$ZT_TMP/web.log")"; exit 1; }

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test 192.0.2.53
pki_server "$PKI" pdns2 ca pdns2.test 192.0.2.54
pki_server "$PKI" kube ca kube-dns.test 192.0.2.60
# q<i>.test: three addresses in turn, from both servers; which.test and
# which2.test: A says .201, B says .202 (who answered).
gen_data() { # ADDR_FOR_WHICH
	for ((i = 1; i <= 1200; i++)); do echo "q$i.test. 60 A 198.51.100.$((i % 3 + 1))"; done
	echo "which.test. 60 A $1"
	echo "which2.test. 60 A $1"
}
mkdir -p "$ZT_TMP/uba" "$ZT_TMP/ubb"
gen_data 198.51.100.201 >"$ZT_TMP/a.data"
gen_data 198.51.100.202 >"$ZT_TMP/b.data"
pdns_unbound_conf "$ZT_TMP/uba" 192.0.2.53 "$PKI/pdns.pem" "$PKI/pdns.key" "$ZT_TMP/a.data" >"$ZT_TMP/uba/unbound.conf"
pdns_unbound_conf "$ZT_TMP/ubb" 192.0.2.54 "$PKI/pdns2.pem" "$PKI/pdns2.key" "$ZT_TMP/b.data" >"$ZT_TMP/ubb/unbound.conf"
uba_start || { not_ok "unbound A started" "$(cat "$ZT_TMP/uba/unbound.log")"; exit 1; }
ubb_start || { not_ok "unbound B started" "$(cat "$ZT_TMP/ubb/unbound.log")"; exit 1; }
mkdir -p "$ZT_TMP/ubk"
{
	echo "web.default.svc.cluster.local. 30 A 198.51.100.3"
	echo "mixed.default.svc.cluster.local. 30 A 198.51.100.2"
	echo "mixed.default.svc.cluster.local. 30 A 127.0.0.9"
	echo "plain.default.svc.cluster.local. 30 A 198.51.100.4"
	echo "only-k.test. 30 A 198.51.100.4"
} >"$ZT_TMP/k.data"
# K also answers plain DNS on port 53 (R7).
pdns_unbound_conf "$ZT_TMP/ubk" 192.0.2.60 "$PKI/kube.pem" "$PKI/kube.key" "$ZT_TMP/k.data" 53 >"$ZT_TMP/ubk/unbound.conf"
pdns_unbound_start "$N" "$ZT_TMP/ubk" && ZT_PIDS+=("$PDNS_PID") && ZT_PID_LABELS+=("unbound-k") &&
	pdns_wait_port "$N" 192.0.2.60 853 || { not_ok "unbound K started" "$(cat "$ZT_TMP/ubk/unbound.log")"; exit 1; }
ok "unbound A (DoT+DoH, 192.0.2.53) and B (DoT, 192.0.2.54) listening"
check "baseline: 198.51.100.1 reachable without ztdnsd" probe tcp 198.51.100.1

# ================================================================== R0
if want R0; then
echo "# (R0) readiness.require_answer"
conf_write "$ZT_TMP/r0.json" "$SRV_A_DOT" '"readiness":{"require_answer":true}'
drop_on 192.0.2.53
daemon_up R0 "$ZT_TMP/r0.json" noready || exit 1
check_fail "(R0) server dropped: wait-ready --timeout 3 fails" ctl wait-ready --timeout 3
check_eq "(R0) server dropped: status ready false" false "$(st ready)"
check_eq "(R0) server dropped: status dns_answered false" false "$(st dns_answered)"
drop_off 192.0.2.53
t0=$(ms_now)
if ctl wait-ready --timeout 8 >/dev/null 2>&1; then
	ok "(R0) server restored: wait-ready succeeds after $(($(ms_now) - t0)) ms"
else
	not_ok "(R0) server restored: wait-ready succeeds" "$(tail -n 10 "$ZT_TMP/$ZTD_LOG.log")"
fi
check_eq "(R0) status dns_answered true" true "$(st dns_answered)"
check_eq "(R0) nothing asked yet: q-names were not learned by the probe" 0 "$(st allowset.entries)"

# ================================================================== R1
echo "# (R1) DoT: the server's address dropped for ${OUTAGE_S} s"
fresh
got=$(dnsq "$FRESH")
case $got in NOERROR\ 198.51.100.*) ok "(R1) up: a fresh name answered ($got)" ;; *) not_ok "(R1) up: a fresh name answered" "$got" ;; esac
outage "(R1) DoT" 192.0.2.53
H8_DOT_OUTAGE=${REC_MS:-none}
[ -n "${REC_ADDR:-}" ] && zt_expect_reach "(R1) after the outage: the learned address" tcp "$REC_ADDR"
diag "(R1) server a: $(st dns.servers.0.transport | tr -d ' \n')"
check "(R1) the connection the outage froze was replaced (stale_closed)" test "$(st dns.servers.0.transport.stale_closed)" -ge 1

# ================================================================== R2
echo "# (R2) DoT: the server restarted"
qf=$ZT_TMP/q-r2.log
rm -f "$qf" "$qf.stop"
uba_stop
querier "$qf" 100 $QSEQ &
qpid=$!
QSEQ=$((QSEQ + 100))
sleep 2
uba_start || not_ok "(R2) unbound A restarted"
t_up=$(ms_now)
wait_for 10 grep -q NOERROR "$qf"
touch "$qf.stop"
wait "$qpid" 2>/dev/null
recovered "$qf" "$t_up"
H8_DOT_RESTART=$REC_MS
if [ -n "$H8_DOT_RESTART" ] && [ "$H8_DOT_RESTART" -lt 5000 ]; then
	ok "(R2) a fresh name answered $H8_DOT_RESTART ms after the restarted server listened ($REC_LINE)"
else
	not_ok "(R2) a fresh name answered within 5 s of the restart" "${H8_DOT_RESTART:-none}" "$(tail -n 5 "$qf")"
fi
H8_DOT_RESTART=${H8_DOT_RESTART:-none}

daemon_down

fi

# ================================================================== R5
if want R5; then
echo "# (R5) DoH: the server's address dropped for ${OUTAGE_S} s"
conf_write "$ZT_TMP/r5.json" "$SRV_A_DOH"
daemon_up R5 "$ZT_TMP/r5.json" || exit 1
fresh
got=$(dnsq "$FRESH")
case $got in NOERROR\ 198.51.100.*) ok "(R5) up: a fresh name answered over DoH ($got)" ;; *) not_ok "(R5) up: a fresh name answered over DoH" "$got" ;; esac
outage "(R5) DoH" 192.0.2.53
H8_DOH_OUTAGE=${REC_MS:-none}
daemon_down

fi

# ================================================================== R3
if want R3; then
echo "# (R3) idle connections closed by the server (tcp-idle-timeout 1 s)"
uba_stop
printf '\ttcp-idle-timeout: 1000\n' >>"$ZT_TMP/uba/unbound.conf"
uba_start || { not_ok "(R3) unbound A with tcp-idle-timeout 1000" "$(tail "$ZT_TMP/uba/unbound.log")"; exit 1; }
conf_write "$ZT_TMP/r3.json" "$SRV_A_DOT"
daemon_up R3 "$ZT_TMP/r3.json" || exit 1
c0=$(st dns.servers.0.transport.connections)
bad=""
for ((i = 0; i < 4; i++)); do
	sleep 2
	fresh
	got=$(dnsq "$FRESH" 4)
	case $got in NOERROR*) ;; *) bad="$bad $got" ;; esac
done
c1=$(st dns.servers.0.transport.connections)
check_eq "(R3) 4 queries after 2 s idle each: all answered on the first try" "" "$bad"
if [ "$((c1 - c0))" -ge 3 ]; then ok "(R3) the server closed them: $((c1 - c0)) new connections for 4 queries"
else not_ok "(R3) the server closed the idle connections" "connections $c0 -> $c1"; fi
daemon_down

fi

# ================================================================== R4
if want R4; then
echo "# (R4) back-off reset on an address change"
conf_write "$ZT_TMP/r4.json" "$SRV_A_DOT,$SRV_B_DOT"
daemon_up R4 "$ZT_TMP/r4.json" || exit 1
check_eq "(R4) both up: the preferred server A answers" "NOERROR 198.51.100.201" "$(dnsq which.test)"
uba_stop
t0=$(ms_now)
bad=""
# A's back-off doubles per failure (1, 2, 4 s): until it is 8 s (bounded).
while [ $(($(ms_now) - t0)) -lt 20000 ] && [ "$(st dns.servers.0.consecutive_failures)" -lt 4 ]; do
	fresh
	got=$(dnsq "$FRESH" 4)
	case $got in NOERROR*) ;; *) bad="$bad $got" ;; esac
	sleep 0.3
done
check_eq "(R4) A refused ($(($(ms_now) - t0)) ms): every query answered by B" "" "$bad"
diag "(R4) A: consecutive_failures $(st dns.servers.0.consecutive_failures), healthy $(st dns.servers.0.healthy)"
uba_start || not_ok "(R4) unbound A restarted"
check_eq "(R4) A back but in back-off: B answers" "NOERROR 198.51.100.202" "$(dnsq which.test)"
check_eq "(R4) A still in back-off (healthy false)" false "$(st dns.servers.0.healthy)"
ch0=$(st network_changes.changes)
ns_addr "$C" c0 192.0.2.77/32
wait_for 3 test "$(st network_changes.changes)" != "$ch0"
check_eq "(R4) address added: network_changes counted" yes "$([ "$(st network_changes.changes)" -gt "${ch0:-0}" ] && echo yes)"
check_eq "(R4) after the address change: A answers again" "NOERROR 198.51.100.201" "$(dnsq which2.test)"
ip -n "$C" addr del 192.0.2.77/32 dev c0
daemon_down

fi

# ================================================================== R6
if want R6; then
echo "# (R6) forward_zones: cluster.local to a kube-dns stand-in (unbound K, DoT)"
conf_write "$ZT_TMP/r6.json" "$SRV_A_DOT" '"forward_zones":[{"zone":"cluster.local","servers":['"$SRV_K_DOT"']}]'
daemon_up R6 "$ZT_TMP/r6.json" || exit 1
check_eq "(R6) a cluster.local name answered by K" "NOERROR 198.51.100.3" "$(dnsq web.default.svc.cluster.local)"
zt_expect_reach "(R6) the address K gave was learned" tcp 198.51.100.3
check_eq "(R6) K's never-learn address (127.0.0.9) removed from its answer" "NOERROR 198.51.100.2" "$(dnsq mixed.default.svc.cluster.local)"
check_eq "(R6) explain 127.0.0.9: never-learn" never-learn "$(ctl --json explain 127.0.0.9 --port $TCP_PORT 2>/dev/null | json_get reason)"
fresh
name=$FRESH
check_eq "(R6) another name answered by the Protective DNS server A" "NOERROR 198.51.100.$((QSEQ % 3 + 1))" "$(dnsq "$name")"
check_eq "(R6) K never asked for $name" 0 "$(grep -c "$name" "$ZT_TMP/ubk/unbound.log")"
check "(R6) K asked for web.default.svc.cluster.local" grep -q "web.default.svc.cluster.local" "$ZT_TMP/ubk/unbound.log"
check_eq "(R6) A never asked for a cluster.local name" 0 "$(grep -c "cluster.local" "$ZT_TMP/uba/unbound.log")"
check_eq "(R6) a name only A knows is not sent to K: notcluster.local.test" "NXDOMAIN" "$(dnsq notcluster.local.test | awk '{ print $1 }')"
daemon_down

fi

# ================================================================== R7
if want R7; then
echo "# (R7) forward_zones over plain DNS (insecure_plain_dns) to unbound K on 192.0.2.60:53"
SRV_K_DNS='{"name":"kube-dns","protocol":"dns","address":"192.0.2.60"}'
conf_write "$ZT_TMP/r7-nokey.json" "$SRV_A_DOT" '"forward_zones":[{"zone":"cluster.local","servers":['"$SRV_K_DNS"']}]'
out=$(timeout 5 "$ZTD" --check -c "$ZT_TMP/r7-nokey.json" 2>&1)
rc=$?
check_eq "(R7) without insecure_plain_dns, --check refuses the plain server" 1 "$((rc != 0))"
check "(R7) ... naming the key" grep -q 'needs "insecure_plain_dns": true' <<<"$out"
conf_write "$ZT_TMP/r7.json" "$SRV_A_DOT" '"forward_zones":[{"zone":"cluster.local","insecure_plain_dns":true,"servers":['"$SRV_K_DNS"']}]'
out=$(timeout 5 "$ZTD" --check -c "$ZT_TMP/r7.json" 2>&1)
check "(R7) with the key, --check warns of the trust decision" grep -q 'warning: insecure_plain_dns: zone "cluster.local" is asked in plain DNS' <<<"$out"
daemon_up R7 "$ZT_TMP/r7.json" || exit 1
check "(R7) the start warns too" grep -q 'insecure_plain_dns: zone "cluster.local"' "$ZT_TMP/$ZTD_LOG.log"
zt_expect_deny "(R7) 198.51.100.4 before any answer names it" tcp 198.51.100.4
k0=$(ctr_get "$N" 4 k-udp53)
check_eq "(R7) a cluster.local name answered by K" "NOERROR 198.51.100.4" "$(dnsq plain.default.svc.cluster.local)"
k1=$(ctr_get "$N" 4 k-udp53)
check "(R7) ... over plain UDP 53 at K (counter $k0 -> $k1)" test "${k1:-0}" -gt "${k0:-0}"
zt_expect_reach "(R7) the address K gave was learned" tcp 198.51.100.4
check_eq "(R7) status: the zone's server speaks dns" "cluster.local true kube-dns dns" \
	"$(st dns.forward_zones.0.zone) $(st dns.forward_zones.0.insecure_plain_dns) $(st dns.forward_zones.0.servers.0.name) $(st dns.forward_zones.0.servers.0.protocol)"
check_eq "(R7) status: its transport counted the answer, no protocol error" "1 0" \
	"$(st dns.forward_zones.0.servers.0.transport.answers) $(st dns.forward_zones.0.servers.0.transport.protocol_errors)"
check_eq "(R7) K's never-learn address (127.0.0.9) removed from its answer" "NOERROR 198.51.100.2" "$(dnsq mixed.default.svc.cluster.local)"
fresh
name=$FRESH
check_eq "(R7) a name outside the zone answered by A" "NOERROR 198.51.100.$((QSEQ % 3 + 1))" "$(dnsq "$name")"
check_eq "(R7) K never asked for $name" 0 "$(grep -c "$name" "$ZT_TMP/ubk/unbound.log")"
# An application's own plain DNS to K: redirected to the stub, which sends
# only-k.test (outside the zone) to A: NXDOMAIN, and K sees nothing.
k0=$(ctr_get "$N" 4 k-udp53)
t0=$(ctr_get "$N" 4 k-tcp53)
out=$(timeout 8 ip netns exec "$C" dig @192.0.2.60 +time=3 +tries=1 only-k.test A 2>&1)
check "(R7) an application's dig @192.0.2.60 only-k.test is answered by the stub (NXDOMAIN from A)" grep -q 'status: NXDOMAIN' <<<"$out"
out=$(timeout 8 ip netns exec "$C" dig @192.0.2.60 +tcp +time=3 +tries=1 only-k.test A 2>&1)
check "(R7) ... and over TCP" grep -q 'status: NXDOMAIN' <<<"$out"
check_eq "(R7) K's port 53 counters unchanged by the application's queries" "$k0 $t0" "$(ctr_get "$N" 4 k-udp53) $(ctr_get "$N" 4 k-tcp53)"
check_eq "(R7) K never asked for only-k.test" 0 "$(grep -c "only-k.test" "$ZT_TMP/ubk/unbound.log")"
# The exemption is the daemon's socket mark: SO_MARK needs CAP_NET_ADMIN
# (root can set it, uid 65534 cannot).
setmark='import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, 36, 0x5a7d0053); print("mark set")'
check_eq "(R7) root sets the daemon's socket mark (control)" "mark set" "$(timeout 5 ip netns exec "$C" "$ZT_PY" -c "$setmark" 2>&1)"
out=$(timeout 5 ip netns exec "$C" setpriv --reuid=65534 --regid=65534 --clear-groups "$ZT_PY" -c "$setmark" 2>&1)
check "(R7) uid 65534 cannot set it (EPERM)" grep -q 'PermissionError' <<<"$out"
daemon_down
fi

diag "figure H8 DoT: fresh name answered ${H8_DOT_OUTAGE} ms after a ${OUTAGE_S} s outage, ${H8_DOT_RESTART} ms after a server restart; DoH: ${H8_DOH_OUTAGE} ms after the outage"
