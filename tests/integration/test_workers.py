#!/usr/bin/python3
"""Integration: several workers. The server runs with --workers 2 or 4 (4 on this 2-CPU
machine is oversubscribed on purpose: workers are preempted at every point, which shakes out
races), and every case first makes sure its clients are spread over every worker: the server runs
with --log-level debug, whose conn_open lines say which worker took which client port.

    /usr/bin/python3 tests/integration/test_workers.py --bin build/release/tools/ringcast

spread_in_order          2 workers; ringcast.v1 and plain subscribers on both, one publisher:
                         every subscriber gets every message once, in order, v1 sequence numbers
                         consecutive; hand-offs counted, nothing dropped.
publisher_on_every_worker 2 and 4 workers, a publisher on each, all at once on one topic: per
                         publisher order and completeness at every subscriber, sequence numbers
                         consecutive, and the same number on the same message at every subscriber
                         on every worker.
burst_over_queue_cap     2 and 4 workers, short runs, default queue caps: bursts of 1.2 MB reach
                         every subscriber that keeps up whole; no drop, every hand-off received,
                         none found by the safety check instead of a wake-up.
slow_consumer_one_worker 2 workers; a subscriber that stops reading on one: the fast subscribers on
                         both workers still get everything; the slow one's drops are counted and,
                         once it reads again, its gaps match its missed notices.
mailbox_loss_is_told     4 workers, 64-record mailboxes, a publisher flooding: hand-offs are lost
                         (mailbox full), and every v1 subscriber can account for every message:
                         between two MESSAGEs the gap equals the missed counts in between, and
                         received + missed == numbered (a publish lost on its way to the topic's
                         owner is never numbered).
owner_holds_released     2 workers: the topic's owner keeps numbering while only the other worker
                         subscribes, and releases its hold once nobody does (topics back to 0).
follower_starts_again    2 workers: a topic kept on a worker that does not own it, with nobody
                         subscribed there for a while: its next subscriber gets the next number
                         and no missed notice for what was published meanwhile.
sigterm_drains_every_worker 4 workers: SIGTERM closes every client on every worker with 1001, each
                         worker logs drained, exit 0.
churn_every_worker       4 workers: 1,200 connect / subscribe / publish / close-or-reset cycles
                         spread over all workers; connections, subscriptions, buffers and
                         descriptors come back to the baseline.
steer_by_cpu             2 workers pinned to 2 CPUs with --steer-by-cpu: a client connecting from
                         a thread on CPU k lands on the worker of CPU k, every time.
cpu_outside_the_mask_refused  --cpus naming a CPU the process may not run on: an error line
                         (event=pin) and exit status 1, nothing left running.
"""

import json
import os
import signal
import socket
import struct
import threading
import time

from rcbase import Fail, check, expect_eq, t, scaled, wait_until
from rcws import RawWS, Peer, pump, pump_until, encode_frame, OP_TEXT, OP_BINARY
from rcv1 import v1_publish, v1_parse, notice_core
from rcsuite import Suite

suite = Suite("workers")

V1 = ["ringcast.v1"]


def start(ctx, workers, *flags):
    return ctx.server("--workers", str(workers), "--log-level", "debug", "--recv-buffers", "256",
                      "--pool-buffers", "512", *flags)


def handoffs_per_message(workers, publisher_worker, owner):
    """Hand-offs one message makes with subscribers on every worker: one to the owner if it was
    published elsewhere, then one from the owner to each other worker."""
    return (publisher_worker != owner) + workers - 1


def spread(srv, workers, per_worker, connect, what):
    """Connect clients with connect() until every worker has per_worker of them; close the rest.
    Returns {worker: [client, ...]}."""
    by = {w: [] for w in range(workers)}
    extra = []
    for _ in range(workers * per_worker * 12):
        if all(len(v) >= per_worker for v in by.values()):
            break
        c = connect()
        w = srv.worker_of((c.ws if isinstance(c, Peer) else c).sock)
        (by[w] if len(by[w]) < per_worker else extra).append(c)
    for c in extra:
        c.close()
    check(all(len(v) >= per_worker for v in by.values()),
          "%s: could not get %d on every one of %d workers (SO_REUSEPORT spread: %r)"
          % (what, per_worker, workers, {w: len(v) for w, v in by.items()}))
    return by


