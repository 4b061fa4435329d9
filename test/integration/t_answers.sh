#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_answers.sh BUILD_DIR — issue 10 §4, DESIGN.md invariant 7: every address
# an application receives from the stub is in the allowset at that moment.
# Against a real unbound Protective DNS server (DoT), a host-mode ztdnsd:
#   (1) limits.addrs_per_name 3, an answer with 6 addresses: dig gets only 3,
#       each reachable at the far end; the other 3 are refused at the far end
#       and `explain` says over-cap (why addrs_per_name, the name, when);
#   (2) never-learn classes in answers (loopback, link-local, multicast,
#       240/4, directed broadcast of the client's subnet, fec0::/10, mapped,
#       NAT64 well-known, Teredo, 6to4, a configured NAT64 prefix) are removed,
#       SERVFAIL when nothing is left; the learnable address of a mixed answer
#       stays and is reachable; the link-local one arrived before the daemon
#       ran and arrives no more; `explain` says never-learn with the class;
#   (3) `ztdnsctl allow` refuses the never-learn classes (and their embedded
#       forms), and still allows a normal address (reachable after);
#   (4) allowset full (limits.learned_max 16): the answer that cannot be
#       learned is SERVFAIL, its address refused at the far end with over-cap
#       (why allowset-full), and reachable after a flush and a new lookup;
#   counters in `status --json` (dns.answers) and the metrics.
#
# Topology (namespaces made here, removed on every exit path):
#   anc$$ (client, ztdnsd)  c0 192.0.2.1/24, 2001:db8:1::1/64
#   ann$$ (network)         n0 192.0.2.2/24, 2001:db8:1::2/64, 192.0.2.53 unbound
#       198.51.100.0/24, 2001:db8:10::/64, 169.254.169.254 local (AnyIP):
#       ztnet.py serve on 7001, far-end counters in raw PREROUTING.
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID.

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_answers.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
for tool in unbound dig curl openssl; do
	command -v $tool >/dev/null || { not_ok "$tool is installed"; exit 1; }
done
[ -x "$ZTD" ] && [ -x "$ZTC" ] || { not_ok "ztdnsd and ztdnsctl are built in $BUILD"; exit 1; }

C=anc$$
N=ann$$
PKI=$ZT_TMP/pki
SOCK=$ZT_TMP/ctl.sock
VLOG=$ZT_TMP/verdicts.log
PORT=7001
QNUM=12
MPORT=9412
PY=$ZT_PY
ZTD_PID=
ZTD_RUN=0

# ------------------------------------------------------------------ helpers

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
st() { ctl --json status 2>/dev/null | json_get "$1"; }
explain() { ctl --json explain "$1" --port "$PORT" 2>/dev/null | json_get "$2"; }
fam() { case $1 in *:*) echo 6 ;; *) echo 4 ;; esac; }

raw_setup() {
	local t
	for t in iptables ip6tables; do
		ns_exec "$N" $t -w 5 -t raw -N ANSRAW || return 1
		ns_exec "$N" $t -w 5 -t raw -I PREROUTING 1 -i n0 -j ANSRAW || return 1
	done
}
raw_get() { # raw_get 4|6 NAME
	local t=iptables
	[ "$1" = 6 ] && t=ip6tables
	ns_exec "$N" $t -w 5 -t raw -L ANSRAW -v -x -n 2>/dev/null |
		awk -v c="/* $2 */" 'index($0, c) { print $1; exit }'
}
# all_ctr ADDR: every packet to ADDR at the far end (rule made on first use)
all_ctr() {
	local a=$1 f t=iptables
	f=$(fam "$a")
	[ "$f" = 6 ] && t=ip6tables
	[ -z "$(raw_get "$f" "all-$a")" ] &&
		ns_exec "$N" $t -w 5 -t raw -A ANSRAW -d "$a" -m comment --comment "all-$a"
	raw_get "$f" "all-$a"
}
tcp_probe() { timeout 4 ip netns exec "$C" "${ZT_NET[@]}" tcp "$1" "$PORT" --timeout 1.2 --tag "n$$"; }
expect_arrives() { # WHY ADDR
	local b n out
	b=$(all_ctr "$2")
	out=$(tcp_probe "$2" 2>&1)
	sleep 0.3
	n=$(all_ctr "$2")
	if [ -n "$n" ] && [ "$n" -gt "${b:-0}" ]; then
		ok "$1: tcp to $2 arrives at the far end (packets $b -> $n)"
		return 0
	fi
	not_ok "$1: tcp to $2 arrives at the far end" "far-end packets $b -> $n" "$out"
	return 1
}
expect_nothing() { # WHY ADDR
	local b n out
	b=$(all_ctr "$2")
	out=$(tcp_probe "$2" 2>&1)
	sleep 0.4
	n=$(all_ctr "$2")
	if [ -n "$b" ] && [ "$n" = "$b" ]; then
		ok "$1: tcp to $2: nothing arrives at the far end (packets stay $n)"
		return 0
	fi
	not_ok "$1: tcp to $2: nothing arrives at the far end" "far-end packets $b -> $n" "$out"
	return 1
}

