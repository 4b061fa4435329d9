#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_dns.sh BUILD_DIR — integration test of the Protective DNS path (host mode):
# the local stub, DoH and DoT to real servers, allow-before-answer, what an
# answer may and may not teach, server identity, mTLS, failover, TTL expiry,
# malformed queries.
#
# Topology (namespaces made here, removed on every exit path):
#
#   ztdc$$ (client: ztdnsd, dig, probes)       ztdn$$ ("the network")
#     c0 192.0.2.1/24, 2001:db8:1::1/64 <-veth-> n0 192.0.2.2/24, 2001:db8:1::2/64
#     198.51.100.0/24, 203.0.113.0/24              192.0.2.53  unbound #1 pdns.test (DoT 853, DoH 443)
#       via 192.0.2.2                              192.0.2.63  unbound #2 pdns2.test (secondary)
#     2001:db8:10::/64 via 2001:db8:1::2           192.0.2.73  unbound, certificate of the OTHER CA
#                                                  192.0.2.54  nginx stream mTLS terminator :853,
#                                                              CN idA -> unbound A (127.0.0.2:53),
#                                                              CN idB -> unbound B (127.0.0.3:53)
#                                                  192.0.2.55  nginx TLS :853 (stream) and :443
#                                                              (HTTP/2) -> evildns.py (crafted answers)
#                                                  198.51.100.53 rogue plain resolver (unbound, :53)
#                                                  198.51.100.0/24, 2001:db8:10::/64 local (AnyIP):
#                                                  ztnet.py serve tcp 7001 on every address
#
# The far end counts, in its INPUT path, TCP SYNs per destination (and range)
# and packets to the rogue resolver; the client counts the SYNs it emits in
# its raw OUTPUT chain (before any ztdns verdict). Every "blocked" below is
# judged at the far end and the same destination is then shown reachable
# with `ztdnsctl allow`.
#
# The daemon is restarted with a fresh configuration per part (R1..R13).
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID (daemon, unbound, nginx, evildns logs).

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_dns.sh BUILD_DIR"
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
	not_ok "ztdnsd and ztdnsctl are built in $BUILD"
	exit 1
fi

C=ztdc$$
N=ztdn$$
PKI=$ZT_TMP/pki
SOCK=$ZT_TMP/ctl.sock
TCP_PORT=7001
QNUM=9
TIMEOUT_MS=2000
PROBE_TIMEOUT=1.2
ZTD_PID=
ZTD_RUN=0
PY=$ZT_PY
CLIENT_PY=$ZT_TMP/dnsclient.py

# ------------------------------------------------------------------ python client

# The client side of the measurements, python stdlib only: fresh lookups
# followed at once by a connection, malformed queries, a small benchmark.
cat >"$CLIENT_PY" <<'PY'
import json, os, random, socket, struct, sys, time

def enc(name):
    out = b""
    for l in name.strip(".").split("."):
        out += bytes([len(l)]) + l.encode()
    return out + b"\0"

def query(name, qtype, qid=None, flags=0x0100, edns=None):
    qid = random.randrange(65536) if qid is None else qid
    ar = 1 if edns is not None else 0
    m = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, ar) + enc(name) + struct.pack("!HH", qtype, 1)
    if edns is not None:  # (version, udp size)
        m += b"\0" + struct.pack("!HHBBHH", 41, edns[1], 0, edns[0], 0, 0)
    return qid, m

def skip_name(m, off):
    while True:
        n = m[off]
        if n == 0:
            return off + 1
        if n >= 0xC0:
            return off + 2
        off += 1 + n

def parse(m):
    """{"id", "rcode" (extended), "addrs", "ttls"} of an answer."""
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", m[:12])
    off = 12
    for _ in range(qd):
        off = skip_name(m, off) + 4
    addrs, ttls, ext = [], [], 0
    for i in range(an + ns + ar):
        off = skip_name(m, off)
        t, c, ttl, rdl = struct.unpack("!HHIH", m[off:off + 10])
        rd = m[off + 10:off + 10 + rdl]
        if i < an and t == 1 and rdl == 4:
            addrs.append(socket.inet_ntop(socket.AF_INET, rd)); ttls.append(ttl)
        elif i < an and t == 28 and rdl == 16:
            addrs.append(socket.inet_ntop(socket.AF_INET6, rd)); ttls.append(ttl)
        elif t == 41:
            ext = ttl >> 24
        off += 10 + rdl
    return {"id": qid, "qr": flags >> 15, "rcode": (ext << 4) | (flags & 0xF), "addrs": addrs, "ttls": ttls}

def udp_ask(server, msg, timeout):
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(msg, (server, 53))
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else -1

def cmd_trials(server, qtype, port, names):
    """Fresh lookup, then at once a TCP connection to the answer's address."""
    ok = fail = 0
    res_ms, con_ms = [], []
    for i, name in enumerate(names):
        qid, m = query(name, 28 if qtype == "AAAA" else 1)
        t0 = time.monotonic()
        a = udp_ask(server, m, 3)
        t1 = time.monotonic()
        r = parse(a) if a else None
        if not r or r["rcode"] != 0 or not r["addrs"]:
            print("trial %d %s: no answer %s" % (i, name, r))
            fail += 1
            continue
        addr = r["addrs"][0]
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((addr, port))
            t2 = time.monotonic()
            s.sendall(b"trial %d\n" % i)
            got = s.recv(100)
            good = got.startswith(b"trial")
        except OSError as e:
            t2, good = time.monotonic(), False
            print("trial %d %s -> %s: %s" % (i, name, addr, e))
        finally:
            s.close()
        res_ms.append((t1 - t0) * 1000)
        con_ms.append((t2 - t1) * 1000)
        print("trial %d %s -> %s resolve_ms=%.2f connect_ms=%.2f %s" %
              (i, name, addr, (t1 - t0) * 1000, (t2 - t1) * 1000, "ok" if good else "FAIL"))
        ok += good
        fail += not good
    print("SUMMARY ok=%d fail=%d resolve_p50_ms=%.2f connect_p50_ms=%.2f connect_max_ms=%.2f" %
          (ok, fail, pct(res_ms, 50), pct(con_ms, 50), max(con_ms) if con_ms else -1))