class V1Sub(Peer):
    """A ringcast.v1 subscriber that records MESSAGEs (seq, payload) and notices in order."""

    def __init__(self, ws, name=""):
        super().__init__(ws, name)
        self.events = []       # ("msg", seq, payload) | ("missed", count) | ("notice", dict)
        self.count = 0

    def on_message(self, op, payload):
        if op == OP_TEXT:
            n = json.loads(payload)
            if n.get("type") == "missed":
                self.events.append(("missed", n["count"]))
            else:
                self.events.append(("notice", n))
            return
        topic, seq, text, body = v1_parse(payload)
        self.events.append(("msg", seq, body))
        self.count += 1


def v1_sub(srv, topic):
    ws = RawWS.connect(srv.port, "/ws?topics=" + topic, protocols=V1)
    fr = ws.expect_frame(t(5), "subscribed notice")
    expect_eq(notice_core(json.loads(fr.payload)), {"type": "subscribed", "topics": [topic]}, "first notice")
    return V1Sub(ws)


class PlainSub(Peer):
    def __init__(self, ws, name=""):
        super().__init__(ws, name)
        self.count = 0

    def on_message(self, op, payload):
        self.messages.append((op, payload))
        self.count += 1


def plain_sub(srv, topic):
    # The 101 is sent after the subscription is in place, interest advertised to other workers.
    return PlainSub(RawWS.connect(srv.port, "/ws?topics=" + topic))


def publisher(srv):
    return RawWS.connect(srv.port, "/ws", protocols=V1)


def v1_frames(topic, k0, n):
    """n PUBLISH frames on topic, payloads b"%04d" % k for k from k0."""
    return b"".join(encode_frame(OP_BINARY, v1_publish(topic, b"%04d" % k))
                    for k in range(k0, k0 + n))


def publish_lockstep(pubs, subs, topic, n, batch, payload_of, timeout_per_batch,
                     interleave=False):
    """Each publisher sends n messages, batch at a time round-robin; after each round wait until
    every subscriber has all of them (so queues never overflow). interleave: within a round, one
    frame per publisher at a time, each its own send, so that the publishers' messages reach the
    server mixed rather than a batch after a batch."""
    sent = 0
    per = [0] * len(pubs)
    while min(per) < n:
        ks = [min(batch, n - per[i]) for i in range(len(pubs))]
        frames = [[encode_frame(OP_BINARY, v1_publish(topic, payload_of(i, per[i] + j)))
                   for j in range(ks[i])] for i in range(len(pubs))]
        if interleave:
            for j in range(max(ks)):
                for i, p in enumerate(pubs):
                    if j < ks[i]:
                        p.sock.sendall(frames[i][j])
        else:
            for i, p in enumerate(pubs):
                p.sock.sendall(b"".join(frames[i]))
        for i in range(len(pubs)):
            per[i] += ks[i]
            sent += ks[i]
        want = sent
        pump_until(subs, lambda: all(s.count >= want for s in subs), t(timeout_per_batch),
                   "every subscriber has the %d messages sent so far (lowest %d)"
                   % (want, min(s.count for s in subs)))
    return sent


def check_v1_stream(s, expected_payloads, what):
    msgs = [e for e in s.events if e[0] == "msg"]
    others = [e for e in s.events if e[0] != "msg"]
    check(not others, "%s: unexpected notices %r" % (what, others[:3]))
    expect_eq(len(msgs), len(expected_payloads), "%s: messages received" % what)
    for i, (m, want) in enumerate(zip(msgs, expected_payloads)):
        if m[2] != want:
            raise Fail("%s: message %d is %r, expected %r" % (what, i, m[2][:40], want[:40]))
        if i and m[1] != msgs[i - 1][1] + 1:
            raise Fail("%s: sequence %d follows %d (message %d): numbers must be consecutive"
                       % (what, m[1], msgs[i - 1][1], i))


