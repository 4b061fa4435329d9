#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""report.py RAWDIR OUT.md — the table of figures of test/bench/run.sh.

Reads RAWDIR/runs.tsv (one line per measurement: cfg round kind cps p50 p99
p999 attempts verdicts cpu_us_per_verdict), RAWDIR/allowset.log (H5),
RAWDIR/h3.tsv (H3, optional) and the environment run.sh exports (H4, mode,
command). Every figure is the median over the rounds with its min-max, and
a ratio (or a delta) to its baseline from the same run.
"""
import os
import platform
import re
import statistics
import sys

raw, out = sys.argv[1], sys.argv[2]
env = os.environ.get


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


runs = {}  # (cfg, kind) -> list of dicts, in round order
with open(os.path.join(raw, "runs.tsv")) as f:
    for line in f:
        p = line.rstrip("\n").split("\t")
        if len(p) < 10:
            continue
        cfg, rnd, kind = p[0], int(p[1]), p[2]
        runs.setdefault((cfg, kind), []).append({
            "round": rnd, "cps": num(p[3]), "p50": num(p[4]), "p99": num(p[5]),
            "p999": num(p[6]), "att": num(p[7]), "verdicts": num(p[8]), "cpu": num(p[9])})


def vals(cfg, kind, key):
    return [r[key] for r in runs.get((cfg, kind), []) if r[key] is not None]


def med(v):
    return statistics.median(v) if v else None


def fmt(x, nd=1):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return "{:,.0f}".format(x)
    return "{:.{}f}".format(x, nd)


def mm(cfg, kind, key, nd=1):
    v = vals(cfg, kind, key)
    if not v:
        return "–"
    return "{} ({}–{})".format(fmt(med(v), nd), fmt(min(v), nd), fmt(max(v), nd))


def paired(cfg, base, kind, key, op):
    """Per-round op(cfg, base) (same round): median and min-max."""
    a = {r["round"]: r[key] for r in runs.get((cfg, kind), []) if r[key] is not None}
    b = {r["round"]: r[key] for r in runs.get((base, kind), []) if r[key] is not None}
    v = [op(a[k], b[k]) for k in sorted(a) if k in b and b[k]]
    return v


def ratio_str(cfg, base, kind, key):
    v = paired(cfg, base, kind, key, lambda x, y: x / y)
    if not v:
        return "–", None
    m = med(v)
    return "{:.2f}× ({:.2f}–{:.2f})".format(m, min(v), max(v)), m


def delta_str(cfg, base, kind, key):
    v = paired(cfg, base, kind, key, lambda x, y: x - y)
    if not v:
        return "–", None
    m = med(v)
    return "{:+.1f} µs ({:+.1f}…{:+.1f})".format(m, min(v), max(v)), m


cfgs = [c for c in "ABCDE" if (c, "lat") in runs or (c, "tput") in runs]
names = {"A": "A no firewall", "B": "B nftables set (kernel only)",
         "C": "C ztdns, NFQUEUE", "D": "D ztdns, kernel fast path",
         "E": "E ztdns, NFQUEUE, 2 queues (2 verdict threads)"}
rounds = max((len(v) for v in runs.values()), default=0)

L = []
L.append("# ztdns benchmark results\n")
cpu = "?"
try:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
except OSError:
    pass
L.append("- command: `{}` (mode {}, {} interleaved rounds, {} s wall)".format(
    env("CMDLINE", "bash test/bench/run.sh"), env("MODE", "?"), rounds, env("ELAPSED", "?")))
L.append("- machine: {} CPUs, {}, kernel {}, load average at the end {}".format(
    os.cpu_count(), cpu, platform.release(), env("LOADAVG", "?")))
L.append("- H1: 1 client, {} connections per run; H2: {} clients for {} s per run".format(
    env("LAT_N", "?"), env("TPUT_CLIENTS", "8"), env("TPUT_S", "?")))
L.append("- D (kernel fast path): {}".format(env("D_NOTE", "?")))
L.append("")
L.append("## Per configuration (median over rounds, min–max in brackets)\n")
L.append("| configuration | connect p50 µs, 1 client | p99 µs | p99.9 µs | new conn/s, 8 clients | ratio to A | ratio to B | daemon CPU µs/verdict |")
L.append("|---|---|---|---|---|---|---|---|")
for c in cfgs:
    ra = ratio_str(c, "A", "tput", "cps")[0] if c != "A" else "1"
    rb = ratio_str(c, "B", "tput", "cps")[0] if c not in ("A", "B") else ("1" if c == "B" else "–")
    L.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
        names[c], mm(c, "lat", "p50"), mm(c, "lat", "p99"), mm(c, "lat", "p999"),
        mm(c, "tput", "cps", 0), ra, rb,
        mm(c, "tput", "cpu", 2) if c in ("C", "D", "E") else "–"))
L.append("")

# ---- figures
L.append("## Figures\n")
L.append("| figure | target (issues 11, 12) | measured | verdict |")
L.append("|---|---|---|---|")


def verdict(ok):
    return "–" if ok is None else ("met" if ok else "**missed**")


d50c, d50cv = delta_str("C", "A", "lat", "p50")
d99c, d99cv = delta_str("C", "A", "lat", "p99")
d50b, _ = delta_str("B", "A", "lat", "p50")
d99b, _ = delta_str("B", "A", "lat", "p99")
h1ok = None if d50cv is None else (d50cv <= 12 and d99cv <= 40)
L.append("| H1 first-SYN added latency, C vs A | Δp50 ≤ 12 µs, Δp99 ≤ 40 µs | Δp50 {}, Δp99 {} (B vs A: Δp50 {}, Δp99 {}) | {} |".format(
    d50c, d99c, d50b, d99b, verdict(h1ok)))
rcb, rcbv = ratio_str("C", "B", "tput", "cps")
rba, _ = ratio_str("B", "A", "tput", "cps")
L.append("| H2 new connections/s, {} clients, 1 queue | C ≥ 0.8× B | C/B {}; B/A {}; C {} conn/s | {} |".format(
    env("TPUT_CLIENTS", "8"), rcb, rba, mm("C", "tput", "cps", 0), verdict(None if rcbv is None else rcbv >= 0.8)))
if ("E", "tput") in runs:
    reb, rebv = ratio_str("E", "B", "tput", "cps")
    rec, _ = ratio_str("E", "C", "tput", "cps")
    L.append("| H2 with 2 queues on {} CPUs (reported) | – | E/B {}; E/C {}; E {} conn/s | – |".format(
        os.cpu_count(), reb, rec, mm("E", "tput", "cps", 0)))
if ("D", "tput") in runs:
    rdb, rdbv = ratio_str("D", "B", "tput", "cps")
    L.append("| H2 fast path | D ≥ 0.9× B | D/B {} | {} |".format(rdb, verdict(rdbv >= 0.9 if rdbv else None)))
else:
    L.append("| H2 fast path (D) | D ≥ 0.9× B | not measured: {} | – |".format(env("D_NOTE", "skipped")))

# H3
h3 = {}
h3_note = ""
try:
    with open(os.path.join(raw, "h3.tsv")) as f:
        for line in f:
            p = line.split()
            if p and p[0] == "#":
                h3_note = (h3_note + "; " if h3_note else "") + " ".join(p[1:])
            elif len(p) >= 5:
                # SERVER OUTSTANDING QPS AVG_MS MAX_MS LOST ROUND
                h3.setdefault((p[0], p[1]), []).append((num(p[2]), num(p[4]), num(p[3]), num(p[5])))
except OSError:
    h3_note = "not measured (no h3.tsv)"
if h3:
    def h3m(srv, load, i):
        v = [x[i] for x in h3.get((srv, load), []) if x[i] is not None]
        return med(v), v
    z, zv = h3m("ztdns", "100", 0)
    u, uv = h3m("unbound", "100", 0)
    d, dv = h3m("dnsdist", "100", 0)
    zp99 = h3m("ztdns", "1", 1)[0]  # the maximum: an upper bound of p99
    zavg1 = h3m("ztdns", "1", 2)[0]
    txt = "ztdns stub {} qps; unbound→DoT {} qps; dnsdist→DoH {} qps; ztdns/unbound {}, ztdns/dnsdist {}; ztdns at 1 outstanding: avg {} ms, max {} ms (dnsperf gives no p99)".format(
        fmt(z, 0), fmt(u, 0), fmt(d, 0),
        "{:.2f}×".format(z / u) if z and u else "–", "{:.2f}×".format(z / d) if z and d else "–",
        fmt(zavg1, 3) if zavg1 is not None else "–", fmt(zp99, 3) if zp99 is not None else "–")
    lost = {srv: int(sum(x[3] or 0 for k, xs in h3.items() if k[0] == srv for x in xs))
            for srv in ("ztdns", "unbound", "dnsdist")}
    txt += "; queries lost (no answer in 3 s, all rounds): " + ", ".join(
        "{} {}".format(k, v) for k, v in lost.items())
    ok = None
    if z and u and d and zp99 is not None:
        ok = z >= 1.2 * u and z >= 5 * d and zp99 <= 1.0
    L.append("| H3 DNS stub, 100 outstanding cache-miss queries | ≥ 1.2× unbound (DoT), ≥ 5× dnsdist (DoH); p99 at 1 outstanding ≤ 1 ms | {}{} | {} |".format(
        txt, (" — " + h3_note) if h3_note else "", verdict(ok)))
else:
    L.append("| H3 DNS stub throughput | ≥ 1.2× unbound, ≥ 5× dnsdist | {} | – |".format(h3_note or "not measured"))

# H7 (issue 12): cache hits, ztdns (cache.enabled) vs unbound's cache
h7 = {}
try:
    with open(os.path.join(raw, "h7.tsv")) as f:
        for line in f:
            p = line.split()
            if len(p) >= 5 and p[0] != "#":
                # SERVER QPS AVG_MS LOST ROUND
                h7.setdefault(p[0], []).append((num(p[1]), num(p[2]), num(p[3])))
except OSError:
    pass
if h7:
    z7 = med([x[0] for x in h7.get("ztdns", []) if x[0] is not None])
    u7 = med([x[0] for x in h7.get("unbound", []) if x[0] is not None])
    r7 = "{:.2f}×".format(z7 / u7) if z7 and u7 else "–"
    L.append("| H7 cache-hit qps, 100 outstanding, ztdns vs unbound (its cache), same client | ≥ 1.0× | ztdns {} qps; unbound {} qps; ztdns/unbound {} (median of {} rounds) | {} |".format(
        fmt(z7, 0), fmt(u7, 0), r7, len(h7.get("ztdns", [])), verdict(None if not (z7 and u7) else z7 >= u7)))
else:
    L.append("| H7 cache-hit qps vs unbound | ≥ 1.0× | not measured (no h7.tsv) | – |")

h4m = env("H4_MISSES", "-")
L.append("| H4 allow-before-answer | 0 first-SYN misses in 100k trials | {} | {} |".format(
    env("H4_LINE", "not run"), verdict(None if h4m == "-" else (h4m == "0"))
    + ("" if env("H4_N") == "100000" else " (only {} trials; --full runs 100k)".format(env("H4_N", "?")))))

# H9: the busy phase's p99.9 against 2 ms (h9.sh fails the run on a queue drop).
m9 = re.search(r"busy p99\.9 ([0-9.]+) us", env("H9_LINE", ""))
L.append("| H9 worst verdict delay while busy (SIGHUP every 100 ms, fast-path churn, up to 10k learned/s) | p99.9 ≤ 2 ms, no queue drop | {} | {} |".format(
    env("H9_LINE", "not run"), verdict(None if not m9 else float(m9.group(1)) <= 2000)))

h5 = []
try:
    with open(os.path.join(raw, "allowset.log")) as f:
        for line in f:
            if line.startswith("ALLOWSET"):
                h5.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
except OSError:
    pass
if h5:
    txt = "; ".join("{} entries: hit {} ns, miss {} ns, hot {} ns, {} B/entry".format(
        "{:,}".format(int(e["entries"])), e["hit_ns"], e["miss_ns"], e.get("hot_ns", "–"),
        e["bytes_per_entry"]) for e in h5)
    ok = all(float(e["bytes_per_entry"]) <= 64 for e in h5) and float(h5[0]["hit_ns"]) <= 25
    if len(h5) >= 2:
        r5 = float(h5[-1]["hit_ns"]) / float(h5[0]["hit_ns"])
        txt += "; 1M/100k hit ratio {:.2f}×".format(r5)
        ok = ok and r5 <= 2.0
    L.append("| H5 allowset | lookup ≤ 25 ns at 100k, 1M within 2× of 100k; ≤ 64 B per IPv4 entry | {} | {} |".format(txt, verdict(ok)))
else:
    L.append("| H5 allowset | lookup ≤ 25 ns, ≤ 64 B/entry | not measured | – |")

cpu_c = vals("C", "tput", "cpu")
L.append("| H6 daemon CPU per verdict (C, {} clients) | ≤ 15 µs | {} µs | {} |".format(
    env("TPUT_CLIENTS", "8"), mm("C", "tput", "cpu", 2), verdict(None if not cpu_c else med(cpu_c) <= 15)))
L.append("")

# H6 breakdown: prof.py's lines for one extra C throughput run under perf.
try:
    with open(os.path.join(raw, "prof.txt")) as f:
        prof = [line.rstrip("\n")[6:] for line in f if line.startswith("prof: ")]
except OSError:
    prof = []
L.append("## H6: where the daemon's CPU goes (one C throughput run under `perf record -g`)\n")
if prof:
    L.append("Buckets by call chain (test/bench/prof.py): `reinject` is the accepted packet's "
             "transmit that the verdict sendmsg runs (nfqnl_reinject onwards), `softirq` the "
             "receive processing the kernel runs inline at the end of that transmit (the veth "
             "peer's and our own stack handling the flow's packets), `verdict` the rest of the "
             "sendmsg, `receive` the queue read, `wait` poll and the scheduler, `user` the "
             "daemon's code and libraries. Sampling is cpu-clock (no PMU in this guest).\n")
    L.append("```")
    L.extend(prof)
    L.append("```")
else:
    L.append("not measured (no perf, or the profile run failed: raw/prof.txt)")
L.append("")
L.append("Raw data: `raw/runs.tsv` (cfg round kind cps p50 p99 p99.9 attempts verdicts cpu_us), "
         "`raw/connload.log`, `raw/cdf-*.dat`, `raw/allowset.log`, `raw/h3.tsv`, `raw/prof.txt`. Plot: `cdf.png`.")
with open(out, "w") as f:
    f.write("\n".join(L) + "\n")
