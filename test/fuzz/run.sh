#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build every libFuzzer target (clang, ASan+UBSan) and run each for SECONDS
# (default 60) on a scratch copy of its committed corpus. A crash fails the
# run and leaves its input in build-fuzz/crashes/: keep it under
# test/fuzz/corpus/NAME/ as a regression case once fixed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
build=$top/build-fuzz
cmake -S "$top" -B "$build" -DCMAKE_C_COMPILER=clang -DZTDNS_FUZZ=ON \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
mkdir -p "$build/crashes"
status=0
for src in "$top"/test/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	corpus=$top/test/fuzz/corpus/${name#fuzz_}
	work=$build/work/${name#fuzz_}
	rm -rf "$work"
	mkdir -p "$work"
	cp -r "$corpus"/. "$work"/ 2>/dev/null || true
	echo "fuzz: $name for ${seconds}s"
	if ! "$build/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$build/crashes/$name-" -print_final_stats=1 \
		"$work" >"$build/$name.log" 2>&1; then
		echo "fuzz: $name FAILED; see $build/$name.log and $build/crashes/"
		tail -n 30 "$build/$name.log"
		status=1
	else
		grep -E "^stat::number_of_executed_units|^stat::new_units_added" \
			"$build/$name.log" | tr '\n' ' '
		echo
	fi
done
exit $status
