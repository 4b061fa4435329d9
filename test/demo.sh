#!/usr/bin/env bash
# The demo lab: installs what is needed, builds, and shows ztdns enforcing in
# a pair of network namespaces. Nothing leaves this machine; everything it
# creates is removed on exit.
#   client ns (ztdnsd, host mode)  <-veth->  server ns (web servers)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash test/setup.sh
bash test/build.sh "$top/build"

C=ztdemo-c$$
S=ztdemo-s$$
work=$(mktemp -d /tmp/ztdemo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	# Whatever still runs inside our namespaces (servers' children).
	for ns in "$C" "$S"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
	done
	sleep 0.3
	ip netns del "$C" 2>/dev/null || true
	ip netns del "$S" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
inc() { ip netns exec "$C" "$@"; }

ip netns add "$C"
ip netns add "$S"
ip link add ztd-c netns "$C" type veth peer name ztd-s netns "$S"
ip -n "$C" addr add 192.0.2.1/24 dev ztd-c
ip -n "$S" addr add 192.0.2.2/24 dev ztd-s
ip -n "$S" addr add 198.51.100.80/32 dev ztd-s
ip -n "$S" addr add 203.0.113.80/32 dev ztd-s
for ns in "$C" "$S"; do ip -n "$ns" link set lo up; done
ip -n "$C" link set ztd-c up
ip -n "$S" link set ztd-s up
ip -n "$C" route add 198.51.100.0/24 via 192.0.2.2
ip -n "$C" route add 203.0.113.0/24 via 192.0.2.2

for a in 198.51.100.80 203.0.113.80; do
	ip netns exec "$S" timeout 120 socat TCP-LISTEN:80,bind=$a,fork,reuseaddr \
		SYSTEM:"printf 'HTTP/1.0 200 OK\\r\\n\\r\\nhello from $a\\n'" >/dev/null 2>&1 &
	pids+=($!)
done

cat >"$work/ztdns.json" <<JSON
{
  "mode": "host",
  "servers": [{"name": "pdns", "protocol": "dot", "address": "192.0.2.53",
               "tls_name": "pdns.test"}],
  "exceptions": ["203.0.113.0/24"],
  "control": {"socket": "$work/ctl.sock"},
  "log": {"verdicts": true, "format": "text", "verdict_file": "$work/verdicts.log"}
}
JSON
say "configuration"
cat "$work/ztdns.json"
"$top/build/ztdnsd" --check -c "$work/ztdns.json"

say "starting ztdnsd in the client namespace"
inc "$top/build/ztdnsd" -f -c "$work/ztdns.json" 2>"$work/daemon.log" &
pids+=($!)
inc "$top/build/ztdnsctl" -s "$work/ctl.sock" wait-ready --timeout 10
inc iptables -S ZTDNS-OUT

fetch() { inc timeout 3 socat -T2 - "TCP:$1:80,connect-timeout=2" </dev/null 2>/dev/null | tail -n 1; }

say "a hard-coded IP (198.51.100.80) that no Protective DNS answer allowed"
fetch 198.51.100.80 || true
echo "-> blocked: $(inc "$top/build/ztdnsctl" -s "$work/ctl.sock" explain 198.51.100.80 --port 80)"

say "an exception subnet (203.0.113.0/24)"
fetch 203.0.113.80

say "an operator allow for 60 s (ztdnsctl allow), then the same IP"
inc "$top/build/ztdnsctl" -s "$work/ctl.sock" allow 198.51.100.80 --ttl 60
fetch 198.51.100.80
inc "$top/build/ztdnsctl" -s "$work/ctl.sock" list

say "revoked again"
inc "$top/build/ztdnsctl" -s "$work/ctl.sock" revoke 198.51.100.80
fetch 198.51.100.80 || echo "(no answer: blocked)"

say "the verdict log"
sleep 0.2
cat "$work/verdicts.log"

say "status"
inc "$top/build/ztdnsctl" -s "$work/ctl.sock" status