def malformed_set():
    """(label, bytes, expected outcome or None for 'any')."""
    rnd = random.Random(7)
    _, good = query("web.test", 1, qid=0x1234)
    hdr = lambda qid, flags, qd, an=0, ns=0, ar=0: struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)
    q = struct.pack("!HH", 1, 1)
    L = [
        ("empty", b"", "drop"),
        ("5 bytes", good[:5], "drop"),
        ("11 bytes", good[:11], "drop"),
        ("header only, qdcount 1", hdr(0x2001, 0x0100, 1), "formerr"),
        ("QR=1", hdr(0x2002, 0x8100, 1) + enc("web.test") + q, "drop"),
        ("label length 65", hdr(0x2003, 0x0100, 1) + b"\x41" + b"a" * 65 + b"\x04test\0" + q, "formerr"),
        ("label type 0x80", hdr(0x2004, 0x0100, 1) + b"\x80abc\0" + q, "formerr"),
        ("label past the end", hdr(0x2005, 0x0100, 1) + b"\x3fabc", "formerr"),
        ("pointer loop", hdr(0x2006, 0x0100, 1) + b"\xc0\x0c" + q, "formerr"),
        ("pointer out of range", hdr(0x2007, 0x0100, 1) + b"\xc0\xff" + q, "formerr"),
        ("qdcount 0", hdr(0x2008, 0x0100, 0), "formerr"),
        ("qdcount 2", hdr(0x2009, 0x0100, 2) + enc("web.test") + q + enc("web.test") + q, "formerr"),
        ("qdcount 2, one question", hdr(0x200a, 0x0100, 2) + enc("web.test") + q, "formerr"),
        ("name longer than 255", hdr(0x200b, 0x0100, 1) + (b"\x3f" + b"a" * 63) * 4 + b"\0" + q, "formerr"),
        ("no qtype/qclass", hdr(0x200c, 0x0100, 1) + enc("web.test"), "formerr"),
        ("opcode 5 (UPDATE)", hdr(0x200d, 0x2800, 1) + enc("web.test") + q, "notimp"),
        ("opcode 2 (STATUS)", hdr(0x200e, 0x1100, 1) + enc("web.test") + q, "notimp"),
        ("EDNS version 1", query("web.test", 1, qid=0x200f, edns=(1, 1232))[1], "badvers"),
        ("arcount 1, no record", hdr(0x2010, 0x0100, 1, ar=1) + enc("web.test") + q, "formerr"),
        ("class CH", hdr(0x2011, 0x0100, 1) + enc("version.bind") + struct.pack("!HH", 16, 3), "refused"),
        ("AXFR", hdr(0x2012, 0x0100, 1) + enc("web.test") + struct.pack("!HH", 252, 1), "refused"),
    ]
    for i in range(24):
        n = rnd.randrange(12, 80)
        b = bytearray(rnd.getrandbits(8) for _ in range(n))
        b[2] &= 0x7F  # QR=0: something that must be looked at
        L.append(("random %d" % i, bytes(b), None))
    return L

OUTCOMES = {0: "noerror", 1: "formerr", 2: "servfail", 3: "nxdomain", 4: "notimp", 5: "refused", 16: "badvers"}

def outcome(msg, sent):
    if msg is None:
        return "drop"
    r = parse(msg)
    if len(sent) >= 2 and r["id"] != struct.unpack("!H", sent[:2])[0]:
        return "wrong-id"
    if not r["qr"]:
        return "not-a-response"
    return OUTCOMES.get(r["rcode"], "rcode%d" % r["rcode"])

def tcp_conn(server):
    s = socket.create_connection((server, 53), timeout=2)
    s.settimeout(0.6)
    _tcp_rest.pop(s.fileno(), None)  # a reused descriptor starts clean
    return s

# Bytes read past one message (pipelined answers can share a segment).
_tcp_rest = {}

def tcp_read_msg(s):
    buf = _tcp_rest.pop(s.fileno(), b"")
    try:
        while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
            d = s.recv(65535)
            if not d:
                return None, True
            buf += d
    except socket.timeout:
        return None, False
    n = 2 + struct.unpack("!H", buf[:2])[0]
    if len(buf) > n:
        _tcp_rest[s.fileno()] = buf[n:]
    return buf[2:n], False

def cmd_malformed(server):
    res = {"udp_sent": 0, "tcp_frames": 0, "drop": 0, "malformed_answered": 0, "bad": [], "outcomes": {}}
    def tally(label, proto, got, exp):
        res["outcomes"][got] = res["outcomes"].get(got, 0) + 1
        if got == "drop":
            res["drop"] += 1
        if got in ("formerr", "notimp", "badvers"):
            res["malformed_answered"] += 1
        allowed = {"drop", "formerr", "notimp", "badvers", "refused", "nxdomain", "servfail", "noerror"}
        if (exp is not None and got != exp) or got not in allowed:
            res["bad"].append("%s %s: expected %s, got %s" % (proto, label, exp or "an answer or a drop", got))
    L = malformed_set()
    for label, b, exp in L:
        res["udp_sent"] += 1
        tally(label, "udp", outcome(udp_ask(server, b, 0.6), b), exp)
    s = tcp_conn(server)
    for label, b, exp in L:
        if not b:
            continue
        s.sendall(struct.pack("!H", len(b)) + b)
        res["tcp_frames"] += 1
        msg, closed = tcp_read_msg(s)
        if closed:
            res["bad"].append("tcp %s: the stub closed the connection" % label)
            s = tcp_conn(server)
        tally(label, "tcp", outcome(msg, b), exp)
    s.close()
    # A frame of length 0: dropped, and the connection closed.
    s = tcp_conn(server)
    s.sendall(b"\0\0")
    msg, closed = tcp_read_msg(s)
    res["drop"] += 1
    if not closed:
        res["bad"].append("tcp zero-length frame: connection not closed")
    s.close()
    # An incomplete frame, then the client goes away: nothing to count.
    s = tcp_conn(server)
    s.sendall(struct.pack("!H", 100) + b"\x12\x34\x01\x00")
    s.close()
    # Two queries in one segment, the second split over two sends.
    s = tcp_conn(server)
    _, a = query("web.test", 1, qid=0x3001)
    _, b = query("web.test", 28, qid=0x3002)
    fa, fb = struct.pack("!H", len(a)) + a, struct.pack("!H", len(b)) + b
    s.sendall(fa + fb[:5]); time.sleep(0.05); s.sendall(fb[5:])
    res["tcp_frames"] += 2
    # Longer than the stub's upstream timeout (3 s): a slow machine shows
    # up as SERVFAIL, not as a missing answer.
    s.settimeout(6)
    got = []
    for _ in range(2):
        msg, closed = tcp_read_msg(s)
        got.append(outcome(msg, a if msg and msg[:2] == a[:2] else b))
    if got != ["noerror", "noerror"]:
        res["bad"].append("tcp pipelined pair: %s" % got)
    s.close()
    print(json.dumps(res))

def cmd_bench(server, name, count):
    lat, fails = [], 0
    t_start = time.monotonic()
    for i in range(count):
        qid, m = query(name, 1)
        t0 = time.monotonic()
        a = udp_ask(server, m, 3)
        t1 = time.monotonic()
        if a is None or parse(a)["rcode"] != 0:
            fails += 1
        lat.append((t1 - t0) * 1000)
    el = time.monotonic() - t_start
    print("count=%d fails=%d qps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f" %
          (count, fails, count / el, pct(lat, 50), pct(lat, 99), max(lat)))

def cmd_ask(server, name, qtype, qflags):
    """One query (qflags 'rd0' clears RD); prints rcode, TTLs and addresses."""
    flags = 0 if qflags == "rd0" else 0x0100
    qid, m = query(name, {"A": 1, "AAAA": 28}[qtype], flags=flags)
    a = udp_ask(server, m, 4)
    if a is None:
        print("NONE"); return
    r = parse(a)
    print(OUTCOMES.get(r["rcode"], str(r["rcode"])).upper(), " ".join(map(str, r["ttls"])), " ".join(r["addrs"]))

cmd = sys.argv[1]
if cmd == "trials":
    cmd_trials(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:])
elif cmd == "malformed":
    cmd_malformed(sys.argv[2])
elif cmd == "bench":
    cmd_bench(sys.argv[2], sys.argv[3], int(sys.argv[4]))
elif cmd == "ask":
    cmd_ask(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else "")
PY

# ------------------------------------------------------------------ helpers

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }
ctlj() { ctl --json "$@"; }
cpy() { ip netns exec "$C" "$PY" "$CLIENT_PY" "$@"; }

fam() { case $1 in *:*) echo 6 ;; *) echo 4 ;; esac; }

# reason ADDR: the verdict reason a new TCP flow to ADDR would get now.
reason() { ctlj explain "$1" --port "$TCP_PORT" 2>/dev/null | json_get reason; }
status_json() { ctlj status 2>/dev/null; }
dstat() { status_json | json_get "dns.$1"; }

