# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# lib.sh — shared helpers for the ztdns integration tests (root, network
# namespaces). Source it from a t_*.sh; it installs the EXIT/INT/TERM trap.
#
# What it gives a test:
#   assertions   ok / not_ok / check / check_fail / check_eq / zt_summary
#   namespaces   ns_new NAME (torn down on every exit path), ns_exec, ns_veth
#   processes    bg_start LABEL NS CMD... (pid kept, killed at exit), bg_stop
#   waiting      wait_for SECONDS CMD...  (bounded polling, 0.1 s step)
#   counters     ctr_setup NS, ctr_add NS 4|6 NAME MATCH..., ctr_get NS 4|6 NAME
#                (iptables counters in the INPUT path of the far end: what
#                really arrived, not what the client believed)
#   rulesets     ruleset_save NS (iptables-save + ip6tables-save, '#' lines
#                stripped, built-in chain counters zeroed), nft_save NS, for
#                before/after comparisons
#   helper       ${ZT_NET[@]}: ztnet.py (responder, probes, streams, benches)
#
# Rules (DESIGN.md, "Test network rules"): everything lives in namespaces the
# test created; only documentation ranges and loopback; no default route; every
# loop bounded; nothing on the host's own ruleset.

set -u -o pipefail

ZT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ZT_PASS=0
ZT_FAIL=0
ZT_NAMESPACES=()
ZT_PIDS=()
ZT_PID_LABELS=()
ZT_CLEANUP_HOOKS=()
ZT_TMP=${ZT_TMP:-/tmp/zt-$$}
ZT_KEEP_TMP=${ZT_KEEP_TMP:-0}   # 1: keep $ZT_TMP (logs) after the run
# ZT_KEEP_ON_FAIL=1: keep it only when an assertion failed
mkdir -p "$ZT_TMP"

# The real interpreter, not a version-manager shim: ns_exec runs it often and
# a shim costs tens of milliseconds per start.
ZT_PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3)
# shellcheck disable=SC2034 # used by the tests that source this file
ZT_NET=("$ZT_PY" "$ZT_LIB_DIR/ztnet.py")

# ---------------------------------------------------------------- assertions

ok() { ZT_PASS=$((ZT_PASS + 1)); echo "ok - $*"; }

# not_ok MSG [DETAIL...]: DETAIL lines are printed indented, as diagnostics.
not_ok() {
	ZT_FAIL=$((ZT_FAIL + 1))
	echo "not ok - $1"
	shift
	local d
	for d in "$@"; do
		[ -n "$d" ] && printf '%s\n' "$d" | sed 's/^/#   /'
	done
	return 0
}

# check MSG CMD...: passes when CMD exits 0; CMD's output is shown on failure.
check() {
	local msg=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then ok "$msg"; else not_ok "$msg" "command: $* (exit $rc)" "$out"; fi
	return $rc
}

# check_fail MSG CMD...: passes when CMD exits non-zero.
check_fail() {
	local msg=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then ok "$msg"; return 0; fi
	not_ok "$msg" "command unexpectedly succeeded: $*" "$out"
	return 1
}

check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; return 0; fi
	not_ok "$1" "expected: $2" "got:      $3"
	return 1
}

# Print the final line ctest and humans read; return the exit status.
zt_summary() {
	echo "$ZT_PASS passed, $ZT_FAIL failed"
	[ "$ZT_FAIL" -eq 0 ]
}

diag() { printf '%s\n' "$*" | sed 's/^/# /'; }

# ---------------------------------------------------------------- waiting

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds (0) or
# SECONDS have passed (1) — bounded both in iterations and in wall time, even
# when CMD itself is slow.
wait_for() {
	local secs=$1 i n deadline
	shift
	n=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 10 }')
	[ "$n" -lt 1 ] && n=1
	deadline=$(($(date +%s%N) + n * 100000000))
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s%N)" -ge "$deadline" ] && break
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------- namespaces

