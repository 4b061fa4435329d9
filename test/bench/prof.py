#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""prof.py PERF_SCRIPT_OUTPUT VERDICTS CPU_US_PER_VERDICT

Where ztdnsd's CPU goes while it gives verdicts (H6, issue 11). Reads the
text of `perf script` for a `perf record -g` of the daemon during one C
throughput run and sorts every sample into one bucket, by its call chain:

  reinject   the accepted packet's transmit, run inside the verdict send
             (nfqnl_reinject and what it calls: the rest of the output path)
  softirq    receive processing the kernel runs inline at the end of that
             transmit (local_bh_enable: the veth peer's and our own network
             stack handling packets of the flow, e.g. the far end's SYN)
  verdict    the rest of the verdict sendmsg (netlink, nfnetlink_queue)
  receive    reading the queue (recvmsg: the packet copied to user space)
  wait       waiting and waking (epoll, poll, futex, the scheduler)
  user       user space: the daemon and its libraries (by library below)
  other      any other kernel work (interrupts, timers, other syscalls)

Prints one line per bucket and thread kind (verdict threads "ztverdict*",
the loop): share of samples and µs per verdict (the share of the measured
CPU per verdict). Sampling is cpu-clock (no PMU in this guest)."""
import collections
import sys


def classify(frames):
    syms = [f[0] for f in frames]
    user = frames and not frames[0][1].startswith("[kernel")
    if user:
        return "user"
    joined = " ".join(syms)
    if "nf_reinject" in joined or "nfqnl_reinject" in joined:
        if "handle_softirqs" in joined or "net_rx_action" in joined:
            return "softirq"
        return "reinject"
    if any(s.startswith(("__sys_sendmsg", "__sys_sendto", "netlink_sendmsg",
                         "nfqnl_recv_verdict")) for s in syms):
        return "verdict"
    if any(s.startswith(("__sys_recvmsg", "__sys_recvfrom", "netlink_recvmsg",
                         "___sys_recvmsg")) for s in syms):
        return "receive"
    if any(s.startswith(("do_epoll_wait", "ep_poll", "do_sys_poll", "futex_",
                         "__schedule", "schedule", "do_nanosleep")) for s in syms):
        return "wait"
    return "other"


def samples(path):
    head, frames = None, []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if head is not None:
                    yield head, frames
                head, frames = None, []
                continue
            if not line.startswith(("\t", " ")):
                head, frames = line.split()[0], []
                continue
            parts = line.split()
            if len(parts) >= 2:
                sym = parts[1].split("+")[0]
                dso = parts[-1].strip("()") if parts[-1].startswith("(") else "?"
                frames.append((sym, dso))
    if head is not None:
        yield head, frames


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    try:
        cpu_us = float(sys.argv[3])
    except ValueError:
        cpu_us = 0.0
    count = collections.Counter()
    libs = collections.Counter()
    total = 0
    for comm, frames in samples(sys.argv[1]):
        kind = "verdict-thread" if comm.startswith("ztverdict") else "loop"
        b = classify(frames)
        count[(kind, b)] += 1
        if b == "user" and frames:
            libs[frames[0][1].rsplit("/", 1)[-1]] += 1
        total += 1
    if not total:
        print("prof: no samples")
        return 1
    print(f"prof: {total} samples, {sys.argv[2]} verdicts, {cpu_us:.2f} us CPU per verdict")
    for (kind, b), n in sorted(count.items(), key=lambda kv: -kv[1]):
        print(f"prof: {kind:14s} {b:9s} {100.0 * n / total:5.1f}%  "
              f"{cpu_us * n / total:6.2f} us/verdict")
    paid = sum(n for (k, b), n in count.items() if b in ("reinject", "softirq"))
    print(f"prof: the daemon's own work (all but reinject and softirq): "
          f"{cpu_us * (total - paid) / total:.2f} us/verdict; reinject + inline softirq: "
          f"{cpu_us * paid / total:.2f} us/verdict")
    for lib, n in libs.most_common(6):
        print(f"prof: user space in {lib}: {100.0 * n / total:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