# learned_names ADDR: the names of ADDR's learned allowance ("" if none).
learned_names() {
	ctlj list 2>/dev/null | "$PY" -c '
import ipaddress, json, sys
want = ipaddress.ip_address(sys.argv[1])
for e in json.load(sys.stdin).get("entries", []):
    if ipaddress.ip_address(e["addr"]) == want and e.get("source") == "learned":
        n = e.get("names")
        print(n if isinstance(n, str) else json.dumps(n)); break' "$1"
}

# expect_reason WHY ADDR REASON
expect_reason() {
	local r
	r=$(reason "$2")
	check_eq "$1: explain $2 -> $3" "$3" "$r"
}

# The far-end SYN counter of ADDR (the rule is made the first time).
syn_ctr() {
	local a=$1 f
	f=$(fam "$a")
	if [ -z "$(ctr_get "$N" "$f" "syn-$a")" ]; then
		if [ "$f" = 6 ]; then
			ctr_add "$N" 6 "syn-$a" -d "$a" -p tcp --dport "$TCP_PORT" --syn
		else
			ctr_add "$N" 4 "syn-$a" -d "$a" -p tcp --dport "$TCP_PORT" --syn
		fi
	fi
	ctr_get "$N" "$f" "syn-$a"
}

tcp_probe() {
	timeout 4 ip netns exec "$C" "${ZT_NET[@]}" tcp "$1" "$TCP_PORT" --timeout "$PROBE_TIMEOUT" --tag "p$$"
}

# expect_reach WHY ADDR: a TCP connection succeeds and the far end saw its SYN.
expect_reach() {
	local why=$1 a=$2 before after out rc
	before=$(syn_ctr "$a")
	out=$(tcp_probe "$a" 2>&1)
	rc=$?
	after=$(syn_ctr "$a")
	if [ $rc -eq 0 ] && [ -n "$after" ] && [ "$after" -gt "${before:-0}" ]; then
		ok "$why: tcp to $a reaches the server (far-end SYNs $before -> $after)"
		return 0
	fi
	not_ok "$why: tcp to $a reaches the server" "probe exit $rc, far-end SYNs $before -> $after" "$out"
	return 1
}

# expect_deny WHY ADDR: the connection fails and no SYN arrived at the far end.
expect_deny() {
	local why=$1 a=$2 before after out rc
	before=$(syn_ctr "$a")
	out=$(tcp_probe "$a" 2>&1)
	rc=$?
	sleep 0.2
	after=$(syn_ctr "$a")
	if [ $rc -ne 0 ] && [ -n "$before" ] && [ "$after" = "$before" ]; then
		ok "$why: tcp to $a blocked (far-end SYNs stay $after)"
		return 0
	fi
	not_ok "$why: tcp to $a blocked" "probe exit $rc, far-end SYNs $before -> $after" "$out"
	return 1
}

# proven_deny WHY ADDR: blocked now, reachable once the operator allows it
# (so the zero at the far end means something), then revoked again.
proven_deny() {
	local why=$1 a=$2
	expect_deny "$why" "$a"
	ctl allow "$a" --ttl 60 >/dev/null 2>&1 || not_ok "$why: ztdnsctl allow $a"
	expect_reach "$why: control, after ztdnsctl allow" "$a"
	ctl revoke "$a" >/dev/null 2>&1 || not_ok "$why: ztdnsctl revoke $a"
}

# dnsq NAME TYPE [SERVER] [DIG-OPTION]: "STATUS ADDR..." from dig (NONE: no answer).
dnsq() {
	local out st
	out=$(timeout 10 ip netns exec "$C" dig @"${3:-127.0.0.1}" -p 53 +time=${DIG_TIME:-4} +tries=1 \
		${4:+"$4"} +noall +comments +answer "$1" "$2" 2>&1)
	st=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | head -n 1)
	# shellcheck disable=SC2046 # the addresses, one word each
	echo "${st:-NONE}" $(awk '$4 == "A" || $4 == "AAAA" { print $5 }' <<<"$out" | sort)
}

# expect_dns WHY NAME TYPE EXPECTED [SERVER] [DIG-OPTION]
expect_dns() {
	local got
	got=$(dnsq "$2" "$3" "${5:-}" "${6:-}")
	got=${got% }
	check_eq "$1: dig $2 $3 -> $4" "$4" "$got"
}

daemon_log() { echo "$ZT_TMP/$ZTD_LOG.log"; }

# conf_write FILE SERVERS_JSON [EXTRA_JSON]: a host-mode configuration.
conf_write() {
	cat >"$1" <<EOF
{"mode":"host",
 "servers":[$2],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "limits":{"upstream_timeout_ms":$TIMEOUT_MS},
 "log":{"level":"info"}${3:+,
 $3}}
EOF
}

stub_listens() { ns_exec "$C" ss -Hlun "sport = :53" | grep -q '127.0.0.1:53'; }

# daemon_start LABEL CONF: start ztdnsd, wait until ready and the stub listens.
daemon_start() {
	local label=$1 conf=$2 i out
	ZTD_RUN=$((ZTD_RUN + 1))
	ZTD_LOG=ztdnsd-$ZTD_RUN-$label
	ZTD_LABEL=$label
	out=$(timeout 5 "$ZTD" --check -c "$conf" 2>&1) ||
		{ not_ok "$label: ztdnsd --check accepts the configuration" "$out" "$(cat "$conf")"; return 1; }
	bg_start "$ZTD_LOG" "$C" "$ZTD" -c "$conf" --foreground -v
	ZTD_PID=$BG_PID
	for ((i = 0; i < 15; i++)); do
		out=$(ctl wait-ready --timeout 1 2>&1) && break
		pid_alive "$ZTD_PID" || break
		sleep 0.5
	done
	if pid_alive "$ZTD_PID" && ctl wait-ready --timeout 2 >/dev/null 2>&1 && wait_for 5 stub_listens; then
		ok "$label: ztdnsd ready, stub listening on 127.0.0.1:53"
		return 0
	fi
	not_ok "$label: ztdnsd ready, stub listening on 127.0.0.1:53" "wait-ready: $out" \
		"$(tail -n 15 "$(daemon_log)" 2>/dev/null)"
	return 1
}

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
	[ $rc -ne 0 ] && not_ok "$ZTD_LABEL: ztdnsd exits 0 on SIGTERM" "exit $rc" "$(tail -n 10 "$(daemon_log)")"
	ZTD_PID=
	rm -f "$SOCK"
	return 0
}

# json_servers ...: helpers for the server entries of the configurations.
srv_doh() { # NAME URL BOOTSTRAP [PIN] [CA]
	printf '{"name":"%s","protocol":"doh","url":"%s","bootstrap":["%s"],"ca_file":"%s"%s}' \
		"$1" "$2" "$3" "${5:-$PKI/ca.pem}" "${4:+,\"spki_pins\":[\"$4\"]}"
}
srv_dot() { # NAME ADDR TLS_NAME [PIN] [CA] [PRIORITY]
	printf '{"name":"%s","protocol":"dot","address":"%s","tls_name":"%s","ca_file":"%s"%s%s}' \
		"$1" "$2" "$3" "${5:-$PKI/ca.pem}" "${4:+,\"spki_pins\":[\"$4\"]}" "${6:+,\"priority\":$6}"
}

ms_now() { echo $(($(date +%s%N) / 1000000)); }

# ------------------------------------------------------------------ topology

