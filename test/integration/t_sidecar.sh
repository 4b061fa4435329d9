#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_sidecar.sh BUILD_DIR — sidecar mode without a container engine: a pod is a
# network namespace; ztdnsd runs inside it as a NON-ROOT user holding only
# CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (what the Kubernetes manifest in
# packaging/k8s gives it), and the "application" is another non-root process
# of the same namespace, without any capability.
#
# Topology (namespaces made here, removed on every exit path):
#
#   ztsp$$ ("the pod")                              ztsn$$ ("the network")
#     p0 192.0.2.1/24        <----- veth ----->       n0 192.0.2.2/24
#     198.51.100.0/24 via 192.0.2.2                       192.0.2.53   unbound (DoH 443, DoT 853),
#     ztdnsd, uid 65534, caps net_admin +                              local-data only
#             net_bind_service only                   198.51.100.0/24 local (AnyIP): ztnet.py
#     app,    uid 65533, no caps, resolv.conf                          serve, TCP 7001 / UDP 7002
#             = nameserver 127.0.0.1 (like
#             dnsPolicy None + dnsConfig)
#
# The far end counts TCP SYNs per destination in its INPUT path; every
# "blocked" is judged there and the same destination is shown reachable when
# policy allows it.
#
# Checks: start-up as uid 65534 with two capabilities (rules installed, port 53
# bound, wait-ready, /proc status: uid and CapEff); the application resolves an
# allowed name through 127.0.0.1 and connects; a hard-coded IP is blocked (and
# reachable after an operator allow by the control uid); the application can
# neither change the rules (iptables -F / -D, nft flush ruleset, also from a
# user namespace) nor use the control socket, and enforcement holds after the
# attempts; kill -9 of the sidecar -> the pod's new flows are dropped.
#
# ZT_KEEP_TMP=1 keeps /tmp/zt-PID (daemon, unbound, server logs).

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_sidecar.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
for tool in unbound setpriv dig; do
	command -v $tool >/dev/null || { not_ok "$tool is installed"; exit 1; }
done
# The application and the sidecar must run an interpreter another uid can
# read (a version manager under /root is not one).
APP_PY=/usr/bin/python3
[ -x "$APP_PY" ] || APP_PY=$ZT_PY
if [ ! -x "$ZTD" ] || [ ! -x "$ZTC" ]; then
	not_ok "ztdnsd and ztdnsctl are built in $BUILD"
	exit 1
fi

POD=ztsp$$
NET=ztsn$$
PKI=$ZT_TMP/pki
SC_UID=65534 # the sidecar (nobody)
APP_UID=65533 # the application
RUN=$ZT_TMP/run # the sidecar's writable directory (control socket)
SOCK=$RUN/ctl.sock
CONF=$ZT_TMP/etc/ztdns.json
TCP_PORT=7001
QNUM=11
PDNS=192.0.2.53
WEB=198.51.100.10 # app.test resolves to it
HARD=198.51.100.20 # never resolved: a hard-coded IP
SC_PID=

# ------------------------------------------------------------------ helpers

# Command prefixes (arrays, so that timeout can run them):
#   AS_SIDECAR  in the pod, as the sidecar's uid with only the two caps
#               (inheritable + ambient so they survive exec into
#               iptables-restore; the bounding set holds nothing else;
#               no_new_privs like allowPrivilegeEscalation false)
#   AS_CTL      the control uid WITHOUT capabilities (a startup probe)
#   AS_APP      the application: another uid, no capabilities at all
# shellcheck disable=SC2054 # the commas belong to setpriv's capability lists
AS_SIDECAR=(ip netns exec "$POD" setpriv "--reuid=$SC_UID" "--regid=$SC_UID" --clear-groups
	--inh-caps=-all,+net_admin,+net_bind_service --ambient-caps=+net_admin,+net_bind_service
	--bounding-set=-all,+net_admin,+net_bind_service --no-new-privs)
AS_CTL=(ip netns exec "$POD" setpriv "--reuid=$SC_UID" "--regid=$SC_UID" --clear-groups
	--inh-caps=-all --bounding-set=-all --no-new-privs)