ns_new() {
	ip netns add "$1" || return 1
	ZT_NAMESPACES+=("$1")
	ip -n "$1" link set lo up
	# A fresh namespace has no default route; keep it so.
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
		net.ipv6.conf.default.accept_ra=0 >/dev/null 2>&1
	return 0
}

ns_exec() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# ns_veth NS_A IF_A NS_B IF_B: a veth pair created directly inside NS_A with
# its peer moved to NS_B — the host's namespace never sees either end.
ns_veth() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" || return 1
	ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

# ns_addr NS IF ADDR/PLEN: IPv6 addresses get nodad so tests never wait on DAD.
ns_addr() {
	case $3 in
	*:*) ip -n "$1" -6 addr add "$3" dev "$2" nodad ;;
	*) ip -n "$1" addr add "$3" dev "$2" ;;
	esac
}

# ---------------------------------------------------------------- processes

# bg_start LABEL NS CMD...: start CMD in NS in the background, stdout and
# stderr to $ZT_TMP/LABEL.log; sets BG_PID. `ip netns exec` execs in place, so
# BG_PID is the command itself.
bg_start() {
	local label=$1 ns=$2
	shift 2
	ip netns exec "$ns" "$@" >"$ZT_TMP/$label.log" 2>&1 &
	BG_PID=$!
	ZT_PIDS+=("$BG_PID")
	ZT_PID_LABELS+=("$label")
	return 0
}

