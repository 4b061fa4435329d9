#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_intercept.sh BUILD_DIR — issue 12, plain DNS from local applications is
# answered by the stub (intercept_dns, nat ZTDNS-LDNS), host and sidecar
# mode, judged at the far end against a real plain resolver:
#
#  (I1) host mode, the default (on): an application that asks the "rogue"
#       resolver 198.51.100.53:53 (unbound, plain DNS, its own answers)
#       over UDP and TCP, and 2001:db8:10::53 over UDP, gets the Protective
#       DNS answer; the rogue resolver received nothing (far-end counters,
#       its query log), the stub counted the queries and the Protective
#       DNS server logged them; the name's address, denied before, is then
#       reachable; unprivileged uids are intercepted as well, and the
#       stub finds the uid of every intercepted query (owner_unknown); DNS on
#       another port (5353) of the same resolver is denied as any flow
#       (no answer, nothing at the far end); even with the resolver allowed
#       (ztdnsctl allow) port 53 still goes to the stub; after SIGKILL the
#       lockdown stays (no answer, nothing at the far end); --remove-ruleset
#       removes the nat chain too.
#       The query log (query_log.file) has a JSON line for each answer
#       (client, uid, name, type, rcode, learned, server, cache, latency),
#       counted in the metrics, reopened by its name on SIGUSR1.
#  (I2) intercept_dns false: the same query gets no answer and nothing
#       reaches the resolver; allowed (ztdnsctl allow), the resolver
#       answers with its own address (the control: the path works).
#  (I3) sidecar mode: the default (on) intercepts the same way.
#
# Topology: ic$$ (ztdnsd, dig) c0 192.0.2.1/24, 2001:db8:1::1/64 <-veth->
# in$$ n0 192.0.2.2/24, 2001:db8:1::2/64: unbound pdns.test on 192.0.2.53
# (DoT 853), the rogue unbound on 198.51.100.53 and 2001:db8:10::53 (plain
# DNS on 53 and 5353), 198.51.100.0/24 and 2001:db8:10::/64 local (AnyIP)
# with ztnet.py serve on 7001, far-end counters in in$$'s INPUT.
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID.

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_intercept.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
for tool in unbound dig setpriv curl; do
	command -v $tool >/dev/null || { not_ok "$tool is installed"; exit 1; }
done
[ -x "$ZTD" ] && [ -x "$ZTC" ] || { not_ok "ztdnsd and ztdnsctl are built in $BUILD"; exit 1; }

C=ic$$
N=in$$
PKI=$ZT_TMP/pki
UB=$ZT_TMP/ub
RG=$ZT_TMP/rogue
SOCK=$ZT_TMP/ctl.sock
PORT=7001
QNUM=27
ROGUE=198.51.100.53
ROGUE6=2001:db8:10::53
ZTD_PID=
ZTD_RUN=0

# ------------------------------------------------------------------ helpers

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
st() { ctl --json status 2>/dev/null | json_get "$1"; }
# ask SERVER NAME TYPE [dig options...]: "RCODE ADDR..." ("NONE": no answer)
ask() {
	local srv=$1 name=$2 type=$3 out rc
	shift 3
	out=$(timeout 8 ip netns exec "$C" dig +tries=1 +time=2 "$@" @"$srv" "$name" "$type" 2>&1)
	rc=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | head -n 1)
	# shellcheck disable=SC2046 # the addresses, one word each
	echo "${rc:-NONE}" $(awk '$4 == "A" || $4 == "AAAA" { print $5 }' <<<"$out" | sort)
}
# the queries an unbound logged for NAME (what really reached it)
logged() { grep -ci " $2\. [A-Z]* IN$" "$1/unbound.log" 2>/dev/null || true; }
tcp_probe() { timeout 4 ip netns exec "$C" "${ZT_NET[@]}" tcp "$1" $PORT --timeout 1.2 --tag "i$$" >/dev/null 2>&1; }
stub_listens() { ns_exec "$C" ss -Hlun "sport = :53" | grep -q '127.0.0.1:53'; }
far() { ctr_get "$N" "$1" "$2"; }
rogue_all() { echo "$(far 4 rogue-udp) $(far 4 rogue-tcp) $(far 6 rogue6-udp) $(far 4 rogue-5353)"; }

