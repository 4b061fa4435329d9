#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_lifecycle.sh BUILD_DIR — a failed start never opens the network
# (invariants 1 and 8), the operator's way out (ztdnsd --remove-ruleset) and
# the time-limited break-glass.
#
# Topology (two namespaces made here, removed on every exit path):
#
#   ztlc$$ (client, runs ztdnsd)               ztls$$ (server, no firewall)
#     c0 192.0.2.1/24        <---- veth ---->    s0 192.0.2.2/24
#        2001:db8:1::1/64                           2001:db8:1::2/64
#
# Every "denied" is judged at the server (its INPUT counters) and the same
# destination is shown reachable when the policy allows it: before any
# daemon, with `ztdnsctl allow`, with the break-glass open, and after the
# operator removed the ruleset.
#
# Sections: (a) a start that fails before any ruleset existed installs the
# lockdown; (b) --remove-ruleset; (c) after a kill -9, each start-up step made
# to fail in turn (ports taken by another user, missing files, bad
# permissions, a user that does not exist, the queue held by another daemon)
# exits non-zero and leaves the lockdown; (d) --remove-ruleset refuses while a
# daemon holds the queue; (e) break-glass: bounds, open, logged, closes by
# itself, survives a kill -9 and restart without being extended, an unsafe
# state file opens nothing; (f) a clean stop after READY removes the rules.

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	not_ok "usage: bash t_lifecycle.sh BUILD_DIR"
	exit 2
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
TOP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
if [ "$(id -u)" != 0 ]; then
	not_ok "integration tests need root (network namespaces)"
	exit 1
fi
for tool in setpriv iptables-save; do
	command -v "$tool" >/dev/null || { not_ok "$tool is installed"; exit 1; }
done

C=ztlc$$
S=ztls$$
ZT_FAR_NS=$S
SRV4=192.0.2.2
SRV6=2001:db8:1::2
TCP_PORT=7101
UDP_PORT=7102
QNUM=9
STUB_PORT=5301
METRICS_PORT=9154
SOCK=$ZT_TMP/ctl.sock
BG_FILE=$ZT_TMP/state/break-glass.json
SRVLOG=$ZT_TMP/server.log
NOBODY_PY=/usr/bin/python3
[ -x "$NOBODY_PY" ] || NOBODY_PY=$ZT_PY
ZTD_PID=
RUN=0

# write_conf FILE [EXTRA_JSON_MEMBERS]: host mode, a DoH server that is never
# asked (nothing here needs DNS), the stub and metrics on loopback.
write_conf() {
	local file=$1 extra=${2:-}
	cat >"$file" <<EOF
{"mode":"host",
 "servers":[{"protocol":"doh","url":"https://dns.test/dns-query","bootstrap":["203.0.113.53"]}],
 "listen":["127.0.0.1:$STUB_PORT"],
 "queue":{"num":$QNUM},
 "control":{"socket":"$SOCK"},
 "metrics":{"listen":"127.0.0.1:$METRICS_PORT"},
 "state":{"break_glass":"$BG_FILE"},
 "log":{"level":"debug","verdicts":true,"verdict_file":"$ZT_TMP/verdicts.log"}$extra}
EOF
}

ctl() { timeout 8 ip netns exec "$C" "$ZTC" -s "$SOCK" "$@"; }

probe() {
	case $1 in
	tcp) timeout 3 ip netns exec "$C" "${ZT_NET[@]}" tcp "$2" "$TCP_PORT" --timeout 1.5 --tag "t$$" ;;
	udp) timeout 3 ip netns exec "$C" "${ZT_NET[@]}" udp "$2" "$UDP_PORT" --timeout 1.5 --tag "u$$" ;;
	esac
}

# All four probes denied / reached.
all_denied() { local p a; for a in $SRV4 $SRV6; do for p in tcp udp; do zt_expect_deny "$1" $p $a; done; done; }
all_reach() { local p a; for a in $SRV4 $SRV6; do for p in tcp udp; do zt_expect_reach "$1" $p $a; done; done; }

