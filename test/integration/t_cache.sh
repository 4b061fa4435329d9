#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_cache.sh BUILD_DIR — issue 12, the stub's answer cache (cache.enabled),
# host mode, against a real Protective DNS server (unbound over DoT) whose
# query log tells how many queries really reached it:
#
#  (K1) hits are served without an upstream query (UDP and TCP, any case of
#       the name), counted in status.cache and ztdns_cache_events_total / ztdns_cache_current metrics;
#  (K2) TTLs count down in served answers;
#  (K3) expiry: past its TTL an answer is asked again (never stale);
#  (K4) negative caching (RFC 2308): NXDOMAIN kept for the SOA MINIMUM, then
#       asked again;
#  (K5) a hit renews the allowance before the answer is sent: the address,
#       revoked (denied at the far end), is reachable again after a lookup
#       that the server never saw;
#  (K6) a hit whose allowance cannot be renewed (the allowset is full) is
#       not served: it goes upstream like a miss (SERVFAIL, invariant 7),
#       cache.renew_refused counted;
#  (K7) ztdnsctl cache list / flush: after a flush the server is asked again;
#  (K8) cache off (the default): every lookup reaches the server.
#
# Topology: kc$$ (ztdnsd, dig, probes) c0 192.0.2.1/24 <-veth-> kn$$ n0
# 192.0.2.2/24: unbound pdns.test on 192.0.2.53 (DoT 853), 198.51.100.0/24
# and 198.18.0.0/24 local (AnyIP) with ztnet.py serve on 7001 and far-end
# SYN counters in kn$$'s raw PREROUTING. ZT_KEEP_TMP=1 keeps /tmp/zt-PID.

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_cache.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
for tool in unbound dig curl; do
	command -v $tool >/dev/null || { not_ok "$tool is installed"; exit 1; }
done
[ -x "$ZTD" ] && [ -x "$ZTC" ] || { not_ok "ztdnsd and ztdnsctl are built in $BUILD"; exit 1; }

C=kc$$
N=kn$$
PKI=$ZT_TMP/pki
UB=$ZT_TMP/ub
SOCK=$ZT_TMP/ctl.sock
PORT=7001
QNUM=23
METRICS_PORT=9153
ZTD_PID=
ZTD_RUN=0

# ------------------------------------------------------------------ helpers

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
st() { ctl --json status 2>/dev/null | json_get "$1"; }
# ask NAME [TYPE] [dig options...]: "RCODE TTL ADDR..." of the first answer
ask() {
	local name=$1 type=$2
	shift 2
	timeout 8 ip netns exec "$C" dig +tries=1 +time=4 "$@" @127.0.0.1 "$name" "$type" 2>&1 |
		awk '/status:/ { sub(",", "", $6); rc = $6 } /^[^;].*\tIN\t(A|SOA)\t/ { if (!ttl) ttl = $2; a = a " " $5 }
		     END { print rc, (ttl ? ttl : "-") a }'
}
# the queries unbound logged for NAME TYPE (what really reached the server)
served() { grep -ci " $1\. ${2:-A} IN$" "$UB/unbound.log" 2>/dev/null || true; }

raw_setup() {
	ns_exec "$N" iptables -w 5 -t raw -N KRAW || return 1
	ns_exec "$N" iptables -w 5 -t raw -I PREROUTING 1 -i n0 -j KRAW
}
raw_add() { local name=$1; shift; ns_exec "$N" iptables -w 5 -t raw -A KRAW "$@" -m comment --comment "$name"; }
raw_get() {
	ns_exec "$N" iptables -w 5 -t raw -L KRAW -v -x -n 2>/dev/null |
		awk -v c="/* $1 */" 'index($0, c) { print $1; exit }'
}
tcp_probe() { timeout 4 ip netns exec "$C" "${ZT_NET[@]}" tcp "$1" $PORT --timeout 1.2 --tag "k$$" >/dev/null 2>&1; }

stub_listens() { ns_exec "$C" ss -Hlun "sport = :53" | grep -q '127.0.0.1:53'; }