conf_write() { # FILE MODE [EXTRA_JSON]
	cat >"$1" <<JSON
{"mode":"$2",
 "servers":[{"name":"pdns","protocol":"dot","address":"192.0.2.53","tls_name":"pdns.test","ca_file":"$PKI/ca.pem"}],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "log":{"level":"info"}${3:+,
 $3}}
JSON
}

daemon_start() { # LABEL CONF
	local label=$1 conf=$2 i out
	ZTD_RUN=$((ZTD_RUN + 1))
	ZTD_LOG=ztdnsd-$ZTD_RUN
	out=$(timeout 5 "$ZTD" --check -c "$conf" 2>&1) ||
		{ not_ok "$label: ztdnsd --check accepts the configuration" "$out"; return 1; }
	bg_start "$ZTD_LOG" "$C" "$ZTD" -c "$conf" --foreground -v
	ZTD_PID=$BG_PID
	for ((i = 0; i < 30; i++)); do
		out=$(ctl wait-ready --timeout 1 2>&1) && break
		pid_alive "$ZTD_PID" || break
		sleep 0.2
	done
	if pid_alive "$ZTD_PID" && ctl wait-ready --timeout 2 >/dev/null 2>&1 && wait_for 5 stub_listens; then
		ok "$label: ztdnsd ready"
		return 0
	fi
	not_ok "$label: ztdnsd ready" "$out" "$(tail -n 15 "$ZT_TMP/$ZTD_LOG.log")"
	return 1
}

daemon_stop() {
	[ -z "$ZTD_PID" ] && return 0
	if pid_alive "$ZTD_PID"; then ok "ztdnsd run $ZTD_RUN still running at the end of its part"
	else not_ok "ztdnsd run $ZTD_RUN still running at the end of its part" "$(tail -n 20 "$ZT_TMP/$ZTD_LOG.log")"; fi
	bg_stop "$ZTD_PID" TERM 8
	ZTD_PID=
	rm -f "$SOCK"
}
zt_on_cleanup daemon_stop
nat_has_ldns() { ns_exec "$C" iptables -w 5 -t nat -S 2>/dev/null | grep -q -- "-j ZTDNS-LDNS"; }
nat6_has_ldns() { ns_exec "$C" ip6tables -w 5 -t nat -S 2>/dev/null | grep -q -- "-j ZTDNS-LDNS"; }

# ------------------------------------------------------------------ topology

ns_new "$C" && ns_new "$N" || { not_ok "create namespaces $C and $N"; exit 1; }
ns_veth "$C" c0 "$N" n0 || { not_ok "create veth pair"; exit 1; }
ns_addr "$C" c0 192.0.2.1/24
ns_addr "$C" c0 2001:db8:1::1/64
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.2
ip -n "$C" -6 route add 2001:db8:10::/64 via 2001:db8:1::2
ns_addr "$N" n0 192.0.2.2/24
ns_addr "$N" n0 2001:db8:1::2/64
ns_addr "$N" n0 192.0.2.53/32
ip -n "$N" route add local 198.51.100.0/24 dev lo
ip -n "$N" -6 route add local 2001:db8:10::/64 dev lo
ns_addr "$N" lo $ROGUE/32
ns_addr "$N" lo $ROGUE6/128
ctr_setup "$N" || { not_ok "far-end counting chains"; exit 1; }
ctr_add "$N" 4 rogue-udp -d $ROGUE -p udp --dport 53
ctr_add "$N" 4 rogue-tcp -d $ROGUE -p tcp --dport 53
ctr_add "$N" 6 rogue6-udp -d $ROGUE6 -p udp --dport 53
ctr_add "$N" 4 rogue-5353 -d $ROGUE -p udp --dport 5353
ctr_add "$N" 4 web-syn -d 198.51.100.10 -p tcp --dport $PORT --syn

