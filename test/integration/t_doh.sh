#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_doh.sh BUILD_DIR — integration test of the DoH client (dns/doh.c) through
# its driver test/tools/doh_query, against a real unbound (DoH over HTTP/2)
# and a real nginx (mTLS terminator).
#
# Topology (two namespaces made here, removed on every exit path):
#
#   dohc$$ (client, runs doh_query)            dohs$$ (servers)
#     c0 192.0.2.1/24       <---- veth ---->     s0 192.0.2.53/24   unbound DoH :443, DoT :853
#        2001:db8:53::1/64                          2001:db8:53::53   unbound DoH :443
#                                                   192.0.2.54        TCP listener that never speaks
#                                                   192.0.2.55        nothing listens (refused)
#                                                   192.0.2.56        nginx stream, TLS + client cert
#                                                                     -> 127.0.0.1:8443 unbound (h2c)
#                                                   192.0.2.99        the "proxy" from the environment
#
# Every certificate names pdns.test; the URL is always https://pdns.test/...
# and the bootstrap address picks which server answers. The server
# namespace counts TCP SYNs per destination in its INPUT path (lib.sh ctr_*):
# connection counts and "nothing went to the proxy" are judged there.
#
# Sections: (1) A/AAAA/NXDOMAIN over v4 and v6 bootstrap, (2) 500 queries,
# 100 in parallel, on one connection, (3) identity: wrong CA, wrong pin,
# wrong name, URL host != tls_name, right pin, (4) proxy variables ignored,
# (5) mTLS through nginx, (6) timeout, (7) connection refused, (8) client
# freed from its own callback, (9) the TLS policy: a TLS 1.2 server that
# offers only a CBC suite is refused (as DoT refuses it).
#
# ZT_KEEP_TMP=1 keeps /tmp/zt-doh-PID (unbound, nginx and driver logs).
# DQ_WRAP="valgrind --leak-check=full --error-exitcode=99" runs every driver
# under that command (the timing checks of (6) and (7) may then fail).

ZT_TMP=/tmp/zt-doh-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_doh.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
DQ=$BUILD/doh_query
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
if [ ! -x "$DQ" ]; then
	not_ok "no $DQ (build the doh_query target)"
	exit 1
fi

C=dohc$$
S=dohs$$
CLI4=192.0.2.1
CLI6=2001:db8:53::1
SRV=192.0.2.53
SRV6=2001:db8:53::53
HANG=192.0.2.54
DOWN=192.0.2.55
MTLS=192.0.2.56
WEAK=192.0.2.57
PROXY=192.0.2.99
URL=https://pdns.test/dns-query
P=$ZT_TMP/pki
U=$ZT_TMP/unbound
B=$ZT_TMP/backend
N=$ZT_TMP/nginx

# ------------------------------------------------------------------ helpers

# dq ARGS...: run the driver in the client namespace (bounded); sets DQ_OUT
# (stdout+stderr) and DQ_RC.
dq() {
	# shellcheck disable=SC2086 # DQ_WRAP is a command line on purpose
	DQ_OUT=$(timeout 120 ip netns exec "$C" ${DQ_WRAP:-} "$DQ" "$@" 2>&1)
	DQ_RC=$?
}

# field NAME: the value of NAME=... in the summary line of DQ_OUT.
field() {
	printf '%s\n' "$DQ_OUT" | awk -v k="$1" '/^summary / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }'
}

# expect_rc MSG RC: DQ_RC must be RC.
expect_rc() {
	if [ "$DQ_RC" = "$2" ]; then ok "$1"; else not_ok "$1" "exit $DQ_RC, expected $2" "$DQ_OUT"; fi
}

no_answer() {
	if printf '%s\n' "$DQ_OUT" | grep -q '^answer '; then
		not_ok "$1" "an answer was printed" "$DQ_OUT"
	else
		ok "$1"
	fi
}

syns() { ctr_get "$S" 4 "$1"; }

# backend_queries: queries the mTLS backend unbound logged (what nginx
# delivered); log-replies lines carry the RCODE after "IN", queries do not.
backend_queries() { grep -c 'web\.test\. A IN$' "$B/unbound.log" 2>/dev/null || true; }

# ------------------------------------------------------------------ set-up

ns_new "$C" || exit 1
ns_new "$S" || exit 1
ns_veth "$C" c0 "$S" s0 || exit 1
ns_addr "$C" c0 "$CLI4/24"
ns_addr "$C" c0 "$CLI6/64"
ns_addr "$S" s0 "$SRV/24"
ns_addr "$S" s0 "$SRV6/64"
for a in $HANG $DOWN $MTLS $WEAK $PROXY; do ns_addr "$S" s0 "$a/32"; done

