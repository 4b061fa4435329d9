#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Small network helper for the ztdns integration tests (no third-party modules).

Subcommands (every one bounded in time):
  serve  --tcp PORT --udp PORT --log FILE [--max-seconds S]
         dual-stack (:: with V6ONLY off) line echo over TCP and datagram echo
         over UDP; every accepted connection, TCP line and UDP datagram is
         written to FILE at once (the far-end witness of what arrived).
  tcp    HOST PORT [--timeout S] [--tag T]   connect, send one line, expect it back.
  udp    HOST PORT [--timeout S] [--tag T]   send one datagram, expect it back.
  stream HOST PORT --tag T [--interval S] [--max-seconds S] [--stop-file F]
         one long-lived TCP connection sending "T seq N" lines; prints one line
         per echo; exit 0 if every line was echoed until stopped, 2 if connect
         failed, 3 if the connection broke or an echo was missing.
  udpflood HOST --ports LO-HI   one datagram to each port: a new flow each.
  connbench HOST PORT [--count N] [--timeout S]
         N sequential connect()s; prints "ok=N fail=N p50_us=X p99_us=Y".
Exit status 0 = success, 1 = the probe failed (timeout, refused, no echo).
"""
import argparse
import os
import socket
import socketserver
import sys
import threading
import time


def log_line(fh, lock, text):
    with lock:
        fh.write("%.6f %s\n" % (time.time(), text))
        fh.flush()


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def cmd_serve(a):
    fh = open(a.log, "a", buffering=1)
    lock = threading.Lock()

    class TCPHandler(socketserver.StreamRequestHandler):
        def handle(self):
            peer = "%s:%s" % self.client_address[:2]
            log_line(fh, lock, "tcp-accept %s" % peer)
            self.request.settimeout(60)
            try:
                for raw in self.rfile:
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    log_line(fh, lock, "tcp-line %s %s" % (peer, line))
                    self.wfile.write(raw)
                    self.wfile.flush()
            except OSError as e:
                log_line(fh, lock, "tcp-error %s %s" % (peer, e))
            log_line(fh, lock, "tcp-close %s" % peer)

    class TCPServer(socketserver.ThreadingTCPServer):
        address_family = socket.AF_INET6
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 1024  # connbench: sequential connects outpace accept()

        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    tcp = TCPServer(("::", a.tcp), TCPHandler)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()

    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    # Answer from the address the datagram was sent to (IPV6_PKTINFO, which
    # Linux also honours for IPv4-mapped peers): a multi-homed responder that
    # lets routing pick the source sends a datagram conntrack cannot pair
    # with the request, which a client judging inbound flows drops.
    udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    udp.bind(("::", a.udp))
    udp.settimeout(0.5)
    log_line(fh, lock, "ready tcp=%d udp=%d" % (a.tcp, a.udp))
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline:
        try:
            data, anc, _, peer = udp.recvmsg(2048, socket.CMSG_SPACE(20))
        except socket.timeout:
            continue
        log_line(fh, lock, "udp %s:%s %s" % (peer[0], peer[1],
                                             data.decode("utf-8", "replace").strip()))
        # in6_pktinfo: the destination address, ifindex 0 (routing chooses).
        pkt = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, d[:16] + bytes(4))
               for lvl, typ, d in anc
               if lvl == socket.IPPROTO_IPV6 and typ == socket.IPV6_PKTINFO and len(d) >= 20]
        try:
            udp.sendmsg([data], pkt, 0, peer)
        except OSError as e:
            log_line(fh, lock, "udp-error %s:%s %s" % (peer[0], peer[1], e))
    return 0


def cmd_tcp(a):
    line = ("probe %s %d\n" % (a.tag, os.getpid())).encode()
    try:
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        s.settimeout(a.timeout)
        s.sendall(line)
        got = b""
        while not got.endswith(b"\n"):
            chunk = s.recv(256)
            if not chunk:
                break
            got += chunk
        s.close()
    except OSError as e:
        print("tcp %s:%d: %s" % (a.host, a.port, e), file=sys.stderr)
        return 1
    return 0 if got == line else 1


def cmd_udp(a):
    msg = ("probe %s %d" % (a.tag, os.getpid())).encode()
    s = socket.socket(family_of(a.host), socket.SOCK_DGRAM)
    s.settimeout(a.timeout)
    try:
        s.sendto(msg, (a.host, a.port))
        data, _ = s.recvfrom(2048)
    except OSError as e:
        print("udp %s:%d: %s" % (a.host, a.port, e), file=sys.stderr)
        return 1
    return 0 if data == msg else 1


def cmd_stream(a):
    try:
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    except OSError as e:
        print("connect-failed %s" % e, flush=True)
        return 2
    print("connected", flush=True)
    s.settimeout(a.timeout)
    rfile = s.makefile("rb")
    deadline = time.monotonic() + a.max_seconds
    seq = 0
    while time.monotonic() < deadline:
        if a.stop_file and os.path.exists(a.stop_file):
            print("stopped seq=%d" % seq, flush=True)
            s.close()
            return 0
        seq += 1
        line = ("%s seq %d\n" % (a.tag, seq)).encode()
        try:
            s.sendall(line)
            got = rfile.readline()
        except OSError as e:
            print("broken seq=%d %s" % (seq, e), flush=True)
            return 3
        if got != line:
            print("bad-echo seq=%d %r" % (seq, got), flush=True)
            return 3
        print("echoed seq=%d" % seq, flush=True)
        time.sleep(a.interval)
    print("max-seconds seq=%d" % seq, flush=True)
    s.close()
    return 0


def cmd_udpflood(a):
    # One non-blocking socket per datagram: a queued packet stays charged to
    # its socket's send buffer, so one socket would block after a few hundred.
    lo, hi = (int(x) for x in a.ports.split("-"))
    fam = family_of(a.host)
    sent = errors = 0
    for port in range(lo, hi + 1):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setblocking(False)
        try:
            s.sendto(b"flood", (a.host, port))
            sent += 1
        except OSError:
            errors += 1
        s.close()
    print("sent=%d errors=%d" % (sent, errors))
    return 0


def cmd_connbench(a):
    times = []
    fails = 0
    fam = family_of(a.host)
    for _ in range(a.count):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(a.timeout)
        t0 = time.perf_counter()
        try:
            s.connect((a.host, a.port))
            times.append(time.perf_counter() - t0)
        except OSError:
            fails += 1
        s.close()
    times.sort()

    def pct(p):
        if not times:
            return -1
        return int(times[min(len(times) - 1, int(len(times) * p))] * 1e6)

    print("ok=%d fail=%d p50_us=%d p99_us=%d" % (len(times), fails, pct(0.50), pct(0.99)))
    return 0 if fails == 0 else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--tcp", type=int, required=True)
    s.add_argument("--udp", type=int, required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--max-seconds", type=float, default=900)
    for name in ("tcp", "udp"):
        c = sub.add_parser(name)
        c.add_argument("host")
        c.add_argument("port", type=int)
        c.add_argument("--timeout", type=float, default=1.5)
        c.add_argument("--tag", default="x")
    c = sub.add_parser("stream")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--tag", required=True)
    c.add_argument("--interval", type=float, default=0.3)
    c.add_argument("--max-seconds", type=float, default=60)
    c.add_argument("--stop-file")
    c.add_argument("--timeout", type=float, default=3)
    c = sub.add_parser("udpflood")
    c.add_argument("host")
    c.add_argument("--ports", required=True)
    c = sub.add_parser("connbench")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--count", type=int, default=200)
    c.add_argument("--timeout", type=float, default=2)
    a = p.parse_args()
    return {"serve": cmd_serve, "tcp": cmd_tcp, "udp": cmd_udp,
            "stream": cmd_stream, "connbench": cmd_connbench,
            "udpflood": cmd_udpflood}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
