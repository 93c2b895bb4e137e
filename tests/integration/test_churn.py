#!/usr/bin/python3
"""Integration: connection churn leaves nothing behind.

    /usr/bin/python3 tests/integration/test_churn.py --bin build/release/tools/ringcast

10,000 connect/disconnect cycles from 16 threads on raw sockets, a mix of every way a connection
can end, while a publisher keeps a topic busy:
  clean           WebSocket, our close 1000, the server's close 1000, the server closes TCP
  rst_mid_frame   WebSocket publisher, half a frame, then RST (SO_LINGER 0)
  rst_handshake   half an upgrade request, then RST
  queued_close    ringcast.v1 subscriber of the busy topic with a 4 KiB receive buffer, never
                  reads: closed (RST, unread data) while the server has data queued for it
  half_close      /echo, one message, then our FIN without a close frame; the server must close
  http            GET /healthz, read the answer
  publish_rst     ringcast.v1 PUBLISH to the busy topic, then RST
Every cycle checks what it can see (101 + Sec-WebSocket-Accept, the echo, the close code, that the
server closes TCP when it should). Afterwards, once idle: ringcast_connections back to its idle
value, the process's descriptors (/proc/PID/fd) back to the baseline taken after a warm-up of the
same mix, pool buffers (free, pool, recv_held) back to that baseline, no subscription and no
queued byte left, RSS within a small margin, accepted_total = sum(closed_total) + connections, and
the server still delivers.
"""

import itertools
import os
import socket
import threading
import time

from rcbase import Fail, check, expect_eq, t, wait_until
from rcserver import set_linger0, get
from rcws import RawWS, upgrade_request, new_key, encode_frame, OP_TEXT
from rcv1 import v1_publish
from rcsuite import Suite

suite = Suite("churn")
BUSY = "churn.busy"
KINDS = ["clean", "rst_mid_frame", "rst_handshake", "queued_close", "half_close", "http",
         "publish_rst"]
CYCLES = int(os.environ.get("RC_CHURN_CYCLES", "10000"))
THREADS = 16