mkdir -p "$P" "$U" "$B" "$N"
pki_init "$P"
pki_server "$P" pdns ca pdns.test "$SRV"
pki_client "$P" client ca client1
pki_client "$P" rogue otherca rogue1
for f in ca.pem otherca.pem pdns.pem pdns.key client.pem client.key rogue.pem rogue.key; do
	[ -s "$P/$f" ] || { not_ok "pki: $f was not made"; exit 1; }
done

cat >"$ZT_TMP/data" <<EOF
web.test. 60 A 198.51.100.10
web.test. 60 AAAA 2001:db8::10
EOF

# The Protective DNS server, on v4 and v6.
pdns_unbound_conf "$U" "$SRV" "$P/pdns.pem" "$P/pdns.key" "$ZT_TMP/data" |
	sed "s/^\tinterface: $SRV@443\$/&\n\tinterface: $SRV6@443/" >"$U/unbound.conf"
pdns_unbound_start "$S" "$U" || { not_ok "unbound refused its config" "$(cat "$U/unbound.log")"; exit 1; }
ZT_PIDS+=("$PDNS_PID")
ZT_PID_LABELS+=(unbound)
pdns_wait_port "$S" "$SRV" 443 || { not_ok "unbound DoH up" "$(cat "$U/unbound.log")"; exit 1; }
pdns_wait_port "$S" "[$SRV6]" 443 || { not_ok "unbound DoH v6 up" "$(cat "$U/unbound.log")"; exit 1; }

# The mTLS backend: the same data over cleartext HTTP/2 on loopback, behind nginx.
pdns_unbound_conf "$B" 127.0.0.1 "$P/pdns.pem" "$P/pdns.key" "$ZT_TMP/data" |
	sed -e '/@853$/d' -e 's/@443$/@8443/' -e 's/https-port: 443/https-port: 8443/' \
		-e 's/^server:$/server:\n\thttp-notls-downstream: yes/' >"$B/unbound.conf"
pdns_unbound_start "$S" "$B" || { not_ok "backend unbound refused its config" "$(cat "$B/unbound.log")"; exit 1; }
ZT_PIDS+=("$PDNS_PID")
ZT_PID_LABELS+=(backend)

cat >"$N/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
worker_processes 1;
pid $N/nginx.pid;
error_log $N/error.log info;
events { worker_connections 128; }
stream {
	log_format basic '\$remote_addr verify=\$ssl_client_verify sent=\$bytes_sent';
	access_log $N/access.log basic;
	server {
		listen $MTLS:443 ssl;
		ssl_certificate $P/pdns.pem;
		ssl_certificate_key $P/pdns.key;
		ssl_client_certificate $P/ca.pem;
		ssl_verify_client on;
		ssl_alpn h2;
		proxy_pass 127.0.0.1:8443;
	}
	# (9) TLS 1.2 with a CBC suite only: outside the transports' policy.
	server {
		listen $WEAK:443 ssl;
		ssl_certificate $P/pdns.pem;
		ssl_certificate_key $P/pdns.key;
		ssl_protocols TLSv1.2;
		ssl_ciphers ECDHE-ECDSA-AES128-SHA256;
		ssl_alpn h2;
		proxy_pass 127.0.0.1:8443;
	}
}
EOF
bg_start nginx "$S" nginx -p "$N" -e "$N/error.log" -c "$N/nginx.conf"
pdns_wait_port "$S" 127.0.0.1 8443 || { not_ok "backend unbound up" "$(cat "$B/unbound.log")"; exit 1; }
pdns_wait_port "$S" "$MTLS" 443 || { not_ok "nginx up" "$(cat "$ZT_TMP/nginx.log" "$N/error.log" 2>/dev/null)"; exit 1; }

# A TCP listener that accepts and never says a word (no TLS).
bg_start hang "$S" "$ZT_PY" -c '
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("'"$HANG"'", 443))
s.listen(64)
s.settimeout(0.5)
held, end = [], time.time() + 300
while time.time() < end:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
'
pdns_wait_port "$S" "$HANG" 443 || exit 1

ctr_setup "$S" || { not_ok "counters"; exit 1; }
ctr_add "$S" 4 syn443 -d "$SRV" -p tcp --dport 443 --syn
ctr_add "$S" 4 synproxy -d "$PROXY" -p tcp --syn
ctr_add "$S" 4 toproxy -d "$PROXY"
ctr_add "$S" 4 synmtls -d "$MTLS" -p tcp --dport 443 --syn
ctr_add "$S" 4 synweak -d "$WEAK" -p tcp --dport 443 --syn

# ------------------------------------------------------------------ (1) answers

dq --url "$URL" --bootstrap "$SRV" --ca "$P/ca.pem" web.test A
expect_rc "(1) A over DoH: exit 0" 0
check "(1) A answer is 198.51.100.10" grep -qx 'answer rcode=NOERROR addrs=198.51.100.10' <<<"$DQ_OUT"