conf_write() { # FILE CACHE_JSON LIMITS_JSON TTL_JSON
	cat >"$1" <<JSON
{"mode":"host",
 "servers":[{"name":"pdns","protocol":"dot","address":"192.0.2.53","tls_name":"pdns.test","ca_file":"$PKI/ca.pem"}],
 "listen":["127.0.0.1:53"],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "metrics":{"listen":"127.0.0.1:$METRICS_PORT"},
 "log":{"level":"info"},
 "cache":$2, "limits":$3, "ttl":$4}
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

# ------------------------------------------------------------------ topology

ns_new "$C" && ns_new "$N" || { not_ok "create namespaces $C and $N"; exit 1; }
ns_veth "$C" c0 "$N" n0 || { not_ok "create veth pair"; exit 1; }
ns_addr "$C" c0 192.0.2.1/24
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.2
ip -n "$C" route add 198.18.0.0/24 via 192.0.2.2
ns_addr "$N" n0 192.0.2.2/24
ns_addr "$N" n0 192.0.2.53/32
ip -n "$N" route add local 198.51.100.0/24 dev lo
ip -n "$N" route add local 198.18.0.0/24 dev lo
raw_setup || { not_ok "far-end counting chain"; exit 1; }
raw_add renew-syn -d 198.51.100.20 -p tcp --syn

bg_start web "$N" "${ZT_NET[@]}" serve --tcp $PORT --udp 7002 --log "$ZT_TMP/web-server.log" --max-seconds 900
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started"; exit 1; }

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test 192.0.2.53
{
	# the SOA of test. (its own zone below, replacing unbound's built-in
	# one): NXDOMAIN answers carry it (RFC 2308 §3), MINIMUM 4 s is their
	# negative TTL
	echo "test. 3600 SOA ns.test. host.test. 1 3600 600 86400 4"
	echo "web.test. 60 A 198.51.100.10"
	echo "short.test. 3 A 198.51.100.11"
	echo "renew.test. 300 A 198.51.100.20"
	echo "victim.test. 300 A 198.51.100.21"
	for i in $(seq 1 16); do echo "fill.test. 3600 A 198.18.0.$i"; done
} >"$ZT_TMP/pdns.data"
mkdir -p "$UB"
{
	pdns_unbound_conf "$UB" 192.0.2.53 "$PKI/pdns.pem" "$PKI/pdns.key" "$ZT_TMP/pdns.data"
	printf '\tlocal-zone: "test." static\n'
} >"$UB/unbound.conf"
pdns_unbound_start "$N" "$UB" && ZT_PIDS+=("$PDNS_PID") && ZT_PID_LABELS+=("unbound") &&
	pdns_wait_port "$N" 192.0.2.53 853 ||
	{ not_ok "unbound started" "$(cat "$UB/unbound.log")"; exit 1; }
ok "unbound pdns.test (DoT) listening on 192.0.2.53:853"
check "baseline: 198.51.100.20 reachable without ztdnsd" tcp_probe 198.51.100.20

# ================================================================== K1..K7
echo "# (K1..K7) cache on: max_entries 100, negative_max 10; learned_max 17"
conf_write "$ZT_TMP/k1.json" '{"enabled":true,"max_entries":100,"max_bytes":65536,"negative_max":10}' \
	'{"learned_max":17,"learned_per_client":17}' '{"min":1,"max":86400,"grace":0}'
daemon_start K1 "$ZT_TMP/k1.json" || exit 1
check_eq "(K1) status.cache.enabled" true "$(st cache.enabled)"

# ---- K1: hits without an upstream query
out=$(ask web.test A)
check_eq "(K1) first lookup: NOERROR 198.51.100.10" "NOERROR 198.51.100.10" "$(awk '{ print $1, $3 }' <<<"$out")"
check_eq "(K1) the server saw it once" 1 "$(served web.test)"
h0=$(st cache.hits)
for i in 1 2 3; do out=$(ask web.test A); done
check_eq "(K1) three more lookups: NOERROR 198.51.100.10" "NOERROR 198.51.100.10" "$(awk '{ print $1, $3 }' <<<"$out")"
out=$(ask WeB.TeSt A)
check_eq "(K1) another case of the name: NOERROR 198.51.100.10" "NOERROR 198.51.100.10" "$(awk '{ print $1, $3 }' <<<"$out")"
check "(K1) the answer echoes the question's case" bash -c \
	"ip netns exec $C dig +tries=1 +time=4 @127.0.0.1 WeB.TeSt A | grep -q '^WeB.TeSt.'"
out=$(ask web.test A +tcp)
check_eq "(K1) over TCP: NOERROR 198.51.100.10" "NOERROR 198.51.100.10" "$(awk '{ print $1, $3 }' <<<"$out")"
check_eq "(K1) the server still saw web.test once (hits are not forwarded)" 1 "$(served web.test)"
check_eq "(K1) status.cache.hits +6" 6 "$(($(st cache.hits) - h0))"
check "(K1) metrics: ztdns_cache_events_total{event=\"hits\"}" bash -c \
	"ip netns exec $C curl -s --max-time 3 http://127.0.0.1:$METRICS_PORT/metrics | grep -q '^ztdns_cache_events_total{event=.hits.} [1-9]'"
check "(K1) metrics: ztdns_cache_current{what=entries} gauge" bash -c \
	"ip netns exec $C curl -s --max-time 3 http://127.0.0.1:$METRICS_PORT/metrics | grep -q '^# TYPE ztdns_cache_current gauge'"

# ---- K2: TTLs count down
t1=$(ask web.test A | awk '{ print $2 }')
sleep 2.2
t2=$(ask web.test A | awk '{ print $2 }')
diag "(K2) web.test TTL $t1, then $t2 2.2 s later"
check "(K2) the served TTL went down by 2..4 s ($t1 -> $t2)" test "$t2" -le $((t1 - 2)) -a "$t2" -ge $((t1 - 4))
check "(K2) and never above the server's 60" test "$t1" -le 60

# ---- K3: expiry
out=$(ask short.test A)
check_eq "(K3) short.test (TTL 3): NOERROR 198.51.100.11" "NOERROR 198.51.100.11" "$(awk '{ print $1, $3 }' <<<"$out")"
ask short.test A >/dev/null
check_eq "(K3) asked twice within its TTL: the server saw it once" 1 "$(served short.test)"
e0=$(st cache.expired)
sleep 3.3
out=$(ask short.test A)
check_eq "(K3) after its TTL: answered (NOERROR 198.51.100.11)" "NOERROR 198.51.100.11" "$(awk '{ print $1, $3 }' <<<"$out")"
check_eq "(K3) ...by the server again (never stale)" 2 "$(served short.test)"
check "(K3) status.cache.expired counted it" test "$(st cache.expired)" -gt "$e0"

# ---- K4: negative caching
out=$(ask nx.test A)
check_eq "(K4) nx.test: NXDOMAIN" NXDOMAIN "$(awk '{ print $1 }' <<<"$out")"
n0=$(st cache.negative)
out=$(ask nx.test A)
check_eq "(K4) again: NXDOMAIN" NXDOMAIN "$(awk '{ print $1 }' <<<"$out")"
check_eq "(K4) the server saw nx.test once" 1 "$(served nx.test)"
check "(K4) status.cache.negative_entries >= 1" test "$(st cache.negative_entries)" -ge 1
sleep 4.3
ask nx.test A >/dev/null
check_eq "(K4) after the SOA MINIMUM (4 s): asked again" 2 "$(served nx.test)"
check "(K4) status.cache.negative counts the inserts" test "$(st cache.negative)" -gt "$n0"

# ---- K5: a hit renews the allowance
out=$(ask renew.test A)
check_eq "(K5) renew.test: NOERROR 198.51.100.20" "NOERROR 198.51.100.20" "$(awk '{ print $1, $3 }' <<<"$out")"
check "(K5) 198.51.100.20 reachable after the lookup" tcp_probe 198.51.100.20
check "(K5) ztdnsctl revoke 198.51.100.20" ctl revoke 198.51.100.20
s0=$(raw_get renew-syn)
check_fail "(K5) revoked: 198.51.100.20 denied" tcp_probe 198.51.100.20
check_eq "(K5) the far end saw no SYN of it" "$s0" "$(raw_get renew-syn)"
out=$(ask renew.test A)
check_eq "(K5) lookup again: NOERROR 198.51.100.20" "NOERROR 198.51.100.20" "$(awk '{ print $1, $3 }' <<<"$out")"
check_eq "(K5) ...from the cache (the server saw renew.test once)" 1 "$(served renew.test)"
check "(K5) the hit renewed the allowance: 198.51.100.20 reachable" tcp_probe 198.51.100.20
check "(K5) the far end saw it" test "$(raw_get renew-syn)" -gt "$s0"
check_eq "(K5) explain: learned" learned \
	"$(ctl explain 198.51.100.20 --port $PORT --json | json_get reason)"

# ---- K6: a hit whose allowance cannot be renewed is not served
out=$(ask victim.test A)
check_eq "(K6) victim.test: NOERROR 198.51.100.21" "NOERROR 198.51.100.21" "$(awk '{ print $1, $3 }' <<<"$out")"
check "(K6) ztdnsctl flush (every allowance gone, the cache kept)" ctl flush
out=$(ask fill.test A)
check_eq "(K6) fill.test: its 16 addresses learned" 16 "$(wc -w <<<"$out" | awk '{ print $1 - 2 }')"
# renew.test from the cache takes the 17th place
ask renew.test A >/dev/null
check_eq "(K6) the allowset holds 17 (learned_max)" 17 "$(st allowset.entries)"
r0=$(st cache.renew_refused)
u0=$(served victim.test)
out=$(ask victim.test A)
check_eq "(K6) victim.test again, the table full: SERVFAIL (never an address that is not allowed)" SERVFAIL "$(awk '{ print $1 }' <<<"$out")"
check_eq "(K6) cache.renew_refused +1" 1 "$(($(st cache.renew_refused) - r0))"
check_eq "(K6) the query went upstream like a miss" $((u0 + 1)) "$(served victim.test)"

# ---- K7: list and flush
# nx.test's negative entry lives 4 s (its SOA MINIMUM) and K5-K6 may take
# longer on a loaded machine: ask it again so that it is live in the list.
ask nx.test A >/dev/null
lst=$(ctl cache list 2>&1)
diag "$(head -n 5 <<<"$lst")"
check "(K7) ztdnsctl cache list shows web.test" grep -q '^web.test type 1 ' <<<"$lst"
check "(K7) ...and the negative nx.test" bash -c "grep -q '^nx.test type 1 identity 0 rcode 3 negative' <<<\"\$1\"" _ "$lst"
out=$(ctl --json cache flush)
check "(K7) ztdnsctl cache flush removed entries" test "$(json_get removed <<<"$out")" -ge 2
check_eq "(K7) status.cache.entries 0" 0 "$(st cache.entries)"
ask web.test A >/dev/null
check_eq "(K7) after the flush web.test reaches the server again" 2 "$(served web.test)"
check_fail "(K7) an unknown action is refused" ctl cache drop
daemon_stop

# ================================================================== K8
echo "# (K8) cache off (the default)"
conf_write "$ZT_TMP/k8.json" '{}' '{}' '{}'
daemon_start K8 "$ZT_TMP/k8.json" || exit 1
check_eq "(K8) status.cache.enabled false" false "$(st cache.enabled)"
w0=$(served web.test)
for i in 1 2 3; do ask web.test A >/dev/null; done
check_eq "(K8) three lookups reach the server three times" $((w0 + 3)) "$(served web.test)"
check_fail "(K8) ztdnsctl cache list: refused, the cache is off" ctl cache list
daemon_stop

zt_summary
