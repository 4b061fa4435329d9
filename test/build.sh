#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Configure and build ztdns into BUILD_DIR (default ./build). Extra arguments
# go to cmake, e.g. -DZTDNS_SANITIZE=ON.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
shift || true
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
