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
churn        connections opened at a rate, held briefly, closed (a fifth by a reset): every one
             attempted is completed or has a failure kind, every completed one ended somehow,
             and the server's descriptors are back where they were.
storm        handshakes as fast as the server takes them, 32 in progress: all complete, all close
             cleanly.
reconnect_503      a server full at 5 connections refuses the rest with 503 and Retry-After: the
                   bench counts the 503s and retries, never sooner than Retry-After (1 s).
reconnect_restart  the server is stopped (1001) and started again on the same port mid-run: the
                   1001s are counted and every subscriber comes back.
wss_fanout   fanout over wss:// (the server's --tls-listen, a certificate of tools/gen-cert.sh),
             verified with --tls-ca: every message delivered, TLS 1.3 with ALPN http/1.1, one
             handshake per connection, the CPU spent in TLS reported and within the bench's.
wss_batching --max over wss://: a publisher's frames of a turn go out in as few records as they
             fill (16 KiB each), far fewer records than messages.
wss_echo_tls12     round trips on /echo over TLS 1.2 only (--tls-version 1.2).
wss_churn_resume   churn over wss:// with --tls-resume: every connection completes, all but
                   those started before the first ticket came resume it; the server counts the
                   same handshakes and resumptions.
wss_storm_tls12_resume  a handshake storm over TLS 1.2 with tickets: all clean, nearly all resumed.
wss_verify_fails_with_wrong_ca  --tls-ca of another certificate: every connection fails with
                   tls_verify and the run is an error; the right CA for the name localhost passes,
                   and localhost is sent as SNI.
bad_flags    wrong options are refused with exit status 2 and a message naming the option.
"""

import json
import os
import subprocess
import time

from rcbase import check, expect_eq, t, scaled
from rcbench import bench_path, run_bench
from rcsuite import Suite

suite = Suite("bench")

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
                     "-d", 1.5, "--warmup", 0.5, "--drain", t(10))  # ends once caught up:
    # the fast ones' 48 MB can take seconds to arrive on a loaded machine (seen: a few dozen
    # messages still on their way after 3 s, none dropped)


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


FAILURE_KINDS = ("refused", "timeout", "reset", "eof")


def settle_fds(srv):
    """Wait until the server's descriptor count stops moving (its workers open their rings after
    the listening line), so that the bench's "before" is a baseline."""
    last, deadline = srv.fd_count(), time.monotonic() + t(5)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        n = srv.fd_count()
        if n == last:
            return
        last = n


@suite.case(timeout=40)
def churn(ctx):
    srv = ctx.server()
    settle_fds(srv)
    rate = scaled(300, 50)
    r = run_bench(ctx, "ws://127.0.0.1:%d/ws" % srv.port, "--workload", "churn", "--rate", rate,
                  "--hold-ms", 20, "-d", 1.5, "--drain", t(2), "--server-pid", srv.pid)
    c = r["churn"]
    # Open loop: every connection due in the 1.5 s was started, none left hanging at the end.
    check(abs(c["attempted"] - rate * 1.5) <= 2, "attempted %d, %d due" % (c["attempted"],
                                                                           rate * 1.5))
    expect_eq((c["unstarted"], c["abandoned"]), (0, 0), "never started, abandoned")
    check(c["completed"] > 0, "no handshake completed: %r" % c)
    expect_eq(c["completed"] + c["failed"], c["attempted"], "completed + failed")
    expect_eq(sum(c["failures"].values()), c["failed"], "failures by kind")
    check(all(k in FAILURE_KINDS or k.startswith("http_") for k in c["failures"]),
          "unexplained failures %r" % c["failures"])
    expect_eq(sum(c["ends"].values()), c["completed"], "ends of the completed connections")
    # A fifth end by a reset, the rest by a close answered with 1000 (the server closes none).
    check(c["ends"].get("reset", 0) > 0 and c["ends"].get("clean", 0) > 0, "ends %r" % c["ends"])
    check(set(c["ends"]) <= {"reset", "clean"}, "ends %r" % c["ends"])
    expect_eq(r["latency_us"]["count"], c["completed"], "handshake latency samples")
    m = r["server_mem"]
    check(m is not None, "--server-pid given but no server_mem")
    expect_eq(m["fds_after"], m["fds_before"], "server descriptors after the churn")
    ctx.note("%d connections, handshake p99 %.1f ms, ends %r" % (
        c["completed"], r["latency_us"]["p99"] / 1000, c["ends"]))