bg_start web "$N" "${ZT_NET[@]}" serve --tcp $PORT --udp 7002 --log "$ZT_TMP/web-server.log" --max-seconds 900
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started"; exit 1; }

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test 192.0.2.53
pki_server "$PKI" rogue ca rogue.test $ROGUE
printf '%s\n' "web.test. 60 A 198.51.100.10" "web.test. 60 AAAA 2001:db8:10::10" >"$ZT_TMP/pdns.data"
# The rogue resolver's own answers: who answered is in the address.
printf '%s\n' "web.test. 60 A 198.51.100.66" "web.test. 60 AAAA 2001:db8:10::66" >"$ZT_TMP/rogue.data"
mkdir -p "$UB" "$RG"
pdns_unbound_conf "$UB" 192.0.2.53 "$PKI/pdns.pem" "$PKI/pdns.key" "$ZT_TMP/pdns.data" >"$UB/unbound.conf"
{
	pdns_unbound_conf "$RG" $ROGUE "$PKI/rogue.pem" "$PKI/rogue.key" "$ZT_TMP/rogue.data" 53
	printf '\tinterface: %s@5353\n\tinterface: %s@53\n' $ROGUE $ROGUE6
} >"$RG/unbound.conf"
for u in "$UB" "$RG"; do
	pdns_unbound_start "$N" "$u" && ZT_PIDS+=("$PDNS_PID") && ZT_PID_LABELS+=("unbound") ||
		{ not_ok "unbound $u started" "$(cat "$u/unbound.log")"; exit 1; }
done
pdns_wait_port "$N" 192.0.2.53 853 && pdns_wait_port "$N" $ROGUE 53 ||
	{ not_ok "unbound servers listening" "$(cat "$UB/unbound.log" "$RG/unbound.log")"; exit 1; }
ok "unbound pdns.test (DoT 192.0.2.53:853) and the rogue resolver (plain, $ROGUE:53, :5353, [$ROGUE6]:53) listening"
check_eq "baseline (no ztdnsd): the rogue resolver answers with its own address" "NOERROR 198.51.100.66" \
	"$(ask $ROGUE web.test A)"
check_eq "baseline: the rogue resolver answers on 5353" "NOERROR 198.51.100.66" "$(ask $ROGUE web.test A -p 5353)"
check_eq "baseline: the rogue resolver answers over IPv6" "NOERROR 2001:db8:10::66" "$(ask $ROGUE6 web.test AAAA)"
check "baseline: 198.51.100.10 reachable without ztdnsd" tcp_probe 198.51.100.10

# ================================================================== I1
echo "# (I1) host mode, intercept_dns by default; query_log to a file"
QLOG=$ZT_TMP/queries.log
conf_write "$ZT_TMP/i1.json" host '"query_log":{"file":"'"$QLOG"'"},"metrics":{"listen":"127.0.0.1:9154"}'
out=$(timeout 5 "$ZTD" --print-ruleset -c "$ZT_TMP/i1.json" 2>&1)
check "(I1) --print-ruleset: UDP and TCP port 53 DNATed to 127.0.0.1:53 and [::1]:53" bash -c '
	grep -q -- "-A ZTDNS-LDNS -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.1:53" <<<"$1" &&
	grep -q -- "-A ZTDNS-LDNS -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.1:53" <<<"$1" &&
	grep -q -- "-A ZTDNS-LDNS -p udp -m udp --dport 53 -j DNAT --to-destination \[::1\]:53" <<<"$1"' _ "$out"
