#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Audit mode: every would-deny is accepted (the far end sees it) and logged
# with its reason, and `ztdnsctl audit-report` aggregates the events and
# proposes an exceptions block that `ztdnsd --check` accepts; `audit-report
# --config` writes the whole configuration with it, which a daemon enforcing
# then runs: the audited destinations still work, others are denied.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=$(cd "${1:?usage: t_audit.sh BUILD_DIR}" && pwd)
ZTD=$BUILD/ztdnsd
ZTC=$BUILD/ztdnsctl
C=ztac$$
S=ztas$$
W=$ZT_TMP
SOCK=$W/ctl.sock

ns_new "$C"
ns_new "$S"
ns_veth "$C" vc "$S" vs
ip -n "$C" addr add 192.0.2.1/24 dev vc
ip -n "$S" addr add 192.0.2.2/24 dev vs
ip -n "$S" addr add 198.51.100.7/32 dev vs
ip -n "$S" addr add 198.51.100.9/32 dev vs
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.2
bg_start srv "$S" "${ZT_NET[@]}" serve --tcp 8080 --udp 8081 --log "$W/srv.log"
wait_for 5 bash -c "ip netns exec $S ss -Hltn 'sport = :8080' | grep -q 8080"
ctr_setup "$S"
ctr_add "$S" 4 syn7 -d 198.51.100.7 -p tcp --dport 8080 --syn
ctr_add "$S" 4 syn9 -d 198.51.100.9 -p tcp --dport 8080 --syn

cat >"$W/ztdns.json" <<JSON
{"mode": "host", "enforce": false,
 "servers": [{"protocol": "dot", "address": "203.0.113.53", "tls_name": "pdns.test"}],
 "listen": ["127.0.0.1:5353"],
 "control": {"socket": "$SOCK"},
 "log": {"verdicts": true, "verdict_file": "$W/verdicts.log"}}
JSON
ip netns exec "$C" "$ZTD" -f -c "$W/ztdns.json" >"$W/daemon.log" 2>&1 &
ZT_PIDS+=($!)
DPID=$!
check "daemon ready (audit mode)" ns_exec "$C" "$ZTC" -s "$SOCK" wait-ready --timeout 10

probe() { ns_exec "$C" setpriv --reuid="$2" --regid="$2" --clear-groups "${ZT_NET[@]}" tcp "$1" 8080 --timeout 2 >/dev/null 2>&1; }
for i in 1 2 3; do probe 198.51.100.7 65534; done
probe 198.51.100.9 0
check_eq "never-resolved destinations are reached in audit mode (far end)" 3 "$(ctr_get "$S" 4 syn7)"
check_eq "and the other one" 1 "$(ctr_get "$S" 4 syn9)"
wait_for 3 grep -q '198.51.100.9' "$W/verdicts.log"
check "verdict log: accept with would-deny:never-resolved" \
	grep -q '"verdict":"accept","reason":"would-deny:never-resolved".*"dst":"198.51.100.7".*"uid":65534' "$W/verdicts.log"
st=$(ns_exec "$C" "$ZTC" -s "$SOCK" status --json)
check_eq "status counts 4 would-deny" 4 "$(json_get verdicts.would_deny <<<"$st")"

rep=$(ns_exec "$C" "$ZTC" -s "$SOCK" audit-report --json)
check_eq "report: most hits first" "198.51.100.7" "$(json_get entries.0.dst <<<"$rep")"
check_eq "report: count" 3 "$(json_get entries.0.count <<<"$rep")"
check_eq "report: uid" 65534 "$(json_get entries.0.uid <<<"$rep")"
check_eq "report: port and proto" "8080/tcp" "$(json_get entries.0.port <<<"$rep")/$(json_get entries.0.proto <<<"$rep")"
check_eq "report: reason" "never-resolved" "$(json_get entries.0.reason <<<"$rep")"
check_eq "report: one exception per destination" '["198.51.100.7/32", "198.51.100.9/32"]' \
	"$(json_get proposed_exceptions <<<"$rep")"
