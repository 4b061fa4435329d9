#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Install every build and test dependency of ztdns on Debian 12, idempotently.
# Run as root. Installs nothing that is already there; never starts services.
set -euo pipefail

PACKAGES=(
	# build
	build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
	libnetfilter-queue-dev libmnl-dev libev-dev libjansson-dev libssl-dev
	libcurl4-openssl-dev liburcu-dev libcap-ng-dev libseccomp-dev
	libmicrohttpd-dev
	# integration tests: namespaces, rules, traffic
	iproute2 iptables nftables ipset conntrack socat ncat iputils-ping python3 procps
	tcpdump valgrind
	# the Protective DNS lab: a real DoH/DoT server, an mTLS terminator, clients
	unbound openssl curl bind9-dnsutils nginx libnginx-mod-stream
	# packaging checks (t_packaging.sh: YAML) and capabilities (t_sidecar.sh)
	python3-yaml libcap2-bin
	# promtool (metrics lint: unit.stats_promtool, t_ops.sh)
	prometheus
	# log rotation of the verdict file (t_lifecycle.sh: SIGUSR1)
	logrotate
	# a terminal for ztdnsctl top (t_export.sh: capture-pane)
	tmux
	# the Debian package, its unit and man pages (t_packaging.sh)
	debhelper dpkg-dev lintian man-db adduser systemd
	# benchmarks (test/bench/run.sh): plots, DNS load, the peers of figure H3
	gnuplot-nox dnsperf dnsdist jq
)

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (it installs Debian packages)" >&2
	exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Packages with daemons must not start them on the host.
	policy=/usr/sbin/policy-rc.d
	created_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		created_policy=1
	fi
	trap '[ $created_policy = 1 ] && rm -f "$policy"' EXIT
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "setup.sh: all ${#PACKAGES[@]} packages present"
fi
