#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_operator.sh BUILD_DIR — lab debugging and operator features (host mode),
# judged at the far end: (a) the JSON verdict log, (b) ztdnsctl watch (live,
# filters, a watcher that never reads does not stall the daemon), (c) explain
# for each reason, (d) flush, (e) deny_action reject (fast failure, still
# nothing at the far end), (f) audit mode (would-deny, but reached), (g) named
# exception groups and exceptions_files (shown by name; a file re-read by
# ztdnsctl reload; a bad line refused with its line, the old policy kept).
#
# Topology (namespaces made here, removed on every exit path):
#
#   ztoc$$ (client: ztdnsd, probes)             zton$$ ("the network")
#     c0 192.0.2.1/24    <------ veth ------>     n0 192.0.2.2/24
#     198.51.100.0/24, 203.0.113.0/24                 192.0.2.53 unbound (DoT 853, DoH 443)
#       via 192.0.2.2                                 198.51.100.0/24, 203.0.113.0/24 local
#                                                     (AnyIP): ztnet.py serve TCP 7001, UDP 7002
#
# Addresses: web.test -> 198.51.100.10 (learned); 203.0.113.0/24 is the
# exception subnet; 198.51.100.20..70 are never resolved (each part uses its
# own). The far end counts TCP SYNs, UDP datagrams and ICMP echo requests per
# destination in its INPUT path; every "blocked" is judged there and the same
# destination is shown reachable when policy allows it.
#
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID (daemon logs, verdict logs, watch outputs).

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_operator.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
for tool in unbound dig setpriv ping; do
	command -v $tool >/dev/null || { not_ok "$tool is installed"; exit 1; }
done
if [ ! -x "$ZTD" ] || [ ! -x "$ZTC" ]; then
	not_ok "ztdnsd and ztdnsctl are built in $BUILD"
	exit 1
fi
# uid 65534 runs a probe: it needs an interpreter it can read.
NOBODY_PY=/usr/bin/python3
[ -x "$NOBODY_PY" ] || NOBODY_PY=$ZT_PY

C=ztoc$$
N=zton$$
PKI=$ZT_TMP/pki
SOCK=$ZT_TMP/ctl.sock
TCP_PORT=7001
UDP_PORT=7002
QNUM=13
PDNS=192.0.2.53
LEARN=198.51.100.10 # web.test
EXC=203.0.113.10 # exception subnet 203.0.113.0/24
NEVER=198.51.100.20 # never resolved: (a), (d)
NEVER2=198.51.100.21 # explain never-resolved
EXP=198.51.100.30 # manual allow --ttl 1, then expired
MAN=198.51.100.40 # manual allow
WATCHX=198.51.100.45 # watch filters
FLOOD=198.51.100.70 # thousands of UDP flows
REJ=198.51.100.50 # deny_action reject
AUD=198.51.100.60 # audit mode
GRP=198.51.100.80  # (g) in the named group "corp"
FIL1=198.51.100.81 # (g) in the exceptions file, then taken out
FIL2=198.51.100.82 # (g) put in the exceptions file
EXCS='"203.0.113.0/24"'
EXC_FILES_LINE=
ZTD_PID=
ZTD_RUN=0
VLOG=

# ------------------------------------------------------------------ helpers

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
ctlj() { ctl --json "$@"; }
ms_now() { echo $(($(date +%s%N) / 1000000)); }

cat >"$ZT_TMP/vlog.py" <<'PY'
# vlog.py FILE check                 every line is JSON with the base fields
# vlog.py FILE find KEY=VALUE...     the last line whose fields match (JSON),
#                                    exit 1 if none ("KEY=" matches any value)
import json, sys
path, cmd = sys.argv[1], sys.argv[2]
lines = [l for l in open(path, errors="replace").read().splitlines() if l.strip()]
if cmd == "check":
    bad, n = [], 0
    for l in lines:
        n += 1
        try:
            o = json.loads(l)
        except ValueError as e:
            bad.append("not JSON: %r (%s)" % (l[:200], e)); continue
        miss = [k for k in ("time", "verdict", "reason", "proto", "src", "dst") if k not in o]
        if o.get("proto") in ("tcp", "udp"):
            miss += [k for k in ("sport", "dport") if k not in o]
        if o.get("proto") in ("icmp", "icmpv6"):
            miss += [k for k in ("icmp_type", "icmp_code") if k not in o]
        if miss:
            bad.append("missing %s: %s" % (miss, l[:200]))
    print("lines=%d bad=%d" % (n, len(bad)))
    for b in bad[:10]:
        print(b)
    sys.exit(1 if bad or n == 0 else 0)
want = [a.split("=", 1) for a in sys.argv[3:]]
for l in reversed(lines):
    try:
        o = json.loads(l)
    except ValueError:
        continue
    good = True
    for k, v in want:
        if k not in o or (v != "" and str(o[k]) != v):
            good = False; break
    if good:
        print(json.dumps(o)); sys.exit(0)