@suite.case(timeout=120)
def spread_in_order(ctx):
    srv = start(ctx, 2)
    topic = "w.spread"
    v1 = spread(srv, 2, 4, lambda: v1_sub(srv, topic), "v1 subscribers")
    plain = spread(srv, 2, 2, lambda: plain_sub(srv, topic), "plain subscribers")
    subs = [s for v in v1.values() for s in v] + [s for v in plain.values() for s in v]
    pub = publisher(srv)
    pw = srv.worker_of(pub.sock)
    m0 = srv.metrics()
    N = scaled(20000, 2000)
    payload = lambda i, k: b"%08d" % k
    publish_lockstep([pub], subs, topic, N, 400, payload, 20)
    want = [b"%08d" % k for k in range(N)]
    for w, ss in v1.items():
        for i, s in enumerate(ss):
            check_v1_stream(s, want, "v1 subscriber %d on worker %d (publisher on %d)" % (i, w, pw))
    for w, ss in plain.items():
        for i, s in enumerate(ss):
            got = [p for op, p in s.messages]
            check(got == want, "plain subscriber %d on worker %d: %d messages, first difference "
                  "at %r" % (i, w, len(got),
                             next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), None)))
            check(all(op == OP_BINARY for op, _ in s.messages), "plain: opcode")
    m = srv.metrics()
    sent = m.get_("ringcast_handoffs_total", result="sent") - \
        m0.get_("ringcast_handoffs_total", result="sent")
    owner = srv.owner_of(topic)
    expect_eq(sent, N * handoffs_per_message(2, pw, owner),
              "hand-offs sent (publisher on worker %d, owner %d)" % (pw, owner))
    wait_until(lambda: srv.metrics().get_("ringcast_handoffs_received_total") -
               m0.get_("ringcast_handoffs_received_total") == sent or None, t(5),
               "hand-offs received == sent")
    expect_eq(m.total("ringcast_messages_dropped_total"), 0, "messages dropped")
    # The receiving worker sleeps between batches: each batch must reach it by a MSG_RING
    # wake-up, not by its 100 ms safety check (which would hide a broken wake-up, at 100 ms a
    # batch). A hand-off is announced right after its push, so the check finds nothing.
    late = m.get_("ringcast_handoffs_found_by_check_total")
    check(m.get_("ringcast_wakeups_sent_total") > 0 and late == 0,
          "wake-ups: %d MSG_RING sent, %d batches found only by the 100 ms check"
          % (m.get_("ringcast_wakeups_sent_total"), late))
    ctx.note("publisher on worker %d, owner %d; %d hand-offs, %d wake-ups, %d found by check" % (
        pw, owner, sent, m.get_("ringcast_wakeups_sent_total"), late))


