#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""evildns.py — a DNS server that answers crafted, partly hostile messages,
for the ztdns integration tests (python3 standard library only).

It plays a compromised or buggy Protective DNS server behind a TLS terminator
(nginx): the daemon must learn only the addresses of the question's CNAME
chain in the ANSWER section, and refuse broken chains and mismatched answers.

  evildns.py --tcp ADDR:PORT [--http ADDR:PORT] --log FILE [--max-seconds S]

  --tcp   DNS over TCP (RFC 7766 framing: 2-byte length prefix, several
          queries per connection, answered in order)
  --http  DNS over HTTP/1.1 (RFC 8484 wire format: POST application/dns-message
          or GET ?dns=base64url), for a DoH terminator in front of it
  --log   one line per query received: time, transport, id, qname, qtype,
          and what was done ("crafted NAME" or "nxdomain"); flushed at once

Crafted answers, by question name (case-insensitive; unknown names get
NXDOMAIN; the query ID is echoed unless told otherwise). Addresses are all in
198.51.100.0/24 (A) or 2001:db8:10::/64 (AAAA, same last number):

  chain.test     CNAME a.chain.test; a.chain.test A .21 (the only legitimate
                 address); other.test A .22 in the ANSWER (not on the chain);
                 a.chain.test A .23 in ADDITIONAL; chain.test A .24 in
                 AUTHORITY (owners on the chain, wrong sections)
  loop.test      CNAME loop.test (itself), plus loop.test A .25
  loop2.test     CNAME b.loop2.test, b.loop2.test CNAME loop2.test, b A .34
  deep.test      9 CNAMEs (deep.test -> d1 -> ... -> d9.deep.test), d9 A .26
  deep8.test     8 CNAMEs (deep8.test -> e1 -> ... -> e8.deep8.test), e8 A .27
  mismatch.test  the answer's question is other.test (A .28)
  wrongid.test   the answer's ID is the query's ID xor 0x5555 (A .29)
  noqr.test      the answer has QR=0 (A .31)
  conflict.test  two CNAMEs for conflict.test (x.test A .32, y.test A .33)
  plain.test     a plain A .35 (the control: a normal answer is learned)
"""
import argparse
import base64
import http.server
import socket
import socketserver
import struct
import sys
import threading
import time

TYPE_A, TYPE_CNAME, TYPE_AAAA = 1, 5, 28
TYPE_NAMES = {1: "A", 5: "CNAME", 28: "AAAA", 65: "HTTPS", 64: "SVCB"}
V4 = "198.51.100."
V6 = "2001:db8:10::"


def enc_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            b = label.encode("ascii")
            out += bytes([len(b)]) + b
    return out + b"\0"


def rr(owner, rtype, value, ttl=60):
    if rtype == TYPE_CNAME:
        rdata = enc_name(value)
    elif rtype == TYPE_A:
        rdata = socket.inet_pton(socket.AF_INET, value)
    else:
        rdata = socket.inet_pton(socket.AF_INET6, value)
    return enc_name(owner) + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def addr(qtype, last):
    """The A or AAAA value with last number `last` for the asked type."""
    if qtype == TYPE_AAAA:
        return TYPE_AAAA, V6 + str(last)
    return TYPE_A, V4 + str(last)


def parse_query(msg):
    """(id, flags, qname, qtype, qclass) or None when unparsable."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd < 1:
        return None
    off, labels = 12, []
    while True:
        if off >= len(msg):
            return None
        n = msg[off]
        off += 1
        if n == 0:
            break
        if n > 63 or off + n > len(msg):
            return None
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n
    if off + 4 > len(msg):
        return None
    qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
    return qid, flags, ".".join(labels).lower(), qtype, qclass


