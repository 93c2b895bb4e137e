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
from rcv1 import v1_publish, v1_parse, subscribe_cmd
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
    return json.loads(m)


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
            for i, e in enumerate(expect):
                g = await recv(s1, "MESSAGE %d" % i)
                check(isinstance(g, bytes), "MESSAGE %d: expected BINARY, got TEXT %r" % (i, g))
                if g != e:
                    raise Fail("MESSAGE %d: expected %s, got %s (parsed: %r)"
                               % (i, e.hex(), g.hex(), v1_parse(g)))
            # a plain publisher's messages reach v1 subscribers in the envelope, flag from opcode
            await p2.send("from-plain")
            await p2.send(b"\x01\x02")
            expect_eq(v1_parse(await recv(s1, "plain TEXT in envelope")),
                      ("py.b", 101, True, b"from-plain"), "plain TEXT publish, as seen by v1")
            expect_eq(v1_parse(await recv(s1, "plain BINARY in envelope")),
                      ("py.b", 102, False, b"\x01\x02"), "plain BINARY publish, as seen by v1")
            # a v1 connection's own publish takes a number but does not come back
            await s1.send(v1_publish("py.b", b"mine", text=False))
            # one connection's messages are handled in order: once this is answered, "mine" has
            # taken its number (103) and "theirs" can only come after
            await s1.send(subscribe_cmd(["py.sync"]))
            expect_eq(await notice(s1, "answer to subscribe py.sync"),
                      {"type": "subscribed", "topics": ["py.sync"]}, "answer to subscribe")
            await p1.send(v1_publish("py.b", b"theirs", text=False))
            expect_eq(v1_parse(await recv(s1, "message after our own")),
                      ("py.b", 104, False, b"theirs"),
                      "message after our own publish (103 was ours: a gap of exactly 1)")
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
                      ("py.b", 105, False, b"still"), "the next message (py.c is unsubscribed)")
            await nothing(s1, "after the last message")
            await nothing(p1, "v1 publisher (never its own messages)")

    run(main())


@suite.case(timeout=60)
def fatal_errors(ctx):
    srv = ctx.server()

    async def one(query, send, code, notice_code, subprotocols=None):
        async with connect(srv, query, subprotocols=subprotocols) as ws:
            if subprotocols:
                if "topics=" in query:
                    await notice(ws, "subscribed notice")
            await ws.send(send)
            got = await closed_with(ws, code, "after sending %r" % (send[:30],))
            if notice_code:
                check(got and isinstance(got[0], str) and
                      json.loads(got[0]).get("code") == notice_code,
                      "after sending %r: expected an error notice %s before the close, got %r"
                      % (send[:30], notice_code, got))
            else:
                expect_eq(got, [], "messages before the close of a plain client (no notices)")

    async def main():
        await one("?topics=x", "hello", 4002, None)                     # plain, no publish=
        await one("?topics=x", b"\x00", 4002, None)
        await one("", "{nope", 4002, "bad_json", V1)
        await one("", '{"op":"subscribe","topics":["a"],"x":1}', 4002, "bad_command", V1)
        await one("", '{"op":"dance","topics":["a"]}', 4002, "bad_command", V1)
        await one("", b"\x07abc", 4002, "unknown_kind", V1)
        await one("", b"", 4002, "bad_publish", V1)
        await one("", b"\x01\x02\x01a" + bytes(8), 4002, "bad_publish", V1)   # reserved flag
        await one("", b"\x01\x01\x01a" + bytes(8) + b"\xff", 4002, "bad_publish", V1)
        await one("?topics=y", "{}", 4002, "bad_command", V1)

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