def cycle(port, kind, i, timeout):
    if kind == "clean":
        ws = RawWS.connect(port, "/ws?topics=churn.a,churn.%d" % (i % 50), timeout=5)
        fr = ws.close_handshake(1000, timeout)
        expect_eq(fr.close_code, 1000, "close code answering our 1000")
    elif kind == "rst_mid_frame":
        ws = RawWS.connect(port, "/ws?publish=churn.x", timeout=5)
        f = encode_frame(OP_TEXT, b"y" * 200)
        ws.send_raw(f[:2 + 4 + 50])
        ws.linger0()
    elif kind == "rst_handshake":
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        req = upgrade_request("/ws?topics=churn.h", new_key())
        s.sendall(req[:len(req) // 2])
        set_linger0(s)
        s.close()
    elif kind == "queued_close":
        ws = RawWS.connect(port, "/ws?topics=" + BUSY, protocols=["ringcast.v1"], rcvbuf=4096,
                           timeout=5)
        fr = ws.expect_frame(timeout, "subscribed notice")
        expect_eq(fr.opcode, OP_TEXT, "first frame of a v1 subscriber")
        time.sleep(0.03)          # messages of the busy topic pile up, unread
        ws.close()                # unread data: the kernel sends RST
    elif kind == "half_close":
        ws = RawWS.connect(port, "/echo", timeout=5)
        ws.send_text(b"half-%d" % i)
        op, p = ws.recv_message(timeout)
        expect_eq((op, p), (OP_TEXT, b"half-%d" % i), "echo")
        ws.sock.shutdown(socket.SHUT_WR)
        how = ws.wait_eof(timeout)
        check(how is not None, "server did not close within %.1fs after our FIN" % timeout)
        ws.close()
    elif kind == "http":
        r = get(port, "/healthz", timeout=5)
        check(r.status == 200 and r.eof, "GET /healthz: %s" % r.summary())
    elif kind == "publish_rst":
        ws = RawWS.connect(port, "/ws", protocols=["ringcast.v1"], timeout=5)
        ws.send_binary(v1_publish(BUSY, b"churn-%d" % i))
        ws.linger0()


def churn(port, n, threads, errors, counts):
    ctr = itertools.count()
    lock = threading.Lock()
    timeout = t(5)

    def worker():
        while True:
            with lock:
                i = next(ctr)
            if i >= n or len(errors) >= 20:
                return
            kind = KINDS[i % len(KINDS)]
            try:
                cycle(port, kind, i, timeout)
                with lock:
                    counts[kind] = counts.get(kind, 0) + 1
            except Exception as e:          # noqa: BLE001 - recorded, reported below
                with lock:
                    errors.append("cycle %d (%s): %s: %s" % (i, kind, e.__class__.__name__, e))

    ths = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()


class Publisher(threading.Thread):
    """Keeps BUSY busy: a 512-byte message every 2 ms."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.ws = RawWS.connect(port, "/ws?publish=" + BUSY)
        self.stop_ = threading.Event()
        self.sent = 0
        self.error = None

    def run(self):
        try:
            while not self.stop_.is_set():
                self.ws.send_binary(b"%08d" % self.sent + b"b" * 504)
                self.sent += 1
                time.sleep(0.002)
        except OSError as e:
            self.error = "publisher: %s" % e

    def finish(self):
        self.stop_.set()
        self.join()
        check(self.error is None, "the busy publisher was cut: %s" % self.error)
        self.ws.close_handshake()


def snapshot(srv):
    m = srv.metrics()
    b = m.family("ringcast_buffers")
    return {"connections": m.get_("ringcast_connections"),
            "open_fds": m.get_("ringcast_open_fds"),   # direct descriptors are not in /proc
            "subscriptions": m.get_("ringcast_subscriptions"),
            "queued_bytes": m.get_("ringcast_queued_bytes"),
            # history keeps the last messages of each topic, by design: not a leak
            "buffers_free": b.get("free") + m.get_("ringcast_history_buffers"),
            "buffers_pool": b.get("pool") - m.get_("ringcast_history_buffers"),
            "buffers_recv_held": b.get("recv_held")}


def run_phase(ctx, srv, n, what):
    pub = Publisher(srv.port)
    pub.start()
    errors, counts = [], {}
    t0 = time.monotonic()
    churn(srv.port, n, THREADS, errors, counts)
    dt = time.monotonic() - t0
    pub.finish()
    check(not errors, "%s: %d cycle(s) failed, first ones:\n  %s"
          % (what, len(errors), "\n  ".join(errors[:10])))
    expect_eq(sum(counts.values()), n, "%s: cycles completed" % what)
    ctx.note("%s: %d cycles in %.1fs (%.0f/s), %r; the publisher sent %d messages"
             % (what, n, dt, n / dt, counts, pub.sent))


@suite.case(timeout=180)
def churn_10k(ctx):
    srv = ctx.server("--close-timeout-ms", "1000", "--handshake-timeout-ms", "3000")
    idle = snapshot(srv)["connections"]          # 0, or 1 if the scrape counts itself
    check(idle <= 1, "ringcast_connections on a fresh server: %r" % idle)
    run_phase(ctx, srv, 350, "warm-up")

    def settled():
        s = snapshot(srv)
        return s if s["connections"] == idle and s["queued_bytes"] == 0 else None
    wait_until(settled, t(10), "idle after the warm-up (connections %d, queued_bytes 0)" % idle)
    time.sleep(0.3)
    base = snapshot(srv)
    fds0 = srv.fd_count()
    rss0 = srv.rss_kib()
    ctx.note("baseline after warm-up: %r, %d descriptors, RSS %d KiB" % (base, fds0, rss0))

    run_phase(ctx, srv, CYCLES, "churn")
    try:
        after = wait_until(settled, t(10), "ringcast_connections back to %d" % idle)
    except Fail as e:
        raise Fail("%s; open connections at the end: %r" % (e, snapshot(srv)))
    try:
        wait_until(lambda: srv.fd_count() == fds0 or None, t(5),
                   "server descriptors back to the baseline %d" % fds0)
    except Fail:
        fds = sorted(os.readlink("/proc/%d/fd/%s" % (srv.pid, f)).split(":")[0]
                     for f in os.listdir("/proc/%d/fd" % srv.pid))
        raise Fail("server descriptors: %d after the churn, %d before (kinds now: %r)"
                   % (srv.fd_count(), fds0, {k: fds.count(k) for k in set(fds)}))

    def buffers_back():
        s = snapshot(srv)
        return s if all(s[k] == base[k] for k in base) else None
    try:
        wait_until(buffers_back, t(5), "gauges back to the baseline")
    except Fail:
        s = snapshot(srv)
        raise Fail("after the churn, gauges differ from the baseline taken after the warm-up: "
                   "%r" % {k: (base[k], s[k]) for k in base if s[k] != base[k]})
    expect_eq(after["subscriptions"], 0, "ringcast_subscriptions with no connection open")
    rss1 = srv.rss_kib()
    margin = 4096 if t(1) == 1 else 65536
    ctx.note("after: %d descriptors, RSS %d KiB (baseline %d KiB)" % (srv.fd_count(), rss1, rss0))
    check(rss1 - rss0 <= margin, "server RSS grew by %d KiB over %d cycles (from %d to %d KiB), "
          "more than %d KiB" % (rss1 - rss0, CYCLES, rss0, rss1, margin))
    # Each worker sets its gauges at the end of its loop turn and /metrics adds up every worker's
    # figures, so the identity holds once every worker has finished its turn: poll for it.
    def consistent():
        m = srv.metrics()
        acc = m.get_("ringcast_connections_accepted_total")
        closed = m.total("ringcast_connections_closed_total")
        return (acc, m) if acc - closed == m.get_("ringcast_connections") else None
    acc, m = wait_until(consistent, t(5), "connections_accepted_total - "
                        "sum(connections_closed_total) == the connections gauge")
    check(acc >= CYCLES + 350, "connections_accepted_total %d < %d cycles" % (acc, CYCLES + 350))
    # still serving
    sub = RawWS.connect(srv.port, "/ws?topics=after", protocols=["ringcast.v1"])
    sub.expect_frame(t(5), "subscribed notice after the churn")
    p = RawWS.connect(srv.port, "/ws?publish=after")
    p.send_text("alive")
    fr = sub.expect_frame(t(5), "a message after the churn")
    check(fr.payload.endswith(b"alive"), "message after the churn: %r" % fr)
    p.close_handshake()
    sub.close_handshake()


if __name__ == "__main__":
    suite.main()
