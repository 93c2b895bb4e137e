#!/usr/bin/python3
"""Integration: perf/ringcast-bench, every workload in a short smoke run against the real server.

    /usr/bin/python3 tests/integration/test_bench.py --bin build/release/tools/ringcast

The load generator is built next to the server (build/perf/ringcast-bench). Each case runs one
workload for a second or two and checks that its numbers are sane, not fast: the JSON parses, the
fields a reader relies on are there, deliveries are not zero, and nothing is missing or out of
order that the workload says should not be.

fanout       the default workload, open loop: every subscriber gets every message.
market       ringcast.v1, 20 topics with Zipf popularity, 3 topics per subscriber: every message
             reaches its topic's subscribers, no server sequence gap without a `missed` notice.
slow         one subscriber in four stops reading after the warmup; the server (a short queue,
             drop-oldest) drops for it only: the fast ones miss nothing, the slow one was told of
             every drop by `missed` notices. With --slow-policy disconnect it is closed instead.
echo         round trips on /echo, closed loop and open loop; --percentiles writes the distribution.
idle         connections held; the server's RSS and descriptors before and loaded.
bad_flags    wrong options are refused with exit status 2 and a message naming the option.
"""

import json
import os
import subprocess

from rcserver import Suite, Fail, check, expect_eq, t, scaled

suite = Suite("bench")


def bench_path(ctx) -> str:
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary))), "perf",
                        "ringcast-bench")
    if not os.access(path, os.X_OK):
        raise Fail("no load generator at %s (build the perf/ targets)" % path)
    return path


def run_bench(ctx, url: str, *args, want_ok: bool = True) -> dict:
    """Run the bench quietly; return its JSON object (checked: ok, and the workload's name)."""
    cmd = [bench_path(ctx), "-q"] + [str(a) for a in args] + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=t(60))
    try:
        r = json.loads(out.stdout)
    except ValueError:
        raise Fail("ringcast-bench printed no JSON (exit %d): %s" % (out.returncode,
                                                                     out.stderr[-500:]))
    if want_ok:
        check(r.get("ok") is True and out.returncode == 0,
              "bench not ok (exit %d): %r" % (out.returncode, r.get("error")))
    for key in ("workload", "published", "expected", "delivered", "missing", "latency_us",
                "bench_cpu_s", "server_cpu_s", "server_closes", "errors"):
        check(key in r, "no %r in the JSON" % key)
    return r


def timeline(duration: float = 1.0):
    """Short phases, the drain scaled for a slow (sanitized) server."""
    return ["-d", duration, "--warmup", 0.5, "--drain", t(2)]


@suite.case(timeout=30)
def fanout(ctx):
    srv = ctx.server()
    r = run_bench(ctx, "ws://127.0.0.1:%d/ws" % srv.port, "--rate", scaled(500), "-n", 50,
                  "--server-pid", srv.pid, *timeline())
    expect_eq(r["workload"], "fanout", "workload")
    expect_eq(r["connected_subscribers"], 50, "subscribers connected")
    check(r["delivered"] > 0, "nothing delivered")
    expect_eq(r["missing"], 0, "deliveries missing")
    expect_eq(r["gaps"] + r["dups"], 0, "gaps and duplicates")
    check(r["server_cpu_s"] is not None, "--server-pid given but no server_cpu_s")
    ctx.note("%d deliveries, p99 %.1f ms" % (r["delivered"], r["latency_us"]["p99"] / 1000))


@suite.case(timeout=30)
def market(ctx):
    srv = ctx.server()
    r = run_bench(ctx, "ws://127.0.0.1:%d/ws" % srv.port, "--workload", "market", "-n", 100,
                  "-p", 2, "--topics", 20, "--per-sub", 3, "--rate", scaled(500), *timeline())
    expect_eq(r["proto"], "v1", "proto")
    expect_eq((r["topics"], r["per_sub"]), (20, 3), "topics, per subscriber")
    check(32 <= r["size_min"] <= r["size_max"] <= 256, "sizes %r..%r" % (r["size_min"],
                                                                       r["size_max"]))
    expect_eq(r["connected_subscribers"], 100, "subscribers connected")
    # With Zipf topics a message has its topic's subscribers: fewer than all, more than none.
    check(0 < r["expected"] < r["published"] * 100, "expected %d deliveries of %d messages"
          % (r["expected"], r["published"]))
    check(r["delivered"] > 0, "nothing delivered")
    expect_eq(r["missing"], 0, "deliveries missing")
    expect_eq(r["unexplained_gaps"] + r["seq_back"], 0, "server sequence errors")
    expect_eq(r["gaps"] + r["dups"] + r["unexpected"] + r["foreign"], 0,
              "gaps, duplicates, unexpected or foreign messages")
    check(r["notices"] >= 100, "only %d notices (a subscribed notice per subscriber)" % r["notices"])
    ctx.note("%d deliveries of %d messages" % (r["delivered"], r["published"]))


def slow_run(ctx, srv):
    # A slow subscriber's backlog must outgrow the kernel's socket buffers (several MB on
    # loopback) and the server's queue within the measured second: 500 x 32 KiB = 16 MB/s.
    return run_bench(ctx, "ws://127.0.0.1:%d/ws" % srv.port, "--workload", "slow", "-n", 4,
                     "--slow-fraction", 0.25, "-s", 32768, "--rate", 500,
                     "-d", 1.5, "--warmup", 0.5, "--drain", t(3))


