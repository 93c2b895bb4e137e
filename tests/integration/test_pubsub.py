#!/usr/bin/python3
"""Integration: fan-out correctness. Every subscriber gets every message of its topics, in order,
exactly once, and never its own.

    /usr/bin/python3 tests/integration/test_pubsub.py --bin build/release/tools/ringcast

fan_out      1 publisher, 50 subscribers (25 plain, 25 ringcast.v1) of one topic, 100,000 small
             messages, each carrying its counter. The publisher is itself subscribed to the topic
             (it must receive nothing). Every message has the same size, so a subscriber's whole
             byte stream is predictable: it is compared byte for byte with the expected frames
             (plain: 81 08 + the 8-digit counter; v1: the MESSAGE envelope with sequence numbers
             W+1, W+2, ... after W warm-up messages), which checks framing, order, loss,
             duplicates and the sequence numbers at memcmp speed. The publisher keeps at most
             WINDOW messages ahead of the slowest subscriber (< queue-msgs-max), so no drop is
             allowed: ringcast_messages_dropped_total must stay 0.
many_topics  16 topics (case-sensitive names, every allowed character), 24 ringcast.v1
             subscribers (URL topics=, subscribe commands, one that unsubscribes), 8 plain ones,
             one v1 publisher of PUBLISH frames (text and binary) subscribed to every topic: each
             subscriber receives exactly its topics' messages, per topic in publish order, with
             consecutive sequence numbers, the right opcode / text flag; the publisher none.

Plain subscribers have no confirmation of their subscription, so before the counted messages the
publisher sends warm-up messages until every plain subscriber has seen one; the counted ones follow
(per-publisher per-topic order), and the warm-ups are skipped by the checkers.
"""

import json
import os
import random
import select
import struct
import time

from rcbase import Fail, check, expect_eq, t, scaled
from rcws import RawWS, Peer, pump, pump_until, encode_frame, OP_TEXT, OP_BINARY
from rcv1 import v1_publish, v1_parse, subscribe_cmd, notice_core
from rcbench import run_bench
from rcsuite import Suite

suite = Suite("pubsub")


def masked_frames(payloads, opcode=OP_TEXT):
    """Client frames for payloads, each with its own random mask key."""
    keys = os.urandom(4 * len(payloads))
    out = []
    for i, p in enumerate(payloads):
        out.append(encode_frame(opcode, p, key=keys[4 * i:4 * i + 4]))
    return b"".join(out)


class StreamSub:
    """A subscriber whose stream is all same-size frames: warm-ups, then exactly `expected`."""

    def __init__(self, ws, kind, topic, idx):
        self.ws = ws
        self.sock = ws.sock
        self.kind = kind
        self.idx = idx
        self.buf = bytearray(ws.buf)
        self.warm = 0                # warm-up frames seen
        self.last_warm_seq = None
        self.real = False
        self.pos = 0                 # bytes of expected matched
        self.extra = b""
        tb = topic.encode()
        if kind == "plain":
            self.flen = 10
            self.warm_frame = b"\x81\x08wwwwwwww"
        else:
            self.flen = 2 + 11 + len(tb) + 8
            self.prefix = bytes([0x82, 11 + len(tb) + 8, 1, 1, len(tb)]) + tb
        self.expected = None

    def fileno(self):
        return self.sock.fileno()

    def progress(self):
        return self.pos // self.flen if self.real else 0

    def _is_warm(self, b):
        if self.kind == "plain":
            return b == self.warm_frame
        return b[:len(self.prefix)] == self.prefix and b[-8:] == b"wwwwwwww"

    def take(self, data):
        if not self.real:
            self.buf += data
            while len(self.buf) >= self.flen and self._is_warm(bytes(self.buf[:self.flen])):
                if self.kind == "v1":
                    seq = struct.unpack_from("!Q", self.buf, len(self.prefix))[0]
                    if self.last_warm_seq is not None and seq != self.last_warm_seq + 1:
                        raise Fail("v1 subscriber %d: warm-up sequence numbers %d then %d (not "
                                   "consecutive)" % (self.idx, self.last_warm_seq, seq))
                    self.last_warm_seq = seq
                self.warm += 1
                del self.buf[:self.flen]
            if len(self.buf) >= self.flen and self.expected is not None:
                if self.kind == "v1" and (self.warm, self.last_warm_seq) != (self.W, self.W):
                    raise Fail("v1 subscriber %d: expected all %d warm-ups, sequence numbers 1..%d, "
                               "before the counted messages; got %d ending at %r"
                               % (self.idx, self.W, self.W, self.warm, self.last_warm_seq))
                self.real = True
                data, self.buf = bytes(self.buf), bytearray()
            elif len(self.buf) >= self.flen:
                raise Fail("%s subscriber %d: a frame that is not a warm-up arrived before the "
                           "counted messages were sent: %r" % (self.kind, self.idx,
                                                               bytes(self.buf[:self.flen])))
            else:
                return
        exp = self.expected
        if exp.startswith(data, self.pos):
            self.pos += len(data)
            return
        # find the first frame that differs, for the message
        n = min(len(data), len(exp) - self.pos)
        k = next((i for i in range(n) if data[i] != exp[self.pos + i]), n)
        at = self.pos + k
        fi = at // self.flen
        got = data[(fi * self.flen - self.pos):][:self.flen * 2] if fi * self.flen >= self.pos \
            else data[:self.flen * 2]
        if at >= len(exp):
            raise Fail("%s subscriber %d: %d bytes more than the %d expected messages: %r"
                       % (self.kind, self.idx, len(data) - n, len(exp) // self.flen,
                          data[n:n + 40]))
        raise Fail("%s subscriber %d: message #%d differs (byte %d of it): expected frame %r, "
                   "got %r (after %d warm-ups)"
                   % (self.kind, self.idx, fi, at - fi * self.flen,
                      exp[fi * self.flen:(fi + 1) * self.flen], got, self.warm))


