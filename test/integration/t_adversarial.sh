#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_adversarial.sh BUILD_DIR — adversarial scenarios of issue 5 against a
# host-mode ztdnsd, each judged at the far end (per-destination counters in
# the server namespace's raw PREROUTING chain: every packet that arrives on
# the wire, fragments and odd IPv6 headers included, before any local
# processing), and each blocked destination shown reachable when allowed.
#
# Scenarios covered elsewhere (not repeated here):
#   t_enforce.sh  hard-coded IP (a); kill -9 fails closed (e); overload with a
#                 SIGSTOP'd daemon and an overflowing queue drops (h);
#                 --queue-bypass absent from the installed ruleset (h)
#   t_dns.sh      rogue plain resolver, UDP and TCP (3); answers for names not
#                 asked, A records in authority/additional, CNAME chains,
#                 loops and depth, wrong ID/QR/question over DoT and DoH (4);
#                 wrong pin/CA/name (5); mTLS (6)
#   t_gateway.sh  unapproved DoT/DoH from LAN clients (gateway mode)
#   t_sidecar.sh  an application without NET_ADMIN trying to flush the rules
#
# Here: (1) ruleset and queue flags: no bypass, no fail-open anywhere;
# (2) spoofed plain-DNS answers toward the client; (3) rebinding answers from
# the Protective DNS server; (4) IPv4-mapped/compatible/NAT64/6to4 forms of a
# blocked IPv4 address, with an allowance and with an exception; (5) IPv6
# extension-header chains; (6) fragments; (7) ICMP echo; (8) conntrack
# flushed mid-stream; (9) DoH and DoT to an unapproved server; (10) probes of
# the in-kernel "infra" accepts (DHCP only to where clients send it, NDP only
# with hop limit 255).
#
# Topology (namespaces made here, removed on every exit path):
#   adc$$ (client, ztdnsd)  c0 192.0.2.1/24, 2001:db8:1::1/64
#   adn$$ (network)         n0 192.0.2.2/24, 2001:db8:1::2/64
#       192.0.2.53   unbound pdns.test (DoT 853 / DoH 443), the approved server
#       198.51.100.54 unbound rogue.test (DoT / DoH), NOT approved
#       198.51.100.0/24, 2001:db8:10::/64 local (AnyIP): ztnet.py serve on 7001
#       ::ffff:198.51.100.10, 64:ff9b::c633:640a, 2002:c633:640a::/48,
#       ::198.51.100.10: the embedded forms of 198.51.100.10, local (AnyIP),
#       reachable only through our veth (routes in the client namespace).
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID.

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_adversarial.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
for tool in unbound dig curl openssl conntrack; do
	command -v $tool >/dev/null || { not_ok "$tool is installed"; exit 1; }
done
[ -x "$ZTD" ] && [ -x "$ZTC" ] || { not_ok "ztdnsd and ztdnsctl are built in $BUILD"; exit 1; }

C=adc$$
N=adn$$
PKI=$ZT_TMP/pki
SOCK=$ZT_TMP/ctl.sock
VLOG=$ZT_TMP/verdicts.log
PORT=7001
QNUM=11
PY=$ZT_PY
ADV=("$PY" "$ZT_LIB_DIR/adv/advnet.py")
ZTD_PID=
ZTD_RUN=0
FORMS="::ffff:198.51.100.10 64:ff9b::c633:640a 2002:c633:640a::1 ::198.51.100.10"

# ------------------------------------------------------------------ helpers

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
status_json() { ctl --json status 2>/dev/null; }
st() { status_json | json_get "$1"; }
reason() { ctl --json explain "$1" --port "${2:-$PORT}" 2>/dev/null | json_get reason; }
fam() { case $1 in *:*) echo 6 ;; *) echo 4 ;; esac; }