@suite.case(timeout=300)
def burst_over_queue_cap(ctx):
    """Many short server runs with 2 and 4 workers and the default queue caps (1 MiB): a publisher
    on one worker sends bursts of 300 x 4 KiB (1.2 MB, more than a queue holds) after a pause in
    which the other workers fall asleep. Every subscriber reads as fast as it can and must get
    every message: a worker takes in at most half a queue before it flushes. Nothing dropped,
    every hand-off sent is received, and none is found by the 100 ms safety check instead of a
    wake-up."""
    BURST, SIZE, ROUNDS = 300, 4096, 3
    topic = "w.burst"
    for workers in (2, 4):
        for run in range(4):                 # short runs: every start-up is a new interleaving
            srv = start(ctx, workers)
            by = spread(srv, workers, 2, lambda: plain_sub(srv, topic), "subscribers")
            subs = [c for v in by.values() for c in v]
            pub = publisher(srv)
            pw = srv.worker_of(pub.sock)
            what = "%d workers, run %d (publisher on worker %d)" % (workers, run, pw)
            for r in range(ROUNDS):
                time.sleep(0.3)      # the other workers go to sleep
                frames = b"".join(encode_frame(OP_BINARY, v1_publish(
                    topic, (b"%04d%05d" % (r, i)).ljust(SIZE, b"."))) for i in range(BURST))
                pub.sock.sendall(frames)
                want = (r + 1) * BURST
                try:
                    pump_until(subs, lambda: all(c.count >= want for c in subs), t(20),
                               "%s: every subscriber has the %d messages of %d bursts"
                               % (what, want, r + 1))
                except Fail as e:
                    m = srv.metrics()
                    raise Fail("%s (lowest %d; dropped %r)" % (e, min(c.count for c in subs),
                                                             m.family("ringcast_messages_dropped_total")))
            for w, cs in by.items():
                for c in cs:
                    got = [p[:9] for op, p in c.messages]
                    expect_eq(got, [b"%04d%05d" % (r, i) for r in range(ROUNDS)
                                    for i in range(BURST)],
                              "%s: the messages of a subscriber on worker %d, in order" % (what, w))
            m = srv.metrics()
            expect_eq(m.total("ringcast_messages_dropped_total"), 0, "%s: dropped" % what)
            sent = m.get_("ringcast_handoffs_total", result="sent")
            owner = srv.owner_of(topic)
            expect_eq(sent, ROUNDS * BURST * handoffs_per_message(workers, pw, owner),
                      "%s: hand-offs sent (owner %d)" % (what, owner))
            wait_until(lambda: srv.metrics().get_("ringcast_handoffs_received_total") == sent
                       or None, t(5), "%s: hand-offs received == sent" % what)
            expect_eq(m.get_("ringcast_handoffs_found_by_check_total"), 0,
                      "%s: hand-offs found by the 100 ms safety check, not by a wake-up" % what)
            for c in subs + [pub]:
                c.close()
            srv.stop()


@suite.case(timeout=240)
def publisher_on_every_worker(ctx):
    """2 and 4 workers, a publisher on each, all at once on one topic: every subscriber gets every
    message, per publisher in order, numbered consecutively, and every subscriber on every worker
    sees the same number on the same message (one numbering per topic for the whole server)."""
    for W in (2, 4):
        srv = start(ctx, W)
        topic = "w.every"
        subs_by = spread(srv, W, 2, lambda: v1_sub(srv, topic), "v1 subscribers")
        subs = [s for v in subs_by.values() for s in v]
        pubs_by = spread(srv, W, 1, lambda: publisher(srv), "publishers")
        pubs = [pubs_by[w][0] for w in range(W)]
        M = scaled(3000, 500)
        payload = lambda i, k: b"p%d:%08d" % (i, k)
        total = publish_lockstep(pubs, subs, topic, M, 100, payload, 30, interleave=True)
        expect_eq(total, W * M, "messages published")
        first = None
        for w, ss in subs_by.items():
            for j, s in enumerate(ss):
                what = "%d workers: subscriber %d on worker %d" % (W, j, w)
                msgs = [e for e in s.events if e[0] == "msg"]
                expect_eq(len(msgs), W * M, what + ": messages")
                nxt = [0] * W
                for k, (_, seq, body) in enumerate(msgs):
                    p, _, c = body.partition(b":")
                    i = int(p[1:])
                    if int(c) != nxt[i]:
                        raise Fail("%s: from publisher %d got %d, expected %d (per-publisher "
                                   "order)" % (what, i, int(c), nxt[i]))
                    nxt[i] += 1
                    if k and seq != msgs[k - 1][1] + 1:
                        raise Fail("%s: sequence %d after %d" % (what, seq, msgs[k - 1][1]))
                numbering = [(seq, body) for _, seq, body in msgs]
                if first is None:
                    first = (what, numbering)
                    expect_eq(numbering[0][0], 1, what + ": the first number")
                elif numbering != first[1]:
                    k = next(k for k, (a, b) in enumerate(zip(numbering, first[1])) if a != b)
                    raise Fail("%s numbers message %d as %r, %s as %r: one numbering per topic"
                               % (what, k, numbering[k], first[0], first[1][k]))
        m = srv.metrics()
        expect_eq(m.total("ringcast_messages_dropped_total"), 0, "messages dropped")
        owner = srv.owner_of(topic)
        expect_eq(m.get_("ringcast_handoffs_total", result="sent"),
                  sum(M * handoffs_per_message(W, w, owner) for w in range(W)),
                  "%d workers: hand-offs: every message to its owner (%d) unless published there, "
                  "then from the owner to the other workers" % (W, owner))
        ctx.note("%d workers: topic owned by worker %d" % (W, owner))
        for c in subs + pubs:
            c.close()
        srv.stop()