daemon_start I1 "$ZT_TMP/i1.json" || exit 1
check "(I1) the nat OUTPUT chain jumps to ZTDNS-LDNS (IPv4)" nat_has_ldns
check "(I1) the nat OUTPUT chain jumps to ZTDNS-LDNS (IPv6)" nat6_has_ldns
c0=$(far 4 web-syn)
check_fail "(I1) before any lookup 198.51.100.10 is denied" tcp_probe 198.51.100.10
check_eq "(I1) ...and no SYN reached it" "$c0" "$(far 4 web-syn)"
r0=$(rogue_all)
l0=$(logged "$RG" web.test)
p0=$(logged "$UB" web.test)
u0=$(st dns.udp_queries)
t0=$(st dns.tcp_queries)
k0=$(st dns.owner_unknown)
check_eq "(I1) dig @$ROGUE web.test A (UDP): the Protective DNS answer" "NOERROR 198.51.100.10" "$(ask $ROGUE web.test A)"
check_eq "(I1) dig @$ROGUE web.test A +tcp: the Protective DNS answer" "NOERROR 198.51.100.10" "$(ask $ROGUE web.test A +tcp)"
check_eq "(I1) dig @$ROGUE6 web.test AAAA (UDP): the Protective DNS answer" "NOERROR 2001:db8:10::10" \
	"$(ask $ROGUE6 web.test AAAA)"
out=$(timeout 8 ip netns exec "$C" setpriv --reuid=65534 --regid=65534 --clear-groups \
	dig +tries=1 +time=2 @$ROGUE web.test A +short 2>&1)
check_eq "(I1) uid 65534 asking $ROGUE: the Protective DNS answer" 198.51.100.10 "$out"
out=$(timeout 8 ip netns exec "$C" setpriv --reuid=65533 --regid=65533 --clear-groups \
	dig +tries=1 +time=2 +tcp @$ROGUE web.test A +short 2>&1)
check_eq "(I1) uid 65533 asking $ROGUE over TCP: the Protective DNS answer" 198.51.100.10 "$out"
sleep 0.3
check_eq "(I1) the rogue resolver received nothing (UDP v4, TCP v4, UDP v6, 5353)" "$r0" "$(rogue_all)"
check_eq "(I1) the rogue resolver logged no query" "$l0" "$(logged "$RG" web.test)"
check_eq "(I1) the Protective DNS server logged the five queries" "$((p0 + 5))" "$(logged "$UB" web.test)"
check_eq "(I1) the stub counted 3 UDP queries" "$((u0 + 3))" "$(st dns.udp_queries)"
check_eq "(I1) the stub counted 2 TCP queries" "$((t0 + 2))" "$(st dns.tcp_queries)"
check_eq "(I1) the uid of every intercepted query was found (status dns.owner_unknown unchanged)" "$k0" "$(st dns.owner_unknown)"
# ---- the query log (query_log): one JSON line per answered query
out=$(timeout 8 ip netns exec "$C" setpriv --reuid=65534 --regid=65534 --clear-groups \
	dig +tries=1 +time=2 @127.0.0.1 nx.test A 2>&1)
wait_for 5 grep -q '"name":"nx.test"' "$QLOG"
diag "$(head -n 6 "$QLOG")"
ql() { grep -F "$1" "$QLOG" | grep -F "$2" | head -n 1; }
line=$(ql '"type":"A",' '"client":"192.0.2.1:')
check_eq "(I1) query log: the intercepted A query (client 192.0.2.1), its rcode, what it learned, the server" \
	'"name":"web.test" "type":"A" "rcode":"NOERROR" "learned":["198.51.100.10"] "removed":[] "server":"pdns" "cache":false' \
	"$(grep -o '"name":"[^"]*"\|"type":"[^"]*"\|"rcode":"[^"]*"\|"learned":\[[^]]*\]\|"removed":\[[^]]*\]\|"server":"[^"]*"\|"cache":[a-z]*' <<<"$line" | tr '\n' ' ' | sed 's/ $//')"
check "(I1) query log: a time and a latency" bash -c \
	'grep -Eq "^\{\"time\":\"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\"" <<<"$1" && grep -Eq "\"latency_us\":[0-9]+\}$" <<<"$1"' _ "$line"
