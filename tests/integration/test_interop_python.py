#!/usr/bin/python3
"""Integration: interoperability with the Python `websockets` library (Debian python3-websockets,
10.4; its asyncio client, which checks Sec-WebSocket-Accept, the subprotocol and every frame it
receives), plus the close codes of docs/protocol.md sections 5-8.

    /usr/bin/python3 tests/integration/test_interop_python.py --bin build/release/tools/ringcast

Run it with /usr/bin/python3: a pyenv or venv python3 first on PATH usually lacks websockets.
"""

import asyncio
import json
import struct
import sys

try:
    import websockets
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import websockets
    except ImportError:
        print("test_interop_python: the Python 'websockets' package is missing "
              "(Debian: apt-get install python3-websockets; run with /usr/bin/python3)")
        sys.exit(1)

from rcbase import Fail, check, expect_eq, t
from rcws import RawWS, OP_TEXT, OP_CLOSE
from rcv1 import v1_publish, v1_parse, subscribe_cmd, notice_core
from rcsuite import Suite

suite = Suite("interop_python")
V1 = ["ringcast.v1"]


def connect(srv, query="", **kw):
    kw.setdefault("ping_interval", None)
    kw.setdefault("open_timeout", t(5))
    kw.setdefault("close_timeout", t(5))
    kw.setdefault("max_size", 1 << 20)
    return websockets.connect(srv.url("/ws" + query), **kw)


async def recv(ws, what, timeout=5.0):
    try:
        return await asyncio.wait_for(ws.recv(), t(timeout))
    except asyncio.TimeoutError:
        raise Fail("%s: nothing received within %.1fs" % (what, t(timeout)))
    except websockets.ConnectionClosed as e:
        raise Fail("%s: the connection closed instead (code %s, reason %r)"
                   % (what, e.code, e.reason))


async def nothing(ws, what, wait=0.3):
    try:
        m = await asyncio.wait_for(ws.recv(), wait)
    except asyncio.TimeoutError:
        return
    raise Fail("%s: expected nothing, got %r" % (what, m[:80]))


async def notice(ws, what, timeout=5.0):
    m = await recv(ws, what, timeout)
    check(isinstance(m, str), "%s: expected a notice (TEXT), got a binary message %r"
          % (what, m[:60]))
    return notice_core(json.loads(m))


async def closed_with(ws, code, what, timeout=5.0):
    """Read until the server closes; expect its close code."""
    got = []
    try:
        while True:
            got.append(await asyncio.wait_for(ws.recv(), t(timeout)))
    except asyncio.TimeoutError:
        raise Fail("%s: expected the server to close with %d, still open after %.1fs (got %r)"
                   % (what, code, t(timeout), got[:3]))
    except websockets.ConnectionClosed as e:
        check(e.rcvd is not None, "%s: expected close code %d, the connection ended without a "
              "close frame from the server (%s)" % (what, code, e))
        expect_eq(e.rcvd.code, code, "%s: close code" % what)
    return got


async def warm_up(pub, subs, topic_text="warm"):
    """Plain subscribers have no confirmation: publish until each has seen a warm-up."""
    pending = set(range(len(subs)))
    for _ in range(int(t(200))):
        await pub.send(topic_text)
        for i in list(pending):
            try:
                m = await asyncio.wait_for(subs[i].recv(), 0.02)
            except asyncio.TimeoutError:
                continue
            expect_eq(m, topic_text, "warm-up message")
            pending.discard(i)
        if not pending:
            break
    check(not pending, "warm-up: %d subscriber(s) never received a warm-up" % len(pending))
    # swallow warm-ups still in flight: they come before anything published later
    return topic_text


async def drain_warm(ws, warm, first_real_what):
    while True:
        m = await recv(ws, first_real_what)
        if m != warm:
            return m


def run(coro):
    asyncio.run(asyncio.wait_for(coro, t(60)))