@suite.case(timeout=150)
def slow_consumer_one_worker(ctx):
    srv = start(ctx, 2, "--queue-msgs-max", "64", "--write-timeout-ms", "60000")
    topic = "w.slow"
    fast_by = spread(srv, 2, 3, lambda: v1_sub(srv, topic), "fast subscribers")
    fast = [s for v in fast_by.values() for s in v]
    ws = RawWS.connect(srv.port, "/ws?topics=" + topic, protocols=V1, rcvbuf=4096)
    ws.expect_frame(t(5), "slow subscriber's subscribed notice")
    slow_w = srv.worker_of(ws.sock)
    slow = V1Sub(ws, "slow")
    pub = publisher(srv)
    # More than the kernel buffers between the server and the slow subscriber (~4 MB of send
    # buffer) even when SLOW shrinks N, so its queue must overflow.
    N = scaled(4000, 2000)
    body = lambda i, k: b"%08d" % k + b"x" * 4088
    publish_lockstep([pub], fast, topic, N, 32, body, 30)  # 32 < queue-msgs-max: fast ones never drop
    want = [body(0, k) for k in range(N)]
    for w, ss in fast_by.items():
        for j, s in enumerate(ss):
            check_v1_stream(s, want, "fast subscriber %d on worker %d (slow one on %d)"
                            % (j, w, slow_w))
    m = srv.metrics()
    dropped = m.get_("ringcast_messages_dropped_total", reason="queue_full_oldest")
    check(0 < dropped <= N, "queue_full_oldest drops: expected 1..%d (the slow one's), got %r"
          % (N, dropped))
    # The slow subscriber reads now: every number is either received or in a missed notice.
    pump_until([slow], lambda: sum(1 for e in slow.events if e[0] == "msg") and
               slow.events[-1][0] == "msg" and slow.events[-1][2] == want[-1], t(20),
               "the slow subscriber catches up to the last message")
    account(slow, N, "slow subscriber on worker %d" % slow_w, exact_total=True)


def account(s, published, what, exact_total):
    """Drop-oldest accounting (docs/protocol.md 6.5): the gap between consecutive MESSAGEs equals
    the missed counts received between them; received + missed == published."""
    last = None
    missed_since = 0
    missed_all = 0
    received = 0
    for e in s.events:
        if e[0] == "missed":
            missed_since += e[1]
            missed_all += e[1]
        elif e[0] == "notice":
            raise Fail("%s: unexpected notice %r" % (what, e[1]))
        else:
            seq = e[1]
            if last is not None and seq - last - 1 != missed_since:
                raise Fail("%s: sequence %d after %d, but missed notices in between say %d"
                           % (what, seq, last, missed_since))
            last = seq
            missed_since = 0
            received += 1
    if exact_total:
        expect_eq(received + missed_all, published, "%s: received (%d) + missed (%d)"
                  % (what, received, missed_all))
    return received, missed_all


