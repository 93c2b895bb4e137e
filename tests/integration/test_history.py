#!/usr/bin/python3
"""Integration: history, snapshots, resumes and pacing (docs/protocol.md 6.6, 6.7), with real
sockets against the real server, on 1 and 2 workers (a topic owned by the subscriber's worker, and
one owned by the other: the joint then crosses workers).

    /usr/bin/python3 tests/integration/test_history.py --bin build/release/tools/ringcast

positions_and_snapshot   subscribed notices give each topic's epoch and last number; a v1
                         snapshot is the last message, marked retained, and the live messages
                         follow it with no gap; a plain client with snapshot=1 gets the last
                         payload first; a topic with nothing published has position 0 and no
                         snapshot; request ids come back.
snapshot_joint_under_flood  2 workers, a publisher flat out on topics owned by each worker while
                         plain and v1 subscribers on both workers subscribe with a snapshot, again
                         and again: the first message is the snapshot (number = position), then
                         every number after it, none twice, none missing (or told missed).
resume_window            every point of the history window: inside, at its edge, beyond it (reset
                         "history"), ahead of the topic and with a wrong epoch (reset "epoch"),
                         with and without a snapshot after the reset, on the owner and across
                         workers.
resume_while_publishing  2 workers: subscribers disconnect and resume again and again while a
                         publisher goes on: across all their connections each sees every number
                         exactly once, in order.
history_caps             a topic's message and byte caps evict its oldest (counted); a message over
                         the byte cap is not kept and takes the older ones with it; history keeps
                         a topic alive without subscribers, with its epoch.
history_gives_way        a small pool: history fills its share, a subscriber that never reads pins
                         the rest; history gives buffers back first, delivery goes on.
pacing                   interval_ms: a client gets at most one message per topic per interval, the
                         last one published, and (v1) every other number told missed; plain
                         clients too; the interval set by a subscribe command.
"""

import json
import struct
import threading
import time

from rcbase import Fail, check, expect_eq, t, scaled, wait_until
from rcws import RawWS, OP_TEXT, OP_BINARY
from rcv1 import v1_publish, v1_parse, v1_retained
from rcsuite import Suite

suite = Suite("history")

V1 = ["ringcast.v1"]


def start(ctx, workers, *flags):
    return ctx.server("--workers", str(workers), "--log-level", "debug", "--recv-buffers", "256",
                      "--pool-buffers", "512", *flags)


class V1Client:
    """A ringcast.v1 connection that sorts what it receives: notices (parsed JSON) and MESSAGEs
    (topic, seq, retained, payload), in arrival order."""

    def __init__(self, srv, query=""):
        self.ws = RawWS.connect(srv.port, "/ws" + query, protocols=V1)
        self.events = []

    def send(self, obj):
        self.ws.send_text(json.dumps(obj))

    def next(self, timeout=5.0, what="a message"):
        m = self.ws.recv_message(t(timeout))
        if m is None:
            raise Fail("%s: nothing within %.1fs" % (what, t(timeout)))
        op, body = m
        if op == OP_TEXT:
            ev = ("notice", json.loads(body))
        elif op == OP_BINARY:
            topic, seq, _, payload = v1_parse(body)
            ev = ("msg", topic, seq, v1_retained(body), payload)
        else:
            raise Fail("%s: opcode %d (%r)" % (what, op, body[:60]))
        self.events.append(ev)
        return ev

    def notice(self, kind, timeout=5.0):
        ev = self.next(timeout, "a %s notice" % kind)
        if ev[0] != "notice" or ev[1]["type"] != kind:
            raise Fail("expected a %s notice, got %r" % (kind, ev))
        return ev[1]

    def close(self):
        self.ws.close()


def publisher(srv):
    return RawWS.connect(srv.port, "/ws", protocols=V1)


def publish(pub, topic, payloads):
    pub.send_raw(b"".join(
        __import__("rcws").encode_frame(OP_BINARY, v1_publish(topic, p, text=True))
        for p in payloads))


def topics_by_owner(srv, workers, prefix):
    """One topic name owned by each worker: {worker: topic}. Owners come from the debug log line
    a topic's first numbering writes, so each candidate is published on once."""
    pub = publisher(srv)
    found, i = {}, 0
    while len(found) < workers:
        name = "%s.%d" % (prefix, i)
        publish(pub, name, [b"probe:1"])
        found.setdefault(srv.owner_of(name), name)
        i += 1
        check(i < 64, "no topic owned by every worker among 64 names")
    pub.close()
    return found


