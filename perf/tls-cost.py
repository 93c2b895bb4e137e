#!/usr/bin/python3
"""What TLS costs ringcast: the same server over ws:// and over wss:// (the results:
docs/benchmarks.md, "ringcast over wss:// against ws://").

One server configuration serves both (`--listen` and `--tls-listen`, a certificate made for the
run by tools/gen-cert.sh), a fresh server per run, pinned to SERVER_CPU; perf/ringcast-bench on
BENCH_CPU drives either its plain or its TLS port. Every workload runs --runs times, ws and wss
alternated run by run, and the table gives the medians with every run:

    saturation  --max -n 1000 -s 64: deliveries per second and per server CPU-second
    open loop   --rate 1000 -n 1000 -s 64 --busy-poll: latency at 1M deliveries/s
    storm       --workload storm: handshakes per second and per server CPU-second (over wss
                full handshakes, and resumed ones with --tls-resume)

    /usr/bin/python3 perf/tls-cost.py --build build/release --runs 3

Over wss:// the bench decrypts every delivery on its one CPU as the server encrypts it; where the
bench's CPU is near 100% the bench, not the server, may be the limit, so the table also gives the
bench's CPU use and the share of it that went to TLS crypto.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

from rcperf import server_start, server_stop

TLS_ADDR = re.compile(r"event=listening\b.*?\btls_addr=127\.0\.0\.1:(\d+)")

WORKLOADS = [
    ("saturation", ["--max", "-n", "1000", "-s", "64"]),
    ("open loop 1000 msgs/s", ["--rate", "1000", "-n", "1000", "-s", "64", "--busy-poll"]),
    ("storm", ["--workload", "storm", "--inflight", "64"]),
]


def run_one(args, cert_dir, workload, scheme, extra):
    """One fresh server, one bench run against its ws or wss port; the bench's JSON."""
    flags = ["--tls-listen", "127.0.0.1:0", "--tls-cert", os.path.join(cert_dir, "cert.pem"),
             "--tls-key", os.path.join(cert_dir, "key.pem")]
    proc, port, logname = server_start(args.build, flags, taskset=args.server_cpu)
    try:
        if scheme == "wss":
            with open(logname) as f:
                port = int(TLS_ADDR.search(f.read()).group(1))
            extra = extra + ["--tls-ca", os.path.join(cert_dir, "cert.pem")]
        cmd = (["taskset", "-c", str(args.bench_cpu),
                os.path.join(args.build, "perf", "ringcast-bench")] + workload + extra +
               ["-d", str(args.duration), "--cpus", str(args.bench_cpu), "--server-pid",
                str(proc.pid), "-q", "%s://127.0.0.1:%d/ws" % (scheme, port)])
        if "storm" not in workload:
            cmd[-1:-1] = ["--warmup", "2"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            sys.exit("ringcast-bench failed: %s\n%s" % (" ".join(cmd), out.stderr[-2000:]))
        return json.loads(out.stdout)
    finally:
        server_stop(proc, logname)


def count(v):
    """12,345 below a million, 12.34M above."""
    return "%.2fM" % (v / 1e6) if v >= 1e6 else "{:,.0f}".format(v)


def show(fmt, vals):
    f = fmt if callable(fmt) else (lambda v: fmt % v)
    return "**%s** (%s)" % (f(statistics.median(vals)), " / ".join(f(v) for v in vals))


def crypto(r):
    return 100 * r["tls"]["crypto_share"] if r.get("tls") else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-d", "--duration", type=int, default=8, help="measured seconds (default 8)")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--bench-cpu", type=int, default=1)
    args = ap.parse_args()

    cert_dir = tempfile.mkdtemp(prefix="ringcast-tls-cost-")
    subprocess.run(["sh", os.path.join(os.path.dirname(__file__), "..", "tools", "gen-cert.sh"),
                    cert_dir], check=True, stdout=subprocess.DEVNULL)

    configs = {
        "saturation": [("ws", []), ("wss", [])],
        "open loop 1000 msgs/s": [("ws", []), ("wss", [])],
        "storm": [("ws", []), ("wss", []), ("wss resumed", ["--tls-resume"])],
    }
    results = {}
    for i in range(args.runs):
        for wname, wargs in WORKLOADS:
            for cname, extra in configs[wname]:
                r = run_one(args, cert_dir, wargs, cname.split()[0], extra)
                results.setdefault((wname, cname), []).append(r)
                if wname == "storm":
                    s = r["storm"]
                    line = "%d handshakes/s, %.0f per server CPU-s, failed %d" % (
                        s["handshakes_per_sec"], s["completed"] / max(r["server_cpu_s"], 1e-9),
                        s["failed"])
                else:
                    line = "%.0f deliveries/s, %.0f per server CPU-s, p99 %.2f ms, missing %d" % (
                        r["deliveries_per_sec"], r["deliveries_per_server_cpu_s"] or 0,
                        r["latency_us"]["p99"] / 1000, r["missing"])
                print("run %d %-22s %-12s %s; bench CPU %.0f%%, crypto %.0f%% of it" % (
                    i + 1, wname, cname, line, 100 * r["bench_cpu_util"], crypto(r)),
                    file=sys.stderr)

    print("| workload | metric | ws:// | wss:// | wss / ws |")
    print("|---|---|---|---|---|")
    for wname, _ in WORKLOADS:
        if wname == "storm":
            metrics = [
                ("handshakes/s", count, lambda r: r["storm"]["handshakes_per_sec"]),
                ("handshakes per server CPU-s", count,
                 lambda r: r["storm"]["completed"] / max(r["server_cpu_s"], 1e-9)),
                ("server CPU per handshake, us", "%.0f",
                 lambda r: 1e6 * r["server_cpu_s"] / max(r["storm"]["completed"], 1)),
                ("handshake latency p99, ms", "%.2f", lambda r: r["latency_us"]["p99"] / 1000),
                ("failed", "%d", lambda r: r["storm"]["failed"]),
            ]
        else:
            metrics = [
                ("deliveries/s", count, lambda r: r["deliveries_per_sec"]),
                ("deliveries per server CPU-s", count,
                 lambda r: r["deliveries_per_server_cpu_s"] or 0),
                ("server CPU per delivery, ns", "%.1f",
                 lambda r: 1e9 / max(r["deliveries_per_server_cpu_s"] or 0, 1)),
                ("latency p50, ms", "%.2f", lambda r: r["latency_us"]["p50"] / 1000),
                ("latency p99, ms", "%.2f", lambda r: r["latency_us"]["p99"] / 1000),
                ("missing", "%d", lambda r: r["missing"]),
            ]
        metrics += [("bench CPU used, %", "%.0f", lambda r: 100 * r["bench_cpu_util"]),
                    ("bench CPU in TLS crypto, %", "%.0f", crypto)]
        names = [c for c, _ in configs[wname]]
        for mname, fmt, f in metrics:
            base = statistics.median(f(r) for r in results[(wname, "ws")])
            for cname in names[1:]:
                vals = [f(r) for r in results[(wname, cname)]]
                ratio = ("%.2fx" % (statistics.median(vals) / base)) if base else ""
                label = wname if cname == "wss" else "%s (%s)" % (wname, cname)
                print("| %s | %s | %s | %s | %s |" % (
                    label, mname, show(fmt, [f(r) for r in results[(wname, "ws")]]),
                    show(fmt, vals), ratio))


if __name__ == "__main__":
    main()