check "(I1) query log: the AAAA answer over IPv6 (client [2001:db8:1::1])" bash -c \
	'grep -F "\"client\":\"[2001:db8:1::1]:" <<<"$1" | grep -qF "\"learned\":[\"2001:db8:10::10\"]"' _ "$(cat "$QLOG")"
check_eq "(I1) query log: 5 lines for web.test (UDP v4, TCP v4, UDP v6, uid 65534, uid 65533 TCP)" 5 "$(grep -c '"name":"web.test"' "$QLOG")"
line=$(ql '"name":"nx.test"' '"rcode"')
check "(I1) query log: nx.test NXDOMAIN from uid 65534 (asked on 127.0.0.1), nothing learned" bash -c \
	'grep -qF "\"uid\":65534," <<<"$1" && grep -qF "\"rcode\":\"NXDOMAIN\"" <<<"$1" && grep -qF "\"learned\":[]" <<<"$1"' _ "$line"
check "(I1) query log: the intercepted UDP query of uid 65534 carries its uid" bash -c \
	'grep -F "\"uid\":65534," <<<"$1" | grep -qF "\"name\":\"web.test\""' _ "$(cat "$QLOG")"
check "(I1) query log: the intercepted TCP query of uid 65533 carries its uid" bash -c \
	'grep -F "\"uid\":65533," <<<"$1" | grep -qF "\"name\":\"web.test\""' _ "$(cat "$QLOG")"
check "(I1) query log: the intercepted queries of root carry uid 0" bash -c \
	'grep -F "\"uid\":0," <<<"$1" | grep -qF "\"client\":\"192.0.2.1:"' _ "$(cat "$QLOG")"
check "(I1) metrics: ztdns_query_log_lines_total{outcome=written}" bash -c \
	"ip netns exec $C curl -s --max-time 3 http://127.0.0.1:9154/metrics | grep -q '^ztdns_query_log_lines_total{outcome=\"written\"} [1-9]'"
# logrotate: moved away, SIGUSR1, the next line goes to a new file by the name.
mv "$QLOG" "$QLOG.1"
kill -USR1 "$ZTD_PID"
wait_for 5 test -e "$QLOG"
ask 127.0.0.1 web.test A >/dev/null
wait_for 5 grep -q '"name":"web.test"' "$QLOG"
check_eq "(I1) after SIGUSR1 the query log is reopened by its name (1 new line)" 1 "$(grep -c . "$QLOG" 2>/dev/null)"
check "(I1) ...the old file kept its lines" test "$(grep -c . "$QLOG.1")" -ge 6
check "(I1) after the intercepted lookup 198.51.100.10 is reachable" tcp_probe 198.51.100.10
check "(I1) ...and the far end saw the SYN" test "$(far 4 web-syn)" -gt "$c0"
check_eq "(I1) DNS to port 5353 of the resolver: no answer (denied as any flow)" NONE "$(ask $ROGUE web.test A -p 5353)"
check_eq "(I1) ...nothing reached it" "$r0" "$(rogue_all)"
ctl allow $ROGUE --ttl 60 >/dev/null 2>&1 || not_ok "(I1) ztdnsctl allow $ROGUE"
check_eq "(I1) with $ROGUE allowed, port 5353 reaches it (its own answer)" "NOERROR 198.51.100.66" \
	"$(ask $ROGUE web.test A -p 5353)"