ns_new "$C" && ns_new "$N" || { not_ok "create namespaces $C and $N"; exit 1; }
ns_veth "$C" c0 "$N" n0 || { not_ok "create veth pair"; exit 1; }
ns_addr "$C" c0 192.0.2.1/24
ns_addr "$C" c0 2001:db8:1::1/64
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.2
ip -n "$C" route add 203.0.113.0/24 via 192.0.2.2
ip -n "$C" -6 route add 2001:db8:10::/64 via 2001:db8:1::2
ns_addr "$N" n0 192.0.2.2/24
ns_addr "$N" n0 2001:db8:1::2/64
for a in 53 54 55 63 73; do ns_addr "$N" n0 192.0.2.$a/32; done
ns_addr "$N" lo 198.51.100.53/32
# Every other address of the two web ranges is local in the network namespace
# (AnyIP), so one listener on :: answers for all of them.
ip -n "$N" route add local 198.51.100.0/24 dev lo
ip -n "$N" -6 route add local 2001:db8:10::/64 dev lo
ip -n "$N" addr add 127.0.0.2/8 dev lo 2>/dev/null
ip -n "$N" addr add 127.0.0.3/8 dev lo 2>/dev/null

ctr_setup "$N" || { not_ok "far-end counting chains"; exit 1; }
ctr_out_setup "$C" || { not_ok "client-side counting chains"; exit 1; }
ctr_add "$N" 4 rogue-udp -d 198.51.100.53 -p udp --dport 53
ctr_add "$N" 4 rogue-tcp -d 198.51.100.53 -p tcp --dport 53 --syn
ctr_add "$N" 4 dns-plain-udp -p udp --dport 53
ctr_add "$N" 6 dns-plain-udp -p udp --dport 53

bg_start web "$N" "${ZT_NET[@]}" serve --tcp "$TCP_PORT" --udp 7002 --log "$ZT_TMP/web-server.log" --max-seconds 900
wait_for 5 grep -q 'ready' "$ZT_TMP/web-server.log" || { not_ok "web server started" "$(cat "$ZT_TMP/web.log")"; exit 1; }

# ------------------------------------------------------------------ PKI and servers

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test 192.0.2.53
pki_server "$PKI" pdns2 ca pdns2.test 192.0.2.63
pki_server "$PKI" other otherca pdns.test 192.0.2.73
pki_server "$PKI" mtls ca mtls.test 192.0.2.54
pki_server "$PKI" evil ca evil.test 192.0.2.55
pki_client "$PKI" idA ca idA
pki_client "$PKI" idB ca idB
pki_client "$PKI" idX otherca idA
PIN1=$(pki_spki "$PKI/pdns.pem")
PIN_OTHER=$(pki_spki "$PKI/pdns2.pem")
[ ${#PIN1} -eq 44 ] || { not_ok "test PKI generated" "pin: $PIN1"; exit 1; }

# Trial names: 20 per transport and family, each to its own address.
declare -a T4_DOH T6_DOH T4_DOT T6_DOT
mkdata_common() {
	local i
	echo "web.test. 60 A 198.51.100.10"
	echo "web.test. 60 AAAA 2001:db8:10::10"
	echo "id.test. 60 A 198.51.100.12"
	echo "id.test. 60 AAAA 2001:db8:10::12"
}
{
	mkdata_common
	for i in $(seq 0 19); do
		echo "t4-doh-$i.test. 60 A 198.51.100.$((128 + i))"
		echo "t6-doh-$i.test. 60 AAAA 2001:db8:10::1:$i"
		echo "t4-dot-$i.test. 60 A 198.51.100.$((160 + i))"
		echo "t6-dot-$i.test. 60 AAAA 2001:db8:10::2:$i"
	done
	echo "short.test. 2 A 198.51.100.81"
	echo "long.test. 600 A 198.51.100.82"
	echo "fo.test. 60 A 198.51.100.61"
	echo "fo2.test. 60 A 198.51.100.71"
	echo "fo3.test. 60 A 198.51.100.65"
} >"$ZT_TMP/pdns1.data"
for i in $(seq 0 19); do
	T4_DOH+=("t4-doh-$i.test"); T6_DOH+=("t6-doh-$i.test")
	T4_DOT+=("t4-dot-$i.test"); T6_DOT+=("t6-dot-$i.test")
done
{
	mkdata_common
	echo "fo.test. 60 A 198.51.100.62"
	echo "fo2.test. 60 A 198.51.100.72"
	echo "fo3.test. 60 A 198.51.100.66"
} >"$ZT_TMP/pdns2.data"
mkdata_common >"$ZT_TMP/other.data"
echo "who.test. 60 A 198.51.100.41" >"$ZT_TMP/ua.data"
echo "who.test. 60 A 198.51.100.42" >"$ZT_TMP/ub.data"
echo "rogue.test. 60 A 198.51.100.30" >"$ZT_TMP/rogue.data"

declare -A UB_PID=()
# unbound_up LABEL ADDR CERT DATA [PLAINPORT]: a real unbound in the network ns.
unbound_up() {
	local label=$1 addr=$2 cert=$3 data=$4 plain=${5:-} dir=$ZT_TMP/ub-$1
	mkdir -p "$dir"
	pdns_unbound_conf "$dir" "$addr" "$PKI/$cert.pem" "$PKI/$cert.key" "$data" "$plain" >"$dir/unbound.conf"
	pdns_unbound_start "$N" "$dir" || { not_ok "unbound $label: configuration valid" "$(unbound-checkconf "$dir/unbound.conf" 2>&1)"; return 1; }
	UB_PID[$label]=$PDNS_PID
	ZT_PIDS+=("$PDNS_PID")
	ZT_PID_LABELS+=("unbound-$label")
	pdns_wait_port "$N" "$addr" 853 && pdns_wait_port "$N" "$addr" 443 && {
		[ -z "$plain" ] || pdns_wait_port "$N" "$addr" "$plain"
	}
}
ub_log() { echo "$ZT_TMP/ub-$1/unbound.log"; }

unbound_up pdns1 192.0.2.53 pdns "$ZT_TMP/pdns1.data" || exit 1
unbound_up pdns2 192.0.2.63 pdns2 "$ZT_TMP/pdns2.data" || exit 1
unbound_up other 192.0.2.73 other "$ZT_TMP/other.data" || exit 1
unbound_up ua 127.0.0.2 pdns "$ZT_TMP/ua.data" 53 || exit 1
unbound_up ub 127.0.0.3 pdns "$ZT_TMP/ub.data" 53 || exit 1
unbound_up rogue 198.51.100.53 pdns "$ZT_TMP/rogue.data" 53 || exit 1
ok "six unbound servers listening (pdns1, pdns2, other-CA, mTLS backends A and B, rogue)"

bg_start evildns "$N" "$PY" "$ZT_LIB_DIR/evildns.py" --tcp 127.0.0.1:5399 --http 127.0.0.1:5380 \
	--log "$ZT_TMP/evildns-queries.log" --max-seconds 900
wait_for 5 grep -q ready "$ZT_TMP/evildns-queries.log" || { not_ok "evildns.py started" "$(cat "$ZT_TMP/evildns.log")"; exit 1; }

NGX=$ZT_TMP/nginx
mkdir -p "$NGX/tmp"
cat >"$NGX/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
pid $NGX/nginx.pid;
user root;
events { worker_connections 256; }
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
		listen 192.0.2.54:853 ssl;
		ssl_certificate $PKI/mtls.pem;
		ssl_certificate_key $PKI/mtls.key;
		ssl_client_certificate $PKI/ca.pem;
		ssl_verify_client on;
		proxy_pass \$mtls_backend;
	}
	server {
		listen 192.0.2.55:853 ssl;
		ssl_certificate $PKI/evil.pem;
		ssl_certificate_key $PKI/evil.key;
		proxy_pass 127.0.0.1:5399;
	}
}
http {
	access_log $NGX/http-access.log;
	client_body_temp_path $NGX/tmp/body;
	proxy_temp_path $NGX/tmp/proxy;
	fastcgi_temp_path $NGX/tmp/fcgi;
	uwsgi_temp_path $NGX/tmp/uwsgi;
	scgi_temp_path $NGX/tmp/scgi;
	server {
		listen 192.0.2.55:443 ssl http2;
		ssl_certificate $PKI/evil.pem;
		ssl_certificate_key $PKI/evil.key;
		location /dns-query {
			proxy_pass http://127.0.0.1:5380;
			proxy_http_version 1.1;
		}
	}
}
EOF
if nginx_start nginx "$N" "$NGX" "$NGX/nginx.conf" 2>"$ZT_TMP/nginx-t.log"; then
	:
else
	not_ok "nginx configuration accepted" "$(cat "$ZT_TMP/nginx-t.log" "$NGX/nginx-error.log" 2>/dev/null)"
	exit 1
fi
if pdns_wait_port "$N" 192.0.2.54 853 && pdns_wait_port "$N" 192.0.2.55 853 && pdns_wait_port "$N" 192.0.2.55 443; then
	ok "nginx terminators listening (mTLS 192.0.2.54:853, evil 192.0.2.55:853 and :443)"
else
	not_ok "nginx terminators listening" "$(cat "$NGX/nginx-error.log")"
	exit 1
fi

# Baseline, no daemon: the far end is reachable, so later zeros mean something.
expect_reach "baseline (no ztdnsd)" 198.51.100.20
expect_reach "baseline (no ztdnsd)" 2001:db8:10::11
expect_dns "baseline (no ztdnsd): the rogue resolver answers plain DNS" rogue.test A "NOERROR 198.51.100.30" 198.51.100.53

DOH1=$(srv_doh pdns1-doh https://pdns.test/dns-query 192.0.2.53 "$PIN1")
DOT1=$(srv_dot pdns1-dot 192.0.2.53 pdns.test "$PIN1")

# trials LABEL TYPE RANGE_NAME RANGE NAMES...: fresh lookups then at once a
# connection, each to a new address: every connection succeeds, the client
# sent exactly one SYN per connection and the far end received each of them.
trials() {
	local label=$1 qtype=$2 cname=$3 range=$4 f out summary n cb ca fb fa cmax
	shift 4
	n=$#
	f=$(fam "$range")
	if [ -z "$(ctr_get "$N" "$f" "$cname")" ]; then
		ctr_add "$N" "$f" "$cname" -d "$range" -p tcp --dport "$TCP_PORT" --syn
		ctr_out_add "$C" "$f" "$cname" -d "$range" -p tcp --dport "$TCP_PORT" --syn
	fi
	cb=$(ctr_out_get "$C" "$f" "$cname")
	fb=$(ctr_get "$N" "$f" "$cname")
	out=$(timeout 120 ip netns exec "$C" "$PY" "$CLIENT_PY" trials 127.0.0.1 "$qtype" "$TCP_PORT" "$@" 2>&1)
	ca=$(ctr_out_get "$C" "$f" "$cname")
	fa=$(ctr_get "$N" "$f" "$cname")
	summary=$(grep '^SUMMARY' <<<"$out")
	if grep -q "ok=$n fail=0" <<<"$summary"; then
		ok "$label: $n fresh $qtype lookups, each followed at once by a connection that succeeded"
	else
		not_ok "$label: $n fresh $qtype lookups, each followed at once by a connection that succeeded" "$out"
	fi
	check_eq "$label: client sent exactly one SYN per connection (no retransmission)" "$n" "$((ca - cb))"
	check_eq "$label: far end received exactly one SYN per connection" "$n" "$((fa - fb))"
	cmax=$(sed -n 's/.*connect_max_ms=\([0-9.]*\).*/\1/p' <<<"$summary")
	if [ -n "$cmax" ] && awk -v m="$cmax" 'BEGIN { exit !(m < 500) }'; then
		ok "$label: slowest connect ${cmax} ms (< 500 ms: no SYN waited for a retransmission)"
	else
		not_ok "$label: every connect < 500 ms" "$summary"
	fi
	diag "$label: $summary"
}

# ================================================================== R1: DoH
echo "# R1: one DoH server (pdns1, pinned)"
# intercept_dns off: part (3) shows plain DNS to a rogue resolver dropped,
# not answered by the stub (t_intercept.sh tests the interception).
conf_write "$ZT_TMP/r1.json" "$DOH1" '"intercept_dns":false'
if daemon_start R1-doh "$ZT_TMP/r1.json"; then
	expect_reason "(1) DoH: before any lookup" 198.51.100.128 never-resolved
	trials "(1) DoH A" A doh4 198.51.100.128/27 "${T4_DOH[@]}"
	trials "(1) DoH AAAA" AAAA doh6 2001:db8:10::1:0/112 "${T6_DOH[@]}"
	n=$(learned_names 198.51.100.128)
	case $n in *t4-doh-0.test*) ok "(1) DoH: list shows 198.51.100.128 learned for t4-doh-0.test" ;;
	*) not_ok "(1) DoH: list shows 198.51.100.128 learned for t4-doh-0.test" "names: '$n'" "$(ctl list 2>&1 | head -5)" ;; esac
	expect_reason "(1) DoH: after the lookup" 2001:db8:10::1:0 learned
	expect_dns "(1) DoH over TCP to the stub" web.test AAAA "NOERROR 2001:db8:10::10" 127.0.0.1 +tcp
	expect_dns "(1) DoH via the stub on ::1" web.test A "NOERROR 198.51.100.10" ::1

	echo "# (2) a name the server refuses"
	expect_dns "(2) refused name" blocked.test A "NXDOMAIN"
	expect_reason "(2) after NXDOMAIN" 198.51.100.20 never-resolved
	proven_deny "(2) the web server a refused name would have reached" 198.51.100.20

	echo "# (3) hard-coded addresses and a rogue resolver"
	proven_deny "(3) hard-coded v4, no lookup" 198.51.100.11
	proven_deny "(3) hard-coded v6, no lookup" 2001:db8:10::11
	rb=$(ctr_get "$N" 4 rogue-udp); rt=$(ctr_get "$N" 4 rogue-tcp); sb=$(dstat udp_queries); st=$(dstat tcp_queries)
	DIG_TIME=1 expect_dns "(3) plain DNS to 198.51.100.53 gets no answer" rogue.test A NONE 198.51.100.53
	DIG_TIME=1 expect_dns "(3) plain DNS over TCP to 198.51.100.53 gets no answer" rogue.test A NONE 198.51.100.53 +tcp
	sleep 0.3
	check_eq "(3) the rogue resolver received zero UDP packets" "$rb" "$(ctr_get "$N" 4 rogue-udp)"
	check_eq "(3) the rogue resolver received zero TCP SYNs" "$rt" "$(ctr_get "$N" 4 rogue-tcp)"
	check_eq "(3) the stub did not see (or answer) the query to the rogue resolver (udp)" "$sb" "$(dstat udp_queries)"
	check_eq "(3) the stub did not see (or answer) the query to the rogue resolver (tcp)" "$st" "$(dstat tcp_queries)"
	ctl allow 198.51.100.53 --ttl 60 >/dev/null
	expect_dns "(3) control: after ztdnsctl allow, the rogue resolver answers" rogue.test A "NOERROR 198.51.100.30" 198.51.100.53
	ra=$(ctr_get "$N" 4 rogue-udp)
	if [ "$ra" -gt "$rb" ]; then ok "(3) control: the rogue resolver's counter moved when allowed ($rb -> $ra)"
	else not_ok "(3) control: the rogue resolver's counter moved when allowed" "$rb -> $ra"; fi
	expect_reason "(3) a plain-DNS answer teaches nothing" 198.51.100.30 never-resolved
	ctl revoke 198.51.100.53 >/dev/null

	echo "# canary: use-application-dns.net"
	cb=$(dstat canary)
	expect_dns "(canary) use-application-dns.net" use-application-dns.net A NXDOMAIN
	check_eq "(canary) stub canary counter +1" "$((cb + 1))" "$(dstat canary)"
	sleep 0.3
	if grep -q 'web.test' "$(ub_log pdns1)" && ! grep -qi 'use-application-dns' "$(ub_log pdns1)"; then
		ok "(canary) answered locally: pdns1's query log has web.test but no use-application-dns.net"
	else
		not_ok "(canary) answered locally" "$(grep -i -c 'use-application-dns' "$(ub_log pdns1)") canary lines; $(grep -c web.test "$(ub_log pdns1)") web.test lines"
	fi

	echo "# (9) malformed queries"
	S0=$(status_json)
	mres=$(timeout 120 ip netns exec "$C" "$PY" "$CLIENT_PY" malformed 127.0.0.1 2>&1)
	S1=$(status_json)
	if pid_alive "$ZTD_PID"; then ok "(9) ztdnsd is still running after the malformed queries"
	else not_ok "(9) ztdnsd is still running after the malformed queries" "$(tail -n 20 "$(daemon_log)")"; fi
	bad=$(json_get bad <<<"$mres")
	if [ "$bad" = "[]" ]; then ok "(9) every malformed query got the expected answer or was dropped"
	else not_ok "(9) every malformed query got the expected answer or was dropped" "$bad" "$mres"; fi
	diag "(9) outcomes: $(json_get outcomes <<<"$mres")"
	for k in udp_queries:udp_sent tcp_queries:tcp_frames dropped:drop malformed_answered:malformed_answered; do
		sk=${k%%:*}; mk=${k##*:}
		d=$(($(json_get "dns.$sk" <<<"$S1") - $(json_get "dns.$sk" <<<"$S0")))
		check_eq "(9) stub counter $sk moved by what was sent/observed" "$(json_get "$mk" <<<"$mres")" "$d"
	done
	expect_dns "(9) a normal query still works (udp)" web.test A "NOERROR 198.51.100.10"
	expect_dns "(9) a normal query still works (tcp)" web.test A "NOERROR 198.51.100.10" 127.0.0.1 +tcp

	echo "# figures: 1000 sequential UDP queries through the stub over DoH"
	bench=$(timeout 120 ip netns exec "$C" "$PY" "$CLIENT_PY" bench 127.0.0.1 web.test 1000 2>&1)
	diag "bench DoH: $bench"
	case $bench in *fails=0*) ok "(bench) 1000 sequential queries over DoH, none failed" ;;
	*) not_ok "(bench) 1000 sequential queries over DoH, none failed" "$bench" ;; esac
	diag "R1 DoH transport: $(status_json | json_get dns.servers.0.transport)"