has_lockdown() {
	ns_exec "$C" iptables-save -t filter | grep -q -- '-A OUTPUT -j ZTDNS-OUT' &&
		ns_exec "$C" ip6tables-save -t filter | grep -q -- '-A OUTPUT -j ZTDNS-OUT'
}
no_rules() {
	! ns_exec "$C" iptables-save | grep -q ZTDNS && ! ns_exec "$C" ip6tables-save | grep -q ZTDNS
}

# start_ready LABEL CONF: start the daemon and wait for wait-ready (15 s).
start_ready() {
	local label=$1 conf=$2 i
	RUN=$((RUN + 1))
	bg_start "ztdnsd-$RUN" "$C" "$ZTD" -c "$conf" --foreground -v
	ZTD_PID=$BG_PID
	ZTD_LOG=$ZT_TMP/ztdnsd-$RUN.log
	for ((i = 0; i < 15; i++)); do
		ctl wait-ready --timeout 1 >/dev/null 2>&1 && break
		pid_alive "$ZTD_PID" || break
		sleep 1
	done
	if pid_alive "$ZTD_PID" && ctl wait-ready --timeout 2 >/dev/null 2>&1; then
		ok "$label: ztdnsd is ready"
		return 0
	fi
	not_ok "$label: ztdnsd is ready" "$(tail -n 15 "$ZT_TMP/ztdnsd-$RUN.log")"
	return 1
}

# start_fails LABEL CONF WHY_REGEX: the daemon exits non-zero within 15 s and
# says why.
start_fails() {
	local label=$1 conf=$2 why=$3 rc
	RUN=$((RUN + 1))
	timeout 20 ip netns exec "$C" "$ZTD" -c "$conf" --foreground >"$ZT_TMP/ztdnsd-$RUN.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -Eq "$why" "$ZT_TMP/ztdnsd-$RUN.log"; then
		ok "$label: start-up fails with exit $rc and says why"
	else
		not_ok "$label: start-up fails and says why ($why)" "exit $rc" "$(tail -n 12 "$ZT_TMP/ztdnsd-$RUN.log")"
	fi
	if has_lockdown; then ok "$label: the lockdown ruleset is in place after the failed start"
	else not_ok "$label: the lockdown ruleset is in place after the failed start" "$(ns_exec "$C" iptables-save)"; fi
}

kill9() {
	{ kill -KILL "$ZTD_PID" && wait "$ZTD_PID"; } 2>/dev/null
	wait_for 3 nfq_unbound
}
nfq_unbound() { ! ns_exec "$C" awk -v q="$QNUM" '$1 == q { f = 1 } END { exit !f }' /proc/net/netfilter/nfnetlink_queue; }

# hold_port LABEL tcp|udp PORT: another (unprivileged) user binds it.
hold_port() {
	bg_start "$1" "$C" setpriv --reuid=65534 --regid=65534 --clear-groups "$NOBODY_PY" -c '
import socket, sys, time
t = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, t)
s.bind(("127.0.0.1", int(sys.argv[2])))
if t == socket.SOCK_STREAM:
    s.listen(4)
print("bound", flush=True)
time.sleep(120)' "$2" "$3"
	HOLD_PID=$BG_PID
	wait_for 5 grep -q bound "$ZT_TMP/$1.log"
}

# ------------------------------------------------------------------ topology

ns_new "$C" && ns_new "$S" || { not_ok "create namespaces $C and $S"; exit 1; }
ns_veth "$C" c0 "$S" s0 || { not_ok "create veth pair"; exit 1; }
ns_addr "$C" c0 192.0.2.1/24
ns_addr "$C" c0 2001:db8:1::1/64
ns_addr "$S" s0 192.0.2.2/24
ns_addr "$S" s0 2001:db8:1::2/64
ctr_setup "$S" || { not_ok "server counting chains"; exit 1; }
for a in $SRV4 $SRV6; do
	ctr_add "$S" "$(_zt_fam $a)" "tcp-$a" -d "$a" -p tcp --dport "$TCP_PORT" --syn
	ctr_add "$S" "$(_zt_fam $a)" "udp-$a" -d "$a" -p udp --dport "$UDP_PORT"
