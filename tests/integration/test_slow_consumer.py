#!/usr/bin/python3
"""Integration: slow consumers. Bounded memory, the slow-consumer policy, the write deadline, and
the exact accounting of missed messages (docs/protocol.md 6.5).

    /usr/bin/python3 tests/integration/test_slow_consumer.py --bin build/release/tools/ringcast

Every case runs one publisher (plain, 1000-byte text messages carrying their counter, ~2000/s for
~3 s) and three subscribers of the topic:
  fast     ringcast.v1, reads everything; the publisher stays at most 32 messages ahead of it
           (queue-msgs-max is 64), so it must receive every message, sequence numbers 1, 2, 3...
           and no `missed` notice, whatever happens to the others;
  slow1k   ringcast.v1, SO_RCVBUF 4 KiB, reads 1 KiB per second while the publisher pushes;
  never    plain, SO_RCVBUF 4 KiB, reads nothing while the publisher pushes.
The server runs with small queues (64 messages, 64 KiB) and a small pool, so memory is bounded by
configuration: its RSS may not grow by more than the pool's size plus a margin while megabytes
flow, and ringcast_queued_bytes may not exceed what three full queues hold.

drop_oldest / drop_newest / conflate (write deadline 60 s, nobody is cut): afterwards slow1k and
  never read everything; the publisher then sends a last message. slow1k must have seen at least
  one `missed` notice, and its accounting must be exact: sequence numbers increase; under
  drop-oldest every gap equals the sum of the `missed` counts received in it; under drop-newest
  and conflate (where a notice may come ahead of older queued messages) at every MESSAGE n all
  numbers up to n are received or already counted; received + missed = the last published.
  never's counters increase and end with the last message. The drop counter of the policy's reason
  moved; no other reason did; nobody was disconnected.
disconnect: slow1k and never are closed with 4000 (or cut) once their queue is full; fast is not;
  ringcast_slow_consumer_disconnects_total rises by exactly 2.
write_deadline (--write-timeout-ms 1000, drop-oldest): never is disconnected by the write deadline
  no sooner than 1 s after the publisher starts and within 1 s + tolerance of its socket filling;
  slow1k either sees a `missed` notice or is cut the same way; fast keeps everything.
"""

import json
import time

from rcbase import Fail, check, expect_eq, t, wait_until
from rcserver import tcp_queues
from rcws import RawWS, Peer, pump, encode_frame, OP_TEXT
from rcv1 import v1_parse, notice_core
from rcsuite import Suite

suite = Suite("slow_consumer")

QMSGS, QBYTES, BUF = 64, 65536, 16384
RECV_BUFS, POOL_BUFS, WORKERS = 64, 256, 2
POOL_KIB = WORKERS * (RECV_BUFS + POOL_BUFS) * BUF // 1024
PAYLOAD = 1000
RATE = 2000           # messages per second
DURATION = 3.0        # seconds of publishing
TOPIC = "slow"


def server_flags(policy, write_ms):
    return ["--slow-policy", policy, "--write-timeout-ms", str(write_ms),
            "--queue-msgs-max", str(QMSGS), "--queue-bytes-max", str(QBYTES),
            "--message-max-bytes", "4096", "--buffer-size-bytes", str(BUF),
            "--recv-buffers", str(RECV_BUFS), "--pool-buffers", str(POOL_BUFS),
            "--workers", str(WORKERS)]


def payload(i, end=False):
    return (b"%08d|END" % i) if end else (b"%08d|" % i + b"x" * (PAYLOAD - 9))