conf_write() { # FILE [EXTRA_JSON]
	cat >"$1" <<EOF
{"mode":"host",
 "servers":[{"name":"pdns","protocol":"dot","address":"192.0.2.53","tls_name":"pdns.test","ca_file":"$PKI/ca.pem"}],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "metrics":{"listen":"127.0.0.1:$MPORT"},
 "log":{"level":"info","verdicts":true,"verdict_file":"$VLOG"}${2:+,
 $2}}
EOF
}
stub_listens() { ns_exec "$C" ss -Hlun "sport = :53" | grep -q '127.0.0.1:53'; }
daemon_start() { # LABEL CONF
	local label=$1 conf=$2 i out
	ZTD_RUN=$((ZTD_RUN + 1))
	ZTD_LOG=ztdnsd-$ZTD_RUN
	out=$(timeout 5 "$ZTD" --check -c "$conf" 2>&1) ||
		{ not_ok "$label: ztdnsd --check accepts the configuration" "$out"; return 1; }
	bg_start "$ZTD_LOG" "$C" "$ZTD" -c "$conf" --foreground -v
	ZTD_PID=$BG_PID
	for ((i = 0; i < 15; i++)); do
		out=$(ctl wait-ready --timeout 1 2>&1) && break
		pid_alive "$ZTD_PID" || break
		sleep 0.5
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
# dnsq NAME TYPE [+tcp]: "STATUS ADDR..." (sorted) through the stub
dnsq() {
	local out s
	out=$(timeout 8 ip netns exec "$C" dig @127.0.0.1 +time=3 +tries=1 ${3:-} +noall +comments +answer "$1" "$2" 2>&1)
	s=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | head -n 1)
	# shellcheck disable=SC2046
	echo "${s:-NONE}" $(awk '$4 == "A" || $4 == "AAAA" { print $5 }' <<<"$out" | sort)
}
metric() { # NAME{LABELS}: its value from the metrics endpoint
	timeout 5 ip netns exec "$C" curl -s --max-time 3 "http://127.0.0.1:$MPORT/metrics" |
		awk -v k="$1" '$1 == k { print $2; exit }'
}

# ------------------------------------------------------------------ topology

ns_new "$C" && ns_new "$N" || { not_ok "create namespaces $C and $N"; exit 1; }
ns_veth "$C" c0 "$N" n0 || { not_ok "create veth pair"; exit 1; }
ns_addr "$C" c0 192.0.2.1/24
ns_addr "$C" c0 2001:db8:1::1/64
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.2
ip -n "$C" route add 169.254.169.254/32 via 192.0.2.2
ip -n "$C" -6 route add 2001:db8:10::/64 via 2001:db8:1::2
ns_addr "$N" n0 192.0.2.2/24
ns_addr "$N" n0 2001:db8:1::2/64
ns_addr "$N" n0 192.0.2.53/32
ip -n "$N" route add local 198.51.100.0/24 dev lo
ip -n "$N" route add local 169.254.169.254/32 dev lo
ip -n "$N" -6 route add local 2001:db8:10::/64 dev lo
raw_setup || { not_ok "far-end counting chains"; exit 1; }

