#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The shipped bash completion (packaging/bash-completion/ztdnsctl) against
# the built ztdnsctl: what it offers, and that everything it offers is
# accepted (no usage error, rc 64) by ztdnsctl for that command.
#   completion.sh BUILD_DIR
set -u
BUILD=$(cd "${1:?usage: completion.sh BUILD_DIR}" && pwd)
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=$BUILD:$PATH
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# shellcheck source=/dev/null
. "$TOP/packaging/bash-completion/ztdnsctl"

complete_line() { # words...: COMPREPLY for the last word
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_ztdnsctl
	printf '%s\n' "${COMPREPLY[@]}"
}
has() { grep -qx -- "$1" <<<"$2"; }

out=$(complete_line ztdnsctl "")
for c in $(ztdnsctl --complete commands); do
	if has "$c" "$out"; then ok; else bad "command $c not offered"; fi
	if ztdnsctl --help | grep -q "^  $c\b"; then ok; else bad "command $c not in --help"; fi
done
has status "$(complete_line ztdnsctl sta)" && ok || bad "sta -> status"
has watch "$(complete_line ztdnsctl -s /x/ctl.sock wa)" && ok || bad "-s SOCK wa -> watch"
has never-resolved "$(complete_line ztdnsctl watch --reason nev)" && ok || bad "reason"
has reject "$(complete_line ztdnsctl watch --verdict "")" && ok || bad "reject not offered"
has deny "$(complete_line ztdnsctl watch --verdict "")" && bad "deny offered" || ok
has icmpv6 "$(complete_line ztdnsctl watch --proto '')" && ok || bad "watch icmpv6"
has icmpv6 "$(complete_line ztdnsctl explain 192.0.2.1 --proto '')" && bad "explain icmpv6" || ok
has --ttl "$(complete_line ztdnsctl status --)" && bad "status --ttl offered" || ok
[ "$(ztdnsctl --complete reasons | wc -l)" -ge 10 ] && ok || bad "reasons list"

# Every option offered for a command is one ztdnsctl accepts there.
declare -A pos=([allow]=192.0.2.1 [revoke]=192.0.2.1 [explain]=192.0.2.1 [break-glass]=90s
	[import]=x.json)
declare -A val=([--ttl]=60 [--port]=443 [--proto]=tcp [--from]=192.0.2.2 [--timeout]=1
	[--client]=self [--verdict]=drop [--reason]=never-resolved [--addr]=192.0.2.3
	[--count]=1 [--name]=web.test [--interval]=1)
for c in $(ztdnsctl --complete commands); do
	for o in $(complete_line ztdnsctl "$c" --); do
		args=("$c")
		[ -n "${pos[$c]:-}" ] && args+=("${pos[$c]}")
		args+=("$o")
		[ -n "${val[$o]:-}" ] && args+=("${val[$o]}")
		[ "$c" = break-glass ] && [ "$o" != --reason ] && args+=(--reason x)
		ztdnsctl -s /nonexistent/ctl.sock "${args[@]}" >/dev/null 2>&1
		rc=$?
		if [ "$rc" != 64 ]; then ok; else bad "ztdnsctl ${args[*]}: usage error"; fi
	done
	# and one it does not offer is refused with 64
	ztdnsctl -s /nonexistent/ctl.sock "$c" --bogus-option >/dev/null 2>&1
	[ $? = 64 ] && ok || bad "$c --bogus-option not rc 64"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
