#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Mechanical style checks (STYLE.md rule 11): clang-format on every .c/.h we
# own, and the banned-function list over cmd/ core/ dns/ policy/.
# Exits non-zero on any finding.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
rc=0

mapfile -t files < <(git ls-files '*.c' '*.h')
if ! clang-format --dry-run -Werror "${files[@]}"; then
	echo "check-style: clang-format differences (run clang-format -i)" >&2
	rc=1
fi

# A call is the name as a whole word followed by "(".
banned='\b(strcpy|sprintf|strcat|atoi|strtok)[[:space:]]*\('
if grep -rnE --include='*.c' --include='*.h' "$banned" cmd core dns policy; then
	echo "check-style: banned function (STYLE.md rule 11)" >&2
	rc=1
fi
exit "$rc"
