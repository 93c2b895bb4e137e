#!/usr/bin/python3
"""Integration: large messages, longer than one pool buffer (docs/operations.md "Large messages").
A message that does not fit one 64 KiB buffer with its 256 bytes of header room is assembled in a
chain of pool buffers, framed once, sent to every subscriber by reference a buffer at a time, and
handed to other workers as a chained copy; large-bytes-max caps what large messages hold per
worker.

    /usr/bin/python3 tests/integration/test_large.py --bin build/release/tools/ringcast

Every payload is a deterministic pattern that names its own offsets (16-byte blocks carrying the
message's seed and the block's offset), so a buffer lost, repeated or swapped inside a chain shows
up; text payloads are valid UTF-8 with multi-byte characters placed across the 64 KiB boundaries
of each layout the server builds (assembly, envelope, plain copy). Every subscriber's messages are
compared with what was sent by length and SHA-256, in order. Unless a case is about workers, the
server runs one worker, so that every connection shares one pool and what is held is exact.

plain_sizes          a plain publisher, three plain subscribers: 65,280 bytes (fits a buffer),
                     65,281 (the first chained), 200 KiB, 1 MiB (the default limit), text and
                     binary, one frame each: each received whole and identical; once every client
                     has gone, buffers and large_message_bytes are back to idle.
chain_boundary       where a chain begins, exactly: a message assembled fragment by fragment, a
                     ping after each (its pong says the fragment was taken): large_message_bytes
                     is 0 up to 65,280 bytes, 2 buffers from 65,281, 3 from 65,280 + 65,537.
fragmented_chopped   the same subscribers; large messages sent fragmented (continuation frames of
                     1, 1,000, 65,535, 70,000... bytes; a ping between fragments), written to the
                     socket in odd chops (1, 7, 1,000, 4,093, 65,535, 70,001 bytes: headers split
                     too), or both; small messages right before and after each: everything in
                     order, byte for byte.
v1_envelope_publish  a ringcast.v1 subscriber of a plain publisher's large messages gets the
                     MESSAGE envelope (topic, consecutive sequence numbers, text flag from the
                     opcode) with the whole payload; a v1 publisher's PUBLISH of exactly 1 MiB
                     (text flag, UTF-8 whose characters straddle the buffers of the assembly and
                     of the plain copy) and a binary one reach plain subscribers (TEXT / BINARY,
                     bare payload) and v1 ones (the same bytes, sequence number written in). A
                     text PUBLISH whose last bytes are not UTF-8 (a truncated character; a stray
                     continuation byte alone in the chain's last buffer) gets the error notice
                     bad_publish (the connection stays open), and nothing of it reaches anyone.
over_the_max         1 MiB + 1 byte as one frame, as fragments of 1 MiB and 1, as fragments of
                     65,535, as a v1 PUBLISH: each closed with 1009; a 1 MiB TEXT message whose
                     last byte breaks UTF-8: 1007; a publisher connected all along then sends
                     exactly 1 MiB and both subscribers (plain, v1) get it, and nothing else.
cap_assembly_held    --large-bytes-max 2M (32 buffers; a 1 MiB message takes 17): a publisher
                     stops one byte short of a 1 MiB message, its assembly holds 17 buffers
                     (large_message_bytes says so); a second publisher's 1 MiB message is closed
                     with 1009 "large messages would go over large-bytes-max", counted as
                     closed_total{too_big} and in large_message_refusals_total; the first one's
                     message then completes and is delivered, the memory comes back to 0 and 1 MiB
                     messages work again.
cap_queue_held       the same cap, the memory held by the queues of two subscribers that never
                     read (4 KiB receive buffers): 1 MiB messages, one at a time, reach a reading
                     subscriber until one stays queued at the non-readers; the next is refused
                     with 1009, and only while large_message_bytes showed more than 15 buffers
                     held. The non-readers leave, the memory goes back to 0, and a new publisher's
                     1 MiB message is delivered.
slow_drop_oldest     1 MiB messages, --queue-bytes-max 2304K (the frame being sent, a buffer at a
                     time, and one more), drop-oldest, three rounds of: publish until a subscriber
                     that stopped reading has lost some, then let it read to the newest. It keeps
                     an increasing, intact subsequence with the newest of each round; its losses
                     are all counted, as queue_full_oldest; a reading subscriber gets everything.
                     Once every client has gone, buffers{pool}, buffers{chain},
                     large_message_bytes and queued_bytes are back to their idle values.
slow_drop_oldest_v1  the same with a ringcast.v1 non-reader: its stream parses, every gap in its
                     sequence numbers equals the missed counts told in it, MESSAGEs intact,
                     received + missed = published.
slow_disconnect      the same with --slow-policy disconnect: the non-reader is closed with 4000
                     after whole frames, or cut (the frame being sent stops, nothing follows) and
                     what it received is an intact prefix; the reader gets everything; memory
                     back to idle.
ping_while_large_sent  a subscriber that reads slowly and pings while six 1 MiB frames are sent to
                     it: its stream parses, pongs only between frames, the last ping answered,
                     every message intact.
two_workers          --workers 2: plain and v1 subscribers on both workers, a plain and a v1
                     publisher: large messages (65,281 B to 1 MiB, text and binary) reach every
                     subscriber intact through the hand-off path (handoffs_total{sent} counts
                     them), nothing dropped, memory back to idle.
startup_16m          --message-max-bytes 16M alone starts (a queue, 4 MiB by default, always
                     takes one message whatever its length): a 16 MiB message comes back whole
                     through /echo and reaches a plain subscriber, nothing dropped, memory back to
                     idle; --message-max-bytes 16M --large-bytes-max 8M: refused, the
                     large-bytes-max line; non-zero exit, one line saying what to raise.
"""

import functools
import hashlib
import itertools
import json
import select
import struct
import subprocess
import time

from rcbase import Fail, check, expect_eq, t, wait_until
from rcws import (RawWS, Peer, ProtocolViolation, parse_frame, pump_until, encode_frame, OP_CONT,
                  OP_TEXT, OP_BINARY, OP_PING, OP_PONG)
from rcv1 import v1_publish, v1_parse, notice_core
from rcsuite import Suite

suite = Suite("large")

