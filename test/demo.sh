#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The demo lab: installs what is needed, builds, and shows ztdns at work in
# two network namespaces. Nothing leaves this machine; everything it creates
# is removed on exit.
#
#   client ns: ztdnsd (host mode), its DNS stub on 127.0.0.1:53
#        |  veth
#   net ns:    Protective DNS server (unbound, DoH on 192.0.2.53:443, with a
#              certificate from a test CA, pinned by ztdnsd), web servers on
#              198.51.100.10 (web.test) and 198.51.100.99 (no name: "hard-coded")
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash test/setup.sh
bash test/build.sh "$top/build"
. test/integration/pki.sh
. test/integration/pdns.sh

C=ztdemo-c$$
N=ztdemo-n$$
work=$(mktemp -d /tmp/ztdemo.XXXXXX)
cleanup() {
	for ns in "$C" "$N"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
	done
	sleep 0.3
	ip netns del "$C" 2>/dev/null || true
	ip netns del "$N" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
inc() { ip netns exec "$C" "$@"; }
ctl() { inc "$top/build/ztdnsctl" -s "$work/ctl.sock" "$@"; }

ip netns add "$C"
ip netns add "$N"
ip link add ztd-c netns "$C" type veth peer name ztd-n netns "$N"
ip -n "$C" addr add 192.0.2.1/24 dev ztd-c
ip -n "$N" addr add 192.0.2.53/24 dev ztd-n
ip -n "$N" addr add 198.51.100.10/32 dev ztd-n
ip -n "$N" addr add 198.51.100.99/32 dev ztd-n
for ns in "$C" "$N"; do ip -n "$ns" link set lo up; done
ip -n "$C" link set ztd-c up
ip -n "$N" link set ztd-n up
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.53

say "a Protective DNS server: unbound over DoH, resolving only web.test"
pki_init "$work"
pki_server "$work" pdns ca pdns.test 192.0.2.53
printf 'web.test. 60 A 198.51.100.10\n' >"$work/names"
pdns_unbound_conf "$work" 192.0.2.53 "$work/pdns.pem" "$work/pdns.key" "$work/names" \
	>"$work/unbound.conf"
pdns_unbound_start "$N" "$work"
pdns_wait_port "$N" 192.0.2.53 443
cat "$work/names"

for a in 198.51.100.10 198.51.100.99; do
	ip netns exec "$N" timeout 300 socat TCP-LISTEN:80,bind=$a,fork,reuseaddr \
		SYSTEM:"echo hello from $a" \
		>/dev/null 2>&1 &
done

pin=$(pki_spki "$work/pdns.pem")
cat >"$work/ztdns.json" <<JSON
{
  "mode": "host",
  "servers": [{"name": "pdns", "protocol": "doh",
               "url": "https://pdns.test/dns-query", "bootstrap": ["192.0.2.53"],
               "ca_file": "$work/ca.pem", "spki_pins": ["$pin"]}],
  "control": {"socket": "$work/ctl.sock"},
  "log": {"verdicts": true, "format": "text", "verdict_file": "$work/verdicts.log"}
}
JSON
say "configuration"
cat "$work/ztdns.json"
"$top/build/ztdnsd" --check -c "$work/ztdns.json"

say "starting ztdnsd in the client namespace"
inc "$top/build/ztdnsd" -f -c "$work/ztdns.json" 2>"$work/daemon.log" &
ctl wait-ready --timeout 10
inc iptables -S ZTDNS-OUT

fetch() { inc timeout 4 socat -T3 - "TCP:$1:80,connect-timeout=3" </dev/null 2>/dev/null | tail -n 1; }

say "an allowed name: resolve web.test through the stub, then connect"
inc dig +short +time=3 +tries=1 @127.0.0.1 web.test A
fetch 198.51.100.10

say "a hard-coded IP (198.51.100.99) that no answer proved: blocked"
fetch 198.51.100.99 || true
echo "-> $(ctl explain 198.51.100.99 --port 80)"

say "a name the Protective DNS server does not resolve"
inc dig +time=3 +tries=1 @127.0.0.1 tracker.test A | grep -E 'status:' || true

say "what ztdns allowed, and why"
ctl list

say "the verdict log"
sleep 0.3
cat "$work/verdicts.log"

say "status"
ctl status