sys.exit(1)
PY
vlog() { "$ZT_PY" "$ZT_TMP/vlog.py" "$VLOG" "$@"; }
# vlog_wait KEY=VALUE...: the matching line, waiting (bounded) for the flush.
vlog_wait() { wait_for 3 vlog find "$@" && vlog find "$@"; }

# conntime ADDR TIMEOUT: one TCP connect(); prints "ms=N result=ok|ERROR"
# (the time of connect() itself, not of the interpreter's start).
cat >"$ZT_TMP/conntime.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[3]))
t0 = time.monotonic()
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    r = "ok"
except socket.timeout:
    r = "timeout"
except OSError as e:
    r = "%s(%s)" % (type(e).__name__, e.strerror)
print("ms=%d result=%s" % ((time.monotonic() - t0) * 1000, r))
PY
conntime() { timeout 5 ip netns exec "$C" "$ZT_PY" "$ZT_TMP/conntime.py" "$1" "$TCP_PORT" "$2" 2>&1; }

fam() { case $1 in *:*) echo 6 ;; *) echo 4 ;; esac; }
ctr() { ctr_get "$N" 4 "$1-$2"; } # ctr tcp|udp|icmp ADDR

tcp_probe() { timeout 5 ip netns exec "$C" "${ZT_NET[@]}" tcp "$1" "$TCP_PORT" --timeout "${2:-1.5}" --tag "o$$"; }

# expect_reach WHY ADDR: TCP connects and the far end counted the SYN.
expect_reach() {
	local why=$1 a=$2 before after out rc
	before=$(ctr tcp "$a")
	out=$(tcp_probe "$a" 2>&1)
	rc=$?
	after=$(ctr tcp "$a")
	if [ $rc -eq 0 ] && [ -n "$after" ] && [ "$after" -gt "${before:-0}" ]; then
		ok "$why: tcp to $a reaches the far end (SYNs $before -> $after)"
		return 0
	fi
	not_ok "$why: tcp to $a reaches the far end" "probe exit $rc, far-end SYNs $before -> $after" "$out"
	return 1
}

# expect_deny WHY ADDR: the connection fails and no SYN arrived.
expect_deny() {
	local why=$1 a=$2 before after out rc
	before=$(ctr tcp "$a")
	out=$(tcp_probe "$a" 2>&1)
	rc=$?
	sleep 0.2
	after=$(ctr tcp "$a")
	if [ $rc -ne 0 ] && [ -n "$before" ] && [ "$after" = "$before" ]; then
		ok "$why: tcp to $a blocked (far-end SYNs stay $after)"
		return 0
	fi
	not_ok "$why: tcp to $a blocked" "probe exit $rc, far-end SYNs $before -> $after" "$out"
	return 1
}

# conf_write FILE EXTRA_JSON: host mode, DoT to unbound, the exception subnet,
# JSON verdict log to $VLOG.
conf_write() {
	cat >"$1" <<EOF
{"mode":"host",
 "servers":[{"name":"pdns","protocol":"dot","address":"$PDNS","tls_name":"pdns.test",
             "ca_file":"$PKI/ca.pem","spki_pins":["$PIN"]}],
 "exceptions":[$EXCS],$EXC_FILES_LINE
 "listen":["127.0.0.1:53"],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "log":{"level":"info","verdicts":true,"format":"json","verdict_file":"$VLOG"}${2:+,
 $2}}
EOF
}

# daemon_start LABEL EXTRA_JSON: a fresh configuration and verdict log.
daemon_start() {
	local label=$1 i out conf
	ZTD_RUN=$((ZTD_RUN + 1))
	ZTD_LOG=ztdnsd-$ZTD_RUN-$label
	ZTD_LABEL=$label
	VLOG=$ZT_TMP/verdicts-$ZTD_RUN-$label.log
	conf=$ZT_TMP/ztdns-$ZTD_RUN.json
	conf_write "$conf" "${2:-}"
	out=$(timeout 5 "$ZTD" --check -c "$conf" 2>&1) ||
		{ not_ok "$label: ztdnsd --check accepts the configuration" "$out" "$(cat "$conf")"; return 1; }
	bg_start "$ZTD_LOG" "$C" "$ZTD" -c "$conf" --foreground -v
	ZTD_PID=$BG_PID
	for ((i = 0; i < 15; i++)); do
		out=$(ctl wait-ready --timeout 1 2>&1) && break
		pid_alive "$ZTD_PID" || break
		sleep 0.5
	done
	if pid_alive "$ZTD_PID" && ctl wait-ready --timeout 2 >/dev/null 2>&1; then
		ok "$label: ztdnsd ready"
		return 0
	fi
	not_ok "$label: ztdnsd ready" "wait-ready: $out" "$(tail -n 15 "$ZT_TMP/$ZTD_LOG.log" 2>/dev/null)"
	return 1
}