@suite.case(timeout=150)
def mailbox_loss_is_told(ctx):
    W = 4
    srv = start(ctx, W, "--mailbox-records", "64", "--queue-msgs-max", "8192",
                "--queue-bytes-max", "16M")
    topic = "w.flood"
    subs_by = spread(srv, W, 2, lambda: v1_sub(srv, topic), "v1 subscribers")
    subs = [s for v in subs_by.values() for s in v]
    pub = publisher(srv)
    pw = srv.worker_of(pub.sock)
    N = scaled(40000, 8000)
    frames = b"".join(encode_frame(OP_BINARY, v1_publish(topic, b"%08d" % k)) for k in range(N))
    pub.sock.sendall(frames)                      # as fast as the socket takes it: a flood

    last = [None]

    def quiet():
        # done when the last message or the notices accounting for it have arrived everywhere
        n = sum(s.count for s in subs)
        if last[0] == n:
            return True
        last[0] = n
        return False
    deadline = time.monotonic() + t(60)
    while not quiet():
        check(time.monotonic() < deadline, "subscribers still receiving after %.0fs" % t(60))
        end = time.monotonic() + t(1)
        while time.monotonic() < end:
            pump(subs, 0.05)
    m = srv.metrics()
    lost = m.get_("ringcast_handoffs_total", result="mailbox_full") + \
        m.get_("ringcast_handoffs_total", result="no_memory")
    # A publish lost on its way from the publisher's worker to the topic's owner is never
    # numbered; what was numbered is 1..the highest number, which every subscriber on the owner
    # receives (its queue drops the oldest, never the newest).
    owner = srv.owner_of(topic)
    numbered = max(e[1] for s in subs for e in s.events if e[0] == "msg")
    if pw == owner:
        expect_eq(numbered, N, "messages numbered (published on their owner's worker)")
    check(0 < numbered <= N, "numbered %d of %d published" % (numbered, N))
    totals = []
    for w, ss in subs_by.items():
        for j, s in enumerate(ss):
            totals.append(account(s, numbered, "subscriber %d on worker %d (publisher on %d, "
                                  "owner %d)" % (j, w, pw, owner), exact_total=True))
    ctx.note("publisher on worker %d, owner %d, %d of %d numbered; %d hand-offs lost to full "
             "mailboxes, %d told as handoff_lost drops; per subscriber (received, missed): %r"
             % (pw, owner, numbered, N, lost, m.get_("ringcast_messages_dropped_total",
                                                     reason="handoff_lost"), totals))
    if lost == 0:
        ctx.note("no mailbox overflowed in this run: only queue drops were accounted")


@suite.case(timeout=90)
def owner_holds_released(ctx):
    """The owner of a topic holds it while another worker subscribes (its numbering goes on with
    nobody subscribed on the owner): the numbers stay consecutive across a gap in the owner's own
    subscribers, and once everyone has left the sweep releases the hold, so the server's topics
    come back to 0 (a small --topics-max: the sweep covers it in one run; no history, which would
    keep the topic for its last messages: test_history covers that)."""
    W = 2
    srv = start(ctx, W, "--topics-max", "1024", "--history-messages", "0")
    topic = "w.hold"
    by = spread(srv, W, 1, lambda: v1_sub(srv, topic), "v1 subscribers")
    pub = publisher(srv)
    pub.sock.sendall(v1_frames(topic, 0, 10))
    subs = [s for v in by.values() for s in v]
    pump_until(subs, lambda: all(s.count >= 10 for s in subs), t(10), "the first 10 messages")
    owner = srv.owner_of(topic)
    other = 1 - owner
    # the owner's own subscriber leaves: the other worker's keeps the numbering alive
    by[owner][0].close()
    wait_until(lambda: srv.metrics().get_("ringcast_subscriptions") == 1 or None, t(5),
               "one subscription left (on worker %d)" % other)
    pub.sock.sendall(v1_frames(topic, 10, 10))
    keep = by[other][0]
    pump_until([keep], lambda: keep.count >= 20, t(10), "20 messages on worker %d" % other)
    seqs = [e[1] for e in keep.events if e[0] == "msg"]
    expect_eq(seqs, list(range(1, 21)), "numbers across the owner's empty spell")
    keep.close()
    pub.close()
    wait_until(lambda: srv.metrics().get_("ringcast_topics") == 0 or None, t(5),
               "topics back to 0: the owner's hold released by the sweep (topics now %r)"
               % srv.metrics().get_("ringcast_topics"))


