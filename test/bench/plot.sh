#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# plot.sh RAWDIR OUT.png — connect-latency CDFs per configuration (gnuplot).
# RAWDIR holds cdf-CFG-rROUND-KIND.dat files ("latency_us fraction") written
# by connload --cdf; the round with the median p50 of each configuration is
# drawn, for the 1-client (lat) and the 8-client (tput) measurements.
set -euo pipefail
raw=$1
png=$2
pick() { # pick CFG KIND: the cdf file whose p50 is the median of its rounds
	local f p50 list=()
	for f in "$raw"/cdf-"$1"-r*-"$2".dat; do
		[ -e "$f" ] || continue
		p50=$(awk '$2 >= 0.5 { print $1; exit }' "$f")
		list+=("$p50 $f")
	done
	[ ${#list[@]} -gt 0 ] || return 0
	printf '%s\n' "${list[@]}" | sort -n | awk '{ a[NR] = $2 } END { print a[int((NR + 1) / 2)] }'
}
declare -A title=([A]="A: no firewall" [B]="B: nftables set" [C]="C: ztdns NFQUEUE" [D]="D: ztdns fast path")
plots=()
for kind in lat tput; do
	cmds=""
	for cfg in A B C D; do
		f=$(pick "$cfg" "$kind")
		[ -n "$f" ] || continue
		cmds="$cmds${cmds:+, }'$f' using 1:2 with lines lw 2 title '${title[$cfg]}'"
	done
	plots+=("$cmds")
done
gnuplot <<GP
set terminal pngcairo size 1200,520 font ",10" noenhanced
set output '$png'
set multiplot layout 1,2 title "ztdns connect() latency CDF (median round of each configuration)"
set grid
set logscale x
set xlabel "connect() latency, us (log scale)"
set ylabel "fraction of connections"
set key bottom right
set yrange [0:1]
set title "1 client (H1)"
plot ${plots[0]}
set title "$(echo 8) clients (H2)"
plot ${plots[1]}
unset multiplot
GP