done
bg_start server "$S" "${ZT_NET[@]}" serve --tcp "$TCP_PORT" --udp "$UDP_PORT" --log "$SRVLOG" --max-seconds 600
wait_for 5 grep -q '^[0-9.]* ready' "$SRVLOG" || { not_ok "server responder started" "$(cat "$ZT_TMP/server.log")"; exit 1; }
mkdir -p "$ZT_TMP/state" && chmod 700 "$ZT_TMP/state"
GOOD=$ZT_TMP/good.json
write_conf "$GOOD"
check "the test configuration passes --check" "$ZTD" --check -c "$GOOD"

# Unrelated rules the daemon must leave alone (and that make the tables
# exist, so that "as before" compares something).
ns_exec "$C" iptables -w 5 -A INPUT -p tcp --dport 2222 -m comment --comment "ztdns-test unrelated" -j ACCEPT
ns_exec "$C" ip6tables -w 5 -A OUTPUT -p udp --dport 9999 -j RETURN
ruleset_nat_unrelated "$C"

echo "# baseline: no daemon, no ZTDNS rules: the server is reachable"
all_reach "baseline"
RULES_BEFORE=$(ruleset_save "$C")

# ------------------------------------------------------------------ (a)

echo "# (a) a start that fails with no ruleset in place installs the lockdown"
hold_port hold-metrics tcp $METRICS_PORT || not_ok "another user holds 127.0.0.1:$METRICS_PORT"
start_fails "(a) metrics port taken, no rules before" "$GOOD" "metrics endpoint"
all_denied "(a) after the failed start"
bg_stop "$HOLD_PID" KILL 3

# ------------------------------------------------------------------ (b)

echo "# (b) the operator's way out: ztdnsd --remove-ruleset"
out=$(ip netns exec "$C" "$ZTD" --remove-ruleset -c "$GOOD" 2>&1)
check_eq "(b) --remove-ruleset exits 0" 0 $? || diag "$out"
if no_rules; then ok "(b) no ZTDNS rule or chain is left"; else not_ok "(b) no ZTDNS rule or chain is left" "$(ns_exec "$C" iptables-save)"; fi
check_eq "(b) the ruleset is as before the daemon" "$RULES_BEFORE" "$(ruleset_save "$C")"
all_reach "(b) after --remove-ruleset"

# ------------------------------------------------------------------ (c)

echo "# (c) kill -9, then every start-up step made to fail in turn"
start_ready "(c) first start" "$GOOD" || exit 1
all_denied "(c) enforcing"
check "(c) ztdnsctl allow $SRV4" ctl allow $SRV4 --ttl 600
check "(c) ztdnsctl allow $SRV6" ctl allow $SRV6 --ttl 600
zt_expect_reach "(c) allowed (the control)" tcp $SRV4
zt_expect_reach "(c) allowed (the control)" udp $SRV6
check "(c) ztdnsctl revoke $SRV4" ctl revoke $SRV4
check "(c) ztdnsctl revoke $SRV6" ctl revoke $SRV6
kill9
all_denied "(c) after kill -9"

hold_port hold-metrics tcp $METRICS_PORT
start_fails "(c1) metrics port taken by another user" "$GOOD" "metrics endpoint"
zt_expect_deny "(c1) after the failed start" tcp $SRV4
zt_expect_deny "(c1) after the failed start" udp $SRV6
bg_stop "$HOLD_PID" KILL 3

hold_port hold-stub udp $STUB_PORT
start_fails "(c2) stub port taken by another user" "$GOOD" "DNS stub"
zt_expect_deny "(c2) after the failed start" tcp $SRV6
zt_expect_deny "(c2) after the failed start" udp $SRV4
bg_stop "$HOLD_PID" KILL 3