@suite.case(timeout=60)
def plain_pubsub(ctx):
    srv = ctx.server()

    async def main():
        # default options: the client offers permessage-deflate, the server must decline
        async with connect(srv, "?topics=py.a", compression="deflate") as sub, \
                connect(srv, "?topics=py.a&publish=py.a") as pub:
            expect_eq(sub.extensions, [], "extensions negotiated (ringcast negotiates none)")
            expect_eq(sub.subprotocol, None, "subprotocol of a plain client")
            warm = await warm_up(pub, [sub])
            sent = []
            for i in range(500):
                if i % 10 == 9:
                    msg = b"\x00\xff" + struct.pack("!I", i)
                else:
                    msg = "p:%d:%s" % (i, "\u00e9\u20ac" * (i % 5))
                sent.append(msg)
                await pub.send(msg)
            big = bytes(range(256)) * 234          # 59,904 bytes, under the default limit
            sent.append(big)
            await pub.send(big)
            await pub.send(["frag-", "ment-", "ed"])  # one message in three frames
            sent.append("frag-ment-ed")
            first = await drain_warm(sub, warm, "first counted message")
            got = [first]
            while len(got) < len(sent):
                got.append(await recv(sub, "message %d of %d" % (len(got), len(sent))))
            for i, (g, s) in enumerate(zip(got, sent)):
                if g != s:
                    raise Fail("message %d: expected %s %r, got %s %r"
                               % (i, type(s).__name__, s[:40], type(g).__name__, g[:40]))
            await nothing(sub, "subscriber after the last message")
            await nothing(pub, "publisher subscribed to its own topic (never its own messages)")
            pong = await sub.ping(b"are-you-there")
            try:
                await asyncio.wait_for(pong, t(5))
            except asyncio.TimeoutError:
                raise Fail("no pong for our ping within %.1fs" % t(5))
        # the context managers closed both: the server answered our close with 1000
        expect_eq(sub.close_code, 1000, "close code of the server's answer to our close")

    run(main())