@suite.case(timeout=90)
def follower_starts_again(ctx):
    """A topic kept alive on a worker that does not own it (a plain publisher's pin) sees nothing
    while nobody there subscribes; its next subscriber must not be told it missed what was
    published meanwhile: it starts with the next number, with no missed notice."""
    W = 2
    srv = start(ctx, W)
    topic = "w.follow"
    pins = spread(srv, W, 1, lambda: RawWS.connect(srv.port, "/ws?publish=" + topic),
                  "plain publishers (pins)")
    first = spread(srv, W, 1, lambda: v1_sub(srv, topic), "v1 subscribers")
    pub = publisher(srv)
    pub.sock.sendall(v1_frames(topic, 0, 10))
    subs = [s for v in first.values() for s in v]
    pump_until(subs, lambda: all(s.count >= 10 for s in subs), t(10), "the first 10 messages")
    other = 1 - srv.owner_of(topic)
    for s in subs:
        s.close()
    wait_until(lambda: srv.metrics().get_("ringcast_subscriptions") == 0 or None, t(5),
               "no subscription left")
    pub.sock.sendall(v1_frames(topic, 10, 10))                 # numbered 11..20, sent nowhere
    later = spread(srv, W, 1, lambda: v1_sub(srv, topic), "later subscribers")
    late = later[other][0]
    pub.sock.sendall(v1_frames(topic, 20, 1))
    pump_until([late], lambda: late.count >= 1, t(10), "the next message on worker %d" % other)
    pump([late], 0.3)                                # anything more would show up now
    expect_eq(late.events, [("msg", 21, b"0020")],
              "the later subscriber on worker %d (not the owner): the next message, no missed "
              "notice for what it never subscribed to" % other)
    for c in [pub] + [c for v in pins.values() for c in v] + [c for v in later.values() for c in v]:
        c.close()


@suite.case(timeout=90)
def sigterm_drains_every_worker(ctx):
    W = 4
    srv = start(ctx, W)
    by = spread(srv, W, 2, lambda: v1_sub(srv, "w.drain"), "subscribers")
    subs = [s for v in by.values() for s in v]
    for s in subs:
        s.answer_close = True
    result = {}

    def stop():                                  # SIGTERM, then exit 0 with a clean log
        try:
            srv.stop(signal.SIGTERM)
        except Fail as e:
            result["fail"] = e
    th = threading.Thread(target=stop)
    th.start()
    try:
        pump_until(subs, lambda: all(s.close_frame is not None for s in subs), t(10),
                   "a close frame at every subscriber")
    finally:
        th.join()
    if "fail" in result:
        raise result["fail"]
    for s in subs:
        expect_eq(s.close_frame.close_code, 1001, "close code")
    drained = srv.log_events("drained")
    expect_eq(len(drained), W, "event=drained lines (one per worker)")


def snapshot(srv):
    m = srv.metrics()
    return {"connections": m.get_("ringcast_connections"),
            "subscriptions": m.get_("ringcast_subscriptions"),
            "topics": m.get_("ringcast_topics"),
            "queued_bytes": m.get_("ringcast_queued_bytes"),
            "free": m.get_("ringcast_buffers", state="free"),
            "pool": m.get_("ringcast_buffers", state="pool"),
            "recv_held": m.get_("ringcast_buffers", state="recv_held")}