daemon_stop() {
	local rc
	[ -z "$ZTD_PID" ] && return 0
	if pid_alive "$ZTD_PID"; then ok "$ZTD_LABEL: ztdnsd still running at the end of the part"
	else not_ok "$ZTD_LABEL: ztdnsd still running at the end of the part" "$(tail -n 20 "$ZT_TMP/$ZTD_LOG.log")"; fi
	bg_stop "$ZTD_PID" TERM 8
	rc=$?
	[ $rc -ne 0 ] && not_ok "$ZTD_LABEL: ztdnsd exits 0 on SIGTERM" "exit $rc" "$(tail -n 10 "$ZT_TMP/$ZTD_LOG.log")"
	ZTD_PID=
	rm -f "$SOCK"
	return 0
}

# jcheck WHY JSON PYTHON-EXPR: the expression over o (the parsed JSON) is true.
jcheck() {
	local why=$1 json=$2 expr=$3
	if [ -n "$json" ] && "$ZT_PY" -c "
import json, sys
o = json.loads(sys.argv[1])
sys.exit(0 if ($expr) else 1)" "$json" 2>/dev/null; then
		ok "$why"
	else
		not_ok "$why" "expected: $expr" "got: ${json:-<nothing>}"
	fi
}

# ------------------------------------------------------------------ topology

ns_new "$C" && ns_new "$N" || { not_ok "create namespaces $C and $N"; exit 1; }
ns_veth "$C" c0 "$N" n0 || { not_ok "create veth pair"; exit 1; }
ns_addr "$C" c0 192.0.2.1/24
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.2
ip -n "$C" route add 203.0.113.0/24 via 192.0.2.2
ns_addr "$N" n0 192.0.2.2/24
ns_addr "$N" n0 $PDNS/32
ip -n "$N" route add local 198.51.100.0/24 dev lo
ip -n "$N" route add local 203.0.113.0/24 dev lo

ctr_setup "$N" || { not_ok "far-end counting chains"; exit 1; }
for a in $LEARN $EXC $NEVER $NEVER2 $EXP $MAN $WATCHX $REJ $AUD $GRP $FIL1 $FIL2; do
	ctr_add "$N" 4 "tcp-$a" -d "$a" -p tcp --dport $TCP_PORT --syn
	ctr_add "$N" 4 "udp-$a" -d "$a" -p udp --dport $UDP_PORT
	ctr_add "$N" 4 "icmp-$a" -d "$a" -p icmp --icmp-type echo-request
done
ctr_add "$N" 4 "flood-$FLOOD" -d "$FLOOD" -p udp --dport 20000:40000

bg_start web "$N" "${ZT_NET[@]}" serve --tcp $TCP_PORT --udp $UDP_PORT --log "$ZT_TMP/web-server.log" --max-seconds 900
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started" "$(cat "$ZT_TMP/web.log")"; exit 1; }

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test $PDNS
PIN=$(pki_spki "$PKI/pdns.pem")
echo "web.test. 60 A $LEARN" >"$ZT_TMP/pdns.data"
mkdir -p "$ZT_TMP/ub"
pdns_unbound_conf "$ZT_TMP/ub" $PDNS "$PKI/pdns.pem" "$PKI/pdns.key" "$ZT_TMP/pdns.data" >"$ZT_TMP/ub/unbound.conf"
pdns_unbound_start "$N" "$ZT_TMP/ub" || { not_ok "unbound configuration valid"; exit 1; }
ZT_PIDS+=("$PDNS_PID")
ZT_PID_LABELS+=("unbound")
pdns_wait_port "$N" $PDNS 853 || { not_ok "unbound listens" "$(cat "$ZT_TMP/ub/unbound.log")"; exit 1; }

# Baseline without the daemon: every destination answers, and a connect to a
# silently dropped destination would take the client's whole timeout.
for a in $LEARN $EXC $NEVER $NEVER2 $EXP $MAN $WATCHX $REJ $AUD $GRP $FIL1 $FIL2; do
	expect_reach "baseline (no daemon)" $a >/dev/null || not_ok "baseline: $a reachable"
done
ok "baseline (no daemon): every test destination reachable over TCP, counted at the far end"

# ================================================================== (a) verdict log

echo "# (a) JSON verdict log"
daemon_start "a" || { not_ok "remaining parts not run: the daemon did not start"; exit 1; }