bg_start web "$N" "${ZT_NET[@]}" serve --tcp $PORT --udp 7002 --log "$ZT_TMP/web-server.log" --max-seconds 900
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started" "$(cat "$ZT_TMP/web.log")"; exit 1; }

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test 192.0.2.53
{
	for i in 11 12 13 14 15 16; do echo "many.test. 60 A 198.51.100.$i"; done
	echo "mixed.test. 60 A 127.0.0.1"
	echo "mixed.test. 60 A 198.51.100.20"
	echo "mixed.test. 60 A 169.254.169.254"
	echo "meta.test. 60 A 169.254.169.254"
	echo "mc.test. 60 A 224.0.0.251"
	echo "e.test. 60 A 240.0.0.1"
	echo "zero.test. 60 A 0.0.0.0"
	echo "bcast.test. 60 A 255.255.255.255"
	echo "dbcast.test. 60 A 192.0.2.255"
	echo "sl.test. 60 AAAA fec0::1"
	echo "map.test. 60 AAAA ::ffff:127.0.0.1"
	echo "nat.test. 60 AAAA 64:ff9b::a9fe:a9fe"
	echo "teredo.test. 60 AAAA 2001:0:c633:640a::80ff:fffe"
	echo "sixtofour.test. 60 AAAA 2002:a9fe:a9fe::1"
	echo "cfg64.test. 60 AAAA 2001:db8:64::7f00:1"
	echo "v6mixed.test. 60 AAAA 2001:db8:10::5"
	echo "v6mixed.test. 60 AAAA ::ffff:169.254.169.254"
	echo "cname.test. 60 CNAME meta.test."
	for i in $(seq 101 116); do echo "fill$i.test. 60 A 198.51.100.$i"; done
	echo "full.test. 60 A 198.51.100.120"
} >"$ZT_TMP/pdns.data"
dir=$ZT_TMP/ub-pdns
mkdir -p "$dir"
pdns_unbound_conf "$dir" 192.0.2.53 "$PKI/pdns.pem" "$PKI/pdns.key" "$ZT_TMP/pdns.data" >"$dir/unbound.conf"
pdns_unbound_start "$N" "$dir" || { not_ok "unbound pdns started" "$(unbound-checkconf "$dir/unbound.conf" 2>&1)"; exit 1; }
ZT_PIDS+=("$PDNS_PID")
ZT_PID_LABELS+=("unbound-pdns")
pdns_wait_port "$N" 192.0.2.53 853 || { not_ok "unbound pdns listening"; exit 1; }
ok "unbound pdns.test listening (DoT)"

echo "# baseline: no ztdnsd: the destinations below arrive (so later zeros mean something)"
for a in 198.51.100.11 198.51.100.14 198.51.100.16 169.254.169.254 198.51.100.120; do
	expect_arrives "baseline" $a
done

# ================================================================== run 1
conf_write "$ZT_TMP/r1.json" '"limits":{"addrs_per_name":3}, "nat64_prefixes":["2001:db8:64::/96"]'
daemon_start "R1" "$ZT_TMP/r1.json" || exit 1

echo "# (1) 6 addresses, limits.addrs_per_name 3: the client gets only the 3 learned"
r=$(dnsq many.test A)
read -r -a got <<<"$r"
check_eq "(1) many.test: NOERROR with 3 addresses" "NOERROR 3" "${got[0]} $((${#got[@]} - 1))"
learned=$(ctl --json list --name many.test | "$PY" -c 'import json,sys; print(" ".join(sorted(e["addr"] for e in json.load(sys.stdin)["entries"])))')
check_eq "(1) what dig received is exactly what the allowset holds for many.test" "$learned" "${got[*]:1}"
for a in "${got[@]:1}"; do expect_arrives "(1) a received address" "$a"; done
removed=()
for i in 11 12 13 14 15 16; do
	case " ${got[*]:1} " in *" 198.51.100.$i "*) ;; *) removed+=("198.51.100.$i") ;; esac
