#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Record the upstream answers of the stub replay test from a real unbound on
# loopback (unbound.conf, chain.zone here) and rewrite ../replay_answers.h.
# Run by hand when an answer is added; the tests only read the recording.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
sed "s|@DIR@|$tmp|g" "$here/unbound.conf" > "$tmp/unbound.conf"
cp "$here/chain.zone" "$tmp/"
unbound -d -c "$tmp/unbound.conf" > "$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 50); do dig +time=1 +tries=1 @127.0.0.1 -p 53531 www.example.test >/dev/null 2>&1 && break; sleep 0.1; done
python3 - > "$tmp/answers.h" <<'PY'
import socket, struct, sys
def q(name, qtype, qid=0x1234):
    # what the stub sends (wire_build_query): RD, EDNS 1232, DO clear
    b = struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 1)
    for l in name.rstrip('.').split('.'):
        b += bytes([len(l)]) + l.encode()
    b += b'\0' + struct.pack('>HH', qtype, 1)
    b += b'\0' + struct.pack('>HHIH', 41, 1232, 0, 0)
    return b
out = []
for cname, name, t in [('rec_www_a', 'www.example.test', 1), ('rec_www_aaaa', 'www.example.test', 28),
                       ('rec_alias_a', 'alias.chain.test', 1), ('rec_loop_a', 'loop1.chain.test', 1),
                       ('rec_lo_a', 'lo.example.test', 1), ('rec_ll_a', 'll.example.test', 1),
                       ('rec_short_a', 'short.example.test', 1), ('rec_long_a', 'long.example.test', 1),
                       ('rec_nx_a', 'nx.example.test', 1)]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(q(name, t), ('127.0.0.1', 53531))
    d = s.recv(4096)
    out.append('/* %s %s, as unbound 1.17.1 answered it (test/unit/replay/record.sh) */\n'
               'static const uint8_t %s[] = {\n' % (name, {1: 'A', 28: 'AAAA'}[t], cname))
    for i in range(0, len(d), 12):
        out.append('\t' + ', '.join('0x%02x' % x for x in d[i:i + 12]) + ',\n')
    out.append('};\n\n')
sys.stdout.write(''.join(out))
PY
{
	printf '/* SPDX-License-Identifier: GPL-2.0-or-later */\n/*\n'
	printf ' * Upstream answers recorded from a real unbound (test/unit/replay/record.sh,\n'
	printf ' * which rewrites this file): ID 0x1234, replaced by the replay transport.\n */\n'
	printf '#ifndef ZTDNS_TEST_REPLAY_ANSWERS_H\n#define ZTDNS_TEST_REPLAY_ANSWERS_H\n\n#include <stdint.h>\n\n'
	cat "$tmp/answers.h"
	printf '#endif\n'
} > "$here/../replay_answers.h"
clang-format -i "$here/../replay_answers.h"