# Far-end counters: chain ADVRAW in the raw table's PREROUTING of the
# network namespace, one rule per name (no target: counting only).
raw_setup() {
	local t
	for t in iptables ip6tables; do
		ns_exec "$N" $t -w 5 -t raw -N ADVRAW || return 1
		ns_exec "$N" $t -w 5 -t raw -I PREROUTING 1 -i n0 -j ADVRAW || return 1
	done
}
raw_add() { # raw_add 4|6 NAME MATCH...
	local t=iptables name=$2
	[ "$1" = 6 ] && t=ip6tables
	shift 2
	ns_exec "$N" $t -w 5 -t raw -A ADVRAW "$@" -m comment --comment "$name"
}
raw_get() { # raw_get 4|6 NAME
	local t=iptables
	[ "$1" = 6 ] && t=ip6tables
	ns_exec "$N" $t -w 5 -t raw -L ADVRAW -v -x -n 2>/dev/null |
		awk -v c="/* $2 */" 'index($0, c) { print $1; exit }'
}
# all_ctr ADDR: every packet to ADDR (the rule is made the first time).
all_ctr() {
	local a=$1 f
	f=$(fam "$a")
	[ -z "$(raw_get "$f" "all-$a")" ] && raw_add "$f" "all-$a" -d "$a"
	raw_get "$f" "all-$a"
}

tcp_probe() { timeout 4 ip netns exec "$C" "${ZT_NET[@]}" tcp "$1" "${2:-$PORT}" --timeout 1.2 --tag "a$$"; }
icmp_probe() {
	if [ "$(fam "$1")" = 6 ]; then timeout 3 ip netns exec "$C" ping -6 -n -c 1 -W 1 "$1"
	else timeout 3 ip netns exec "$C" ping -n -c 1 -W 1 "$1"; fi
}

# send_kind KIND ADDR: one hostile packet (or packet pair) of KIND to ADDR.
send_kind() {
	local k=$1 a=$2
	case $k in
	tcp) tcp_probe "$a" ;;
	icmp) icmp_probe "$a" ;;
	rawsyn) ip netns exec "$C" "${ADV[@]}" syn --dst "$a" --src 2001:db8:1::1 --port $PORT ;;
	hbh-dst-rt | long | atomic | frag6 | overlap6)
		k=${k%6}
		ip netns exec "$C" "${ADV[@]}" v6ext --src 2001:db8:1::1 --dst "$a" --kind "$k" --port $PORT ;;
	first8 | overlap4)
		k=${k%4}
		ip netns exec "$C" "${ADV[@]}" v4frag --src 192.0.2.1 --dst "$a" --kind "$k" --port $PORT ;;
	esac
}

# expect_arrives WHY KIND ADDR / expect_nothing WHY KIND ADDR: judged by the
# far end's all-packets counter of ADDR.
expect_arrives() {
	local why=$1 k=$2 a=$3 b n out
	b=$(all_ctr "$a")
	out=$(send_kind "$k" "$a" 2>&1)
	sleep 0.3
	n=$(all_ctr "$a")
	if [ -n "$n" ] && [ "$n" -gt "${b:-0}" ]; then
		ok "$why: $k to $a arrives at the far end (packets $b -> $n)"
		return 0
	fi
	not_ok "$why: $k to $a arrives at the far end" "far-end packets $b -> $n" "$out"
	return 1
}
expect_nothing() {
	local why=$1 k=$2 a=$3 b n out
	b=$(all_ctr "$a")
	out=$(send_kind "$k" "$a" 2>&1)
	sleep 0.4
	n=$(all_ctr "$a")
	if [ -n "$b" ] && [ "$n" = "$b" ]; then
		ok "$why: $k to $a: nothing arrives at the far end (packets stay $n)"
		return 0
	fi
	not_ok "$why: $k to $a: nothing arrives at the far end" "far-end packets $b -> $n" "$out"
	return 1
}