def payload_seq(p: bytes) -> int:
    return int(p.split(b":")[1])


@suite.case(timeout=120)
def positions_and_snapshot(ctx):
    for W in (1, 2):
        srv = start(ctx, W)
        owned = topics_by_owner(srv, W, "snap")  # each has message 1 ("probe:1")
        pub = publisher(srv)
        for w, topic in owned.items():
            publish(pub, topic, [b"v:%d" % k for k in range(2, 11)])  # messages 2..10
        time.sleep(0.2)
        for w, topic in owned.items():
            what = "%d workers, topic owned by worker %d" % (W, w)
            c = V1Client(srv)
            c.send({"op": "subscribe", "topics": [topic, "snap.none." + topic], "snapshot": True,
                    "id": "s1"})
            n = c.notice("subscribed")
            expect_eq(n["id"], "s1", what + ": request id")
            expect_eq(n["topics"], [topic, "snap.none." + topic], what + ": topics")
            expect_eq(n["positions"][0]["seq"], 10, what + ": position")
            check(len(n["positions"][0]["epoch"]) == 16, what + ": an epoch of 16 hex digits")
            expect_eq(n["positions"][1]["seq"], 0, what + ": a topic never published")
            ev = c.next(what=what + ": the snapshot")
            expect_eq(ev[:4], ("msg", topic, 10, True), what + ": the snapshot")
            expect_eq(ev[4], b"v:10", what + ": snapshot payload")
            publish(pub, topic, [b"v:11"])
            ev = c.next(what=what + ": the next live message")
            expect_eq(ev[:4], ("msg", topic, 11, False), what + ": live after the snapshot")
            # plain client: the last payload first
            p = RawWS.connect(srv.port, "/ws?topics=%s&snapshot=1" % topic)
            m = p.recv_message(t(5))
            check(m is not None, what + ": plain snapshot")
            expect_eq(m, (OP_TEXT, b"v:11"), what + ": plain snapshot")
            # a second subscriber without a snapshot: position only
            d = V1Client(srv, "?topics=" + topic)
            n = d.notice("subscribed")
            expect_eq(n["positions"][0], c.events[0][1]["positions"][0] | {"seq": 11},
                      what + ": same epoch, later number")
            publish(pub, topic, [b"v:12"])
            expect_eq(d.next(what=what)[:4], ("msg", topic, 12, False), what + ": live only")
            expect_eq(p.recv_message(t(5)), (OP_TEXT, b"v:12"), what + ": plain live")
            for x in (c, d):
                x.close()
            p.close()
        m = srv.metrics()
        check(m.total("ringcast_retained_sent_total") >= 2 * W, "retained_sent_total counted")
        pub.close()
        srv.stop()


@suite.case(timeout=180)
def snapshot_joint_under_flood(ctx):
    W = 2
    srv = start(ctx, W)
    owned = topics_by_owner(srv, W, "flood")
    stop = threading.Event()
    sent = {topic: 1 for topic in owned.values()}  # the probe was number 1

    def flood():
        pub = publisher(srv)
        k = 0
        while not stop.is_set():
            for topic in owned.values():
                publish(pub, topic, [b"f:%d" % (sent[topic] + 1 + j) for j in range(20)])
                sent[topic] += 20
            k += 1
            time.sleep(0.001)
        pub.close()

    th = threading.Thread(target=flood)
    th.start()
    try:
        rounds = scaled(40, 10)
        for r in range(rounds):
            for w, topic in owned.items():
                what = "round %d, topic owned by worker %d" % (r, w)
                c = V1Client(srv)
                c.send({"op": "subscribe", "topics": [topic], "snapshot": True})
                n = c.notice("subscribed")
                at = n["positions"][0]["seq"]
                ev = c.next(what=what + ": snapshot")
                expect_eq(ev[:4], ("msg", topic, at, True), what + ": the snapshot is the joint")
                expect_eq(payload_seq(ev[4]), at, what + ": snapshot payload")
                nxt = at + 1
                for _ in range(100):
                    ev = c.next(what=what + ": live")
                    if ev[0] == "notice":
                        check(ev[1]["type"] == "missed", what + ": %r" % (ev,))
                        nxt += ev[1]["count"]
                        continue
                    expect_eq((ev[2], ev[3]), (nxt, False), what + ": live numbers after joint")
                    expect_eq(payload_seq(ev[4]), nxt, what + ": payload")
                    nxt += 1
                c.close()
                p = RawWS.connect(srv.port, "/ws?snapshot=1&topics=" + topic)
                first = payload_seq(p.recv_message(t(5))[1])
                for k in range(1, 100):
                    m = p.recv_message(t(5))
                    check(m is not None, what + ": plain live")
                    expect_eq(payload_seq(m[1]), first + k, what + ": plain, no gap, no repeat")
                p.close()
    finally:
        stop.set()
        th.join()
    m = srv.metrics()
    check(m.total("ringcast_subscribe_joins_waited_total") > 0, "joins crossed workers")
    srv.stop()


