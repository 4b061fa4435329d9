#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_dot.sh BUILD_DIR — the DoT client (dns/dot.c, dns/tls.c) against real
# servers, driven by BUILD_DIR/dot_query (test/tools/dot_query.c).
#
# Topology (two namespaces made here, removed on every exit path):
#
#   ztdc$$ (client: dot_query)               ztds$$ (servers)
#     c0 192.0.2.1/24   <----- veth ----->     s0 192.0.2.53  unbound DoT :853, plain :5353
#                                                 192.0.2.54  nginx stream mTLS :853 -> .53:5353
#                                                 192.0.2.55  socat: accepts, never answers
#                                                 192.0.2.57  second unbound (killed mid-flight)
#                                                 192.0.2.56  nginx stream, certificate of "otherca"
#                                                 192.0.2.58  nothing listens (refused)
#
# Checks: (1) A/AAAA answers, tls_name as a DNS name and as an IP literal,
# failover to the next address; (2) 200 queries, 50 in flight, one
# connection, every answer matched to its query; (3) wrong CA, wrong name,
# wrong pin -> identity error and no answer; right pin -> answers; (4) mTLS
# through nginx with and without a client certificate; (5) reuse within the
# idle timeout, and after it a new connection that resumes the TLS session;
# (6) server SIGSTOPped then SIGKILLed with queries in flight -> errors well
# before the timeout; (7) a listener that never answers -> -ETIMEDOUT on
# time; (9) the client freed from inside a callback; (8) the driver under
# valgrind on the main paths.
#
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID (server logs, driver outputs).

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_dot.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
DQ=$BUILD/dot_query
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
if [ ! -x "$DQ" ]; then
	not_ok "no driver at $DQ (build first)"
	exit 1
fi

C=ztdc$$
S=ztds$$
SRV=192.0.2.53
MTLS=192.0.2.54
BLACKHOLE=192.0.2.55
OTHERSRV=192.0.2.56
KILLED=192.0.2.57
CLOSED=192.0.2.58
PKI=$ZT_TMP/pki

# ------------------------------------------------------------------ helpers

# dq OUT ARGS...: run the driver in the client namespace (bounded);
# output in $ZT_TMP/OUT.out, exit status in DQ_RC.
dq() {
	local out=$1
	shift
	timeout 60 ip netns exec "$C" "$DQ" "$@" >"$ZT_TMP/$out.out" 2>&1
	DQ_RC=$?
}

