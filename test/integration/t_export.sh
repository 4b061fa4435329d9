#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_export.sh BUILD_DIR — issue 13: allowances moved to a standby daemon, and
# ztdnsctl top, against a real Protective DNS server (unbound over DoT):
#
#  (X1) ztdnsctl export on the primary: a 0600 file, format and version, the
#       learned entry with its name and an absolute expiry, the manual one;
#  (X2) forged documents are refused whole by the standby (never-learn
#       address, expired, expiry past ttl.max, a bad name, another version,
#       a scoped entry on a host, not root): nothing imported, the
#       destination stays denied at the far end;
#  (X3) the real export imported: the destination, never resolved on the
#       standby, is reached through it (far end), the manual one too, a
#       destination in neither stays denied; status.import counts;
#  (T1) ztdnsctl top in a detached tmux session (80x24): the allowed and the
#       denied destinations, the name and the user show; q quits;
#  (T2) top --once without a terminal prints one plain frame.
#
# Topology: primary xa$$ a0 192.0.2.1/26 and standby xb$$ b0 192.0.2.65/26,
# each with its own ztdnsd (stub 127.0.0.1:53), veths to xn$$ (n0 192.0.2.2,
# n1 192.0.2.66): unbound pdns.test on 192.0.2.53 (DoT), 198.51.100.0/24
# local (AnyIP) with ztnet.py serve on 7001, SYN counters per source in its
# INPUT. ZT_KEEP_TMP=1 keeps /tmp/zt-PID.

ZT_TMP=/tmp/zt-$$
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"
. "$ZT_LIB_DIR/pdns.sh"

BUILD=$(cd "${1:?usage: t_export.sh BUILD_DIR}" && pwd)
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
[ "$(id -u)" = 0 ] || { not_ok "integration tests need root (network namespaces)"; exit 1; }
for tool in unbound dig tmux setpriv "$ZTD" "$ZTC"; do
	command -v "$tool" >/dev/null || { not_ok "$tool is installed (built)"; exit 1; }
done

A=xa$$
B=xb$$
N=xn$$
PKI=$ZT_TMP/pki
UB=$ZT_TMP/ub
PORT=7001
TMUX_SOCK=zt-top-$$

ctl() { local ns=$1; shift; timeout 10 ip netns exec "$ns" "$ZTC" -s "$ZT_TMP/$ns.sock" "$@"; }
ask() { timeout 8 ip netns exec "$1" dig +short +tries=1 +time=4 @127.0.0.1 "$2" A 2>&1; }
tcp_probe() { timeout 4 ip netns exec "$1" "${ZT_NET[@]}" tcp "$2" $PORT --timeout 1.2 >/dev/null 2>&1; }
src_of() { if [ "$1" = "$A" ]; then echo 192.0.2.1; else echo 192.0.2.65; fi; }
far() { ctr_get "$N" 4 "$(src_of "$1")-$2"; }
# reach WHY NS ADDR / deny WHY NS ADDR: judged at the far end by NS's source
reach() {
	local before after
	before=$(far "$2" "$3")
	if tcp_probe "$2" "$3"; then after=$(far "$2" "$3"); else after=$before; fi
	if [ -n "$after" ] && [ "$after" -gt "${before:-0}" ]; then
		ok "$1: $3 reached from $(src_of "$2") (far end $before -> $after)"
	else
		not_ok "$1: $3 reached from $(src_of "$2")" "far end $before -> $after"
	fi
}
deny() {
	local before after rc=0
	before=$(far "$2" "$3")
	tcp_probe "$2" "$3" && rc=1
	sleep 0.3
	after=$(far "$2" "$3")
	if [ $rc = 0 ] && [ -n "$before" ] && [ "$after" = "$before" ]; then
		ok "$1: $3 denied from $(src_of "$2") (far end stays $after)"
	else
		not_ok "$1: $3 denied from $(src_of "$2")" "probe succeeded: $rc, far end $before -> $after"
	fi
}

conf_write() { # NS QNUM
	cat >"$ZT_TMP/$1.json" <<JSON
{"mode":"host",
 "servers":[{"name":"pdns","protocol":"dot","address":"192.0.2.53","tls_name":"pdns.test","ca_file":"$PKI/ca.pem"}],
 "listen":["127.0.0.1:53"],
 "queue":{"num":$2},
 "control":{"socket":"$ZT_TMP/$1.sock", "uid":65534},
 "ttl":{"max":3600,"grace":30},
 "limits":{"names_per_addr":4},
 "log":{"level":"info"}}
JSON
}