out=$(timeout 10 ip netns exec "$C" dig @127.0.0.1 +time=4 +tries=1 +short web.test A 2>&1)
check_eq "(a) web.test resolves through the stub (DoT)" "$LEARN" "$out"
expect_reach "(a) learned" $LEARN
l=$(vlog_wait dst=$LEARN reason=learned)
jcheck "(a) learned: verdict line with names, server, expires_in_s" "$l" \
	'o["verdict"] == "accept" and o["proto"] == "tcp" and o["dport"] == 7001 and "web.test" in json.dumps(o["names"]) and o["server"] == "pdns" and isinstance(o["expires_in_s"], int) and 0 < o["expires_in_s"] <= 90'

expect_reach "(a) exception" $EXC
l=$(vlog_wait dst=$EXC reason=exception)
jcheck "(a) exception: verdict line with the subnet" "$l" \
	'o["verdict"] == "accept" and o["subnet"] == "203.0.113.0/24"'

expect_deny "(a) never resolved" $NEVER
l=$(vlog_wait dst=$NEVER reason=never-resolved)
jcheck "(a) never-resolved: verdict drop, tcp, ports" "$l" \
	'o["verdict"] == "drop" and o["proto"] == "tcp" and o["dport"] == 7001 and o["sport"] > 0 and o["src"] == "192.0.2.1"'

ctl allow $EXP --ttl 1 >/dev/null 2>&1 || not_ok "(a) ztdnsctl allow $EXP --ttl 1"
expect_reach "(a) manual allow --ttl 1, at once" $EXP
l=$(vlog_wait dst=$EXP reason=manual)
jcheck "(a) manual: verdict line with server operator and expires_in_s" "$l" \
	'o["verdict"] == "accept" and o["server"] == "operator" and "expires_in_s" in o'
sleep 2.2
expect_deny "(a) the same manual allow after its TTL (1 s)" $EXP
l=$(vlog_wait dst=$EXP reason=expired)
jcheck "(a) expired: verdict drop with expired_ago_s" "$l" \
	'o["verdict"] == "drop" and isinstance(o["expired_ago_s"], int) and 0 <= o["expired_ago_s"] <= 30'

# ping: the ICMP fields.
timeout 3 ip netns exec "$C" ping -n -c 1 -W 1 $EXC >/dev/null 2>&1
l=$(vlog_wait dst=$EXC proto=icmp)
jcheck "(a) icmp: icmp_type 8, icmp_code 0" "$l" 'o["icmp_type"] == 8 and o["icmp_code"] == 0'

# A local sender's uid and gid.
before=$(ctr tcp $EXC)
timeout 5 ip netns exec "$C" setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$NOBODY_PY" "$ZT_LIB_DIR/ztnet.py" tcp $EXC $TCP_PORT --timeout 1.5 --tag nobody >/dev/null 2>&1
after=$(ctr tcp $EXC)
[ "${after:-0}" -gt "${before:-0}" ] && ok "(a) connect as uid 65534 reached the far end" ||
	not_ok "(a) connect as uid 65534 reached the far end" "SYNs $before -> $after"
l=$(vlog_wait dst=$EXC uid=65534)
jcheck "(a) verdict line carries uid 65534 and gid 65534" "$l" 'o["uid"] == 65534 and o["gid"] == 65534'
l=$(vlog_wait dst=$LEARN reason=learned)
jcheck "(a) root's connection carries uid 0" "$l" 'o["uid"] == 0 and o["gid"] == 0'

out=$(vlog check 2>&1)
check_eq "(a) every verdict line is JSON with time, verdict, reason, proto, src, dst (+ ports / icmp type)" 0 $? || diag "$out"
diag "verdict log: $(head -n 1 <<<"$out")"

# ================================================================== (c) explain

echo "# (c) explain --json for each reason"
ctl allow $MAN --ttl 120 >/dev/null 2>&1 || not_ok "(c) ztdnsctl allow $MAN"
j=$(ctlj explain $MAN --port $TCP_PORT)
jcheck "(c) explain manual" "$j" \
	'o["verdict"] == "accept" and o["reason"] == "manual" and o["entry"]["source"] == "manual" and 100 < o["entry"]["expires_in_s"] <= 120'
j=$(ctlj explain $EXC --port $TCP_PORT)
jcheck "(c) explain exception (with the subnet)" "$j" \
	'o["verdict"] == "accept" and o["reason"] == "exception" and o["subnet"] == "203.0.113.0/24"'
j=$(ctlj explain $NEVER2 --port $TCP_PORT)
jcheck "(c) explain never-resolved" "$j" 'o["verdict"] == "drop" and o["reason"] == "never-resolved"'
j=$(ctlj explain $EXP --port $TCP_PORT)
jcheck "(c) explain expired (how long ago)" "$j" \
	'o["verdict"] == "drop" and o["reason"] == "expired" and o["entry"]["expired_ago_s"] >= 1'
j=$(ctlj explain $LEARN --port $TCP_PORT)
jcheck "(c) explain learned (names, server)" "$j" \
	'o["verdict"] == "accept" and o["reason"] == "learned" and "web.test" in json.dumps(o["entry"]["names"]) and o["entry"]["server"] == "pdns"'
