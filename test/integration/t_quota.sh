#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_quota.sh BUILD_DIR — issue 10 §5: one client cannot starve the others.
# Host mode, a real Protective DNS server (unbound over DoT), two local users
# on the same machine (every local application asks from 127.0.0.1, so the
# daemon tells them apart by the uid of the querying socket, sock_diag):
#
#  (Q1) allowset quota (limits.learned_per_client): the attacker resolves
#       names with many long-lived addresses; its addresses past its quota
#       are not learned (denied at the far end, then shown reachable with
#       ztdnsctl allow), the victim's new lookup is learned and reachable.
#  (Q2) pending quota (limits.pending_per_client) with a slow-answering zone
#       (unbound stub zone to a server that never answers): the attacker
#       keeps its quota of queries pending; the victim's lookups answer at
#       once, the attacker's extra ones get SERVFAIL at once.
#  (Q3) TCP: connections per client (limits.tcp_per_client), idle timeout
#       (limits.tcp_idle_ms, a trickling client included); the victim's TCP
#       lookups work throughout.
#  (Q5) upstream slots shared fairly: two attackers (uids) each send 200
#       never-answered queries (limits.pending_per_client 200, so without
#       sharing they would hold all 256 in-flight slots of the DoT client);
#       each is held to its fair share, the victim's lookup answers at once,
#       the server's in-flight bound is never hit.
#  (Q6) the stub's UDP receive buffer: the daemon stopped (SIGSTOP) while
#       an attacker floods 20,000 datagrams; every datagram sent is either
#       read or counted as dropped by the kernel (dns.udp_rcvbuf_drops,
#       SO_RXQ_OVFL), and the victim's lookup answers once it runs again.
#  (Q4) EMFILE: the daemon's RLIMIT_NOFILE lowered (prlimit) and connections
#       opened until accept() fails: the CPU time of the daemon over 3 s
#       stays small (the accept loop pauses), the pause is counted, and TCP
#       lookups work again once descriptors are free.
#
# Topology: qtc$$ (ztdnsd, clients) c0 192.0.2.1/24 <-veth-> qtn$$ n0
# 192.0.2.2/24: unbound pdns.test on 192.0.2.53 (DoT), the zone slow.test
# delegated to 192.0.2.99 (dropped in qtn$$'s OUTPUT: never answers),
# 198.51.100.0/24 and 198.18.0.0/24 local (AnyIP) with ztnet.py serve on
# 7001 and far-end counters in qtn$$'s raw PREROUTING.
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID.

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_quota.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
for tool in unbound dig setpriv prlimit; do
	command -v $tool >/dev/null || { not_ok "$tool is installed"; exit 1; }
done
[ -x "$ZTD" ] && [ -x "$ZTC" ] || { not_ok "ztdnsd and ztdnsctl are built in $BUILD"; exit 1; }

C=qtc$$
N=qtn$$
PKI=$ZT_TMP/pki
SOCK=$ZT_TMP/ctl.sock
PORT=7001
QNUM=17
VICTIM=2101
ATTACKER=2102
ATTACKER2=2103
# A system python readable by other users (not a version-manager shim in
# root's home).
UPY=/usr/bin/python3
[ -x "$UPY" ] || UPY=$ZT_PY
ZTD_PID=
ZTD_RUN=0

# ------------------------------------------------------------------ helpers

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
st() { ctl --json status 2>/dev/null | json_get "$1"; }
ms_now() { echo $(($(date +%s%N) / 1000000)); }

raw_setup() {
	ns_exec "$N" iptables -w 5 -t raw -N QTRAW || return 1
	ns_exec "$N" iptables -w 5 -t raw -I PREROUTING 1 -i n0 -j QTRAW
}
raw_add() { local name=$1; shift; ns_exec "$N" iptables -w 5 -t raw -A QTRAW "$@" -m comment --comment "$name"; }
raw_get() {
	ns_exec "$N" iptables -w 5 -t raw -L QTRAW -v -x -n 2>/dev/null |
		awk -v c="/* $1 */" 'index($0, c) { print $1; exit }'
}

