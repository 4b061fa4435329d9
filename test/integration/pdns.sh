#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A real Protective DNS server for tests: unbound answering only the names it
# is given (everything else NXDOMAIN, no recursion, no outbound queries), over
# DoT and DoH (HTTP/2) with a certificate from test/integration/pki.sh, and
# optionally plain DNS (for a "rogue" resolver). Run it inside a namespace.
#
#   pdns_unbound_conf DIR ADDR CERT KEY DATAFILE [PLAINPORT] > DIR/unbound.conf
#       ADDR: the address to listen on (DoT 853, DoH 443 at /dns-query)
#       DATAFILE: lines "NAME TTL TYPE VALUE" (e.g. "web.test. 60 A 198.51.100.10")
#   pdns_unbound_start NS DIR     start unbound -d in namespace NS; sets PDNS_PID
#   pdns_wait_port NS ADDR PORT   wait (bounded) until a TCP port listens

pdns_unbound_conf() {
	local dir=$1 addr=$2 cert=$3 key=$4 data=$5 plain=${6:-}
	cat <<CONF
server:
	verbosity: 1
	do-daemonize: no
	username: ""
	chroot: ""
	directory: "$dir"
	pidfile: ""
	use-syslog: no
	logfile: ""
	log-queries: yes
	log-replies: yes
	interface: $addr@853
	interface: $addr@443
CONF
	[ -n "$plain" ] && printf '\tinterface: %s@%s\n' "$addr" "$plain"
	cat <<CONF
	tls-port: 853
	https-port: 443
	http-endpoint: "/dns-query"
	tls-service-pem: "$cert"
	tls-service-key: "$key"
	access-control: 0.0.0.0/0 allow
	access-control: ::/0 allow
	do-ip6: yes
	module-config: "iterator"
	do-not-query-localhost: yes
	incoming-num-tcp: 256
	num-threads: 1
	local-zone: "." static
CONF
	while read -r name ttl type value; do
		[ -z "$name" ] && continue
		case "$name" in \#*) continue ;; esac
		printf '\tlocal-data: "%s %s IN %s %s"\n' "$name" "$ttl" "$type" "$value"
	done <"$data"
}

pdns_unbound_start() {
	local ns=$1 dir=$2
	unbound-checkconf "$dir/unbound.conf" >/dev/null || return 1
	ip netns exec "$ns" unbound -d -c "$dir/unbound.conf" >"$dir/unbound.log" 2>&1 &
	PDNS_PID=$!
}

pdns_wait_port() {
	local ns=$1 addr=$2 port=$3 i
	for i in $(seq 1 50); do
		if ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -qF "$addr"; then
			return 0
		fi
		sleep 0.1
	done
	echo "pdns: nothing listens on $addr:$port in $ns" >&2
	return 1
}