@suite.case(timeout=60)
def v1_envelope(ctx):
    srv = ctx.server()

    async def main():
        async with connect(srv, "?topics=py.b", subprotocols=V1) as s1, \
                connect(srv, "", subprotocols=V1,
                        extra_headers={"Authorization": "Bearer any-token"}) as p1, \
                connect(srv, "?publish=py.b") as p2:
            expect_eq(s1.subprotocol, "ringcast.v1", "negotiated subprotocol")
            expect_eq(await notice(s1, "first notice"),
                      {"type": "subscribed", "topics": ["py.b"]}, "first notice")
            await s1.send(subscribe_cmd(["py.c", "py.c"]))
            expect_eq(await notice(s1, "answer to subscribe"),
                      {"type": "subscribed", "topics": ["py.c", "py.c"]}, "answer to subscribe "
                      "(the command's topics as sent; a duplicate is allowed)")
            # PUBLISH frames: text on py.b, binary on py.c; the MESSAGE is the same bytes with
            # the topic's sequence number written in (docs/protocol.md 6.3)
            expect = []
            for i in range(100):
                txt = "hello-%d-\u00e9" % i
                f = v1_publish("py.b", txt.encode(), text=True, seq=12345)
                await p1.send(f)
                expect.append(v1_publish("py.b", txt.encode(), text=True, seq=i + 1))
                b = bytes([i, 0, 255]) * (i + 1)
                await p1.send(v1_publish("py.c", b, text=False))
                expect.append(v1_publish("py.c", b, text=False, seq=i + 1))
            await p1.send(v1_publish("py.c", b"", text=False))       # empty payload is allowed
            expect.append(v1_publish("py.c", b"", text=False, seq=101))
            # in order per topic (the two topics may be numbered by different workers, so their
            # streams may interleave otherwise)
            want = {t: [e for e in expect if v1_parse(e)[0] == t] for t in ("py.b", "py.c")}
            got = {"py.b": [], "py.c": []}
            for i in range(len(expect)):
                g = await recv(s1, "MESSAGE %d" % i)
                check(isinstance(g, bytes), "MESSAGE %d: expected BINARY, got TEXT %r" % (i, g))
                topic = v1_parse(g)[0]
                check(topic in got, "MESSAGE %d: topic %r" % (i, topic))
                k = len(got[topic])
                e = want[topic][k]
                if g != e:
                    raise Fail("%s MESSAGE %d: expected %s, got %s (parsed: %r)"
                               % (topic, k, e.hex(), g.hex(), v1_parse(g)))
                got[topic].append(g)
            # a plain publisher's messages reach v1 subscribers in the envelope, flag from opcode
            await p2.send("from-plain")
            await p2.send(b"\x01\x02")
            expect_eq(v1_parse(await recv(s1, "plain TEXT in envelope")),
                      ("py.b", 101, True, b"from-plain"), "plain TEXT publish, as seen by v1")
            expect_eq(v1_parse(await recv(s1, "plain BINARY in envelope")),
                      ("py.b", 102, False, b"\x01\x02"), "plain BINARY publish, as seen by v1")
            # a v1 connection's own publish takes a number but does not come back: with another
            # publisher's two, the three take 103..105 (in the order they reach the topic's
            # owner), and s1 gets the two that are not its own
            await s1.send(v1_publish("py.b", b"mine", text=False))
            await s1.send(subscribe_cmd(["py.sync"]))
            expect_eq(await notice(s1, "answer to subscribe py.sync"),
                      {"type": "subscribed", "topics": ["py.sync"]}, "answer to subscribe")
            await p1.send(v1_publish("py.b", b"theirs", text=False))
            await p1.send(v1_publish("py.b", b"after", text=False))
            a = v1_parse(await recv(s1, "message after our own"))
            b = v1_parse(await recv(s1, "the next one"))
            expect_eq((a[3], b[3]), (b"theirs", b"after"), "the other publisher's two, in order")
            check(a[1] < b[1] and {a[1], b[1]} < {103, 104, 105},
                  "our own publish took one of 103..105 and did not come back: got %d and %d"
                  % (a[1], b[1]))
            # refused commands that are notices only: the connection stays usable
            await s1.send(subscribe_cmd(["bad topic"]))
            n = await notice(s1, "answer to a bad topic")
            expect_eq((n.get("type"), n.get("code")), ("error", "bad_topic"), "notice %r" % n)
            await s1.send(subscribe_cmd(["t%d" % i for i in range(65)]))
            n = await notice(s1, "answer to 65 topics")
            expect_eq((n.get("type"), n.get("code")), ("error", "too_many_topics"),
                      "notice %r" % n)
            await p1.send(v1_publish("bad topic!", b"x"))
            n = await notice(p1, "answer to a PUBLISH with a bad topic")
            expect_eq((n.get("type"), n.get("code")), ("error", "bad_topic"), "notice %r" % n)
            # unsubscribe: no py.c message after the notice
            await s1.send(subscribe_cmd(["py.c"], op="unsubscribe"))
            expect_eq(await notice(s1, "answer to unsubscribe"),
                      {"type": "unsubscribed", "topics": ["py.c"]}, "answer to unsubscribe")
            await p1.send(v1_publish("py.c", b"gone"))
            await p1.send(v1_publish("py.b", b"still"))
            expect_eq(v1_parse(await recv(s1, "py.b after unsubscribing py.c")),
                      ("py.b", 106, False, b"still"), "the next message (py.c is unsubscribed)")
            await nothing(s1, "after the last message")
            await nothing(p1, "v1 publisher (never its own messages)")

    run(main())


