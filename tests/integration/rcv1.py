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
    if flags & ~1:
        raise Fail("MESSAGE with reserved flag bits 0x%02x" % flags)
    if len(b) < 11 + n:
        raise Fail("MESSAGE shorter than its header: %r" % b[:40])
    topic = b[3:3 + n].decode("latin-1")
    (seq,) = struct.unpack_from("!Q", b, 3 + n)
    return topic, seq, bool(flags & 1), b[11 + n:]


def subscribe_cmd(topics, op: str = "subscribe") -> str:
    return json.dumps({"op": op, "topics": list(topics)})