conf_write() { # FILE [EXTRA_JSON]
	cat >"$1" <<EOF
{"mode":"host",
 "servers":[{"name":"pdns","protocol":"dot","address":"192.0.2.53","tls_name":"pdns.test","ca_file":"$PKI/ca.pem"}],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
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

# dnsq NAME TYPE: "STATUS ADDR..." through the stub.
dnsq() {
	local out st
	out=$(timeout 8 ip netns exec "$C" dig @127.0.0.1 +time=3 +tries=1 +noall +comments +answer "$1" "$2" 2>&1)
	st=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | head -n 1)
	# shellcheck disable=SC2046
	echo "${st:-NONE}" $(awk '$4 == "A" || $4 == "AAAA" { print $5 }' <<<"$out" | sort)
}

# logged ADDR REASON: the verdict log has a drop line for ADDR with REASON.
logged() { grep -F "\"dst\":\"$1\"" "$VLOG" 2>/dev/null | grep -q "\"reason\":\"$2\""; }

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
ns_addr "$N" lo 198.51.100.54/32
ip -n "$N" route add local 198.51.100.0/24 dev lo
ip -n "$N" -6 route add local 2001:db8:10::/64 dev lo
for p in ::ffff:c633:640a/128 64:ff9b::c633:640a/128 2002:c633:640a::/48 ::c633:640a/128; do
	ip -n "$C" -6 route add $p via 2001:db8:1::2 &&
		ip -n "$N" -6 route add local $p dev lo ||
		{ not_ok "route the embedded form $p through the veth"; exit 1; }
done
raw_setup || { not_ok "far-end counting chains"; exit 1; }
# What arrives at the client, counted in raw PREROUTING: before ZTDNS-IN,
# which now drops most of the forged answers itself (new inbound flows from
# a peer nothing proved).
ns_exec "$C" iptables -w 5 -t raw -N ADVIN && ns_exec "$C" iptables -w 5 -t raw -I PREROUTING 1 -j ADVIN &&
	ns_exec "$C" iptables -w 5 -t raw -A ADVIN -p udp --sport 53 -m comment --comment spoofed-in ||
	{ not_ok "client counting chain"; exit 1; }
spoofed_in() {
	ns_exec "$C" iptables -w 5 -t raw -L ADVIN -v -x -n 2>/dev/null |
		awk 'index($0, "/* spoofed-in */") { print $1; exit }'
}
raw_add 4 rogue-dot -d 198.51.100.54 -p tcp --dport 853 --syn
raw_add 4 rogue-doh -d 198.51.100.54 -p tcp --dport 443 --syn
raw_add 4 icmp-77 -d 198.51.100.77 -p icmp --icmp-type echo-request
raw_add 6 icmp6-77 -d 2001:db8:10::77 -p icmpv6 --icmpv6-type echo-request
raw_add 4 dhcp-any -p udp --dport 67
raw_add 6 dhcp6-any -p udp --dport 547
raw_add 6 nd-global -d 2001:db8:10::99 -p icmpv6

bg_start web "$N" "${ZT_NET[@]}" serve --tcp $PORT --udp 7002 --log "$ZT_TMP/web-server.log" --max-seconds 600
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started" "$(cat "$ZT_TMP/web.log")"; exit 1; }

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test 192.0.2.53
pki_server "$PKI" rogue ca rogue.test 198.51.100.54
cat >"$ZT_TMP/pdns.data" <<EOF
web.test. 60 A 198.51.100.10
rb4.test. 60 A 127.0.0.1
meta.test. 60 A 169.254.169.254
rb6.test. 60 AAAA ::1
ll.test. 60 AAAA fe80::1
EOF
echo "rogue.test. 60 A 198.51.100.30" >"$ZT_TMP/rogue.data"
ub_up() { # LABEL ADDR CERT DATA
	local dir=$ZT_TMP/ub-$1
	mkdir -p "$dir"
	pdns_unbound_conf "$dir" "$2" "$PKI/$3.pem" "$PKI/$3.key" "$4" >"$dir/unbound.conf"
	pdns_unbound_start "$N" "$dir" || return 1
	ZT_PIDS+=("$PDNS_PID")
	ZT_PID_LABELS+=("unbound-$1")
	pdns_wait_port "$N" "$2" 853 && pdns_wait_port "$N" "$2" 443
}
ub_up pdns 192.0.2.53 pdns "$ZT_TMP/pdns.data" || { not_ok "unbound pdns started"; exit 1; }
ub_up rogue 198.51.100.54 rogue "$ZT_TMP/rogue.data" || { not_ok "unbound rogue started"; exit 1; }
ok "two unbound servers (approved pdns.test, unapproved rogue.test) listening"

# Client-side probes of the unapproved server: a full DoH exchange (curl,
# HTTP/2) and a DoT handshake verified against the test CA.
Q_B64=$("$PY" -c '
import base64, struct
q = struct.pack("!HHHHHH", 0, 0x0100, 1, 0, 0, 0) + b"\x05rogue\x04test\x00" + struct.pack("!HH", 1, 1)
print(base64.urlsafe_b64encode(q).decode().rstrip("="))')
rogue_doh() {
	timeout 5 ip netns exec "$C" curl -s -o /dev/null -w '%{http_code}' --max-time 3 --http2 \
		--cacert "$PKI/ca.pem" --resolve rogue.test:443:198.51.100.54 \
		"https://rogue.test/dns-query?dns=$Q_B64" | grep -q '^200$'
}
rogue_dot() {
	timeout 5 ip netns exec "$C" openssl s_client -connect 198.51.100.54:853 -servername rogue.test \
		-CAfile "$PKI/ca.pem" -verify_return_error -brief </dev/null 2>&1 | grep -q 'Verification: OK'
}
# expect_rogue WHY reach|block PROTO
expect_rogue() {
	local why=$1 want=$2 p=$3 b n rc
	b=$(raw_get 4 "rogue-$p")
	"rogue_$p"
	rc=$?
	sleep 0.3
	n=$(raw_get 4 "rogue-$p")
	if [ "$want" = reach ] && [ $rc -eq 0 ] && [ "$n" -gt "$b" ]; then
		ok "$why: $p to the unapproved server 198.51.100.54 works (far-end SYNs $b -> $n)"
	elif [ "$want" = block ] && [ $rc -ne 0 ] && [ "$n" = "$b" ]; then
		ok "$why: $p to the unapproved server 198.51.100.54 blocked (far-end SYNs stay $n)"
	else
		not_ok "$why: $p to 198.51.100.54: $want" "client exit $rc, far-end SYNs $b -> $n"
	fi
}

# ------------------------------------------------------------------ baseline
echo "# baseline: no ztdnsd: every probe below arrives (so later zeros mean something)"
expect_arrives "baseline" tcp 198.51.100.99
expect_arrives "baseline" tcp 198.51.100.10
for a in $FORMS; do
	case $a in ::ffff:*) k=rawsyn ;; *) k=tcp ;; esac
	expect_arrives "baseline (embedded form)" $k "$a"