# as UID CMD...: run CMD in the client namespace as that user.
as() { local u=$1; shift; ip netns exec "$C" setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
cli() { local u=$1; shift; timeout 30 ip netns exec "$C" setpriv --reuid="$u" --regid="$u" --clear-groups "$UPY" "$CLIENT_PY" "$@"; }
tcp_probe() { timeout 4 ip netns exec "$C" setpriv --reuid="$1" --regid="$1" --clear-groups "$UPY" "$ZT_LIB_DIR/ztnet.py" tcp "$2" $PORT --timeout 1.2 --tag "q$$"; }

stub_listens() { ns_exec "$C" ss -Hlun "sport = :53" | grep -q '127.0.0.1:53'; }

conf_write() { # FILE LIMITS_JSON
	cat >"$1" <<JSON
{"mode":"host",
 "servers":[{"name":"pdns","protocol":"dot","address":"192.0.2.53","tls_name":"pdns.test","ca_file":"$PKI/ca.pem"}],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "log":{"level":"info"},
 "limits":$2}
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

# ------------------------------------------------------------------ the client

# Runs as an unprivileged user: the directory and the script are world-readable.
CLIENT_DIR=$ZT_TMP/client
mkdir -p "$CLIENT_DIR"
chmod 755 "$ZT_TMP" "$CLIENT_DIR"
CLIENT_PY=$CLIENT_DIR/qclient.py
cat >"$CLIENT_PY" <<'PY'
import random, select, socket, struct, sys, time

def query(name, qtype=1):
    q = struct.pack("!HHHHHH", random.getrandbits(16), 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.strip(".").split(".")) + b"\0"
    return q + struct.pack("!HH", qtype, 1)

def addrs(a):
    # answers' A records, the name compressed (0xc00c) as unbound writes it
    out, off = [], 12
    while a[off]: off += 1 + a[off]
    off += 5
    for _ in range(struct.unpack("!H", a[6:8])[0]):
        if a[off] & 0xc0 == 0xc0: off += 2
        else:
            while a[off]: off += 1 + a[off]
            off += 1
        t, _, _, l = struct.unpack("!HHIH", a[off:off + 10]); off += 10
        if t == 1: out.append(socket.inet_ntoa(a[off:off + 4]))
        off += l
    return out

RC = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}

def cmd_one(name, tcp=False):
    t0 = time.monotonic()
    if tcp:
        s = socket.create_connection(("127.0.0.1", 53), timeout=6)
        m = query(name); s.sendall(struct.pack("!H", len(m)) + m)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
            d = s.recv(4096)
            if not d: break
            buf += d
        a = buf[2:]
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(6)
        s.sendto(query(name), ("127.0.0.1", 53)); a = s.recv(4096)
    ms = int((time.monotonic() - t0) * 1000)
    print(RC.get(a[3] & 15, "RCODE%d" % (a[3] & 15)), ms, *addrs(a))

def cmd_burst(prefix, n, wait):
    # n queries at once, one socket each; who answered what, and how fast
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
        s.sendto(query("%s%d.slow.test" % (prefix, i)), ("127.0.0.1", 53))
        socks.append((s, time.monotonic()))
    fast = slow = other = 0
    left = dict((s.fileno(), (s, t)) for s, t in socks)
    end = time.monotonic() + wait
    while left and time.monotonic() < end:
        r, _, _ = select.select([s for s, _ in left.values()], [], [], 0.2)
        for s in r:
            _, t = left.pop(s.fileno())
            a = s.recv(4096)
            if a[3] & 15 == 2:
                if time.monotonic() - t < 0.5: fast += 1
                else: slow += 1
            else: other += 1
    print("servfail_fast=%d servfail_late=%d other=%d unanswered=%d" % (fast, slow, other, len(left)))

def cmd_hold(n, secs, trickle):
    # n TCP connections held open; how many the server closed, and when
    conns, t0 = [], time.monotonic()
    for i in range(n):
        try:
            c = socket.create_connection(("127.0.0.1", 53), timeout=2); c.setblocking(False)
            conns.append(c)
        except OSError:
            pass
    opened = len(conns)
    closed, when, nexttrickle = 0, [], 0
    end = t0 + secs
    while conns and time.monotonic() < end:
        if trickle and time.monotonic() >= nexttrickle:
            for c in conns:
                # a 256-byte query announced, then one byte at a time
                try: c.send(b"x" if nexttrickle else b"\x01\x00")
                except OSError: pass
            nexttrickle = time.monotonic() + 0.3
        r, _, _ = select.select(conns, [], [], 0.1)
        for c in r:
            try: d = c.recv(100)
            except OSError: d = b""
            if not d:
                conns.remove(c); closed += 1; when.append(time.monotonic() - t0)
    print("opened=%d closed_by_server=%d first_close=%.2f last_close=%.2f" % (
        opened, closed, min(when) if when else -1, max(when) if when else -1))
    sys.stdout.flush()

def cmd_flood(name, n):
    # n datagrams as fast as one socket sends them; answers never read
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for i in range(n):
        try:
            s.sendto(query(name), ("127.0.0.1", 53)); sent += 1
        except OSError:
            pass
    print("sent=%d" % sent)

cmd = sys.argv[1]
if cmd == "flood": cmd_flood(sys.argv[2], int(sys.argv[3]))
elif cmd == "one": cmd_one(sys.argv[2], len(sys.argv) > 3 and sys.argv[3] == "tcp")
elif cmd == "burst": cmd_burst(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
elif cmd == "hold": cmd_hold(int(sys.argv[2]), float(sys.argv[3]), len(sys.argv) > 4)
PY
chmod 644 "$CLIENT_PY"

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
# The slow zone's server never answers: unbound's queries to it are dropped
# on arrival (a DROP in OUTPUT would fail unbound's sendto() at once).
ns_addr "$N" lo 192.0.2.99/32
ns_exec "$N" iptables -w 5 -A INPUT -d 192.0.2.99 -j DROP
raw_setup || { not_ok "far-end counting chain"; exit 1; }
raw_add victim-syn -d 198.51.100.10 -p tcp --syn
raw_add over-quota-syn -d 198.18.0.17 -p tcp --syn

bg_start web "$N" "${ZT_NET[@]}" serve --tcp $PORT --udp 7002 --log "$ZT_TMP/web-server.log" --max-seconds 900
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started" "$(cat "$ZT_TMP/web.log")"; exit 1; }

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test 192.0.2.53
chmod 755 "$PKI"
chmod 644 "$PKI/ca.pem"
{
	echo "victim.test. 3600 A 198.51.100.10"
	echo "victim2.test. 3600 A 198.51.100.11"
	for f in 1 2 3; do
		for i in $(seq 1 8); do echo "fill$f.test. 86400 A 198.18.0.$(((f - 1) * 8 + i))"; done
	done
} >"$ZT_TMP/pdns.data"
mkdir -p "$ZT_TMP/ub"
{
	pdns_unbound_conf "$ZT_TMP/ub" 192.0.2.53 "$PKI/pdns.pem" "$PKI/pdns.key" "$ZT_TMP/pdns.data"
	# The slow zone: delegated to a server that never answers, so its
	# queries stay pending until the daemon's upstream timeout.
	printf '\tlocal-zone: "slow.test." transparent\n'
	printf 'stub-zone:\n\tname: "slow.test."\n\tstub-addr: 192.0.2.99\n'
} >"$ZT_TMP/ub/unbound.conf"
pdns_unbound_start "$N" "$ZT_TMP/ub" && ZT_PIDS+=("$PDNS_PID") && ZT_PID_LABELS+=("unbound") &&
	pdns_wait_port "$N" 192.0.2.53 853 ||
	{ not_ok "unbound started" "$(cat "$ZT_TMP/ub/unbound.log")"; exit 1; }
ok "unbound pdns.test (DoT) listening on 192.0.2.53:853, slow.test never answered"

check "baseline: the victim's 198.51.100.10 reachable without ztdnsd" tcp_probe $VICTIM 198.51.100.10
check "baseline: 198.18.0.17 reachable without ztdnsd" tcp_probe $ATTACKER 198.18.0.17

# ================================================================== Q1..Q3
echo "# (Q1..Q3) one daemon, two local users: victim uid $VICTIM, attacker uid $ATTACKER"
conf_write "$ZT_TMP/q1.json" '{"learned_max":64,"learned_per_client":16,"pending_queries":128,"pending_per_client":8,"tcp_connections":64,"tcp_per_client":4,"tcp_idle_ms":1500,"upstream_timeout_ms":2500}'
daemon_start Q1 "$ZT_TMP/q1.json" || exit 1

# ---- Q1: allowset entries per client
echo "# (Q1) limits.learned_per_client 16: the attacker learns 3 x 8 long-lived addresses"
quota0=$(st allowset.quota)
lq0=$(st dns.learn_quota)
for f in 1 2 3; do
	out=$(cli $ATTACKER one fill$f.test 2>&1)
	diag "(Q1) attacker fill$f.test: $out"
done
quota1=$(st allowset.quota)
lq1=$(st dns.learn_quota)
check_eq "(Q1) the 8 addresses past the attacker's quota were not learned (dns.learn_quota +8)" 8 "$((lq1 - lq0))"
check_eq "(Q1) allowset.quota counted them (+8)" 8 "$((quota1 - quota0))"
check_eq "(Q1) the allowset holds the attacker's 16, no more" 16 "$(st allowset.entries)"
out=$(cli $VICTIM one victim.test 2>&1)
check_eq "(Q1) the victim's lookup after the attacker's: NOERROR 198.51.100.10" "NOERROR 198.51.100.10" "$(awk '{ print $1, $3 }' <<<"$out")"
v0=$(raw_get victim-syn)
check "(Q1) the victim's learned 198.51.100.10 is reachable" tcp_probe $VICTIM 198.51.100.10
v1=$(raw_get victim-syn)
if [ "$v1" -gt "$v0" ]; then ok "(Q1) far end: the victim's SYN arrived ($v0 -> $v1)"; else not_ok "(Q1) far end: the victim's SYN arrived" "$v0 -> $v1"; fi
check_eq "(Q1) the allowset now holds 17 (the victim's share was free)" 17 "$(st allowset.entries)"
o0=$(raw_get over-quota-syn)
check_fail "(Q1) an address past the attacker's quota (198.18.0.17, fill3) is denied" tcp_probe $ATTACKER 198.18.0.17
o1=$(raw_get over-quota-syn)
check_eq "(Q1) far end: no SYN to 198.18.0.17 arrived" "$o0" "$o1"
check_eq "(Q1) explain 198.18.0.17: over-cap (refused at a bound)" over-cap "$(ctl --json explain 198.18.0.17 --port $PORT 2>/dev/null | json_get reason)"
ctl allow 198.18.0.17 --ttl 60 >/dev/null
check "(Q1) the same address reachable once allowed (ztdnsctl allow)" tcp_probe $ATTACKER 198.18.0.17
o2=$(raw_get over-quota-syn)
if [ "$o2" -gt "$o1" ]; then ok "(Q1) far end: the SYN to 198.18.0.17 arrived once allowed"; else not_ok "(Q1) far end: SYN once allowed" "$o1 -> $o2"; fi
ctl revoke 198.18.0.17 >/dev/null 2>&1

# ---- Q2: pending queries per client, slow answers
echo "# (Q2) limits.pending_per_client 8: the attacker sends 12 queries that are never answered"
cf0=$(st dns.client_full)
pf0=$(st dns.pending_full)
cli $ATTACKER burst a 12 5 >"$ZT_TMP/q2-burst.out" 2>&1 &
BURST=$!
sleep 0.5
pend=$(st dns.pending)
out=$(cli $VICTIM one victim2.test 2>&1)
out2=$(cli $ATTACKER one victim2.test 2>&1)
wait "$BURST"
burst=$(cat "$ZT_TMP/q2-burst.out")
diag "(Q2) attacker burst: $burst; pending while it waited: $pend"
diag "(Q2) victim: $out; attacker's own 13th query: $out2"
check_eq "(Q2) the attacker held its 8 pending" 8 "$pend"
v_rc=$(awk '{ print $1, $3 }' <<<"$out")
v_ms=$(awk '{ print $2 }' <<<"$out")
check_eq "(Q2) the victim's lookup meanwhile: NOERROR 198.51.100.11" "NOERROR 198.51.100.11" "$v_rc"
if [ -n "$v_ms" ] && [ "$v_ms" -lt 500 ]; then ok "(Q2) ... in $v_ms ms (not delayed by the attacker's pending queries)"
else not_ok "(Q2) the victim's lookup is not delayed" "$v_ms ms"; fi
check_eq "(Q2) the attacker's 13th query meanwhile: SERVFAIL at once" SERVFAIL "$(awk '{ print $1 }' <<<"$out2")"
check_eq "(Q2) the attacker's burst: 4 SERVFAIL at once, 8 at the upstream timeout" \
	"servfail_fast=4 servfail_late=8 other=0 unanswered=0" "$burst"
cf1=$(st dns.client_full)
pf1=$(st dns.pending_full)
check_eq "(Q2) dns.client_full +5, dns.pending_full +0" "5 0" "$((cf1 - cf0)) $((pf1 - pf0))"

# ---- Q3: TCP connections per client, idle timeout
echo "# (Q3) limits.tcp_per_client 4, tcp_idle_ms 1500: the attacker opens 6 idle connections"
tf0=$(st dns.tcp_client_full)
ti0=$(st dns.tcp_idle_closed)
cli $ATTACKER hold 6 5 >"$ZT_TMP/q3-hold.out" 2>&1 &
HOLD=$!
sleep 0.5
out=$(cli $VICTIM one victim.test tcp 2>&1)
open_now=$(st dns.tcp_open)
wait "$HOLD"
hold=$(cat "$ZT_TMP/q3-hold.out")
diag "(Q3) attacker: $hold; victim over TCP: $out; open while held: $open_now"
check_eq "(Q3) the victim's TCP lookup meanwhile: NOERROR 198.51.100.10" "NOERROR 198.51.100.10" "$(awk '{ print $1, $3 }' <<<"$out")"
tf1=$(st dns.tcp_client_full)
ti1=$(st dns.tcp_idle_closed)
check_eq "(Q3) dns.tcp_client_full +2 (6 connections, 4 allowed)" 2 "$((tf1 - tf0))"
check_eq "(Q3) the 4 held connections were closed idle (dns.tcp_idle_closed +4)" 4 "$((ti1 - ti0))"
read -r first last < <(sed -n 's/.*first_close=\([0-9.-]*\) last_close=\([0-9.-]*\).*/\1 \2/p' <<<"$hold")
case $hold in opened=6\ closed_by_server=6\ *) ok "(Q3) the server closed all 6 (2 refused, 4 idle)" ;;
*) not_ok "(Q3) the server closed all 6" "$hold" ;; esac
if awk -v f="${first:-9}" -v l="${last:-9}" 'BEGIN { exit !(f < 0.5 && l >= 1.2 && l <= 3.0) }'; then
	ok "(Q3) refused at once (${first} s), idle ones closed after about 1.5 s (${last} s)"