@suite.case(timeout=60)
def fatal_errors(ctx):
    """What closes a connection: a plain client that sends data without publish= (4002), a v1
    client that keeps sending what it cannot send (4002 at the 16th refusal in a row)."""
    srv = ctx.server()

    async def plain(send):
        async with connect(srv, "?topics=x") as ws:
            await ws.send(send)
            got = await closed_with(ws, 4002, "after sending %r" % (send[:30],))
            expect_eq(got, [], "messages before the close of a plain client (no notices)")

    async def abuse():
        async with connect(srv, "", subprotocols=V1) as ws:
            # 15 refused, then a valid command: the count starts again
            for i in range(15):
                await ws.send("{nope")
                expect_eq((await notice(ws, "refusal %d" % i)).get("code"), "bad_json",
                          "refusal %d" % i)
            await ws.send(json.dumps({"op": "subscribe", "topics": ["ab.x"], "id": 1}))
            expect_eq(await notice(ws, "the valid command"),
                      {"type": "subscribed", "topics": ["ab.x"], "id": 1}, "the valid command")
            for i in range(15):
                await ws.send(b"\x07")
                expect_eq((await notice(ws, "refusal %d" % i)).get("code"), "unknown_kind",
                          "second run, refusal %d" % i)
            await ws.send('{"id":"last","op":"subscribe","topics":["a b"]}')
            got = await closed_with(ws, 4002, "the 16th refusal in a row")
            check(len(got) == 1 and json.loads(got[0]).get("code") == "bad_topic" and
                  json.loads(got[0]).get("id") == "last",
                  "the 16th refusal: its error notice (with its id) before the close, got %r" % got)

    async def main():
        await plain("hello")                     # plain, no publish=
        await plain(b"\x00")
        await abuse()

    run(main())


@suite.case(timeout=60)
def refused_not_fatal(ctx):
    """A command or PUBLISH that is refused gets an error notice (with the command's id when it
    had one and the parser got to it) and the connection goes on: the next command works."""
    srv = ctx.server()

    async def one(query, send, notice_code, want_id=None):
        async with connect(srv, query, subprotocols=V1) as ws:
            if "topics=" in query:
                await notice(ws, "subscribed notice")
            await ws.send(send)
            n = await notice(ws, "after sending %r" % (send[:30],))
            expect_eq(n.get("type"), "error", "after sending %r: notice type" % (send[:30],))
            expect_eq(n.get("code"), notice_code, "after sending %r: code" % (send[:30],))
            expect_eq(n.get("id"), want_id, "after sending %r: the request id" % (send[:30],))
            await ws.send(json.dumps({"op": "subscribe", "topics": ["still.open"], "id": "next"}))
            expect_eq(await notice(ws, "the next command"),
                      {"type": "subscribed", "topics": ["still.open"], "id": "next"},
                      "after sending %r: the next command" % (send[:30],))

    async def main():
        await one("", "{nope", "bad_json")
        await one("", '{"op":"subscribe","topics":["a"],"x":1}', "bad_command")
        await one("", '{"id":5,"op":"subscribe","topics":["a"],"x":1}', "bad_command", 5)
        await one("", '{"op":"dance","topics":["a"],"id":"d"}', "bad_command")  # op first: no id
        await one("", '{"id":"d","op":"dance","topics":["a"]}', "bad_command", "d")
        await one("", '{"id":"x","op":"subscribe","topics":["a b"]}', "bad_topic", "x")
        await one("", '{"id":-1,"op":"subscribe","topics":["a"]}', "bad_command")
        await one("", b"\x07abc", "unknown_kind")
        await one("", b"", "bad_publish")
        await one("", b"\x01\x02\x01a" + bytes(8), "bad_publish")   # reserved flag
        await one("", b"\x01\x01\x01a" + bytes(8) + b"\xff", "bad_publish")
        await one("?topics=y", "{}", "bad_command")

    run(main())


@suite.case(timeout=60)
def request_ids(ctx):
    """Every answer to a command carries the command's id, as sent: integers and strings."""
    srv = ctx.server()

    async def main():
        async with connect(srv, "?topics=r.a", subprotocols=V1) as ws:
            expect_eq(await notice(ws, "subscribed notice"),
                      {"type": "subscribed", "topics": ["r.a"]}, "the URL's topics: no id")
            await ws.send('{"op":"subscribe","topics":["r.b"],"id":9007199254740991}')
            expect_eq(await notice(ws, "subscribe"),
                      {"type": "subscribed", "topics": ["r.b"], "id": 9007199254740991},
                      "an integer id")
            await ws.send('{"id" : "r-2 {x}", "op":"unsubscribe","topics":["r.b","r.zz"]}')
            expect_eq(await notice(ws, "not_subscribed"),
                      {"type": "error", "code": "not_subscribed",
                       "message": "not subscribed to r.zz", "id": "r-2 {x}"}, "error notice")
            expect_eq(await notice(ws, "unsubscribed"),
                      {"type": "unsubscribed", "topics": ["r.b"], "id": "r-2 {x}"},
                      "a string id")
            await ws.send(subscribe_cmd(["r.c"]))
            expect_eq(await notice(ws, "no id"), {"type": "subscribed", "topics": ["r.c"]},
                      "a command without an id: an answer without one")

    run(main())