AS_APP=(ip netns exec "$POD" setpriv "--reuid=$APP_UID" "--regid=$APP_UID" --clear-groups
	--inh-caps=-all --bounding-set=-all --no-new-privs)

ctl() { timeout 8 "${AS_CTL[@]}" "$ZTC" -s "$SOCK" "$@"; }

syn_ctr() { ctr_get "$NET" 4 "syn-$1"; }

app_tcp() { # app_tcp HOST: the application connects (name or address)
	timeout 5 "${AS_APP[@]}" "$APP_PY" "$ZT_LIB_DIR/ztnet.py" tcp "$1" "$TCP_PORT" --timeout 1.5 --tag "app$$"
}

# expect_reach WHY HOST ADDR: the app's connection succeeds and the far end
# counted a SYN to ADDR.
expect_reach() {
	local why=$1 host=$2 a=$3 before after out rc
	before=$(syn_ctr "$a")
	out=$(app_tcp "$host" 2>&1)
	rc=$?
	after=$(syn_ctr "$a")
	if [ $rc -eq 0 ] && [ -n "$after" ] && [ "$after" -gt "${before:-0}" ]; then
		ok "$why: app -> $host:$TCP_PORT reaches the far end (SYNs $before -> $after)"
		return 0
	fi
	not_ok "$why: app -> $host:$TCP_PORT reaches the far end" "probe exit $rc, far-end SYNs $before -> $after" "$out"
	return 1
}

# expect_deny WHY HOST ADDR: the connection fails and no SYN arrived.
expect_deny() {
	local why=$1 host=$2 a=$3 before after out rc
	before=$(syn_ctr "$a")
	out=$(app_tcp "$host" 2>&1)
	rc=$?
	sleep 0.3
	after=$(syn_ctr "$a")
	if [ $rc -ne 0 ] && [ -n "$before" ] && [ "$after" = "$before" ]; then
		ok "$why: app -> $host:$TCP_PORT blocked (far-end SYNs stay $after)"
		return 0
	fi
	not_ok "$why: app -> $host:$TCP_PORT blocked" "probe exit $rc, far-end SYNs $before -> $after" "$out"
	return 1
}

# The pod's whole ruleset, counters stripped (they move with traffic).
pod_rules() {
	ruleset_save "$POD"
	nft_save "$POD" | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}

stub_listens() { ns_exec "$POD" ss -Hlun "sport = :53" | grep -q '127.0.0.1:53'; }

# ------------------------------------------------------------------ topology

ns_new "$POD" && ns_new "$NET" || { not_ok "create namespaces $POD and $NET"; exit 1; }
ns_veth "$POD" p0 "$NET" n0 || { not_ok "create veth pair"; exit 1; }
ns_addr "$POD" p0 192.0.2.1/24
ip -n "$POD" route add 198.51.100.0/24 via 192.0.2.2
ns_addr "$NET" n0 192.0.2.2/24
ns_addr "$NET" n0 $PDNS/32
ip -n "$NET" route add local 198.51.100.0/24 dev lo

# The pod's resolver is the sidecar (Kubernetes: dnsPolicy None, dnsConfig
# nameservers [127.0.0.1]); ip netns exec bind-mounts this file.
mkdir -p "/etc/netns/$POD"
zt_on_cleanup "rm -rf '/etc/netns/$POD'; rmdir /etc/netns 2>/dev/null"
echo "nameserver 127.0.0.1" >"/etc/netns/$POD/resolv.conf"

ctr_setup "$NET" || { not_ok "far-end counting chains"; exit 1; }
for a in $WEB $HARD; do
	ctr_add "$NET" 4 "syn-$a" -d "$a" -p tcp --dport $TCP_PORT --syn
done

bg_start web "$NET" "$ZT_PY" "$ZT_LIB_DIR/ztnet.py" serve --tcp $TCP_PORT --udp 7002 \
	--log "$ZT_TMP/web-server.log" --max-seconds 600
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started" "$(cat "$ZT_TMP/web.log")"; exit 1; }