dq --url "$URL" --bootstrap "$SRV" --ca "$P/ca.pem" web.test AAAA
expect_rc "(1) AAAA over DoH: exit 0" 0
check "(1) AAAA answer is 2001:db8::10" grep -qx 'answer rcode=NOERROR addrs=2001:db8::10' <<<"$DQ_OUT"

dq --url "$URL" --bootstrap "$SRV" --ca "$P/ca.pem" nothere.test A
expect_rc "(1) NXDOMAIN is an answer: exit 0" 0
check "(1) NXDOMAIN reported" grep -qx 'answer rcode=NXDOMAIN addrs=' <<<"$DQ_OUT"

dq --url "$URL" --bootstrap "$SRV6" --ca "$P/ca.pem" web.test AAAA
expect_rc "(1) IPv6 bootstrap ([addr] in CURLOPT_RESOLVE): exit 0" 0
check "(1) IPv6 bootstrap answer" grep -qx 'answer rcode=NOERROR addrs=2001:db8::10' <<<"$DQ_OUT"

check "(1) the server logged our queries" grep -q "$CLI4 web.test. A IN" "$U/unbound.log"

# ------------------------------------------------------------------ (2) multiplexing

before=$(syns syn443)
dq --url "$URL" --bootstrap "$SRV" --ca "$P/ca.pem" --count 500 --parallel 100 --quiet web.test A
after=$(syns syn443)
expect_rc "(2) 500 queries, 100 in parallel: exit 0" 0
check_eq "(2) 500 answers" 500 "$(field answers)"
check_eq "(2) one connection (CURLINFO_NUM_CONNECTS)" 1 "$(field connections)"
check_eq "(2) one TCP SYN seen by the server" 1 "$((after - before))"
diag "$(printf '%s\n' "$DQ_OUT" | grep '^summary')"

# ------------------------------------------------------------------ (3) identity

dq --url "$URL" --bootstrap "$SRV" --ca "$P/otherca.pem" web.test A
expect_rc "(3) wrong CA: identity error (exit 2)" 2
no_answer "(3) wrong CA: no answer"
check_eq "(3) wrong CA: counted as identity error" 1 "$(field identity)"

BADPIN=$(pki_spki "$P/otherca.pem")
GOODPIN=$(pki_spki "$P/pdns.pem")
dq --url "$URL" --bootstrap "$SRV" --ca "$P/ca.pem" --pin "$BADPIN" web.test A
expect_rc "(3) wrong pin: identity error (exit 2)" 2
no_answer "(3) wrong pin: no answer"

dq --url "$URL" --bootstrap "$SRV" --ca "$P/ca.pem" --pin "$GOODPIN" web.test A
expect_rc "(3) right pin: exit 0" 0
check "(3) right pin: answer" grep -qx 'answer rcode=NOERROR addrs=198.51.100.10' <<<"$DQ_OUT"

dq --url "$URL" --bootstrap "$SRV" --ca "$P/ca.pem" --pin "$BADPIN" --pin "$GOODPIN" web.test A
expect_rc "(3) one of two pins matches: exit 0" 0

dq --url https://other.test/dns-query --bootstrap "$SRV" --ca "$P/ca.pem" web.test A
expect_rc "(3) certificate for another name: identity error (exit 2)" 2
no_answer "(3) wrong name: no answer"

dq --url "$URL" --tls-name other.test --bootstrap "$SRV" --ca "$P/ca.pem" web.test A
expect_rc "(3) URL host != tls_name: refused at start-up (exit 1)" 1
check "(3) ... with a reason" grep -q 'differs from tls_name' <<<"$DQ_OUT"

dq --url http://pdns.test/dns-query --bootstrap "$SRV" --ca "$P/ca.pem" web.test A
expect_rc "(3) http:// URL refused at start-up (exit 1)" 1

# ------------------------------------------------------------------ (4) proxies

before=$(syns syn443)
# shellcheck disable=SC2086 # DQ_WRAP is a command line on purpose
DQ_OUT=$(timeout 120 ip netns exec "$C" env http_proxy=http://$PROXY:3128 \
	https_proxy=http://$PROXY:3128 HTTPS_PROXY=http://$PROXY:3128 \
	ALL_PROXY=socks5h://$PROXY:1080 all_proxy=http://$PROXY:3128 no_proxy= NO_PROXY= \
	${DQ_WRAP:-} "$DQ" --url "$URL" --bootstrap "$SRV" --ca "$P/ca.pem" --count 3 web.test A 2>&1)
DQ_RC=$?
after=$(syns syn443)
expect_rc "(4) proxy variables set: still answered (exit 0)" 0
check_eq "(4) the server saw the connection" 1 "$((after - before))"
check_eq "(4) no SYN to the proxy address" 0 "$(syns synproxy)"
check_eq "(4) no packet at all to the proxy address" 0 "$(syns toproxy)"