@suite.case(timeout=40)
def storm(ctx):
    srv = ctx.server()
    r = run_bench(ctx, "ws://127.0.0.1:%d/ws" % srv.port, "--workload", "storm", "--inflight", 32,
                  "-d", 1, "--drain", t(2))
    c = r["storm"]
    check(c["completed"] > 0 and c["handshakes_per_sec"] > 0, "no handshake: %r" % c)
    check(c["inflight_max"] <= 32, "%d in progress, --inflight 32" % c["inflight_max"])
    expect_eq((c["failed"], c["abandoned"]), (0, 0), "failed, abandoned (%r)" % c["failures"])
    expect_eq(c["ends"], {"clean": c["completed"]}, "ends")
    ctx.note("%.0f handshakes/s, p99 %.1f ms" % (c["handshakes_per_sec"],
                                                r["latency_us"]["p99"] / 1000))


@suite.case(timeout=40)
def reconnect_503(ctx):
    srv = ctx.server("--max-connections", "5")
    # 1 publisher + 10 subscribers: at least 6 are refused; each is retried, never within a
    # second of its 503 (Retry-After: 1), so in ~2.5 s it tries at most 3 times.
    # One connection set up at a time, so that the publisher (the first) gets in.
    r = run_bench(ctx, "ws://127.0.0.1:%d/ws" % srv.port, "-n", 10, "--rate", scaled(200, 50),
                  "--connect-batch", 1, "--reconnect", "--backoff-base-ms", 10, *timeline(2))
    refused = 11 - r["connected_subscribers"] - r["connected_publishers"]
    check(refused >= 6, "only %d refused by a server full at 5" % refused)
    rc = r["reconnect"]
    check(r["errors"].get("http_503", 0) >= refused, "503s %r" % r["errors"])
    check(rc["attempts"] >= refused, "%d reconnects for %d refused" % (rc["attempts"], refused))
    expect_eq(rc["succeeded"], 0, "reconnects into a full server")
    expect_eq(rc["failed"], rc["attempts"], "failed reconnects")
    # Every wait followed a 503 and was lengthened to its Retry-After (a 10 ms backoff would not).
    expect_eq(rc["waits_told"], r["errors"]["http_503"], "waits lengthened by Retry-After")
    check(rc["attempts"] <= 3 * refused, "%d reconnects: Retry-After not honoured" % rc["attempts"])
    expect_eq(r["missing"], 0, "deliveries missing at the connected subscribers")
    ctx.note("%d refused, %d reconnects, errors %r" % (refused, rc["attempts"], r["errors"]))