@suite.case(timeout=150)
def fan_out(ctx):
    N = 100000            # also under RC_SLOW: the stream check is cheap, the server fast enough
    NSUB = 50
    WINDOW = 400          # < queue-msgs-max (1024): a subscriber that keeps up never drops
    BATCH = 100
    topic = "fan/out"
    srv = ctx.server()
    m0 = srv.metrics()
    subs = []
    for i in range(NSUB):
        kind = "plain" if i % 2 == 0 else "v1"
        ws = RawWS.connect(srv.port, "/ws?topics=" + topic,
                           protocols=["ringcast.v1"] if kind == "v1" else None)
        if kind == "v1":
            fr = ws.expect_frame(t(5), "subscribed notice of v1 subscriber %d" % i)
            expect_eq(notice_core(json.loads(fr.payload)), {"type": "subscribed", "topics": [topic]},
                      "notice of v1 subscriber %d" % i)
        ws.sock.setblocking(False)
        subs.append(StreamSub(ws, kind, topic, i))
    pub = RawWS.connect(srv.port, "/ws?topics=%s&publish=%s" % (topic, topic))
    pub.sock.setblocking(False)

    def read_all(timeout):
        r, _, _ = select.select(subs + [pub.sock], [], [], timeout)
        for s in r:
            if s is pub.sock:
                try:
                    d = pub.sock.recv(65536)
                except BlockingIOError:
                    continue
                raise Fail("the publisher (subscribed to its own topic) received %r: a "
                           "connection must never receive its own messages" % d[:60])
            try:
                d = s.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                raise Fail("%s subscriber %d: connection reset by the server" % (s.kind, s.idx))
            if not d:
                raise Fail("%s subscriber %d: connection closed by the server after %d messages"
                           % (s.kind, s.idx, s.progress()))
            s.take(d)

    # warm-up: until every subscriber has seen one
    warm = encode_frame(OP_TEXT, b"wwwwwwww")
    W = 0
    deadline = time.monotonic() + t(15)
    while not all(s.warm for s in subs):
        if time.monotonic() > deadline:
            raise Fail("warm-up: %d of %d subscribers saw none of %d warm-up messages in %.0fs"
                       % (sum(1 for s in subs if not s.warm), NSUB, W, t(15)))
        pub.sock.setblocking(True)
        pub.sock.sendall(warm)
        pub.sock.setblocking(False)
        W += 1
        read_all(0.01)

    payloads = [b"%08d" % i for i in range(N)]
    plain_exp = b"".join(b"\x81\x08" + p for p in payloads)
    s0 = next(s for s in subs if s.kind == "v1")
    v1_exp = b"".join(s0.prefix + struct.pack("!Q", W + 1 + i) + p for i, p in enumerate(payloads))
    for s in subs:
        s.expected = plain_exp if s.kind == "plain" else v1_exp
        s.W = W
        if s.buf:
            s.take(b"")
    stream = masked_frames(payloads)
    flen = 14
    sent = 0                            # messages written
    t0 = time.monotonic()
    stall = time.monotonic()
    last_min = -1
    while True:
        mn = min(s.progress() for s in subs)
        if mn != last_min:
            last_min, stall = mn, time.monotonic()
        elif time.monotonic() - stall > t(10):
            lag = sorted((s.progress(), s.kind, s.idx) for s in subs)[:5]
            raise Fail("no subscriber progress for %.0fs: published %d of %d, slowest "
                       "(received, kind, index): %r" % (t(10), sent, N, lag))
        if mn >= N:
            break
        if sent < N and sent - mn <= WINDOW - BATCH:
            k = min(BATCH, N - sent)
            try:
                pub.sock.setblocking(True)
                pub.sock.sendall(stream[sent * flen:(sent + k) * flen])
            finally:
                pub.sock.setblocking(False)
            sent += k
            read_all(0)
        else:
            read_all(0.05)
    dt = time.monotonic() - t0
    ctx.note("%d messages to %d subscribers in %.2fs: %.0f deliveries/s"
             % (N, NSUB, dt, N * NSUB / dt))
    # nothing more may come: no duplicate, no own message
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        read_all(0.05)
    m1 = srv.metrics()
    expect_eq(m1.get_("ringcast_messages_published_total") -
              m0.get_("ringcast_messages_published_total"), W + N,
              "ringcast_messages_published_total increase (warm-ups + counted)")
    dl = m1.get_("ringcast_messages_delivered_total") - m0.get_("ringcast_messages_delivered_total")
    check(NSUB * N <= dl <= NSUB * (N + W),
          "ringcast_messages_delivered_total increase: expected between %d and %d, got %d"
          % (NSUB * N, NSUB * (N + W), dl))
    drops = m1.family("ringcast_messages_dropped_total")
    check(not any(drops.values()), "messages dropped while every subscriber kept up: %r" % drops)
    for s in subs:
        s.ws.close_handshake()
    pub.close_handshake()