agg=$(ns_exec "$C" "$ZTC" -s "$SOCK" audit-report --aggregate --json)
check_eq "aggregated to /24" '["198.51.100.0/24"]' "$(json_get proposed_exceptions <<<"$agg")"
# The proposed block, merged into the config, is a valid configuration.
txt=$(ns_exec "$C" "$ZTC" -s "$SOCK" audit-report)
check "human report shows the block" grep -q '"exceptions"' <<<"$txt"
# audit-report --config: the whole running configuration with the proposal.
check "audit-report --config FILE" ns_exec "$C" "$ZTC" -s "$SOCK" audit-report --config "$W/full.json"
check_eq "the file is 0600" 600 "$(stat -c %a "$W/full.json")"
check "the written configuration passes ztdnsd --check" "$ZTD" --check -c "$W/full.json"
"$ZTD" --check -v -c "$W/ztdns.json" >"$W/canonical.json" 2>"$W/canonical.err"
check_eq "every key of the canonical configuration, same values but the exceptions" "same" \
	"$("$ZT_PY" - "$W/canonical.json" "$W/full.json" <<'PY'
import json, sys
def load(f):
    text = open(f).read()
    return json.JSONDecoder().raw_decode(text[text.index("{"):])[0]
a, b = load(sys.argv[1]), load(sys.argv[2])
def paths(o, p=""):
    if isinstance(o, dict):
        for k, v in o.items():
            yield from paths(v, p + "." + k)
    else:
        yield p, o
pa, pb = dict(paths(a)), dict(paths(b))
diff = sorted(k for k in set(pa) | set(pb) if k != ".exceptions" and pa.get(k, "<absent>") != pb.get(k, "<absent>"))
print("same" if not diff and len(pa) >= 40 else "differ: %s (%d keys)" % (diff[:5], len(pa)))
PY
)" || diag "$(head -c 600 "$W/canonical.json")" "$(cat "$W/canonical.err")"
check_eq "the proposal is the exception group audit-report" \
	'[{"name": "audit-report", "subnets": ["198.51.100.7/32", "198.51.100.9/32"]}]' \
	"$(json_get exceptions <"$W/full.json")"
check "stdout when no file is given" bash -c \
	"ip netns exec $C $ZTC -s $SOCK audit-report --config 2>/dev/null | grep -q '\"audit-report\"'"
check_eq "a file without --config is a usage error" 64 \
	"$(ns_exec "$C" "$ZTC" -s "$SOCK" audit-report "$W/x.json" >/dev/null 2>&1; echo $?)"
"$ZT_PY" - "$W/full.json" "$W/enforce.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["enforce"] = True
json.dump(c, open(sys.argv[2], "w"))
PY
check "with enforce: true it passes ztdnsd --check" "$ZTD" --check -c "$W/enforce.json"

# Enforcing with the proposed exceptions: the audited flows still work, a
# new destination does not.
bg_stop "$DPID" TERM 10
ip -n "$S" addr add 198.51.100.11/32 dev vs
ctr_add "$S" 4 syn11 -d 198.51.100.11 -p tcp --dport 8080 --syn
ip netns exec "$C" "$ZTD" -f -c "$W/enforce.json" >>"$W/daemon.log" 2>&1 &
ZT_PIDS+=($!)
check "daemon ready (enforcing)" ns_exec "$C" "$ZTC" -s "$SOCK" wait-ready --timeout 10
check "an audited destination works under its exception" probe 198.51.100.9 0
check_fail "a destination never seen in audit is denied" probe 198.51.100.11 0
check_eq "far end saw nothing of it" 0 "$(ctr_get "$S" 4 syn11)"
check "explain names the exception" bash -c "ip netns exec $C $ZTC -s $SOCK explain 198.51.100.9 --port 8080 | grep -q 'exception.*198.51.100.9/32'"
check_eq "explain: the Protective DNS server on its port is infra" infra \
	"$(ns_exec "$C" "$ZTC" -s "$SOCK" explain 203.0.113.53 --port 853 --json | json_get reason)"
check_eq "explain: the same address on another port is not" never-resolved \
	"$(ns_exec "$C" "$ZTC" -s "$SOCK" explain 203.0.113.53 --port 53 --json | json_get reason)"