fi
daemon_stop

# ================================================================== R2: DoT
echo "# R2: one DoT server (pdns1, pinned)"
conf_write "$ZT_TMP/r2.json" "$DOT1"
if daemon_start R2-dot "$ZT_TMP/r2.json"; then
	expect_reason "(1) DoT: before any lookup" 198.51.100.160 never-resolved
	trials "(1) DoT A" A dot4 198.51.100.160/27 "${T4_DOT[@]}"
	trials "(1) DoT AAAA" AAAA dot6 2001:db8:10::2:0/112 "${T6_DOT[@]}"
	expect_reason "(1) DoT: after the lookup" 198.51.100.160 learned
	expect_dns "(1) DoT: TCP to the stub" web.test A "NOERROR 198.51.100.10" 127.0.0.1 +tcp
	bench=$(timeout 120 ip netns exec "$C" "$PY" "$CLIENT_PY" bench 127.0.0.1 web.test 1000 2>&1)
	diag "bench DoT: $bench"
	diag "R2 DoT transport: $(status_json | json_get dns.servers.0.transport)"
fi
daemon_stop

# ================================================================== R3/R4: evil server
# evil_checks LABEL: what a hostile answer may teach, through the stub.
evil_checks() {
	local L=$1 cb bb
	cb=$(dstat chain_errors); bb=$(dstat bad_answers)
	# Invariant 7: other.test's .22 (answer section, off the chain) is not
	# learned, so it is removed from what the client receives.
	expect_dns "(4) $L chain" chain.test A "NOERROR 198.51.100.21"
	expect_reason "(4) $L: the chain's target is learned" 198.51.100.21 learned
	n=$(learned_names 198.51.100.21)
	case $n in *chain.test*) ok "(4) $L: 198.51.100.21 is listed under chain.test ($n)" ;;
	*) not_ok "(4) $L: 198.51.100.21 is listed under chain.test" "names: '$n'" ;; esac
	expect_reach "(4) $L: the chain's target" 198.51.100.21
	for a in 22 23 24; do expect_reason "(4) $L: A not on the chain/answer section not learned" 198.51.100.$a never-resolved; done
	expect_dns "(4) $L chain AAAA" chain.test AAAA "NOERROR 2001:db8:10::21"
	expect_reason "(4) $L: the chain's AAAA target is learned" 2001:db8:10::21 learned
	for a in 22 23 24; do expect_reason "(4) $L: AAAA not on the chain/answer section not learned" 2001:db8:10::$a never-resolved; done
	expect_dns "(4) $L CNAME to itself" loop.test A SERVFAIL
	expect_dns "(4) $L CNAME loop of two" loop2.test A SERVFAIL
	expect_dns "(4) $L 9 CNAMEs (limit 8)" deep.test A SERVFAIL
	expect_dns "(4) $L two CNAMEs for one name" conflict.test A SERVFAIL
	check_eq "(4) $L: chain_errors counted the 4 broken chains" "$((cb + 4))" "$(dstat chain_errors)"
	for a in 25 34 26 32 33; do expect_reason "(4) $L: nothing of a broken chain learned" 198.51.100.$a never-resolved; done
	expect_dns "(4) $L 8 CNAMEs (at the limit)" deep8.test A "NOERROR 198.51.100.27"
	expect_reason "(4) $L: the end of an 8-CNAME chain is learned" 198.51.100.27 learned
	expect_dns "(4) $L answer for another question" mismatch.test A SERVFAIL
	expect_reason "(4) $L: nothing of a mismatched answer learned" 198.51.100.28 never-resolved
	expect_dns "(4) $L answer with QR=0" noqr.test A SERVFAIL
	expect_reason "(4) $L: nothing of a QR=0 answer learned" 198.51.100.31 never-resolved
	expect_dns "(4) $L answer with the wrong ID" wrongid.test A SERVFAIL
	expect_reason "(4) $L: nothing of a wrong-ID answer learned" 198.51.100.29 never-resolved
	expect_dns "(4) $L plain answer (control)" plain.test A "NOERROR 198.51.100.35"
	expect_reason "(4) $L: a plain answer is learned (control)" 198.51.100.35 learned
	diag "(4) $L: bad_answers $bb -> $(dstat bad_answers), chain_errors $cb -> $(dstat chain_errors)"
}

