#!/usr/bin/env python3
"""ringcast RFC 6455 conformance suite (Python 3.11 standard library only).

Reproduces the behaviour checks of the Autobahn|Testsuite "fuzzingclient" sections 1-7 and 9
(framing, pings/pongs, reserved bits, opcodes, fragmentation, UTF-8, close handling,
limits/performance), with Autobahn's case numbering and verdict rules, plus our own opening
handshake cases (section 0), against an echo endpoint (every message sent back as received).

It is our own code: a raw TCP client with its own handshake, its own frame encoder (masked, or
deliberately broken), its own frame decoder and close-handshake state machine, so that it can send
invalid frames, split frames at chosen byte offsets with pauses between the pieces (Autobahn's
"chops"), and observe exactly what the server sends back and when it closes the TCP connection.

    python3 tests/integration/conformance.py --url ws://127.0.0.1:PORT/echo \
        [--cases 1.*,5.1] [--list] [--max-message BYTES] [--json FILE]

One line per case (id, verdict, short reason), then exactly one summary line
"conformance: N passed, M failed" (plus ", K skipped" when K > 0). Exit status 0 iff no case FAILED.

How a case is judged (Autobahn's rules, see its case/case.py):

  * Every event the server produces is recorded in order: ("message", payload, is_binary),
    ("pong", payload), ("ping", payload), plus ("timeout", tag) markers some cases insert. The case
    lists the acceptable event lists per outcome (OK, NON-STRICT, ...); the first list equal to what
    was received gives the case's behaviour, none gives FAILED.
  * The close is judged separately (Autobahn's second column): who started the closing handshake
    (closed_by_me: we sent a close frame before receiving one), whether the closing handshake was
    clean (close frames both ways and the *server* closed the TCP connection), the server's close
    code against the allowed set, and whether we had to drop the TCP connection ourselves.
    Timeouts as Autobahn's defaults: 1 s for the answer to our close frame, 1 s for the server to
    close TCP after the closing handshake (--close-timeout).
  * Final verdict, one per case:
      - anything the server sent that breaks RFC 6455 (masked frame, RSV bits, reserved opcode,
        bad control frame, bad close payload, invalid UTF-8 in a text message or close reason,
        frames after its close frame, non-minimal length) -> FAILED;
      - behaviour FAILED -> FAILED;
      - close "wrong endpoint" or "unclean where the spec requires clean" -> FAILED;
      - close code outside the allowed set -> NON-STRICT (Autobahn colours it non-strict), except
        in section 7 where, as in Autobahn, a wrong close code fails the case;
      - we had to drop the TCP connection ("FAILED BY CLIENT"): NON-STRICT if the server had sent
        its close frame (it only failed to close TCP itself, a SHOULD), FAILED if the server never
        sent a close frame nor closed the connection (it did not fail the connection at all);
      - otherwise the behaviour (OK, NON-STRICT, INFORMATIONAL).
    OK, NON-STRICT and INFORMATIONAL count as passed, UNIMPLEMENTED as skipped, FAILED as failed.

Deliberate differences from Autobahn, all stricter or clearer, none looser:
  * 9.x echoes are compared byte for byte (Autobahn checks only the length).
  * Case 3.6 sends what its description says (a Ping with RSV = 6); Autobahn's code sends a
    binary frame there, which 3.5 already covers.
  * --max-message N: a case whose message payload is longer than N bytes (1.x, 9.x) expects the
    server to fail the connection with close 1009 instead of an echo (another code: NON-STRICT).
  * 9.x durations are printed for information; they never decide a verdict. Sizes are Autobahn's
    (up to 16 MiB), the per-case wait is --timeout instead of Autobahn's 10-1000 s. The 9.5/9.6
    chops are separate send() calls without the --chop-delay pause (16384 of them in 9.5.1).
  * A case whose events can no longer match any expected list (they only accumulate) is stopped
    at once instead of waiting for its timers; the verdict is the same, FAILED.
  * Every wait is bounded: --timeout per case (default 10 s), --global-timeout for the run.
"""

from __future__ import annotations

import argparse
import base64
import collections
import fnmatch
import hashlib
import heapq
import itertools
import json
import os
import selectors
import socket
import ssl
import struct
import sys
import time
from urllib.parse import urlsplit

# --------------------------------------------------------------------------------------------
# constants

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OK = "OK"
NON_STRICT = "NON-STRICT"
INFORMATIONAL = "INFORMATIONAL"
UNIMPLEMENTED = "UNIMPLEMENTED"
FAILED = "FAILED"
PASSED_VERDICTS = (OK, NON_STRICT, INFORMATIONAL)

# close behaviour (Autobahn's close column)
CB_OK = "OK"
CB_WRONG_CODE = "WRONG CODE"
CB_UNCLEAN = "UNCLEAN"
CB_FAILED_BY_CLIENT = "FAILED BY CLIENT"
CB_FAILED = "FAILED"
CB_INFORMATIONAL = "INFORMATIONAL"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_TOO_BIG = 1009

OPEN, CLOSING, CLOSED = "OPEN", "CLOSING", "CLOSED"

KIB = 1024
MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# small helpers