r1=$(rogue_all)
check_eq "(I1) with $ROGUE allowed, port 53 still goes to the stub" "NOERROR 198.51.100.10" "$(ask $ROGUE web.test A)"
check_eq "(I1) ...and port 53 of the resolver still received nothing" "$r1" "$(rogue_all)"
ctl revoke $ROGUE >/dev/null 2>&1
# A crash: the lockdown stays, and plain DNS still goes nowhere.
kill -KILL "$ZTD_PID" 2>/dev/null
wait_for 5 pid_gone "$ZTD_PID"
ZTD_PID=
rm -f "$SOCK"
r1=$(rogue_all)
check_eq "(I1) after SIGKILL: dig @$ROGUE gets no answer" NONE "$(ask $ROGUE web.test A)"
check_eq "(I1) after SIGKILL: dig @$ROGUE +tcp gets no answer" NONE "$(ask $ROGUE web.test A +tcp)"
check_eq "(I1) after SIGKILL: nothing reached the resolver" "$r1" "$(rogue_all)"
out=$(ip netns exec "$C" "$ZTD" -c "$ZT_TMP/i1.json" --remove-ruleset --force 2>&1)
check "(I1) ztdnsd --remove-ruleset --force" test $? = 0
check_fail "(I1) ...removes the nat jump (IPv4)" nat_has_ldns
check_fail "(I1) ...and IPv6" nat6_has_ldns
check "(I1) ...and the nat chain itself" bash -c "! ip netns exec $C iptables-save -t nat | grep -q ZTDNS"
check_eq "(I1) without ztdnsd the rogue resolver answers again" "NOERROR 198.51.100.66" "$(ask $ROGUE web.test A)"

# ================================================================== I2
echo "# (I2) intercept_dns false"
conf_write "$ZT_TMP/i2.json" host '"intercept_dns":false'
daemon_start I2 "$ZT_TMP/i2.json" || exit 1
check_fail "(I2) no ZTDNS-LDNS in the nat table" nat_has_ldns
r0=$(rogue_all)
u0=$(st dns.udp_queries)
check_eq "(I2) dig @$ROGUE web.test A: no answer" NONE "$(ask $ROGUE web.test A)"
check_eq "(I2) dig @$ROGUE web.test A +tcp: no answer" NONE "$(ask $ROGUE web.test A +tcp)"
check_eq "(I2) dig @$ROGUE6 web.test AAAA: no answer" NONE "$(ask $ROGUE6 web.test AAAA)"
sleep 0.3
check_eq "(I2) nothing reached the rogue resolver" "$r0" "$(rogue_all)"
check_eq "(I2) the stub saw none of them" "$u0" "$(st dns.udp_queries)"
ctl allow $ROGUE --ttl 60 >/dev/null 2>&1 || not_ok "(I2) ztdnsctl allow $ROGUE"
l0=$(logged "$RG" web.test)
check_eq "(I2) control: allowed, the rogue resolver answers with its own address" "NOERROR 198.51.100.66" \
	"$(ask $ROGUE web.test A)"
check "(I2) control: ...its counter moved" test "$(far 4 rogue-udp)" -gt "${r0%% *}"
check_eq "(I2) control: ...and it logged the query" "$((l0 + 1))" "$(logged "$RG" web.test)"
ctl revoke $ROGUE >/dev/null 2>&1
daemon_stop
check_fail "(I2) clean stop: no ZTDNS-LDNS left" nat_has_ldns

# ================================================================== I3
echo "# (I3) sidecar mode, intercept_dns by default"
conf_write "$ZT_TMP/i3.json" sidecar
daemon_start I3 "$ZT_TMP/i3.json" || exit 1
check "(I3) the nat OUTPUT chain jumps to ZTDNS-LDNS" nat_has_ldns
r0=$(rogue_all)
check_eq "(I3) dig @$ROGUE web.test A: the Protective DNS answer" "NOERROR 198.51.100.10" "$(ask $ROGUE web.test A)"
check_eq "(I3) dig @$ROGUE web.test A +tcp: the Protective DNS answer" "NOERROR 198.51.100.10" "$(ask $ROGUE web.test A +tcp)"
check_eq "(I3) dig @$ROGUE6 web.test AAAA: the Protective DNS answer" "NOERROR 2001:db8:10::10" "$(ask $ROGUE6 web.test AAAA)"
sleep 0.3
check_eq "(I3) the rogue resolver received nothing" "$r0" "$(rogue_all)"
check "(I3) 198.51.100.10 reachable after the lookup" tcp_probe 198.51.100.10
daemon_stop
check_fail "(I3) clean stop: no ZTDNS-LDNS left" nat_has_ldns

zt_summary