echo "# R3: evil server over DoT (nginx TLS -> evildns.py)"
conf_write "$ZT_TMP/r3.json" "$(srv_dot evil-dot 192.0.2.55 evil.test)"
if daemon_start R3-evil-dot "$ZT_TMP/r3.json"; then
	evil_checks DoT
	for a in 198.51.100.22 198.51.100.23 198.51.100.24 198.51.100.25 198.51.100.26 198.51.100.28 198.51.100.29 2001:db8:10::22; do
		proven_deny "(4) DoT: an address the evil server slipped in" $a
	done
	missing=""
	for q in chain loop loop2 deep deep8 mismatch wrongid noqr conflict plain; do
		grep -q "tcp id=[0-9]* qname=$q.test .*crafted" "$ZT_TMP/evildns-queries.log" || missing="$missing $q.test"
	done
	check_eq "(4) DoT: evildns.py received (over TCP, behind TLS) and answered every crafted query" "" "$missing"
fi
daemon_stop

echo "# R4: evil server over DoH (nginx HTTP/2 -> evildns.py)"
conf_write "$ZT_TMP/r4.json" "$(srv_doh evil-doh https://evil.test/dns-query 192.0.2.55)"
if daemon_start R4-evil-doh "$ZT_TMP/r4.json"; then
	bb=$(dstat bad_answers)
	evil_checks DoH
	# Over DoH the ID is the stub's own: a wrong ID is a bad answer (DoT
	# drops it as unmatched and times out).
	bd=$(($(dstat bad_answers) - bb))
	if [ "$bd" -ge 3 ]; then ok "(4) DoH: bad_answers counted mismatch, QR=0 and wrong ID (+$bd)"
	else not_ok "(4) DoH: bad_answers counted mismatch, QR=0 and wrong ID" "+$bd"; fi
	if grep -q "http id=.* qname=chain.test" "$ZT_TMP/evildns-queries.log"; then ok "(4) DoH: evildns.py got the queries over HTTP"
	else not_ok "(4) DoH: evildns.py got the queries over HTTP" "$(tail -n 5 "$ZT_TMP/evildns-queries.log")"; fi
	proven_deny "(4) DoH: the unrelated A in the answer" 198.51.100.22
fi
daemon_stop

# ================================================================== R5-R7: identity
# identity_case LABEL SERVERS...: every server's identity is wrong: SERVFAIL,
# identity_errors moves on every server, nothing learned, nothing asked.
identity_case() {
	local L=$1 i n srv=""
	shift
	for i in "$@"; do srv="$srv${srv:+,}$i"; done
	conf_write "$ZT_TMP/$L.json" "$srv"
	daemon_start "$L" "$ZT_TMP/$L.json" || return
	expect_dns "(5) $L" id.test A SERVFAIL
	expect_dns "(5) $L (AAAA)" id.test AAAA SERVFAIL
	for ((i = 0; i < $#; i++)); do
		n=$(dstat "servers.$i.transport.identity_errors")
		if [ "$n" != "<absent>" ] && [ "$n" -ge 1 ]; then
			ok "(5) $L: $(dstat "servers.$i.name") ($(dstat "servers.$i.protocol")) identity_errors = $n"
		else
			not_ok "(5) $L: $(dstat "servers.$i.name") identity_errors moves" "$(dstat "servers.$i")"
		fi
	done
	expect_reason "(5) $L: nothing learned" 198.51.100.12 never-resolved
	expect_reason "(5) $L: nothing learned (v6)" 2001:db8:10::12 never-resolved
	check_eq "(5) $L: learned counter" 0 "$(dstat learned)"
	daemon_stop
}
echo "# R5-R7: wrong pin, wrong CA, wrong name (DoT and DoH each)"
identity_case R5-wrong-pin "$(srv_dot pin-dot 192.0.2.53 pdns.test "$PIN_OTHER")" \
	"$(srv_doh pin-doh https://pdns.test/dns-query 192.0.2.53 "$PIN_OTHER")"
identity_case R6-wrong-ca "$(srv_dot ca-dot 192.0.2.73 pdns.test)" \
	"$(srv_doh ca-doh https://pdns.test/dns-query 192.0.2.73)"
identity_case R7-wrong-name "$(srv_dot name-dot 192.0.2.53 wrong.test "$PIN1")" \
	"$(srv_doh name-doh https://wrong.test/dns-query 192.0.2.53 "$PIN1")"
for l in pdns1 other; do
	check_eq "(5) $l never received a query for id.test from an unverified channel" 0 "$(grep -c 'id\.test' "$(ub_log $l)")"
done
# The same address is reachable when allowed (the zeros above mean something).
conf_write "$ZT_TMP/r5b.json" "$DOH1"
if daemon_start R5b-control "$ZT_TMP/r5b.json"; then
	proven_deny "(5) the address id.test would have given" 198.51.100.12
	expect_dns "(5) control: the right identity answers id.test" id.test A "NOERROR 198.51.100.12"
	expect_reach "(5) control: after a verified answer" 198.51.100.12
fi
daemon_stop

# ================================================================== R8-R11: mTLS
MTLS=$(srv_dot mtls-dot 192.0.2.54 mtls.test)
mtls_case() { # LABEL CERTNAME|- EXPECT
	local L=$1 cert=$2 want=$3 extra=""
	[ "$cert" != - ] && extra="\"client_cert\":\"$PKI/$cert.pem\",\"client_key\":\"$PKI/$cert.key\""
	conf_write "$ZT_TMP/$L.json" "$MTLS" "$extra"
	daemon_start "$L" "$ZT_TMP/$L.json" || return
	t0=$(ms_now)
	expect_dns "(6) $L" who.test A "$want"
	diag "(6) $L: answer in $(($(ms_now) - t0)) ms"
	case $want in
	*198.51.100.41*)
		expect_reason "(6) $L: A's address learned" 198.51.100.41 learned
		expect_reason "(6) $L: B's address not learned" 198.51.100.42 never-resolved
		expect_reach "(6) $L: A's answer opens the way" 198.51.100.41 ;;
	*198.51.100.42*)
		expect_reason "(6) $L: B's address learned" 198.51.100.42 learned
		expect_reason "(6) $L: A's address not learned" 198.51.100.41 never-resolved ;;
	*)
		expect_reason "(6) $L: nothing learned" 198.51.100.41 never-resolved
		expect_reason "(6) $L: nothing learned" 198.51.100.42 never-resolved
		check_eq "(6) $L: learned counter" 0 "$(dstat learned)"
		n=$(dstat servers.0.transport.connections)
		if [ "$n" -ge 1 ] && [ "$n" -le 4 ]; then ok "(6) $L: the refused client did not spin on reconnects ($n TLS connections for 1 query)"
		else not_ok "(6) $L: the refused client did not spin on reconnects" "$n TLS connections for 1 query" "$(dstat servers.0.transport)"; fi ;;
	esac
	daemon_stop
}
echo "# R8-R11: mTLS terminator (per-client answers)"
mtls_case R8-mtls-idA idA "NOERROR 198.51.100.41"
mtls_case R9-mtls-idB idB "NOERROR 198.51.100.42"
mtls_case R10-mtls-nocert - SERVFAIL
mtls_case R11-mtls-otherca idX SERVFAIL
if grep -q 'dn="[^"]*CN=idA' "$NGX/stream-access.log" && grep -q 'dn="[^"]*CN=idB' "$NGX/stream-access.log"; then
	ok "(6) the terminator saw identities idA and idB"
