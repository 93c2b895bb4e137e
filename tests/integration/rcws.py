"""A WebSocket client of our own, for tests that need control a library does not give (timing,
half-sent frames, resets, thousands of connections).

    ws = RawWS(srv.port, "/ws?topics=a")      # connects, handshakes, checks Sec-WebSocket-Accept
    ws.send_frame(0x2, b"payload")            # masked, as a client must
    f = ws.recv_frame(timeout=t(5))           # rejects anything RFC 6455 forbids a server to send

  * The handshake: new_key(), accept_for(), upgrade_request().
  * Frames: encode_frame() (masked or not, any flags), parse_frame(), close_payload(), Frame.
  * RawWS: one blocking connection; Peer, pump() and pump_until(): many non-blocking ones driven
    together with select().
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import struct
import time

from rcbase import Fail, t
from rcserver import HttpAnswer


# ------------------------------------------------------------------------------------------------
# WebSocket: handshake and frames

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
OP_NAMES = {0: "CONT", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def upgrade_request(path: str, key: str, protocols=None, headers=(), host: str = "127.0.0.1",
                    method: str = "GET", version: str = "HTTP/1.1") -> bytes:
    lines = ["%s %s %s" % (method, path, version), "Host: %s" % host, "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key, "Sec-WebSocket-Version: 13"]
    if protocols:
        lines.append("Sec-WebSocket-Protocol: %s" % ", ".join(protocols))
    lines += ["%s: %s" % h for h in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def mask_bytes(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def encode_frame(opcode: int, payload: bytes = b"", fin: bool = True, masked: bool = True,
                 rsv: int = 0, key: bytes | None = None) -> bytes:
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if masked else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if not masked:
        return hdr + payload
    key = key if key is not None else os.urandom(4)
    return hdr + key + mask_bytes(payload, key)


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "payload")

    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = fin, rsv, opcode, payload

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self):
        extra = " code=%s" % self.close_code if self.opcode == OP_CLOSE else ""
        p = self.payload if len(self.payload) <= 60 else self.payload[:60] + b"..."
        return "<%s%s fin=%d len=%d %r>" % (OP_NAMES.get(self.opcode, self.opcode), extra,
                                            self.fin, len(self.payload), p)


class ProtocolViolation(Fail):
    pass


def parse_frame(buf, pos: int = 0):
    """One server frame at buf[pos:]: (Frame, new pos), or None if incomplete. Raises
    ProtocolViolation for what RFC 6455 forbids a server to send (mask bit, non-minimal length,
    bad control frame, reserved opcode)."""
    avail = len(buf) - pos
    if avail < 2:
        return None
    b0, b1 = buf[pos], buf[pos + 1]
    fin, rsv, op = b0 >> 7, (b0 >> 4) & 7, b0 & 15
    if b1 & 0x80:
        raise ProtocolViolation("server sent a masked frame (RFC 6455 5.1)")
    n = b1 & 0x7F
    h = 2
    if n == 126:
        if avail < 4:
            return None
        n = struct.unpack_from("!H", buf, pos + 2)[0]
        h = 4
        if n < 126:
            raise ProtocolViolation("non-minimal 16-bit length %d" % n)
    elif n == 127:
        if avail < 10:
            return None
        n = struct.unpack_from("!Q", buf, pos + 2)[0]
        h = 10
        if n < 65536:
            raise ProtocolViolation("non-minimal 64-bit length %d" % n)
    if rsv:
        raise ProtocolViolation("server frame with RSV bits %d (no extension negotiated)" % rsv)
    if op not in OP_NAMES:
        raise ProtocolViolation("server frame with reserved opcode %d" % op)
    if op >= 8 and (not fin or n > 125):
        raise ProtocolViolation("bad control frame from the server (fin=%d len=%d)" % (fin, n))
    if avail < h + n:
        return None
    return Frame(fin, rsv, op, bytes(buf[pos + h:pos + h + n])), pos + h + n


class WSClosed(Fail):
    """The TCP connection ended (EOF or reset) while a frame was expected."""


class HandshakeRefused(Fail):
    def __init__(self, answer: HttpAnswer, what: str):
        super().__init__(what)
        self.answer = answer


class RawWS:
    """A WebSocket client on a blocking socket, frame by frame."""

    def __init__(self, sock, buf: bytes, subprotocol, answer):
        self.sock = sock
        self.buf = bytearray(buf)
        self.subprotocol = subprotocol
        self.answer = answer
        self.t_open = time.monotonic()

    @classmethod
    def connect(cls, port: int, path: str = "/ws", protocols=None, headers=(),
                rcvbuf: int | None = None, timeout: float = 5.0, chunked: bool = False) -> "RawWS":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(t(timeout))
        try:
            s.connect(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            key = new_key()
            req = upgrade_request(path, key, protocols, headers)
            if chunked:
                for i in range(len(req)):
                    s.send(req[i:i + 1])
            else:
                s.sendall(req)
            raw = b""
            while b"\r\n\r\n" not in raw:
                d = s.recv(65536)
                if not d:
                    break
                raw += d
        except OSError as e:
            s.close()
            raise Fail("WebSocket handshake to %s: %s: %s" % (path, e.__class__.__name__, e))
        head, _, rest = raw.partition(b"\r\n\r\n")
        ans = HttpAnswer(head + b"\r\n\r\n", False, None)
        if ans.status != 101:
            ans.body = rest
            s.close()
            raise HandshakeRefused(ans, "handshake %s: expected 101, got %s" % (path, ans.summary()))
        if ans.header("sec-websocket-accept") != accept_for(key):
            s.close()
            raise Fail("handshake %s: Sec-WebSocket-Accept %r, expected %r"
                       % (path, ans.header("sec-websocket-accept"), accept_for(key)))
        if (ans.header("upgrade") or "").lower() != "websocket" or \
                "upgrade" not in (ans.header("connection") or "").lower():
            s.close()
            raise Fail("handshake %s: 101 without Upgrade: websocket / Connection: Upgrade: %s"
                       % (path, ans.summary()))
        proto = ans.header("sec-websocket-protocol")
        if proto is not None and proto not in (protocols or ()):
            s.close()
            raise Fail("handshake %s: server chose subprotocol %r, offered %r"
                       % (path, proto, protocols))
        return cls(s, rest, proto, ans)

    # -- sending

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes = b"", **kw):
        self.sock.sendall(encode_frame(opcode, payload, **kw))

    def send_text(self, s):
        self.send_frame(OP_TEXT, s.encode() if isinstance(s, str) else s)

    def send_binary(self, b: bytes):
        self.send_frame(OP_BINARY, b)

    def send_close(self, code: int | None = 1000, reason: bytes = b""):
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    # -- receiving

    def _fill(self, timeout: float) -> bool:
        """Read more bytes into buf. False on timeout; WSClosed on EOF/reset."""
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not r:
            return False
        try:
            d = self.sock.recv(1 << 20)
        except ConnectionResetError:
            raise WSClosed("connection reset by the server")
        except OSError as e:
            raise WSClosed("socket error %s" % e)
        if not d:
            raise WSClosed("connection closed by the server (EOF)")
        self.buf += d
        return True

    def recv_frame(self, timeout: float = 5.0) -> Frame | None:
        """The next frame, or None if none arrives within timeout (seconds, not scaled here)."""
        deadline = time.monotonic() + timeout
        while True:
            r = parse_frame(self.buf)
            if r is not None:
                fr, n = r
                del self.buf[:n]
                return fr
            left = deadline - time.monotonic()
            if left <= 0 or not self._fill(left):
                return None

    def expect_frame(self, timeout: float, what: str) -> Frame:
        try:
            fr = self.recv_frame(timeout)
        except WSClosed as e:
            raise Fail("%s: the connection ended instead (%s)" % (what, e))
        if fr is None:
            raise Fail("%s: nothing arrived within %.1fs" % (what, timeout))
        return fr

    def recv_message(self, timeout: float = 5.0, pong: bool = True):
        """The next data message (opcode, payload), answering pings; a close frame is returned as
        (OP_CLOSE, payload); None on timeout."""
        deadline = time.monotonic() + timeout
        parts, op = [], None
        while True:
            fr = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if fr is None:
                return None
            if fr.opcode == OP_PING:
                if pong:
                    self.send_frame(OP_PONG, fr.payload)
                continue
            if fr.opcode == OP_PONG:
                continue
            if fr.opcode == OP_CLOSE:
                return OP_CLOSE, fr.payload
            if fr.opcode == OP_CONT:
                if op is None:
                    raise ProtocolViolation("continuation frame with no message started")
            else:
                if op is not None:
                    raise ProtocolViolation("new data frame inside a fragmented message")
                op = fr.opcode
            parts.append(fr.payload)
            if fr.fin:
                return op, b"".join(parts)

    def wait_eof(self, timeout: float) -> str | None:
        """Read (and discard frames) until the server closes TCP: returns 'eof' or 'reset', or None
        if the connection is still open after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                r, _, _ = select.select([self.sock], [], [], left)
                if not r:
                    return None
                d = self.sock.recv(1 << 20)
            except ConnectionResetError:
                return "reset"
            except OSError:
                return "reset"
            if not d:
                return "eof"

    def close_handshake(self, code: int = 1000, timeout: float = 5.0) -> Frame:
        """Send our close, read to the server's close, then expect it to close TCP."""
        self.send_close(code)
        while True:
            fr = self.expect_frame(timeout, "close frame in answer to ours")
            if fr.opcode == OP_CLOSE:
                break
        if self.wait_eof(timeout) is None:
            raise Fail("server did not close TCP within %.1fs after the closing handshake"
                       % timeout)
        self.close()
        return fr

    def linger0(self):
        """Close with SO_LINGER 0: the kernel sends RST."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Peer:
    """A RawWS switched to non-blocking, read by pump(): collects whole data messages in
    .messages as (opcode, payload) (answering pings), the close frame in .close_frame, and how the
    TCP connection ended in .ended. Subclass and override on_message to check as they come."""

    def __init__(self, ws: RawWS, name: str = ""):
        self.ws = ws
        self.sock = ws.sock
        self.sock.setblocking(False)
        self.name = name
        self.buf = ws.buf
        self.messages = []
        self.close_frame = None
        self.ended = None
        self._op = None
        self._parts = []
        self.nbytes = 0
        self.answer_close = False   # echo the server's close code back (then it closes TCP)

    def fileno(self):
        return self.sock.fileno()

    def on_message(self, op: int, payload: bytes):
        self.messages.append((op, payload))

    def feed(self):
        pos = 0
        while True:
            r = parse_frame(self.buf, pos)
            if r is None:
                break
            fr, pos = r
            if fr.opcode == OP_PING:
                self.sock.setblocking(True)
                self.sock.sendall(encode_frame(OP_PONG, fr.payload))
                self.sock.setblocking(False)
            elif fr.opcode == OP_PONG:
                pass
            elif fr.opcode == OP_CLOSE:
                if self.close_frame is None:
                    self.close_frame = fr
                    if self.answer_close:
                        try:
                            self.send(encode_frame(OP_CLOSE, fr.payload[:2]))
                        except OSError:
                            pass
            else:
                if self.close_frame is not None:
                    raise ProtocolViolation("%s: data frame after the server's close frame"
                                            % self.name)
                if fr.opcode != OP_CONT:
                    if self._op is not None:
                        raise ProtocolViolation("%s: data frame inside a fragmented message"
                                                % self.name)
                    self._op = fr.opcode
                elif self._op is None:
                    raise ProtocolViolation("%s: continuation with no message" % self.name)
                self._parts.append(fr.payload)
                if fr.fin:
                    op, payload = self._op, b"".join(self._parts)
                    self._op, self._parts = None, []
                    self.on_message(op, payload)
        if pos:
            del self.buf[:pos]

    def read(self) -> bool:
        """Read what is there. False once the connection has ended."""
        if self.ended:
            return False
        try:
            d = self.sock.recv(1 << 20)
        except BlockingIOError:
            return True
        except OSError as e:
            self.ended = "reset" if isinstance(e, ConnectionResetError) else str(e)
            return False
        if not d:
            self.ended = "eof"
            return False
        self.nbytes += len(d)
        self.buf += d
        self.feed()
        return True

    def send(self, data: bytes):
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def close(self):
        self.ws.close()


def pump(peers, timeout: float):
    """One select round of at most timeout seconds: read from every peer that has data. Returns
    the number of peers read."""
    for p in peers:
        if p.buf:                      # bytes that came with the 101, or left by a RawWS read
            p.feed()
    live = [p for p in peers if not p.ended]
    if not live:
        time.sleep(min(timeout, 0.01))
        return 0
    r, _, _ = select.select(live, [], [], timeout)
    for p in r:
        p.read()
    return len(r)


def pump_until(peers, pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not pred():
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail("%s: not reached within %.1fs" % (what, timeout))
        pump(peers, min(left, 0.05))