else not_ok "(Q3) close times" "first $first last $last"; fi
ti2=$(st dns.tcp_idle_closed)
hold=$(cli $ATTACKER hold 2 5 trickle 2>&1)
ti3=$(st dns.tcp_idle_closed)
diag "(Q3) trickling attacker: $hold"
case $hold in opened=2\ closed_by_server=2\ *) ok "(Q3) connections that trickle one byte every 0.3 s are closed idle too" ;;
*) not_ok "(Q3) trickling connections closed" "$hold" ;; esac
check_eq "(Q3) dns.tcp_idle_closed +2" 2 "$((ti3 - ti2))"
daemon_stop

# ================================================================== Q5, Q6
echo "# (Q5) upstream slots shared fairly: attackers uid $ATTACKER and $ATTACKER2, 200 slow queries each"
conf_write "$ZT_TMP/q5.json" '{"pending_queries":1024,"pending_per_client":200,"upstream_timeout_ms":3000}'
daemon_start Q5 "$ZT_TMP/q5.json" || exit 1
out=$(cli $VICTIM one victim.test 2>&1)
check_eq "(Q5) before: the victim's lookup works (the DoT connection is up)" "NOERROR 198.51.100.10" "$(awk '{ print $1, $3 }' <<<"$out")"
fr0=$(st dns.fair_refused)
cf0=$(st dns.client_full)
ir0=$(st dns.servers.0.transport.inflight_refused)
cli $ATTACKER burst a 200 6 >"$ZT_TMP/q5-a1.out" 2>&1 &
B1=$!
pending_at_least() { [ "$(st dns.pending)" -ge "$1" ] 2>/dev/null; }
wait_for 4 pending_at_least 128
sleep 0.3
p1=$(st dns.pending)
cli $ATTACKER2 burst b 200 6 >"$ZT_TMP/q5-a2.out" 2>&1 &
B2=$!
wait_for 2 pending_at_least 213
sleep 0.3
p2=$(st dns.pending)
out=$(cli $VICTIM one victim2.test 2>&1)
wait "$B1" "$B2"
diag "(Q5) pending: first attacker alone $p1, both $p2; attacker 1: $(cat "$ZT_TMP/q5-a1.out"); attacker 2: $(cat "$ZT_TMP/q5-a2.out")"
diag "(Q5) victim meanwhile: $out"
# 256 slots (DOT_MAX_INFLIGHT): sharing starts at half of them; alone, an
# owner gets 256/2 = 128; with a second one, each gets 256/3 = 85.
check_eq "(Q5) the first attacker alone held 128 (half the slots, one share kept free)" 128 "$p1"
check_eq "(Q5) with the second, 128 + 85 pending (256/3 each for a newcomer)" 213 "$p2"
check_eq "(Q5) the victim's lookup meanwhile: NOERROR 198.51.100.11" "NOERROR 198.51.100.11" "$(awk '{ print $1, $3 }' <<<"$out")"
v_ms=$(awk '{ print $2 }' <<<"$out")
if [ -n "$v_ms" ] && [ "$v_ms" -lt 500 ]; then ok "(Q5) ... in $v_ms ms"
else not_ok "(Q5) the victim's lookup is not delayed" "$v_ms ms"; fi
check_eq "(Q5) attacker 1: 72 SERVFAIL at once, 128 at the upstream timeout" \
	"servfail_fast=72 servfail_late=128 other=0 unanswered=0" "$(cat "$ZT_TMP/q5-a1.out")"
