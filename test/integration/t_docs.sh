#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every configuration the README shows passes `ztdnsd --check`, and so does
# the example in packaging/: documentation that does not work is a bug.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=$(cd "${1:?usage: t_docs.sh BUILD_DIR}" && pwd)
TOP=$(cd "$ZT_LIB_DIR/../.." && pwd)

"$ZT_PY" - "$TOP/README.md" "$ZT_TMP" <<'PY' >"$ZT_TMP/list"
import json, re, sys
text = open(sys.argv[1]).read()
n = 0
for block in re.findall(r"```json\n(.*?)```", text, re.S):
    try:
        d = json.loads(block)
    except ValueError:
        continue
    if not isinstance(d, dict) or "mode" not in d:
        continue
    n += 1
    path = "%s/readme-%d-%s.json" % (sys.argv[2], n, d["mode"])
    open(path, "w").write(block)
    print(path)
PY
count=0
while read -r f; do
	count=$((count + 1))
	check "README configuration $(basename "$f") passes --check" "$BUILD/ztdnsd" --check -c "$f"
done <"$ZT_TMP/list"
check "the README shows a configuration for each mode (host, gateway, sidecar)" \
	bash -c "grep -q host '$ZT_TMP/list' && grep -q gateway '$ZT_TMP/list' && grep -q sidecar '$ZT_TMP/list'"
check "packaging/ztdns.example.json passes --check" "$BUILD/ztdnsd" --check -c "$TOP/packaging/ztdns.example.json"
