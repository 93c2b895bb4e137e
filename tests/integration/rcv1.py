"""The ringcast.v1 application protocol, client side (docs/protocol.md): the binary PUBLISH, the
MESSAGE the server sends, and the subscribe/unsubscribe commands.

    frame = v1_publish("BTC-USD", b"quote")
    topic, seq, text, payload = v1_parse(message)
    ws.send_frame(0x1, subscribe_cmd(["a", "b"]).encode())
"""

from __future__ import annotations

import json
import struct

from rcbase import Fail


# ------------------------------------------------------------------------------------------------
# ringcast.v1

def v1_publish(topic: str, payload: bytes, text: bool = False, seq: int = 0) -> bytes:
    tb = topic.encode()
    return struct.pack("!BBB", 1, 1 if text else 0, len(tb)) + tb + struct.pack("!Q", seq) + payload


def v1_parse(b: bytes):
    """(topic, seq, text, payload) of a MESSAGE; Fail if it is not one."""
    if len(b) < 11 or b[0] != 1:
        raise Fail("not a ringcast.v1 MESSAGE (kind %r, %d bytes): %r" % (b[:1], len(b), b[:40]))
    flags, n = b[1], b[2]
    if flags & ~3:
        raise Fail("MESSAGE with reserved flag bits 0x%02x" % flags)
    if len(b) < 11 + n:
        raise Fail("MESSAGE shorter than its header: %r" % b[:40])
    topic = b[3:3 + n].decode("latin-1")
    (seq,) = struct.unpack_from("!Q", b, 3 + n)
    return topic, seq, bool(flags & 1), b[11 + n:]


def v1_retained(b: bytes) -> bool:
    """Is this MESSAGE a retained one (flag bit 1: from history, not live)?"""
    return bool(b[1] & 2)


def notice_core(n: dict) -> dict:
    """A notice without the positions of a subscribed notice, once they are checked to be well
    formed (one per topic, an epoch of 16 lowercase hex digits, a number): for tests that compare
    notices whole and do not care where the topics stood."""
    if n.get("type") != "subscribed" or "positions" not in n:
        return n
    pos = n["positions"]
    if not isinstance(pos, list) or len(pos) != len(n.get("topics", [])):
        raise Fail("subscribed notice: not one position per topic: %r" % n)
    for p in pos:
        e = p.get("epoch")
        if set(p) != {"epoch", "seq"} or not isinstance(e, str) or len(e) != 16 or \
                e.strip("0123456789abcdef") or not isinstance(p["seq"], int) or p["seq"] < 0:
            raise Fail("subscribed notice: a malformed position %r in %r" % (p, n))
    return {k: v for k, v in n.items() if k != "positions"}


def subscribe_cmd(topics, op: str = "subscribe") -> str:
    return json.dumps({"op": op, "topics": list(topics)})