j=$(ctlj explain $NEVER2 --proto udp --port $UDP_PORT)
jcheck "(c) explain --proto udp --port 7002" "$j" 'o["reason"] == "never-resolved" and "udp" in o["text"]'
# The evidence agrees with the far end: explain says drop -> nothing arrives,
# and the same address is reachable once allowed.
expect_deny "(c) never-resolved as explained" $NEVER2
ctl allow $NEVER2 --ttl 60 >/dev/null 2>&1
j=$(ctlj explain $NEVER2 --port $TCP_PORT)
jcheck "(c) explain after allow: manual" "$j" 'o["reason"] == "manual" and o["verdict"] == "accept"'
expect_reach "(c) the same address once allowed" $NEVER2
ctl revoke $NEVER2 >/dev/null 2>&1

# ================================================================== (b) watch

echo "# (b) ztdnsctl watch"
# watch_bg LABEL ARGS...: a watcher in the background, output in $ZT_TMP/LABEL.out;
# sets W_PID. Waits until the daemon has it subscribed (a status round trip
# after the connect is enough: commands are handled in order on one loop).
watch_bg() {
	local label=$1
	shift
	timeout 20 ip netns exec "$C" "$ZTC" -s "$SOCK" --json watch "$@" >"$ZT_TMP/$label.out" 2>"$ZT_TMP/$label.err" &
	W_PID=$!
	ZT_PIDS+=("$W_PID")
	ZT_PID_LABELS+=("$label")
	sleep 0.5
}
watch_done() { wait_for "${2:-8}" pid_gone "$1"; wait "$1" 2>/dev/null; }
wlines() { grep -c . "$ZT_TMP/$1.out" 2>/dev/null; }

watch_bg w1 --count 3 --timeout 15
for i in 1 2 3; do tcp_probe $EXC >/dev/null 2>&1; done
watch_done $W_PID
check_eq "(b) watch --count 3: exactly 3 lines, then exits" 3 "$(wlines w1)"
out=$("$ZT_PY" "$ZT_TMP/vlog.py" "$ZT_TMP/w1.out" check 2>&1)
check_eq "(b) watch --json lines are verdict objects (same fields as the log)" 0 $? || diag "$out" "$(cat "$ZT_TMP/w1.out" "$ZT_TMP/w1.err")"
l=$("$ZT_PY" "$ZT_TMP/vlog.py" "$ZT_TMP/w1.out" find dst=$EXC)
jcheck "(b) the watched verdicts are the live ones (exception, $EXC)" "$l" 'o["reason"] == "exception" and o["verdict"] == "accept"'

watch_bg w2 --verdict drop --count 2 --timeout 15
tcp_probe $EXC >/dev/null 2>&1
tcp_probe $WATCHX 0.5 >/dev/null 2>&1
tcp_probe $EXC >/dev/null 2>&1
tcp_probe $WATCHX 0.5 >/dev/null 2>&1
watch_done $W_PID
n=$(grep -c '"verdict":"accept"\|"verdict": "accept"' "$ZT_TMP/w2.out")
if [ "$(wlines w2)" -ge 1 ] && [ "$n" = 0 ] && ! grep -q "$EXC" "$ZT_TMP/w2.out"; then
	ok "(b) watch --verdict drop: only drops ($(wlines w2) lines, none for $EXC)"
else
	not_ok "(b) watch --verdict drop: only drops" "$(cat "$ZT_TMP/w2.out" "$ZT_TMP/w2.err")"
fi

watch_bg w3 --addr $EXC --count 1 --timeout 15
tcp_probe $WATCHX 0.5 >/dev/null 2>&1
tcp_probe $LEARN >/dev/null 2>&1
tcp_probe $EXC >/dev/null 2>&1
watch_done $W_PID
if [ "$(wlines w3)" = 1 ] && grep -q "\"dst\":\"$EXC\"\|\"dst\": \"$EXC\"" "$ZT_TMP/w3.out"; then
	ok "(b) watch --addr $EXC: only that address"
else
	not_ok "(b) watch --addr $EXC: only that address" "$(cat "$ZT_TMP/w3.out" "$ZT_TMP/w3.err")"
fi

watch_bg w4 --port $UDP_PORT --count 1 --timeout 15
tcp_probe $EXC >/dev/null 2>&1
timeout 3 ip netns exec "$C" "${ZT_NET[@]}" udp $EXC $UDP_PORT --timeout 1 >/dev/null 2>&1
watch_done $W_PID
l=$(head -n 1 "$ZT_TMP/w4.out")
jcheck "(b) watch --port $UDP_PORT: the UDP flow only" "$l" 'o["proto"] == "udp" and o["dport"] == 7002'