# ------------------------------------------------------------------ (5) mTLS

dq --url "$URL" --bootstrap "$MTLS" --ca "$P/ca.pem" --cert "$P/client.pem" --key "$P/client.key" web.test A
expect_rc "(5) mTLS with the client certificate: exit 0" 0
check "(5) mTLS answer" grep -qx 'answer rcode=NOERROR addrs=198.51.100.10' <<<"$DQ_OUT"
delivered=$(backend_queries)
check_eq "(5) the backend got exactly that query" 1 "$delivered"

before_syn=$(syns synmtls)
dq --url "$URL" --bootstrap "$MTLS" --ca "$P/ca.pem" web.test A
if [ "$DQ_RC" != 0 ]; then ok "(5) mTLS without a certificate fails (exit $DQ_RC)"; else not_ok "(5) mTLS without a certificate fails" "$DQ_OUT"; fi
no_answer "(5) without a certificate: no answer"
check "(5) ... the TLS connection was really tried" test "$(syns synmtls)" -gt "$before_syn"

dq --url "$URL" --bootstrap "$MTLS" --ca "$P/ca.pem" --cert "$P/rogue.pem" --key "$P/rogue.key" web.test A
if [ "$DQ_RC" != 0 ]; then ok "(5) mTLS with a certificate of another CA fails (exit $DQ_RC)"; else not_ok "(5) mTLS with a foreign certificate fails" "$DQ_OUT"; fi
no_answer "(5) foreign certificate: no answer"
check_eq "(5) nothing more was delivered to the backend" "$delivered" "$(backend_queries)"

dq --url "$URL" --bootstrap "$MTLS" --ca "$P/ca.pem" --cert "$P/client.pem" --key "$P/rogue.key" web.test A
expect_rc "(5) certificate and key that do not match: refused at start-up (exit 1)" 1

# ------------------------------------------------------------------ (6) timeout

t0=$(date +%s%N)
dq --url "$URL" --bootstrap "$HANG" --ca "$P/ca.pem" --timeout-ms 1000 web.test A
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
expect_rc "(6) silent server: timeout (exit 3)" 3
check "(6) status -ETIMEDOUT" grep -q "error status=-110 " <<<"$DQ_OUT"
check "(6) after the timeout, not before (${ms} ms >= 950)" test "$ms" -ge 950
check "(6) within timeout + slack (${ms} ms <= 2500)" test "$ms" -le 2500
no_answer "(6) no answer"

# ------------------------------------------------------------------ (7) refused

t0=$(date +%s%N)
dq --url "$URL" --bootstrap "$DOWN" --ca "$P/ca.pem" --timeout-ms 3000 web.test A
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
expect_rc "(7) server down: connection error (exit 4)" 4
check "(7) status -ECONNREFUSED" grep -q 'error status=-111 ' <<<"$DQ_OUT"
check "(7) quickly (${ms} ms <= 1000)" test "$ms" -le 1000

# ------------------------------------------------------------------ (9) TLS policy

# The same policy as DoT (dns/tls.h): TLS 1.2 only with ECDHE and AEAD. A
# server that offers TLS 1.2 with a CBC suite alone is refused, although
# it completes a handshake with a client that accepts that suite.
wout=$(timeout 10 ip netns exec "$C" openssl s_client -connect "$WEAK:443" -servername pdns.test \
	-CAfile "$P/ca.pem" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256 </dev/null 2>&1)
check "(9) the CBC-only server completes a TLS 1.2 handshake with a client that allows CBC" \
	grep -q 'Cipher is ECDHE-ECDSA-AES128-SHA256' <<<"$wout"
before_syn=$(syns synweak)
delivered=$(backend_queries)
dq --url "$URL" --bootstrap "$WEAK" --ca "$P/ca.pem" web.test A
if [ "$DQ_RC" != 0 ]; then ok "(9) DoH to a TLS 1.2 CBC-only server fails (exit $DQ_RC)"; else not_ok "(9) DoH to a CBC-only server fails" "$DQ_OUT"; fi
no_answer "(9) CBC-only server: no answer"
check "(9) ... the TLS connection was really tried" test "$(syns synweak)" -gt "$before_syn"
check_eq "(9) nothing was delivered to the backend" "$delivered" "$(backend_queries)"

# ------------------------------------------------------------------ (8) free from a callback

dq --url "$URL" --bootstrap "$SRV" --ca "$P/ca.pem" --count 200 --parallel 50 --cancel-after 20 --quiet web.test A
expect_rc "(8) client freed from its own callback: every query called back once (exit 0)" 0
diag "$(printf '%s\n' "$DQ_OUT" | grep '^summary')"
check "(8) the rest were cancelled, not answered" test "$(field answers)" -lt 200
