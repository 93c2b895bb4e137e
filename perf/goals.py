#!/usr/bin/python3
"""ringcast's performance goals as benchmarks: run each, print what was measured next to the goal
(the goals and the results so far: docs/benchmarks.md).

One server core (`taskset -c SERVER_CPU`, one worker), ringcast-bench pinned to BENCH_CPU, 64-byte
messages, 1,000 subscribers, a fresh server for every run unless said otherwise; --runs runs of
each (default 3) and the median:

  saturation   fanout --max: deliveries per server CPU-second        goal >= 8.2M
  open10       --rate 10, the bench busy-polling (as in every open   goal: p99 <= 3 ms
               loop point): every run sustained (0 missing, 0 gaps)
  open100      --rate 100                                             goal: p99 <= 4 ms
  open1k       --rate 1000 (1M deliveries/s)                          goal: p99 <= 10 ms
  open5k       --rate 5000 (5M deliveries/s)                          goal: p99 <= 25 ms
  sweep        rates 10 .. 16,000 msgs/s, a fresh server per point: p50 and p99 against the
               rate, to see that the curve has no cliff (--chart FILE.png draws it with gnuplot,
               installing gnuplot-nox when missing)
  ramp         one server, rates 1000, 2000, 4000, 8000, 16000, then 1000 again: deliveries/s
               should level off rather than collapse past capacity, and recover at the end
  idle         perf/idle-memory.py, 10,000 idle subscribers of a      goal <= 400 B/subscriber
               topic, server RSS growth after 2.5 s
  slow         the fast 90% with 10% of subscribers not reading, against all 100% fast, at the
               same --rate (default 3000 msgs/s)                      goal: >= 95% of the
                                                                        throughput, server RSS
                                                                        bounded

    /usr/bin/python3 perf/goals.py --build build/release              # everything, ~8 minutes
    /usr/bin/python3 perf/goals.py --only open1k,open5k --runs 5
    /usr/bin/python3 perf/goals.py --only open10,open100,open1k --subscribers 10000
    /usr/bin/python3 perf/goals.py --only sweep --runs 1 --chart /tmp/sweep.png

It prints one line per run on stderr and a Markdown table on stdout. This machine is shared and has
two CPUs: run it when nothing else does, and compare with runs of the same session only.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

from rcperf import server_start, server_stop

ARGS = None


def start(extra=()):
    return server_start(ARGS.build, extra, taskset=ARGS.server_cpu)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def bench(port, pid, *args):
    cmd = ["taskset", "-c", str(ARGS.bench_cpu), os.path.join(ARGS.build, "perf", "ringcast-bench"),
           "--cpus", str(ARGS.bench_cpu), "--server-pid", str(pid), "-q", "-s", "64",
           "--warmup", "2"] + [str(a) for a in args] + ["ws://127.0.0.1:%d/ws" % port]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    try:
        return json.loads(out.stdout)
    except ValueError:
        sys.exit("ringcast-bench printed no JSON (exit %d): %s\n%s"
                 % (out.returncode, " ".join(cmd), out.stderr[-1500:]))


def one_server(*args, extra=()):
    proc, port, log = start(extra)
    try:
        return bench(port, proc.pid, *args)
    finally:
        server_stop(proc, log)


def say(name, r):
    lat = r["latency_us"]
    print("%-10s delivered/s %10.0f  per server CPU-s %10.0f  missing %d gaps %d  p50 %.1f ms "
          "p99 %.1f ms  server cpu %.2f s  bench cpu %.2f s"
          % (name, r["deliveries_per_sec"], r.get("deliveries_per_server_cpu_s") or 0,
             r["missing"], r["gaps"], lat["p50"] / 1000, lat["p99"] / 1000,
             r.get("server_cpu_s") or 0, r.get("bench_cpu_s") or 0), file=sys.stderr)


def med(vals, fmt):
    return "**%s** (%s)" % (fmt % statistics.median(vals), " / ".join(fmt % v for v in vals))


def goal_saturation(rows):
    runs = []
    for _ in range(ARGS.runs):
        r = one_server("--max", "-n", 1000, "-d", ARGS.duration)
        say("saturation", r)
        runs.append(r)
    per = [r["deliveries_per_server_cpu_s"] or 0 for r in runs]
    rows.append(("saturation: deliveries per server CPU-second >= 8.2M",
                 med([v / 1e6 for v in per], "%.2fM") + "; deliveries/s " +
                 med([r["deliveries_per_sec"] / 1e6 for r in runs], "%.2fM") +
                 "; bench CPU " + med([r["bench_cpu_s"] for r in runs], "%.1f s"),
                 "met" if statistics.median(per) >= 8.2e6 else "not met"))


def open_runs(rate):
    """ARGS.runs open-loop runs at rate msgs/s, each on a fresh server, the bench busy-polling
    (the ~100 us wake-up of an idle vCPU stays out of its time stamps)."""
    runs = []
    for _ in range(ARGS.runs):
        r = one_server("--rate", rate, "-n", ARGS.subscribers, "-d", ARGS.duration, "--busy-poll")
        say("open%d" % rate, r)
        runs.append(r)
    return runs


def sustained(r, rate):
    return (r["missing"] == 0 and r["gaps"] == 0 and
            r["deliveries_per_sec"] >= 0.99 * rate * ARGS.subscribers)


def goal_open(rows, rate, p99_goal_ms):
    runs = open_runs(rate)
    kept = sum(1 for r in runs if sustained(r, rate))
    p99 = [r["latency_us"]["p99"] / 1000 for r in runs]
    ok = kept == len(runs) and statistics.median(p99) <= p99_goal_ms
    rows.append(("open loop %d msgs/s to %d subscribers (%s deliveries/s): sustained in every run, "
                 "p99 <= %d ms" % (rate, ARGS.subscribers, "{:,}".format(rate * ARGS.subscribers),
                                   p99_goal_ms),
                 "sustained in %d of %d runs; p99 %s ms; p50 %s ms; server CPU %s s of %d"
                 % (kept, len(runs), med(p99, "%.1f"),
                    med([r["latency_us"]["p50"] / 1000 for r in runs], "%.1f"),
                    med([r["server_cpu_s"] or 0 for r in runs], "%.1f"), ARGS.duration),
                 "met" if ok else "not met"))


def goal_ramp(rows):
    rates = [1000, 2000, 4000, 8000, 16000, 1000]
    series = []
    for _ in range(ARGS.runs):
        proc, port, log = start()
        try:
            got = []
            for rate in rates:
                r = bench(port, proc.pid, "--rate", rate, "-n", 1000, "-d", 5)
                say("ramp%d" % rate, r)
                got.append(r["deliveries_per_sec"])
            series.append(got)
        finally:
            server_stop(proc, log)
    cells = []
    for i, rate in enumerate(rates):
        cells.append("%d: %s" % (rate, med([s[i] / 1e6 for s in series], "%.2fM")))
    peak = max(statistics.median(s[i] for s in series) for i in range(len(rates) - 1))
    last_top = statistics.median(s[-2] for s in series)
    recovered = statistics.median(s[-1] for s in series) >= 0.99 * rates[-1] * 1000
    ok = last_top >= 0.8 * peak and recovered
    rows.append(("no cliff: past capacity throughput levels off, and recovers",
                 "deliveries/s at each rate (msgs/s), one server per series: " + "; ".join(cells),
                 "met" if ok else "not met"))


SWEEP_RATES = [10, 30, 100, 300, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 12000, 16000]


def goal_sweep(rows):
    points = []
    for rate in SWEEP_RATES:
        runs = open_runs(rate)
        p50 = statistics.median(r["latency_us"]["p50"] / 1000 for r in runs)
        p99 = statistics.median(r["latency_us"]["p99"] / 1000 for r in runs)
        got = statistics.median(r["deliveries_per_sec"] for r in runs)
        kept = sum(1 for r in runs if sustained(r, rate))
        points.append((rate, p50, p99, got, kept, len(runs)))
    cells = ["%d: %.1f / %.1f ms%s" % (rate, p50, p99, "" if kept == n else
                                        " (sustained %d of %d, %.2fM/s)" % (kept, n, got / 1e6))
             for rate, p50, p99, got, kept, n in points]
    rows.append(("latency against rate, %d subscribers (msgs/s: p50 / p99, medians)"
                 % ARGS.subscribers, "; ".join(cells), "see chart" if ARGS.chart else "-"))
    if ARGS.chart:
        chart(points)


def chart(points):
    """p50 and p99 against the offered rate, log-log, with gnuplot (gnuplot-nox)."""
    dat = ARGS.chart + ".dat"
    with open(dat, "w") as f:
        f.write("# rate_msgs_per_s p50_ms p99_ms deliveries_per_s\n")
        for rate, p50, p99, got, _, _ in points:
            f.write("%d %.3f %.3f %.0f\n" % (rate, p50, p99, got))
    script = ("set terminal pngcairo size 900,500; set output '%s'; set logscale xy; "
              "set xlabel 'offered rate, messages/s (x %d subscribers)'; "
              "set ylabel 'latency from intended send time, ms'; set key top left; set grid; "
              "plot '%s' using 1:2 with linespoints title 'p50', "
              "'%s' using 1:3 with linespoints title 'p99'"
              % (ARGS.chart, ARGS.subscribers, dat, dat))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # gnuplot-nox installed when missing (as root), as perf/side-by-side.py does
    subprocess.run(["bash", "-c", ". tools/apt-need.sh && apt_need goals.py --cmd gnuplot "
                    "gnuplot-nox"], cwd=root)
    try:
        subprocess.run(["gnuplot", "-e", script], check=True, timeout=60)
        print("chart: %s (data %s)" % (ARGS.chart, dat), file=sys.stderr)
    except (OSError, subprocess.SubprocessError) as e:
        print("chart: gnuplot failed (%s); the data is in %s" % (e, dat), file=sys.stderr)


def goal_idle(rows):
    per = []
    for _ in range(ARGS.runs):
        proc, port, log = start(["--max-connections", "12000"])
        try:
            out = subprocess.run(
                ["taskset", "-c", str(ARGS.bench_cpu), sys.executable,
                 os.path.join(os.path.dirname(os.path.abspath(__file__)), "idle-memory.py"),
                 "--port", str(port), "--pid", str(proc.pid), "--connections", "10000",
                 "--topic", "quotes"],
                capture_output=True, text=True, timeout=600)
            m = re.search(r"user_bytes_per_connection=(\d+)", out.stdout + out.stderr)
            if not m:
                sys.exit("idle-memory.py: %s" % (out.stdout + out.stderr)[-1000:])
            per.append(int(m.group(1)))
            print("idle       %d B per connection" % per[-1], file=sys.stderr)
        finally:
            server_stop(proc, log)
    rows.append(("idle: <= 400 B of server user-space memory per idle subscriber (of one topic) "
                 "at 10,000",
                 med(per, "%d") + " B", "met" if statistics.median(per) <= 400 else "not met"))


def goal_slow(rows):
    rate = ARGS.slow_rate
    fast_all, fast_90, rss = [], [], []
    flags = ["--queue-bytes-max", "1M"]
    for _ in range(ARGS.runs):
        r = one_server("--rate", rate, "-n", 1000, "-d", ARGS.duration, extra=flags)
        say("allfast", r)
        fast_all.append(r["deliveries_per_sec"] / 1000)    # per subscriber
        proc, port, log = start(flags)
        try:
            r = bench(port, proc.pid, "--workload", "slow", "--slow-fraction", "0.1", "--rate",
                      rate, "-n", 1000, "-d", ARGS.duration)
            rss.append(rss_kib(proc.pid) / 1024)
        finally:
            server_stop(proc, log)
        say("slow10%", r)
        fast_90.append(r["deliveries_per_sec"] / 900)
    ratio = statistics.median(fast_90) / statistics.median(fast_all)
    rows.append(("slow consumers (10%% stop reading, %d msgs/s): the fast 90%% keep >= 95%% of "
                 "their throughput" % rate,
                 "per fast subscriber: %s msgs/s without slow ones, %s with (%.1f%%); server RSS "
                 "at the end %s MiB (queue-bytes-max 1 MiB x 100 slow = 100 MiB at most)"
                 % (med(fast_all, "%.0f"), med(fast_90, "%.0f"), 100 * ratio,
                    med(rss, "%.0f")),
                 "met" if ratio >= 0.95 else "not met"))


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--bench-cpu", type=int, default=1)
    ap.add_argument("--slow-rate", type=int, default=3000)
    ap.add_argument("--subscribers", type=int, default=1000,
                    help="subscribers of the open-loop points and the sweep")
    ap.add_argument("--chart", help="sweep: draw p50/p99 against the rate into this PNG")
    ap.add_argument("--only", default="saturation,open10,open100,open1k,open5k,ramp,idle,slow")
    ARGS = ap.parse_args()
    rows = []
    for name in ARGS.only.split(","):
        {"saturation": goal_saturation,
         "open10": lambda r: goal_open(r, 10, 3),
         "open100": lambda r: goal_open(r, 100, 4),
         "open1k": lambda r: goal_open(r, 1000, 10),
         "open5k": lambda r: goal_open(r, 5000, 25),
         "sweep": goal_sweep, "ramp": goal_ramp, "idle": goal_idle,
         "slow": goal_slow}[name](rows)
    print("| goal | measured (median, then every run) | status |")
    print("|---|---|---|")
    for goal, measured, status in rows:
        print("| %s | %s | %s |" % (goal, measured, status))


if __name__ == "__main__":
    main()