done
for k in hbh-dst-rt long atomic frag6 overlap6; do expect_arrives "baseline (IPv6 headers)" $k 2001:db8:10::5; done
# Overlapping IPv4 fragments: Linux refuses them when it reassembles (RFC
# 5722 practice); without conntrack in the client they leave as they are.
for k in first8 overlap4; do expect_arrives "baseline (IPv4 fragments)" $k 198.51.100.6; done
expect_arrives "baseline" icmp 198.51.100.77
expect_arrives "baseline" icmp 2001:db8:10::77
expect_rogue "baseline" reach doh
expect_rogue "baseline" reach dot

# ================================================================== run 1
conf_write "$ZT_TMP/r1.json"
daemon_start "R1" "$ZT_TMP/r1.json" || exit 1

echo "# (1) no bypass, no fail-open: live ruleset and queue flags"
rs=$( (ns_exec "$C" iptables-save; ns_exec "$C" ip6tables-save; ns_exec "$C" nft list ruleset) 2>&1)
if grep -q -- "NFQUEUE --queue-num $QNUM" <<<"$rs" && ! grep -qiE 'bypass|fail-open|fanout' <<<"$rs"; then
	ok "(1) iptables-save, ip6tables-save and nft list ruleset: NFQUEUE $QNUM, no bypass/fail-open anywhere"
else
	not_ok "(1) no bypass/fail-open in the live ruleset" "$(grep -iE 'queue|bypass' <<<"$rs")"
fi
saved=$(ns_exec "$C" iptables-save; ns_exec "$C" ip6tables-save)
# Per family: ZTDNS-OUT's and ZTDNS-IN's new flows, and ZTDNS-OUT's SYN-ACK
# rule (simultaneous open, t_inbound.sh).
n=$(grep -c "ctstate NEW -j NFQUEUE" <<<"$saved")
check_eq "(1) exactly two NFQUEUE rules for new flows per family (OUT, IN)" 4 "$n"
check_eq "(1) one SYN-ACK NFQUEUE rule per family" 2 "$(grep -c -- '--ctdir REPLY -j NFQUEUE' <<<"$saved")"
# Besides them, only the four MLD types on the link (untracked by conntrack,
# queued so that the daemon counts them: t_linklocal.sh).
n=$(grep "NFQUEUE" <<<"$saved" | grep -v "ctstate NEW -j NFQUEUE" | grep -v -- '--ctdir REPLY -j NFQUEUE' |
	grep -cv -- '-d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type 1[34][0-9] -m hl --hl-eq 1 -j NFQUEUE')
