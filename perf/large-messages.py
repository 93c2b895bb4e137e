#!/usr/bin/python3
"""Large-message throughput against small (the results: docs/benchmarks.md, "Large messages").

One publisher, --subscribers subscribers of one topic (default 100), closed loop (ringcast-bench
--max), one payload size per point; each point runs --runs times (default 3), a fresh server each
time (one worker, `taskset -c SERVER_CPU`), the bench pinned to BENCH_CPU; the runs go round the
sizes (run 1 of every size, then run 2, ...) so that a change in the machine touches every size.

    64 B, 4 KiB      small messages, many frames per send
    65280 B          the largest payload that fits one 64 KiB pool buffer with its 256 bytes of
                     header room: the largest message that is not a chain
    65281 B          the smallest chained one: the chain boundary (a cliff would show here)
    256 KiB .. 4 MiB chains of 5 to 65 buffers, sent to each subscriber one buffer per send

At most --window-bytes are in flight (default 16 MiB: the window is
min(256, max(4, 16 MiB / size)) messages), so that a subscriber's queue never overflows
--queue-bytes-max (32 MiB here) and large messages stay well under --large-bytes-max (64 MiB),
and the bench's drain (2 s) covers what is in flight at the end.

Reported per size, medians: messages/s (fanned out to every subscriber), deliveries/s, deliveries
and bytes delivered per server CPU-second, the latter's ratio to the 64 B and 65280 B points, the
server's bytes per send (its /metrics), and the CPU used by the server, the bench, the kernel's
ksoftirqd threads (loopback TCP work not counted in the server's time) and anything else on the
machine (busy time in /proc/stat less the rest: a noisy neighbour shows here). Every run is
checked: nothing missing, no gap, no stall, no error, the bytes the bench received match its
deliveries, no drop in the server's /metrics, its large-message memory and chain buffers back to
0 once the bench has closed, no warn/error line in its log (but the open-publishing notice).

    /usr/bin/python3 perf/large-messages.py --build build/release          # ~4 minutes
    /usr/bin/python3 perf/large-messages.py --sizes 65280,65281 --runs 5

It prints one line per run on stderr and a Markdown table on stdout. This machine is shared and has
two CPUs: run it when nothing else does, and compare with runs of the same session only.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.request

from rcperf import cpu_busy_s, ksoftirqd_cpu_s, proc_cpu_s, server_start, server_stop

ARGS = None
SIZES = [64, 4096, 65280, 65281, 262144, 1048576, 4194304]
SERVER_FLAGS = ["--message-max-bytes", "4M", "--queue-bytes-max", "32M"]
# server log lines at warn or error level that are expected: the test server has no publish token
LOG_OK = re.compile(r"event=publish_open\b")


def window(size):
    return min(256, max(4, ARGS.window_bytes // size))


def frame_len(size):
    """The bytes of one server frame (unmasked) carrying `size` bytes of payload."""
    return size + (2 if size < 126 else 4 if size < 65536 else 10)


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def settled(port):
    """The server's metrics once its large-message memory is back (at most 3 s after the bench)."""
    deadline = time.monotonic() + 3
    while True:
        m = metrics(port)
        if (m["ringcast_large_message_bytes"] == 0 and m['ringcast_buffers{state="chain"}'] == 0
                and m["ringcast_connections"] <= 1) or time.monotonic() > deadline:
            return m
        time.sleep(0.1)


def bench(port, pid, size):
    cmd = ["taskset", "-c", str(ARGS.bench_cpu), os.path.join(ARGS.build, "perf", "ringcast-bench"),
           "--max", "-n", str(ARGS.subscribers), "-s", str(size), "-w", str(window(size)),
           "--recv-buf", str(ARGS.recv_buf), "-d", str(ARGS.duration), "--warmup", "2",
           "--cpus", str(ARGS.bench_cpu), "--server-pid", str(pid), "-q",
           "ws://127.0.0.1:%d/ws" % port]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    try:
        return json.loads(out.stdout)
    except ValueError:
        sys.exit("ringcast-bench printed no JSON (exit %d): %s\n%s"
                 % (out.returncode, " ".join(cmd), out.stderr[-1500:]))


def checks(r, m, log, size):
    """What is wrong with a run, as short phrases (empty: nothing)."""
    bad = []
    for k in ("missing", "gaps", "dups", "lost_tail", "stalls", "closed_in_run"):
        if r[k]:
            bad.append("%s %d" % (k, r[k]))
    if not r["ok"] or r["errors"] or r["server_closes"]:
        bad.append("errors %s, server closes %s" % (r["errors"], r["server_closes"]))
    # what the bench received past the handshakes: its deliveries, then the closing handshakes
    extra = r["io"]["recv_bytes"] - r["delivered_total"] * frame_len(size)
    if not 0 <= extra <= 16 * (ARGS.subscribers + 1):
        bad.append("received %d bytes for %d deliveries (%+d)"
                   % (r["io"]["recv_bytes"], r["delivered_total"], extra))
    if m["ringcast_large_message_bytes"] or m['ringcast_buffers{state="chain"}']:
        bad.append("after the run: large_message_bytes %d, chain buffers %d"
                   % (m["ringcast_large_message_bytes"], m['ringcast_buffers{state="chain"}']))
    for k, v in m.items():
        if k.startswith("ringcast_messages_dropped_total") and v:
            bad.append("%s %d" % (k, v))
    for line in log.splitlines():
        if re.search(r"level=(warn|error)", line) and not LOG_OK.search(line):
            bad.append("log: " + line.strip())
    return bad