# pid_alive PID: running (a zombie waiting to be reaped counts as gone).
pid_alive() {
	[ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}
pid_gone() { ! pid_alive "$1"; }

# bg_stop PID [SIGNAL] [SECONDS]: signal, wait (bounded), then SIGKILL.
# Returns the exit status of PID when it was ours, 255 if it had to be killed.
bg_stop() {
	local pid=$1 sig=${2:-TERM} secs=${3:-5} rc
	pid_alive "$pid" || { wait "$pid" 2>/dev/null; return $?; }
	kill -s "$sig" "$pid" 2>/dev/null
	if ! wait_for "$secs" pid_gone "$pid"; then
		kill -s KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 255
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	return $rc
}

# ---------------------------------------------------------------- counters

# Counting rules live in a ZTCOUNT chain jumped to first from INPUT, v4 and v6.
# They carry no target, so every rule that matches counts and the packet goes
# on to the normal INPUT path untouched.
ctr_setup() {
	local t
	for t in iptables ip6tables; do
		ns_exec "$1" "$t" -w 5 -N ZTCOUNT || return 1
		ns_exec "$1" "$t" -w 5 -I INPUT 1 -j ZTCOUNT || return 1
	done
}

_ipt() { if [ "$1" = 6 ]; then echo ip6tables; else echo iptables; fi; }

# ctr_add NS 4|6 NAME MATCH...
ctr_add() {
	local ns=$1 t
	t=$(_ipt "$2")
	local name=$3
	shift 3
	ns_exec "$ns" "$t" -w 5 -A ZTCOUNT "$@" -m comment --comment "$name"
}

# ctr_get NS 4|6 NAME: packet count of the rule NAME (empty on error).
ctr_get() {
	local t
	t=$(_ipt "$2")
	ns_exec "$1" "$t" -w 5 -L ZTCOUNT -v -x -n 2>/dev/null |
		awk -v c="/* $3 */" 'index($0, c) { print $1; exit }'
}

# ctr_dump NS: every counter, for diagnostics.
ctr_dump() {
	ns_exec "$1" iptables -w 5 -L ZTCOUNT -v -x -n 2>&1
	ns_exec "$1" ip6tables -w 5 -L ZTCOUNT -v -x -n 2>&1
}

# ---------------------------------------------------------------- rulesets

# ruleset_save NS: the v4 then v6 iptables-save text with the '#' comment
# lines removed and built-in chain counters zeroed (":INPUT ACCEPT [12:3456]"
# moves with traffic under the legacy backend; rule counters are not printed
# without -c). Everything else must match byte for byte.
ruleset_save() {
	local t
	for t in iptables ip6tables; do
		echo "=== $t-save"
		ns_exec "$1" "$t-save" | grep -v '^#' |
			sed -E 's/^(:[^ ]+ [^ ]+) \[[0-9]+:[0-9]+\]$/\1 [0:0]/'
	done
}

# ruleset_nat_unrelated NS: an unrelated rule in the nat OUTPUT chain of
# each family, so that the nat tables exist before the daemon jumps from
# them (intercept_dns, ZTDNS-LDNS): the kernel's base chains stay after
# the removal, which iptables cannot delete; what must go is every rule of
# ours, and "as before" then compares rules.
ruleset_nat_unrelated() {
	ns_exec "$1" iptables -w 5 -t nat -A OUTPUT -d 203.0.113.99 -j RETURN &&
		ns_exec "$1" ip6tables -w 5 -t nat -A OUTPUT -d 2001:db8:ffff::99 -j RETURN
}

# nft_save NS: the whole nf_tables ruleset of NS (tables iptables-save does
# not show, e.g. a native nft fast path, would appear here).
nft_save() { ns_exec "$1" nft list ruleset 2>&1; }

# ---------------------------------------------------------------- teardown

zt_on_cleanup() { ZT_CLEANUP_HOOKS+=("$*"); }

zt_cleanup() {
	local i ns pid
	for ((i = ${#ZT_CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${ZT_CLEANUP_HOOKS[$i]}" >/dev/null 2>&1
	done
	for pid in "${ZT_PIDS[@]}"; do
		pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${ZT_PIDS[@]}"; do
		if pid_alive "$pid"; then
			wait_for 3 pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	done
	# Anything still running inside our namespaces was started by us
	# (children of our commands): end it by pid before deleting them.
	for ns in "${ZT_NAMESPACES[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
	done
	for ns in "${ZT_NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ "$ZT_KEEP_TMP" = 1 ] || { [ "$ZT_FAIL" -gt 0 ] && [ "${ZT_KEEP_ON_FAIL:-0}" = 1 ]; }; then
		echo "# logs kept in $ZT_TMP" >&2
	else
		rm -rf "$ZT_TMP"
	fi
}

_zt_exit() {
	local rc=$?
	trap - EXIT INT TERM
	zt_cleanup
	if [ -n "${ZT_ABORTED:-}" ]; then
		echo "not ok - aborted by signal $ZT_ABORTED"
		ZT_FAIL=$((ZT_FAIL + 1))
	fi
	zt_summary
	local srv=$?
	[ $rc -eq 0 ] && rc=$srv
	[ "$ZT_FAIL" -gt 0 ] && [ $rc -eq 0 ] && rc=1
	exit $rc
}

trap _zt_exit EXIT
trap 'ZT_ABORTED=INT; exit 130' INT
trap 'ZT_ABORTED=TERM; exit 143' TERM

# ---------------------------------------------------------------- client side
# (added for t_dns.sh; the functions above are unchanged)

# Counters in the raw table's OUTPUT chain of a namespace: it sees every
# locally generated packet before the filter table, so before any ztdns
# verdict. Compared with the far end's INPUT counters (ctr_*), it tells a SYN
# sent once and let through from one dropped on the way and retransmitted.
#   ctr_out_setup NS, ctr_out_add NS 4|6 NAME MATCH..., ctr_out_get NS 4|6 NAME
ctr_out_setup() {
	local t
	for t in iptables ip6tables; do
		ns_exec "$1" "$t" -w 5 -t raw -N ZTOUTCOUNT || return 1
		ns_exec "$1" "$t" -w 5 -t raw -I OUTPUT 1 -j ZTOUTCOUNT || return 1
	done
}

ctr_out_add() {
	local ns=$1 t
	t=$(_ipt "$2")
	local name=$3
	shift 3
	ns_exec "$ns" "$t" -w 5 -t raw -A ZTOUTCOUNT "$@" -m comment --comment "$name"
}

ctr_out_get() {
	local t
	t=$(_ipt "$2")
	ns_exec "$1" "$t" -w 5 -t raw -L ZTOUTCOUNT -v -x -n 2>/dev/null |
		awk -v c="/* $3 */" 'index($0, c) { print $1; exit }'
}

# json_get PATH < JSON: the value at a dotted path ("dns.servers.0.name");
# strings are printed bare, anything else as JSON; "<absent>" when missing,
# "<error>" when stdin is not JSON.
json_get() {
	"$ZT_PY" -c '
import json, sys
try:
    o = json.load(sys.stdin)
except ValueError:
    print("<error>"); sys.exit(0)
for k in sys.argv[1].split("."):
    if isinstance(o, list):
        try:
            o = o[int(k)]
        except (ValueError, IndexError):
            o = None
    elif isinstance(o, dict):
        o = o.get(k)
    else:
        o = None
    if o is None:
        break
print("<absent>" if o is None else o if isinstance(o, str) else json.dumps(o))' "$1"
}

# nginx_start LABEL NS DIR CONF: nginx in the foreground in NS, prefix DIR,
# error log DIR/LABEL-error.log; sets BG_PID (the master; TERM ends the
# workers too). Returns 1 when the configuration is refused.
nginx_start() {
	local label=$1 ns=$2 dir=$3 conf=$4
	ns_exec "$ns" nginx -t -q -p "$dir" -c "$conf" -e "$dir/$label-error.log" || return 1
	bg_start "$label" "$ns" nginx -p "$dir" -c "$conf" -e "$dir/$label-error.log" -g 'daemon off;'
}

# ---------------------------------------------------------------- far-end judged probes
# For tests that define `probe PROTO ADDR` (exit 0 when the client got its
# answer) and count PROTO-ADDR at the far end (ctr_add "$ZT_FAR_NS" ...).
# expect_reach WHY PROTO ADDR: the probe succeeds AND the far end counted it.
# expect_deny WHY PROTO ADDR: the probe fails AND the far end's counter did not
# move (read again after a grace period, for late packets).
# A test may define its own (older tests do); these are used by new ones.
ZT_FAR_NS=${ZT_FAR_NS:-}
_zt_fam() { case $1 in *:*) echo 6 ;; *) echo 4 ;; esac; }

zt_expect_reach() {
	local why=$1 proto=$2 addr=$3 before after out rc
	before=$(ctr_get "$ZT_FAR_NS" "$(_zt_fam "$addr")" "$proto-$addr")
	out=$(probe "$proto" "$addr" 2>&1)
	rc=$?
	after=$(ctr_get "$ZT_FAR_NS" "$(_zt_fam "$addr")" "$proto-$addr")
	if [ $rc -eq 0 ] && [ -n "$after" ] && [ "$after" -gt "${before:-0}" ]; then
		ok "$why: $proto to $addr reaches the server (counter $before -> $after)"
		return 0
	fi
	not_ok "$why: $proto to $addr reaches the server" "probe exit $rc, server counter $before -> $after" "$out"
	return 1
}

zt_expect_deny() {
	local why=$1 proto=$2 addr=$3 before after out rc
	before=$(ctr_get "$ZT_FAR_NS" "$(_zt_fam "$addr")" "$proto-$addr")
	out=$(probe "$proto" "$addr" 2>&1)
	rc=$?
	sleep 0.3
	after=$(ctr_get "$ZT_FAR_NS" "$(_zt_fam "$addr")" "$proto-$addr")
	if [ $rc -ne 0 ] && [ -n "$before" ] && [ "$after" = "$before" ]; then
		ok "$why: $proto to $addr denied (server counter stays $after)"
		return 0
	fi
	not_ok "$why: $proto to $addr denied" "probe exit $rc, server counter $before -> $after" "$out"
	return 1
}
