#!/usr/bin/python3
"""Integration: every wait has a deadline (handshake, idle, close), measured on real sockets.

    /usr/bin/python3 tests/integration/test_deadlines.py --bin build/release/tools/ringcast

handshake_slowloris  a request head trickled one byte per 300 ms, and a client that sends nothing:
                     closed at --handshake-timeout-ms (1000), never upgraded.
idle_ping_then_4003  a silent client (--idle-timeout-ms 500) gets a ping at ~0.5 s and close 4003
                     at ~1.0 s; after we answer the close the server closes TCP; one that never
                     answers is cut at --close-timeout-ms (1000) after the close frame.
idle_kept_alive      a client that answers pings, and one that sends its own pings every 200 ms,
                     stay open for 6 idle periods (the second is never pinged).
close_timeout        after an invalid frame the server sends close 1002; a peer that never answers
                     is disconnected at --close-timeout-ms (1000) after that close frame; a peer
                     that answers is disconnected at once.

Timings: a deadline may not fire early (5% slack for clocks) and must fire within a tolerance
that SLOW (sanitizer builds) widens.
"""

import select
import socket
import time

from rcbase import check, expect_eq, t
from rcws import RawWS, upgrade_request, new_key, OP_PING, OP_PONG, OP_CLOSE, OP_TEXT, encode_frame
from rcsuite import Suite

suite = Suite("deadlines")


def closed_at(sock, t0, limit):
    """Seconds from t0 at which the server closed sock (EOF or reset), reading and returning what
    it sent; None if still open after limit seconds."""
    data = b""
    while True:
        left = t0 + limit - time.monotonic()
        if left <= 0:
            return None, data
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        try:
            d = sock.recv(65536)
        except OSError:
            return time.monotonic() - t0, data
        if not d:
            return time.monotonic() - t0, data
        data += d


def within(x, lo, hi, what):
    check(x is not None and lo <= x <= hi,
          "%s: expected within [%.2f, %.2f] s, got %s" % (what, lo, hi,
                                                         "never" if x is None else "%.3f s" % x))


@suite.case(timeout=40)
def handshake_slowloris(ctx):
    HS = 1.0
    srv = ctx.server("--handshake-timeout-ms", "1000")
    m0 = srv.metrics()
    # one byte per 300 ms
    req = upgrade_request("/ws?topics=slow", new_key())
    s = socket.create_connection(("127.0.0.1", srv.port))
    t0 = time.monotonic()
    sent = 0
    got = b""
    closed = None
    while time.monotonic() - t0 < HS + t(2.0):
        try:
            s.send(req[sent:sent + 1])
            sent += 1
        except OSError:
            closed = time.monotonic() - t0
            break
        c, d = closed_at(s, time.monotonic(), 0.3)
        got += d
        if c is not None:
            closed = time.monotonic() - t0
            break
    s.close()
    check(not got.startswith(b"HTTP/1.1 101"), "slowloris client was upgraded: %r" % got[:100])
    within(closed, HS * 0.95, HS + t(0.7), "slowloris (1 byte / 300 ms) closed after accept")
    ctx.note("slowloris closed at %.3f s after %d bytes (answer %r)" % (closed, sent, got[:40]))
    check(sent < len(req), "the whole request (%d bytes) went out before the deadline" % len(req))
    # silent client
    s = socket.create_connection(("127.0.0.1", srv.port))
    t0 = time.monotonic()
    c, d = closed_at(s, t0, HS + t(2.0))
    s.close()
    within(c, HS * 0.95, HS + t(0.7), "silent client closed after accept")
    m1 = srv.metrics()
    d = m1.get_("ringcast_connections_closed_total", reason="handshake_timeout") - \
        m0.get_("ringcast_connections_closed_total", reason="handshake_timeout")
    expect_eq(d, 2, "ringcast_connections_closed_total{reason=handshake_timeout} increase")
    # a request that completes in time, even slowly, is served
    ws = RawWS.connect(srv.port, "/ws?topics=ok", chunked=True)
    ws.close_handshake()