# ------------------------------------------------------------------ Protective DNS

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test $PDNS
PIN=$(pki_spki "$PKI/pdns.pem")
echo "app.test. 60 A $WEB" >"$ZT_TMP/pdns.data"
mkdir -p "$ZT_TMP/ub"
pdns_unbound_conf "$ZT_TMP/ub" $PDNS "$PKI/pdns.pem" "$PKI/pdns.key" "$ZT_TMP/pdns.data" >"$ZT_TMP/ub/unbound.conf"
pdns_unbound_start "$NET" "$ZT_TMP/ub" || { not_ok "unbound configuration valid"; exit 1; }
ZT_PIDS+=("$PDNS_PID")
ZT_PID_LABELS+=("unbound")
pdns_wait_port "$NET" $PDNS 443 || { not_ok "unbound listens" "$(cat "$ZT_TMP/ub/unbound.log")"; exit 1; }

# Baseline, no sidecar yet: both destinations answer (so a zero later means
# something).
expect_reach "baseline (no sidecar)" $WEB $WEB
expect_reach "baseline (no sidecar)" $HARD $HARD

# ------------------------------------------------------------------ files

# What a container image gives the sidecar: a read-only config and CA, one
# writable directory of its own for the control socket.
mkdir -p "$ZT_TMP/etc" "$RUN"
chmod 755 "$ZT_TMP" "$ZT_TMP/etc" "$PKI"
chmod 644 "$PKI/ca.pem"
chown $SC_UID:$SC_UID "$RUN"
chmod 700 "$RUN"
cat >"$CONF" <<EOF
{"mode":"sidecar",
 "servers":[{"name":"pdns","protocol":"doh","url":"https://pdns.test/dns-query",
             "bootstrap":["$PDNS"],"ca_file":"$PKI/ca.pem","spki_pins":["$PIN"]}],
 "listen":["127.0.0.1:53"],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK","uid":$SC_UID},
 "log":{"level":"info"}}
EOF
chmod 644 "$CONF"
out=$(timeout 5 "${AS_CTL[@]}" "$ZTD" --check -c "$CONF" 2>&1)
check_eq "sidecar configuration passes ztdnsd --check (read as uid $SC_UID)" 0 $? || diag "$out"
RULES_EMPTY=$(pod_rules)

# ------------------------------------------------------------------ start

echo "# start: ztdnsd as uid $SC_UID with CAP_NET_ADMIN + CAP_NET_BIND_SERVICE only"
"${AS_SIDECAR[@]}" "$ZTD" -c "$CONF" -f -v >"$ZT_TMP/sidecar.log" 2>&1 &
SC_PID=$!
ZT_PIDS+=("$SC_PID")
ZT_PID_LABELS+=("sidecar")

ready=1
for ((i = 0; i < 15; i++)); do
	out=$(ctl wait-ready --timeout 1 2>&1) && { ready=0; break; }
	pid_alive "$SC_PID" || break
	sleep 0.5
done
if [ $ready = 0 ] && pid_alive "$SC_PID"; then
	ok "readiness: ztdnsctl wait-ready (run as the control uid $SC_UID, no caps) returns 0"
else
	not_ok "readiness: ztdnsctl wait-ready returns 0" "$out" \
		"alive: $(pid_alive "$SC_PID" && echo yes || echo no)" "$(tail -n 20 "$ZT_TMP/sidecar.log")"
	not_ok "remaining checks not run: the sidecar did not start"
	exit 1
fi
out=$(ctl --json status 2>&1)
check_eq "status: mode sidecar" sidecar "$(json_get mode <<<"$out")"
check_eq "status: ready" true "$(json_get ready <<<"$out")"

st=/proc/$SC_PID/status
check_eq "sidecar process: real/effective/saved/fs uid $SC_UID" "$SC_UID $SC_UID $SC_UID $SC_UID" \
	"$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$st")"