class TopicSub(Peer):
    """Collects (topic, counter, opcode/text, seq) of every counted message; records warm-ups."""

    def __init__(self, ws, name, kind, topics):
        super().__init__(ws, name)
        self.kind = kind
        self.topics = set(topics)
        self.got = {}          # topic -> [counter, ...]
        self.seqs = {}         # topic -> [seq, ...] (v1)
        self.warmed = set()
        self.notices = []
        self.count = 0

    def on_message(self, op, payload):
        if self.kind == "v1":
            if op == OP_TEXT:
                self.notices.append(notice_core(json.loads(payload)))
                return
            topic, seq, text, body = v1_parse(payload)
            self.seqs.setdefault(topic, []).append(seq)
        else:
            topic, seq, text, body = None, None, op == OP_TEXT, payload
        if body.startswith(b"warm:"):
            wt = body[5:].decode()
            check(topic is None or topic == wt, "%s: warm-up of %s in an envelope of %s"
                  % (self.name, wt, topic))
            check(wt in self.topics, "%s: received a message of %s, not one of its topics %s"
                  % (self.name, wt, sorted(self.topics)))
            check(wt not in self.got, "%s: warm-up of %s after its counted messages began"
                  % (self.name, wt))
            self.warmed.add(wt)
            return
        pt, _, num = body.decode().rpartition("|")
        i = int(num)
        check(topic is None or topic == pt, "%s: message %r in an envelope of topic %r"
              % (self.name, body, topic))
        check(pt in self.topics, "%s: received message %r of topic %s, not one of its topics %s"
              % (self.name, body, pt, sorted(self.topics)))
        want_text = i % 3 != 0
        check(text == want_text, "%s: message %d published with text=%s arrived as %s"
              % (self.name, i, want_text, "TEXT" if text else "BINARY"))
        self.got.setdefault(pt, []).append(i)
        self.count += 1