else
	not_ok "(6) the terminator saw identities idA and idB" "$(tail -n 8 "$NGX/stream-access.log")"
fi
# nginx logs a refused client (status 500, no upstream) in the stream log.
if grep -q '192.0.2.54:853 500 dn="-" verify=NONE up=-' "$NGX/stream-access.log" &&
	grep -q '192.0.2.54:853 500 dn="CN=idA" verify=FAILED' "$NGX/stream-access.log"; then
	ok "(6) the terminator refused the client without a certificate and the one with a foreign certificate"
else
	not_ok "(6) the terminator refused the clients without (or with a foreign) certificate" "$(tail -n 8 "$NGX/stream-access.log")"
fi
diag "(6) terminator connections refused: without certificate $(grep -c 'dn="-" verify=NONE up=-' "$NGX/stream-access.log"), foreign CA $(grep -c 'verify=FAILED' "$NGX/stream-access.log")"

# ================================================================== R12: failover
echo "# R12: failover (pdns1 DoT priority 0, pdns2 DoH priority 10)"
conf_write "$ZT_TMP/r12.json" "$(srv_dot pdns1-dot 192.0.2.53 pdns.test "$PIN1" "" 0),$(srv_doh pdns2-doh https://pdns2.test/dns-query 192.0.2.63 | sed 's/}$/,"priority":10}/')"
if daemon_start R12-failover "$ZT_TMP/r12.json"; then
	expect_dns "(7) both up: the primary answers" fo.test A "NOERROR 198.51.100.61"
	bg_stop "${UB_PID[pdns1]}" TERM 5
	t0=$(ms_now)
	expect_dns "(7) primary down: the secondary answers" fo.test A "NOERROR 198.51.100.62"
	diag "(7) failover answer in $(($(ms_now) - t0)) ms"
	expect_reach "(7) the secondary's answer opens the way" 198.51.100.62
	# Both down: the primary is gone and the secondary's packets vanish.
	ns_exec "$N" iptables -w 5 -I INPUT -d 192.0.2.63 -p tcp --dport 443 -j DROP
	t0=$(ms_now)
	expect_dns "(7) both down: SERVFAIL" fo2.test A SERVFAIL
	el=$(($(ms_now) - t0))
	if [ "$el" -lt $((TIMEOUT_MS + 1000)) ]; then ok "(7) both down: SERVFAIL in $el ms (< upstream_timeout_ms $TIMEOUT_MS + 1 s)"
	else not_ok "(7) both down: SERVFAIL within the timeout" "$el ms"; fi
	expect_dns "(7) both down, again" fo2.test A SERVFAIL
	expect_reason "(7) both down: nothing learned" 198.51.100.71 never-resolved
	expect_reason "(7) both down: nothing learned" 198.51.100.72 never-resolved
	proven_deny "(7) both down: the address fo2.test would have given" 198.51.100.71
	sel0=$(dstat servers.0.selected)
	unbound_up pdns1 192.0.2.53 pdns "$ZT_TMP/pdns1.data"
	t0=$(ms_now)
	got=
	for ((i = 0; i < 80; i++)); do
		got=$(dnsq fo3.test A)
		[ "$got" = "NOERROR 198.51.100.65 " ] || [ "$got" = "NOERROR 198.51.100.65" ] && break
		sleep 0.5
	done
	el=$(($(ms_now) - t0))
	sel1=$(dstat servers.0.selected)
	if [ "${got% }" = "NOERROR 198.51.100.65" ] && [ "$sel1" -gt "$sel0" ]; then
		ok "(7) primary back: it answers again after $el ms (selected $sel0 -> $sel1)"
	else
		not_ok "(7) primary back: it answers again" "last answer '$got' after $el ms; selected $sel0 -> $sel1" "$(dstat servers)"
	fi
	[ "$el" -le 10000 ] && ok "(7) primary used again within 10 s ($el ms)" ||
		not_ok "(7) primary used again within a few seconds" "$el ms"
	ns_exec "$N" iptables -w 5 -D INPUT -d 192.0.2.63 -p tcp --dport 443 -j DROP
	diag "(7) servers: $(dstat servers | "$PY" -c 'import json,sys; print([(s["name"], s["selected"], s["failovers"], s["transport"]["timeouts"], s["transport"]["conn_errors"]) for s in json.load(sys.stdin)])')"
fi
daemon_stop

# ================================================================== R13: TTL
echo "# R13: TTL clamp and expiry (ttl min 1, max 3, grace 1; short.test TTL 2)"
conf_write "$ZT_TMP/r13.json" "$DOH1" '"ttl":{"min":1,"max":3,"grace":1}'
if daemon_start R13-ttl "$ZT_TMP/r13.json"; then
	out=$(cpy ask 127.0.0.1 long.test A)
	check_eq "(8) a 600 s TTL reaches the client capped at ttl.max" "NOERROR 3 198.51.100.82" "$out"
	expect_dns "(8) short.test" short.test A "NOERROR 198.51.100.81"
	expect_reach "(8) just learned" 198.51.100.81
	rm -f "$ZT_TMP/stop-L8"
	bg_start L8 "$C" "${ZT_NET[@]}" stream 198.51.100.81 "$TCP_PORT" --tag "L8$$" --interval 0.3 --max-seconds 60 --stop-file "$ZT_TMP/stop-L8"
	L8=$BG_PID
	lines() { grep -c " L8$$ seq " "$ZT_TMP/web-server.log" 2>/dev/null; }
	lines_ge() { [ "$(lines)" -ge "$1" ]; }
	wait_for 5 lines_ge 3 || not_ok "(8) long-lived flow started" "$(cat "$ZT_TMP/L8.log")"
	is_expired() { [ "$(reason 198.51.100.81)" = expired ]; }
	t0=$(ms_now)
	if wait_for 8 is_expired; then ok "(8) explain says expired after $(($(ms_now) - t0)) ms (TTL 2 + grace 1)"
	else not_ok "(8) explain says expired" "$(ctlj explain 198.51.100.81)"; fi
	expect_deny "(8) after TTL + grace, a new connection" 198.51.100.81
	n=$(lines)
	if wait_for 5 lines_ge $((n + 3)) && pid_alive "$L8"; then ok "(8) the established connection keeps working ($n -> $(lines) lines)"
	else not_ok "(8) the established connection keeps working" "$n -> $(lines)" "$(tail -n 3 "$ZT_TMP/L8.log")"; fi
	expect_dns "(8) a new lookup" short.test A "NOERROR 198.51.100.81"
	expect_reach "(8) after a new lookup" 198.51.100.81
	touch "$ZT_TMP/stop-L8"
	wait_for 3 pid_gone "$L8"
	bg_stop "$L8" TERM 2
fi
daemon_stop

# Invariant 4 over the whole run: no plain DNS ever left the client toward
# the network except the rogue-resolver probes (baseline and allowed control).
diag "plain DNS udp/53 packets seen at the far end in all: v4 $(ctr_get "$N" 4 dns-plain-udp), v6 $(ctr_get "$N" 6 dns-plain-udp) (rogue resolver: $(ctr_get "$N" 4 rogue-udp))"
check_eq "(3) every plain DNS packet at the far end went to the rogue resolver (baseline and allowed control only)" \
	"$(ctr_get "$N" 4 rogue-udp)" "$(ctr_get "$N" 4 dns-plain-udp)"
check_eq "(3) no plain DNS over IPv6 at the far end" 0 "$(ctr_get "$N" 6 dns-plain-udp)"
exit 0