check_eq "(1) no other NFQUEUE rule but the MLD ones" 0 "$n"
check_eq "(1) four MLD NFQUEUE rules" 4 "$(grep -c -- '-d ff02::/16 .*--hl-eq 1 -j NFQUEUE' <<<"$saved")"
S0=$(status_json)
check_eq "(1) status: the kernel queue has fail_open false" false "$(json_get queues.0.kernel.fail_open <<<"$S0")"
flags=$(json_get queue_flags <<<"$S0")
case $flags in *fail*) not_ok "(1) status queue_flags has no fail-open flag" "$flags" ;;
*) ok "(1) status queue_flags: $flags (no fail-open)" ;; esac
diag "(1) a SIGSTOP'd daemon with a full queue drops: t_enforce.sh (h) overload"

echo "# (2) spoofed plain-DNS answers toward the client learn nothing"
l0=$(st dns.learned)
i0=$(spoofed_in)
bg_start spoof1 "$N" "${ADV[@]}" spoof --src 192.0.2.53 --dst 192.0.2.1 --name spoof.test --addr 198.51.100.99 --ports 1024-65535 --max-seconds 40
SP1=$BG_PID
bg_start spoof2 "$N" "${ADV[@]}" spoof --src 198.51.100.53 --dst 192.0.2.1 --name spoof.test --addr 198.51.100.99 --ports 32768-60999 --max-seconds 40
SP2=$BG_PID
answers=""
for ((i = 0; i < 15; i++)); do
	answers="$answers|$(dnsq spoof.test A)"
	pid_alive "$SP1" || break
done
wait_for 40 pid_gone "$SP1"
wait_for 10 pid_gone "$SP2"
bg_stop "$SP1" TERM 2
bg_stop "$SP2" TERM 2
# And 200 forged answers to port 53 of the client's own address.
ip netns exec "$N" "${ADV[@]}" spoof --src 192.0.2.53 --dst 192.0.2.1 --name spoof.test --addr 198.51.100.99 --ports 53-53 --ids 200 >/dev/null 2>&1
i1=$(spoofed_in)
diag "(2) forged answers: $(cat "$ZT_TMP/spoof1.log") (from the pdns address), $(cat "$ZT_TMP/spoof2.log") (from 198.51.100.53); arriving at the client (raw PREROUTING): $((i1 - i0)); lookups: $answers"
if [ "$((i1 - i0))" -ge 60000 ]; then ok "(2) the forged answers reached the client namespace ($((i1 - i0)) packets in raw PREROUTING)"
else not_ok "(2) the forged answers reached the client namespace" "$((i1 - i0)) packets"; fi
if grep -q '198.51.100.99' <<<"$answers"; then not_ok "(2) no lookup of spoof.test returned the forged address" "$answers"
else ok "(2) no lookup of spoof.test returned the forged address (answers: $(tr '|' '\n' <<<"$answers" | sort | uniq -c | tr -s ' \n' ' '))"; fi
check_eq "(2) the stub's learned counter did not move" "$l0" "$(st dns.learned)"
check_eq "(2) explain 198.51.100.99 -> never-resolved" never-resolved "$(reason 198.51.100.99)"
expect_nothing "(2) the forged address" tcp 198.51.100.99
ctl allow 198.51.100.99 --ttl 60 >/dev/null
expect_arrives "(2) control: after ztdnsctl allow" tcp 198.51.100.99
ctl revoke 198.51.100.99 >/dev/null

