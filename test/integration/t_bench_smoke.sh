#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# t_bench_smoke.sh BUILD_DIR — the benchmark harness works (issue 6): every
# configuration of test/bench/run.sh once, for about a second each, in its
# own namespaces. No timing is judged here: only that every part runs, every
# connection is made and counted, and no NFQUEUE drop counter moves.
# Prints run.sh's "N passed, N failed" and exits with its status.
BUILD=${1:-}
if [ -z "$BUILD" ]; then
	echo "not ok - usage: bash t_bench_smoke.sh BUILD_DIR"
	echo "0 passed, 1 failed"
	exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mktemp -d /tmp/zt-bench-smoke.XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT
# The build directory is ctest's (already built): no rebuild, results to a
# temporary directory so the committed results are left alone.
bash "$here/../bench/run.sh" --smoke --no-build --build "$BUILD" --out "$out"