daemon_start() { # NS QNUM
	local ns=$1 out i
	conf_write "$ns" "$2"
	out=$(timeout 5 "$ZTD" --check -c "$ZT_TMP/$ns.json" 2>&1) ||
		{ not_ok "$ns: ztdnsd --check accepts the configuration" "$out"; return 1; }
	bg_start "ztdnsd-$ns" "$ns" "$ZTD" -c "$ZT_TMP/$ns.json" --foreground -v
	eval "PID_$ns=\$BG_PID"
	for ((i = 0; i < 30; i++)); do
		ctl "$ns" wait-ready --timeout 1 >/dev/null 2>&1 && break
		pid_alive "$BG_PID" || break
		sleep 0.2
	done
	if ctl "$ns" wait-ready --timeout 2 >/dev/null 2>&1; then
		ok "$ns: ztdnsd ready"
		return 0
	fi
	not_ok "$ns: ztdnsd ready" "$(tail -n 15 "$ZT_TMP/ztdnsd-$ns.log")"
	return 1
}
tmux_stop() { tmux -L "$TMUX_SOCK" kill-server >/dev/null 2>&1 || true; }
zt_on_cleanup tmux_stop

# ------------------------------------------------------------------ topology

ns_new "$A" && ns_new "$B" && ns_new "$N" || { not_ok "create namespaces"; exit 1; }
ns_veth "$A" a0 "$N" n0 && ns_veth "$B" b0 "$N" n1 || { not_ok "create veth pairs"; exit 1; }
ns_addr "$A" a0 192.0.2.1/26
ns_addr "$B" b0 192.0.2.65/26
ns_addr "$N" n0 192.0.2.2/26
ns_addr "$N" n1 192.0.2.66/26
ns_addr "$N" n0 192.0.2.53/32
ip -n "$A" route add 198.51.100.0/24 via 192.0.2.2
ip -n "$A" route add 192.0.2.53/32 via 192.0.2.2
ip -n "$B" route add 198.51.100.0/24 via 192.0.2.66
ip -n "$B" route add 192.0.2.53/32 via 192.0.2.66
ip -n "$N" route add local 198.51.100.0/24 dev lo
ctr_setup "$N" || { not_ok "far-end counters"; exit 1; }
for s in 192.0.2.1 192.0.2.65; do
	for d in 198.51.100.10 198.51.100.11 198.51.100.30; do
		ctr_add "$N" 4 "$s-$d" -s "$s" -d "$d" -p tcp --dport $PORT --syn
	done
done

bg_start web "$N" "${ZT_NET[@]}" serve --tcp $PORT --udp 7002 --log "$ZT_TMP/web-server.log" --max-seconds 900
wait_for 5 grep -q ready "$ZT_TMP/web-server.log" || { not_ok "web server started"; exit 1; }

pki_init "$PKI"
pki_server "$PKI" pdns ca pdns.test 192.0.2.53
{
	echo "web.test. 600 A 198.51.100.10"
	echo "other.test. 600 A 198.51.100.11"
} >"$ZT_TMP/pdns.data"
mkdir -p "$UB"
pdns_unbound_conf "$UB" 192.0.2.53 "$PKI/pdns.pem" "$PKI/pdns.key" "$ZT_TMP/pdns.data" >"$UB/unbound.conf"
pdns_unbound_start "$N" "$UB" && ZT_PIDS+=("$PDNS_PID") && ZT_PID_LABELS+=("unbound") &&
	pdns_wait_port "$N" 192.0.2.53 853 ||
	{ not_ok "unbound started" "$(cat "$UB/unbound.log")"; exit 1; }
check "baseline: 198.51.100.10 reachable from the standby without ztdnsd" tcp_probe "$B" 198.51.100.10

chmod 711 "$ZT_TMP" # control.uid 65534 reaches its socket
daemon_start "$A" 41 || exit 1
daemon_start "$B" 42 || exit 1

# ================================================================== X1
check_eq "(X1) primary resolves web.test" 198.51.100.10 "$(ask "$A" web.test)"
reach "(X1) primary, after the lookup" "$A" 198.51.100.10
check "(X1) primary: manual allow of 198.51.100.30" ctl "$A" allow 198.51.100.30 --ttl 600
deny "(X1) standby, never resolved there" "$B" 198.51.100.10
deny "(X1) standby" "$B" 198.51.100.30