class Sub(Peer):
    """Records what arrives: ('msg', seq, counter) and ('missed', count)."""

    def __init__(self, ws, name, v1):
        super().__init__(ws, name)
        self.v1 = v1
        self.events = []
        self.count = 0
        self.missed = 0
        self.end = False
        self.prev = 0
        self.answer_close = True

    def on_message(self, op, data):
        if self.v1 and op == OP_TEXT:
            n = json.loads(data)
            check(n.get("type") == "missed" and n.get("topic") == TOPIC and
                  isinstance(n.get("count"), int) and n["count"] >= 1,
                  "%s: unexpected notice %r (only missed notices for %s can come)"
                  % (self.name, n, TOPIC))
            check(not self.events or self.events[-1][0] != "missed",
                  "%s: two missed notices for %s with no message between them (%r then %r): the "
                  "server must send one per topic before delivering further"
                  % (self.name, TOPIC, self.events[-1], n))
            self.events.append(("missed", n["count"]))
            self.missed += n["count"]
            return
        if self.v1:
            topic, seq, text, body = v1_parse(data)
            expect_eq((topic, text), (TOPIC, True), "%s: topic and text flag of a MESSAGE"
                      % self.name)
        else:
            seq, body = None, data
            expect_eq(op, OP_TEXT, "%s: opcode" % self.name)
        i = int(body[:8])
        if self.v1:
            expect_eq(seq, i + 1, "%s: sequence number of message %d (single publisher on a "
                      "fresh topic: counter + 1)" % (self.name, i))
        check(i + 1 > self.prev, "%s: message %d after message %d (out of order or duplicate)"
              % (self.name, i, self.prev - 1))
        self.prev = i + 1
        self.events.append(("msg", seq, i))
        self.count += 1
        if body.endswith(b"|END"):
            self.end = True

    def slow_read(self, n):
        """Take at most n bytes from the socket (the 1 KiB/s reader)."""
        try:
            d = self.sock.recv(n)
        except BlockingIOError:
            return
        except OSError:
            self.ended = "reset"
            return
        if not d:
            self.ended = "eof"
            return
        self.buf += d
        self.feed()

    def finished(self):
        return self.end or self.ended or self.close_frame is not None


def accounting(sub, last, per_gap=True):
    """The accounting rules of docs/protocol.md 6.5, from the start to the last message (numbered
    `last`, and nothing after it).

    per_gap (drop-oldest, and anyone who missed nothing): every gap between two consecutive
    MESSAGEs equals the sum of the missed counts received between them.
    Otherwise (drop-newest, conflate: the notice may come ahead of older queued messages): at
    each MESSAGE numbered n, every number up to n is received or counted in a missed notice
    received so far (counts above n may come early); at the last message the two add up exactly.
    """
    prev_seq, pending, received, missed = 0, 0, 0, 0
    for ev in sub.events:
        if ev[0] == "missed":
            pending += ev[1]
            missed += ev[1]
            continue
        seq = ev[1]
        received += 1
        check(seq > prev_seq, "%s: sequence %d after %d" % (sub.name, seq, prev_seq))
        if per_gap:
            gap = seq - prev_seq - 1
            check(gap == pending, "%s: sequence %d after %d is a gap of %d, but the missed "
                  "notices in between count %d" % (sub.name, seq, prev_seq, gap, pending))
        else:
            check(received + missed >= seq,
                  "%s: at MESSAGE %d, %d received and %d counted missed so far: %d numbers "
                  "unaccounted for" % (sub.name, seq, received, missed, seq - received - missed))
        prev_seq, pending = seq, 0
    check(pending == 0, "%s: a missed notice (%d) with no message after it" % (sub.name, pending))
    expect_eq(prev_seq, last, "%s: sequence number of the last message received (the last "
              "published)" % sub.name)
    expect_eq(received + missed, last, "%s: messages received + counted missed, up to the last "
              "message" % sub.name)


