#!/usr/bin/python3
"""Latency across workers, and what --idle-spin-us buys (the results: docs/benchmarks.md).

For each configuration, starts the real server, runs perf/ringcast-bench against it in open loop
(--rate) and keeps the bench's JSON; every configuration runs --runs times (fresh server each
time), and the table gives medians with every run:

    1w          one worker (taskset -c SERVER_CPU): no hand-off at all, the baseline
    2w spin=S   two workers on SERVER_CPU and BENCH_CPU, --idle-spin-us S: about half of the
                subscribers sit on the worker that did not receive the publish, so they get each
                message through a mailbox, and while idle that worker sleeps and is woken by
                IORING_OP_MSG_RING (unless it is still spinning)

    /usr/bin/python3 perf/workers-latency.py --build build/release            # defaults below
    /usr/bin/python3 perf/workers-latency.py --rate 1000 -n 100 --spins 0,50,500 --runs 3

This machine has two CPUs, so with two workers the second worker shares BENCH_CPU with the load
generator: read the two-worker figures as "what a hand-off costs when the CPUs are also busy with
something else", and compare configurations with each other, not with a many-core machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from rcperf import server_start, server_stop


def run_one(args, flags, taskset):
    proc, port, logname = server_start(args.build, ["--pool-buffers", "512", "--recv-buffers",
                                                    "256"] + flags, taskset)
    try:
        out = subprocess.run(
            ["taskset", "-c", str(args.bench_cpu),
             os.path.join(args.build, "perf", "ringcast-bench"), "--rate", str(args.rate),
             "-n", str(args.subscribers), "-s", str(args.size), "-d", str(args.duration),
             "--warmup", "2", "--cpus", str(args.bench_cpu), "--server-pid", str(proc.pid), "-q",
             "ws://127.0.0.1:%d/ws" % port], capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            sys.exit("ringcast-bench failed: %s" % out.stderr[-2000:])
        res = json.loads(out.stdout)
    finally:
        with open(logname) as f:
            text = f.read()
        server_stop(proc, logname)
    return res, text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--rate", type=int, default=1000, help="messages/s (default 1000)")
    ap.add_argument("-n", "--subscribers", type=int, default=100)
    ap.add_argument("-s", "--size", type=int, default=64)
    ap.add_argument("-d", "--duration", type=int, default=10)
    ap.add_argument("--spins", default="0,50,500", help="idle-spin-us values (default 0,50,500)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--bench-cpu", type=int, default=1)
    args = ap.parse_args()

    configs = [("1w", [], args.server_cpu)]
    for s in args.spins.split(","):
        configs.append(("2w spin=%s" % s, ["--workers", "2", "--cpus", "%d,%d" % (
            args.server_cpu, args.bench_cpu), "--idle-spin-us", s], None))
    rows = []
    for name, flags, taskset in configs:
        runs = []
        for _ in range(args.runs):
            res, _ = run_one(args, flags, taskset)
            runs.append(res)
            lat = res["latency_us"]
            print("%-12s p50 %8.1f us  p99 %8.1f us  delivered/s %9.0f  missing %d  server cpu "
                  "%.2f s" % (name, lat["p50"], lat["p99"], res["deliveries_per_sec"],
                              res["missing"], res["server_cpu_s"] or 0), file=sys.stderr)
        rows.append((name, runs))
    print("\n| configuration | p50 us | p99 us | deliveries/s | server CPU s per 10^6 deliveries "
          "| missing |")
    print("|---|---|---|---|---|---|")
    for name, runs in rows:
        def col(f, fmt):
            vals = [f(r) for r in runs]
            return "**%s** (%s)" % (fmt % statistics.median(vals),
                                    " / ".join(fmt % v for v in vals))
        print("| %s | %s | %s | %s | %s | %s |" % (
            name, col(lambda r: r["latency_us"]["p50"], "%.0f"),
            col(lambda r: r["latency_us"]["p99"], "%.0f"),
            col(lambda r: r["deliveries_per_sec"], "%.0f"),
            col(lambda r: (r["server_cpu_s"] or 0) / max(r["delivered"], 1) * 1e6, "%.2f"),
            col(lambda r: r["missing"], "%d")))


if __name__ == "__main__":
    main()