def resume_case(ctx, srv, c, topic, epoch, seq, snapshot, want, what):
    """Subscribe c to topic resuming from (epoch, seq); want: ("ok", first) or
    ("reset", reason, first, snapshot)."""
    cmd = {"op": "subscribe", "resume": [{"topic": topic, "epoch": epoch, "seq": seq}]}
    if snapshot:
        cmd["snapshot"] = True
    c.send(cmd)
    n = c.notice("subscribed")
    last = n["positions"][0]["seq"]
    first = want[-1] if want[0] == "ok" else want[2]
    if want[0] == "reset":
        r = c.notice("reset")
        expect_eq((r["topic"], r["reason"], r["first"], r["snapshot"]),
                  (topic, want[1], want[2], want[3]), what + ": reset notice")
        expect_eq(r["epoch"], n["positions"][0]["epoch"], what + ": reset epoch")
        if not want[3]:
            return
    for s in range(first, last + 1):
        ev = c.next(what=what + ": retained %d" % s)
        expect_eq(ev[:4], ("msg", topic, s, True), what + ": retained messages")
        expect_eq(payload_seq(ev[4]), s, what + ": payload")


@suite.case(timeout=180)
def resume_window(ctx):
    for W in (1, 2):
        srv = start(ctx, W, "--history-messages", "50")
        owned = topics_by_owner(srv, W, "win")
        pub = publisher(srv)
        for topic in owned.values():
            publish(pub, topic, [b"r:%d" % k for k in range(2, 101)])  # 1..100; history 51..100
        time.sleep(0.3)
        for w, topic in owned.items():
            base = "%d workers, owner %d" % (W, w)
            c = V1Client(srv, "?topics=" + topic)
            epoch = c.notice("subscribed")["positions"][0]["epoch"]
            c.close()
            other = "%016x" % (int(epoch, 16) ^ 1)
            cases = [
                (50, False, ("ok", 51)),
                (51, False, ("ok", 52)),
                (75, False, ("ok", 76)),
                (99, False, ("ok", 100)),
                (100, False, ("ok", 101)),
                (49, False, ("reset", "history", 101, False)),
                (0, True, ("reset", "history", 100, True)),
                (101, False, ("reset", "epoch", 101, False)),
            ]
            for seq, snap, want in cases:
                c = V1Client(srv)
                resume_case(ctx, srv, c, topic, epoch, seq, snap, want,
                            "%s, resume from %d" % (base, seq))
                c.close()
            c = V1Client(srv)
            resume_case(ctx, srv, c, topic, other, 75, True, ("reset", "epoch", 100, True),
                        base + ", wrong epoch")
            publish(pub, topic, [b"r:101"])
            ev = c.next(what=base + ": live after the reset")
            expect_eq(ev[:4], ("msg", topic, 101, False), base + ": live after the snapshot")
            c.close()
        pub.close()
        srv.stop()