def run_load(ctx, srv, write_deadline_probe=False, duration=DURATION):
    """Connect the three subscribers and the publisher, publish for DURATION seconds. Returns
    (fast, slow1k, never, published count, observations)."""
    fast = Sub(RawWS.connect(srv.port, "/ws?topics=" + TOPIC, protocols=["ringcast.v1"]),
               "fast", True)
    slow = Sub(RawWS.connect(srv.port, "/ws?topics=" + TOPIC, protocols=["ringcast.v1"],
                             rcvbuf=4096), "slow1k", True)
    never = Sub(RawWS.connect(srv.port, "/ws?topics=" + TOPIC, rcvbuf=4096), "never", False)
    for p in (fast, slow):
        # the subscribed notice (confirms the subscription) is read blocking, before the load
        p.sock.setblocking(True)
        fr = p.ws.expect_frame(t(5), "%s: subscribed notice" % p.name)
        expect_eq(notice_core(json.loads(fr.payload)), {"type": "subscribed", "topics": [TOPIC]},
                  "%s: first notice" % p.name)
        p.sock.setblocking(False)
        p.buf = p.ws.buf
    pub = RawWS.connect(srv.port, "/ws?publish=" + TOPIC)
    # never (plain) has no confirmation of its subscription and cannot be warmed up without
    # reading; the cases check it received the last message instead, published seconds later.
    obs = {"rss": [], "queued": [], "cut_at": None, "start": None, "grew_at": None}
    never_port = never.sock.getsockname()[1]
    last_tx = -1
    next_tx = 0.0
    rss0 = srv.rss_kib()
    sent = 0
    t0 = time.monotonic()
    obs["start"] = t0
    next_slow = t0 + 1.0
    next_rss = t0
    next_metrics = t0
    while True:
        now = time.monotonic()
        el = now - t0
        if el >= duration:
            break
        target = int(el * RATE) + 1
        while sent < target and sent - fast.count <= 32:
            k = min(16, target - sent, 33 - (sent - fast.count))
            pub.send_raw(b"".join(encode_frame(OP_TEXT, payload(sent + j)) for j in range(k)))
            sent += k
        pump([fast], 0.002)
        if fast.ended or fast.close_frame is not None:
            raise Fail("fast subscriber was disconnected (%s, close %r) after %d messages: only "
                       "the slow ones may be" % (fast.ended, fast.close_frame, fast.count))
        if now >= next_slow:
            slow.slow_read(1024)
            next_slow += 1.0
        if now >= next_rss:
            obs["rss"].append((el, srv.rss_kib()))
            next_rss += 0.1
        if write_deadline_probe and obs["cut_at"] is None and el >= next_tx:
            # the server's send queue to never: the last time it grew is when the server's sends
            # to never last made progress (never reads nothing, so nothing is acked)
            q = tcp_queues(srv.port, never_port)
            if q is not None and q[0] > last_tx + 1:      # +1: the FIN when the server closes
                last_tx, obs["grew_at"] = q[0], el
            next_tx = el + 0.02
        if now >= next_metrics:
            m = srv.metrics()
            obs["queued"].append((el, m.get_("ringcast_queued_bytes")))
            if write_deadline_probe and obs["cut_at"] is None and \
                    m.get_("ringcast_connections_closed_total", reason="write_timeout") >= 1:
                obs["cut_at"] = el
            next_metrics += 0.05 if write_deadline_probe else 0.5
    # the fast one catches up on everything published
    deadline = time.monotonic() + t(10)
    while fast.count < sent and time.monotonic() < deadline:
        pump([fast], 0.05)
    expect_eq(fast.count, sent, "fast subscriber: messages received of those published")
    obs["rss0"] = rss0
    ctx.note("published %d messages of %d bytes in %.1fs; slow1k had read %d messages, never 0"
             % (sent, PAYLOAD, duration, slow.count))
    return fast, slow, never, pub, sent, obs


def check_memory(ctx, obs, n_subs):
    base = obs["rss"][min(5, len(obs["rss"]) - 1)][1]      # after 0.5 s of load
    peak = max(r for _, r in obs["rss"])
    margin = POOL_KIB + (8 << 10) * (1 if t(1) == 1 else 6)
    ctx.note("server RSS: %d KiB at start, %d KiB after 0.5 s of load, peak %d KiB (allowed "
             "growth %d KiB: the pool, %d KiB, plus a margin)"
             % (obs["rss0"], base, peak, margin, POOL_KIB))
    check(peak - base <= margin, "server RSS grew by %d KiB under load (from %d to %d KiB), more "
          "than the pool (%d KiB) plus margin: memory not bounded by the queues"
          % (peak - base, base, peak, POOL_KIB))
    qmax = max(q for _, q in obs["queued"])
    bound = n_subs * (QBYTES + BUF) + BUF
    check(qmax <= bound, "ringcast_queued_bytes reached %d, more than %d subscribers x "
          "(queue-bytes-max %d + one buffer) = %d" % (qmax, n_subs, QBYTES, bound))


def drain(peers, timeout, what, tcp_end=False):
    """Read until each peer got the last message or its connection ended (tcp_end: until the
    server closed TCP; our Sub answers a close frame, so the server may close at once)."""
    deadline = time.monotonic() + timeout
    done = (lambda p: p.ended) if tcp_end else (lambda p: p.finished())
    while not all(done(p) for p in peers):
        if time.monotonic() > deadline:
            raise Fail("%s: not finished within %.1fs: %r" % (what, timeout, [
                (p.name, p.count, p.end, p.ended, p.close_frame) for p in peers]))
        pump([p for p in peers if not done(p)], 0.05)


