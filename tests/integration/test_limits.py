#!/usr/bin/python3
"""Integration: the limits of a public endpoint (net/rc_limit.h, docs/operations.md "Running it in
public"), each from real clients against the real server.

    /usr/bin/python3 tests/integration/test_limits.py --bin build/release/tools/ringcast

flood_slowed_then_closed  a plain publisher floods as fast as TCP lets it against
    --rate-msgs-per-s 2000: the server publishes no more than the burst, the rate and one read
    beyond it; it stops reading (the flood waits in the kernel: the server's receive queue for
    that socket fills, and the server's RSS stays flat); after --rate-close-after-ms the flooder
    gets close 4005. Meanwhile a calm publisher and its subscriber on another topic, on the same
    server, get every message, each within 250 ms.
commands_throttled  --rate-commands-per-s 10: 30 subscribes in one write are all answered (a read
    is taken whole), then the connection is paused until it is back within the rate, so the next
    subscribe is answered seconds later, while another client's subscribe is answered at once.
    Nothing is closed (--rate-close-after-ms 0).
ip_connections_cap  200 connections from 127.0.0.1 against --ip-connections-max 50 (loopback
    included by --ip-limits-loopback): exactly 50 upgrade, 150 are closed before any HTTP;
    127.0.0.2 still connects; closing 10 lets exactly 10 more in. Both workers count in one table.
ip_connects_rate  --ip-connects-per-s 5: a reconnect loop from one address gets the burst and the
    rate, no more; another address is not affected.
accept_rate_storm  a storm of 300 connections against --accept-per-s 100: no more than the burst
    and the rate are served, the rest closed at once (no HTTP, no slot held), and right after the
    storm a client connects normally and the server is idle (no spin).
handshakes_cap  the issue's case: 30 idle TCP connections against --max-connections 6 no longer
    lock clients out: with --handshakes-max 10 the oldest handshakes are closed for new ones, 6
    WebSockets open and the 7th gets 503 (max-connections counts upgrades, not handshakes).
lifetime  --max-lifetime-ms 1500: every WebSocket is closed with 1012 between 90% and 100% of it
    (plus scheduling slack), at different times (the jitter).
Every case checks the counters of ringcast_limited_total and ringcast_connections_closed_total.
"""

import asyncio
import json
import select
import socket
import threading
import time

from rcbase import Fail, check, expect_eq, t, wait_until
from rcserver import tcp_queues
from rcws import RawWS, HandshakeRefused, WSClosed, encode_frame, OP_TEXT, OP_CLOSE, \
    upgrade_request, new_key
from rcv1 import subscribe_cmd
from rcsuite import Suite

suite = Suite("limits")


def limited(srv) -> dict:
    return srv.metrics().family("ringcast_limited_total")


def closed(srv) -> dict:
    return srv.metrics().family("ringcast_connections_closed_total")