done
check_eq "(1) 3 addresses were removed" 3 "${#removed[@]}"
for a in "${removed[@]}"; do
	expect_nothing "(1) a removed address" "$a"
	check_eq "(1) explain $a: over-cap" over-cap "$(explain "$a" reason)"
	check_eq "(1) explain $a: removed because of addrs_per_name, from many.test" \
		"addrs_per_name many.test" "$(explain "$a" removed.why) $(explain "$a" removed.name)"
done
ago=$(explain "${removed[0]}" removed.ago_s)
if [ "$ago" -ge 0 ] 2>/dev/null && [ "$ago" -lt 60 ]; then ok "(1) explain says when (${ago} s ago)"
else not_ok "(1) explain says when" "$ago"; fi
if grep -F "\"dst\":\"${removed[0]}\"" "$VLOG" 2>/dev/null | grep -q '"reason":"over-cap"'; then
	ok "(1) the verdict log has the drop of ${removed[0]} with reason over-cap"
else not_ok "(1) the verdict log has the drop of ${removed[0]} with reason over-cap" "$(tail -n 3 "$VLOG")"; fi
r=$(dnsq many.test A +tcp)
check_eq "(1) over TCP too: 3 addresses" 3 "$(($(wc -w <<<"$r") - 1))"
check "(1) status dns.answers.records_removed.over-cap counts them" \
	test "$(st dns.answers.records_removed.over-cap)" -ge 6

echo "# (2) never-learn classes are removed from answers"
l0=$(st dns.learned)
check_eq "(2) mixed.test: only the learnable address is left" "NOERROR 198.51.100.20" "$(dnsq mixed.test A)"
expect_arrives "(2) mixed.test's learnable address" 198.51.100.20
expect_nothing "(2) 169.254.169.254 from mixed.test" 169.254.169.254
check_eq "(2) explain 169.254.169.254: never-learn" never-learn "$(explain 169.254.169.254 reason)"
check_eq "(2) explain 169.254.169.254: class link-local, name mixed.test" "link-local mixed.test" \
	"$(explain 169.254.169.254 removed.class) $(explain 169.254.169.254 removed.name)"