watch_bg w5 --reason never-resolved --count 1 --timeout 15
tcp_probe $EXC >/dev/null 2>&1
tcp_probe $LEARN >/dev/null 2>&1
tcp_probe $WATCHX 0.5 >/dev/null 2>&1
watch_done $W_PID
l=$(head -n 1 "$ZT_TMP/w5.out")
jcheck "(b) watch --reason never-resolved" "$l" "o['reason'] == 'never-resolved' and o['dst'] == '$WATCHX'"

watch_bg w6 --proto udp --verdict drop --count 1 --timeout 15
tcp_probe $WATCHX 0.5 >/dev/null 2>&1
timeout 3 ip netns exec "$C" "${ZT_NET[@]}" udp $WATCHX $UDP_PORT --timeout 0.5 >/dev/null 2>&1
watch_done $W_PID
l=$(head -n 1 "$ZT_TMP/w6.out")
jcheck "(b) watch --proto udp --verdict drop (filters combine)" "$l" "o['proto'] == 'udp' and o['verdict'] == 'drop' and o['dst'] == '$WATCHX'"

# A watcher that never reads: a raw control client with a tiny receive buffer.
cat >"$ZT_TMP/stuck.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b'{"cmd":"watch"}\n')
print("subscribed", flush=True)
time.sleep(float(sys.argv[2]))  # never reads
PY
bg_start stuck "$C" "$ZT_PY" "$ZT_TMP/stuck.py" "$SOCK" 120
STUCK_PID=$BG_PID
# A second, normal watcher stuck behind a pipe nobody reads.
ip netns exec "$C" bash -c "timeout 120 '$ZTC' -s '$SOCK' --json watch | sleep 120" >/dev/null 2>&1 &
PIPE_PID=$!
ZT_PIDS+=("$PIPE_PID")
ZT_PID_LABELS+=("pipe-watcher")
wait_for 3 grep -q subscribed "$ZT_TMP/stuck.log"
sleep 0.3
den0=$(ctlj status | json_get verdicts.denied)
t0=$(ms_now)
out=$(timeout 60 ip netns exec "$C" "${ZT_NET[@]}" udpflood $FLOOD --ports 20000-22999 2>&1)
t1=$(ms_now)
diag "udpflood (3000 new UDP flows, all denied): $out in $((t1 - t0)) ms"
wait_for 5 bash -c "[ \$(timeout 3 ip netns exec $C $ZTC -s $SOCK --json status | '$ZT_PY' -c 'import json,sys; print(json.load(sys.stdin)[\"verdicts\"][\"denied\"])') -ge $((den0 + 2900)) ]"
t0=$(ms_now)
st=$(ctlj status)
rc=$?
t1=$(ms_now)
den1=$(json_get verdicts.denied <<<"$st")
if [ $rc -eq 0 ] && [ $((t1 - t0)) -lt 1000 ]; then
	ok "(b) with two stalled watchers and 3000 verdicts, status answers in $((t1 - t0)) ms"
else
	not_ok "(b) with stalled watchers, status answers quickly" "exit $rc in $((t1 - t0)) ms" "$st"
fi
if [ -n "$den1" ] && [ "$den1" -ge $((den0 + 2900)) ]; then
	ok "(b) the daemon kept giving verdicts (denied $den0 -> $den1)"
else
	not_ok "(b) the daemon kept giving verdicts" "denied $den0 -> $den1"
fi
check_eq "(b) none of the 3000 denied UDP flows reached the far end" 0 "$(ctr_get "$N" 4 "flood-$FLOOD")"
expect_reach "(b) with stalled watchers, connections still work" $EXC
expect_reach "(b) with stalled watchers, learned still works" $LEARN
watch_bg w7 --addr $EXC --count 1 --timeout 10
tcp_probe $EXC >/dev/null 2>&1
watch_done $W_PID
check_eq "(b) a new watcher still receives verdicts" 1 "$(wlines w7)"
pid_alive "$ZTD_PID" && ok "(b) daemon alive after the stalled watchers" || not_ok "(b) daemon alive after the stalled watchers"
bg_stop "$STUCK_PID" TERM 2
bg_stop "$PIPE_PID" TERM 2
pkids=$(ip netns pids "$C" 2>/dev/null | while read -r p; do
	[ "$(cat /proc/$p/comm 2>/dev/null)" = sleep ] && echo "$p"; done)
[ -n "$pkids" ] && kill $pkids 2>/dev/null

# ================================================================== (d) flush

