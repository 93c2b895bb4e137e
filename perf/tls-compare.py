#!/usr/bin/python3
"""Debian's wolfSSL against the one tools/wolfssl-build.sh builds with assembly, measured with
perf/tls-bench (the results: docs/benchmarks.md, "TLS crypto").

Runs the tls-bench of two build trees alternately (system, own, system, own, ...), --runs times
each, pinned with taskset -c CPU, and prints Markdown tables: for every figure the median of each
build, the ratio own / system, and every run in order.

    bash tools/wolfssl-build.sh
    cmake -S . -B build/tls-system -DCMAKE_BUILD_TYPE=Release -DRC_WOLFSSL=system
    cmake -S . -B build/tls-own -DCMAKE_BUILD_TYPE=Release -DRC_WOLFSSL=own
    cmake --build build/tls-system -j2 --target tls-bench
    cmake --build build/tls-own -j2 --target tls-bench
    /usr/bin/python3 perf/tls-compare.py --runs 5 --seconds 2      # about 5 min

tls-bench times its own thread's CPU, so other work on the CPU slows a run down without changing
its figures much; the spread of the runs says how much it did.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def run_bench(build, cpu, seconds):
    exe = os.path.join(build, "perf", "tls-bench")
    out = subprocess.run(["taskset", "-c", str(cpu), exe, "--json", "--seconds", str(seconds)],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        sys.exit("%s failed:\n%s" % (exe, out.stderr[-3000:]))
    return json.loads(out.stdout)


def figures(res):
    """The figures of one run, by name."""
    out = []
    for h in res["handshakes"]:
        out.append(("hs|%s|server" % h["case"], h["server_per_s"]))
        out.append(("hs|%s|server_us" % h["case"], h["server_us"]))
        out.append(("hs|%s|client" % h["case"], h["client_per_s"]))
    for r in res["records"]:
        out.append(("rec|%s|%d|mbs" % (r["cipher"], r["size"]), r["mb_per_s"]))
        out.append(("rec|%s|%d|ns" % (r["cipher"], r["size"]), r["ns_per_record"]))
    return dict(out)


def fmt(v):
    return "{:,.0f}".format(v) if v >= 100 else "{:,.1f}".format(v)


def row(label, key, runs):
    sys_v = [f[key] for f in runs["system"]]
    own_v = [f[key] for f in runs["own"]]
    ms, mo = statistics.median(sys_v), statistics.median(own_v)
    ratio = mo / ms if ms else float("nan")
    return "| %s | %s | %s | %.2f | %s | %s |" % (label, fmt(ms), fmt(mo), ratio,
                                                   ", ".join(fmt(v) for v in sys_v),
                                                   ", ".join(fmt(v) for v in own_v))


def print_tables(first, runs):
    print("| server handshakes per CPU-second | Debian | own | own / Debian | Debian runs | own runs |")
    print("|---|---:|---:|---:|---|---|")
    for h in first["handshakes"]:
        print(row(h["case"], "hs|%s|server" % h["case"], runs))
    print()
    print("| server CPU per handshake, us | Debian | own | own / Debian | Debian runs | own runs |")
    print("|---|---:|---:|---:|---|---|")
    for h in first["handshakes"]:
        print(row(h["case"], "hs|%s|server_us" % h["case"], runs))
    print()
    print("| client handshakes per CPU-second | Debian | own | own / Debian | Debian runs | own runs |")
    print("|---|---:|---:|---:|---|---|")
    for h in first["handshakes"]:
        print(row(h["case"], "hs|%s|client" % h["case"], runs))
    print()
    print("| wolfSSL_write, MB/s of plaintext | Debian | own | own / Debian | Debian runs | own runs |")
    print("|---|---:|---:|---:|---|---|")
    for r in first["records"]:
        print(row("%s, %d B" % (r["cipher"], r["size"]),
                  "rec|%s|%d|mbs" % (r["cipher"], r["size"]), runs))
    print()
    print("| wolfSSL_write, ns per record | Debian | own | own / Debian | Debian runs | own runs |")
    print("|---|---:|---:|---:|---|---|")
    for r in first["records"]:
        print(row("%s, %d B" % (r["cipher"], r["size"]),
                  "rec|%s|%d|ns" % (r["cipher"], r["size"]), runs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--system", default="build/tls-system", help="build with -DRC_WOLFSSL=system")
    ap.add_argument("--own", default="build/tls-own", help="build with -DRC_WOLFSSL=own")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0, help="tls-bench --seconds")
    ap.add_argument("--cpu", type=int, default=1)
    args = ap.parse_args()
    runs = {"system": [], "own": []}
    first = {}
    for i in range(args.runs):
        for which in ("system", "own"):
            res = run_bench(getattr(args, which), args.cpu, args.seconds)
            if (which == "own") != res["assembly"]:
                sys.exit("%s/perf/tls-bench: assembly=%s, not what --%s says" %
                         (getattr(args, which), res["assembly"], which))
            first.setdefault(which, res)
            runs[which].append(figures(res))
            print("run %d %s done (%s)" % (i + 1, which, res["build"]), file=sys.stderr)
    print_tables(first["system"], runs)


if __name__ == "__main__":
    main()