write_conf "$ZT_TMP/c3.json"
sed -i "s#\"socket\":\"$SOCK\"#\"socket\":\"$ZT_TMP/no/such/dir/ctl.sock\"#" "$ZT_TMP/c3.json"
start_fails "(c3) control socket directory missing" "$ZT_TMP/c3.json" "control socket"
zt_expect_deny "(c3) after the failed start" tcp $SRV4

write_conf "$ZT_TMP/c4.json"
sed -i "s#\"bootstrap\":\[\"203.0.113.53\"\]#&,\"ca_file\":\"$ZT_TMP/gone-ca.pem\"#" "$ZT_TMP/c4.json"
start_fails "(c4) the servers' CA file is gone" "$ZT_TMP/c4.json" "Protective DNS clients|gone-ca"
zt_expect_deny "(c4) after the failed start" tcp $SRV4
zt_expect_deny "(c4) after the failed start" udp $SRV6

mkdir -p "$ZT_TMP/ro" && touch "$ZT_TMP/ro/verdicts.log" && chmod 000 "$ZT_TMP/ro" && chown 65534 "$ZT_TMP/ro"
write_conf "$ZT_TMP/c5.json" ',"privileges":{"user":"nobody","seccomp":"off"}'
sed -i "s#$ZT_TMP/verdicts.log#$ZT_TMP/ro/verdicts.log#" "$ZT_TMP/c5.json"
start_fails "(c5) verdict log not writable (bad permissions)" "$ZT_TMP/c5.json" "verdict log"
zt_expect_deny "(c5) after the failed start" tcp $SRV4

write_conf "$ZT_TMP/c6.json" ',"privileges":{"user":"zt-no-such-user"}'
start_fails "(c6) privileges.user does not exist" "$ZT_TMP/c6.json" "cannot become user"
zt_expect_deny "(c6) after the failed start" tcp $SRV6

echo "# (c7) a second daemon on the same queue fails and leaves the first one's rules"
start_ready "(c7) the first daemon" "$GOOD" || exit 1
write_conf "$ZT_TMP/c7.json"
sed -i -e "s#$SOCK#$ZT_TMP/ctl2.sock#" -e "s#$STUB_PORT#$((STUB_PORT + 1))#" -e "s#$METRICS_PORT#$((METRICS_PORT + 1))#" "$ZT_TMP/c7.json"
start_fails "(c7) the queue is held by another daemon" "$ZT_TMP/c7.json" "NFQUEUE"
check "(c7) the first daemon still answers" ctl status
check "(c7) ztdnsctl allow $SRV4 on the first daemon" ctl allow $SRV4 --ttl 600
zt_expect_reach "(c7) the first daemon still gives verdicts (allowed)" tcp $SRV4
check "(c7) ztdnsctl revoke $SRV4" ctl revoke $SRV4
zt_expect_deny "(c7) the first daemon still gives verdicts (revoked)" tcp $SRV4

# ------------------------------------------------------------------ (d)

echo "# (d) --remove-ruleset refuses while a daemon holds the queue"
out=$(ip netns exec "$C" "$ZTD" --remove-ruleset -c "$GOOD" 2>&1)
check_eq "(d) --remove-ruleset with a running daemon exits 75" 75 $? || diag "$out"
check "(d) the ruleset stays" has_lockdown
zt_expect_deny "(d) still enforcing" tcp $SRV4

# ------------------------------------------------------------------ (e)