@suite.case(timeout=240)
def resume_while_publishing(ctx):
    W = 2
    # history deep enough for what a reconnect misses here (a few hundred), with room to spare
    srv = start(ctx, W, "--history-messages", "20000")
    owned = topics_by_owner(srv, W, "live")
    stop = threading.Event()
    count = {topic: 1 for topic in owned.values()}

    def feed():
        pub = publisher(srv)
        while not stop.is_set():
            for topic in owned.values():
                publish(pub, topic, [b"l:%d" % (count[topic] + 1 + j) for j in range(5)])
                count[topic] += 5
            time.sleep(0.01)
        pub.close()

    th = threading.Thread(target=feed)
    th.start()
    try:
        for w, topic in owned.items():
            what = "topic owned by worker %d" % w
            c = V1Client(srv, "?topics=" + topic)
            pos = c.notice("subscribed")["positions"][0]
            epoch, last = pos["epoch"], pos["seq"]
            seen = 0
            for conn in range(scaled(30, 8)):
                for _ in range(40):
                    ev = c.next(what="%s, connection %d" % (what, conn))
                    check(ev[0] == "msg", "%s: %r (nothing may be missed)" % (what, ev))
                    expect_eq(ev[2], last + 1, "%s, connection %d: next number" % (what, conn))
                    expect_eq(payload_seq(ev[4]), ev[2], what + ": payload")
                    last = ev[2]
                    seen += 1
                c.close()
                time.sleep(0.02)  # away while messages go on
                c = V1Client(srv)
                c.send({"op": "subscribe",
                        "resume": [{"topic": topic, "epoch": epoch, "seq": last}]})
                n = c.notice("subscribed")
                expect_eq(n["positions"][0]["epoch"], epoch, what + ": same numbering")
            c.close()
            ctx.note("%s: %d messages over reconnects, none missed" % (what, seen))
    finally:
        stop.set()
        th.join()
    srv.stop()


@suite.case(timeout=120)
def history_caps(ctx):
    srv = start(ctx, 1, "--history-messages", "10", "--history-topic-bytes", "1000")
    pub = publisher(srv)
    publish(pub, "caps.a", [b"c:%d" % k for k in range(1, 26)])  # 25: 15 evicted
    time.sleep(0.2)
    m = srv.metrics()
    expect_eq(m.total("ringcast_history_evicted_total"), 15, "evicted by the message cap")
    expect_eq(m.total("ringcast_history_messages"), 10, "messages kept")
    c = V1Client(srv)
    c.send({"op": "subscribe", "resume": [{"topic": "caps.a",
                                         "epoch": "0000000000000000", "seq": 0}]})
    epoch = c.notice("subscribed")["positions"][0]["epoch"]
    c.notice("reset")
    c.close()
    c = V1Client(srv)
    resume_case(ctx, srv, c, "caps.a", epoch, 15, False, ("ok", 16), "inside the message cap")
    c.close()
    # byte cap: 10 messages of 150 bytes do not fit 1000: the oldest go
    publish(pub, "caps.b", [b"c:%d:" % k + b"x" * 150 for k in range(1, 11)])
    time.sleep(0.2)
    c = V1Client(srv)
    c.send({"op": "subscribe", "resume": [{"topic": "caps.b",
                                         "epoch": "0000000000000000", "seq": 0}]})
    epoch_b = c.notice("subscribed")["positions"][0]["epoch"]
    c.close()
    c = V1Client(srv)
    resume_case(ctx, srv, c, "caps.b", epoch_b, 4, False, ("ok", 5), "byte cap: the last 6 kept")
    c.close()
    c = V1Client(srv)
    resume_case(ctx, srv, c, "caps.b", epoch_b, 3, False, ("reset", "history", 11, False),
                "byte cap: the 4th was evicted")
    c.close()
    # a message over the byte cap: not kept, and the older ones go with it (a subscriber keeps
    # the topic, and so its numbering, alive meanwhile)
    keep = V1Client(srv, "?topics=caps.b")
    keep.notice("subscribed")
    publish(pub, "caps.b", [b"c:11:" + b"y" * 2000])
    expect_eq(keep.next(what="the long message")[2], 11, "the long message is delivered")
    m = srv.metrics()
    expect_eq(m.total("ringcast_history_not_kept_total"), 1, "not kept")
    c = V1Client(srv)
    c.send({"op": "subscribe", "topics": ["caps.b"], "snapshot": True})
    expect_eq(c.notice("subscribed")["positions"][0], {"epoch": epoch_b, "seq": 11},
              "the topic lives on with its numbering")
    publish(pub, "caps.b", [b"c:12"])
    expect_eq(c.next(what="no snapshot of an older value")[:4], ("msg", "caps.b", 12, False),
              "no snapshot older than the last message")
    c.close()
    keep.close()
    # history alone keeps a topic: nobody subscribes to caps.a, its numbering goes on
    publish(pub, "caps.a", [b"c:26"])
    c = V1Client(srv, "?topics=caps.a")
    expect_eq(c.notice("subscribed")["positions"][0], {"epoch": epoch, "seq": 26},
              "a topic with history and no subscriber keeps its epoch and numbers")
    c.close()
    pub.close()
    srv.stop()