def churn(srv, cycles, pub_every=3):
    topics = ["c.a", "c.b", "c.c"]
    for i in range(cycles):
        path = "/ws?topics=%s,%s" % (topics[i % 3], topics[(i + 1) % 3])
        ws = RawWS.connect(srv.port, path, protocols=V1)
        if i % pub_every == 0:
            # on the topic of the subscribers that stay (on every worker): i is a multiple of 3
            # here, so topics[(i + 2) % 3] was always "c.c", which only the churning connections
            # hold, and a hand-off happened only when one of them on another worker was still
            # open: "hand-offs during the churn" failed in about half the runs, old server too
            ws.send_binary(v1_publish("c.a", b"m%d" % i))
        if i % 2:
            ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.sock.close()                       # reset
        else:
            ws.send_close(1000)
            ws.close()


@suite.case(timeout=180)
def churn_every_worker(ctx):
    W = 4
    srv = start(ctx, W, "--log-level", "info")
    # Subscribers that stay, one per worker at least, so that hand-offs happen during the churn.
    stay = [v1_sub(srv, "c.a") for _ in range(4 * W)]
    churn(srv, 200)                                # warm-up: arenas and chunks in use once

    def settled():
        s = snapshot(srv)
        return s if s["connections"] <= len(stay) + 1 and s["queued_bytes"] == 0 else None
    wait_until(settled, t(10), "idle after the warm-up")
    time.sleep(0.5)
    base = snapshot(srv)
    fds0 = srv.fd_count()
    m0 = srv.metrics()
    churn(srv, scaled(1200, 300))
    m1 = srv.metrics()
    check(m1.get_("ringcast_handoffs_total", result="sent") >
          m0.get_("ringcast_handoffs_total", result="sent"), "hand-offs during the churn")

    def back():
        s = snapshot(srv)
        return s if all(s[k] == base[k] for k in base) else None
    try:
        wait_until(back, t(10), "gauges back to the baseline")
    except Fail:
        s = snapshot(srv)
        raise Fail("after the churn the gauges differ from the baseline: %r"
                   % {k: (base[k], s[k]) for k in base if s[k] != base[k]})
    wait_until(lambda: srv.fd_count() == fds0 or None, t(5), "descriptors back to %d" % fds0)
    for s in stay:
        s.close()


@suite.case(timeout=60)
def steer_by_cpu(ctx):
    cpus = sorted(os.sched_getaffinity(0))[:2]
    if len(cpus) < 2:
        ctx.note("one CPU only: nothing to steer between (not tested)")
        return
    srv = start(ctx, 2, "--cpus", "%d,%d" % tuple(cpus), "--steer-by-cpu", "true")
    check("steer_by_cpu=1" in srv.log_events("listening")[0], "listening line says steer_by_cpu=1")
    mask = os.sched_getaffinity(0)
    clients = []
    try:
        for rnd in range(2):
            for i, cpu in enumerate(cpus):
                # On loopback the CPU that processes the SYN is the connecting thread's.
                os.sched_setaffinity(0, {cpu})
                for _ in range(4):
                    c = RawWS.connect(srv.port, "/ws?topics=steer")
                    clients.append((c, i, cpu))
    finally:
        os.sched_setaffinity(0, mask)
    for c, want, cpu in clients:
        expect_eq(srv.worker_of(c.sock), want, "worker of a client connected from CPU %d" % cpu)
    for c, _, _ in clients:
        c.close()


@suite.case(timeout=30)
def cpu_outside_the_mask_refused(ctx):
    bad = max(os.sched_getaffinity(0)) + 1
    srv = ctx.server("--workers", "2", "--cpus", "%d,%d" % (min(os.sched_getaffinity(0)), bad),
                     start=False)
    try:
        srv.start()
    except Fail:
        pass                                     # it may exit before or after event=listening
    rc = srv.proc.wait(timeout=t(10))
    srv.exit_status = rc
    srv._log.close()
    expect_eq(rc, 1, "exit status with a worker pinned to CPU %d (not in the mask)" % bad)
    pins = srv.log_events("pin")
    check(pins and "level=error" in pins[0] and "cpu=%d" % bad in pins[0],
          "an error line event=pin naming cpu=%d, got %r" % (bad, pins))


if __name__ == "__main__":
    suite.main()