def run_once(size):
    proc, port, log = server_start(ARGS.build, SERVER_FLAGS, taskset=ARGS.server_cpu)
    try:
        busy0, soft0, server0 = cpu_busy_s(), ksoftirqd_cpu_s(), proc_cpu_s(proc.pid)
        bench0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        r = bench(port, proc.pid, size)
        busy1, soft1, server1 = cpu_busy_s(), ksoftirqd_cpu_s(), proc_cpu_s(proc.pid)
        bench1, t1 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        m = settled(port)
        with open(log) as f:
            text = f.read()
    finally:
        server_stop(proc, log)
    r["bad"] = checks(r, m, text, size)
    # while the bench ran, in CPUs: the ksoftirqd threads (part of the run's own loopback TCP work,
    # not counted in the server's CPU time) and everything else on the machine
    own = (server1 - server0) + (bench1.ru_utime + bench1.ru_stime - bench0.ru_utime -
                                 bench0.ru_stime) + (soft1 - soft0)
    r["softirqd_cpus"] = (soft1 - soft0) / (t1 - t0)
    r["other_cpus"] = max(0.0, (busy1 - busy0) - own) / (t1 - t0)
    r["bytes_per_send"] = m["ringcast_bytes_sent_total"] / max(1, m["ringcast_sends_total"])
    r["server_util"] = (r["server_cpu_s"] or 0) / r["measured_s"]
    print("%8d B  w %3d  msgs/s %9.0f  deliveries/s %10.0f  per server CPU-s %10.0f  "
          "%.2f GB/s  %6.0f B/send  server %.2f bench %.2f ksoftirqd %.2f other %.2f CPU%s"
          % (size, window(size), r["deliveries_per_sec"] / ARGS.subscribers,
             r["deliveries_per_sec"], r["deliveries_per_server_cpu_s"] or 0,
             (r["deliveries_per_server_cpu_s"] or 0) * size / 1e9, r["bytes_per_send"],
             r["server_util"], r["bench_cpu_util"], r["softirqd_cpus"], r["other_cpus"],
             "  BAD: " + "; ".join(r["bad"]) if r["bad"] else ""), file=sys.stderr)
    return r


def fmt(v):
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return "%.3g%s" % (v / div, unit)
    return "%.3g" % v


def size_name(size):
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return "%d MiB" % (size >> 20)
    if size >= 1 << 10 and size % (1 << 10) == 0:
        return "%d KiB" % (size >> 10)
    return "%d B" % size


def table(runs):
    def med(size, f):
        return statistics.median(f(r) for r in runs[size])

    def gbps(r):
        return (r["deliveries_per_server_cpu_s"] or 0) * r["size"] / 1e9

    base = {s: med(s, gbps) for s in (64, 65280) if s in runs}
    print("| payload | window | messages/s | deliveries/s | deliveries per server CPU-s "
          "(every run) | GB/s per server CPU-s (every run) | GB/s vs 64 B | GB/s vs 65280 B "
          "| KiB per send | server / bench / ksoftirqd / other CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in ARGS.sizes:
        rs = runs[size]
        per = [r["deliveries_per_server_cpu_s"] or 0 for r in rs]
        g = med(size, gbps)
        print("| %s | %d | %s | %s | **%s** (%s) | **%.2f** (%s) | %s | %s | %.1f "
              "| %.2f / %.2f / %.2f / %.2f |"
              % (size_name(size), window(size),
                 fmt(med(size, lambda r: r["deliveries_per_sec"]) / ARGS.subscribers),
                 fmt(med(size, lambda r: r["deliveries_per_sec"])), fmt(statistics.median(per)),
                 " / ".join(fmt(v) for v in per), g, " / ".join("%.2f" % gbps(r) for r in rs),
                 "%.1fx" % (g / base[64]) if 64 in base else "-",
                 "%.2fx" % (g / base[65280]) if 65280 in base else "-",
                 med(size, lambda r: r["bytes_per_send"]) / 1024,
                 med(size, lambda r: r["server_util"]), med(size, lambda r: r["bench_cpu_util"]),
                 med(size, lambda r: r["softirqd_cpus"]), med(size, lambda r: r["other_cpus"])))
    bad = [(size, i + 1, r["bad"]) for size in ARGS.sizes for i, r in enumerate(runs[size])
           if r["bad"]]
    for size, i, what in bad:
        print("\n%s, run %d: %s" % (size_name(size), i, "; ".join(what)))
    if not bad:
        print("\nEvery run: nothing missing, no gap, no stall, no error, received bytes = "
              "deliveries x frame, no drop, large-message memory back to 0 after the run.")


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--window-bytes", type=int, default=16 << 20,
                    help="bytes in flight at most (default 16 MiB; the window at least 4)")
    ap.add_argument("--recv-buf", type=int, default=65536,
                    help="the bench's receive buffers (default 64 KiB: at 1-4 MiB a half to a "
                         "third of the receive completions of the bench's default 16 KiB)")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--bench-cpu", type=int, default=1)
    ARGS = ap.parse_args()
    ARGS.sizes = [int(s) for s in ARGS.sizes.split(",")]
    load0 = os.getloadavg()[0]
    runs = {s: [] for s in ARGS.sizes}
    for _ in range(ARGS.runs):
        for size in ARGS.sizes:
            runs[size].append(run_once(size))
    print("load average (1 min): %.2f before, %.2f after" % (load0, os.getloadavg()[0]),
          file=sys.stderr)
    table(runs)


if __name__ == "__main__":
    main()