@suite.case(timeout=120)
def history_gives_way(ctx):
    """A small pool, history filling its share, then a subscriber that never reads pins the rest
    with its queue: when the pool runs low, history gives buffers back before anyone's queued
    messages are dropped (a history_relieved line), and the server goes on delivering."""
    srv = start(ctx, 1, "--pool-buffers", "64", "--recv-buffers", "64", "--history-bytes", "1M",
                "--history-messages", "100000", "--queue-bytes-max", "3M",
                "--write-timeout-ms", "60000")
    pub = publisher(srv)
    for k in range(30):
        publish(pub, "fill.%d" % k, [b"h:%d:" % j + b"x" * 300 for j in range(100)])
    wait_until(lambda: srv.metrics().total("ringcast_history_buffers") >= 12 or None, t(10),
               "history fills its megabyte")
    full = srv.metrics().total("ringcast_history_buffers")
    slow = RawWS.connect(srv.port, "/ws?topics=slow", rcvbuf=4096)
    slow.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4096)
    # 8 MB: what the socket buffers take, then a queue of 3 MB in the pool
    big = [b"s:%d:" % j + b"y" * 4000 for j in range(2000)]
    for k in range(0, len(big), 50):
        publish(pub, "slow", big[k:k + 50])
    wait_until(lambda: srv.log_events("history_relieved") or None, t(10),
               "history gives way when the pool runs low")
    left = srv.metrics().total("ringcast_history_buffers")
    check(left < full, "history buffers %d, were %d" % (left, full))
    c = V1Client(srv, "?topics=after")
    c.notice("subscribed")
    publish(pub, "after", [b"a:1"])
    expect_eq(c.next(what="live after the relief")[:3], ("msg", "after", 1), "still delivering")
    ctx.note("history %d -> %d buffers under pressure" % (full, left))
    for x in (c, slow, pub):
        x.close()
    srv.stop()


@suite.case(timeout=120)
def pacing(ctx):
    for W in (1, 2):
        srv = start(ctx, W)
        owned = topics_by_owner(srv, W, "pace")
        topics = list(owned.values())
        c = V1Client(srv, "?interval_ms=200&topics=" + ",".join(topics))
        c.notice("subscribed")
        p = RawWS.connect(srv.port, "/ws?interval_ms=200&topics=" + ",".join(topics))
        d = V1Client(srv)
        d.send({"op": "subscribe", "topics": topics, "interval_ms": 200})
        d.notice("subscribed")
        pub = publisher(srv)
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 1.0:
            for topic in topics:
                publish(pub, topic, [b"p:%d" % (n + 2)])
            n += 1
            time.sleep(0.002)
        last = n + 1
        time.sleep(0.5)
        for who in (c, d):
            got = {topic: [] for topic in topics}
            missed = {topic: 0 for topic in topics}
            while True:
                m = who.ws.recv_message(0.3)
                if m is None:
                    break
                if m[0] == OP_TEXT:
                    nt = json.loads(m[1])
                    check(nt["type"] == "missed", "%r" % nt)
                    missed[nt["topic"]] += nt["count"]
                    continue
                topic, seq, _, payload = v1_parse(m[1])
                got[topic].append(seq)
            for topic in topics:
                what = "%d workers, %s" % (W, topic)
                check(len(got[topic]) <= 12, "%s: %d messages in ~1.5 s at one per 200 ms"
                      % (what, len(got[topic])))
                expect_eq(got[topic][-1], last, what + ": the last value arrives")
                expect_eq(len(got[topic]) + missed[topic], last - 1,
                          what + ": received + missed = published since the subscribe")
        plain = []
        while True:
            m = p.recv_message(0.3)
            if m is None:
                break
            plain.append(m[1])
        check(len(plain) <= 24, "plain: %d messages" % len(plain))
        check(b"p:%d" % last in plain[-2:], "plain: the last value arrives")
        m = srv.metrics()
        check(m.get_("ringcast_messages_dropped_total", reason="conflated") > 0,
              "conflated drops counted")
        for x in (c, d):
            x.close()
        p.close()
        pub.close()
        srv.stop()


if __name__ == "__main__":
    suite.main()