EXP=$ZT_TMP/export.json
check "(X1) ztdnsctl export FILE" ctl "$A" export "$EXP"
check_eq "(X1) the file is 0600" 600 "$(stat -c %a "$EXP")"
check_eq "(X1) format" ztdns-allowances "$(json_get format <"$EXP")"
check_eq "(X1) version" 1 "$(json_get version <"$EXP")"
check_eq "(X1) two entries" 2 "$("$ZT_PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["entries"]))' "$EXP")"
read -r e_src e_names e_exp <<<"$("$ZT_PY" - "$EXP" <<'PY'
import json, sys, datetime
d = json.load(open(sys.argv[1]))
e = [x for x in d["entries"] if x["addr"] == "198.51.100.10"][0]
t = datetime.datetime.strptime(e["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
left = (t - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
print(e["source"], ",".join(e["names"]), "ok" if 500 < left <= 630 else "bad:%d" % left)
PY
)"
check_eq "(X1) learned entry: source, names, absolute expiry ~TTL+grace from now" \
	"learned web.test ok" "$e_src $e_names $e_exp"
check_eq "(X1) the manual one" manual \
	"$("$ZT_PY" -c 'import json,sys; print([x for x in json.load(open(sys.argv[1]))["entries"] if x["addr"]=="198.51.100.30"][0]["source"])' "$EXP")"
check "(X1) export to stdout is the same document" bash -c \
	"ip netns exec $A $ZTC -s $ZT_TMP/$A.sock export - 2>/dev/null | grep -q '\"ztdns-allowances\"'"

# ================================================================== X2
# forge NAME PYTHON-EXPR: a copy of the export with entries changed by EXPR
# (e: the list of entries; d: the document)
forge() {
	"$ZT_PY" - "$EXP" "$ZT_TMP/$1.json" "$2" <<'PY'
import json, sys, datetime
d = json.load(open(sys.argv[1]))
e = d["entries"]
def at(sec):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=sec)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))
PY
}
refused() { # WHY FILE MESSAGE
	local out rc
	out=$(ctl "$B" import "$2" 2>&1)
	rc=$?
	if [ $rc != 0 ] && grep -q -- "$3" <<<"$out" && ! grep -q '^imported' <<<"$out"; then
		ok "(X2) $1: refused (rc $rc): $(head -n 1 <<<"$out")"
	else
		not_ok "(X2) $1: refused with \"$3\"" "rc $rc" "$out"
	fi
}
forge neverlearn 'e.append(dict(e[0], addr="127.0.0.1", names=["lo.test"]))'
refused "a never-learn address beside a good entry" "$ZT_TMP/neverlearn.json" "entry 2 refused: 127.0.0.1 is loopback"
forge bcast 'e.append(dict(e[0], addr="192.0.2.127", names=["b.test"]))'
refused "the all-ones host of the standby's subnet" "$ZT_TMP/bcast.json" "entry 2 refused: 192.0.2.127 is directed"
forge meta 'e.insert(0, dict(e[0], addr="169.254.169.254", names=["metadata.test"]))'
refused "the cloud metadata address" "$ZT_TMP/meta.json" "entry 0 refused: 169.254.169.254 is link-local"
forge expired 'e[0]["expires"] = at(-5); e[1]["expires"] = at(-5)'
refused "expired entries" "$ZT_TMP/expired.json" "expired at"
forge far 'e[0]["expires"] = at(10 * 86400) if e[0]["source"] == "learned" else e[0]["expires"]; e[1]["expires"] = at(10 * 86400) if e[1]["source"] == "learned" else e[1]["expires"]'
refused "expiry past ttl.max + grace" "$ZT_TMP/far.json" "more than 3630 s from now"
forge badname 'e[0]["names"] = ["bad..name"]'
refused "a bad name" "$ZT_TMP/badname.json" "not a DNS name"
forge version 'd["version"] = 2'
refused "another version" "$ZT_TMP/version.json" '"version" must be 1'
forge scoped 'e[0]["scope"] = "192.0.2.99"'
refused "a client scope on a host" "$ZT_TMP/scoped.json" "no per-client allowances"
forge extra 'e[0]["link"] = 7'
refused "an unknown key" "$ZT_TMP/extra.json" 'unknown key "link"'
out=$(timeout 10 ip netns exec "$B" setpriv --reuid=65534 --regid=65534 --clear-groups "$ZTC" -s "$ZT_TMP/$B.sock" import - <"$EXP" 2>&1)
rc=$?
if [ $rc != 0 ] && grep -q 'import needs root' <<<"$out" && ! grep -q '^imported' <<<"$out"; then
	ok "(X2) not root (control.uid 65534 may connect): refused (rc $rc): $out"
