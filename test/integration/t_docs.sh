#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every configuration the README shows passes `ztdnsd --check`, and so does
# the example in packaging/: documentation that does not work is a bug.
# --check loads the files a configuration names (CA bundles, client
# certificate and key), so each file path in them is pointed at a real file
# made here (a CA, a client certificate and its key); as shipped, the
# example is refused only for those files.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$ZT_LIB_DIR/pki.sh"

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
pki_init "$ZT_TMP/pki"
pki_client "$ZT_TMP/pki" client ca client.test
# with_files IN OUT: IN with every ca_file / client_cert / client_key set to
# the files made above.
with_files() {
	"$ZT_PY" - "$1" "$2" "$ZT_TMP/pki" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
files = {"ca_file": "ca.pem", "client_cert": "client.pem", "client_key": "client.key"}
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in files and isinstance(v, str):
                o[k] = "%s/%s" % (sys.argv[3], files[k])
            else:
                walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(d)
json.dump(d, open(sys.argv[2], "w"))
PY
}
count=0
while read -r f; do
	with_files "$f" "$f.files" && mv "$f.files" "$f"
	count=$((count + 1))
	check "README configuration $(basename "$f") passes --check" "$BUILD/ztdnsd" --check -c "$f"
done <"$ZT_TMP/list"
check "the README shows a configuration for each mode (host, gateway, sidecar)" \
	bash -c "grep -q host '$ZT_TMP/list' && grep -q gateway '$ZT_TMP/list' && grep -q sidecar '$ZT_TMP/list'"
with_files "$TOP/packaging/ztdns.example.json" "$ZT_TMP/example.json"
check "packaging/ztdns.example.json passes --check (its files made here)" \
	"$BUILD/ztdnsd" --check -c "$ZT_TMP/example.json"
"$BUILD/ztdnsd" --check -c "$TOP/packaging/ztdns.example.json" >"$ZT_TMP/example.out" 2>&1
check_eq "as shipped, --check refuses it (its files are not here)" 78 "$?"
check_eq "and only for its files" "" \
	"$(grep -v -e ': cannot read: ' -e ': warning: ' -e '^configuration refused' "$ZT_TMP/example.out")"
# The example shows every key: the same key paths as the canonical dump.
"$BUILD/ztdnsd" --check -v -c "$ZT_TMP/example.json" >"$ZT_TMP/example.dump" 2>/dev/null
missing=$("$ZT_PY" - "$ZT_TMP/example.json" "$ZT_TMP/example.dump" <<'PY'
import json, sys
def keys(o, p=""):
    r = set()
    if isinstance(o, dict):
        for k, v in o.items():
            r.add(p + k)
            r |= keys(v, p + k + ".")
    elif isinstance(o, list):
        for v in o:
            if isinstance(v, dict):
                r |= keys(v, p + "[].")
    return r
example = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
dump = json.JSONDecoder().raw_decode(text[text.index("{"):])[0]
# gateway-only keys cannot be in a host example
print(" ".join(sorted(k for k in keys(dump) - keys(example) if not k.startswith("gateway"))))
PY
)
check_eq "packaging/ztdns.example.json shows every key of --check -v" "" "$missing"

# The README's ztdnsctl table and ztdnsctl(8) have an entry for every
# command the client knows (ztdnsctl --complete commands, the list its
# argument checks use), and the table no other.
cmds=$("$BUILD/ztdnsctl" --complete commands | sort -u | tr '\n' ' ')
table=$(awk '/^## ztdnsctl$/ { on = 1; next } on && /^## / { exit }
	on && /^\| `/ { sub(/^\| `/, ""); split($0, w, /[ `]/); print w[1] }' "$TOP/README.md" |
	sort -u | tr '\n' ' ')
check_eq "the README's ztdnsctl table has a row for each command, and no other" "$cmds" "$table"
nodoc=
for c in $cmds; do
	grep -Eq "^\.B[RI]? \"?${c//-/\\\\-}( |\"|$)" "$TOP/packaging/man/ztdnsctl.8" || nodoc="$nodoc $c"
done
check_eq "ztdnsctl(8) describes each command" "" "$nodoc"