def craft(qname, qtype):
    """What to answer: dict with an (answer, authority, additional) list of
    records, and optional overrides (qname, id_xor, qr, rcode)."""
    t = qtype if qtype in (TYPE_A, TYPE_AAAA) else TYPE_A
    r = {"an": [], "ns": [], "ar": [], "rcode": 0}

    def a(owner, last):
        rt, v = addr(t, last)
        return rr(owner, rt, v)

    if qname == "chain.test":
        r["an"] = [rr("chain.test", TYPE_CNAME, "a.chain.test"), a("a.chain.test", 21),
                   a("other.test", 22)]
        r["ns"] = [a("chain.test", 24)]
        r["ar"] = [a("a.chain.test", 23)]
    elif qname == "loop.test":
        r["an"] = [rr("loop.test", TYPE_CNAME, "loop.test"), a("loop.test", 25)]
    elif qname == "loop2.test":
        r["an"] = [rr("loop2.test", TYPE_CNAME, "b.loop2.test"),
                   rr("b.loop2.test", TYPE_CNAME, "loop2.test"), a("b.loop2.test", 34)]
    elif qname in ("deep.test", "deep8.test"):
        n, p = (9, "d") if qname == "deep.test" else (8, "e")
        names = [qname] + ["%s%d.%s" % (p, i, qname) for i in range(1, n + 1)]
        r["an"] = [rr(names[i], TYPE_CNAME, names[i + 1]) for i in range(n)]
        r["an"].append(a(names[-1], 26 if qname == "deep.test" else 27))
    elif qname == "mismatch.test":
        r["qname"] = "other.test"
        r["an"] = [a("other.test", 28)]
    elif qname == "wrongid.test":
        r["id_xor"] = 0x5555
        r["an"] = [a("wrongid.test", 29)]
    elif qname == "noqr.test":
        r["qr"] = 0
        r["an"] = [a("noqr.test", 31)]
    elif qname == "conflict.test":
        r["an"] = [rr("conflict.test", TYPE_CNAME, "x.test"),
                   rr("conflict.test", TYPE_CNAME, "y.test"), a("x.test", 32), a("y.test", 33)]
    elif qname == "plain.test":
        r["an"] = [a("plain.test", 35)]
    else:
        r["rcode"] = 3
        return r, "nxdomain"
    return r, "crafted"


def respond(msg, transport, log):
    q = parse_query(msg)
    if q is None:
        log("%s unparsable len=%d" % (transport, len(msg)))
        return None
    qid, flags, qname, qtype, qclass = q
    r, what = craft(qname, qtype)
    log("%s id=%d qname=%s qtype=%s %s" % (transport, qid, qname or ".",
                                           TYPE_NAMES.get(qtype, str(qtype)), what))
    rid = qid ^ r.get("id_xor", 0)
    qr = r.get("qr", 1)
    oflags = (qr << 15) | (flags & 0x0100) | 0x0400 | 0x0080 | r["rcode"]  # RD copied, AA, RA
    qn = r.get("qname", qname)
    hdr = struct.pack("!HHHHHH", rid, oflags, 1, len(r["an"]), len(r["ns"]), len(r["ar"]))
    question = enc_name(qn) + struct.pack("!HH", qtype, qclass)
    return hdr + question + b"".join(r["an"]) + b"".join(r["ns"]) + b"".join(r["ar"])


def make_logger(path):
    fh = open(path, "a", buffering=1)
    lock = threading.Lock()

    def log(text):
        with lock:
            fh.write("%.6f %s\n" % (time.time(), text))
            fh.flush()
    return log


def split_hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def serve_tcp(hostport, log):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            sock = self.request
            sock.settimeout(30)
            buf = b""
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                    while len(buf) >= 2:
                        n = struct.unpack("!H", buf[:2])[0]
                        if len(buf) < 2 + n:
                            break
                        msg, buf = buf[2:2 + n], buf[2 + n:]
                        out = respond(msg, "tcp", log)
                        if out is not None:
                            sock.sendall(struct.pack("!H", len(out)) + out)
            except OSError:
                return

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    host, port = split_hostport(hostport)
    if ":" in host:
        Server.address_family = socket.AF_INET6
    srv = Server((host, port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def serve_http(hostport, log):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, msg):
            out = respond(msg, "http", log) if msg is not None else None
            if out is None:
                self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/dns-message")
            self.send_header("Content-Length", str(len(out)))
            self.send_header("Cache-Control", "max-age=0")
            self.end_headers()
            self.wfile.write(out)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n < 0 or n > 65535:
                self.reply(None)
                return
            self.reply(self.rfile.read(n))

        def do_GET(self):
            msg = None
            if "?dns=" in self.path:
                v = self.path.split("?dns=", 1)[1].split("&", 1)[0]
                try:
                    msg = base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))
                except ValueError:
                    msg = None
            self.reply(msg)

    host, port = split_hostport(hostport)

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    srv = Server((host, port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tcp", required=True, help="ADDR:PORT for DNS over TCP")
    ap.add_argument("--http", help="ADDR:PORT for DNS over HTTP/1.1")
    ap.add_argument("--log", required=True)
    ap.add_argument("--max-seconds", type=float, default=900)
    a = ap.parse_args()
    log = make_logger(a.log)
    serve_tcp(a.tcp, log)
    if a.http:
        serve_http(a.http, log)
    log("ready tcp=%s http=%s" % (a.tcp, a.http or "-"))
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline:
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