echo "# (d) flush"
expect_reach "(d) before flush: learned" $LEARN
expect_reach "(d) before flush: manual" $MAN
n=$(ctlj list | json_get total)
[ "${n:-0}" -ge 2 ] && ok "(d) before flush: $n allowances listed" || not_ok "(d) before flush: allowances listed" "total: $n"
j=$(ctlj flush)
jcheck "(d) flush answers ok with the number removed" "$j" 'o["ok"] is True and o["removed"] >= 2'
j=$(ctlj list)
jcheck "(d) list after flush: empty" "$j" 'o["total"] == 0 and o["entries"] == []'
expect_deny "(d) after flush: the learned address" $LEARN
expect_deny "(d) after flush: the manual address" $MAN
expect_reach "(d) after flush: exceptions are configuration, not allowances" $EXC
j=$(ctlj explain $LEARN --port $TCP_PORT)
jcheck "(d) explain after flush: never-resolved" "$j" 'o["reason"] == "never-resolved"'
out=$(timeout 10 ip netns exec "$C" dig @127.0.0.1 +time=4 +tries=1 +short web.test A 2>&1)
check_eq "(d) a new lookup after flush" "$LEARN" "$out"
expect_reach "(d) ... and the address is reachable again" $LEARN

# drop: how long a blocked connect takes (the reference for (e)).
out=$(conntime $REJ 1.5)
DROP_MS=$(sed -n 's/^ms=\([0-9]*\) .*/\1/p' <<<"$out")
if [ "${DROP_MS:-0}" -ge 1400 ] && grep -q 'result=timeout' <<<"$out"; then
	ok "(e) reference, deny_action drop: a blocked connect() waits for the client's timeout ($out)"
else
	not_ok "(e) reference, deny_action drop: a blocked connect() waits for the client's timeout" "$out"
fi
daemon_stop

# ================================================================== (e) reject

echo "# (e) deny_action reject"
daemon_start "e-reject" '"ruleset":{"deny_action":"reject"}' || { not_ok "remaining parts not run"; exit 1; }
rej0=$(ctlj status | "$ZT_PY" -c 'import json,sys; print(sum(q.get("rejected", 0) for q in json.load(sys.stdin)["queues"]))')
before=$(ctr tcp $REJ)
out=$(conntime $REJ 1.5)
REJ_MS=$(sed -n 's/^ms=\([0-9]*\) .*/\1/p' <<<"$out")
sleep 0.2
after=$(ctr tcp $REJ)
if grep -q 'result=ConnectionRefusedError' <<<"$out" && [ -n "$REJ_MS" ] && [ "$REJ_MS" -lt 500 ]; then
	ok "(e) blocked TCP connect() fails at once with connection refused ($REJ_MS ms; drop: $DROP_MS ms)"
else
	not_ok "(e) blocked TCP connect() fails at once with connection refused (< 500 ms)" "$out"
fi
check_eq "(e) ... and the far end saw no SYN" "$before" "$after"
before=$(ctr icmp $REJ)
out=$(timeout 4 ip netns exec "$C" ping -n -c 1 -W 2 $REJ 2>&1)
after=$(ctr icmp $REJ)
if grep -qiE 'packet filtered|prohibited' <<<"$out"; then
	ok "(e) ping gets an administratively-prohibited error ($(grep -iE 'filtered|prohibited' <<<"$out" | head -n 1))"
else
	not_ok "(e) ping gets 'Packet filtered' (admin prohibited)" "$out"
fi
check_eq "(e) ... and the far end saw no echo request" "$before" "$after"
before=$(ctr udp $REJ)
out=$(timeout 4 ip netns exec "$C" "${ZT_NET[@]}" udp $REJ $UDP_PORT --timeout 1.5 2>&1)
rc=$?
after=$(ctr udp $REJ)
if [ $rc -ne 0 ] && [ "$before" = "$after" ]; then ok "(e) UDP to the blocked address fails, nothing at the far end ($(head -n 1 <<<"$out"))"
else not_ok "(e) UDP to the blocked address fails, nothing at the far end" "exit $rc, far end $before -> $after" "$out"; fi
rej1=$(ctlj status | "$ZT_PY" -c 'import json,sys; print(sum(q.get("rejected", 0) for q in json.load(sys.stdin)["queues"]))')
if [ -n "$rej1" ] && [ "$rej1" -ge $((rej0 + 3)) ]; then ok "(e) status queues[].rejected moves ($rej0 -> $rej1)"
else not_ok "(e) status queues[].rejected moves" "$rej0 -> $rej1"; fi
l=$(vlog_wait dst=$REJ proto=tcp)
jcheck "(e) verdict log: the rejected flow is logged as a reject, never-resolved" "$l" 'o["verdict"] == "reject" and o["reason"] == "never-resolved"'
ctl allow $REJ --ttl 60 >/dev/null 2>&1 || not_ok "(e) ztdnsctl allow $REJ"
expect_reach "(e) the same destination once allowed" $REJ
# One echo reply is enough; a first ping that gets none is shown (verdict
# lines, conntrack) and tried once more: a reply lost on a loaded machine
# (seen under ASan) is not what is tested, a reply path that is broken is.
ping_ok() {
	local before after
	before=$(ctr icmp $REJ)
	timeout 7 ip netns exec "$C" ping -n -c 1 -w 5 $REJ >/dev/null 2>&1 || return 1
	after=$(ctr icmp $REJ)
	[ "$after" -gt "$before" ]
}
if ping_ok; then
	ok "(e) ping once allowed reaches the far end (and is answered)"