def accept_for(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def is_utf8(data: bytes) -> bool:
    # Python's strict decoder is RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF.
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def close_code_on_wire_ok(code: int) -> bool:
    """Codes an endpoint may put in a close frame (RFC 6455 7.4, IANA registry)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def repeat_to(pattern: bytes, n: int) -> bytes:
    return (pattern * (n // len(pattern) + 1))[:n]


def xor_mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b""
    stream = (key * ((n + 3) // 4))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def build_frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0,
                masked: bool = True, key: bytes | None = None) -> bytes:
    """Encode one frame exactly as told (any opcode, any RSV bits, any length)."""
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if masked else 0
    n = len(payload)
    if n <= 125:
        head = bytes((b0, mbit | n))
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not masked:
        return head + payload
    if key is None:
        key = os.urandom(4)
    return head + key + xor_mask(payload, key)


def fmt_event(ev) -> str:
    kind = ev[0]
    if kind == "message":
        return "%s(%dB)" % ("binary" if ev[2] else "text", len(ev[1]))
    if kind in ("ping", "pong"):
        return "%s(%dB)" % (kind, len(ev[1]))
    return "%s(%s)" % (kind, ev[1])


def fmt_events(evs) -> str:
    shown = [fmt_event(e) for e in evs[:6]]
    if len(evs) > 6:
        shown.append("... %d in all" % len(evs))
    return "[" + ", ".join(shown) + "]"


class Violation(Exception):
    """The server sent something RFC 6455 forbids."""


# --------------------------------------------------------------------------------------------
# options

# A non-blocking socket with nothing to do now; over TLS, ssl's own "want" errors (which are not
# BlockingIOError) mean the same.
WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class Opts:
    def __init__(self, a: argparse.Namespace):
        u = urlsplit(a.url)
        if u.scheme not in ("ws", "wss"):
            raise SystemExit("conformance: only ws:// and wss:// URLs are supported (got %r)"
                             % a.url)
        self.url = a.url
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or (443 if u.scheme == "wss" else 80)
        self.tls = None
        if u.scheme == "wss":
            # wss: every connection is wrapped, verified against --ca-file (or the system's CAs)
            self.tls = ssl.create_default_context(cafile=a.ca_file)
        self.path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.route = u.path or "/"
        self.host_header = ("[%s]:%d" if ":" in self.host else "%s:%d") % (self.host, self.port)
        self.timeout = a.timeout
        self.close_timeout = a.close_timeout
        self.chop_delay = a.chop_delay
        self.max_message = a.max_message
        self.verbose = a.verbose
        self.global_deadline = time.monotonic() + a.global_timeout

    def over_limit(self, n: int) -> bool:
        return self.max_message is not None and n > self.max_message


# --------------------------------------------------------------------------------------------
# HTTP upgrade (our own)

def build_request(opts: Opts, key: str | None, *, path: str | None = None, method: str = "GET",
                  version: str = "HTTP/1.1", headers: list | None = None,
                  drop: tuple = (), replace: dict | None = None) -> bytes:
    hdrs = [("Host", opts.host_header), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
    replace = {k.lower(): v for k, v in (replace or {}).items()}
    out = []
    for name, value in hdrs:
        if name.lower() in (d.lower() for d in drop):
            continue
        if name.lower() in replace:
            value = replace[name.lower()]
        if value is None:
            continue
        out.append((name, value))
    out.extend(headers or [])
    lines = ["%s %s %s" % (method, path if path is not None else opts.path, version)]
    lines += ["%s: %s" % (n, v) for n, v in out]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HttpResponse:
    def __init__(self, status: int | None, reason: str, headers: list, rest: bytes, raw: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(lower name, value)]
        self.rest = rest        # bytes after the head (WebSocket data, or an HTTP body)
        self.raw = raw

    def get(self, name: str) -> str | None:
        vals = [v for n, v in self.headers if n == name.lower()]
        return ", ".join(vals) if vals else None

    def tokens(self, name: str) -> list:
        v = self.get(name)
        return [t.strip().lower() for t in v.split(",")] if v else []


def read_http_head(sock: socket.socket, deadline: float) -> HttpResponse:
    buf = b""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete HTTP response head within the time limit")
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            break
        buf += d
        if len(buf) > 262144:
            raise ValueError("HTTP response head larger than 256 KiB")
    if b"\r\n\r\n" not in buf:
        return HttpResponse(None, "connection closed before a complete response head", [], b"", buf)
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = None
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        status = int(parts[1])
    headers = []
    for ln in lines[1:]:
        if ":" in ln:
            n, v = ln.split(":", 1)
            headers.append((n.strip().lower(), v.strip()))
    return HttpResponse(status, parts[2] if len(parts) > 2 else "", headers, rest, buf)


def check_upgrade_response(resp: HttpResponse, key: str, offered_protocols=(),
                           offered_extensions=False) -> str | None:
    """None if resp is a valid 101 for key, else what is wrong (RFC 6455 4.1, client side)."""
    if resp.status != 101:
        return "expected 101, got %s %s" % (resp.status, resp.reason)
    up = resp.get("upgrade")
    if up is None or up.strip().lower() != "websocket":
        return "101 without 'Upgrade: websocket' (got %r)" % up
    if "upgrade" not in resp.tokens("connection"):
        return "101 without 'Connection: Upgrade' (got %r)" % resp.get("connection")
    acc = resp.get("sec-websocket-accept")
    if acc != accept_for(key):
        return "bad Sec-WebSocket-Accept %r (expected %r)" % (acc, accept_for(key))
    ext = resp.get("sec-websocket-extensions")
    if ext is not None and not offered_extensions:
        return "server selected extension %r that was not offered" % ext
    proto = resp.get("sec-websocket-protocol")
    if proto is not None and proto not in offered_protocols:
        return "server selected subprotocol %r that was not offered" % proto
    return None


def tcp_connect(opts: Opts) -> socket.socket:
    sock = socket.create_connection((opts.host, opts.port), timeout=min(5.0, opts.timeout))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if opts.tls is not None:
        sock = opts.tls.wrap_socket(sock, server_hostname=opts.host)
    return sock


def open_websocket(opts: Opts, deadline: float):
    """Connect and upgrade. Returns (sock, leftover bytes) or raises RuntimeError."""
    key = new_key()
    try:
        sock = tcp_connect(opts)
    except OSError as e:
        raise RuntimeError("cannot connect to %s:%d: %s" % (opts.host, opts.port, e))
    try:
        sock.sendall(build_request(opts, key))
        resp = read_http_head(sock, deadline)
    except (OSError, TimeoutError, ValueError) as e:
        sock.close()
        raise RuntimeError("opening handshake: %s" % e)
    err = check_upgrade_response(resp, key)
    if err:
        sock.close()
        raise RuntimeError("opening handshake: " + err)
    return sock, resp.rest


# --------------------------------------------------------------------------------------------
# frame decoder (server -> client)

class FrameReader:
    def __init__(self):
        self.buf = bytearray()

    def feed(self, data: bytes):
        self.buf += data

    def next(self):
        """(fin, rsv, opcode, payload) or None when incomplete; raises Violation."""
        b = self.buf
        if len(b) < 2:
            return None
        b0, b1 = b[0], b[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            if len(b) < 4:
                return None
            n = struct.unpack_from("!H", b, 2)[0]
            pos = 4
            if n < 126:
                raise Violation("server used a 16-bit length for a %d-byte payload "
                                "(must be minimal)" % n)
        elif n == 127:
            if len(b) < 10:
                return None
            n = struct.unpack_from("!Q", b, 2)[0]
            pos = 10
            if n >> 63:
                raise Violation("server frame length with the most significant bit set")
            if n <= 0xFFFF:
                raise Violation("server used a 64-bit length for a %d-byte payload "
                                "(must be minimal)" % n)
        if b1 & 0x80:
            raise Violation("server sent a masked frame (opcode %d)" % (b0 & 0x0F))
        if len(b) < pos + n:
            return None
        payload = bytes(b[pos:pos + n])
        del b[:pos + n]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload


# --------------------------------------------------------------------------------------------
# one WebSocket connection driven by one case

class _Out:
    """Bytes to write with one send() sequence; sync: alone, then a pause (--chop-delay)."""
    __slots__ = ("parts", "sync", "on_sent")

    def __init__(self, parts, sync=False):
        self.parts = parts
        self.sync = sync
        self.on_sent = []


class Session:
    def __init__(self, sock: socket.socket, leftover: bytes, opts: Opts, case):
        self.sock = sock
        self.opts = opts
        self.case = case
        sock.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ)
        self.reader = FrameReader()
        self.state = OPEN
        self.t_open = time.monotonic()
        # sending
        self.outq: collections.deque = collections.deque()
        self.cur = None              # [memoryview, offset, _Out]
        self.not_before = 0.0
        self.tx_total = 0            # bytes handed to the kernel
        self.enq_total = 0           # bytes ever queued
        self.frame_ends = collections.deque()  # absolute offsets where queued frames end
        self.tx_dead = False
        self.tx_error = None
        self.chop_delay = opts.chop_delay
        # timers
        self.timers = []
        self._seq = itertools.count()
        # receiving / close state
        self.frag = None
        self.closed_by_me = False
        self.sent_close = False
        self.got_close = False
        self.remote_close_code = None
        self.remote_close_reason = b""
        self.peer_closed_tcp = False
        self.peer_reset = False
        self.dropped_by_me = False
        self.close_handshake_timeout = False
        self.server_drop_timeout = False
        self.timed_out = False
        self.stopped_early = False
        self.violations = []
        self.t_closed = None
        if leftover:
            self.reader.feed(leftover)

    # ---- timers ---------------------------------------------------------------------------
    def at(self, delay: float, fn):
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self._seq), fn))

    def later(self, delay: float, fn):
        """Autobahn continueLater: run fn after delay unless the connection is gone."""
        self.at(delay, lambda: fn() if self.state != CLOSED else None)

    def kill_after(self, delay: float):
        """Autobahn killAfter: drop the TCP connection if it is still there."""
        self.at(delay, lambda: self.drop() if self.state != CLOSED else None)

    def close_after(self, delay: float):
        """Autobahn closeAfter: start the closing handshake if nobody has yet."""
        self.at(delay, lambda: self.send_close(CLOSE_NORMAL) if self.state == OPEN else None)

    # ---- sending --------------------------------------------------------------------------
    def _enqueue(self, data: bytes, sync: bool, frame_end: bool = True) -> _Out | None:
        if not data:
            return None
        if not sync and self.outq and not self.outq[-1].sync:
            item = self.outq[-1]
            item.parts.append(data)
        else:
            item = _Out([data], sync)
            self.outq.append(item)
        self.enq_total += len(data)
        if frame_end:
            self.frame_ends.append(self.enq_total)
        return item

    def send_frame(self, opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0,
                   chopsize: int | None = None, sync: bool = False, masked: bool = True):
        """Queue one frame. chopsize: write it in pieces of that many octets, each its own
        send() with a pause (--chop-delay) after it; sync: write the frame by itself."""
        data = build_frame(opcode, payload, fin, rsv, masked)
        if chopsize:
            self.frame_ends.append(self.enq_total + len(data))
            for i in range(0, len(data), chopsize):
                self._enqueue(data[i:i + chopsize], True, frame_end=False)
        else:
            self._enqueue(data, sync)

    def reserve_frame(self, nbytes: int):
        """The next nbytes queued with send_raw form one frame (sent in parts by the case)."""
        self.frame_ends.append(self.enq_total + nbytes)

    def send_raw(self, data: bytes, sync: bool = True):
        self._enqueue(data, sync, frame_end=False)

    def send_close(self, code: int | None = CLOSE_NORMAL, reason: bytes = b"",
                   raw_payload: bytes | None = None):
        """Start (or answer) the closing handshake, as Autobahn's sendCloseFrame: ignored unless
        the connection is open."""
        if self.state != OPEN:
            return
        if raw_payload is not None:
            payload = raw_payload
        elif code is None:
            payload = b""
        else:
            payload = struct.pack("!H", code) + reason
        self._enqueue(build_frame(OP_CLOSE, payload), False)
        item = self.outq[-1]
        self.state = CLOSING
        self.sent_close = True
        self.closed_by_me = True
        item.on_sent.append(lambda: self.at(self.opts.close_timeout, self._close_handshake_expired))

    def _close_handshake_expired(self):
        if self.state != CLOSED and not self.got_close:
            self.close_handshake_timeout = True
            self.drop()

    def _server_drop_expired(self):
        if self.state != CLOSED:
            self.server_drop_timeout = True
            self.drop()

    def _pending(self) -> bool:
        return self.cur is not None or bool(self.outq)

    def _pump(self):
        while not self.tx_dead and self.state != CLOSED:
            now = time.monotonic()
            if self.cur is None:
                if not self.outq or now < self.not_before:
                    return
                item = self.outq.popleft()
                data = item.parts[0] if len(item.parts) == 1 else b"".join(item.parts)
                self.cur = [memoryview(data), 0, item]
            mv, off, item = self.cur
            try:
                n = self.sock.send(mv[off:off + 4 * MIB])
            except WOULD_BLOCK:
                return
            except OSError as e:
                self.tx_dead = True
                self.tx_error = e.strerror or str(e)
                self.outq.clear()
                self.cur = None
                return
            off += n
            self.tx_total += n
            self.cur[1] = off
            if off < len(mv):
                continue
            self.cur = None
            if item.sync:
                self.not_before = time.monotonic() + self.chop_delay
            for cb in item.on_sent:
                cb()

    def _wants_write(self) -> bool:
        if self.tx_dead:
            return False
        if self.cur is not None:
            return True
        return bool(self.outq) and time.monotonic() >= self.not_before

    def _finish_frame_and_flush(self, tail: bytes | None):
        """Server closed: drop what we have not started to send, but complete the frame that is
        on the wire (with padding if its bytes were never queued) so that `tail` (our close
        reply) lands on a frame boundary."""
        at_boundary = self.tx_total == 0
        while self.frame_ends and self.frame_ends[0] <= self.tx_total:
            if self.frame_ends.popleft() == self.tx_total:
                at_boundary = True
        end = self.tx_total if at_boundary or not self.frame_ends else self.frame_ends[0]
        keep = 0
        if self.cur is not None:
            mv, off, item = self.cur
            item_start = self.tx_total - off
            limit = max(off, min(len(mv), end - item_start))
            self.cur[0] = mv[:limit]
            self.cur[2] = _Out([])  # forget the on_sent callbacks of dropped data
            keep = limit - off
        self.outq.clear()
        self.frame_ends.clear()
        self.not_before = 0.0
        pad = end - self.tx_total - keep
        self.enq_total = self.tx_total + keep
        if pad > 0:
            self._enqueue(b"\0" * pad, False, frame_end=False)
        if tail:
            self._enqueue(tail, False)

    # ---- receiving ------------------------------------------------------------------------
    def _violation(self, msg: str):
        raise Violation(msg)

    def _on_readable(self):
        try:
            data = self.sock.recv(4 * MIB)
            # over TLS, bytes already decrypted wait in the SSL object where select cannot see
            # them: take them all now
            while data and getattr(self.sock, "pending", lambda: 0)() > 0:
                data += self.sock.recv(4 * MIB)
        except WOULD_BLOCK:
            return
        except ConnectionResetError:
            self.peer_reset = True
            data = b""
        except OSError:
            data = b""
        if not data:
            self._peer_closed()
            return
        self.reader.feed(data)
        self._process_buffer()

    def _process_buffer(self):
        try:
            while self.state != CLOSED:
                f = self.reader.next()
                if f is None:
                    break
                self._on_frame(*f)
        except Violation as v:
            self.violations.append(str(v))
            self.drop()

    def _on_frame(self, fin: bool, rsv: int, op: int, payload: bytes):
        if self.got_close:
            self._violation("server sent a frame (opcode %d) after its close frame" % op)
        if rsv:
            self._violation("server frame with RSV bits %d (opcode %d)" % (rsv, op))
        if op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
            self._violation("server frame with reserved opcode %d" % op)
        if op >= 8:
            if not fin:
                self._violation("server sent a fragmented control frame (opcode %d)" % op)
            if len(payload) > 125:
                self._violation("server control frame with %d-byte payload" % len(payload))
            if op == OP_CLOSE:
                self._on_close_frame(payload)
            elif op == OP_PING:
                if self.state == OPEN:
                    self.send_frame(OP_PONG, payload)
                self.case.on_ping(self, payload)
            else:
                self.case.on_pong(self, payload)
            return
        if op == OP_CONT:
            if self.frag is None:
                self._violation("server sent a continuation frame with no message to continue")
            self.frag[1].append(payload)
            if fin:
                op0, parts = self.frag
                self.frag = None
                self._on_message(op0, b"".join(parts))
            return
        if self.frag is not None:
            self._violation("server started a new message inside a fragmented one")
        if fin:
            self._on_message(op, payload)
        else:
            self.frag = (op, [payload])

    def _on_message(self, op: int, payload: bytes):
        binary = op == OP_BINARY
        if not binary and not is_utf8(payload):
            self._violation("server sent a text message that is not valid UTF-8 (%d bytes)"
                            % len(payload))
        self.case.on_message(self, payload, binary)

    def _on_close_frame(self, payload: bytes):
        code = None
        reason = b""
        if len(payload) == 1:
            self._violation("server close frame with a 1-byte payload")
        if len(payload) >= 2:
            code = struct.unpack("!H", payload[:2])[0]
            reason = payload[2:]
            if not close_code_on_wire_ok(code) and not self.case.allow_any_close_code:
                self._violation("server sent close code %d, which may not be sent" % code)
            if not is_utf8(reason):
                self._violation("server close reason is not valid UTF-8")
        self.got_close = True
        self.remote_close_code = code
        self.remote_close_reason = reason
        if self.state == OPEN:
            # the server starts the closing handshake: answer with its code, as Autobahn does
            self.state = CLOSING
            if code is None:
                reply = build_frame(OP_CLOSE, b"")
            else:
                echo = code if close_code_on_wire_ok(code) else CLOSE_NORMAL
                reply = build_frame(OP_CLOSE, struct.pack("!H", echo))
            self.sent_close = True
            self._finish_frame_and_flush(reply)
        else:
            self._finish_frame_and_flush(None)
        self.at(self.opts.close_timeout, self._server_drop_expired)
        self.case.on_close(self, code, reason)

    def _peer_closed(self):
        self.peer_closed_tcp = True
        self._close_socket()

    def drop(self):
        """Autobahn dropConnection: we close the TCP connection."""
        if self.state == CLOSED:
            return
        self.dropped_by_me = True
        self._close_socket()

    def _close_socket(self):
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.t_closed = time.monotonic()
        try:
            self.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sel.close()
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def was_clean(self) -> bool:
        return self.sent_close and self.got_close and not self.dropped_by_me

    # ---- loop -----------------------------------------------------------------------------
    def run(self, deadline: float):
        self._process_buffer()      # frames that came with the 101, in the same segment
        while self.state != CLOSED:
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now and self.state != CLOSED:
                _, _, fn = heapq.heappop(self.timers)
                fn()
            if self.state == CLOSED:
                break
            if now >= deadline:
                self.timed_out = True
                self.drop()
                break
            self._pump()
            if self.state == CLOSED:
                break
            wait = deadline - now
            if self.timers:
                wait = min(wait, self.timers[0][0] - now)
            want_write = self._wants_write()
            if not want_write and self._pending() and not self.tx_dead:
                wait = min(wait, self.not_before - now)
            self.sel.modify(self.sock, selectors.EVENT_READ
                            | (selectors.EVENT_WRITE if want_write else 0))
            for _key, mask in self.sel.select(max(0.0, wait)):
                if mask & selectors.EVENT_READ:
                    self._on_readable()


# --------------------------------------------------------------------------------------------
# cases

class FrameCase:
    """A case run over one upgraded connection (sections 1-9)."""
    kind = "frame"

    def __init__(self, cid: str, desc: str, setup=None, *, suppress_close: bool = False,
                 post=None, allow_any_close_code: bool = False, report_time: bool = False):
        self.id = cid
        self.desc = desc
        self.setup = setup
        self.suppress_close = suppress_close
        self.post = post
        self.allow_any_close_code = allow_any_close_code
        self.report_time = report_time

    # per run
    def start(self, s: Session):
        self.expected = {}
        self.expected_close = None
        self.received = []
        self.custom = None      # (behaviour, result) set by cases that judge messages themselves
        self.note = None        # extra text for the report line
        self.t_done = None
        self.setup(self, s)

    def finish(self):
        """Drop what the run kept alive (large echoes)."""
        self.received = []

    def expect(self, outcome: str, events: list):
        self.expected[outcome] = events

    def expect_close(self, by_me: bool, codes: list, clean: bool, wrong_endpoint_fatal=False):
        self.expected_close = {"by_me": by_me, "codes": codes, "clean": clean,
                               "wrong_endpoint_fatal": wrong_endpoint_fatal}

    def expect_echo(self, s: Session, payload: bytes, binary: bool):
        """Echo expected, or close 1009 when the payload is over --max-message."""
        if s.opts.over_limit(len(payload)):
            self.expect(OK, [])
            self.expect_close(False, [CLOSE_TOO_BIG], False)
            self.note = "%d-byte message over --max-message %d: close 1009 expected" % (
                len(payload), s.opts.max_message)
        else:
            self.expect(OK, [("message", payload, binary)])
            self.expect_close(True, [CLOSE_NORMAL], True)

    def expect_failure(self, codes=(CLOSE_PROTOCOL_ERROR,), ok_events=None, fatal=False):
        """The server must fail the connection. ok_events: what it may echo before failing
        (then failing without echoing it is NON-STRICT, as in Autobahn)."""
        if ok_events is None:
            self.expect(OK, [])
        else:
            self.expect(OK, ok_events)
            self.expect(NON_STRICT, [])
        self.expect_close(False, list(codes), False, fatal)

    # events
    def on_message(self, s, payload, binary):
        self.received.append(("message", payload, binary))
        self.finish_when_done(s)

    def on_ping(self, s, payload):
        self.received.append(("ping", payload))
        self.finish_when_done(s)

    def on_pong(self, s, payload):
        self.received.append(("pong", payload))
        self.finish_when_done(s)

    def on_close(self, s, code, reason):
        pass

    def finish_when_done(self, s):
        ec = self.expected_close
        if ec and ec["by_me"] and not self.suppress_close:
            if any(self.received == evs for evs in self.expected.values()):
                s.send_close(ec["codes"][0])
                return
        # Events only accumulate: once they are no prefix of any expected list the behaviour
        # is FAILED whatever happens next, so stop instead of waiting for the case's timers.
        if self.custom is None and self.post is None and self.expected and not any(
                self.received == evs[:len(self.received)] for evs in self.expected.values()):
            s.stopped_early = True
            s.drop()


def describe_mismatch(c: FrameCase) -> str:
    want = c.expected.get(OK, next(iter(c.expected.values()), []))
    got = c.received
    a, b = fmt_events(want), fmt_events(got)
    if a == b:
        for w, g in zip(want, got):
            if w != g:
                return "echo differs from what was sent: %s content mismatch" % fmt_event(g)
        return "events differ from the expected ones"
    alts = [fmt_events(v) for k, v in c.expected.items() if k != OK]
    txt = "expected %s" % a
    if alts:
        txt += " (or %s)" % " or ".join(alts)
    return txt + ", got %s" % b


def describe_close(s: Session) -> str:
    if s.got_close:
        who = "server sent close %s" % (s.remote_close_code if s.remote_close_code is not None
                                       else "(no code)")
    else:
        who = "no close frame from the server"
    if s.peer_closed_tcp:
        tcp = "server reset TCP" if s.peer_reset else "server closed TCP"
    elif s.dropped_by_me:
        tcp = "we dropped TCP"
    else:
        tcp = "TCP open"
    return "%s, %s" % (who, tcp)


def judge(c: FrameCase, s: Session) -> tuple:
    """Autobahn's onConnectionLost, then our mapping to one verdict. Returns
    (verdict, reason, behaviour, close_behaviour)."""
    ec = c.expected_close
    # behaviour
    if c.custom is not None:
        behavior, result = c.custom
    else:
        behavior, result = FAILED, None
        for outcome, evs in c.expected.items():
            if c.received == evs:
                behavior = outcome
                result = "events match %s" % outcome
                if outcome != OK and OK in c.expected:
                    result = "got %s where %s is the strict outcome" % (
                        fmt_events(c.received), fmt_events(c.expected[OK]))
                break
        if behavior == FAILED:
            result = describe_mismatch(c)
    # close behaviour
    if ec["by_me"] != s.closed_by_me:
        cb = CB_FAILED
        if s.closed_by_me:
            cres = "the server did not fail the connection; we had to start the close (%s)" % (
                describe_close(s))
        else:
            cres = "the server initiated the close where it should have answered ours (%s)" % (
                describe_close(s))
    elif ec["clean"] and not s.was_clean:
        cb = CB_UNCLEAN
        if not s.got_close and s.close_handshake_timeout:
            cres = "no close frame in answer to ours within %gs" % s.opts.close_timeout
        elif s.got_close and s.sent_close and s.dropped_by_me:
            cres = ("server did not close the TCP connection after the closing handshake "
                    "(we dropped it)")
        else:
            cres = "closing handshake not clean (%s)" % describe_close(s)
    elif s.remote_close_code is not None and s.remote_close_code not in ec["codes"]:
        cb = CB_WRONG_CODE
        cres = "close code %d, expected %s" % (s.remote_close_code,
                                                " or ".join(map(str, ec["codes"])))
    elif s.dropped_by_me:
        cb = CB_FAILED_BY_CLIENT
        cres = "we had to drop the TCP connection (%s)" % describe_close(s)
    else:
        cb = CB_OK
        cres = "connection properly closed (%s)" % describe_close(s)
    if ec.get("wrong_endpoint_fatal") and ec["by_me"] != s.closed_by_me:
        behavior = FAILED
        result = cres
    if c.post:
        behavior, result, cb, cres = c.post(c, s, behavior, result, cb, cres)

    # one verdict
    if s.violations:
        return FAILED, "protocol violation: " + s.violations[0], behavior, cb
    if s.timed_out:
        return FAILED, "case did not finish within %gs (%s; events %s)" % (
            s.opts.timeout, describe_close(s), fmt_events(c.received)), behavior, cb
    if behavior == FAILED:
        if s.stopped_early:
            return FAILED, result + " (stopped there)", behavior, cb
        return FAILED, result + "; " + describe_close(s), behavior, cb
    if cb == CB_INFORMATIONAL:
        return behavior, result, behavior, cb
    if cb in (CB_FAILED, CB_UNCLEAN):
        return FAILED, cres, behavior, cb
    if cb == CB_WRONG_CODE:
        return NON_STRICT, cres, behavior, cb
    if cb == CB_FAILED_BY_CLIENT:
        if not s.got_close:
            return FAILED, ("server neither sent a close frame nor closed the connection "
                            "(we dropped it)"), behavior, cb
        return NON_STRICT, ("server sent close but did not close the TCP connection within "
                            "%gs; we dropped it" % s.opts.close_timeout), behavior, cb
    if behavior == NON_STRICT:
        return NON_STRICT, result, behavior, cb
    return behavior, None if behavior == OK else result, behavior, cb


def post_wrong_code_fails(c, s, behavior, result, cb, cres):
    """Section 7 (Autobahn): a wrong close code fails the case."""
    if cb == CB_WRONG_CODE:
        return FAILED, cres, cb, cres
    return behavior, result, cb, cres


def run_case(c, opts: Opts) -> dict:
    """Run one case; a bug in a case is reported as that case's failure, not a crash."""
    try:
        if c.kind == "handshake":
            return run_handshake_case(c, opts)
        return run_frame_case(c, opts)
    except Exception as e:  # noqa: BLE001 - keep going with the other cases
        import traceback
        traceback.print_exc(file=sys.stderr)
        return {"id": c.id, "description": c.desc, "verdict": FAILED,
                "reason": "internal error in the suite: %s: %s" % (type(e).__name__, e)}


def run_frame_case(c: FrameCase, opts: Opts) -> dict:
    t0 = time.monotonic()
    deadline = min(t0 + opts.timeout, opts.global_deadline)
    rec = {"id": c.id, "description": c.desc}
    try:
        sock, leftover = open_websocket(opts, deadline)
    except RuntimeError as e:
        rec.update(verdict=FAILED, reason=str(e), duration_ms=int((time.monotonic() - t0) * 1000))
        return rec
    s = Session(sock, leftover, opts, c)
    c.start(s)
    s.run(deadline)
    verdict, reason, behavior, cb = judge(c, s)
    t_end = c.t_done or s.t_closed or time.monotonic()
    rec.update(verdict=verdict, reason=reason, behavior=behavior, behavior_close=cb,
               note=c.note, duration_ms=int((t_end - s.t_open) * 1000),
               report_time=c.report_time,
               remote_close_code=s.remote_close_code, closed_by_me=s.closed_by_me,
               dropped_by_me=s.dropped_by_me, was_clean=s.was_clean,
               received=fmt_events(c.received), violations=s.violations)
    c.finish()
    return rec


# --------------------------------------------------------------------------------------------
# the case table

CASES: list = []


def add(c):
    CASES.append(c)
    return c


# ---- 1.x framing --------------------------------------------------------------------------

def _echo_setup(opcode: int, payload: bytes, chopsize=None, kill=1.0):
    def setup(c, s):
        c.expect_echo(s, payload, opcode == OP_BINARY)
        s.send_frame(opcode, payload, chopsize=chopsize)
        s.kill_after(kill)
    return setup


for _sec, _op, _fill, _name in ((1, OP_TEXT, b"*", "text"), (2, OP_BINARY, b"\xfe", "binary")):
    for _i, (_n, _kill) in enumerate(((0, 1), (125, 1), (126, 1), (127, 1), (128, 1),
                                      (65535, 10), (65536, 10)), 1):
        add(FrameCase("1.%d.%d" % (_sec, _i),
                      "Send %s message with payload of length %d." % (_name, _n),
                      _echo_setup(_op, _fill * _n, kill=_kill)))
    add(FrameCase("1.%d.8" % _sec,
                  "Send %s message with payload of length 65536, written in chops of 997 "
                  "octets." % _name,
                  _echo_setup(_op, _fill * 65536, chopsize=997, kill=10)))


# ---- 2.x pings/pongs ----------------------------------------------------------------------

def _ping_setup(payload: bytes, chopsize=None, close_after=1.0):
    def setup(c, s):
        c.expect(OK, [("pong", payload)])
        c.expect_close(True, [CLOSE_NORMAL], True)
        s.send_frame(OP_PING, payload, chopsize=chopsize)
        s.close_after(close_after)
    return setup


add(FrameCase("2.1", "Send ping without payload.", _ping_setup(b"")))
add(FrameCase("2.2", "Send ping with small text payload.", _ping_setup(b"Hello, world!")))
add(FrameCase("2.3", "Send ping with small binary (non UTF-8) payload.",
              _ping_setup(b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")))
add(FrameCase("2.4", "Send ping with binary payload of 125 octets.", _ping_setup(b"\xfe" * 125)))


def _s2_5(c, s):
    c.expect_failure()
    s.send_frame(OP_PING, b"\xfe" * 126)
    s.kill_after(1)


add(FrameCase("2.5", "Send ping with binary payload of 126 octets (control frames are limited "
              "to 125): the connection must be failed (1002).", _s2_5))
add(FrameCase("2.6", "Send ping with binary payload of 125 octets, written in 1-octet chops.",
              _ping_setup(b"\xfe" * 125, chopsize=1, close_after=2)))


def _unsolicited_pong(payload: bytes):
    def setup(c, s):
        c.expect(OK, [])
        c.expect_close(True, [CLOSE_NORMAL], True)
        s.send_frame(OP_PONG, payload)
        s.send_close(CLOSE_NORMAL)
        s.close_after(1)
    return setup


add(FrameCase("2.7", "Send unsolicited pong without payload, then close: nothing comes back "
              "but the close.", _unsolicited_pong(b"")))
add(FrameCase("2.8", "Send unsolicited pong with payload, then close: nothing comes back but "
              "the close.", _unsolicited_pong(b"unsolicited pong payload")))


def _s2_9(c, s):
    c.expect(OK, [("pong", b"ping payload")])
    c.expect_close(True, [CLOSE_NORMAL], True)
    s.send_frame(OP_PONG, b"unsolicited pong payload")
    s.send_frame(OP_PING, b"ping payload")
    s.close_after(1)


add(FrameCase("2.9", "Send unsolicited pong with payload, then ping: only the pong for our "
              "ping comes back.", _s2_9))


def _ten_pings(chopsize):
    def setup(c, s):
        evs = []
        for i in range(10):
            p = b"payload-%d" % i
            evs.append(("pong", p))
            s.send_frame(OP_PING, p, chopsize=chopsize)
        c.expect(OK, evs)
        c.expect_close(True, [CLOSE_NORMAL], True)
        s.close_after(3)
    return setup


add(FrameCase("2.10", "Send 10 pings with payload: 10 pongs with the same payloads, in order.",
              _ten_pings(None)))
add(FrameCase("2.11", "Send 10 pings with payload, written in 1-octet chops.", _ten_pings(1)))


# ---- 3.x reserved bits --------------------------------------------------------------------

def _s3_1(c, s):
    c.expect_failure()
    s.send_frame(OP_TEXT, b"Hello, world!", rsv=1)
    s.kill_after(1)


def _rsv_after_echo(rsv, how):
    def setup(c, s):
        p = b"Hello, world!"
        c.expect_failure(ok_events=[("message", p, False)])
        kw = {"chopsize": 1} if how == "octet" else {"sync": how == "frame"}
        s.send_frame(OP_TEXT, p, **kw)
        s.send_frame(OP_TEXT, p, rsv=rsv, **kw)
        s.send_frame(OP_PING, b"", **kw)
        s.kill_after(1)
    return setup


def _rsv_frame(opcode, payload, rsv):
    def setup(c, s):
        c.expect_failure()
        s.send_frame(opcode, payload, rsv=rsv)
        s.kill_after(1)
    return setup


add(FrameCase("3.1", "Send small text message with RSV = 1: the connection must be failed.",
              _s3_1))
add(FrameCase("3.2", "Send small text message, then again with RSV = 2, then ping: echo of the "
              "first, then failure, no pong.", _rsv_after_echo(2, "one")))
add(FrameCase("3.3", "As 3.2 with RSV = 3, each frame written by itself.",
              _rsv_after_echo(3, "frame")))
add(FrameCase("3.4", "As 3.2 with RSV = 4, written in 1-octet chops.",
              _rsv_after_echo(4, "octet")))
add(FrameCase("3.5", "Send small binary message with RSV = 5: failure.",
              _rsv_frame(OP_BINARY, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 5)))
add(FrameCase("3.6", "Send ping with RSV = 6: failure.",
              _rsv_frame(OP_PING, b"Hello, world!", 6)))
add(FrameCase("3.7", "Send close with RSV = 7: failure.", _rsv_frame(OP_CLOSE, b"", 7)))


# ---- 4.x reserved opcodes -----------------------------------------------------------------

def _reserved_op(op, payload):
    def setup(c, s):
        c.expect_failure()
        s.send_frame(op, payload)
        s.kill_after(1)
    return setup


def _reserved_op_after_echo(op, payload, chop):
    def setup(c, s):
        p = b"Hello, world!"
        c.expect_failure(ok_events=[("message", p, False)])
        kw = {"chopsize": 1} if chop else {}
        s.send_frame(OP_TEXT, p, **kw)
        s.send_frame(op, payload, **kw)
        s.send_frame(OP_PING, b"", **kw)
        s.kill_after(1)
    return setup


for _sub, _base, _kind in ((1, 3, "non-control"), (2, 11, "control")):
    add(FrameCase("4.%d.1" % _sub, "Send frame with reserved %s opcode %d: failure."
                  % (_kind, _base), _reserved_op(_base, b"")))
    add(FrameCase("4.%d.2" % _sub, "Send frame with reserved %s opcode %d and a payload: "
                  "failure." % (_kind, _base + 1),
                  _reserved_op(_base + 1, b"reserved opcode payload")))
    add(FrameCase("4.%d.3" % _sub, "Send small text message, then reserved %s opcode %d, then "
                  "ping: echo, then failure, no pong." % (_kind, _base + 2),
                  _reserved_op_after_echo(_base + 2, b"", False)))
    add(FrameCase("4.%d.4" % _sub, "Send small text message, then reserved %s opcode %d with "
                  "payload, then ping." % (_kind, _base + 3),
                  _reserved_op_after_echo(_base + 3, b"Hello, world!", False)))
    add(FrameCase("4.%d.5" % _sub, "As 4.%d.4 with opcode %d, written in 1-octet chops."
                  % (_sub, _base + 4),
                  _reserved_op_after_echo(_base + 4, b"Hello, world!", True)))


# ---- 5.x fragmentation --------------------------------------------------------------------

def _kw(how):
    return {"chopsize": 1} if how == "octet" else ({"sync": True} if how == "frame" else {})


def _frag_control(op):
    def setup(c, s):
        c.expect_failure()
        s.send_frame(op, b"fragment1", fin=False)
        s.send_frame(OP_CONT, b"fragment2", fin=True)
        s.kill_after(1)
    return setup


def _frag_text(how):
    def setup(c, s):
        c.expect(OK, [("message", b"fragment1fragment2", False)])
        c.expect_close(True, [CLOSE_NORMAL], True)
        s.send_frame(OP_TEXT, b"fragment1", fin=False, **_kw(how))
        s.send_frame(OP_CONT, b"fragment2", fin=True, **_kw(how))
        s.close_after(1)
    return setup


def _frag_text_ping(how):
    def setup(c, s):
        c.expect(OK, [("pong", b"ping payload"), ("message", b"fragment1fragment2", False)])
        c.expect_close(True, [CLOSE_NORMAL], True)
        s.send_frame(OP_TEXT, b"fragment1", fin=False, **_kw(how))
        s.send_frame(OP_PING, b"ping payload", **_kw(how))
        s.send_frame(OP_CONT, b"fragment2", fin=True, **_kw(how))
        s.close_after(1)
    return setup


def _cont_first(fin, how):
    def setup(c, s):
        c.expect_failure()
        s.send_frame(OP_CONT, b"non-continuation payload", fin=fin, **_kw(how))
        s.send_frame(OP_TEXT, b"Hello, world!", **_kw(how))
        s.kill_after(1)
    return setup


def _s5_15(c, s):
    c.expect_failure(ok_events=[("message", b"fragment1fragment2", False)])
    s.send_frame(OP_TEXT, b"fragment1", fin=False)
    s.send_frame(OP_CONT, b"fragment2", fin=True)
    s.send_frame(OP_CONT, b"fragment3", fin=False)
    s.send_frame(OP_TEXT, b"fragment4", fin=True)
    s.kill_after(1)


def _twice(first_fin):
    def setup(c, s):
        c.expect_failure()
        for _ in range(2):
            s.send_frame(OP_CONT, b"fragment1", fin=first_fin)
            s.send_frame(OP_TEXT, b"fragment2", fin=False)
            s.send_frame(OP_CONT, b"fragment3", fin=True)
        s.kill_after(1)
    return setup


def _s5_18(c, s):
    c.expect_failure()
    s.send_frame(OP_TEXT, b"fragment1", fin=False)
    s.send_frame(OP_TEXT, b"fragment2", fin=True)
    s.kill_after(1)


def _five_fragments(sync):
    frags = [b"fragment%d" % i for i in range(1, 6)]
    pings = [b"pongme 1!", b"pongme 2!"]

    def setup(c, s):
        c.expect(OK, [("pong", pings[0]), ("pong", pings[1]),
                      ("message", b"".join(frags), False)])
        c.expect_close(True, [CLOSE_NORMAL], True)
        s.send_frame(OP_TEXT, frags[0], fin=False, sync=sync)
        s.send_frame(OP_CONT, frags[1], fin=False, sync=sync)
        s.send_frame(OP_PING, pings[0], sync=sync)

        def part2():
            s.send_frame(OP_CONT, frags[2], fin=False, sync=sync)
            s.send_frame(OP_CONT, frags[3], fin=False, sync=sync)
            s.send_frame(OP_PING, pings[1], sync=sync)
            s.send_frame(OP_CONT, frags[4], fin=True, sync=sync)
            s.close_after(1)
        s.later(1, part2)
    return setup


add(FrameCase("5.1", "Send ping fragmented into 2 fragments: failure (control frames must not "
              "be fragmented).", _frag_control(OP_PING)))
add(FrameCase("5.2", "Send pong fragmented into 2 fragments: failure.", _frag_control(OP_PONG)))
add(FrameCase("5.3", "Send text message fragmented into 2 fragments: echo.", _frag_text("one")))
add(FrameCase("5.4", "As 5.3, each frame written by itself.", _frag_text("frame")))
add(FrameCase("5.5", "As 5.3, written in 1-octet chops.", _frag_text("octet")))
add(FrameCase("5.6", "Send text message in 2 fragments with a ping in between: pong, then the "
              "echo.", _frag_text_ping("one")))
add(FrameCase("5.7", "As 5.6, each frame written by itself.", _frag_text_ping("frame")))
add(FrameCase("5.8", "As 5.6, written in 1-octet chops.", _frag_text_ping("octet")))
add(FrameCase("5.9", "Continuation frame (FIN = 1) with nothing to continue, then a text "
              "message: failure.", _cont_first(True, "one")))
add(FrameCase("5.10", "As 5.9, each frame written by itself.", _cont_first(True, "frame")))
add(FrameCase("5.11", "As 5.9, written in 1-octet chops.", _cont_first(True, "octet")))
add(FrameCase("5.12", "Continuation frame (FIN = 0) with nothing to continue, then a text "
              "message: failure.", _cont_first(False, "one")))
add(FrameCase("5.13", "As 5.12, each frame written by itself.", _cont_first(False, "frame")))
add(FrameCase("5.14", "As 5.12, written in 1-octet chops.", _cont_first(False, "octet")))
add(FrameCase("5.15", "Text message in 2 fragments, then a continuation (FIN = 0) with nothing "
              "to continue, then a text frame: echo of the first, then failure.", _s5_15))
add(FrameCase("5.16", "Twice: continuation (FIN = 0) with nothing to continue, then a text "
              "message in 2 fragments: failure.", _twice(False)))
add(FrameCase("5.17", "Twice: continuation (FIN = 1) with nothing to continue, then a text "
              "message in 2 fragments: failure.", _twice(True)))
add(FrameCase("5.18", "Text message in 2 fragments whose second frame has opcode text instead "
              "of continuation: failure.", _s5_18))
add(FrameCase("5.19", "Text message in 5 fragments; ping after the 2nd, wait 1 s, 2 more "
              "fragments, ping, last fragment: pong, pong, echo.", _five_fragments(False)))
add(FrameCase("5.20", "As 5.19, each frame written by itself.", _five_fragments(True)))


# ---- 6.x UTF-8 ----------------------------------------------------------------------------

KOSME = bytes.fromhex("cebae1bdb9cf83cebcceb5")          # "kosme" in Greek, 11 octets
HELLO_UTF8 = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!".encode("utf-8")


def _text_frames(payloads, close=True):
    def setup(c, s):
        whole = b"".join(payloads)
        c.expect(OK, [("message", whole, False)])
        c.expect_close(True, [CLOSE_NORMAL], True)
        for i, p in enumerate(payloads):
            s.send_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(payloads) - 1)
        s.close_after(1)
    return setup


add(FrameCase("6.1.1", "Send text message of length 0: echo.", _text_frames([b""])))
add(FrameCase("6.1.2", "Send text message in 3 fragments, each of length 0: echo of an empty "
              "message.", _text_frames([b"", b"", b""])))
add(FrameCase("6.1.3", "Send text message in 3 fragments, first and last of length 0: echo.",
              _text_frames([b"", b"middle frame payload", b""])))
add(FrameCase("6.2.1", "Send valid UTF-8 text message in one fragment.",
              _text_frames([HELLO_UTF8])))
add(FrameCase("6.2.2", "Send valid UTF-8 text message in 2 fragments split on a code point "
              "boundary.", _text_frames([HELLO_UTF8[:15], HELLO_UTF8[15:]])))
add(FrameCase("6.2.3", "Send valid UTF-8 text message in 1-octet fragments (frames end inside "
              "code points).", _text_frames([HELLO_UTF8[i:i + 1] for i in range(len(HELLO_UTF8))])))
add(FrameCase("6.2.4", "Send valid UTF-8 text message (kosme) in 1-octet fragments.",
              _text_frames([KOSME[i:i + 1] for i in range(len(KOSME))])))

INVALID_63 = KOSME + b"\xed\xa0\x80" + b"edited"     # a surrogate: invalid exactly at octet 12


def _s6_3(frag):
    def setup(c, s):
        c.expect_failure(codes=[CLOSE_INVALID_PAYLOAD], fatal=frag)
        if frag:
            for i in range(len(INVALID_63)):
                s.send_frame(OP_TEXT if i == 0 else OP_CONT, INVALID_63[i:i + 1],
                             fin=i == len(INVALID_63) - 1)
        else:
            s.send_frame(OP_TEXT, INVALID_63)
        s.kill_after(1)
    return setup


add(FrameCase("6.3.1", "Send invalid UTF-8 text message unfragmented: failure (1007).",
              _s6_3(False)))
add(FrameCase("6.3.2", "Send invalid UTF-8 text message in 1-octet fragments: failure (1007).",
              _s6_3(True)))

FAILFAST = KOSME + b"\xf4\x90\x80\x80" + b"edited"   # U+110000: invalid exactly at octet 12


def _failfast(cuts, as_frames, fatal):
    """6.4.x: three pieces, 1 s apart. OK: the server fails on the 2nd piece (before the 2nd
    wait ends); NON-STRICT: only after the whole message."""
    parts = [FAILFAST[:cuts[0]], FAILFAST[cuts[0]:cuts[1]], FAILFAST[cuts[1]:]]

    def setup(c, s):
        c.expect(OK, [("timeout", "A")])
        c.expect(NON_STRICT, [("timeout", "A"), ("timeout", "B")])
        c.expect_close(False, [CLOSE_INVALID_PAYLOAD], False, fatal)
        if as_frames:
            def piece(i):
                s.send_frame(OP_TEXT if i == 0 else OP_CONT, parts[i], fin=i == 2)
        else:
            frame = build_frame(OP_TEXT, FAILFAST)
            head = len(frame) - len(FAILFAST)
            offs = [0, head + cuts[0], head + cuts[1], len(frame)]
            s.reserve_frame(len(frame))

            def piece(i):
                s.send_raw(frame[offs[i]:offs[i + 1]])

        def part3():
            if s.state == OPEN:
                c.received.append(("timeout", "B"))
                piece(2)
                s.kill_after(1)

        def part2():
            if s.state == OPEN:
                c.received.append(("timeout", "A"))
                piece(1)
                s.later(1, part3)
        piece(0)
        s.later(1, part2)
    return setup


add(FrameCase("6.4.1", "Invalid UTF-8 text in 3 frames, 1 s apart; the 2nd frame makes it "
              "invalid: fail fast on it (OK) or at the end (NON-STRICT).",
              _failfast((11, 15), True, True)))
add(FrameCase("6.4.2", "As 6.4.1, the 2nd frame is exactly the octet that makes it invalid.",
              _failfast((12, 13), True, True)))
add(FrameCase("6.4.3", "As 6.4.1, but one frame written in 3 chops 1 s apart.",
              _failfast((11, 15), False, True)))
add(FrameCase("6.4.4", "As 6.4.2, but one frame written in 3 chops 1 s apart.",
              _failfast((12, 13), False, False)))


def utf8_groups() -> list:
    """Markus Kuhn's UTF-8 decoder stress test, grouped as Autobahn numbers 6.5 .. 6.23.
    Each item: (valid, octets)."""
    g = []
    g.append(("Some valid UTF-8 sequences", [
        (True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
        (True, b"hello\xe2\x82\xacworld"), (True, b"hello\xf0\xa4\xad\xa2world"),
        (True, KOSME)]))
    g.append(("All prefixes of a valid UTF-8 string that contains multi-byte code points",
              [(is_utf8(KOSME[:i]), KOSME[:i]) for i in range(1, len(KOSME) + 1)]))
    g.append(("First possible sequence of a certain length", [
        (True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"),
        (True, b"\xf0\x90\x80\x80")]))
    g.append(("First possible sequence length 5/6 (invalid codepoints)", [
        (False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]))
    g.append(("Last possible sequence of a certain length", [
        (True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"),
        (True, b"\xf4\x8f\xbf\xbf")]))
    g.append(("Last possible sequence length 4/5/6 (invalid codepoints)", [
        (False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"),
        (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]))
    g.append(("Other boundary conditions", [
        (True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
        (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]))
    g.append(("Unexpected continuation bytes", [
        (False, b"\x80"), (False, b"\xbf"), (False, b"\x80\xbf"), (False, b"\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf"), (False, b"\x80\xbf\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf\x80\xbf"), (False, bytes(range(0x80, 0xbf)))]))
    g.append(("Lonely start characters", [
        (False, b"".join(bytes((i, 0x20)) for i in range(lo, hi)))
        for lo, hi in ((0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7), (0xf8, 0xfb), (0xfc, 0xfd))]))
    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80",
               b"\xfc\x80\x80\x80\x80", b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf",
               b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    g.append(("Sequences with last continuation byte missing", [(False, m) for m in missing]))
    g.append(("Concatenation of incomplete sequences", [(False, b"".join(missing))]))
    g.append(("Impossible bytes", [
        (False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]))
    g.append(("Examples of an overlong ASCII character", [
        (False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
        (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")]))
    g.append(("Maximum overlong sequences", [
        (False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"), (False, b"\xf0\x8f\xbf\xbf"),
        (False, b"\xf8\x87\xbf\xbf\xbf"), (False, b"\xfc\x83\xbf\xbf\xbf\xbf")]))
    g.append(("Overlong representation of the NUL character", [
        (False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
        (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")]))
    single = [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf",
              b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"]
    g.append(("Single UTF-16 surrogates", [(False, x) for x in single]))
    g.append(("Paired UTF-16 surrogates", [
        (False, hi + lo) for hi in single[:4] for lo in (b"\xed\xb0\x80", b"\xed\xbf\xbf")]))
    nonchars = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for z1 in (0xf0, 0xf1, 0xf2, 0xf3, 0xf4):
        for z2 in (0x8f, 0x9f, 0xaf, 0xbf):
            if z1 == 0xf4 and z2 != 0x8f:
                continue                       # above U+10FFFF
            for z3 in (0xbe, 0xbf):
                zz = bytes((z1, z2, 0xbf, z3))
                if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):   # overlong
                    nonchars.append((True, zz))
    g.append(("Non-character code points (valid UTF-8)", nonchars))
    g.append(("Unicode specials (i.e. replacement char)", [
        (True, bytes((0xef, 0xbf, x))) for x in (0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf)]))
    return g


def _utf8_case(valid: bool, payload: bytes):
    def setup(c, s):
        if valid:
            c.expect(OK, [("message", payload, False)])
            c.expect_close(True, [CLOSE_NORMAL], True)
        else:
            c.expect_failure(codes=[CLOSE_INVALID_PAYLOAD], fatal=True)
        s.send_frame(OP_TEXT, payload)
        s.kill_after(0.5)
    return setup


for _gi, (_title, _items) in enumerate(utf8_groups(), 5):
    for _ii, (_valid, _payload) in enumerate(_items, 1):
        add(FrameCase("6.%d.%d" % (_gi, _ii),
                      "%s: text message, %s UTF-8, one frame: 0x%s" % (
                          _title, "valid" if _valid else "invalid", _payload.hex()),
                      _utf8_case(_valid, _payload)))


# ---- 7.x close handling -------------------------------------------------------------------

def _s7_1_1(c, s):
    p = b"Hello World!"
    c.expect(OK, [("message", p, False)])
    c.expect_close(True, [CLOSE_NORMAL], True)
    s.send_frame(OP_TEXT, p)
    s.kill_after(1)


def _close_then(after):
    def setup(c, s):
        c.expect(OK, [])
        c.expect_close(True, [CLOSE_NORMAL], True)
        after(s)
        s.kill_after(1)
    return setup


def _s7_1_2(s):
    s.send_close(CLOSE_NORMAL)
    s.send_frame(OP_CLOSE)


def _s7_1_3(s):
    s.send_close(CLOSE_NORMAL)
    s.send_frame(OP_PING)


def _s7_1_4(s):
    s.send_close(CLOSE_NORMAL)
    s.send_frame(OP_TEXT, b"Hello World!")


def _s7_1_5(s):
    s.send_frame(OP_TEXT, b"fragment1", fin=False)
    s.send_close(CLOSE_NORMAL)
    s.send_frame(OP_CONT, b"fragment2", fin=True)


BIG_7_1_6 = repeat_to(b"BAsd7&jh23", 256 * KIB)


def _s7_1_6(c, s):
    p = b"Hello World!"
    c.expect(OK, [("message", p, False)])
    c.expect(NON_STRICT, [])
    c.expect_close(True, [CLOSE_NORMAL], True)
    s.send_frame(OP_TEXT, BIG_7_1_6)
    s.send_frame(OP_TEXT, p)
    s.send_close(CLOSE_NORMAL)
    s.send_frame(OP_PING)
    s.kill_after(1)


def _post_7_1_6(c, s, behavior, result, cb, cres):
    echoes = [e for e in c.received if e[0] == "message"]
    big = any(e[1] == BIG_7_1_6 for e in echoes)
    small = any(e[1] == b"Hello World!" for e in echoes)
    if big and small:
        result = "both messages were echoed before the close"
    elif echoes:
        result = "only %s echoed before the close" % fmt_events(echoes)
    else:
        result = "the close was processed before the messages were echoed"
    return INFORMATIONAL, result + " (%s)" % describe_close(s), CB_INFORMATIONAL, cres


add(FrameCase("7.1.1", "Send a message followed by a close frame: echo, then clean close 1000.",
              _s7_1_1, post=post_wrong_code_fails))
add(FrameCase("7.1.2", "Send two close frames: clean close 1000, the second close ignored.",
              _close_then(_s7_1_2), suppress_close=True, post=post_wrong_code_fails))
add(FrameCase("7.1.3", "Send a ping after the close frame: clean close, no pong.",
              _close_then(_s7_1_3), suppress_close=True, post=post_wrong_code_fails))
add(FrameCase("7.1.4", "Send a text message after the close frame: clean close, message "
              "ignored.", _close_then(_s7_1_4), suppress_close=True, post=post_wrong_code_fails))
add(FrameCase("7.1.5", "Send a message fragment, then close, then the last fragment: clean "
              "close.", _close_then(_s7_1_5), suppress_close=True, post=post_wrong_code_fails))
add(FrameCase("7.1.6", "Send a 256 KiB message, a small message, close, then ping "
              "(informational: what the server does first).", _s7_1_6, suppress_close=True,
              post=_post_7_1_6))


def _close_payload(payload, codes, clean):
    def setup(c, s):
        c.expect(OK, [])
        c.expect_close(True, codes, clean)
        s.send_close(raw_payload=payload)
        s.kill_after(1)
    return setup


_P7 = dict(suppress_close=True, post=post_wrong_code_fails)
add(FrameCase("7.3.1", "Send close with empty payload (no code): clean close.",
              _close_payload(b"", [CLOSE_NORMAL], True), **_P7))
add(FrameCase("7.3.2", "Send close with a 1-octet payload: close 1002 or dropped TCP.",
              _close_payload(b"a", [CLOSE_PROTOCOL_ERROR], False), **_P7))
add(FrameCase("7.3.3", "Send close with code 1000: clean close 1000.",
              _close_payload(struct.pack("!H", 1000), [CLOSE_NORMAL], True), **_P7))
add(FrameCase("7.3.4", "Send close with code and reason: clean close 1000.",
              _close_payload(struct.pack("!H", 1000) + b"Hello World!", [CLOSE_NORMAL], True),
              **_P7))
add(FrameCase("7.3.5", "Send close with code and a reason of the maximum 123 octets: clean "
              "close 1000.", _close_payload(struct.pack("!H", 1000) + b"*" * 123,
                                            [CLOSE_NORMAL], True), **_P7))
add(FrameCase("7.3.6", "Send close with code and a 124-octet reason (126-octet control "
              "payload): close 1002 or dropped TCP.",
              _close_payload(struct.pack("!H", 1000) + b"*" * 124, [CLOSE_PROTOCOL_ERROR], False),
              **_P7))
add(FrameCase("7.5.1", "Send close with a reason that is not valid UTF-8: close 1002/1007 or "
              "dropped TCP.",
              _close_payload(struct.pack("!H", 1000) + INVALID_63,
                             [CLOSE_PROTOCOL_ERROR, CLOSE_INVALID_PAYLOAD], False), **_P7))

for _i, _code in enumerate((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999,
                            4000, 4999), 1):
    add(FrameCase("7.7.%d" % _i, "Send close with valid close code %d: clean close with 1000 or "
                  "the echoed code." % _code,
                  _close_payload(struct.pack("!H", _code), [CLOSE_NORMAL, _code], True), **_P7))

for _i, _code in enumerate((0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999), 1):
    add(FrameCase("7.9.%d" % _i, "Send close with invalid close code %d: close 1002 or dropped "
                  "TCP." % _code,
                  _close_payload(struct.pack("!H", _code), [CLOSE_PROTOCOL_ERROR], False), **_P7))


def _post_informational(c, s, behavior, result, cb, cres):
    return INFORMATIONAL, "behaviour undefined by the spec (%s)" % describe_close(s), \
        CB_INFORMATIONAL, cres


for _i, _code in enumerate((5000, 65535), 1):
    add(FrameCase("7.13.%d" % _i, "Send close with close code %d (informational)." % _code,
                  _close_payload(struct.pack("!H", _code), [CLOSE_NORMAL, _code,
                                                              CLOSE_PROTOCOL_ERROR], False),
                  suppress_close=True, post=_post_informational, allow_any_close_code=True))


# ---- 9.x limits/performance ---------------------------------------------------------------

class BigMessageCase(FrameCase):
    """9.1-9.6: one large message (optionally fragmented or chopped); the echo must come back
    whole (compared byte for byte). Over --max-message: close 1009 expected instead."""

    def __init__(self, cid, desc, opcode, pattern, size, fragsize=None, chopsize=None):
        super().__init__(cid, desc, self._setup, report_time=True)
        self.opcode, self.pattern, self.size = opcode, pattern, size
        self.fragsize, self.chopsize = fragsize, chopsize
        self._payload = None

    def finish(self):
        super().finish()
        self._payload = None

    def payload(self):
        if self._payload is None:
            self._payload = repeat_to(self.pattern, self.size)
        return self._payload

    def _setup(self, c, s):
        payload = self.payload()
        binary = self.opcode == OP_BINARY
        if s.opts.over_limit(self.size):
            self.expect_echo(s, payload, binary)
        else:
            self.custom = (FAILED, "did not receive the echo within %gs" % s.opts.timeout)
            self.expect_close(True, [CLOSE_NORMAL], True)
        if self.fragsize and self.fragsize < self.size:
            frames = []
            n = self.size
            for i in range(0, n, self.fragsize):
                op = self.opcode if i == 0 else OP_CONT
                frames.append(build_frame(op, payload[i:i + self.fragsize],
                                          fin=i + self.fragsize >= n))
            base = s.enq_total
            s._enqueue(b"".join(frames), False, frame_end=False)
            s.frame_ends.extend(base + end for end in itertools.accumulate(map(len, frames)))
        else:
            if self.chopsize:
                s.chop_delay = 0.0          # 9.5/9.6: every chop its own send(), no pause
            s.send_frame(self.opcode, payload, chopsize=self.chopsize)
        # like Autobahn's closeAfter(WAITSECS), bounded by our per-case timeout
        s.close_after(max(1.0, s.opts.timeout - 3 * s.opts.close_timeout - 0.5))

    def on_message(self, s, payload, binary):
        if self.custom is None:        # over the limit: judged from the expected lists
            return FrameCase.on_message(self, s, payload, binary)
        self.received.append(("message", payload, binary))
        want_binary = self.opcode == OP_BINARY
        if binary != want_binary:
            self.custom = (FAILED, "expected a %s message, got %s" % (
                "binary" if want_binary else "text", "binary" if binary else "text"))
        elif len(payload) != self.size:
            self.custom = (FAILED, "expected a %d-byte message, got %d" % (self.size, len(payload)))
        elif payload != self.payload():
            self.custom = (FAILED, "echoed %d bytes differ from what was sent" % len(payload))
        else:
            self.custom = (OK, "received the %d-byte message" % len(payload))
            self.t_done = time.monotonic()
        s.send_close(CLOSE_NORMAL)


class RoundTripCase(FrameCase):
    """9.7/9.8: COUNT messages one at a time, each sent when the previous echo arrived."""

    def __init__(self, cid, desc, opcode, size, count):
        super().__init__(cid, desc, self._setup, report_time=True)
        self.opcode, self.size, self.count = opcode, size, count

    def _setup(self, c, s):
        self.custom = (FAILED, "did not receive all %d echoes within %gs" % (self.count,
                                                                           s.opts.timeout))
        self.expect_close(True, [CLOSE_NORMAL], True)
        self.sent = 0
        self.msg = (b"\xfe" if self.opcode == OP_BINARY else b"*") * self.size
        s.close_after(max(1.0, s.opts.timeout - 3 * s.opts.close_timeout - 0.5))
        self._send_one(s)

    def _send_one(self, s):
        s.send_frame(self.opcode, self.msg)
        self.sent += 1

    def on_message(self, s, payload, binary):
        if binary != (self.opcode == OP_BINARY) or payload != self.msg:
            self.custom = (FAILED, "echo %d differs from what was sent (%s)" % (
                self.sent, fmt_event(("message", payload, binary))))
            s.send_close(CLOSE_NORMAL)
        elif self.sent < self.count:
            self._send_one(s)
        else:
            self.custom = (OK, "received all %d echoes" % self.count)
            self.t_done = time.monotonic()
            s.send_close(CLOSE_NORMAL)


def _size_name(n: int) -> str:
    if n >= MIB and n % MIB == 0:
        return "%d MiB" % (n // MIB)
    if n >= KIB and n % KIB == 0:
        return "%d KiB" % (n // KIB)
    return "%d B" % n


for _sec, _op, _pat, _kind in ((1, OP_TEXT, b"BAsd7&jh23", "text"),
                               (2, OP_BINARY, b"\x00\xfe\x23\xfa\xf0", "binary")):
    for _i, _n in enumerate((64 * KIB, 256 * KIB, MIB, 4 * MIB, 8 * MIB, 16 * MIB), 1):
        add(BigMessageCase("9.%d.%d" % (_sec, _i), "Send a %s message of %s; echo expected."
                           % (_kind, _size_name(_n)), _op, _pat, _n))
for _sec, _op, _pat, _kind in ((3, OP_TEXT, b"*", "text"), (4, OP_BINARY, b"\xfe", "binary")):
    for _i, _f in enumerate((64, 256, KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB,
                             4 * MIB), 1):
        add(BigMessageCase("9.%d.%d" % (_sec, _i), "Send a fragmented %s message of 4 MiB in "
                           "fragments of %s; echo expected." % (_kind, _size_name(_f)),
                           _op, _pat, 4 * MIB, fragsize=_f))
for _sec, _op, _pat, _kind in ((5, OP_TEXT, b"BAsd7&jh23", "text"),
                               (6, OP_BINARY, b"\xfe", "binary")):
    for _i, _ch in enumerate((64, 128, 256, 512, 1024, 2048), 1):
        add(BigMessageCase("9.%d.%d" % (_sec, _i), "Send a %s message of 1 MiB written in "
                           "chops of %d octets; echo expected." % (_kind, _ch),
                           _op, _pat, MIB, chopsize=_ch))
for _sec, _op, _kind in ((7, OP_TEXT, "text"), (8, OP_BINARY, "binary")):
    for _i, _n in enumerate((0, 16, 64, 256, 1024, 4096), 1):
        add(RoundTripCase("9.%d.%d" % (_sec, _i), "Send 1000 %s messages of %d octets one "
                          "after the other (round trip time)." % (_kind, _n), _op, _n, 1000))


# ---- 0.x opening handshake (ours) ---------------------------------------------------------

class HandshakeCase:
    kind = "handshake"

    def __init__(self, cid, desc, fn):
        self.id, self.desc, self.fn = cid, desc, fn


def hs_request(opts: Opts, request: bytes, deadline: float, chop: int | None = None,
               extra: bytes = b""):
    """Send a raw request (optionally in chops), return (sock, HttpResponse)."""
    sock = tcp_connect(opts)
    if chop:
        for i in range(0, len(request), chop):
            sock.sendall(request[i:i + chop])
            time.sleep(opts.chop_delay)
    else:
        sock.sendall(request + extra)
    return sock, read_http_head(sock, deadline)


def hs_echo_after(opts, sock, rest, deadline, presend=None):
    """After a 101: a text echo round trip and a clean close, judged like a frame case."""
    msg = b"ringcast conformance handshake check"

    def setup(c, s):
        c.expect(OK, [("message", msg, False)])
        c.expect_close(True, [CLOSE_NORMAL], True)
        if presend is None:
            s.send_frame(OP_TEXT, msg)
        s.kill_after(2)
    c = FrameCase("-", "-", setup)
    s = Session(sock, rest, opts, c)
    c.start(s)
    s.run(deadline)
    verdict, reason, _b, _cb = judge(c, s)
    if reason:
        reason = "after 101: " + reason
    return verdict, reason


def _refused(resp, ok_statuses, what):
    """Judge a response that must not be a 101."""
    if resp.status is None:
        return FAILED, "no HTTP response (%s); the server must answer with an error status" % (
            resp.reason)
    if resp.status == 101:
        return FAILED, "server upgraded a %s" % what
    if resp.status in ok_statuses:
        return OK, None
    if 400 <= resp.status <= 599:
        return NON_STRICT, "answered %d, expected %s" % (resp.status,
                                                       " or ".join(map(str, ok_statuses)))
    return FAILED, "answered %d %s, expected an error status" % (resp.status, resp.reason)


def _hs_guard(fn):
    def run(opts, deadline):
        try:
            return fn(opts, deadline)
        except (OSError, TimeoutError, ValueError) as e:
            return FAILED, "%s: %s" % (type(e).__name__, e)
    return run


@_hs_guard
def _h0_1(opts, deadline):
    # our own accept computation first: the RFC 6455 section 1.3 example
    if accept_for("dGhlIHNhbXBsZSBub25jZQ==") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=":
        return FAILED, "internal: Sec-WebSocket-Accept computation disagrees with RFC 6455 1.3"
    key = new_key()
    sock, resp = hs_request(opts, build_request(opts, key), deadline)
    err = check_upgrade_response(resp, key)
    if err:
        sock.close()
        return FAILED, err
    return hs_echo_after(opts, sock, resp.rest, deadline)


@_hs_guard
def _h0_2(opts, deadline):
    keys = [new_key(), new_key()]
    accepts = []
    for key in keys:
        sock, resp = hs_request(opts, build_request(opts, key), deadline)
        sock.close()
        err = check_upgrade_response(resp, key)
        if err:
            return FAILED, err
        accepts.append(resp.get("sec-websocket-accept"))
    # our verifier must reject the other connection's accept
    for key, other in ((keys[0], accepts[1]), (keys[1], accepts[0])):
        if other == accept_for(key):
            return FAILED, "the same Sec-WebSocket-Accept for two different keys"
    return OK, None


@_hs_guard
def _h0_3(opts, deadline):
    sock, resp = hs_request(opts, build_request(opts, None, drop=("Sec-WebSocket-Key",)), deadline)
    sock.close()
    return _refused(resp, (400,), "request without Sec-WebSocket-Key")


@_hs_guard
def _h0_4(opts, deadline):
    bad = base64.b64encode(os.urandom(8)).decode()        # decodes to 8 octets, not 16
    sock, resp = hs_request(opts, build_request(opts, bad), deadline)
    sock.close()
    return _refused(resp, (400,), "request whose Sec-WebSocket-Key is not 16 octets")


@_hs_guard
def _h0_5(opts, deadline):
    sock, resp = hs_request(opts, build_request(opts, new_key(),
                                                replace={"Sec-WebSocket-Version": "8"}), deadline)
    sock.close()
    verdict, reason = _refused(resp, (426,), "request with Sec-WebSocket-Version: 8")
    if verdict == FAILED:
        return verdict, reason
    versions = resp.tokens("sec-websocket-version")
    if "13" not in versions:
        return FAILED, ("answered %d without a Sec-WebSocket-Version header naming 13 (RFC 6455 "
                        "4.4 MUST)" % resp.status)
    return verdict, reason


@_hs_guard
def _h0_6(opts, deadline):
    sock, resp = hs_request(opts, build_request(opts, new_key(),
                                                drop=("Sec-WebSocket-Version",)), deadline)
    sock.close()
    return _refused(resp, (400, 426), "request without Sec-WebSocket-Version")


def _upgrade_ok(build, presend=None, offered_ext=False, offered_protocols=(), chop=None):
    @_hs_guard
    def run(opts, deadline):
        key = new_key()
        sock, resp = hs_request(opts, build(opts, key), deadline, chop=chop,
                                extra=presend or b"")
        if offered_ext and resp.status == 101 and resp.get("sec-websocket-extensions"):
            sock.close()
            return INFORMATIONAL, "server negotiated %r; compression is not covered here" % (
                resp.get("sec-websocket-extensions"))
        err = check_upgrade_response(resp, key, offered_protocols, offered_ext)
        if err:
            sock.close()
            return FAILED, err
        return hs_echo_after(opts, sock, resp.rest, deadline, presend)
    return run


def _req_keepalive(opts, key):
    return build_request(opts, key, replace={"Connection": "keep-alive, Upgrade"})


def _req_case(opts, key):
    # header names and the Upgrade/Connection values in unusual case
    head = build_request(opts, key, replace={"Upgrade": "WebSocket", "Connection": "UPGRADE"})
    out = []
    for ln in head.split(b"\r\n"):
        if b":" in ln:
            n, v = ln.split(b":", 1)
            ln = n.swapcase() + b":" + v
        out.append(ln)
    return b"\r\n".join(out)


def _req_query(opts, key):
    sep = "&" if "?" in opts.path else "?"
    return build_request(opts, key, path=opts.path + sep + "foo=bar&baz=%2Fq%20x&_=1712345")


def _req_plain(opts, key):
    return build_request(opts, key)


def _req_protocol(opts, key):
    return build_request(opts, key,
                         headers=[("Sec-WebSocket-Protocol", "x-unknown-1, x-unknown-2")])


def _req_deflate(opts, key):
    return build_request(opts, key, headers=[
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])


PRESENT_FRAME = build_frame(OP_TEXT, b"ringcast conformance handshake check")


@_hs_guard
def _h_no_upgrade(opts, deadline):
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (opts.path, opts.host_header)).encode()
    sock, resp = hs_request(opts, req, deadline)
    sock.close()
    return _refused(resp, (426, 400), "plain GET without Upgrade")


@_hs_guard
def _h_no_conn_upgrade(opts, deadline):
    sock, resp = hs_request(opts, build_request(opts, new_key(),
                                                replace={"Connection": "keep-alive"}), deadline)
    sock.close()
    return _refused(resp, (400, 426), "request whose Connection header lacks 'upgrade'")


@_hs_guard
def _h_post(opts, deadline):
    sock, resp = hs_request(opts, build_request(opts, new_key(), method="POST",
                                                headers=[("Content-Length", "0")]), deadline)
    sock.close()
    return _refused(resp, (400, 405), "POST request")


@_hs_guard
def _h_http10(opts, deadline):
    sock, resp = hs_request(opts, build_request(opts, new_key(), version="HTTP/1.0"), deadline)
    sock.close()
    return _refused(resp, (400, 426, 505), "HTTP/1.0 request")


@_hs_guard
def _h_bad_path(opts, deadline):
    path = opts.route.rstrip("/") + "-no-such-route"
    sock, resp = hs_request(opts, build_request(opts, new_key(), path=path), deadline)
    sock.close()
    return _refused(resp, (404,), "request for the unknown path %s" % path)


for _cid, _desc, _fn in (
    ("0.1", "Valid upgrade: 101, Upgrade/Connection headers, Sec-WebSocket-Accept as computed by "
     "us (our computation checked against the RFC 6455 example first), then an echo and a clean "
     "close.", _h0_1),
    ("0.2", "Two upgrades with different keys: each Sec-WebSocket-Accept matches its own key and "
     "our verifier rejects the other one.", _h0_2),
    ("0.3", "Upgrade without Sec-WebSocket-Key: refused (400).", _h0_3),
    ("0.4", "Upgrade with a Sec-WebSocket-Key that is not 16 octets: refused (400).", _h0_4),
    ("0.5", "Upgrade with Sec-WebSocket-Version: 8: 426 with Sec-WebSocket-Version: 13.", _h0_5),
    ("0.6", "Upgrade without Sec-WebSocket-Version: refused (400 or 426).", _h0_6),
    ("0.7", "Upgrade with 'Connection: keep-alive, Upgrade' (as Firefox sends it): accepted.",
     _upgrade_ok(_req_keepalive)),
    ("0.8", "Upgrade with 'Upgrade: WebSocket', 'Connection: UPGRADE' and header names in odd "
     "case: accepted.", _upgrade_ok(_req_case)),
    ("0.9", "Upgrade with a query string on the path: accepted.", _upgrade_ok(_req_query)),
    ("0.10", "Upgrade request written in 1-octet chops: accepted.",
     _upgrade_ok(_req_plain, chop=1)),
    ("0.11", "Upgrade request and the first frame in one write: accepted, the frame echoed.",
     _upgrade_ok(_req_plain, presend=PRESENT_FRAME)),
    ("0.12", "Upgrade offering only unknown subprotocols: accepted with none selected.",
     _upgrade_ok(_req_protocol, offered_protocols=())),
    ("0.13", "Upgrade offering permessage-deflate: accepted; informational if the server "
     "negotiates it.", _upgrade_ok(_req_deflate, offered_ext=True)),
    ("0.14", "Plain GET without Upgrade: refused (426 or 400).", _h_no_upgrade),
    ("0.15", "Upgrade whose Connection header lacks 'upgrade': refused (400).",
     _h_no_conn_upgrade),
    ("0.16", "POST with upgrade headers: refused (405 or 400).", _h_post),
    ("0.17", "HTTP/1.0 upgrade request: refused.", _h_http10),
    ("0.18", "Upgrade for an unknown path: refused (404).", _h_bad_path),
):
    add(HandshakeCase(_cid, _desc, _fn))


def run_handshake_case(c: HandshakeCase, opts: Opts) -> dict:
    t0 = time.monotonic()
    deadline = min(t0 + opts.timeout, opts.global_deadline)
    verdict, reason = c.fn(opts, deadline)
    return {"id": c.id, "description": c.desc, "verdict": verdict, "reason": reason,
            "duration_ms": int((time.monotonic() - t0) * 1000)}


# --------------------------------------------------------------------------------------------
# self-test of the suite's own pieces (no server needed)

def self_test() -> int:
    fails = []

    def check(cond, what):
        if not cond:
            fails.append(what)

    check(accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "accept")
    for n in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        p = os.urandom(n)
        f = build_frame(OP_BINARY, p, masked=False)
        r = FrameReader()
        r.feed(f)
        check(r.next() == (True, 0, OP_BINARY, p), "unmasked frame round trip %d" % n)
        key = os.urandom(4)
        m = build_frame(OP_BINARY, p, key=key)
        hl = len(m) - n - 4
        check(m[hl:hl + 4] == key and xor_mask(m[hl + 4:], key) == p, "masking %d" % n)
    groups = utf8_groups()
    for title, items in groups:
        for valid, data in items:
            check(is_utf8(data) == valid, "utf8 flag %s %s" % (title, data.hex()))
    counts = [len(items) for _t, items in groups]
    check(len(groups) == 19 and sum(counts) == 132 and counts[-2] == 34, "utf8 table size")
    check(not is_utf8(INVALID_63) and not is_utf8(FAILFAST), "6.3/6.4 payloads invalid")
    check(is_utf8(FAILFAST[:11]) and not is_utf8(FAILFAST[:12] + b"\x80\x80")
          and is_utf8(FAILFAST[12 + 4:]), "6.4 pieces")
    ids = [c.id for c in CASES]
    check(len(ids) == len(set(ids)), "duplicate case ids")
    for f in fails:
        print("self-test FAILED:", f)
    print("self-test: %s (%d cases defined)" % ("ok" if not fails else "FAILED", len(CASES)))
    return 1 if fails else 0


# --------------------------------------------------------------------------------------------
# main

def case_key(cid: str):
    return tuple(int(x) for x in cid.split("."))


def select_cases(patterns: str | None) -> list:
    if not patterns:
        return list(CASES)
    pats = [p.strip() for p in patterns.split(",") if p.strip()]
    # exact ids, globs ('6.4.*'), or a group prefix ('6.4' = every 6.4.x, '1' = section 1)
    return [c for c in CASES if any(c.id == p or c.id.startswith(p + ".")
                                    or fnmatch.fnmatchcase(c.id, p) for p in pats)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="RFC 6455 conformance suite for an echo endpoint (Autobahn sections 1-7, 9 "
                    "and handshake cases 0.x).")
    ap.add_argument("--url", default="ws://127.0.0.1:8080/echo",
                    help="echo endpoint, ws://HOST:PORT/PATH or wss://... (default %(default)s)")
    ap.add_argument("--ca-file", help="wss: the CA (PEM) to verify the server with")
    ap.add_argument("--cases", help="comma-separated case ids or globs, e.g. '1.*,5.1,6.4.*'")
    ap.add_argument("--list", action="store_true", help="list the (selected) cases and exit")
    ap.add_argument("--max-message", type=int, default=None, metavar="BYTES",
                    help="the server's message size limit: longer messages must be refused "
                         "with close 1009 (default: no limit)")
    ap.add_argument("--json", metavar="FILE", help="write every result to FILE as JSON")
    ap.add_argument("--timeout", type=float, default=10.0,
                    help="per-case time limit in seconds (default %(default)s)")
    ap.add_argument("--global-timeout", type=float, default=900.0,
                    help="limit for the whole run in seconds; cases not run by then fail "
                         "(default %(default)s)")
    ap.add_argument("--close-timeout", type=float, default=1.0,
                    help="wait for a close answer / for the server to close TCP (default "
                         "%(default)s, as Autobahn)")
    ap.add_argument("--chop-delay", type=float, default=0.001,
                    help="pause after each chop of a chopped write, seconds (default %(default)s)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print a reason for every verdict, not only failures")
    ap.add_argument("--self-test", action="store_true",
                    help="check the suite's own encoder, decoder and tables, no server needed")
    a = ap.parse_args(argv)

    if a.self_test:
        return self_test()
    cases = sorted(select_cases(a.cases), key=lambda c: case_key(c.id))
    if a.list:
        for c in cases:
            print("%-9s %s" % (c.id, c.desc))
        print("%d cases" % len(cases))
        return 0
    if not cases:
        print("conformance: no case matches %r" % a.cases, file=sys.stderr)
        return 2
    opts = Opts(a)

    results = []
    counts = collections.Counter()
    t_start = time.monotonic()
    for c in cases:
        if time.monotonic() >= opts.global_deadline:
            rec = {"id": c.id, "description": c.desc, "verdict": FAILED,
                   "reason": "not run: the global time limit (%gs) was reached" % a.global_timeout}
        else:
            rec = run_case(c, opts)
        results.append(rec)
        v = rec["verdict"]
        counts[v] += 1
        line = "%-9s %s" % (c.id, v)
        extra = []
        if rec.get("reason") and (v != OK or a.verbose):
            extra.append(rec["reason"])
        if rec.get("note"):
            extra.append(rec["note"])
        if rec.get("report_time") and v in PASSED_VERDICTS:
            extra.append("%d ms (informational)" % rec["duration_ms"])
        if extra:
            line = "%-24s %s" % (line, "; ".join(extra))
        print(line, flush=True)

    passed = sum(counts[v] for v in PASSED_VERDICTS)
    failed = counts[FAILED]
    skipped = counts[UNIMPLEMENTED]
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"url": a.url, "max_message": a.max_message,
                       "seconds": round(time.monotonic() - t_start, 3),
                       "counts": dict(counts), "results": results}, f, indent=1)
    summary = "conformance: %d passed, %d failed" % (passed, failed)
    if skipped:
        summary += ", %d skipped" % skipped
    print(summary, flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