KIB, MIB = 1024, 1024 * 1024
BUF = 65536                    # --buffer-size-bytes, the default
ROOM = 256                     # header room before a message in its first buffer
FITS = BUF - ROOM              # 65,280: the longest message one buffer holds
V1 = ["ringcast.v1"]
FRAME_HDR_BIG = 10             # server frame header of a payload over 65,535 bytes
CHAIN_1MIB = -(-(MIB + ROOM) // BUF)     # 17 buffers for a 1 MiB message


# ------------------------------------------------------------------------------------------------
# payloads

@functools.lru_cache(maxsize=64)
def binary_payload(n: int, seed: int) -> bytes:
    """n bytes, 16-byte blocks of (seed, offset) and a multiplicative hash of the offset."""
    mul = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    return b"".join(struct.pack("<QQ", (seed << 40) ^ (16 * i), (i * mul + seed) & mask)
                    for i in range((n + 15) // 16))[:n]


CHARS = [("\u00e9", 1), ("\u20ac", 1), ("\u20ac", 2), ("\U0001F600", 1), ("\U0001F600", 2),
         ("\U0001F600", 3)]    # (character, bytes of it before the boundary)


@functools.lru_cache(maxsize=64)
def text_payload(n: int, seed: int, offsets=(ROOM,)) -> bytes:
    """n bytes of valid UTF-8: ASCII blocks "SSSSS:OOOOOOOOO|" (seed, offset), with a 2-, 3- or
    4-byte character across every 64 KiB buffer boundary of each layout: in a chain where the
    payload starts at byte o of its first buffer (o in offsets), payload offset BUF*k - o begins a
    new buffer. The characters cut 1|1, 1|2, 2|1, 1|3, 2|2, 3|1 in turn."""
    b = bytearray(b"".join(b"%05d:%09d|" % (seed % 100000, 16 * i)
                           for i in range((n + 15) // 16))[:n])
    cuts = sorted({BUF * k - o for o in offsets for k in range(1, n // BUF + 3)
                   if 0 < BUF * k - o < n})
    kinds = itertools.cycle(CHARS)
    end = 0
    for c in cuts:
        for _ in range(len(CHARS)):
            ch, before = next(kinds)
            e = ch.encode()
            st = c - before
            if st >= end and st + len(e) <= n:
                b[st:st + len(e)] = e
                end = st + len(e)
                break
    out = bytes(b)
    out.decode("utf-8")        # a bug in this function, not in the server, if it raises
    return out


def payload_of(op: int, n: int, seed: int, offsets=(ROOM,)) -> bytes:
    return text_payload(n, seed, tuple(offsets)) if op == OP_TEXT else binary_payload(n, seed)


def digest(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()[:16]


def describe(op: int, p: bytes) -> str:
    return "%s %d bytes sha256 %s" % ("TEXT" if op == OP_TEXT else "BINARY" if op == OP_BINARY
                                      else "op %d" % op, len(p), digest(p))


def first_difference(got: bytes, want: bytes) -> str:
    n = min(len(got), len(want))
    k = next((i for i in range(0, n, 4096) if got[i:i + 4096] != want[i:i + 4096]), None)
    if k is not None:
        k = next((k + i for i in range(min(4096, n - k)) if got[k + i] != want[k + i]), n)
    if k is None or k == n:
        return "identical for %d bytes, lengths %d and %d" % (n, len(got), len(want))
    return "first difference at byte %d (64 KiB x n + %d): got %r, expected %r" % (
        k, k % BUF, got[max(0, k - 8):k + 24], want[max(0, k - 8):k + 24])


# ------------------------------------------------------------------------------------------------
# clients

class Client(Peer):
    """A non-blocking connection: data messages in .messages as (opcode, payload); a ringcast.v1
    connection's notices (TEXT) in .notices, parsed."""

    def __init__(self, ws, name, v1=False):
        super().__init__(ws, name)
        self.v1 = v1
        self.notices = []
        self.events = []       # ("notice", dict) and ("msg", opcode, payload), in order

    def on_message(self, op, payload):
        if self.v1 and op == OP_TEXT:
            self.notices.append(json.loads(payload))
            self.events.append(("notice", self.notices[-1]))
        else:
            self.messages.append((op, payload))
            self.events.append(("msg", op, payload))

    def close_code(self):
        return self.close_frame.close_code if self.close_frame is not None else None

    def close_reason(self):
        return self.close_frame.payload[2:] if self.close_frame is not None else None


def plain_sub(srv, topic, name, rcvbuf=None):
    # The 101 is sent once the subscription is in place: nothing published after it is missed.
    return Client(RawWS.connect(srv.port, "/ws?topics=" + topic, rcvbuf=rcvbuf), name)


def v1_sub(srv, topic, name, rcvbuf=None):
    ws = RawWS.connect(srv.port, "/ws?topics=" + topic, protocols=V1, rcvbuf=rcvbuf)
    fr = ws.expect_frame(t(5), "%s: subscribed notice" % name)
    expect_eq(notice_core(json.loads(fr.payload)), {"type": "subscribed", "topics": [topic]},
              "%s: first notice" % name)
    return Client(ws, name, v1=True)


def plain_pub(srv, topic, name):
    return Client(RawWS.connect(srv.port, "/ws?publish=" + topic), name)


def v1_pub(srv, name):
    return Client(RawWS.connect(srv.port, "/ws", protocols=V1), name, v1=True)


def frames_of(op: int, payload: bytes, frag=None, ping_after=None) -> bytes:
    """The client frames of one message: one frame, or fragments of the sizes in frag (cycled),
    with a ping after fragment number ping_after."""
    if not frag:
        return encode_frame(op, payload)
    out, pos, sizes = [], 0, itertools.cycle(frag)
    while True:
        piece = payload[pos:pos + next(sizes)]
        pos += len(piece)
        last = pos >= len(payload)
        out.append(encode_frame(OP_CONT if out else op, piece, fin=last))
        if ping_after is not None and len(out) == ping_after + 1 and not last:
            out.append(encode_frame(OP_PING, b"mid-message"))
        if last:
            return b"".join(out)


def push(pub: Client, data: bytes, others=(), chops=None, timeout=None) -> bool:
    """Write data on pub's socket, each chop (sizes cycled) its own send(), while reading pub and
    every other client, so nobody waits on anybody. True if all was written, False if the server
    ended the connection first."""
    timeout = t(20) if timeout is None else timeout
    view = memoryview(data)
    pos, sizes = 0, itertools.cycle(chops) if chops else None
    deadline = time.monotonic() + timeout
    peers = [pub] + [o for o in others if o is not pub]
    while pos < len(data):
        end = min(len(data), pos + next(sizes)) if sizes else len(data)
        while pos < end:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("%s: %d of %d bytes written in %.0fs" % (pub.name, pos, len(data),
                                                                   timeout))
            live = [p for p in peers if not p.ended]
            r, w, _ = select.select(live, [pub] if not pub.ended else [], [], min(left, 0.5))
            for p in r:
                p.read()
            if pub.ended:
                return False
            if w:
                try:
                    pos += pub.sock.send(view[pos:end])
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    pub.ended = "reset"
                    return False
    return True


def wait_messages(peers, counts, timeout, what):
    """Pump until each peer has at least its count of messages (counts: one int or a list)."""
    if isinstance(counts, int):
        counts = [counts] * len(peers)
    try:
        pump_until(peers, lambda: all(len(p.messages) >= c for p, c in zip(peers, counts)),
                   timeout, what)
    except Fail:
        raise Fail("%s: not reached within %.1fs: (name, have, want) %r" % (
            what, timeout, [(p.name, len(p.messages), c) for p, c in zip(peers, counts)]))


def compare(got, want, what: str):
    """got is exactly want, two lists of (opcode, payload), in order (compared by SHA-256)."""
    for i, ((gop, gp), (wop, wp)) in enumerate(zip(got, want)):
        if gop != wop or len(gp) != len(wp) or digest(gp) != digest(wp):
            raise Fail("%s: message %d is %s, expected %s; %s"
                       % (what, i, describe(gop, gp), describe(wop, wp),
                          first_difference(gp, wp)))
    if len(got) != len(want):
        raise Fail("%s: %d messages, expected %d (extra/missing from #%d: %s)"
                   % (what, len(got), len(want), min(len(got), len(want)),
                      [describe(*m) for m in (got[len(want):] or want[len(got):])[:3]]))


def expect_messages(sub: Client, want, what: str):
    """sub's messages are exactly want [(opcode, payload)], in order."""
    compare(sub.messages, want, "%s, %s" % (what, sub.name))


def expect_v1_messages(sub: Client, topic: str, want, first_seq: int, what: str):
    """sub (ringcast.v1) received exactly want [(text flag, payload)] as MESSAGEs of topic with
    sequence numbers first_seq, first_seq + 1, ..."""
    got = []
    for i, (op, b) in enumerate(sub.messages):
        expect_eq(op, OP_BINARY, "%s, %s: opcode of MESSAGE %d" % (what, sub.name, i))
        tp, seq, text, body = v1_parse(b)
        expect_eq((tp, seq, text), (topic, first_seq + i, want[i][0] if i < len(want) else None),
                  "%s, %s: topic, sequence number, text flag of MESSAGE %d" % (what, sub.name, i))
        got.append((OP_TEXT if text else OP_BINARY, body))
    compare(got, [(OP_TEXT if tx else OP_BINARY, p) for tx, p in want],
            "%s, %s" % (what, sub.name))


def closed_with(p: Client, code: int, what: str, reason: bytes | None = None, timeout=None):
    """Read p until the server's close frame; expect code (and reason)."""
    pump_until([p], lambda: p.close_frame is not None or p.ended, timeout or t(10),
               "%s: close %d from the server" % (what, code))
    check(p.close_frame is not None, "%s: expected close %d, the connection ended (%s) without "
          "a close frame" % (what, code, p.ended))
    expect_eq(p.close_code(), code, "%s: close code" % what)
    if reason is not None:
        expect_eq(p.close_reason(), reason, "%s: close reason" % what)


def close_all(clients):
    for c in clients:
        c.close()


def metric(srv, name, **labels):
    return srv.metrics().get_(name, **labels)


def wait_closed(srv, base, reason, n, what):
    """ringcast_connections_closed_total{reason} is base's + n: a connection is counted when its
    descriptor is closed, after the client's side has gone, so wait for it."""
    key = 'ringcast_connections_closed_total{reason="%s"}' % reason
    try:
        wait_until(lambda: srv.metrics().get(key, 0) - base.get(key, 0) == n or None, t(5), what)
    except Fail:
        raise Fail("%s: %s rose by %d, expected %d" % (what, key, srv.metrics().get(key, 0) -
                                                       base.get(key, 0), n))


def idle_memory(srv, base, what):
    """Once every client has gone: buffers, large-message bytes and queues back to base."""
    keys = ['ringcast_buffers{state="pool"}', 'ringcast_buffers{state="chain"}',
            "ringcast_large_message_bytes", "ringcast_queued_bytes"]

    def held(m):
        """The figures, pool buffers without those history holds (by design, not a leak)."""
        got = {k: m.get(k) for k in keys}
        got[keys[0]] -= m.get("ringcast_history_buffers", 0)
        return got

    want = held(base)

    def now():
        m = srv.metrics()
        return True if held(m) == want and m.get_("ringcast_connections") <= 1 else None
    try:
        wait_until(now, t(5), what)
    except Fail:
        m = srv.metrics()
        raise Fail("%s: expected %r, got %r with %d connections" % (
            what, want, held(m), m.get_("ringcast_connections")))


# ------------------------------------------------------------------------------------------------
# cases

@suite.case(timeout=60)
def plain_sizes(ctx):
    srv = ctx.server("--workers", "1")
    base = srv.metrics()
    topic = "lg.sizes"
    subs = [plain_sub(srv, topic, "sub%d" % i) for i in range(3)]
    pub = plain_pub(srv, topic, "pub")
    want = []
    for n in (FITS, FITS + 1, 200 * KIB, MIB):
        for op in (OP_TEXT, OP_BINARY):
            p = payload_of(op, n, len(want))
            want.append((op, p))
            check(push(pub, frames_of(op, p), subs), "pub: the server ended the connection while "
                  "it sent %s" % describe(op, p))
            wait_messages(subs, len(want), t(10), "every subscriber has %s" % describe(op, p))
    for s in subs:
        expect_messages(s, want, "one frame each")
    check(pub.close_frame is None and not pub.messages, "pub: received %r" % pub.messages[:1])
    m = srv.metrics()
    expect_eq(m.total("ringcast_messages_dropped_total"), 0, "messages dropped")
    close_all(subs + [pub])
    idle_memory(srv, base, "memory once every client has gone")
    ctx.note("%d messages of %d to %d bytes to %d subscribers" % (len(want), FITS, MIB,
                                                                 len(subs)))


@suite.case(timeout=60)
def chain_boundary(ctx):
    """Where a chain begins, exactly: a message assembled fragment by fragment, each fragment
    followed by a ping whose pong says the server has taken it (one connection's frames are
    handled in order), then large_message_bytes read (one worker: exact at the scrape)."""
    srv = ctx.server("--workers", "1")
    topic = "lg.edge"
    sub = plain_sub(srv, topic, "sub")
    pub = RawWS.connect(srv.port, "/ws?publish=" + topic)
    p = binary_payload(FITS + BUF + 1, 50)
    steps = [  # (fragment end, buffers held after it)
        (FITS - 1, 0), (FITS, 0),                 # 256 + 65,280 bytes: one buffer, no chain
        (FITS + 1, 2),                            # one byte more: a chain of two
        (FITS + BUF, 2),                          # the second buffer full
        (FITS + BUF + 1, 3)]
    pos = 0
    for i, (end, bufs) in enumerate(steps):
        pub.send_raw(encode_frame(OP_BINARY if i == 0 else OP_CONT, p[pos:end], fin=False) +
                     encode_frame(OP_PING, b"%d" % end))
        pos = end
        while True:
            fr = pub.expect_frame(t(5), "pong after %d bytes" % end)
            if fr.opcode == OP_PONG:
                expect_eq(fr.payload, b"%d" % end, "pong payload")
                break
        expect_eq(metric(srv, "ringcast_large_message_bytes"), bufs * BUF,
                  "large_message_bytes with %d bytes of a message assembled" % end)
    pub.send_frame(OP_CONT, b"", fin=True)
    wait_messages([sub], 1, t(5), "the message of %d bytes" % len(p))
    expect_messages(sub, [(OP_BINARY, p)], "sub")
    wait_until(lambda: metric(srv, "ringcast_large_message_bytes") == 0 or None, t(5),
               "large_message_bytes 0 once the message is delivered")
    sub.close()
    pub.close()


@suite.case(timeout=60)
def fragmented_chopped(ctx):
    srv = ctx.server("--workers", "1")
    base = srv.metrics()
    topic = "lg.frag"
    subs = [plain_sub(srv, topic, "sub%d" % i) for i in range(3)]
    pub = plain_pub(srv, topic, "pub")
    odd = [1, 7, 1000, 4093, 65535, 70001, 13]
    rounds = [  # (opcode, size, fragment sizes, chops, ping after fragment)
        (OP_BINARY, MIB, [1, 1000, 65535, 70000], None, 3),
        (OP_TEXT, MIB, [70000, 1, 65535, 1000, 3], None, None),
        (OP_BINARY, FITS + 1, [1, FITS - 1, 1], None, 1),
        (OP_TEXT, FITS, [FITS - 1, 1], None, None),
        (OP_TEXT, 200 * KIB, None, [1, 1] + odd, None),
        (OP_BINARY, MIB, None, odd, None),
        (OP_BINARY, MIB, [1000, 65535], [1, 70000, 333], 5),
        (OP_TEXT, FITS + 1, [30000, 40000], [2, 65535, 1], None),
    ]
    want = []
    for i, (op, n, frag, chops, ping_after) in enumerate(rounds):
        before = (OP_TEXT, b"small-before-%d" % i)
        after = (OP_BINARY, b"small-after-%d" % i)
        big = (op, payload_of(op, n, 100 + i))
        what = "round %d (%s, fragments %s, chops %s)" % (i, describe(*big), frag, chops)
        data = encode_frame(before[0], before[1]) + \
            frames_of(op, big[1], frag, ping_after) + encode_frame(after[0], after[1])
        check(push(pub, data, subs, chops), "%s: the server ended the publisher's connection "
              "(close %s)" % (what, pub.close_code()))
        want += [before, big, after]
        wait_messages(subs, len(want), t(10), what)
    for s in subs:
        expect_messages(s, want, "small, large, small")
    check(pub.close_frame is None and not pub.messages, "pub: received %r" % pub.messages[:1])
    close_all(subs + [pub])
    idle_memory(srv, base, "memory once every client has gone")


@suite.case(timeout=60)
def v1_envelope_publish(ctx):
    srv = ctx.server("--workers", "1")
    base = srv.metrics()
    topic = "lg.v1"
    L = len(topic)
    v1s = [v1_sub(srv, topic, "v1sub%d" % i) for i in range(2)]
    plains = [plain_sub(srv, topic, "plainsub%d" % i) for i in range(2)]
    subs = v1s + plains
    ppub = plain_pub(srv, topic, "plain-pub")
    want = []                     # (text, payload) in publish order

    def deliver(pub, data, text, payload, what):
        check(push(pub, data, subs), "%s: the server ended the publisher's connection (close %s)"
              % (what, pub.close_code()))
        want.append((text, payload))
        wait_messages(subs, len(want), t(10), what)

    # a plain publisher: v1 subscribers get an envelope (a chain of its own: the payload at
    # FRAME_HDR_BIG + 11 + L in its first buffer), plain ones the message in place (at ROOM)
    for op, n in ((OP_TEXT, MIB), (OP_BINARY, 200 * KIB), (OP_TEXT, FITS + 1)):
        p = payload_of(op, n, 200 + len(want), (ROOM, FRAME_HDR_BIG + 11 + L))
        deliver(ppub, frames_of(op, p), op == OP_TEXT, p, "plain publish of %s" % describe(op, p))
    # a v1 publisher: the PUBLISH is assembled at ROOM (its payload at ROOM + 11 + L) and becomes
    # the MESSAGE in place; plain subscribers get a copy with the payload at FRAME_HDR_BIG
    vpub = v1_pub(srv, "v1-pub")
    n = MIB - 11 - L                              # the whole PUBLISH is exactly the limit
    p = text_payload(n, 300, (ROOM + 11 + L, FRAME_HDR_BIG))
    deliver(vpub, encode_frame(OP_BINARY, v1_publish(topic, p, text=True)), True, p,
            "v1 text PUBLISH of %d bytes" % (11 + L + n))
    p = binary_payload(300 * KIB, 301)
    deliver(vpub, frames_of(OP_BINARY, v1_publish(topic, p), [70000, 1, 65535]), False, p,
            "v1 binary PUBLISH of %d bytes in fragments" % (11 + L + len(p)))
    # text PUBLISHes that are not UTF-8 at their very end: refused whole
    bad = [("a truncated euro sign at the end", text_payload(600 * KIB, 302)[:-2] + b"\xe2\x82"),
           # the stray byte is the only one in the chain's last buffer: the PUBLISH ends at
           # chain offset ROOM + 11 + L + n = 16 * BUF + 1
           ("a stray continuation byte alone in the last buffer",
            text_payload(16 * BUF + 1 - ROOM - 11 - L - 1, 303) + b"\x80")]
    for i, (how, body) in enumerate(bad):
        q = v1_pub(srv, "bad-pub%d" % i)
        push(q, frames_of(OP_BINARY, v1_publish(topic, body, text=True), [65536, 100000]), subs)
        pump_until([q], lambda: q.notices or q.close_frame is not None or q.ended, t(10),
                   "text PUBLISH with %s: an error notice" % how)
        check(len(q.notices) == 1 and q.notices[0].get("type") == "error" and
              q.notices[0].get("code") == "bad_publish" and q.close_frame is None and not q.ended,
              "text PUBLISH with %s: expected one error notice bad_publish and the connection "
              "open (a refused PUBLISH is not fatal), got %r, close %r" % (how, q.notices,
                                                                          q.close_frame))
        q.close()
    # then a small message: the next thing every subscriber gets (nothing of the refused ones)
    deliver(ppub, encode_frame(OP_BINARY, b"after the refused ones"), False,
            b"after the refused ones", "small message")
    for s in v1s:
        expect_v1_messages(s, topic, want, 1, "v1 subscriber")
        check(not s.notices, "%s: notices %r" % (s.name, s.notices))
    for s in plains:
        expect_messages(s, [(OP_TEXT if tx else OP_BINARY, p) for tx, p in want],
                        "plain subscriber")
    check(not vpub.messages and not vpub.notices and vpub.close_frame is None,
          "v1 publisher: received %r %r" % (vpub.messages[:1], vpub.notices[:1]))
    wait_closed(srv, base, "bad_command", 0, "the two bad PUBLISHes (refused, not closed)")
    expect_eq(srv.metrics().total("ringcast_messages_dropped_total"), 0, "messages dropped")


@suite.case(timeout=60)
def over_the_max(ctx):
    srv = ctx.server("--workers", "1")
    topic = "lg.max"
    sub = plain_sub(srv, topic, "plain-sub")
    vsub = v1_sub(srv, topic, "v1-sub")
    subs = [sub, vsub]
    keep = plain_pub(srv, topic, "steady-pub")      # connected all along, sends at the end
    m0 = srv.metrics()
    cases = [
        ("one frame of 1 MiB + 1", "plain", frames_of(OP_BINARY, binary_payload(MIB + 1, 400)),
         1009),
        ("fragments of 1 MiB and 1", "plain",
         frames_of(OP_BINARY, binary_payload(MIB + 1, 401), [MIB, 1]), 1009),
        ("fragments of 65,535 bytes, 1 MiB + 1 in all", "plain",
         frames_of(OP_TEXT, text_payload(MIB + 1, 402), [65535]), 1009),
        ("a v1 PUBLISH of 1 MiB + 1", "v1",
         encode_frame(OP_BINARY, v1_publish(topic, binary_payload(MIB + 1 - 11 - len(topic),
                                                                  403))), 1009),
        ("1 MiB of TEXT whose last byte is not UTF-8", "plain",
         frames_of(OP_TEXT, text_payload(MIB - 1, 404) + b"\xff", [300000]), 1007),
    ]
    for how, kind, data, code in cases:
        a = plain_pub(srv, topic, "pub") if kind == "plain" else v1_pub(srv, "v1pub")
        push(a, data, subs)
        closed_with(a, code, how)
        a.close()
    p = binary_payload(MIB, 405)
    check(push(keep, frames_of(OP_BINARY, p), subs), "steady-pub: connection ended")
    wait_messages(subs, 1, t(10), "the 1 MiB message of the publisher connected all along")
    expect_messages(sub, [(OP_BINARY, p)], "plain subscriber: only the message at the limit")
    expect_v1_messages(vsub, topic, [(False, p)], 1, "v1 subscriber: only the message at the "
                       "limit (its envelope is over 1 MiB: the limit is on what clients send)")
    wait_closed(srv, m0, "too_big", 4, "the four messages over 1 MiB")
    wait_closed(srv, m0, "invalid_data", 1, "the TEXT message that is not UTF-8")
    m = srv.metrics()
    expect_eq(m.get_("ringcast_messages_published_total") -
              m0.get_("ringcast_messages_published_total"), 1, "messages published")


def cap_server(ctx, *flags):
    return ctx.server("--workers", "1", "--large-bytes-max", "2M", "--message-max-bytes", "1M",
                      "--write-timeout-ms", "60000", *flags)


TOO_BIG_REASON = b"large messages would go over large-bytes-max"


@suite.case(timeout=60)
def cap_assembly_held(ctx):
    srv = cap_server(ctx)
    base = srv.metrics()
    topic = "lg.cap"
    sub = plain_sub(srv, topic, "sub")
    p1 = plain_pub(srv, topic, "holder")
    big1 = binary_payload(MIB, 500)
    f1 = frames_of(OP_BINARY, big1)
    # all of the frame but its last byte: the assembly holds 17 buffers, and keeps them
    check(push(p1, f1[:-1], [sub]), "holder: connection ended")
    held = CHAIN_1MIB * BUF
    wait_until(lambda: metric(srv, "ringcast_large_message_bytes") == held or None, t(5),
               "large_message_bytes %d (the holder's assembly, %d buffers)" % (held, CHAIN_1MIB))
    p2 = plain_pub(srv, topic, "refused")
    push(p2, frames_of(OP_BINARY, binary_payload(MIB, 501)), [sub])
    closed_with(p2, 1009, "a 1 MiB message while 17 of 32 buffers are held", TOO_BIG_REASON)
    p2.close()
    wait_closed(srv, base, "too_big", 1, "the refused publisher")
    m = srv.metrics()
    check(m.get_("ringcast_large_message_refusals_total") >= 1,
          "large_message_refusals_total: %r" % m.get_("ringcast_large_message_refusals_total"))
    wait_until(lambda: metric(srv, "ringcast_large_message_bytes") == held or None, t(5),
               "large_message_bytes back to the holder's %d once the refused one is gone" % held)
    check(not sub.messages, "sub: received %d messages before the holder's was complete"
          % len(sub.messages))
    # the holder completes its message: delivered whole; then the memory comes back
    check(push(p1, f1[-1:], [sub]), "holder: connection ended")
    wait_messages([sub], 1, t(10), "the holder's message")
    wait_until(lambda: metric(srv, "ringcast_large_message_bytes") == 0 or None, t(5),
               "large_message_bytes 0 once the holder's message is delivered")
    # and large messages work again, from a new publisher and from the holder
    p3 = plain_pub(srv, topic, "after")
    big3 = text_payload(MIB, 502)
    check(push(p3, frames_of(OP_TEXT, big3), [sub]), "after: connection ended")
    big4 = binary_payload(MIB, 503)
    check(push(p1, frames_of(OP_BINARY, big4, [100000]), [sub]), "holder: connection ended")
    wait_messages([sub], 3, t(10), "the messages sent once the memory was back")
    expect_messages(sub, [(OP_BINARY, big1), (OP_TEXT, big3), (OP_BINARY, big4)], "sub")
    refusals = metric(srv, "ringcast_large_message_refusals_total") - \
        base.get_("ringcast_large_message_refusals_total")
    ctx.note("large_message_refusals_total +%d" % refusals)
    close_all([sub, p1, p3])
    idle_memory(srv, base, "memory once every client has gone")


@suite.case(timeout=60)
def cap_queue_held(ctx):
    srv = cap_server(ctx, "--idle-timeout-ms", "600000")
    base = srv.metrics()
    topic = "lg.capq"
    reader = plain_sub(srv, topic, "reader")
    # two subscribers that never read: their queues hold a 1 MiB message once their sockets are
    # full (both hold the same one: one chain of 17 buffers)
    never = [plain_sub(srv, topic, "never%d" % i, rcvbuf=4096) for i in range(2)]
    pub = plain_pub(srv, topic, "pub")
    want = []
    refused_at = None
    last_held = 0
    for k in range(24):
        p = binary_payload(MIB, 600 + k)
        push(pub, frames_of(OP_BINARY, p), [reader])
        pump_until([reader, pub], lambda: len(reader.messages) > len(want) or
                   pub.close_frame is not None or pub.ended, t(10),
                   "message %d reaches the reader, or its publisher is closed" % k)
        if pub.close_frame is not None or pub.ended:
            refused_at = k
            break
        want.append((OP_BINARY, p))
        # nothing else publishes and the non-readers never read: what is held can only shrink
        # until the next message, so a refusal of it needs this to be over 32 - 17 buffers
        last_held = metric(srv, "ringcast_large_message_bytes")
    check(refused_at is not None, "24 messages of 1 MiB published while two subscribers read "
          "nothing, and none was refused (large-bytes-max 2M)")
    closed_with(pub, 1009, "message %d while the non-readers hold one" % refused_at,
                TOO_BIG_REASON)
    check(refused_at >= 1, "the first 1 MiB message was refused, with nothing held")
    check(last_held > (2 * MIB // BUF - CHAIN_1MIB) * BUF,
          "message %d was refused, yet before it large_message_bytes was %d: with %d more it is "
          "within the cap of %d" % (refused_at, last_held, CHAIN_1MIB * BUF, 2 * MIB))
    ctx.note("message %d refused; before it %d buffers were held" % (refused_at,
                                                                   last_held // BUF))
    pub.close()
    wait_closed(srv, base, "too_big", 1, "the refused publisher")
    # the non-readers leave: the memory comes back, and a 1 MiB message goes through again
    for n in never:
        n.ws.linger0()
    wait_until(lambda: metric(srv, "ringcast_large_message_bytes") == 0 or None, t(5),
               "large_message_bytes 0 once the non-readers are gone")
    pub2 = plain_pub(srv, topic, "pub2")
    p = text_payload(MIB, 650)
    check(push(pub2, frames_of(OP_TEXT, p), [reader]), "pub2: connection ended")
    want.append((OP_TEXT, p))
    wait_messages([reader], len(want), t(10), "pub2's message")
    expect_messages(reader, want, "reader")
    close_all([reader, pub2])
    idle_memory(srv, base, "memory once every client has gone")


def server_frame(op: int, payload: bytes) -> bytes:
    return encode_frame(op, payload, masked=False)


def pump_stream(peers, pred, timeout, what):
    """pump_until, saying whose stream broke, and where, if a peer's bytes stop parsing as
    frames."""
    deadline = time.monotonic() + timeout
    while not pred():
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail("%s: not reached within %.1fs" % (what, timeout))
        live = [p for p in peers if not p.ended]
        if not live:
            raise Fail("%s: every connection has ended (%s)" % (
                what, ", ".join("%s: %s" % (p.name, p.ended) for p in peers)))
        r, _, _ = select.select(live, [], [], min(left, 0.05))
        for p in r:
            try:
                p.read()
            except ProtocolViolation as e:
                i = p.buf.find(b'{"type":"')
                at = frame_offset(p.buf, i - 2)
                raise Fail("%s: %s's stream is corrupt after %d whole messages: %s; %s" % (
                    what, p.name, len(p.messages), e,
                    "no notice in the bytes left" if i < 0 else
                    "a notice %r begins at byte %d of a frame (a multiple of 64 KiB plus %d): "
                    "written inside it" % (bytes(p.buf[i:i + 40]), at, at % BUF)))


def frame_offset(buf, i):
    """The offset of stream byte i in the frame that holds it, walking frames from buf's start."""
    pos = 0
    while True:
        try:
            r = parse_frame(buf, pos)
        except ProtocolViolation:
            r = None
        if r is None or r[1] > i:
            return i - pos
        pos = r[1]


SLOW_QUEUE = "2304K"           # 2.25 frames of 1 MiB: the one being sent and one more


def slow_server(ctx, policy):
    return ctx.server("--workers", "1", "--queue-bytes-max", SLOW_QUEUE, "--slow-policy", policy,
                      "--write-timeout-ms", "60000", "--idle-timeout-ms", "600000")


def publish_until(srv, pub, reader, sent, enough, what, limit=40):
    """1 MiB messages from pub, one at a time, each waited for at reader, until
    enough(srv.metrics()) (at most limit of them)."""
    for _ in range(limit):
        p = binary_payload(MIB, 700 + len(sent))
        check(push(pub, frames_of(OP_BINARY, p), [reader]), "%s: %s: connection ended"
              % (what, pub.name))
        sent.append(p)
        wait_messages([reader], len(sent), t(10), "%s: the reader has message %d"
                      % (what, len(sent) - 1))
        if enough(srv.metrics()):
            return
    m = srv.metrics()
    raise Fail("%s: %d messages of 1 MiB published, and the subscribers that read nothing "
               "(queue-bytes-max %s) are still served: drops %r, slow-consumer disconnects %d"
               % (what, limit, SLOW_QUEUE, m.family("ringcast_messages_dropped_total"),
                  m.get_("ringcast_slow_consumer_disconnects_total")))


def check_subsequence(never, sent, what):
    """never's messages are intact copies of sent ones, in publish order; returns their indices."""
    idx = {digest(p): i for i, p in enumerate(sent)}
    got = []
    for j, (op, p) in enumerate(never.messages):
        i = idx.get(digest(p))
        if op != OP_BINARY or i is None:
            raise Fail("%s: message %d (%s) is none of the %d sent; %s"
                       % (what, j, describe(op, p), len(sent),
                          first_difference(p, sent[got[-1] + 1 if got else 0])))
        if got and i <= got[-1]:
            raise Fail("%s: message %d is #%d, after #%d" % (what, j, i, got[-1]))
        got.append(i)
    return got


def check_v1_gaps(c, topic, sent, what):
    """A ringcast.v1 subscriber's stream under drop-oldest (docs/protocol.md 6.5): sequence
    numbers increase, every gap equals the missed counts received in it, every MESSAGE is the
    published payload. Returns (received, missed)."""
    last, pending, received, missed = 0, 0, 0, 0
    for ev in c.events:
        if ev[0] == "notice":
            n = ev[1]
            check(n.get("type") == "missed" and n.get("topic") == topic and n.get("count", 0) >= 1,
                  "%s: unexpected notice %r" % (what, n))
            pending += n["count"]
            missed += n["count"]
            continue
        tp, seq, text, body = v1_parse(ev[2])
        check(tp == topic and not text and seq > last,
              "%s: MESSAGE (topic %r, seq %d, text %s) after seq %d" % (what, tp, seq, text, last))
        if seq - last - 1 != pending:
            raise Fail("%s: sequence %d after %d, with %d missed told in between"
                       % (what, seq, last, pending))
        if body != sent[seq - 1]:
            raise Fail("%s: MESSAGE %d is not the payload published: %s"
                       % (what, seq, first_difference(body, sent[seq - 1])))
        last, pending = seq, 0
        received += 1
    return received, missed


def drop_oldest_case(ctx, kind):
    srv = slow_server(ctx, "drop-oldest")
    base = srv.metrics()
    topic = "lg.slow"
    reader = plain_sub(srv, topic, "reader")
    # a subscriber that stops reading: its socket fills, then its queue holds the message being
    # sent (a buffer at a time) and one more; each new one evicts the queued one
    if kind == "plain":
        never = plain_sub(srv, topic, "never", rcvbuf=4096)
        newest = lambda: never.messages and never.messages[-1][1] == sent[-1]
    else:
        never = v1_sub(srv, topic, "v1never", rcvbuf=4096)
        newest = lambda: never.messages and v1_parse(never.messages[-1][1])[1] == len(sent)
    pub = plain_pub(srv, topic, "pub")
    sent = []
    drops = lambda m: m.total("ringcast_messages_dropped_total") - \
        base.total("ringcast_messages_dropped_total")
    for rnd in range(3):
        d0 = drops(srv.metrics())
        publish_until(srv, pub, reader, sent, lambda m: drops(m) - d0 >= 2, "round %d" % rnd)
        # now it reads: what it kept, ending with the newest
        pump_stream([never], newest, t(10), "round %d: %s reads to the newest" % (rnd, never.name))
    expect_messages(reader, [(OP_BINARY, p) for p in sent], "reader")
    if kind == "plain":
        got = check_subsequence(never, sent, never.name)
        lost = len(sent) - len(got)
        check(lost > 0, "never received all %d messages" % len(sent))
        ctx.note("%d published, never kept %d: %s" % (len(sent), len(got), got))
    else:
        received, lost = check_v1_gaps(never, topic, sent, never.name)
        expect_eq(received + lost, len(sent), "v1never: MESSAGEs received + missed told")
        ctx.note("%d published, v1never received %d, missed %d" % (len(sent), received, lost))
    m = srv.metrics()
    now = {k: v - base.family("ringcast_messages_dropped_total").get(k, 0)
           for k, v in m.family("ringcast_messages_dropped_total").items()}
    expect_eq({k: v for k, v in now.items() if v}, {"queue_full_oldest": lost},
              "drops (the non-reader's losses, all of the oldest queued)")
    close_all([reader, never, pub])
    idle_memory(srv, base, "memory once every client has gone")


@suite.case(timeout=90)
def slow_drop_oldest(ctx):
    drop_oldest_case(ctx, "plain")


@suite.case(timeout=90)
def slow_drop_oldest_v1(ctx):
    drop_oldest_case(ctx, "v1")


@suite.case(timeout=90)
def slow_disconnect(ctx):
    srv = slow_server(ctx, "disconnect")
    base = srv.metrics()
    topic = "lg.slowd"
    reader = plain_sub(srv, topic, "reader")
    never = plain_sub(srv, topic, "never", rcvbuf=4096)
    pub = plain_pub(srv, topic, "pub")
    sent = []
    disconnects = lambda m: m.get_("ringcast_slow_consumer_disconnects_total") - \
        base.get_("ringcast_slow_consumer_disconnects_total")
    publish_until(srv, pub, reader, sent, lambda m: disconnects(m) >= 1, "disconnect")
    expect_eq(disconnects(srv.metrics()), 1, "slow_consumer_disconnects_total increase")
    t0 = time.monotonic()
    pump_stream([never], lambda: never.ended or never.close_frame is not None, t(10),
                "never: closed by the server")
    took = time.monotonic() - t0
    got = check_subsequence(never, sent, "never")
    expect_eq(got, list(range(len(got))), "never: a prefix of what was sent")
    check(len(got) < len(sent), "never received all %d messages" % len(sent))
    if never.close_frame is not None:
        expect_eq(never.close_code(), 4000, "never: close code under --slow-policy disconnect")
        how = "close 4000"
    else:
        # cut: what came of the frame being sent must be a prefix of it, and nothing after it
        cut = bytes(never.buf)
        frame = server_frame(OP_BINARY, sent[len(got)])
        if not frame.startswith(cut):
            k = next((i for i in range(min(len(cut), len(frame))) if cut[i] != frame[i]),
                     min(len(cut), len(frame)))
            raise Fail("never: after %d whole messages, %d bytes of the next frame (%d bytes), "
                       "which differ from it at byte %d (chain buffer boundary +%d): %r (the "
                       "close frame written inside a frame that was half sent); the connection "
                       "ended (%s) %.1fs after the non-reader began to read"
                       % (len(got), len(cut), len(frame), k, (k + ROOM - FRAME_HDR_BIG) % BUF,
                          cut[k:k + 40], never.ended, took))
        how = "cut after %d bytes of the next frame (%s)" % (len(cut), never.ended)
    ctx.note("never: %d messages, then %s, %.1fs after it began to read" % (len(got), how, took))
    expect_messages(reader, [(OP_BINARY, p) for p in sent], "reader")
    m = srv.metrics()
    expect_eq(m.get_("ringcast_messages_dropped_total", reason="queue_full_oldest") +
              m.get_("ringcast_messages_dropped_total", reason="queue_full_newest"), 0,
              "drops other than slow_disconnect")
    close_all([reader, never, pub])
    idle_memory(srv, base, "memory once every client has gone")


@suite.case(timeout=60)
def ping_while_large_sent(ctx):
    """A subscriber that reads slowly and pings while 1 MiB frames are sent to it a buffer at a
    time: pongs come between frames (RFC 6455 5.4: control frames may come between the fragments
    of a message, never inside a frame), the last ping is answered, every message intact."""
    srv = ctx.server("--workers", "1", "--queue-bytes-max", "8M")
    topic = "lg.ping"
    sub = plain_sub(srv, topic, "sub", rcvbuf=4096)
    pub = plain_pub(srv, topic, "pub")
    msgs = [binary_payload(MIB, 950 + i) for i in range(6)]
    for p in msgs:            # queued for sub (8 MiB queue): it reads nothing yet
        check(push(pub, frames_of(OP_BINARY, p)), "pub: connection ended")
    raw = bytearray(sub.buf)
    sock = sub.sock
    sock.setblocking(True)
    pings, data, pongs = [], [], []
    pos = 0

    def broken(why):
        i = raw.find(b"\x8a\x07ping-")
        return Fail("sub: %s, after %d messages and %d pongs (%d bytes read); the first pong is "
                    "at stream byte %d%s" % (why, len(data), len(pongs), len(raw), i,
                                             "" if i < 0 else ", inside message %d at byte %d "
                                             "of its frame" % pong_place(raw, i)))

    deadline = time.monotonic() + t(20)
    while not (len(data) >= len(msgs) and pongs and pongs[-1] == pings[-1]):
        if time.monotonic() > deadline:
            raise broken("the stream stops at byte %d (a frame incomplete)" % pos)
        if len(pings) < 64 and len(data) < len(msgs):
            pings.append(b"ping-%02d" % len(pings))
            sock.sendall(encode_frame(OP_PING, pings[-1]))
        want = len(raw) + 96 * KIB
        while len(raw) < want:
            r, _, _ = select.select([sock], [], [], 0.2)
            if not r:
                break
            d = sock.recv(want - len(raw))
            check(d, "sub: the server closed the connection after %d bytes" % len(raw))
            raw += d
        while True:
            try:
                r = parse_frame(raw, pos)
            except ProtocolViolation as e:
                raise broken("the stream breaks at byte %d (%s)" % (pos, e))
            if r is None:
                break
            fr, pos = r
            if fr.opcode == OP_PONG:
                pongs.append(fr.payload)
            else:
                data.append(fr)
    for i, fr in enumerate(data):
        if (fr.opcode, fr.fin, len(fr.payload)) != (OP_BINARY, 1, MIB) or fr.payload != msgs[i]:
            raise broken("message %d is %s fin=%d: %s" % (i, describe(fr.opcode, fr.payload),
                                                           fr.fin,
                                                           first_difference(fr.payload, msgs[i])))
    expect_eq(len(data), len(msgs), "sub: messages")
    # one pong per ping, or (RFC 6455 5.5.3) only for the latest of those not yet answered
    check(all(p in pings for p in pongs) and pongs == sorted(set(pongs)),
          "sub: pongs %r for pings %r" % (pongs, pings))
    ctx.note("%d pings, %d pongs, while 6 MiB went out" % (len(pings), len(pongs)))
    close_all([sub, pub])


def pong_place(raw, i):
    """(message, byte of its frame) where stream byte i falls, walking the frames from the start."""
    pos, k = 0, 0
    while True:
        r = parse_frame(raw, pos)
        if r is None or r[1] > i:
            return k, i - pos
        if r[0].opcode != OP_PONG:
            k += 1
        pos = r[1]


def on_both(srv, connect, per_worker, what):
    """Connect until each of the two workers has per_worker clients; close the others."""
    by, extra = {0: [], 1: []}, []
    for _ in range(per_worker * 24):
        if all(len(v) >= per_worker for v in by.values()):
            break
        c = connect()
        w = srv.worker_of(c.sock)
        (by[w] if len(by[w]) < per_worker else extra).append(c)
    close_all(extra)
    check(all(len(v) >= per_worker for v in by.values()), "%s: could not get %d on each worker: "
          "%r" % (what, per_worker, {w: len(v) for w, v in by.items()}))
    return by


@suite.case(timeout=90)
def two_workers(ctx):
    srv = ctx.server("--workers", "2", "--log-level", "debug")
    base = srv.metrics()
    topic = "lg.w2"
    L = len(topic)
    v1 = on_both(srv, lambda: v1_sub(srv, topic, "v1sub"), 2, "v1 subscribers")
    plain = on_both(srv, lambda: plain_sub(srv, topic, "plainsub"), 2, "plain subscribers")
    for w in (0, 1):
        for i, c in enumerate(v1[w]):
            c.name = "v1sub%d@worker%d" % (i, w)
        for i, c in enumerate(plain[w]):
            c.name = "plainsub%d@worker%d" % (i, w)
    subs = v1[0] + v1[1] + plain[0] + plain[1]
    ppub = plain_pub(srv, topic, "plain-pub")
    pw = srv.worker_of(ppub.sock)
    vpub = v1_pub(srv, "v1-pub")
    vw = srv.worker_of(vpub.sock)
    want = []                                      # (text, payload)
    # the hand-off copies and the other worker's envelopes put the payload at other offsets:
    # characters straddle those boundaries too where the layout is known
    offs = (ROOM, ROOM + 11 + L, FRAME_HDR_BIG, FRAME_HDR_BIG + 11 + L)
    plan = [(ppub, OP_TEXT, MIB), (ppub, OP_BINARY, FITS + 1), (ppub, OP_BINARY, MIB),
            (vpub, OP_TEXT, MIB - 11 - L), (vpub, OP_BINARY, 200 * KIB), (ppub, OP_TEXT, 200 * KIB)]
    for k, (pub, op, n) in enumerate(plan):
        p = payload_of(op, n, 800 + k, offs)
        data = frames_of(op, p) if pub is ppub else \
            encode_frame(OP_BINARY, v1_publish(topic, p, text=op == OP_TEXT))
        check(push(pub, data, subs, [70001, 65535] if k % 2 else None),
              "%s: connection ended" % pub.name)
        want.append((op == OP_TEXT, p))
        wait_messages(subs, len(want), t(10), "message %d (%s from %s on worker %d)"
                      % (k, describe(op, p), pub.name, pw if pub is ppub else vw))
    for s in v1[0] + v1[1]:
        expect_v1_messages(s, topic, want, 1, "v1 subscriber")
    for s in plain[0] + plain[1]:
        expect_messages(s, [(OP_TEXT if tx else OP_BINARY, p) for tx, p in want],
                        "plain subscriber")
    m = srv.metrics()
    owner = srv.owner_of(topic)
    expect_eq(m.get_("ringcast_handoffs_total", result="sent") -
              base.get_("ringcast_handoffs_total", result="sent"),
              sum(1 + ((pw if pub is ppub else vw) != owner) for pub, _, _ in plan),
              "hand-offs sent (one to the owner, worker %d, from another worker's publisher; one "
              "from the owner to the other worker)" % owner)
    expect_eq(m.total("ringcast_messages_dropped_total"), 0, "messages dropped")
    ctx.note("plain publisher on worker %d, v1 publisher on worker %d" % (pw, vw))
    close_all(subs + [ppub, vpub])
    idle_memory(srv, base, "memory once every client has gone")


def refused_start(ctx, flags, must_say, what):
    cmd = [ctx.binary, "--listen", "127.0.0.1:0"] + flags
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=t(10))
    except subprocess.TimeoutExpired:
        raise Fail("%s: the server started (still running after %.0fs): %s"
                   % (what, t(10), " ".join(cmd)))
    check(p.returncode != 0, "%s: exit status 0" % what)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    said = [ln for ln in lines if ln.startswith("ringcast: ")]
    others = [ln for ln in lines if ln not in said and ln != "(try ringcast --help)"]
    check(len(said) == 1 and not others and not p.stdout.strip(),
          "%s: expected one line 'ringcast: ...' on stderr (and the --help hint), got stdout "
          "%r, stderr %r" % (what, p.stdout, p.stderr))
    for s in must_say:
        check(s in said[0], "%s: the line does not say %r: %r" % (what, s, said[0]))
    ctx.note("%s: exit %d, %r" % (what, p.returncode, said[0]))


@suite.case(timeout=90)
def startup_16m(ctx):
    # queue-bytes-max (4 MiB) need not hold the largest message: an empty queue takes any
    srv = ctx.server("--workers", "1", "--message-max-bytes", "16M")
    base = srv.metrics()
    p = binary_payload(16 * MIB, 16)
    echo = Client(RawWS.connect(srv.port, "/echo"), "echo")
    check(push(echo, frames_of(OP_BINARY, p), timeout=t(30)),
          "echo: the server ended the connection while it sent %s" % describe(OP_BINARY, p))
    wait_messages([echo], 1, t(30), "echo has its message back")
    expect_messages(echo, [(OP_BINARY, p)], "16 MiB through /echo")
    topic = "lg.16m"
    sub = plain_sub(srv, topic, "sub")
    pub = plain_pub(srv, topic, "pub")
    check(push(pub, frames_of(OP_BINARY, p), [sub], timeout=t(30)),
          "pub: the server ended the connection while it sent %s" % describe(OP_BINARY, p))
    wait_messages([sub], 1, t(30), "the subscriber has the message")
    expect_messages(sub, [(OP_BINARY, p)], "16 MiB to a subscriber")
    check(pub.close_frame is None and not pub.messages, "pub: received %r" % pub.messages[:1])
    m = srv.metrics()
    expect_eq(m.total("ringcast_messages_dropped_total"), 0, "messages dropped")
    close_all([echo, sub, pub])
    idle_memory(srv, base, "memory once every client has gone")
    ctx.note("--message-max-bytes 16M alone: 16 MiB echoed and delivered")
    refused_start(ctx, ["--message-max-bytes", "16M", "--large-bytes-max", "8M"],
                  ["large-bytes-max 8388608", "257 buffers", "16842752"],
                  "--large-bytes-max 8M under 16 MiB messages")


if __name__ == "__main__":
    suite.main()