check_eq "sidecar process: gid $SC_UID" "$SC_UID $SC_UID $SC_UID $SC_UID" \
	"$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "$st")"
# CAP_NET_BIND_SERVICE = 10, CAP_NET_ADMIN = 12: 0x1400.
check_eq "sidecar process: CapEff = net_admin + net_bind_service only" 0000000000001400 \
	"$(awk '/^CapEff:/ { print $2 }' "$st")"
check_eq "sidecar process: CapPrm = the same two" 0000000000001400 "$(awk '/^CapPrm:/ { print $2 }' "$st")"
check_eq "sidecar process: CapBnd = the same two" 0000000000001400 "$(awk '/^CapBnd:/ { print $2 }' "$st")"
check_eq "sidecar process: NoNewPrivs" 1 "$(awk '/^NoNewPrivs:/ { print $2 }' "$st")"
diag "capsh: $(capsh --decode="$(awk '/^CapEff:/ { print $2 }' "$st")" 2>/dev/null)"

saved=$(ns_exec "$POD" iptables-save 2>&1)
if grep -q -- '-A OUTPUT -j ZTDNS-OUT' <<<"$saved" &&
	grep -q -- "-A ZTDNS-OUT .*-j NFQUEUE --queue-num $QNUM" <<<"$saved" &&
	[ "$(grep -- '^-A ZTDNS-OUT ' <<<"$saved" | tail -n 1)" = "-A ZTDNS-OUT -j DROP" ]; then
	ok "rules installed by the non-root sidecar: OUTPUT -> ZTDNS-OUT, NFQUEUE $QNUM, final DROP"
else
	not_ok "rules installed by the non-root sidecar" "$saved" "$(tail -n 10 "$ZT_TMP/sidecar.log")"
fi
check "ip6tables rules installed too" bash -c "ip netns exec $POD ip6tables-save | grep -q -- '-A OUTPUT -j ZTDNS-OUT'"
if wait_for 5 stub_listens; then
	owner=$(ns_exec "$POD" ss -Hlunp "sport = :53" | grep -o 'pid=[0-9]*' | head -n 1)
	check_eq "port 53 bound (127.0.0.1:53/udp) by the sidecar itself" "pid=$SC_PID" "$owner"
else
	not_ok "port 53 bound" "$(ns_exec "$POD" ss -Hlunp 2>&1)"
fi
check "127.0.0.1:53/tcp listens too" bash -c "ip netns exec $POD ss -Hltn 'sport = :53' | grep -q 127.0.0.1:53"

# ------------------------------------------------------------------ the application

echo "# the application: uid $APP_UID, no capabilities, resolver 127.0.0.1"
out=$(timeout 10 "${AS_APP[@]}" dig @127.0.0.1 +time=4 +tries=1 +short app.test A 2>&1)
check_eq "app resolves app.test through the sidecar (dig @127.0.0.1)" "$WEB" "$out"
expect_reach "app: allowed name (libc resolver -> 127.0.0.1 -> DoH)" app.test $WEB
expect_deny "app: hard-coded IP" $HARD $HARD
out=$(ctl allow $HARD --ttl 60 2>&1)
check_eq "operator allow by the control uid (no caps) accepted" 0 $? || diag "$out"
expect_reach "app: the same hard-coded IP after the operator allow (control)" $HARD $HARD
ctl revoke $HARD >/dev/null 2>&1 || not_ok "ztdnsctl revoke $HARD"
expect_deny "app: hard-coded IP after revoke" $HARD $HARD
grep -q 'app.test' "$ZT_TMP/ub/unbound.log" && ok "unbound log shows the app's query for app.test" ||
	not_ok "unbound log shows the app's query for app.test" "$(tail -n 5 "$ZT_TMP/ub/unbound.log")"

# ------------------------------------------------------------------ tamper attempts

echo "# the application tries to change the rules and the sidecar's state"
BEFORE=$(pod_rules)
ENTRIES_BEFORE=$(ctl --json list 2>/dev/null | json_get total)

