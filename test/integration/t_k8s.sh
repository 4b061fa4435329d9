#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The container packaging: the Kubernetes manifest is the native sidecar it
# claims to be (and its configuration passes ztdnsd --check), and the
# Dockerfile is multi-stage, slim, non-root, with only runtime libraries.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=$(cd "${1:?usage: t_k8s.sh BUILD_DIR}" && pwd)
TOP=$(cd "$ZT_LIB_DIR/../.." && pwd)
Y=$TOP/packaging/k8s/ztdns-sidecar.yaml
D=$TOP/packaging/Dockerfile

# Debian's interpreter: python3-yaml (test/setup.sh) is installed for it.
out=$(/usr/bin/python3 - "$Y" "$ZT_TMP" <<'PY' 2>&1
import json, sys
import yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d["kind"]: d for d in docs}
res = []
def chk(name, cond):
    res.append(("ok" if cond else "not ok") + " - " + name)
pod = kinds.get("Pod")
cm = kinds.get("ConfigMap")
chk("a Pod and a ConfigMap", pod is not None and cm is not None)
spec = pod["spec"]
inits = spec.get("initContainers", [])
zt = next((c for c in inits if c["name"] == "ztdns"), None)
chk("the ztdns init container comes first", bool(inits) and inits[0]["name"] == "ztdns")
chk("restartPolicy Always (native sidecar)", zt and zt.get("restartPolicy") == "Always")
sc = zt.get("securityContext", {})
caps = sc.get("capabilities", {})
chk("capabilities: drop ALL, add exactly NET_ADMIN and NET_BIND_SERVICE",
    caps.get("drop") == ["ALL"] and sorted(caps.get("add", [])) == ["NET_ADMIN", "NET_BIND_SERVICE"])
chk("non-root, no privilege escalation, read-only root",
    sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0
    and sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True)
probe = " ".join(zt.get("startupProbe", {}).get("exec", {}).get("command", []))
chk("startup probe: ztdnsctl wait-ready", "ztdnsctl" in probe and "wait-ready" in probe)
chk("dnsPolicy None", spec.get("dnsPolicy") == "None")
chk("nameserver 127.0.0.1", spec.get("dnsConfig", {}).get("nameservers") == ["127.0.0.1"])
apps = spec.get("containers", [])
chk("an application container", len(apps) >= 1)
for a in apps:
    acaps = a.get("securityContext", {}).get("capabilities", {})
    chk("app %s: no NET_ADMIN, drops ALL" % a["name"],
        "NET_ADMIN" not in acaps.get("add", []) and acaps.get("drop") == ["ALL"])
    mine = {m["name"] for m in zt.get("volumeMounts", [])}
    chk("app %s mounts none of the sidecar's volumes" % a["name"],
        not mine & {m["name"] for m in a.get("volumeMounts", [])})
conf = json.loads(cm["data"]["ztdns.json"])
chk("configuration is sidecar mode", conf.get("mode") == "sidecar")
chk("control.uid is the sidecar's runAsUser", conf.get("control", {}).get("uid") == sc.get("runAsUser"))
sock = conf.get("control", {}).get("socket", "")
chk("the probe uses the configured control socket", sock and sock in probe)
open(sys.argv[2] + "/ztdns.json", "w").write(cm["data"]["ztdns.json"])
print("\n".join(res))
PY
)
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	*) diag "$line" ;;
	esac
done <<<"$out"
# --check reads the certificate files: put real ones where the Secret's
# volume would be (the paths rewritten to a directory of the test's own).
. "$ZT_LIB_DIR/pki.sh"
TLS=$ZT_TMP/tls
pki_init "$TLS" && cp "$TLS/ca.pem" "$TLS/cluster-ca.pem" && pki_client "$TLS" client ca ztdns-sidecar &&
	chmod 600 "$TLS/client.key" || not_ok "test certificates made"
sed -i "s|/etc/ztdns/tls/|$TLS/|g" "$ZT_TMP/ztdns.json"
check "the manifest's configuration passes ztdnsd --check (its Secret's files in place)" "$BUILD/ztdnsd" --check -c "$ZT_TMP/ztdns.json"

check_eq "Dockerfile: two debian:12-slim stages" 2 "$(grep -c '^FROM debian:12-slim' "$D")"
check "Dockerfile: runs as a non-root USER" grep -Eq '^USER +[1-9][0-9]*|^USER +[a-z]' "$D"
check_fail "Dockerfile: not USER root" grep -Eq '^USER +(root|0)( |$)' "$D"
check "Dockerfile: exec-form ENTRYPOINT" grep -Eq '^ENTRYPOINT +\[' "$D"
check "Dockerfile: file capabilities on ztdnsd only" grep -q 'setcap cap_net_admin,cap_net_bind_service=ep /usr/sbin/ztdnsd' "$D"
runtime=$(awk '/^FROM/ { n++ } n == 2' "$D")
check_fail "Dockerfile: no compiler or -dev package in the runtime stage" \
	grep -Eq 'build-essential|-dev( |$|\\)|gcc|cmake' <<<"$runtime"
for lib in libnetfilter-queue1 libmnl0 libev4 libjansson4 libcurl4 liburcu8 libcap-ng0 libseccomp2 iptables; do
	check "Dockerfile: runtime has $lib" grep -q "$lib" <<<"$runtime"
done