def quiet(peers, seconds):
    """Read until nothing arrives for `seconds`."""
    last = time.monotonic()
    while time.monotonic() - last < seconds:
        if pump(peers, 0.05):
            last = time.monotonic()


def drop_policy_case(ctx, policy, reason, per_gap):
    srv = ctx.server(*server_flags(policy, 60000))
    m0 = srv.metrics()
    fast, slow, never, pub, sent, obs = run_load(ctx, srv)
    check_memory(ctx, obs, 3)
    # let the slow ones read what is queued for them, then publish the last message: their queues
    # are empty now, so every policy delivers it, preceded by missed notices for the tail drops
    quiet([fast, slow, never], 0.5)
    for p in (slow, never):
        check(not p.ended and p.close_frame is None,
              "%s was disconnected (%s, close %r) under %s with a 60 s write deadline"
              % (p.name, p.ended, p.close_frame, policy))
    pub.send_raw(encode_frame(OP_TEXT, payload(sent, end=True)))
    drain([fast, slow, never], t(10), "reading up to the last message")
    for p in (fast, slow, never):
        check(p.end, "%s: the connection ended (%s, close %r) before the last message"
              % (p.name, p.ended, p.close_frame))
    accounting(fast, sent + 1)
    expect_eq(fast.missed, 0, "missed count of the fast subscriber")
    accounting(slow, sent + 1, per_gap)
    check(slow.missed >= 1, "slow1k: expected at least one missed notice (it read %d of %d "
          "messages at 1 KiB/s)" % (slow.count, sent + 1))
    check(never.count < sent + 1, "never: received all %d messages though it read nothing while "
          "%d KB went by (queue 64 KiB): no policy fired" % (never.count, sent * PAYLOAD // 1000))
    ctx.note("slow1k: %d received + %d missed; never: %d received"
             % (slow.count, slow.missed, never.count))
    m1 = srv.metrics()
    dd = {k: m1.family("ringcast_messages_dropped_total")[k] -
          m0.family("ringcast_messages_dropped_total").get(k, 0)
          for k in m1.family("ringcast_messages_dropped_total")}
    # slow1k's drops are all announced; never's are not (plain), and it may have subscribed a
    # little after the first message, so only slow1k's count is a lower bound
    check(dd.get(reason, 0) >= slow.missed,
          "ringcast_messages_dropped_total{reason=%s} rose by %d, less than the %d messages "
          "slow1k was told it missed" % (reason, dd.get(reason, 0), slow.missed))
    others = {k: v for k, v in dd.items() if k != reason and v}
    check(not others, "drops under other reasons than %s: %r" % (reason, others))
    expect_eq(m1.get_("ringcast_slow_consumer_disconnects_total") -
              m0.get_("ringcast_slow_consumer_disconnects_total"), 0,
              "slow consumer disconnects under %s with a 60 s write deadline" % policy)
    for p in (fast, slow, never):
        p.sock.setblocking(True)
        p.ws.close_handshake()
    pub.close_handshake()


@suite.case(timeout=60)
def drop_oldest(ctx):
    drop_policy_case(ctx, "drop-oldest", "queue_full_oldest", per_gap=True)


@suite.case(timeout=60)
def drop_newest(ctx):
    drop_policy_case(ctx, "drop-newest", "queue_full_newest", per_gap=False)


@suite.case(timeout=60)
def conflate(ctx):
    drop_policy_case(ctx, "conflate", "conflated", per_gap=False)


def ended_how(p):
    if p.close_frame is not None:
        return "close %s" % p.close_frame.close_code
    return p.ended or "open"


@suite.case(timeout=60)
def disconnect(ctx):
    srv = ctx.server(*server_flags("disconnect", 60000))
    m0 = srv.metrics()
    fast, slow, never, pub, sent, obs = run_load(ctx, srv)
    check_memory(ctx, obs, 3)
    drain([slow, never], t(10), "slow1k and never reading to their end", tcp_end=True)
    for p in (slow, never):
        if p.close_frame is not None:
            expect_eq(p.close_frame.close_code, 4000, "%s: close code under the disconnect "
                      "policy" % p.name)
        ctx.note("%s: %d messages, then %s" % (p.name, p.count, ended_how(p)))
        check(p.count < sent, "%s: received all %d messages yet was disconnected" % (p.name, sent))
    pub.send_raw(encode_frame(OP_TEXT, payload(sent, end=True)))
    drain([fast], t(5), "fast: the last message")
    accounting(fast, sent + 1)
    m1 = srv.metrics()
    expect_eq(m1.get_("ringcast_slow_consumer_disconnects_total") -
              m0.get_("ringcast_slow_consumer_disconnects_total"), 2,
              "ringcast_slow_consumer_disconnects_total increase (slow1k and never)")
    # both TCP connections have ended, so both are counted as closed, under slow_consumer
    closed = lambda m: m.family("ringcast_connections_closed_total")
    c0 = closed(m0)
    try:
        wait_until(lambda: closed(srv.metrics()).get("slow_consumer", 0) -
                   c0.get("slow_consumer", 0) >= 2 or None, t(2),
                   "closed_total{reason=slow_consumer} +2")
    except Fail:
        c1 = closed(srv.metrics())
        raise Fail("ringcast_connections_closed_total after two slow-consumer disconnects: "
                   "expected +2 under slow_consumer, got increases %r"
                   % {k: v - c0.get(k, 0) for k, v in c1.items() if v != c0.get(k, 0)})
    fast.sock.setblocking(True)
    fast.ws.close_handshake()
    pub.close_handshake()


@suite.case(timeout=60)
def write_deadline(ctx):
    WT = 1.0
    srv = ctx.server(*server_flags("drop-oldest", 1000))
    m0 = srv.metrics()
    dur = 5.0
    fast, slow, never, pub, sent, obs = run_load(ctx, srv, write_deadline_probe=True,
                                                 duration=dur)
    check_memory(ctx, obs, 3)
    cut, grew = obs["cut_at"], obs["grew_at"]
    # never's sends stall once its 4 KiB and the server's (kernel-autotuned) send buffer are full
    check(cut is not None, "no connection closed by the write deadline (1000 ms) during %.1fs of "
          "load while 'never' read nothing (its send queue last grew at %s s)" % (dur, grew))
    check(grew is not None, "never's server-side socket was not found in /proc/net/tcp")
    check(cut >= WT * 0.95, "write-deadline disconnect %.2f s after the load started: sooner than "
          "the deadline (%.1f s)" % (cut, WT))
    check(WT * 0.9 - 0.05 <= cut - grew <= WT + t(0.5) + 0.1,
          "write-deadline disconnect %.2f s after never's sends last made progress (at %.2f s): "
          "expected %.1f s (+%.2f tolerance)" % (cut - grew, grew, WT, t(0.5) + 0.1))
    ctx.note("never's send queue last grew %.2f s after the load started; write-deadline "
             "disconnect seen %.2f s later" % (grew, cut - grew))
    drain([slow, never], t(10), "slow1k and never reading to their end")
    check(not never.end, "never: received the end though it read nothing for %.1fs" % dur)
    check(never.ended or never.close_frame is not None, "never: still connected")
    if never.close_frame is not None:
        expect_eq(never.close_frame.close_code, 4000, "never: close code after the write deadline")
    cut_slow = slow.ended is not None or slow.close_frame is not None
    check(cut_slow or slow.missed >= 1,
          "slow1k (1 KiB/s): neither disconnected nor told of a missed message: %d received"
          % slow.count)
    ctx.note("never: %d messages then %s; slow1k: %d messages, %d missed, %s"
             % (never.count, ended_how(never), slow.count, slow.missed, ended_how(slow)))
    m1 = srv.metrics()
    n_cut = 1 + (1 if cut_slow else 0)
    expect_eq(m1.get_("ringcast_slow_consumer_disconnects_total") -
              m0.get_("ringcast_slow_consumer_disconnects_total"), n_cut,
              "ringcast_slow_consumer_disconnects_total increase")
    expect_eq(m1.get_("ringcast_connections_closed_total", reason="write_timeout") -
              m0.get_("ringcast_connections_closed_total", reason="write_timeout"), n_cut,
              "ringcast_connections_closed_total{reason=write_timeout} increase")
    pub.send_raw(encode_frame(OP_TEXT, payload(sent, end=True)))
    drain([fast], t(5), "fast: the last message")
    accounting(fast, sent + 1)
    if not cut_slow:
        slow.sock.setblocking(True)
        slow.ws.close_handshake()
    fast.sock.setblocking(True)
    fast.ws.close_handshake()
    pub.close_handshake()


if __name__ == "__main__":
    suite.main()