@suite.case(timeout=120)
def many_topics(ctx):
    rng = random.Random(20261123)
    topics = ["mt.%d" % i for i in range(12)] + ["Case", "case", "trades/BTC-USD@binance",
                                                  "l2:ETH-USD.1"]
    K = scaled(6000, 2000)
    srv = ctx.server()
    peers = []

    def v1_conn(name, url_topics, cmd_topics):
        q = "/ws" + ("?topics=" + ",".join(url_topics) if url_topics else "")
        ws = RawWS.connect(srv.port, q, protocols=["ringcast.v1"])
        expect_eq(ws.subprotocol, "ringcast.v1", "%s: subprotocol" % name)
        p = TopicSub(ws, name, "v1", list(url_topics) + list(cmd_topics))
        peers.append(p)
        want = []
        if url_topics:
            want.append({"type": "subscribed", "topics": list(url_topics)})
        if cmd_topics:
            p.send(encode_frame(OP_TEXT, subscribe_cmd(cmd_topics).encode()))
            want.append({"type": "subscribed", "topics": list(cmd_topics)})
        pump_until(peers, lambda: len(p.notices) >= len(want), t(5),
                   "%s: subscribed notices %r" % (name, want))
        expect_eq(p.notices, want, "%s: notices after connect and subscribe" % name)
        p.notices.clear()
        return p

    subs = []
    for j in range(24):
        mine = rng.sample(topics, rng.randint(1, 5))
        mode = j % 3
        if mode == 0:
            subs.append(v1_conn("v1-url-%d" % j, mine, []))
        elif mode == 1:
            subs.append(v1_conn("v1-cmd-%d" % j, [], mine))
        else:
            subs.append(v1_conn("v1-mixed-%d" % j, mine[:1], mine[1:] + mine[:1]))
            subs[-1].topics = set(mine)
    # one that unsubscribes: error not_subscribed first, then unsubscribed with what was removed
    u = v1_conn("v1-unsub", topics[:3], [])
    u.send(encode_frame(OP_TEXT, subscribe_cmd([topics[1], "never.subscribed"],
                                                op="unsubscribe").encode()))
    pump_until(peers, lambda: len(u.notices) >= 2, t(5), "v1-unsub: answer to unsubscribe")
    check(u.notices[0].get("type") == "error" and u.notices[0].get("code") == "not_subscribed"
          and "never.subscribed" in u.notices[0].get("message", ""),
          "v1-unsub: expected first an error not_subscribed naming never.subscribed, got %r"
          % u.notices[0])
    expect_eq(u.notices[1], {"type": "unsubscribed", "topics": [topics[1]]},
              "v1-unsub: second notice")
    u.notices.clear()
    u.topics = {topics[0], topics[2]}
    subs.append(u)
    plains = []
    for j in range(8):
        mine = rng.sample(topics, rng.randint(1, 4))
        ws = RawWS.connect(srv.port, "/ws?topics=" + ",".join(mine))
        expect_eq(ws.subprotocol, None, "plain subscriber subprotocol")
        p = TopicSub(ws, "plain-%d" % j, "plain", mine)
        peers.append(p)
        plains.append(p)
    subs += plains
    pub = v1_conn("publisher", [], topics)
    pub.topics = set(topics)

    # warm-up for the plain subscribers (v1 ones are confirmed by their notices)
    need = set().union(*(p.topics for p in plains))
    deadline = time.monotonic() + t(15)
    while not all(p.topics <= p.warmed for p in plains):
        if time.monotonic() > deadline:
            raise Fail("warm-up: plain subscribers still waiting: %r"
                       % [(p.name, sorted(p.topics - p.warmed)) for p in plains
                          if not p.topics <= p.warmed])
        pub.send(b"".join(encode_frame(OP_BINARY, v1_publish(tp, b"warm:" + tp.encode(), True))
                          for tp in sorted(need)))
        pump(peers, 0.02)

    expected = {id(s): {} for s in subs}
    plan = [rng.choice(topics) for _ in range(K)]
    i = 0
    while i < K:
        batch = plan[i:i + 200]
        frames = []
        for k, tp in enumerate(batch):
            n = i + k
            frames.append(encode_frame(OP_BINARY, v1_publish(tp, b"%s|%d" % (tp.encode(), n),
                                                             text=n % 3 != 0)))
            for s in subs:
                if tp in s.topics:
                    expected[id(s)].setdefault(tp, []).append(n)
        pub.send(b"".join(frames))
        i += len(batch)
        want = {id(s): sum(len(v) for v in expected[id(s)].values()) for s in subs}
        try:
            pump_until(peers, lambda: all(s.count >= want[id(s)] for s in subs), t(10),
                       "all subscribers received the first %d messages" % i)
        except Fail:
            lag = [(s.name, s.count, want[id(s)]) for s in subs if s.count < want[id(s)]]
            raise Fail("after %d published: subscribers short of messages (name, got, "
                       "expected): %r" % (i, lag[:8]))
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pump(peers, 0.05)
    for s in subs:
        exp = expected[id(s)]
        got = {tp: v for tp, v in s.got.items()}
        for tp in sorted(set(exp) | set(got)):
            e, g = exp.get(tp, []), got.get(tp, [])
            if e != g:
                missing = sorted(set(e) - set(g))
                extra = sorted(set(g) - set(e))
                raise Fail("%s, topic %s: expected %d messages in publish order, got %d "
                           "(missing %r, unexpected %r, in order: %s)"
                           % (s.name, tp, len(e), len(g), missing[:10], extra[:10],
                              g == sorted(g)))
        if s.kind == "v1":
            for tp, seqs in s.seqs.items():
                bad = [(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1]
                check(not bad, "%s, topic %s: sequence numbers not consecutive: %r"
                      % (s.name, tp, bad[:5]))
        check(not s.notices, "%s: unexpected notices %r" % (s.name, s.notices[:3]))
    check(not pub.got and not pub.warmed and not any(pub.seqs.values()),
          "the publisher (subscribed to every topic) received its own messages: %r"
          % {k: len(v) for k, v in pub.got.items()})
    ctx.note("%d messages over %d topics to %d subscribers, %d deliveries checked"
             % (K, len(topics), len(subs), sum(s.count for s in subs)))
    for p in peers:
        p.sock.setblocking(True)
        p.ws.buf = p.buf
        p.ws.close_handshake()


@suite.case(timeout=30)
def idle_spin_one_worker(ctx):
    """--idle-spin-us with one worker: the worker polls its completion queue for 2 ms before it
    sleeps. Messages sent one at a time, with pauses shorter and longer than the spin, each reach
    the subscriber, and the server drains and exits 0 as usual."""
    srv = ctx.server("--workers", "1", "--idle-spin-us", "2000")
    topic = "spin"
    sub = RawWS.connect(srv.port, "/ws?topics=" + topic)
    pub = RawWS.connect(srv.port, "/ws?publish=" + topic)
    for i, pause in enumerate([0, 0.0005, 0.001, 0.003, 0.02, 0.1] * 3):
        time.sleep(pause)
        body = b"m%03d" % i
        pub.send_frame(OP_TEXT, body)
        fr = sub.expect_frame(t(5), "message %d after a %.1f ms pause" % (i, pause * 1000))
        expect_eq((fr.opcode, fr.payload), (OP_TEXT, body), "message %d" % i)
    sub.close()
    pub.close()


@suite.case(timeout=90)
def open_loop_1000_subscribers(ctx):
    """1,000 subscribers, 300 messages/s paced open loop by our load generator (perf/ringcast-bench,
    built next to the server): each message arrives alone and becomes ~1,000 sends. This is the
    load under which the server once aborted (it counted every send's linked timeout as in flight,
    and under load the kernel posts those completions hundreds of loop turns late, so the
    per-connection count wrapped). Every message must reach every subscriber, and the server must
    then exit 0."""
    srv = ctx.server()
    r = run_bench(ctx, "ws://127.0.0.1:%d/ws" % srv.port, "--rate", 300, "-n", 1000, "-s", 64,
                  "-d", 3, "--warmup", 1, "--drain", t(3))
    expect_eq(r["connected_subscribers"], 1000, "subscribers connected")
    expect_eq(r["missing"], 0, "messages missing at some subscriber")
    expect_eq(r["gaps"], 0, "gaps")
    check(r["expected"] >= 800 * 1000, "expected ~900,000 deliveries, the bench counted %d"
          % r["expected"])
    check(not r["server_closes"], "the server closed bench connections: %r" % r["server_closes"])
    # Where a delivery's time goes: every delivery is in a worker's publish-to-send histogram, and
    # every message in a send in the messages-per-send one.
    m = srv.metrics()
    delivered = m.get_("ringcast_messages_delivered_total")
    check(delivered >= r["expected"], "messages_delivered_total %d, the bench expected %d"
          % (delivered, r["expected"]))
    expect_eq(m.total("ringcast_publish_to_send_seconds_count"), delivered,
              "deliveries in the publish-to-send histograms (all workers)")
    expect_eq(m.total("ringcast_send_messages_sum"), delivered,
              "messages in the messages-per-send histograms (all workers)")
    sends = m.total("ringcast_send_messages_count")
    check(0 < sends <= m.get_("ringcast_sends_total"),
          "sends carrying messages %d, sends in all %d" % (sends, m.get_("ringcast_sends_total")))
    ctx.note("%d deliveries in %d sends, p99 %.1f ms" % (delivered, sends,
                                                         r["latency_us"]["p99"] / 1000))


if __name__ == "__main__":
    suite.main()
