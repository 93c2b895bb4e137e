#!/usr/bin/python3
"""Two builds of ringcast (or one build with two sets of flags) under the same workload,
alternated run by run: what a change costs.

    /usr/bin/python3 perf/ab.py --a /tmp/before --b build/release --runs 3 \\
        --server-flags="--workers 2 --cpus 0,1" -- --max -n 1000 -s 64 -d 8 --warmup 2
    /usr/bin/python3 perf/ab.py --a build/release --b build/release \\
        --a-flags="--history-messages 0" -- --max -n 10 -s 64 -d 8 --warmup 2

Each run starts a fresh server of one build (BUILD/tools/ringcast, flags from --server-flags,
pinned with taskset to --server-cpus), drives it with BUILD/perf/ringcast-bench pinned to
--bench-cpu with the arguments after `--` (plus --cpus, --server-pid, -q and the URL), and reads
the server's /metrics after the run: hand-offs between workers per message published says which
way the messages went with several workers. The table gives medians in bold and every run, then
the ratio b / a.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import urllib.request

from rcperf import server_start, server_stop


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(ringcast_[a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def run_one(args, build, side_flags, bench_args):
    flags = args.server_flags.split() + side_flags.split()
    proc, port, log = server_start(build, flags, taskset=args.server_cpus)
    try:
        cmd = (["taskset", "-c", str(args.bench_cpu), os.path.join(build, "perf", "ringcast-bench")]
               + bench_args + ["--cpus", str(args.bench_cpu), "--server-pid", str(proc.pid), "-q",
                               "ws://127.0.0.1:%d/ws" % port])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            sys.exit("ringcast-bench failed: %s\n%s" % (" ".join(cmd), out.stderr[-2000:]))
        r = json.loads(out.stdout)
        m = scrape(port)
        published = m.get("ringcast_messages_published_total", 0)
        r["handoffs_per_publish"] = (m.get('ringcast_handoffs_total{result="sent"}', 0) /
                                     published if published else 0)
        return r
    finally:
        server_stop(proc, log)


METRICS = [
    ("deliveries/s", "%.0f", lambda r: r["deliveries_per_sec"]),
    ("deliveries per server CPU-s", "%.0f", lambda r: r["deliveries_per_server_cpu_s"] or 0),
    ("latency p50, ms", "%.2f", lambda r: r["latency_us"]["p50"] / 1000),
    ("latency p99, ms", "%.2f", lambda r: r["latency_us"]["p99"] / 1000),
    ("missing", "%d", lambda r: r["missing"]),
    ("hand-offs per publish", "%.2f", lambda r: r["handoffs_per_publish"]),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True, help="build directory A (the baseline)")
    ap.add_argument("--b", required=True, help="build directory B")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--server-flags", default="", help="ringcast flags, one string")
    ap.add_argument("--a-flags", default="", help="more ringcast flags for A only")
    ap.add_argument("--b-flags", default="", help="more ringcast flags for B only")
    ap.add_argument("--server-cpus", default="0", help="taskset list for the server (default 0)")
    ap.add_argument("--bench-cpu", type=int, default=1)
    ap.add_argument("bench", nargs=argparse.REMAINDER, help="-- then ringcast-bench arguments")
    args = ap.parse_args()
    bench_args = args.bench[1:] if args.bench[:1] == ["--"] else args.bench
    if not bench_args:
        ap.error("give the workload after --, e.g. -- --max -n 1000 -s 64")

    res = {"a": [], "b": []}
    for i in range(args.runs):
        for key in ("a", "b"):
            r = run_one(args, getattr(args, key), getattr(args, key + "_flags"), bench_args)
            res[key].append(r)
            print("run %d %s: %s" % (i + 1, key, ", ".join(
                "%s %s" % (name, fmt % f(r)) for name, fmt, f in METRICS)), file=sys.stderr)

    def show(fmt, vals):
        return "**%s** (%s)" % (fmt % statistics.median(vals), " / ".join(fmt % v for v in vals))

    name = lambda key: " ".join(x for x in (getattr(args, key), getattr(args, key + "_flags")) if x)
    print("| metric | a: %s | b: %s | b / a |" % (name("a"), name("b")))
    print("|---|---|---|---|")
    for name, fmt, f in METRICS:
        va, vb = [f(r) for r in res["a"]], [f(r) for r in res["b"]]
        ma = statistics.median(va)
        ratio = "%.2fx" % (statistics.median(vb) / ma) if ma else ""
        print("| %s | %s | %s | %s |" % (name, show(fmt, va), show(fmt, vb), ratio))


if __name__ == "__main__":
    main()