else not_ok "(X2) not root: refused" "rc $rc" "$out"; fi
check_eq "(X2) nothing was imported" 0 "$(ctl "$B" --json status | json_get import.imported)"
check_eq "(X2) the refusals are counted" 1 "$([ "$(ctl "$B" --json status | json_get import.refused)" -ge 9 ] && echo 1)"
check_eq "(X2) the standby's allowset is empty" 0 "$(ctl "$B" --json list | json_get total)"
deny "(X2) after the refused imports" "$B" 198.51.100.10
deny "(X2) after the refused imports" "$B" 198.51.100.30

# ================================================================== X3
out=$(ctl "$B" import "$EXP" 2>&1)
check_eq "(X3) ztdnsctl import: rc 0" "0 imported 2 of 2 allowances" "$? $out"
reach "(X3) standby, after the import" "$B" 198.51.100.10
reach "(X3) standby, the manual allowance" "$B" 198.51.100.30
deny "(X3) standby, a destination in no export" "$B" 198.51.100.11
check_eq "(X3) the standby lists web.test with the imported entry" web.test \
	"$(ctl "$B" --json list --name web.test | json_get entries.0.names)"
check_eq "(X3) status.import.imported" 2 "$(ctl "$B" --json status | json_get import.imported)"
out=$(ctl "$B" import - <"$EXP" 2>&1)
check_eq "(X3) import from stdin, again (a renewal)" "imported 2 of 2 allowances" "$out"

# ================================================================== T1
check_eq "(T1) primary resolves other.test" 198.51.100.11 "$(ask "$A" other.test)"
ctl "$A" revoke 198.51.100.11 >/dev/null
tmux -L "$TMUX_SOCK" new-session -d -s top -x 80 -y 24 \
	"ip netns exec $A $ZTC -s $ZT_TMP/$A.sock top --interval 1; echo top-exit-\$?; sleep 30"
sleep 0.5
for i in 1 2 3; do tcp_probe "$A" 198.51.100.10; done
for i in 1 2; do tcp_probe "$A" 198.51.100.11; done
pane() { tmux -L "$TMUX_SOCK" capture-pane -p -t top 2>/dev/null; }
wait_for 5 bash -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q '198.51.100.11 .*never-resolved'"
P=$(pane)
diag "$P"
check_eq "(T1) the frame fits 80x24" "1 1" \
	"$([ "$(wc -l <<<"$P")" -le 24 ] && echo 1) $(awk 'length > 80 { bad = 1 } END { print bad ? 0 : 1 }' <<<"$P")"
check "(T1) busiest: 198.51.100.10 with 3 accepted" grep -Eq '^198\.51\.100\.10 +3 +0 +web\.test' <<<"$P"
check "(T1) most denied: 198.51.100.11, never-resolved" grep -Eq '^198\.51\.100\.11 +0 +[1-9][0-9]* +never-resolved' <<<"$P"
check "(T1) names: web.test" grep -Eq '^web\.test +3 ' <<<"$P"
check "(T1) users: uid 0 (root)" grep -Eq '^uid 0 \(root\) +[1-9]' <<<"$P"
tmux -L "$TMUX_SOCK" send-keys -t top q
wait_for 3 bash -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q top-exit-0"
check "(T1) q quits top (exit 0)" grep -q top-exit-0 <<<"$(pane)"
tmux_stop

# ================================================================== T2
(sleep 0.5; tcp_probe "$A" 198.51.100.10; tcp_probe "$A" 198.51.100.11) &
gen=$!
out=$(ctl "$A" top --once --interval 2 </dev/null)
rc=$?
wait "$gen"
check_eq "(T2) top --once: rc 0" 0 "$rc"
check "(T2) one frame: both destinations" bash -c \
	"grep -Eq '^198\.51\.100\.10 +[1-9][0-9]* +0 ' <<<'$out' && grep -Eq '^198\.51\.100\.11 +0 +[1-9]' <<<'$out'"
check_eq "(T2) no escape sequences without a terminal" 0 "$(grep -c $'\033' <<<"$out")"
check_eq "(T2) one frame only" 1 "$(grep -c '^ztdns top' <<<"$out")"

for ns in "$A" "$B"; do
	eval "p=\$PID_$ns"
	check "$ns: ztdnsd still running" pid_alive "$p"
done
zt_summary