@suite.case(timeout=60)
def reconnect_restart(ctx):
    srv = ctx.server()
    port = srv.port
    cmd = [bench_path(ctx), "-q", "-n", 20, "--rate", scaled(200, 50), "--reconnect",
           "--backoff-base-ms", 50, "--backoff-cap-ms", 500, "-d", t(4), "--warmup", 0.5,
           "--drain", t(2), "ws://127.0.0.1:%d/ws" % port]
    bench = subprocess.Popen([str(a) for a in cmd], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(t(1.5))
        srv.stop()  # drain: every connection is closed with 1001
        srv2 = ctx.server("--listen", "127.0.0.1:%d" % port)
        out, err = bench.communicate(timeout=t(30))
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    r = json.loads(out)
    check(r["ok"] is True and bench.returncode == 0, "bench not ok (exit %d): %r %s"
          % (bench.returncode, r.get("error"), err[-300:]))
    expect_eq(r["connected_subscribers"] + r["connected_publishers"], 21, "connected at start")
    closed = r["server_closes"].get("1001", 0)
    check(closed > 0, "no 1001 close counted: %r" % r["server_closes"])
    rc = r["reconnect"]
    # Each connection the drain closed came back (the others may have been reset before theirs).
    check(rc["succeeded"] >= closed and rc["succeeded"] <= 21, "%d back of %d closed with 1001 (%r)"
          % (rc["succeeded"], closed, rc))
    expect_eq(rc["attempts"], rc["succeeded"] + rc["failed"], "attempts")
    # What a reconnect meets while the server restarts: the port closed, or a listener going away
    # under a connect or a handshake (seen under ASan: connect_ECONNRESET, handshake_send).
    check(set(r["errors"]) <= {"connect_ECONNREFUSED", "connect_ECONNRESET",
                               "handshake_recv_ECONNRESET", "handshake_send", "http_503",
                               "handshake_recv_eof"}, "errors %r" % r["errors"])
    check(r["delivered"] > 0, "nothing delivered")
    srv2.stop()
    ctx.note("%d closed with 1001, %d reconnects (%d opened)" % (closed, rc["attempts"],
                                                                 rc["succeeded"]))


# ------------------------------------------------------------------------------------------------
# wss://

def make_cert(ctx, name: str):
    """A self-signed certificate for 127.0.0.1 and localhost (tools/gen-cert.sh), its own CA:
    (cert.pem, key.pem)."""
    d = os.path.join(ctx.workdir, "%s-%s" % (ctx.case, name))
    subprocess.run(["sh", os.path.join(TOP, "tools", "gen-cert.sh"), d], check=True,
                   stdout=subprocess.DEVNULL, timeout=t(30))
    return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")


def tls_endpoint(ctx, *flags):
    """A server with a TLS endpoint in front of it: (server, "wss://127.0.0.1:PORT", the CA file
    that verifies it). The endpoint is the server's own --tls-listen (the cases were first written
    against socat terminating TLS in front of the plain port; this function is all that changed)."""
    cert, key = make_cert(ctx, "server")
    srv = ctx.server("--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, *flags)
    check(srv.tls_port is not None, "no tls_addr in the listening line: " + srv.log_tail(5))
    return srv, "wss://127.0.0.1:%d" % srv.tls_port, cert


def check_tls_cpu(r):
    """The CPU spent in TLS is reported, and is part of the bench's (getrusage: microseconds)."""
    tls = r["tls"]
    check(tls["crypto_cpu_s"] > 0, "no CPU in TLS reported: %r" % tls)
    check(tls["crypto_cpu_s"] <= r["bench_cpu_s"] + 0.005, "TLS CPU %.4f s above the bench's %.4f s"
          % (tls["crypto_cpu_s"], r["bench_cpu_s"]))
    check(tls["crypto_cpu_s_total"] >= tls["crypto_cpu_s"], "whole run below the interval: %r" % tls)


def server_tls_counts(srv):
    m = srv.metrics()
    return (m.total("ringcast_tls_handshakes_total"),
            m.total("ringcast_tls_handshakes_resumed_total"))


@suite.case(timeout=40)
def wss_fanout(ctx):
    srv, base, ca = tls_endpoint(ctx)
    r = run_bench(ctx, base + "/ws", "--rate", scaled(500), "-n", 20, "--tls-ca", ca,
                  "--server-pid", srv.pid, *timeline())
    expect_eq(r["connected_subscribers"], 20, "subscribers connected")
    check(r["delivered"] > 0, "nothing delivered")
    expect_eq(r["missing"], 0, "deliveries missing")
    expect_eq(r["gaps"] + r["dups"], 0, "gaps and duplicates")
    check(not r["errors"] and not r["server_closes"], "errors %r, closes %r"
          % (r["errors"], r["server_closes"]))
    tls = r["tls"]
    check(tls is not None, "wss:// but \"tls\" is null")
    expect_eq((tls["version"], tls["alpn"], tls["verify"], tls["ca"], tls["sni"]),
              ("TLSv1.3", "http/1.1", True, ca, None), "version, ALPN, verify, CA, SNI (an address)")
    check(tls["cipher"].startswith("TLS13-"), "cipher %r" % tls["cipher"])
    expect_eq((tls["handshakes"], tls["resumed"]), (21, 0), "handshakes, resumed")
    check_tls_cpu(r)
    check(tls["crypto_cpu_s_by_call"]["read"] > 0, "no decryption in the interval: %r" % tls)
    expect_eq(tls["first_error"], None, "TLS error")
    expect_eq(server_tls_counts(srv)[0], 21, "handshakes the server counted")
    ctx.note("%d deliveries, %.1f%% of the bench's CPU in TLS, %s" % (
        r["delivered"], 100 * tls["crypto_share"], tls["cipher"]))


@suite.case(timeout=40)
def wss_batching(ctx):
    srv, base, _ = tls_endpoint(ctx)
    r = run_bench(ctx, base + "/ws", "--max", "-n", 5, *timeline())
    tls = r["tls"]
    check(r["delivered"] > 0, "nothing delivered")
    expect_eq(r["missing"] + r["gaps"] + r["dups"], 0, "missing, gaps, duplicates")
    # A write of L bytes makes ceil(L / 16384) records: at most one more than L / 16384 per write.
    check(tls["records_out"] <= tls["writes"] + tls["plain_bytes_out"] // 16384,
          "records beyond what the writes fill: %r" % tls)
    check(2 * tls["records_out"] <= r["published_total"], "%d records for %d messages: not batched"
          % (tls["records_out"], r["published_total"]))
    ctx.note("%d messages in %d records (%d writes)" % (r["published_total"], tls["records_out"],
                                                        tls["writes"]))


@suite.case(timeout=40)
def wss_echo_tls12(ctx):
    srv, base, ca = tls_endpoint(ctx)
    r = run_bench(ctx, base + "/echo", "--workload", "echo", "-c", 10, "--tls-version", "1.2",
                  "--tls-ca", ca, *timeline())
    expect_eq(r["connected_publishers"], 10, "connections")
    check(r["delivered"] > 0, "no round trip")
    expect_eq(r["missing"] + r["gaps"] + r["unexpected"], 0, "missing, gaps, unexpected")
    tls = r["tls"]
    expect_eq((tls["version"], tls["version_asked"]), ("TLSv1.2", "1.2"), "version")
    check(tls["cipher"].startswith("ECDHE-") and ("GCM" in tls["cipher"] or
                                                 "CHACHA" in tls["cipher"]),
          "cipher %r (an AEAD suite)" % tls["cipher"])
    check_tls_cpu(r)
    ctx.note("%d round trips, p50 %.0f us, %s" % (r["delivered"], r["latency_us"]["p50"],
                                                  tls["cipher"]))


@suite.case(timeout=40)
def wss_churn_resume(ctx):
    srv, base, ca = tls_endpoint(ctx)
    rate = scaled(100, 30)
    r = run_bench(ctx, base + "/ws", "--workload", "churn", "--rate", rate, "--hold-ms", 20,
                  "-d", 1.5, "--drain", t(2), "--tls-resume", "--tls-ca", ca)
    c, tls = r["churn"], r["tls"]
    check(c["completed"] > 0, "no handshake completed: %r" % c)
    # (c["unstarted"] is the bench's own pacing falling behind: a handshake costs milliseconds
    # of CPU, and under ASan on a loaded machine the last one due may start too late.)
    expect_eq((c["failed"], c["abandoned"]), (0, 0), "failed, abandoned (%r)" % c["failures"])
    expect_eq(sum(c["ends"].values()), c["completed"], "ends of the completed connections")
    check(set(c["ends"]) <= {"reset", "clean"}, "ends %r" % c["ends"])
    # Warmup 0: every connection was started in the measured interval.
    expect_eq(tls["handshakes"], c["completed"], "TLS handshakes")
    # Full handshakes: only those started before the first ticket came (all in progress at once).
    check(tls["resumed"] > 0 and tls["handshakes"] - tls["resumed"] <= c["inflight_max"],
          "%d of %d handshakes resumed, %d in progress at most" % (
              tls["resumed"], tls["handshakes"], c["inflight_max"]))
    check(tls["crypto_cpu_s_by_call"]["handshake"] > 0, "no handshake CPU: %r" % tls)
    check_tls_cpu(r)
    expect_eq(server_tls_counts(srv), (tls["handshakes"], tls["resumed"]),
              "handshakes and resumptions the server counted")
    ctx.note("%d connections, %d resumed, handshake p99 %.1f ms" % (
        c["completed"], tls["resumed"], r["latency_us"]["p99"] / 1000))


@suite.case(timeout=40)
def wss_storm_tls12_resume(ctx):
    srv, base, _ = tls_endpoint(ctx)
    r = run_bench(ctx, base + "/ws", "--workload", "storm", "--inflight", 8, "-d", 1,
                  "--drain", t(2), "--tls-version", "1.2", "--tls-resume")
    c, tls = r["storm"], r["tls"]
    check(c["completed"] > 0, "no handshake: %r" % c)
    expect_eq((c["failed"], c["abandoned"]), (0, 0), "failed, abandoned (%r)" % c["failures"])
    expect_eq(c["ends"], {"clean": c["completed"]}, "ends")
    expect_eq(tls["version"], "TLSv1.2", "version")
    check(tls["handshakes"] - tls["resumed"] <= 8, "%d of %d resumed" % (tls["resumed"],
                                                                      tls["handshakes"]))
    ctx.note("%.0f handshakes/s, %d of %d resumed" % (c["handshakes_per_sec"], tls["resumed"],
                                                      tls["handshakes"]))


@suite.case(timeout=40)
def wss_verify_fails_with_wrong_ca(ctx):
    srv, base, ca = tls_endpoint(ctx)
    other, _ = make_cert(ctx, "other")
    r = run_bench(ctx, base + "/ws", "-n", 3, "--rate", 50, "-d", 0.5, "--warmup", 0,
                  "--drain", 0, "--tls-ca", other, want_ok=False)
    expect_eq((r["ok"], r["error"]), (False, "no connection could be opened"), "run")
    expect_eq(r["errors"], {"tls_verify": 4}, "errors")
    expect_eq(r["tls"]["handshakes"], 0, "handshakes")
    why = r["tls"]["first_error"]
    check(why, "no first_error: %r" % r["tls"])
    # The right CA, with the certificate's name: verified, and the name goes out as SNI.
    r = run_bench(ctx, base.replace("127.0.0.1", "localhost") + "/ws", "-n", 3, "--rate", 50,
                  "--tls-ca", ca, *timeline(0.5))
    expect_eq((r["tls"]["verify"], r["tls"]["sni"]), (True, "localhost"), "verify, SNI")
    expect_eq(r["connected_subscribers"], 3, "subscribers connected")
    check(r["delivered"] > 0, "nothing delivered")
    ctx.note("wrong CA: %s" % why)


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
                       (["--slow-rate", "100"], "--workload slow"),
                       (["--workload", "churn", "--max"], "--rate"),
                       (["--workload", "storm", "--rate", "10"], "--inflight"),
                       (["--workload", "churn", "-n", "5"], "-n"),
                       (["--reset-fraction", "0.5"], "--workload churn"),
                       (["--workload", "storm", "--reconnect"], "--reconnect"),
                       (["--backoff-cap-ms", "50"], "--reconnect"),
                       (["--inflight", "5"], "--inflight"),
                       (["--tls-resume"], "wss://"),
                       (["--tls-ca", "/nonexistent"], "wss://"),
                       (["--tls-version", "1.1", "wss://127.0.0.1:9/ws"], "--tls-version"),
                       (["--tls-ca", "/nonexistent", "wss://127.0.0.1:9/ws"], "--tls-ca")):
        if not args[-1].startswith("wss://"):   # the wss cases name their own URL
            args = args + [url]
        out = subprocess.run([bench] + args, capture_output=True, text=True, timeout=t(10))
        expect_eq(out.returncode, 2, "exit status of %s" % " ".join(args))
        check(word in out.stderr, "%s: no %r in %r" % (" ".join(args), word, out.stderr))
        expect_eq(out.stdout, "", "stdout of %s" % " ".join(args))


if __name__ == "__main__":
    suite.main()