@suite.case(timeout=40)
def slow(ctx):
    srv = ctx.server("--queue-msgs-max", "64")
    r = slow_run(ctx, srv)
    s = r["slow"]
    expect_eq((s["subscribers"], s["connected"]), (1, 1), "slow subscribers")
    expect_eq(r["connected_subscribers"], 4, "subscribers connected")
    check(r["delivered"] > 0, "nothing delivered to the fast subscribers")
    expect_eq(r["missing"], 0, "deliveries missing at the fast subscribers")
    expect_eq(r["missed"], 0, "drops announced to fast subscribers")
    check(s["missed"] > 0, "the slow subscriber was told of no drop: %r" % s)
    expect_eq(s["unexplained_gaps"] + s["seq_back"], 0, "server sequence errors at the slow one")
    # Drop-oldest: every message the slow one did not get was counted in a missed notice.
    expect_eq(s["gaps"], s["missed"], "gaps at the slow subscriber vs its missed counts")
    ctx.note("slow subscriber: %d delivered, %d missed" % (s["delivered"], s["missed"]))


@suite.case(timeout=40)
def slow_disconnect(ctx):
    srv = ctx.server("--queue-msgs-max", "64", "--slow-policy", "disconnect")
    r = slow_run(ctx, srv)
    s = r["slow"]
    expect_eq(r["missing"], 0, "deliveries missing at the fast subscribers")
    check(s["server_closes"], "the slow subscriber was not closed: %r" % s)
    check(set(s["server_closes"]) <= {"4000", "1006"}, "close codes %r" % s["server_closes"])
    check(not r["server_closes"], "fast subscribers closed: %r" % r["server_closes"])
    ctx.note("slow subscriber closed with %r" % s["server_closes"])


@suite.case(timeout=30)
def echo(ctx):
    srv = ctx.server()
    url = "ws://127.0.0.1:%d/echo" % srv.port
    pct = os.path.join(ctx.workdir, "echo-percentiles.txt")
    r = run_bench(ctx, url, "--workload", "echo", "-c", 20, "--percentiles", pct, *timeline())
    expect_eq((r["connections"], r["connected_publishers"]), (20, 20), "connections")
    expect_eq(r["mode"], "max", "mode")
    check(r["delivered"] > 0 and r["latency_us"]["count"] == r["delivered"],
          "round trips %d, latency samples %d" % (r["delivered"], r["latency_us"]["count"]))
    expect_eq(r["missing"] + r["gaps"] + r["unexpected"], 0, "missing, gaps, unexpected")
    rows = [line.split() for line in open(pct) if not line.startswith("#")]
    check(rows, "no rows in --percentiles")
    expect_eq(sum(int(c) for _, _, c in rows), r["latency_us"]["count"], "samples in the file")
    expect_eq(float(rows[-1][1]), 100.0, "last percentile")
    r = run_bench(ctx, url, "--workload", "echo", "-c", 10, "--rate", scaled(1000), *timeline())
    expect_eq(r["mode"], "rate", "mode")
    check(r["delivered"] > 0, "no round trip in open loop")
    expect_eq(r["missing"], 0, "round trips missing (open loop)")
    ctx.note("open loop p50 %.0f us" % r["latency_us"]["p50"])


@suite.case(timeout=30)
def idle(ctx):
    srv = ctx.server()
    n = scaled(1000, 100)
    r = run_bench(ctx, "ws://127.0.0.1:%d/ws" % srv.port, "--workload", "idle", "-c", n,
                  "-d", 1, "--server-pid", srv.pid)
    expect_eq(r["connected_subscribers"], n, "connections held")
    m = r["server_mem"]
    check(m is not None, "--server-pid given but no server_mem")
    check(m["rss_kib_before"] > 0 and m["rss_kib_loaded"] > 0, "RSS %r" % m)
    check(m["fds_before"] > 0 and m["fds_loaded"] > 0, "descriptors %r" % m)
    expect_eq(r["published"], 0, "messages published by idle connections")
    check(not r["server_closes"] and not r["errors"], "closes %r, errors %r"
          % (r["server_closes"], r["errors"]))
    ctx.note("%.0f B of server RSS per connection" % m["rss_bytes_per_conn"])


@suite.case(timeout=20)
def bad_flags(ctx):
    bench = bench_path(ctx)
    url = "ws://127.0.0.1:9/ws"
    for args, word in ((["--workload", "nope"], "--workload"),
                       (["--topics", "5"], "--topics"),
                       (["--workload", "market", "--topics", "3", "--per-sub", "5"], "--per-sub"),
                       (["--workload", "slow", "--max"], "--rate"),
                       (["--workload", "echo", "-n", "5"], "--connections"),
                       (["--workload", "market", "--size-min", "8"], "at least"),
                       (["--slow-rate", "100"], "--workload slow")):
        out = subprocess.run([bench] + args + [url], capture_output=True, text=True,
                             timeout=t(10))
        expect_eq(out.returncode, 2, "exit status of %s" % " ".join(args))
        check(word in out.stderr, "%s: no %r in %r" % (" ".join(args), word, out.stderr))
        expect_eq(out.stdout, "", "stdout of %s" % " ".join(args))


if __name__ == "__main__":
    raise SystemExit(suite.main())