else
	diag "(e) first ping unanswered; verdict lines: $(grep '"icmp"' "$VLOG" | tail -n 3)"
	diag "(e) conntrack: $(ns_exec "$C" conntrack -L -p icmp 2>/dev/null | grep $REJ | head -n 3)"
	if ping_ok; then ok "(e) ping once allowed reaches the far end (second try)"
	else not_ok "(e) ping once allowed reaches the far end (and is answered), twice" "far-end echo requests: $(ctr icmp $REJ)"; fi
fi
ctl revoke $REJ >/dev/null 2>&1
expect_deny "(e) revoked again" $REJ
daemon_stop

# ================================================================== (f) audit

echo "# (f) audit mode (enforce false)"
daemon_start "f-audit" '"enforce":false' || { not_ok "remaining parts not run"; exit 1; }
st=$(ctlj status)
check_eq "(f) status says audit" audit "$(json_get enforce <<<"$st")"
wd0=$(json_get verdicts.would_deny <<<"$st")
expect_reach "(f) a never-resolved destination IS reached in audit mode" $AUD
l=$(vlog_wait dst=$AUD proto=tcp)
jcheck "(f) verdict log: verdict accept, reason would-deny:never-resolved" "$l" \
	'o["verdict"] == "accept" and o["reason"] == "would-deny:never-resolved"'
wd1=$(ctlj status | json_get verdicts.would_deny)
if [ -n "$wd1" ] && [ "$wd1" -gt "${wd0:-0}" ]; then ok "(f) status verdicts.would_deny moves ($wd0 -> $wd1)"
else not_ok "(f) status verdicts.would_deny moves" "$wd0 -> $wd1"; fi
j=$(ctlj explain $AUD --port $TCP_PORT)
jcheck "(f) explain in audit mode: accept, would_deny, reason never-resolved" "$j" \
	'o["verdict"] == "accept" and o["would_deny"] is True and o["reason"] == "never-resolved"'
expect_reach "(f) exceptions still accepted normally" $EXC
l=$(vlog_wait dst=$EXC reason=exception)
jcheck "(f) ... logged as exception, not would-deny" "$l" 'o["verdict"] == "accept"'
daemon_stop

# ================================================================== (g) exception groups, files

echo "# (g) a named exception group and an exceptions file"
XF=$ZT_TMP/provider.txt
printf '# provider-published ranges\n\n%s/32   # one host\n' $FIL1 >"$XF"
chmod 644 "$XF"
EXCS="\"203.0.113.0/24\",{\"name\":\"corp\",\"subnets\":[\"$GRP/32\"]}"
EXC_FILES_LINE="\"exceptions_files\":[\"$XF\"],"
if daemon_start "g"; then
	expect_reach "(g) the group's address" $GRP
	l=$(vlog_wait dst=$GRP reason=exception)
	jcheck "(g) its verdict line names the group" "$l" 'o["group"] == "corp" and o["subnet"] == "'$GRP'/32"'
	j=$(ctlj explain $GRP --port $TCP_PORT)
	jcheck "(g) explain names the group" "$j" 'o["reason"] == "exception" and o["group"] == "corp" and "group=corp" in o["text"]'
	expect_reach "(g) the file's address" $FIL1
	l=$(vlog_wait dst=$FIL1 reason=exception)
	jcheck "(g) its verdict line names the file" "$l" 'o["group"] == "'"$XF"'"'
	expect_deny "(g) an address not in the file yet" $FIL2
	printf '%s/32\n' $FIL2 >"$XF"
	out=$(ctl reload 2>&1)
	check "(g) ztdnsctl reload re-reads the file" test $? -eq 0
	expect_reach "(g) after the reload: the address put in the file" $FIL2
	expect_deny "(g) after the reload: the address taken out of the file" $FIL1
	printf '%s/32\n198.51.100.83/24\n' $FIL2 >"$XF"
	out=$(ctl reload 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && grep -q "line 2: \"198.51.100.83/24\" has host bits set" <<<"$out"; then
		ok "(g) a bad line: reload refused with the file's line (rc $rc)"
	else
		not_ok "(g) a bad line: reload refused with the file's line" "rc $rc: $out"
	fi
	expect_reach "(g) ... and the policy before it stays" $FIL2
	daemon_stop
fi
EXCS='"203.0.113.0/24"'
EXC_FILES_LINE=

exit 0