echo "# (3) rebinding answers from the Protective DNS server open nothing"
l0=$(st dns.learned)
ls0=$(st dns.learn_special)
before=$(ctl --json list | "$PY" -c 'import json,sys; print(" ".join(sorted(e["addr"] for e in json.load(sys.stdin)["entries"])))')
# Invariant 7: never-learn addresses are removed from the answer, which is
# then empty: SERVFAIL (t_answers.sh covers every class).
check_eq "(3) rb4.test A" "SERVFAIL" "$(dnsq rb4.test A)"
check_eq "(3) meta.test A" "SERVFAIL" "$(dnsq meta.test A)"
check_eq "(3) rb6.test AAAA" "SERVFAIL" "$(dnsq rb6.test AAAA)"
check_eq "(3) ll.test AAAA" "SERVFAIL" "$(dnsq ll.test AAAA)"
after=$(ctl --json list | "$PY" -c 'import json,sys; print(" ".join(sorted(e["addr"] for e in json.load(sys.stdin)["entries"])))')
check_eq "(3) the allowset gained none of them" "$before" "$after"
check_eq "(3) learned counter unchanged" "$l0" "$(st dns.learned)"
check_eq "(3) dns.learn_special counts the four" "$((ls0 + 4))" "$(st dns.learn_special)"
check_eq "(3) 169.254.169.254 (cloud metadata) stays closed: explain" never-learn "$(reason 169.254.169.254)"
check_eq "(3) fe80::1 stays closed: explain" never-learn "$(reason fe80::1)"
check "(3) the refusal is logged" grep -q "never opens a flow" "$ZT_TMP/$ZTD_LOG.log"
# Loopback never reaches our verdict: "-o lo -j ACCEPT" comes first.
if ns_exec "$C" iptables-save | grep -q -- '-A ZTDNS-OUT -o lo -j ACCEPT'; then
	ok "(3) loopback is accepted in the kernel before any verdict"
else not_ok "(3) loopback accepted in-kernel" "$(ns_exec "$C" iptables-save | grep ZTDNS-OUT)"; fi

echo "# (5) IPv6 extension-header chains hiding the transport header (to never-resolved 2001:db8:10::5)"
pe0=$(st "packet_errors.bad IPv6 extension header chain")
for k in hbh-dst-rt long atomic; do expect_nothing "(5) not allowed" $k 2001:db8:10::5; done
pe1=$(st "packet_errors.bad IPv6 extension header chain")
if [ "$pe1" -gt "$pe0" ]; then ok "(5) status packet_errors 'bad IPv6 extension header chain' counted the 9-header chain ($pe0 -> $pe1)"
else not_ok "(5) packet_errors counts the 9-header chain" "$pe0 -> $pe1" "$(st packet_errors)"; fi
if logged 2001:db8:10::5 never-resolved; then ok "(5) the verdict log has the denial with reason never-resolved"
else not_ok "(5) the verdict log has the denial" "$(grep -F '2001:db8:10::5' "$VLOG" | tail -n 3)"; fi
ctl allow 2001:db8:10::5 --ttl 60 >/dev/null
for k in hbh-dst-rt atomic; do expect_arrives "(5) control, allowed (the transport header was found)" $k 2001:db8:10::5; done
pe0=$(st "packet_errors.bad IPv6 extension header chain")
expect_nothing "(5) allowed, but 9 headers (more than 8): unparsable, dropped" long 2001:db8:10::5
pe1=$(st "packet_errors.bad IPv6 extension header chain")
check_eq "(5) packet_errors +1 for it" "$((pe0 + 1))" "$pe1"
# The line of an unparsable packet names the error, not the addresses
# (the parser read them; see the report).
if grep '"reason":"unparsable"' "$VLOG" | grep -q '"error":"bad IPv6 extension header chain"'; then
	ok "(5) the verdict log has reason unparsable, error 'bad IPv6 extension header chain'"
else not_ok "(5) the verdict log has reason unparsable" "$(grep -F 'unparsable' "$VLOG" | tail -n 3)"; fi
diag "(5) its log line: $(grep '"reason":"unparsable"' "$VLOG" | tail -n 1)"
ctl revoke 2001:db8:10::5 >/dev/null