# field OUT NAME: a value of the driver's summary line.
field() {
	grep '^summary ' "$ZT_TMP/$1.out" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# show OUT: the driver's output, for diagnostics.
show() { tail -n 15 "$ZT_TMP/$1.out"; }

# expect OUT MSG RC [NAME=VALUE]...: exit status and summary fields.
expect() {
	local out=$1 msg=$2 rc=$3 kv bad=""
	shift 3
	[ "$DQ_RC" = "$rc" ] || bad="exit $DQ_RC, expected $rc"
	for kv in "$@"; do
		local got
		got=$(field "$out" "${kv%%=*}")
		[ "$got" = "${kv#*=}" ] || bad="$bad${bad:+; }${kv%%=*}=$got, expected ${kv#*=}"
	done
	if [ -z "$bad" ]; then ok "$msg"; else not_ok "$msg" "$bad" "$(show "$out")"; fi
}

# ------------------------------------------------------------------ set-up

ns_new "$C" && ns_new "$S" || exit 1
ns_veth "$C" c0 "$S" s0 || exit 1
ns_addr "$C" c0 192.0.2.1/24
for a in $SRV $MTLS $BLACKHOLE $OTHERSRV $KILLED $CLOSED; do
	ns_addr "$S" s0 "$a/24"
done

pki_init "$PKI"
pki_server "$PKI" server ca dot.test "$SRV" "$MTLS" "$KILLED"
pki_client "$PKI" client ca client1
# The same name, but from an unrelated CA: the server for the wrong-CA case.
pki_server "$PKI" other otherca dot.test "$OTHERSRV"
PIN=$(pki_spki "$PKI/server.pem")
OTHERPIN=$(pki_spki "$PKI/other.pem")

cat >"$ZT_TMP/data" <<EOF
web.test. 60 A 198.51.100.10
web.test. 60 A 198.51.100.11
web.test. 60 AAAA 2001:db8:100::10
EOF

start_unbound() {
	local dir=$1 addr=$2
	mkdir -p "$dir"
	pdns_unbound_conf "$dir" "$addr" "$PKI/server.pem" "$PKI/server.key" "$ZT_TMP/data" 5353 \
		>"$dir/unbound.conf"
	pdns_unbound_start "$S" "$dir" || return 1
	ZT_PIDS+=("$PDNS_PID")
	ZT_PID_LABELS+=("unbound-$addr")
	pdns_wait_port "$S" "$addr" 853
}

start_unbound "$ZT_TMP/unbound" "$SRV" || { not_ok "unbound did not start" "$(cat "$ZT_TMP/unbound/unbound.log")"; exit 1; }
start_unbound "$ZT_TMP/unbound2" "$KILLED" || { not_ok "second unbound did not start"; exit 1; }
UNBOUND2_PID=$PDNS_PID
pdns_wait_port "$S" "$SRV" 5353 || exit 1

# nginx: TLS with a required client certificate, to unbound's plain TCP.
mkdir -p "$ZT_TMP/nginx/logs"
cat >"$ZT_TMP/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
worker_processes 1;
pid $ZT_TMP/nginx/nginx.pid;
error_log $ZT_TMP/nginx/error.log info;
events { worker_connections 64; }
stream {
	server {
		listen $MTLS:853 ssl;
		ssl_certificate $PKI/server.pem;
		ssl_certificate_key $PKI/server.key;
		ssl_verify_client on;
		ssl_client_certificate $PKI/ca.pem;
		proxy_pass $SRV:5353;
	}
	server {
		listen $OTHERSRV:853 ssl;
		ssl_certificate $PKI/other.pem;
		ssl_certificate_key $PKI/other.key;
		proxy_pass $SRV:5353;
	}
}
EOF
bg_start nginx "$S" nginx -p "$ZT_TMP/nginx" -e "$ZT_TMP/nginx/error.log" \
	-c "$ZT_TMP/nginx/nginx.conf"
pdns_wait_port "$S" "$MTLS" 853 && pdns_wait_port "$S" "$OTHERSRV" 853 ||
	{ not_ok "nginx did not start" "$(cat "$ZT_TMP/nginx.log" "$ZT_TMP/nginx/error.log" 2>&1)"; exit 1; }

# A TCP listener that accepts and never says a word.
bg_start blackhole "$S" socat "TCP-LISTEN:853,bind=$BLACKHOLE,reuseaddr,fork" "EXEC:sleep 30"
pdns_wait_port "$S" "$BLACKHOLE" 853 || exit 1

BASE=(--port 853 --name dot.test --ca "$PKI/ca.pem")

# ------------------------------------------------------------------ (1) answers

dq a --addr $SRV "${BASE[@]}" web.test A
expect a "(1) A over DoT" 0 answers=1 connections=1 mismatched=0
grep -q '^answer 1 A rcode=0 addrs=.*198\.51\.100\.10' "$ZT_TMP/a.out" &&
	grep -q '^answer 1 A rcode=0 addrs=.*198\.51\.100\.11' "$ZT_TMP/a.out" &&
	ok "(1) A answer has both addresses" || not_ok "(1) A answer has both addresses" "$(show a)"

dq aaaa --addr $SRV "${BASE[@]}" web.test AAAA
expect aaaa "(1) AAAA over DoT" 0 answers=1
check "(1) AAAA answer has 2001:db8:100::10" grep -q '^answer 1 AAAA rcode=0 addrs=2001:db8:100::10$' "$ZT_TMP/aaaa.out"

dq nx --addr $SRV "${BASE[@]}" nothing.test A
check "(1) unknown name: NXDOMAIN, no address" grep -q '^answer 1 A rcode=3 addrs=$' "$ZT_TMP/nx.out"

dq ipname --addr $SRV --port 853 --name $SRV --ca "$PKI/ca.pem" web.test A
expect ipname "(1) tls_name as an IP literal (iPAddress SAN)" 0 answers=1

dq failover --addr $CLOSED --addr $SRV "${BASE[@]}" web.test A
expect failover "(1) refused first address -> second address answers" 0 answers=1 connections=1

dq refused --addr $CLOSED "${BASE[@]}" web.test A
expect refused "(1) only a refusing address -> connection error" 4 answers=0 conn_errors=1
check "(1) ... reported as ECONNREFUSED" grep -q 'status=-111 ' "$ZT_TMP/refused.out"

# ------------------------------------------------------------------ (2) pipelining

dq pipe --addr $SRV "${BASE[@]}" --count 200 --parallel 50 web.test MIX
expect pipe "(2) 200 queries, 50 in flight, on one connection" 0 \
	answers=200 mismatched=0 connections=1 protocol_errors=0
check "(2) A and AAAA answers both present" \
	bash -c "[ \$(grep -c '^answer [0-9]* A rcode=0 addrs=.*198.51.100.1[01]' '$ZT_TMP/pipe.out') = 100 ] &&
		 [ \$(grep -c '^answer [0-9]* AAAA rcode=0 addrs=2001:db8:100::10\$' '$ZT_TMP/pipe.out') = 100 ]"

# ------------------------------------------------------------------ (3) identity

dq wrongca --addr $OTHERSRV "${BASE[@]}" --count 4 --parallel 4 web.test A
expect wrongca "(3) server certificate from another CA -> identity error, nothing delivered" 2 \
	answers=0 eacces=4 identity_errors=4 connections=0
check "(3) ... reason logged" grep -q 'identity refused: certificate verify failed: unable to get local issuer' "$ZT_TMP/wrongca.out"

dq wrongca2 --addr $SRV --port 853 --name dot.test --ca "$PKI/otherca.pem" web.test A
expect wrongca2 "(3) client trusting another CA -> identity error, nothing delivered" 2 answers=0 identity_errors=1

dq othergood --addr $OTHERSRV --port 853 --name dot.test --ca "$PKI/otherca.pem" web.test A
expect othergood "(3) ... and the same server with its own CA answers (control)" 0 answers=1

dq wrongname --addr $SRV --port 853 --name wrong.test --ca "$PKI/ca.pem" web.test A
expect wrongname "(3) wrong tls_name -> identity error, nothing delivered" 2 answers=0 identity_errors=1
check "(3) ... hostname mismatch logged" grep -q 'identity refused: certificate verify failed: [Hh]ostname mismatch' "$ZT_TMP/wrongname.out"

dq wrongpin --addr $SRV "${BASE[@]}" --pin "$OTHERPIN" --count 3 --parallel 3 web.test A
expect wrongpin "(3) wrong pin -> identity error for every query, nothing delivered" 2 \
	answers=0 eacces=3 identity_errors=3 connections=0
check "(3) ... pin mismatch logged with the server's pin" grep -qF "SPKI pin mismatch: got $PIN" "$ZT_TMP/wrongpin.out"

dq rightpin --addr $SRV "${BASE[@]}" --pin "$OTHERPIN" --pin "$PIN" web.test A
expect rightpin "(3) right pin (second of two) -> answer" 0 answers=1

# ------------------------------------------------------------------ (4) mTLS

dq mtls --addr $MTLS "${BASE[@]}" --cert "$PKI/client.pem" --key "$PKI/client.key" \
	--count 5 --parallel 5 web.test A
expect mtls "(4) mTLS via nginx with a client certificate -> answers" 0 answers=5 connections=1

dq nocert --addr $MTLS "${BASE[@]}" --timeout-ms 3000 web.test A
if [ "$DQ_RC" != 0 ] && [ "$(field nocert answers)" = 0 ] && [ "$(field nocert etimedout)" = 0 ] &&
	[ "$(field nocert connections)" -le 2 ]; then
	ok "(4) mTLS without a client certificate -> error (not a timeout, at most one resend), nothing delivered"
else
	not_ok "(4) mTLS without a client certificate -> error, nothing delivered" "$(show nocert)"
fi

# ------------------------------------------------------------------ (5) reuse, idle, resumption

dq reuse --addr $SRV "${BASE[@]}" --rounds 2 --gap-ms 300 --idle-ms 5000 web.test A
expect reuse "(5) second query within the idle timeout reuses the connection" 0 answers=2 connections=1

dq idle --addr $SRV "${BASE[@]}" --pin "$PIN" --rounds 3 --gap-ms 700 --idle-ms 200 web.test A
expect idle "(5) after the idle timeout: new connections, TLS session resumed (pin checked on resumed sessions too)" 0 \
	answers=3 connections=3 resumed=2

dq idlemtls --addr $MTLS "${BASE[@]}" --cert "$PKI/client.pem" --key "$PKI/client.key" \
	--rounds 2 --gap-ms 700 --idle-ms 200 web.test A
expect idlemtls "(5) resumption through nginx (mTLS) as well" 0 answers=2 connections=2 resumed=1

# ------------------------------------------------------------------ (6) server killed mid-flight

bg_start killdrv "$C" "$DQ" --addr $KILLED "${BASE[@]}" --rounds 2 --gap-ms 800 --idle-ms 20000 \
	--timeout-ms 6000 --count 20 --parallel 20 web.test A
KILLDRV=$BG_PID
if wait_for 10 grep -q '^round 1 done' "$ZT_TMP/killdrv.log"; then
	kill -STOP "$UNBOUND2_PID"
	sleep 1.3 # round 2 is now written and unanswered
	kill -KILL "$UNBOUND2_PID"
	wait "$UNBOUND2_PID" 2>/dev/null # reap it quietly (no "Killed" job notice)
	wait_for 10 pid_gone "$KILLDRV"
	bg_stop "$KILLDRV" TERM 2
	DQ_RC=$?
	cp "$ZT_TMP/killdrv.log" "$ZT_TMP/killed.out"
	expect killed "(6) server killed with 20 queries in flight -> 20 errors, no timeout" 4 \
		answers=20 etimedout=0 other_errors=20
	el=$(field killed elapsed_ms)
	if [ -n "$el" ] && [ "$el" -lt 4500 ]; then
		ok "(6) ... errors came at once (run took ${el} ms, timeout 6000 ms)"
	else
		not_ok "(6) ... errors came at once" "elapsed ${el:-?} ms" "$(show killed)"
	fi
else
	not_ok "(6) first round against the second server" "$(tail -5 "$ZT_TMP/killdrv.log")"
fi

# ------------------------------------------------------------------ (7) timeout

dq timeout --addr $BLACKHOLE "${BASE[@]}" --timeout-ms 1000 --count 3 --parallel 3 web.test A
expect timeout "(7) listener that never answers -> -ETIMEDOUT" 3 answers=0 etimedout=3 timeouts=3
el=$(field timeout elapsed_ms)
if [ -n "$el" ] && [ "$el" -ge 950 ] && [ "$el" -lt 1600 ]; then
	ok "(7) ... on time (${el} ms for a 1000 ms timeout)"
else
	not_ok "(7) ... on time" "elapsed ${el:-?} ms" "$(show timeout)"
fi

# ------------------------------------------------------------------ (9) re-entrant free

# The 10th answer's callback frees the client while more answers sit in the
# same read: the other 40 are cancelled, once each, nothing after the free
# (run it with an ASan build, and under valgrind below, to see the memory).
dq reent --addr $SRV "${BASE[@]}" --count 50 --parallel 50 --free-after 10 web.test A
expect reent "(9) free from inside an answer callback: the rest cancelled once each" 4 \
	answers=10 cancelled=40 other_errors=40
check "(9) ... all cancelled inside the free" grep -q '^freed inflight=0$' "$ZT_TMP/reent.out"

# ------------------------------------------------------------------ (8) valgrind

# The driver under valgrind: no invalid access, no leak, on the main paths
# (pipelining, identity failure, mTLS with idle close and resumption, timeout).
if grep -q __asan_init "$DQ"; then
	diag "dot_query is built with ASan: (8) valgrind skipped"
elif command -v valgrind >/dev/null; then
	VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect)
	vg() {
		local out=$1
		shift
		timeout 120 ip netns exec "$C" "${VG[@]}" "$DQ" "$@" >"$ZT_TMP/$out.out" 2>&1
		DQ_RC=$?
	}
	# valgrind is slow and CI runs other tests beside: a generous timeout.
	vg vgpipe --addr $SRV "${BASE[@]}" --timeout-ms 20000 --count 200 --parallel 50 web.test MIX
	expect vgpipe "(8) valgrind: pipelined queries clean" 0 answers=200
	vg vgpin --addr $SRV "${BASE[@]}" --pin "$OTHERPIN" --count 3 --parallel 3 web.test A
	expect vgpin "(8) valgrind: identity failure clean" 2 answers=0
	vg vgmtls --addr $MTLS "${BASE[@]}" --cert "$PKI/client.pem" --key "$PKI/client.key" \
		--rounds 2 --gap-ms 1500 --idle-ms 500 --timeout-ms 5000 web.test A
	expect vgmtls "(8) valgrind: mTLS, idle close, resumption clean" 0 answers=2 connections=2 resumed=1
	vg vgtimeout --addr $BLACKHOLE "${BASE[@]}" --timeout-ms 1000 web.test A
	expect vgtimeout "(8) valgrind: timeout clean" 3 answers=0
	vg vgreent --addr $SRV "${BASE[@]}" --timeout-ms 20000 --count 50 --parallel 50 --free-after 10 web.test A
	expect vgreent "(8) valgrind: re-entrant free clean" 4 answers=10 cancelled=40
	vg vgnocert --addr $MTLS "${BASE[@]}" web.test A
	if [ "$DQ_RC" = 2 ] || [ "$DQ_RC" = 4 ]; then ok "(8) valgrind: refused mTLS clean"; else not_ok "(8) valgrind: refused mTLS clean" "$(show vgnocert)"; fi
else
	diag "valgrind not installed: (8) skipped"
fi