tamper() { # tamper WHY CMD...: must fail with a permission error
	local why=$1 out rc
	shift
	out=$(timeout 10 "${AS_APP[@]}" "$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && grep -qiE 'permission denied|not permitted|you must be root|EPERM' <<<"$out"; then
		ok "app cannot $why (exit $rc: $(head -n 1 <<<"$out"))"
	else
		not_ok "app cannot $why" "command: $* (exit $rc)" "$out"
	fi
}
tamper "flush iptables (iptables -F)" iptables -w 2 -F
tamper "flush the ztdns chain (iptables -F ZTDNS-OUT)" iptables -w 2 -F ZTDNS-OUT
tamper "delete the OUTPUT jump (iptables -D OUTPUT 1)" iptables -w 2 -D OUTPUT 1
tamper "insert an ACCEPT (iptables -I OUTPUT 1 -j ACCEPT)" iptables -w 2 -I OUTPUT 1 -j ACCEPT
tamper "flush ip6tables (ip6tables -F)" ip6tables -w 2 -F
tamper "flush the nftables ruleset (nft flush ruleset)" nft flush ruleset
tamper "restore an empty ruleset (iptables-restore)" bash -c 'printf "*filter\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n" | iptables-restore'
# A user namespace gives "root" only over namespaces it owns; the pod's
# network namespace belongs to the initial one.
out=$(timeout 10 "${AS_APP[@]}" unshare --user --map-root-user iptables -w 2 -F 2>&1)
rc=$?
if [ $rc -ne 0 ]; then ok "app cannot flush from a user namespace (unshare -U -r iptables -F: exit $rc)"
else not_ok "app cannot flush from a user namespace" "$out"; fi
out=$(timeout 10 "${AS_APP[@]}" "$ZTC" -s "$SOCK" flush 2>&1)
rc=$?
if [ $rc -ne 0 ]; then ok "app cannot use the control socket (ztdnsctl flush: exit $rc: $(head -n 1 <<<"$out"))"
else not_ok "app cannot use the control socket (ztdnsctl flush)" "$out"; fi
out=$(timeout 10 "${AS_APP[@]}" "$ZTC" -s "$SOCK" allow $HARD 2>&1)
rc=$?
if [ $rc -ne 0 ]; then ok "app cannot allow itself an address over the control socket (exit $rc)"
else not_ok "app cannot allow itself an address over the control socket" "$out"; fi
# Past the file permissions (CAP_DAC_OVERRIDE), the daemon's own check of
# the peer's uid (SO_PEERCRED: root or control.uid) still refuses it.
out=$(timeout 10 ip netns exec "$POD" setpriv --reuid=$APP_UID --regid=$APP_UID --clear-groups \
	--inh-caps=-all,+dac_override --ambient-caps=+dac_override --bounding-set=-all,+dac_override \
	"$ZTC" -s "$SOCK" flush 2>&1)
rc=$?
if [ $rc -ne 0 ] && wait_for 2 grep -q "control: refused a client with uid $APP_UID" "$ZT_TMP/sidecar.log"; then
	ok "uid $APP_UID past the file permissions is refused by the daemon (SO_PEERCRED; exit $rc: $(head -n 1 <<<"$out"))"
else
	not_ok "uid $APP_UID past the file permissions is refused by the daemon (SO_PEERCRED)" "exit $rc" "$out"
fi
out=$(timeout 10 "${AS_APP[@]}" kill -9 "$SC_PID" 2>&1)
rc=$?
if [ $rc -ne 0 ] && pid_alive "$SC_PID"; then ok "app cannot signal the sidecar (kill -9: $(head -n 1 <<<"$out"))"
else not_ok "app cannot signal the sidecar" "exit $rc" "$out"; fi

AFTER=$(pod_rules)
if [ "$BEFORE" = "$AFTER" ]; then ok "the pod's ruleset (iptables-save, ip6tables-save, nft list ruleset) is unchanged"
else not_ok "the pod's ruleset is unchanged" "$(diff <(echo "$BEFORE") <(echo "$AFTER"))"; fi
check_eq "the allowset is unchanged" "$ENTRIES_BEFORE" "$(ctl --json list 2>/dev/null | json_get total)"
expect_deny "after the attempts, enforcement holds: hard-coded IP" $HARD $HARD
expect_reach "after the attempts, the allowed name still works" app.test $WEB

# ------------------------------------------------------------------ kill -9

echo "# kill -9 of the sidecar: fail closed"
kill -KILL "$SC_PID" 2>/dev/null
wait "$SC_PID" 2>/dev/null
if wait_for 3 pid_gone "$SC_PID"; then ok "sidecar killed (SIGKILL)"; else not_ok "sidecar killed"; fi
expect_deny "after kill -9: the learned address (reachable a moment ago)" $WEB $WEB
expect_deny "after kill -9: the hard-coded IP" $HARD $HARD
out=$(timeout 10 "${AS_APP[@]}" dig @127.0.0.1 +time=1 +tries=1 +short app.test A 2>&1)
rc=$?
if [ $rc -ne 0 ] || ! grep -q "$WEB" <<<"$out"; then ok "after kill -9: no DNS answer inside the pod"
else not_ok "after kill -9: no DNS answer inside the pod" "$out"; fi
saved=$(ns_exec "$POD" iptables-save 2>&1)
if grep -q -- '-A OUTPUT -j ZTDNS-OUT' <<<"$saved"; then ok "after kill -9: the default-deny chain stays in place"
else not_ok "after kill -9: the default-deny chain stays in place" "$saved"; fi
if [ "$(pod_rules)" != "$RULES_EMPTY" ]; then ok "after kill -9: the pod's ruleset is still the sidecar's, not the empty one"
else not_ok "after kill -9: the pod's ruleset is still the sidecar's"; fi

# ------------------------------------------------------------------ the image's scheme

# packaging/Dockerfile gives the capabilities as FILE capabilities (ztdnsd:
# net_admin + net_bind_service; the iptables multi-call binary: net_admin),
# because container runtimes start a non-root process with the granted caps
# in its permitted/effective sets but no ambient ones, so they would not
# survive execve(). Emulate runc exactly (bounding set = the two caps, keep
# caps over setuid, capset, no_new_privs, execve) in a fresh namespace, with
# the file-capability copies bind-mounted in a private mount namespace
# (ip netns exec makes one; nothing leaks to the host).
echo "# the Dockerfile's file-capability scheme under a runc-like start"
cat >"$ZT_TMP/runcemu.py" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS = 24, 8, 38
i = sys.argv.index("--")
uid, caps, cmd = int(sys.argv[1]), [int(c) for c in sys.argv[2:i]], sys.argv[i + 1:]
for c in range(64):
    if c not in caps and libc.prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
        sys.exit("capbset_drop %d: errno %d" % (c, ctypes.get_errno()))
libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
os.setgroups([])
os.setresgid(uid, uid, uid)
os.setresuid(uid, uid, uid)
class Hdr(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
mask = sum(1 << c for c in caps)
d = (Data * 2)(Data(mask, mask, 0), Data(0, 0, 0))
if libc.capset(ctypes.byref(Hdr(0x20080522, 0)), d) != 0:
    sys.exit("capset: errno %d" % ctypes.get_errno())
libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
os.execv(cmd[0], cmd)
PY
XT=$(readlink -f /usr/sbin/iptables-restore)
if ! command -v setcap >/dev/null || [ "$(basename "$XT")" != xtables-nft-multi ]; then
	diag "skipped: needs setcap (libcap2-bin) and the nft iptables backend (have: $XT)"
else
	IMG=$ZT_TMP/image
	mkdir -p "$IMG/run"
	chmod 755 "$IMG"
	chown $SC_UID:$SC_UID "$IMG/run"
	cp "$ZTD" "$IMG/ztdnsd"
	cp "$ZTD" "$IMG/ztdnsd-nocap"
	cp "$XT" "$IMG/xtables-plain"
	# Only the daemon carries file capabilities: it passes CAP_NET_ADMIN to
	# its iptables-restore children through the ambient set.
	setcap cap_net_admin,cap_net_bind_service=ep "$IMG/ztdnsd"
	# No server is reachable from the image's fresh namespace: readiness
	# here is the capabilities and the rules, not a first answer.
	sed -e "s|\"socket\":\"$SOCK\"|\"socket\":\"$IMG/run/ctl.sock\"|" -e "s|\"num\":$QNUM|\"num\":$((QNUM + 1))|" \
		-e 's|^{"mode":"sidecar",|{"mode":"sidecar","readiness":{"require_answer":false},|' \
		"$CONF" >"$IMG/ztdns.json"
	chmod 644 "$IMG/ztdns.json"
	# img_start NS XTABLES [ZTDNSD]: start the image's ztdnsd in NS, with
	# XTABLES bind-mounted over the system's iptables binary; sets IMG_PID.
	img_start() {
		ns_new "$1" || return 1
		ip netns exec "$1" bash -c 'mount --bind "$1" "$2" && exec "$3" "$4" '$SC_UID' 10 12 -- "$5" -f -c "$6"' \
			_ "$2" "$XT" "$APP_PY" "$ZT_TMP/runcemu.py" "${3:-$IMG/ztdnsd}" "$IMG/ztdns.json" >"$ZT_TMP/$1.log" 2>&1 &
		IMG_PID=$!
		ZT_PIDS+=("$IMG_PID")
		ZT_PID_LABELS+=("image-$1")
	}
	img_ctl() { timeout 5 ip netns exec "$1" "$ZTC" -s "$IMG/run/ctl.sock" "${@:2}"; }

	E1=ztse$$
	img_start $E1 "$IMG/xtables-plain"
	if wait_for 10 img_ctl $E1 wait-ready --timeout 1; then
		ok "runc-like start (no ambient caps, no_new_privs) with file capabilities: wait-ready"
	else
		not_ok "runc-like start with file capabilities: wait-ready" "$(tail -n 15 "$ZT_TMP/$E1.log")"
	fi
	st=/proc/$IMG_PID/status
	check_eq "... ztdnsd uid $SC_UID, CapEff = the two caps, CapAmb = NET_ADMIN only (for its children), NoNewPrivs" \
		"$SC_UID 0000000000001400 0000000000001000 1" \
		"$(awk '/^Uid:/ { u = $2 } /^CapEff:/ { e = $2 } /^CapAmb:/ { a = $2 } /^NoNewPrivs:/ { n = $2 } END { print u, e, a, n }' "$st")"
	if ns_exec $E1 iptables-save | grep -q -- '-A OUTPUT -j ZTDNS-OUT'; then
		ok "... its iptables-restore child (no file capability: ambient CAP_NET_ADMIN) installed the rules"
	else
		not_ok "... its iptables-restore child installed the rules" "$(tail -n 15 "$ZT_TMP/$E1.log")"
	fi
	bg_stop "$IMG_PID" TERM 5

	# Control: a daemon without its file capabilities holds no CAP_NET_ADMIN
	# at all; it must refuse to start, never run half-configured.
	E2=ztsf$$
	img_start $E2 "$IMG/xtables-plain" "$IMG/ztdnsd-nocap"
	wait_for 10 pid_gone "$IMG_PID"
	if pid_gone "$IMG_PID" && ! img_ctl $E2 wait-ready --timeout 1 >/dev/null 2>&1 &&
		! ns_exec $E2 iptables-save | grep -q ZTDNS-OUT; then
		ok "control: ztdnsd without file capabilities -> exits, no rules, never ready ($(grep -m 1 -iE 'denied|not permitted|fail' "$ZT_TMP/$E2.log"))"
	else
		not_ok "control: ztdnsd without file capabilities -> exits, never ready" \
			"alive: $(pid_alive "$IMG_PID" && echo yes || echo no)" "$(tail -n 15 "$ZT_TMP/$E2.log")"
	fi
	bg_stop "$IMG_PID" TERM 3
fi

exit 0
