#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""ztforge.py: IPv4 packets with a source address of our choosing, for the
gateway scope tests (t_scope.sh). Raw sockets with IP_HDRINCL: the kernel
sends them from this namespace's own interface and MAC address, which is
exactly the attacker of DESIGN.md invariant 10 (a LAN host writing another
host's source address into its packets). Each command sends a bounded number
of packets and exits.

  syn SRC DST DPORT [--count N]          TCP SYNs from SRC
  dns SRC DST QNAME [--count N]          a UDP DNS query (type A) from SRC:5353
  icmp-unreach SRC DST ISRC ISPORT IDST IDPORT [--count N]
                                         ICMP port unreachable from SRC to DST,
                                         quoting a UDP header ISRC:ISPORT ->
                                         IDST:IDPORT
  udp-closed SRC SPORT DST DPORT         one datagram from a port no socket
                                         holds (sent raw): the echo finds no
                                         socket and this host's own kernel
                                         answers with a genuine ICMP error
  udp-echo ADDR PORT [--seconds S]       echo datagrams back from ADDR itself
                                         (a socket bound to ADDR, so the echo
                                         belongs to the sender's flow)
"""
import argparse
import random
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


def ip4(src, dst, proto, payload):
    ident = random.randint(0, 0xFFFF)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def l4_csum(src, dst, proto, seg):
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, len(seg))
    return csum(pseudo + seg)


def tcp_syn(src, dst, sport, dport):
    seg = struct.pack("!HHIIBBHHH", sport, dport, random.randint(0, 2**32 - 1), 0, 5 << 4, 0x02,
                      64240, 0, 0)
    c = l4_csum(src, dst, socket.IPPROTO_TCP, seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(src, dst, sport, dport, data):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = l4_csum(src, dst, socket.IPPROTO_UDP, seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def dns_query(qname):
    q = struct.pack("!HHHHHH", random.randint(0, 0xFFFF), 0x0100, 1, 0, 0, 0)
    for label in qname.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", 1, 1)


def send(pkt, dst, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    for _ in range(count):
        s.sendto(pkt, (dst, 0))
        time.sleep(0.05)
    s.close()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("syn")
    c.add_argument("src")
    c.add_argument("dst")
    c.add_argument("dport", type=int)
    c.add_argument("--count", type=int, default=3)
    c = sub.add_parser("dns")
    c.add_argument("src")
    c.add_argument("dst")
    c.add_argument("qname")
    c.add_argument("--count", type=int, default=2)
    c = sub.add_parser("icmp-unreach")
    for k in ("src", "dst", "isrc"):
        c.add_argument(k)
    c.add_argument("isport", type=int)
    c.add_argument("idst")
    c.add_argument("idport", type=int)
    c.add_argument("--count", type=int, default=3)
    c = sub.add_parser("udp-closed")
    c.add_argument("src")
    c.add_argument("sport", type=int)
    c.add_argument("dst")
    c.add_argument("dport", type=int)
    c = sub.add_parser("udp-echo")
    c.add_argument("addr")
    c.add_argument("port", type=int)
    c.add_argument("--seconds", type=float, default=600)
    a = p.parse_args()
    a.count = max(1, min(getattr(a, "count", 1), 20))

    if a.cmd == "syn":
        for _ in range(a.count):
            send(ip4(a.src, a.dst, socket.IPPROTO_TCP,
                     tcp_syn(a.src, a.dst, random.randint(20000, 60000), a.dport)), a.dst, 1)
    elif a.cmd == "dns":
        pkt = ip4(a.src, a.dst, socket.IPPROTO_UDP,
                  udp(a.src, a.dst, 5353, 53, dns_query(a.qname)))
        send(pkt, a.dst, a.count)
    elif a.cmd == "icmp-unreach":
        # RFC 792: the quoted packet's IP header and its first 8 bytes.
        inner = ip4(a.isrc, a.idst, socket.IPPROTO_UDP,
                    udp(a.isrc, a.idst, a.isport, a.idport, b"probe"))[:28]
        msg = struct.pack("!BBHI", 3, 3, 0, 0) + inner
        msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
        send(ip4(a.src, a.dst, socket.IPPROTO_ICMP, msg), a.dst, a.count)
    elif a.cmd == "udp-closed":
        send(ip4(a.src, a.dst, socket.IPPROTO_UDP,
                 udp(a.src, a.dst, a.sport, a.dport, b"probe closed")), a.dst, 1)
    elif a.cmd == "udp-echo":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a.addr, a.port))
        s.settimeout(0.5)
        print("ready", flush=True)
        deadline = time.monotonic() + min(a.seconds, 900)
        while time.monotonic() < deadline:
            try:
                data, peer = s.recvfrom(2048)
            except socket.timeout:
                continue
            print("udp %s:%d %d bytes" % (peer[0], peer[1], len(data)), flush=True)
            s.sendto(data, peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