check_eq "(Q5) attacker 2: 115 SERVFAIL at once, 85 at the upstream timeout" \
	"servfail_fast=115 servfail_late=85 other=0 unanswered=0" "$(cat "$ZT_TMP/q5-a2.out")"
check_eq "(Q5) dns.fair_refused +187, dns.client_full +0" "187 0" "$(($(st dns.fair_refused) - fr0)) $(($(st dns.client_full) - cf0))"
check_eq "(Q5) the DoT client's in-flight bound was never hit (inflight_refused +0)" 0 "$(($(st dns.servers.0.transport.inflight_refused) - ir0))"

echo "# (Q6) the UDP receive buffer: 20000 datagrams while the daemon is stopped"
uq0=$(st dns.udp_queries)
ud0=$(st dns.udp_rcvbuf_drops)
kill -STOP "$ZTD_PID"
flood=$(cli $ATTACKER flood flood.test 20000 2>&1)
kill -CONT "$ZTD_PID"
sent=${flood#sent=}
# Let it read what the buffer kept; the drop count rides on the next
# datagram read: the victim's.
last=-1
for ((i = 0; i < 50; i++)); do
	now=$(st dns.udp_queries)
	[ "$now" = "$last" ] && break
	last=$now
	sleep 0.3
done
out=$(cli $VICTIM one victim.test 2>&1)
uq1=$(st dns.udp_queries)
ud1=$(st dns.udp_rcvbuf_drops)
diag "(Q6) attacker: $flood; read $((uq1 - uq0)), dropped by the kernel $((ud1 - ud0)); victim after: $out"
if [ "$((ud1 - ud0))" -gt 0 ]; then ok "(Q6) the kernel's drops were counted (dns.udp_rcvbuf_drops +$((ud1 - ud0)))"
else not_ok "(Q6) the kernel's drops were counted" "+$((ud1 - ud0))"; fi
check_eq "(Q6) every datagram sent was read or counted dropped ($sent + the victim's 1)" "$((sent + 1))" "$((uq1 - uq0 + ud1 - ud0))"
check_eq "(Q6) the victim's lookup once the daemon runs: NOERROR 198.51.100.10" "NOERROR 198.51.100.10" "$(awk '{ print $1, $3 }' <<<"$out")"
daemon_stop

# ================================================================== Q4
echo "# (Q4) EMFILE: RLIMIT_NOFILE lowered, connections until accept() fails"
conf_write "$ZT_TMP/q4.json" '{"tcp_connections":64,"tcp_per_client":64,"tcp_idle_ms":30000}'
daemon_start Q4 "$ZT_TMP/q4.json" || exit 1
out=$(cli $VICTIM one victim.test 2>&1)
check_eq "(Q4) before: the victim's lookup works (and the DoT connection is up)" "NOERROR 198.51.100.10" "$(awk '{ print $1, $3 }' <<<"$out")"
nfd=$(ls /proc/"$ZTD_PID"/fd | wc -l)
# The limit that leaves exactly 2 free descriptor numbers below it (a new
# descriptor takes the lowest free number).
lim=$(ls /proc/"$ZTD_PID"/fd | sort -n | awk 'BEGIN { free = 0; n = 0 }
	{ while (n < $1) { free++; if (free == 2) { print n + 1; exit } n++ } n = $1 + 1 }
	END { if (free < 2) print n + 2 - free }')
hard=$(prlimit --pid "$ZTD_PID" --nofile --noheadings -o HARD | tr -d ' ')
soft=$(prlimit --pid "$ZTD_PID" --nofile --noheadings -o SOFT | tr -d ' ')
prlimit --pid "$ZTD_PID" --nofile=$lim:"$hard"
diag "(Q4) daemon pid $ZTD_PID: $nfd descriptors, RLIMIT_NOFILE $soft -> $lim (2 free)"
cli $ATTACKER hold 20 6 >"$ZT_TMP/q4-hold.out" 2>&1 &
HOLD=$!
sleep 1
tck=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' /proc/"$ZTD_PID"/stat; }
c0=$(cpu)
sleep 3
c1=$(cpu)
out=$(cli $VICTIM one victim2.test 2>&1)
wait "$HOLD"
diag "(Q4) attacker: $(cat "$ZT_TMP/q4-hold.out")"
used=$((c1 - c0))
diag "(Q4) daemon CPU over 3 s with accept() failing: $used ticks ($tck per second)"
if [ "$used" -le $((tck * 3 / 10)) ]; then ok "(Q4) the daemon stayed idle: $used ticks of CPU in 3 s (<= 10%; a spinning accept loop uses 100%)"
else not_ok "(Q4) the daemon does not spin on EMFILE" "$used ticks in 3 s"; fi
check_eq "(Q4) during EMFILE the victim's UDP lookup works: NOERROR 198.51.100.11" "NOERROR 198.51.100.11" "$(awk '{ print $1, $3 }' <<<"$out")"
prlimit --pid "$ZTD_PID" --nofile="$soft":"$hard"
sleep 0.7
paused=$(st dns.accept_paused)
if [ "${paused:-0}" -ge 2 ] 2>/dev/null; then ok "(Q4) dns.accept_paused counted the pauses ($paused)"
else not_ok "(Q4) dns.accept_paused counted" "$paused"; fi
out=$(cli $VICTIM one victim.test tcp 2>&1)
check_eq "(Q4) after: TCP lookups work again" "NOERROR 198.51.100.10" "$(awk '{ print $1, $3 }' <<<"$out")"
daemon_stop

zt_summary