echo "# (e) break-glass"
out=$(ctl break-glass 2h --reason x 2>&1)
check_eq "(e) break-glass for 2h is refused client-side (64)" 64 $? || diag "$out"
out=$(ctl break-glass 60 2>&1)
check_eq "(e) break-glass without --reason is refused (64)" 64 $? || diag "$out"
out=$(printf '{"cmd":"break-glass","seconds":3601,"reason":"x"}\n' | timeout 5 ip netns exec "$C" "$ZT_PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
print(s.recv(4096).decode())' "$SOCK")
if grep -q '"ok": *false' <<<"$out" || grep -q '"error"' <<<"$out"; then ok "(e) the daemon refuses seconds 3601"; else not_ok "(e) the daemon refuses seconds 3601" "$out"; fi
zt_expect_deny "(e) nothing opened by the refused requests" tcp $SRV4

check "(e) break-glass 4s opens" ctl break-glass 4 --reason "lifecycle test"
st=$(ctl --json status)
check_eq "(e) status shows it open" true "$(json_get break_glass.open <<<"$st")"
check_eq "(e) status shows the reason" "lifecycle test" "$(json_get break_glass.reason <<<"$st")"
if ctl status | grep -q 'BREAK-GLASS OPEN'; then ok "(e) text status shows BREAK-GLASS OPEN"; else not_ok "(e) text status shows BREAK-GLASS OPEN" "$(ctl status)"; fi
zt_expect_reach "(e) break-glass open" tcp $SRV4
zt_expect_reach "(e) break-glass open" udp $SRV6
if grep -q '"reason":"break-glass:never-resolved"' "$ZT_TMP/verdicts.log"; then ok "(e) the verdict log says break-glass:never-resolved"
else not_ok "(e) the verdict log says break-glass:never-resolved" "$(tail -n 5 "$ZT_TMP/verdicts.log")"; fi
flows=$(ctl --json status | json_get break_glass.flows)
if [ "${flows:-0}" -ge 2 ]; then ok "(e) flows let through are counted ($flows)"; else not_ok "(e) flows let through are counted" "$flows"; fi
if [ -f "$BG_FILE" ] && [ "$(stat -c %a "$BG_FILE")" = 600 ]; then ok "(e) the deadline is saved, mode 0600"; else not_ok "(e) the deadline is saved, mode 0600" "$(ls -l "$BG_FILE" 2>&1)"; fi
sleep 4.5
zt_expect_deny "(e) closed by itself at the deadline" tcp $SRV4
zt_expect_deny "(e) closed by itself at the deadline" udp $SRV6
check_eq "(e) status shows it closed" false "$(ctl --json status | json_get break_glass.open)"
if [ ! -e "$BG_FILE" ]; then ok "(e) the state file is gone once closed"; else not_ok "(e) the state file is gone once closed"; fi
if grep -q 'break-glass: closed at its deadline' "$ZTD_LOG"; then ok "(e) the closing is logged"
else not_ok "(e) the closing is logged" "$(grep break-glass "$ZTD_LOG")"; fi

echo "# (e) across a kill -9 and a restart: closed while down, not extended"
check "(e) break-glass 12s opens" ctl break-glass 12 --reason "restart test"
zt_expect_reach "(e) open before the kill" tcp $SRV4
t_open=$(date +%s)
kill9
zt_expect_deny "(e) no daemon: closed (fail closed)" tcp $SRV4
start_ready "(e) restart while the break-glass is open" "$GOOD" || exit 1
zt_expect_reach "(e) open again after the restart" tcp $SRV4
left=$(ctl --json status | json_get break_glass.remaining_s)
el=$(($(date +%s) - t_open))
if [ -n "$left" ] && [ "$left" -le $((12 - el + 1)) ] && [ "$left" -ge 1 ]; then ok "(e) restart did not extend it ($left s left after $el s)"
else not_ok "(e) restart did not extend it" "left $left after $el s"; fi
check "(e) break-glass close" ctl break-glass close
zt_expect_deny "(e) closed by the operator" tcp $SRV4

echo "# (e) a deadline that passed while the daemon was down opens nothing"
check "(e) break-glass 2s opens" ctl break-glass 2 --reason "expiry while down"
kill9
sleep 2.5
start_ready "(e) restart after the deadline" "$GOOD" || exit 1
zt_expect_deny "(e) expired while down" tcp $SRV4
if [ ! -e "$BG_FILE" ]; then ok "(e) the expired state file is removed"; else not_ok "(e) the expired state file is removed"; fi

echo "# (e) a state file that others can write opens nothing"
check "(e) break-glass 30s opens" ctl break-glass 30 --reason "unsafe file"
kill9
chmod 0666 "$BG_FILE"
start_ready "(e) restart with a world-writable state file" "$GOOD" || exit 1
zt_expect_deny "(e) the unsafe state file is ignored" tcp $SRV4
check_eq "(e) status shows it closed" false "$(ctl --json status | json_get break_glass.open)"

# ------------------------------------------------------------------ (g)

echo "# (g) signals: SIGQUIT stops cleanly; none of the others ends or stops the daemon"
bg_stop "$ZTD_PID" QUIT 10
check_eq "(g) SIGQUIT: exit 0" 0 $?
if no_rules; then ok "(g) SIGQUIT is a clean stop: no ZTDNS rule left"; else not_ok "(g) SIGQUIT is a clean stop" "$(ns_exec "$C" iptables-save)"; fi
zt_expect_reach "(g) after the SIGQUIT stop" tcp $SRV4

mkdir -p "$ZT_TMP/logs"
SIGCONF=$ZT_TMP/signals.json
write_conf "$SIGCONF"
sed -i "s#$ZT_TMP/verdicts.log#$ZT_TMP/logs/verdicts.log#" "$SIGCONF"
start_ready "(g) start for the signal checks" "$SIGCONF" || exit 1
sigblk=$(awk '/^SigBlk:/ { print $2 }' "/proc/$ZTD_PID/status")
check_eq "(g) the daemon blocks no signal in its main thread (children inherit the mask)" 0000000000000000 "$sigblk"
stopped_or_gone() { ! pid_alive "$ZTD_PID" || [ "$(awk '{ print $3 }' "/proc/$ZTD_PID/stat")" = T ]; }
for sig in ALRM VTALRM PROF IO PWR STKFLT XCPU XFSZ TSTP TTIN TTOU USR2 RTMIN RTMIN+7 RTMAX; do
	kill -s "$sig" "$ZTD_PID" 2>/dev/null
	sleep 0.2
	if stopped_or_gone; then not_ok "(g) SIG$sig neither ends nor stops the daemon" "$(tail -n 5 "$ZTD_LOG")"
	else ok "(g) SIG$sig neither ends nor stops the daemon"; fi
done
if grep -q 'signal 14 (SIGALRM) ignored' "$ZTD_LOG"; then ok "(g) an ignored signal is logged"; else not_ok "(g) an ignored signal is logged" "$(tail -n 5 "$ZTD_LOG")"; fi
if grep -q 'status: ready, enforcing' "$ZTD_LOG"; then ok "(g) SIGUSR2 logs a status line"; else not_ok "(g) SIGUSR2 logs a status line" "$(tail -n 5 "$ZTD_LOG")"; fi
zt_expect_deny "(g) still enforcing after the signals" tcp $SRV4
check "(g) ztdnsctl allow after the signals" ctl allow $SRV4 --ttl 600
zt_expect_reach "(g) still giving verdicts after the signals" tcp $SRV4
check "(g) ztdnsctl revoke" ctl revoke $SRV4

echo "# (g) ztdnsctl reload reports the outcome"
out=$(ctl reload 2>&1)
check_eq "(g) ztdnsctl reload of a good file exits 0" 0 $? || diag "$out"
cp "$SIGCONF" "$SIGCONF.good"
echo '{"mode":"host", broken' >"$SIGCONF"
out=$(ctl reload 2>&1)
check_eq "(g) ztdnsctl reload of a broken file exits 1" 1 $? || diag "$out"
if grep -q 'reload refused' <<<"$out"; then ok "(g) ztdnsctl reload says why"; else not_ok "(g) ztdnsctl reload says why" "$out"; fi
mv "$SIGCONF.good" "$SIGCONF"
zt_expect_deny "(g) still enforcing after the refused reload" tcp $SRV6
v1=$("$ZTD" --version); v2=$("$ZTC" --version)
if [[ $v1 == "ztdnsd "[0-9]* ]] && [[ $v2 == "ztdnsctl "[0-9]* ]]; then ok "(g) --version on both binaries ($v1)"
else not_ok "(g) --version on both binaries" "$v1" "$v2"; fi

echo "# (g) SIGUSR1 reopens the verdict file; logrotate -f with the shipped configuration"
mv "$ZT_TMP/logs/verdicts.log" "$ZT_TMP/logs/moved.log.old"
kill -USR1 "$ZTD_PID"
wait_for 3 grep -q 'SIGUSR1: reopened' "$ZTD_LOG"
nold=$(wc -l <"$ZT_TMP/logs/moved.log.old")
zt_expect_deny "(g) a verdict after SIGUSR1" tcp $SRV6
if wait_for 3 grep -q "\"dst\":\"$SRV6\"" "$ZT_TMP/logs/verdicts.log"; then ok "(g) SIGUSR1: new lines go to a new file by the configured name"
else not_ok "(g) SIGUSR1: new lines go to a new file by the configured name" "$(ls -l "$ZT_TMP/logs")"; fi
check_eq "(g) SIGUSR1: the moved file gets no new line" "$nold" "$(wc -l <"$ZT_TMP/logs/moved.log.old")"
LR=$TOP_DIR/packaging/debian/ztdns.logrotate
sed -e "s#/var/log/ztdns/\*.log#$ZT_TMP/logs/verdicts.log#" -e "s#su ztdns ztdns#su root root#" \
	-e "s#create 0640 ztdns ztdns#create 0600 root root#" \
	-e "s#systemctl kill .*#kill -USR1 $ZTD_PID#" "$LR" >"$ZT_TMP/logrotate.conf"
if grep -q "kill -USR1 $ZTD_PID" "$ZT_TMP/logrotate.conf" && grep -q "$ZT_TMP/logs/verdicts.log" "$ZT_TMP/logrotate.conf"; then
	ok "(g) the shipped logrotate file has the path and postrotate the test rewrites"
else not_ok "(g) the shipped logrotate file has the path and postrotate the test rewrites" "$(cat "$ZT_TMP/logrotate.conf")"; fi
out=$(logrotate -f -s "$ZT_TMP/logrotate.state" "$ZT_TMP/logrotate.conf" 2>&1)
check_eq "(g) logrotate -f exits 0" 0 $? || diag "$out"
wait_for 3 test "$(grep -c 'SIGUSR1: reopened' "$ZTD_LOG")" -ge 2
zt_expect_deny "(g) a verdict after the rotation" udp $SRV4
if wait_for 3 grep -q "\"dst\":\"$SRV4\"" "$ZT_TMP/logs/verdicts.log" && [ -f "$ZT_TMP/logs/verdicts.log.1" ] &&
	! grep -q "\"proto\":\"udp\",\"src\":\"[^\"]*\",\"dst\":\"$SRV4\"" "$ZT_TMP/logs/verdicts.log.1"; then
	ok "(g) logrotate: the new verdict goes to the new file, the rotated one keeps the old lines"
else not_ok "(g) logrotate: the new verdict goes to the new file" "$(ls -l "$ZT_TMP/logs")" "$(tail -n 2 "$ZT_TMP/logs/verdicts.log" 2>&1)"; fi

# ------------------------------------------------------------------ (f)

echo "# (f) a clean stop after READY removes the rules"
bg_stop "$ZTD_PID" TERM 10
check_eq "(f) SIGTERM: exit 0" 0 $?
if no_rules; then ok "(f) clean stop: no ZTDNS rule left"; else not_ok "(f) clean stop: no ZTDNS rule left" "$(ns_exec "$C" iptables-save)"; fi
check_eq "(f) the ruleset is as before the daemon" "$RULES_BEFORE" "$(ruleset_save "$C")"
all_reach "(f) after the clean stop"

exit 0