for q in meta.test:A mc.test:A e.test:A zero.test:A bcast.test:A dbcast.test:A sl.test:AAAA \
	map.test:AAAA nat.test:AAAA teredo.test:AAAA sixtofour.test:AAAA cfg64.test:AAAA; do
	check_eq "(2) ${q%%:*} ${q#*:}: SERVFAIL (nothing learnable left)" SERVFAIL "$(dnsq "${q%%:*}" "${q#*:}")"
done
# unbound does not chase a local CNAME: the answer has the CNAME alone and
# no address; nothing is removed, so it goes as it came (NOERROR, no address).
check_eq "(2) cname.test A (a CNAME and no address): passed on, no address" NOERROR "$(dnsq cname.test A)"
check_eq "(2) v6mixed.test AAAA: only 2001:db8:10::5" "NOERROR 2001:db8:10::5" "$(dnsq v6mixed.test AAAA)"
expect_arrives "(2) v6mixed.test's learnable address" 2001:db8:10::5
check_eq "(2) the learned counter grew by the two learnable addresses only" "$((l0 + 2))" "$(st dns.learned)"
check_eq "(2) explain 192.0.2.255 (directed broadcast of c0's subnet)" "never-learn directed-broadcast" \
	"$(explain 192.0.2.255 reason) $(explain 192.0.2.255 removed.class)"
check_eq "(2) explain ::ffff:127.0.0.1: never-learn loopback" "never-learn loopback" \
	"$(explain ::ffff:127.0.0.1 reason) $(explain ::ffff:127.0.0.1 never_learn)"
check_eq "(2) explain 2001:db8:64::7f00:1 (configured NAT64 prefix)" "never-learn loopback" \
	"$(explain 2001:db8:64::7f00:1 reason) $(explain 2001:db8:64::7f00:1 removed.class)"
check "(2) status dns.answers.emptied counts the SERVFAILs" test "$(st dns.answers.emptied)" -ge 12
check_eq "(2) status dns.answers.never_learn.link-local" 5 "$(st dns.answers.never_learn.link-local)"
check "(2) status dns.answers.records_removed.never-learn" test "$(st dns.answers.records_removed.never-learn)" -ge 15
check "(2) the removal is logged" grep -q "never opens a flow: removed from the answer" "$ZT_TMP/$ZTD_LOG.log"
m=$(metric 'ztdns_dns_answer_records_removed_total{why="never-learn"}')
check_eq "(2) metrics: ztdns_dns_answer_records_removed_total{why=\"never-learn\"} = status" \
	"$(st dns.answers.records_removed.never-learn)" "$m"
check_eq "(2) metrics: ztdns_dns_never_learn_total{class=\"link-local\"}" 5 \
	"$(metric 'ztdns_dns_never_learn_total{class="link-local"}')"

echo "# (3) ztdnsctl allow refuses the never-learn classes"
for a in 127.0.0.1 169.254.169.254 224.0.0.1 240.0.0.1 255.255.255.255 192.0.2.255 0.0.0.0 \
	::1 fe80::1 fec0::1 ff02::1 ::ffff:169.254.169.254 64:ff9b::7f00:1 2002:a9fe:a9fe::1 \
	2001:0:c633:640a::80ff:fffe 2001:db8::5efe:127.0.0.1 2001:db8:64::a9fe:a9fe; do
	out=$(ctl allow "$a" --ttl 60 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && grep -q "never allowed" <<<"$out"; then ok "(3) allow $a refused: $out"
	else not_ok "(3) allow $a refused" "exit $rc: $out"; fi
done
check_eq "(3) nothing manual entered the allowset" "" \
	"$(ctl --json list | "$PY" -c 'import json,sys; print(" ".join(e["addr"] for e in json.load(sys.stdin)["entries"] if e["source"] == "manual"))')"
expect_nothing "(3) 169.254.169.254 after the refused allow" 169.254.169.254
out=$(ctl allow 198.51.100.16 --ttl 60 2>&1)
check "(3) allow 198.51.100.16 (a normal address) works" test $? -eq 0
expect_arrives "(3) after ztdnsctl allow" 198.51.100.16
daemon_stop

# ================================================================== run 2
echo "# (4) the allowset full (limits.learned_max 16)"
conf_write "$ZT_TMP/r2.json" '"limits":{"learned_max":16,"learned_per_client":16}'
daemon_start "R2" "$ZT_TMP/r2.json" || exit 1
bad=0
for i in $(seq 101 116); do
	r=$(dnsq fill$i.test A)
	[ "$r" = "NOERROR 198.51.100.$i" ] || { bad=$((bad + 1)); diag "fill$i.test: $r"; }
done
check_eq "(4) 16 lookups fill the table" "0 16" "$bad $(st allowset.entries)"
check_eq "(4) full.test A: SERVFAIL (its address cannot be allowed)" SERVFAIL "$(dnsq full.test A)"
expect_nothing "(4) full.test's address" 198.51.100.120
check_eq "(4) explain 198.51.100.120: over-cap, allowset-full, full.test" "over-cap allowset-full full.test" \
	"$(explain 198.51.100.120 reason) $(explain 198.51.100.120 removed.why) $(explain 198.51.100.120 removed.name)"
check "(4) status dns.answers.records_removed.full" test "$(st dns.answers.records_removed.full)" -ge 1
ctl flush >/dev/null
check_eq "(4) after a flush, full.test resolves" "NOERROR 198.51.100.120" "$(dnsq full.test A)"
expect_arrives "(4) after the flush and a new lookup" 198.51.100.120
daemon_stop

zt_summary