@suite.case(timeout=60)
def publish_token(ctx):
    srv = ctx.server("--publish-token", "s3cret")

    async def main():
        async with connect(srv, "?topics=tok", subprotocols=V1) as sub:
            await notice(sub, "subscribed notice")
            # subscribing needs no token; publishing does
            async with connect(srv, "?publish=tok") as p:
                await p.send("no token")
                await closed_with(p, 4001, "plain publish without a token")
            async with connect(srv, "?publish=tok&token=nope") as p:
                await p.send("bad token")
                await closed_with(p, 4001, "plain publish with a wrong token")
            async with connect(srv, "", subprotocols=V1,
                               extra_headers={"Authorization": "Bearer wrong"}) as p:
                await p.send(v1_publish("tok", b"x"))
                got = await closed_with(p, 4001, "v1 PUBLISH with a wrong token")
                check(got and json.loads(got[0]).get("code") == "unauthorized",
                      "v1 PUBLISH with a wrong token: expected an unauthorized notice first, "
                      "got %r" % got)
            async with connect(srv, "?publish=tok&token=s3cret") as p:
                await p.send("good-1")
            async with connect(srv, "", subprotocols=V1,
                               extra_headers={"Authorization": "bearer   s3cret"}) as p:
                await p.send(v1_publish("tok", b"good-2", text=True))
            async with connect(srv, "?token=s3cret", subprotocols=V1,
                               extra_headers={"Authorization": "Bearer s3cret"}) as p:
                await p.send(v1_publish("tok", b"good-3", text=True))
            got = [v1_parse(await recv(sub, "authorized message %d" % i))[3] for i in range(3)]
            expect_eq(got, [b"good-1", b"good-2", b"good-3"],
                      "messages of the authorized publishers, in order")
            await nothing(sub, "after the authorized messages (the refused ones must not "
                          "have been published)")

    run(main())


@suite.case(timeout=60)
def limits_and_invalid_data(ctx):
    srv = ctx.server("--message-max-bytes", "1024")

    async def main():
        async with connect(srv, "?topics=lim", subprotocols=V1) as sub:
            await notice(sub, "subscribed notice")
            async with connect(srv, "?publish=lim") as p:
                await p.send("a" * 1024)                              # at the limit: fine
                await p.send("b" * 1025)
                await closed_with(p, 1009, "a 1025-byte message with --message-max-bytes 1024")
            m = v1_parse(await recv(sub, "the 1024-byte message"))
            expect_eq((m[0], len(m[3])), ("lim", 1024), "message at the limit")
            await nothing(sub, "after the refused message")

    run(main())
    # what a library will not send: raw frames
    ws = RawWS.connect(srv.port, "/ws?publish=lim")
    ws.send_frame(OP_TEXT, b"\xff\xfe")
    op, p = ws.recv_message(t(5))
    expect_eq((op, p[:2]), (OP_CLOSE, struct.pack("!H", 1007)),
              "close code after a TEXT message that is not UTF-8")
    ws.close()
    ws = RawWS.connect(srv.port, "/ws?publish=lim")
    ws.send_frame(OP_TEXT, b"x", masked=False)
    op, p = ws.recv_message(t(5))
    expect_eq((op, p[:2]), (OP_CLOSE, struct.pack("!H", 1002)),
              "close code after an unmasked client frame")
    ws.close()


if __name__ == "__main__":
    suite.main()