def try_upgrade(port: int, source: str = "127.0.0.1", path: str = "/ws?topics=x",
                timeout: float = 5.0):
    """'ok' with the open socket, or 'closed' if the server closed the connection before any
    HTTP answer, or the HTTP status it answered with."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(t(timeout))
    s.bind((source, 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(upgrade_request(path, new_key()))
        raw = b""
        while b"\r\n\r\n" not in raw:
            d = s.recv(4096)
            if not d:
                break
            raw += d
    except (ConnectionResetError, BrokenPipeError):
        raw = b""
    except socket.timeout:
        s.close()
        raise Fail("no answer and no close from the server within %.1fs" % t(timeout))
    if not raw:
        s.close()
        return "closed", None
    status = int(raw.split(b" ", 2)[1])
    if status == 101:
        return "ok", s
    s.close()
    return status, None


# ------------------------------------------------------------------------------------------------

@suite.case(timeout=90)
def flood_slowed_then_closed(ctx):
    rate, burst_ms, close_ms = 2000, 500, 2000
    srv = ctx.server("--rate-msgs-per-s", str(rate), "--rate-burst-ms", str(burst_ms),
                     "--rate-close-after-ms", str(close_ms), "--pool-buffers", "256",
                     "--recv-buffers", "256")
    calm_sub = RawWS.connect(srv.port, "/ws?topics=calm")
    flood_sub = RawWS.connect(srv.port, "/ws?topics=flood")
    calm_pub = RawWS.connect(srv.port, "/ws?publish=calm")
    flooder = RawWS.connect(srv.port, "/ws?publish=flood")
    time.sleep(t(0.2))
    rss0 = srv.rss_kib()
    pub0 = srv.metrics().get_("ringcast_messages_published_total")
    frame = encode_frame(OP_TEXT, b"f" * 16)
    batch = frame * 1000
    stop = threading.Event()
    sent = [0]

    def flood():
        try:
            while not stop.is_set():
                flooder.sock.sendall(batch)
                sent[0] += 1000
        except OSError:
            pass

    flooder.sock.settimeout(t(30))
    th = threading.Thread(target=flood, daemon=True)
    t_start = time.monotonic()
    th.start()

    # the calm pair: 100 messages a second, each stamped with its send time
    late, got = [], 0
    close_code, t_close = None, None
    queue_seen = 0
    for i in range(int(close_ms / 1000 * 100) + 150):
        calm_pub.send_text(("%d %.6f" % (i, time.monotonic())).encode())
        m = calm_sub.recv_message(timeout=t(2))
        check(m is not None, "the calm subscriber got nothing for message %d while the flood ran"
              % i)
        n, stamp = m[1].split()
        expect_eq(int(n), i, "calm message number")
        got += 1
        if time.monotonic() - float(stamp) > t(0.25):
            late.append(time.monotonic() - float(stamp))
        q = tcp_queues(srv.port, flooder.sock.getsockname()[1])
        if q is not None:
            queue_seen = max(queue_seen, q[1])
        try:
            fr = flooder.recv_frame(timeout=0.001)
        except WSClosed:
            fr = None
        if fr is not None and fr.opcode == OP_CLOSE and close_code is None:
            close_code, t_close = fr.close_code, time.monotonic() - t_start
            break
        time.sleep(0.01)
    stop.set()
    flooder.close()
    elapsed = (t_close or (time.monotonic() - t_start))
    published = srv.metrics().get_("ringcast_messages_published_total") - pub0 - got
    # a read is taken whole: at most one 64 KiB buffer of 18-byte frames beyond burst + rate
    bound = rate * burst_ms / 1000 + rate * elapsed + 65536 / len(frame) + 1000
    ctx.note("flooder sent %d messages, the server published %d in %.2f s (bound %d); "
             "its receive queue on the server reached %d bytes; calm: %d messages, %d late"
             % (sent[0], published, elapsed, bound, queue_seen, got, len(late)))
    check(published <= bound, "the flood was not slowed: %d published in %.2f s, bound %d"
          % (published, elapsed, bound))
    check(sent[0] > published + 10000, "the flooder could not get ahead of the limit "
          "(sent %d, published %d): the test proves nothing" % (sent[0], published))
    check(queue_seen > 65536, "the flood did not wait in the server's receive queue (largest "
          "Recv-Q %d bytes): the server kept reading" % queue_seen)
    expect_eq(close_code, 4005, "close code of a client over its rate for %d ms" % close_ms)
    check(t_close >= close_ms / 1000 * 0.9, "closed after %.2f s, before rate-close-after-ms"
          % t_close)
    check(not late, "the calm pair slowed down: %d messages over 250 ms (worst %.0f ms)"
          % (len(late), 1000 * max(late, default=0)))
    growth = srv.rss_kib() - rss0
    check(growth < 32 * 1024, "the server's RSS grew by %d KiB during the flood" % growth)
    lim = limited(srv)
    check(lim.get("msgs", 0) >= 1, "limited_total{reason=msgs} did not move: %r" % lim)
    expect_eq(lim.get("rate_closed"), 1.0, "limited_total{reason=rate_closed}")
    wait_until(lambda: closed(srv).get("rate_limited") == 1.0, t(5),
               "connections_closed_total{reason=rate_limited} = 1")
    for ws in (calm_sub, flood_sub, calm_pub):
        ws.close()


@suite.case(timeout=60)
def commands_throttled(ctx):
    srv = ctx.server("--rate-commands-per-s", "10", "--rate-burst-ms", "500",
                     "--rate-close-after-ms", "0")
    a = RawWS.connect(srv.port, "/ws", protocols=["ringcast.v1"])
    b = RawWS.connect(srv.port, "/ws", protocols=["ringcast.v1"])
    cmds = b"".join(encode_frame(OP_TEXT, json.dumps(
        {"op": "subscribe", "topics": ["c%d" % i], "id": i}).encode()) for i in range(30))
    a.send_raw(cmds)
    answered = set()
    while len(answered) < 30:
        m = a.recv_message(timeout=t(5))
        check(m is not None, "only %d of 30 subscribes answered" % len(answered))
        n = json.loads(m[1])
        expect_eq(n.get("type"), "subscribed", "answer to a subscribe")
        answered.add(n["id"])
    t0 = time.monotonic()
    a.send_text(json.dumps({"op": "subscribe", "topics": ["late"], "id": 99}))
    b.send_text(json.dumps({"op": "subscribe", "topics": ["other"], "id": 1}))
    m = b.recv_message(timeout=t(2))
    check(m is not None and json.loads(m[1]).get("id") == 1,
          "another client's subscribe waited behind the throttled one: %r" % (m,))
    t_other = time.monotonic() - t0
    m = a.recv_message(timeout=t(10))
    t_late = time.monotonic() - t0
    check(m is not None and json.loads(m[1]).get("id") == 99, "the 31st subscribe: %r" % (m,))
    ctx.note("31st subscribe answered after %.2f s, another client's after %.3f s"
             % (t_late, t_other))
    # 30 commands at 10/s with a burst of 5: 2.5 s of debt when the read was charged
    check(t_late >= 1.5, "the 31st subscribe was answered after %.2f s: not throttled" % t_late)
    check(t_other < t(0.5), "another client waited %.2f s" % t_other)
    lim = limited(srv)
    check(lim.get("commands", 0) >= 1, "limited_total{reason=commands}: %r" % lim)
    expect_eq(lim.get("rate_closed", 0), 0.0, "closed for rate with rate-close-after-ms 0")
    a.close()
    b.close()


@suite.case(timeout=90)
def ip_connections_cap(ctx):
    srv = ctx.server("--ip-connections-max", "50", "--ip-limits-loopback", "true",
                     "--max-connections", "1000", "--workers", "2")
    srv.metrics_source = "127.0.0.9"
    ok, refused = [], 0
    for i in range(200):
        r, s = try_upgrade(srv.port)
        if r == "ok":
            ok.append(s)
        elif r == "closed":
            refused += 1
        else:
            raise Fail("connection %d: HTTP %s, expected 101 or a close before any HTTP" % (i, r))
    ctx.note("%d upgraded, %d closed before HTTP" % (len(ok), refused))
    expect_eq(len(ok), 50, "connections upgraded from one address with a cap of 50")
    expect_eq(limited(srv).get("ip_connections"), 150.0, "limited_total{reason=ip_connections}")
    r, other = try_upgrade(srv.port, source="127.0.0.2")
    expect_eq(r, "ok", "a connection from another address while 127.0.0.1 is at its cap")
    other.close()
    for s in ok[:10]:
        s.close()
    # the server counts a connection out when it has closed it
    wait_until(lambda: closed(srv).get("eof", 0) >= 11, t(5), "the 11 closes counted")
    more = []
    for i in range(11):
        r, s = try_upgrade(srv.port)
        if r == "ok":
            more.append(s)
    expect_eq(len(more), 10, "connections let in after 10 of 50 closed")
    for s in ok[10:] + more:
        s.close()


@suite.case(timeout=60)
def ip_connects_rate(ctx):
    srv = ctx.server("--ip-connects-per-s", "5", "--rate-burst-ms", "1000",
                     "--ip-limits-loopback", "true")
    srv.metrics_source = "127.0.0.9"
    t0 = time.monotonic()
    ok = 0
    for _ in range(20):
        r, s = try_upgrade(srv.port, source="127.0.0.1")
        if r == "ok":
            ok += 1
            s.close()
        else:
            expect_eq(r, "closed", "a connection over the address's rate")
    elapsed = time.monotonic() - t0
    ctx.note("%d of 20 quick reconnects served in %.2f s" % (ok, elapsed))
    check(5 <= ok <= 5 + 5 * elapsed + 1, "%d served: expected the burst of 5 and 5/s" % ok)
    check(limited(srv).get("ip_rate", 0) == 20 - ok, "limited_total{reason=ip_rate}")
    r, s = try_upgrade(srv.port, source="127.0.0.3")
    expect_eq(r, "ok", "another address during the first one's reconnect loop")
    s.close()


async def _storm(port: int, n: int):
    async def one():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as e:
            return "connect error " + e.__class__.__name__
        try:
            writer.write(upgrade_request("/ws?topics=s", new_key()))
            head = await asyncio.wait_for(reader.read(4096), t(10))
            if not head:
                return "closed"
            return int(head.split(b" ", 2)[1])
        except (ConnectionResetError, BrokenPipeError):
            return "closed"
        finally:
            writer.close()
    return await asyncio.gather(*(one() for _ in range(n)))


@suite.case(timeout=60)
def accept_rate_storm(ctx):
    srv = ctx.server("--accept-per-s", "100", "--rate-burst-ms", "200", "--workers", "2")
    t0 = time.monotonic()
    res = asyncio.run(_storm(srv.port, 300))
    elapsed = time.monotonic() - t0
    served = sum(1 for r in res if r == 101)
    dropped = sum(1 for r in res if r == "closed")
    other = [r for r in res if r not in (101, "closed")]
    ctx.note("storm of 300 in %.2f s: %d served, %d closed before HTTP" % (elapsed, served,
                                                                           dropped))
    check(not other, "answers other than 101 or a close: %r" % other[:5])
    # a burst of 200 ms at 100/s, split over 2 workers (10 each), and 100/s after it
    check(served <= 20 + 100 * elapsed + 5, "%d served in %.2f s at 100/s" % (served, elapsed))
    check(served >= 5, "only %d served" % served)
    wait_until(lambda: limited(srv).get("accept_rate", 0) == dropped, t(5),
               "limited_total{reason=accept_rate} = %d" % dropped)
    time.sleep(0.5)   # the bucket refills
    ws = RawWS.connect(srv.port, "/ws?topics=after")
    ws.close()
    ticks0 = srv_cpu_ticks(srv)
    time.sleep(1.0)
    used = srv_cpu_ticks(srv) - ticks0
    check(used <= 10, "the server used %d ticks of CPU in the idle second after the storm" % used)


def srv_cpu_ticks(srv) -> int:
    with open("/proc/%d/stat" % srv.pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime + stime


@suite.case(timeout=60)
def handshakes_cap(ctx):
    srv = ctx.server("--max-connections", "6", "--handshakes-max", "10",
                     "--handshake-timeout-ms", "60000", "--workers", "2")
    idle = []
    for _ in range(30):
        s = socket.create_connection(("127.0.0.1", srv.port))
        idle.append(s)
    wait_until(lambda: limited(srv).get("handshakes", 0) >= 20, t(5),
               "20 of 30 idle handshakes evicted")
    ws = []
    for i in range(6):
        try:
            ws.append(RawWS.connect(srv.port, "/ws?topics=h"))
        except HandshakeRefused as e:
            raise Fail("WebSocket %d refused while idle connections hold handshakes: %s"
                       % (i, e.answer.summary()))
    try:
        RawWS.connect(srv.port, "/ws?topics=h")
        raise Fail("a 7th WebSocket was let in with --max-connections 6")
    except HandshakeRefused as e:
        expect_eq(e.answer.status, 503, "the 7th WebSocket")
    evicted = 0
    for s in idle:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                evicted += 1
        except BlockingIOError:
            pass
        except ConnectionResetError:
            evicted += 1
        s.close()
    ctx.note("%d of 30 idle connections closed by the server" % evicted)
    check(evicted >= 20, "only %d idle connections were closed" % evicted)
    c = closed(srv)
    check(c.get("handshake_evicted", 0) >= 20, "closed_total{reason=handshake_evicted}: %r" % c)
    for w in ws:
        w.close()


@suite.case(timeout=60)
def lifetime(ctx):
    life_ms = 1500
    srv = ctx.server("--max-lifetime-ms", str(life_ms))
    clients = [RawWS.connect(srv.port, "/ws?topics=l", protocols=["ringcast.v1"])
               for _ in range(6)]
    # every client read at once, each close timed when it arrives (reading them one after the
    # other would time the later ones when the test gets to them, not when they came)
    times, pending = {}, {c.sock: c for c in clients}
    deadline = time.monotonic() + t(5)
    while pending and time.monotonic() < deadline:
        ready, _, _ = select.select(list(pending), [], [], 0.05)
        for s in ready:
            c = pending[s]
            fr = c.recv_frame(timeout=0.001)
            if fr is not None and fr.opcode == OP_CLOSE:
                times[s] = time.monotonic() - c.t_open
                expect_eq(fr.close_code, 1012, "close code at the end of a connection's lifetime")
                del pending[s]
                c.close()
    check(not pending, "%d connections not closed within 5 s" % len(pending))
    times = list(times.values())
    ctx.note("lifetimes: %s s" % ", ".join("%.3f" % x for x in times))
    for x in times:
        check(life_ms * 0.9 / 1000 - 0.05 <= x <= life_ms / 1000 + t(0.3),
              "a lifetime of %.3f s against max-lifetime-ms %d" % (x, life_ms))
    check(max(times) - min(times) > 0.005, "no jitter: %r" % times)
    wait_until(lambda: closed(srv).get("lifetime") == 6.0, t(5),
               "connections_closed_total{reason=lifetime} = 6")
    expect_eq(limited(srv).get("lifetime"), 6.0, "limited_total{reason=lifetime}")


if __name__ == "__main__":
    suite.main()