@suite.case(timeout=40)
def idle_ping_then_4003(ctx):
    IDLE = 0.5
    CT = 1.0
    srv = ctx.server("--idle-timeout-ms", "500", "--close-timeout-ms", "1000")
    m0 = srv.metrics()
    for path, protos, answer in (("/ws?topics=idle", None, True),
                                 ("/ws?topics=idle", ["ringcast.v1"], True),
                                 ("/echo", None, False)):
        ws = RawWS.connect(srv.port, path, protocols=protos)
        ctx.cleanup.append(ws.close)
        t0 = ws.t_open
        what = "silent client on %s%s" % (path, " (ringcast.v1)" if protos else "")
        fr = ws.expect_frame(t(3), "%s: a frame" % what)
        if protos:                      # the subscribed notice comes first
            expect_eq(fr.opcode, OP_TEXT, "%s: first frame" % what)
            fr = ws.expect_frame(t(3), "%s: a ping" % what)
        tp = time.monotonic() - t0
        expect_eq(fr.opcode, OP_PING, "%s: first frame after %.2fs idle (%r)" % (what, tp, fr))
        within(tp, IDLE * 0.95, IDLE + t(0.4), "%s: ping after connect" % what)
        fr = ws.expect_frame(t(3), "%s: close after the unanswered ping" % what)
        tc = time.monotonic() - t0
        expect_eq((fr.opcode, fr.close_code), (OP_CLOSE, 4003),
                  "%s: frame after the unanswered ping" % what)
        within(tc, 2 * IDLE * 0.95, 2 * IDLE + t(0.6), "%s: close 4003 after connect" % what)
        if answer:
            ws.send_close(4003)
            e = ws.wait_eof(t(2))
            check(e is not None, "%s: the server did not close TCP within %.1fs after we answered "
                  "its close" % (what, t(2)))
        else:                           # silent to the end: cut at --close-timeout-ms
            c, d = closed_at(ws.sock, time.monotonic(), CT + t(2.0))
            within(c, CT * 0.95 - 0.05, CT + t(0.5), "%s, never answering the 4003: TCP closed "
                   "after the close frame (--close-timeout-ms 1000)" % what)
        ws.close()
        ctx.note("%s: ping at %.3f s, close 4003 at %.3f s" % (what, tp, tc))
    m1 = srv.metrics()
    d = m1.get_("ringcast_connections_closed_total", reason="idle_timeout") - \
        m0.get_("ringcast_connections_closed_total", reason="idle_timeout")
    expect_eq(d, 3, "ringcast_connections_closed_total{reason=idle_timeout} increase")


@suite.case(timeout=40)
def idle_kept_alive(ctx):
    IDLE = 0.5
    srv = ctx.server("--idle-timeout-ms", "500")
    # a: answers the server's pings (as browsers do)
    a = RawWS.connect(srv.port, "/ws?topics=alive")
    # b: sends its own ping every 200 ms, so it is never idle
    b = RawWS.connect(srv.port, "/echo")
    t0 = time.monotonic()
    pings_a = 0
    pongs_b = 0
    next_b = t0
    while time.monotonic() - t0 < 6 * IDLE:
        now = time.monotonic()
        if now >= next_b:
            b.send_frame(OP_PING, b"b")
            next_b = now + 0.2
        r, _, _ = select.select([a.sock, b.sock], [], [], max(0.0, min(next_b - now, 0.05)))
        if a.sock in r:
            fr = a.expect_frame(1.0, "client a")
            expect_eq(fr.opcode, OP_PING, "client a (answers pings): frame %r" % fr)
            a.send_frame(OP_PONG, fr.payload)
            pings_a += 1
        if b.sock in r:
            fr = b.expect_frame(1.0, "client b")
            check(fr.opcode != OP_PING, "client b sends a frame every 200 ms, yet the server "
                  "pinged it after %.2fs (idle-timeout 500 ms)" % (time.monotonic() - t0))
            expect_eq(fr.opcode, OP_PONG, "client b: frame %r" % fr)
            pongs_b += 1
    check(pings_a >= 3, "client a: expected a ping per idle period (>= 3 in %.1fs), got %d"
          % (6 * IDLE, pings_a))
    check(pongs_b >= 10, "client b: expected a pong for each of its pings (>= 10), got %d"
          % pongs_b)
    a.close_handshake()
    b.close_handshake()


@suite.case(timeout=40)
def close_timeout(ctx):
    CT = 1.0
    srv = ctx.server("--close-timeout-ms", "1000")
    m0 = srv.metrics()
    for what, frame in (("reserved opcode 3", encode_frame(3, b"x")),
                        ("unmasked frame", encode_frame(OP_TEXT, b"x", masked=False)),
                        ("RSV1 without extension", encode_frame(OP_TEXT, b"x", rsv=4))):
        ws = RawWS.connect(srv.port, "/ws?topics=ct")
        ws.send_raw(frame)
        fr = ws.expect_frame(t(3), "close frame after %s" % what)
        t0 = time.monotonic()
        expect_eq((fr.opcode, fr.close_code), (OP_CLOSE, 1002), "answer to %s" % what)
        # we never answer, and keep reading
        c, d = closed_at(ws.sock, t0, CT + t(2.0))
        check(not d, "after its close frame the server sent more: %r" % d[:60])
        within(c, CT * 0.95 - 0.05, CT + t(0.5), "TCP closed after the close frame (%s, peer "
               "silent)" % what)
        ctx.note("%s: close 1002, TCP closed %.3f s later" % (what, c))
        ws.close()
    # a peer that answers is let go at once
    ws = RawWS.connect(srv.port, "/ws?topics=ct")
    ws.send_raw(encode_frame(3, b"x"))
    fr = ws.expect_frame(t(3), "close frame")
    t0 = time.monotonic()
    ws.send_close(1002)
    c, _ = closed_at(ws.sock, t0, t(2))
    within(c, 0, t(0.3), "TCP closed after the peer answered the close")
    ws.close()
    m1 = srv.metrics()
    d = m1.get_("ringcast_connections_closed_total", reason="protocol_error") - \
        m0.get_("ringcast_connections_closed_total", reason="protocol_error")
    expect_eq(d, 4, "ringcast_connections_closed_total{reason=protocol_error} increase")


if __name__ == "__main__":
    suite.main()