echo "# (6) fragments to a never-resolved address (conntrack reassembles before our hooks)"
fr0=$(st "packet_errors.fragment")
for k in first8 overlap4; do expect_nothing "(6) not allowed" $k 198.51.100.6; done
for k in frag6 overlap6; do expect_nothing "(6) not allowed" $k 2001:db8:10::6; done
ctl allow 198.51.100.6 --ttl 60 >/dev/null
ctl allow 2001:db8:10::6 --ttl 60 >/dev/null
# What the far end sees once allowed: the reassembled packet (refragmented
# as it came) — and nothing for overlapping fragments, which the kernel's
# reassembly throws away (so they never reach a verdict at all).
expect_arrives "(6) control, allowed" first8 198.51.100.6
expect_arrives "(6) control, allowed" frag6 2001:db8:10::6
for k in overlap4:198.51.100.6 overlap6:2001:db8:10::6; do
	a=${k#*:}
	b=$(all_ctr "$a"); send_kind "${k%%:*}" "$a" >/dev/null 2>&1; sleep 0.3
	diag "(6) allowed, ${k%%:*}: far end saw $(($(all_ctr "$a") - b)) packets (kernel reassembly drops overlaps)"
done
diag "(6) status packet_errors.fragment $fr0 -> $(st packet_errors.fragment) (0 expected: conntrack reassembles first)"
ctl revoke 198.51.100.6 >/dev/null
ctl revoke 2001:db8:10::6 >/dev/null

echo "# (7) ICMP echo to an unlearned address"
for a in 198.51.100.77 2001:db8:10::77; do
	f=$(fam "$a"); nm=icmp-77; [ "$f" = 6 ] && nm=icmp6-77
	b=$(raw_get "$f" $nm)
	expect_nothing "(7) echo, never resolved" icmp "$a"
	check_eq "(7) far-end echo-request counter for $a unchanged" "$b" "$(raw_get "$f" $nm)"
	ctl allow "$a" --ttl 60 >/dev/null
	expect_arrives "(7) echo, after ztdnsctl allow" icmp "$a"
	ctl revoke "$a" >/dev/null
	if logged "$a" never-resolved; then ok "(7) verdict log: echo to $a denied, never-resolved"
	else not_ok "(7) verdict log has the denied echo to $a" "$(grep -F "$a" "$VLOG" | tail -n 2)"; fi
done

echo "# (8) conntrack flushed mid-stream, allowance revoked: the next packet is a new flow, denied"
ctl allow 198.51.100.88 --ttl 60 >/dev/null
rm -f "$ZT_TMP/stop-L8"
bg_start L8 "$C" "${ZT_NET[@]}" stream 198.51.100.88 $PORT --tag "L8$$" --interval 0.2 --max-seconds 40 --stop-file "$ZT_TMP/stop-L8"
L8=$BG_PID
lines() { grep -c " L8$$ seq " "$ZT_TMP/web-server.log" 2>/dev/null; }
lines_ge() { [ "$(lines)" -ge "$1" ]; }
wait_for 5 lines_ge 3 || not_ok "(8) stream started" "$(cat "$ZT_TMP/L8.log")"
ctl revoke 198.51.100.88 >/dev/null
n=$(lines)
if wait_for 4 lines_ge $((n + 3)); then ok "(8) after revoke, the established flow continues (conntrack carries it: $n -> $(lines) lines)"
else not_ok "(8) after revoke, the established flow continues" "$n -> $(lines)"; fi
nq0=$(st queues.0.packets)
ns_exec "$C" conntrack -F >/dev/null 2>&1
sleep 0.5
n=$(lines)
sleep 3
n2=$(lines)
nq1=$(st queues.0.packets)
if [ "$n2" -le "$n" ]; then ok "(8) after conntrack -F: the far end got no further data ($n -> $n2 lines in 3 s)"
else not_ok "(8) after conntrack -F: the far end got no further data" "$n -> $n2 lines"; fi
if [ "$nq1" -gt "$nq0" ]; then ok "(8) the flow's next packets went to the queue as new flows ($((nq1 - nq0)) queued)"
else not_ok "(8) the flow's next packets were queued as new" "queue packets $nq0 -> $nq1"; fi
diag "(8) verdicts for 198.51.100.88 after the flush: $(grep -F '"dst":"198.51.100.88"' "$VLOG" | grep -c '"verdict":"drop"') drops, last: $(grep -F '"dst":"198.51.100.88"' "$VLOG" | tail -n 1)"
touch "$ZT_TMP/stop-L8"
bg_stop "$L8" TERM 2
# Control: the same destination, allowed again, flows.
ctl allow 198.51.100.88 --ttl 60 >/dev/null
expect_arrives "(8) control: 198.51.100.88 when allowed" tcp 198.51.100.88
ctl revoke 198.51.100.88 >/dev/null

echo "# (9) DoH and DoT from the client to an unapproved server"
expect_rogue "(9) not approved" block doh
expect_rogue "(9) not approved" block dot
check_eq "(9) explain 198.51.100.54:853 -> never-resolved" never-resolved "$(reason 198.51.100.54 853)"
ctl allow 198.51.100.54 --ttl 60 >/dev/null
expect_rogue "(9) control, after ztdnsctl allow" reach doh
expect_rogue "(9) control, after ztdnsctl allow" reach dot
ctl revoke 198.51.100.54 >/dev/null

echo "# (10) the infra accepts (DHCP, DHCPv6, NDP) cannot be used to reach any address"
b=$(raw_get 4 dhcp-any)
ip netns exec "$C" "$PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.1", 68)); s.sendto(b"not dhcp: any payload to any host", ("198.51.100.99", 67))' 2>/dev/null
b6=$(raw_get 6 dhcp6-any)
ip netns exec "$C" "$PY" -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("2001:db8:1::1", 546)); s.sendto(b"not dhcpv6", ("2001:db8:10::99", 547))' 2>/dev/null
bn=$(raw_get 6 nd-global)
ip netns exec "$C" "$PY" -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.sendto(bytes([135, 0, 0, 0, 0, 0, 0, 0]) + socket.inet_pton(socket.AF_INET6, "2001:db8:10::99") + b"payload", ("2001:db8:10::99", 0))' 2>/dev/null
sleep 0.3
d4=$(($(raw_get 4 dhcp-any) - b)); d6=$(($(raw_get 6 dhcp6-any) - b6)); dn=$(($(raw_get 6 nd-global) - bn))
check_eq "(10) UDP :68 -> a never-resolved host's :67 (not broadcast): far end saw nothing" 0 "$d4"
check_eq "(10) UDP [..]:546 -> a global address's :547 (not ff02::1:2 or link-local): far end saw nothing" 0 "$d6"
check_eq "(10) ICMPv6 type 135 with hop limit 64 to a global address: far end saw nothing" 0 "$dn"
daemon_stop

