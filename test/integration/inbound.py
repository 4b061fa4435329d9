#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""TCP simultaneous open for t_inbound.sh (no third-party modules, bounded).

  app  --port P --peer HOST:Q --seconds S [--listen] --log FILE
       bind port P (SO_REUSEPORT) and connect() without blocking to HOST:Q,
       the way an application would reach a peer; with --listen, also a
       listener on P (SO_REUSEPORT: same port, same user) that accepts and
       echoes. For S seconds every event goes to FILE ("connected",
       "accept HOST:PORT"); at the end "final connected" or
       "final not-connected". Exit 0 if the connecting socket got connected.
  peer HOST P --src-port Q [--src ADDR] [--timeout T]
       connect from (ADDR and) port Q to HOST:P, send a line, expect it back.
       Exit 0 on success, 1 otherwise.
"""
import argparse
import select
import socket
import sys
import threading
import time


def fam(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def log(fh, text):
    fh.write("%.6f %s\n" % (time.time(), text))
    fh.flush()


def cmd_app(a):
    host, _, q = a.peer.rpartition(":")
    host = host.strip("[]")
    f = fam(host)
    fh = open(a.log, "a", buffering=1)
    lst = None
    if a.listen:
        lst = socket.socket(f, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        lst.bind(("::" if f == socket.AF_INET6 else "0.0.0.0", a.port))
        lst.listen(16)
        lst.settimeout(0.2)
    s = socket.socket(f, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("::" if f == socket.AF_INET6 else "0.0.0.0", a.port))
    s.setblocking(False)
    err = s.connect_ex((host, int(q)))
    log(fh, "connecting %s:%s (%d)" % (host, q, err))
    connected = False
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        if lst is not None:
            try:
                c, peer = lst.accept()
                log(fh, "accept %s:%s" % peer[:2])
                c.settimeout(1)
                try:
                    data = c.recv(256)
                    c.sendall(data)
                except OSError:
                    pass
                c.close()
            except socket.timeout:
                pass
        if not connected:
            _, w, _ = select.select([], [s], [], 0 if lst is not None else 0.2)
            if w and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                connected = True
                log(fh, "connected")
    log(fh, "final %s" % ("connected" if connected else "not-connected"))
    return 0 if connected else 1


def cmd_peer(a):
    f = fam(a.host)
    s = socket.socket(f, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.src or ("::" if f == socket.AF_INET6 else "0.0.0.0"), a.src_port))
    s.settimeout(a.timeout)
    line = b"peer %d\n" % a.src_port
    try:
        s.connect((a.host, a.port))
        s.sendall(line)
        got = s.recv(256)
    except OSError as e:
        print("peer %s:%d from %d: %s" % (a.host, a.port, a.src_port, e), file=sys.stderr)
        return 1
    finally:
        s.close()
    return 0 if got == line else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("app")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--peer", required=True)
    c.add_argument("--seconds", type=float, default=6)
    c.add_argument("--listen", action="store_true")
    c.add_argument("--log", required=True)
    c = sub.add_parser("peer")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--src-port", type=int, required=True)
    c.add_argument("--src")
    c.add_argument("--timeout", type=float, default=3)
    a = p.parse_args()
    return {"app": cmd_app, "peer": cmd_peer}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