# ================================================================== run 2
echo "# (4) embedded forms of a blocked IPv4 address: an allowance for 198.51.100.10"
conf_write "$ZT_TMP/r2.json"
daemon_start "R2" "$ZT_TMP/r2.json" || exit 1
ctl allow 198.51.100.10 --ttl 120 >/dev/null
expect_arrives "(4) the IPv4 address itself, allowed" tcp 198.51.100.10
for a in $FORMS; do
	case $a in ::ffff:*) k=rawsyn ;; *) k=tcp ;; esac
	expect_nothing "(4) allowance for 198.51.100.10 only" $k "$a"
done
check_eq "(4) dig web.test learns 198.51.100.10 (a learned address, too)" "NOERROR 198.51.100.10" "$(dnsq web.test A)"
for a in $FORMS; do
	case $a in ::ffff:*) k=rawsyn ;; *) k=tcp ;; esac
	expect_nothing "(4) learned 198.51.100.10" $k "$a"
	check_eq "(4) explain $a" never-resolved "$(reason "$a")"
done
for a in $FORMS; do
	case $a in ::ffff:*) k=rawsyn ;; *) k=tcp ;; esac
	ctl allow "$a" --ttl 60 >/dev/null
	expect_arrives "(4) control: $a allowed as itself" $k "$a"
	ctl revoke "$a" >/dev/null
done
daemon_stop

echo "# (4) embedded forms: an exception for 198.51.100.0/24"
conf_write "$ZT_TMP/r3.json" '"exceptions":["198.51.100.0/24"]'
daemon_start "R3" "$ZT_TMP/r3.json" || exit 1
expect_arrives "(4) the IPv4 address itself, exception" tcp 198.51.100.10
for a in $FORMS; do
	case $a in ::ffff:*) k=rawsyn ;; *) k=tcp ;; esac
	expect_nothing "(4) exception 198.51.100.0/24 only" $k "$a"
	check_eq "(4) explain $a" never-resolved "$(reason "$a")"
done
daemon_stop
exit 0
