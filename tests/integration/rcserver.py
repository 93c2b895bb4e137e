"""Harness for ringcast's integration tests: start the real server, talk to it over real sockets.

Standard library only (Python 3.11). Every test_*.py in this folder imports it:

    from rcserver import Suite, Fail, check, ...
    suite = Suite("pubsub")

    @suite.case(timeout=60)
    def fan_out(ctx):
        srv = ctx.server("--queue-msgs-max", "256")   # started, port known, stopped by the runner
        m = srv.metrics()                               # /metrics scraped into a dict
        ...

    if __name__ == "__main__":
        suite.main()

What it gives:

  * Server: runs the binary (path from --bin, or the RINGCAST_BIN environment variable) as
    `ringcast --listen 127.0.0.1:0 FLAGS...`, stderr (the logfmt log) to a file, and waits (10 s,
    scaled by SLOW) for the `event=listening ... addr=127.0.0.1:PORT` line to learn the port. The
    child gets SIGKILL if this Python process dies (PR_SET_PDEATHSIG), so a test killed by ctest's
    timeout leaves no server behind. stop() sends SIGTERM and checks: exit status 0 within the
    drain timeout, no sanitizer report ('ERROR: AddressSanitizer', 'runtime error:', ...) and no
    level=error line in the log.
  * metrics(): GET /metrics parsed into {'ringcast_connections': 0.0,
    'ringcast_buffers{state="free"}': 512.0, ...}; rss_kib() and fd_count() from /proc/PID.
  * http(): one raw HTTP request and the whole answer (the server closes after every plain HTTP
    answer, so we read to EOF and say whether EOF came).
  * RawWS: a WebSocket client of our own on a blocking socket (handshake with Sec-WebSocket-Accept
    check, masked frames, frame reader that rejects anything RFC 6455 forbids a server to send), for
    tests that need control a library does not give (timing, half-sent frames, resets).
  * ringcast.v1 codec: v1_publish(), v1_parse(), notice parsing.
  * Suite: runs the cases in order, each under its own time limit, prints one line per case
    (PASS / FAIL with what was expected and what came, plus the tail of the server's log on
    failure), then "<suite>: N cases ok, M cases failed"; exit status 1 if any failed.

SLOW: sanitizer builds run the server about 3x slower. RC_SLOW=1 in the environment (tests/run.sh
and the Asan build's ctest set it) makes SLOW = 3 (RC_SLOW_FACTOR=X overrides): tests multiply
their waits and tolerances by it and may shrink their load sizes with scaled().
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

# ------------------------------------------------------------------------------------------------
# speed of the build under test

def _slow_factor() -> float:
    f = os.environ.get("RC_SLOW_FACTOR")
    if f:
        return float(f)
    return 3.0 if os.environ.get("RC_SLOW", "") not in ("", "0") else 1.0


SLOW = _slow_factor()


def t(seconds: float) -> float:
    """A wait or a tolerance, scaled for a slow (sanitized) server."""
    return seconds * SLOW


def scaled(n: int, minimum: int = 1) -> int:
    """A load size, shrunk for a slow server."""
    return max(minimum, int(n / SLOW))


# ------------------------------------------------------------------------------------------------
# failures

class Fail(Exception):
    """A check failed. The message says what was expected and what came."""


class CaseTimeout(Fail):
    pass


def check(cond, msg: str):
    if not cond:
        raise Fail(msg)


def expect_eq(got, want, what: str):
    if got != want:
        raise Fail("%s: expected %r, got %r" % (what, want, got))


def wait_until(pred, timeout: float, what: str, interval: float = 0.05):
    """Poll pred() until it returns a true value (returned) or timeout seconds pass (Fail, with the
    last value pred returned, so the message shows what was seen)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise Fail("%s: not reached within %.1fs (last seen: %r)" % (what, timeout, last))
        time.sleep(interval)


# ------------------------------------------------------------------------------------------------
# the server process

SAN_RE = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|"
                    r"ERROR SUMMARY: [1-9]|AddressSanitizer:DEADLYSIGNAL")
LISTEN_RE = re.compile(r"\bevent=listening\b.*\baddr=\[?([0-9.:a-f]+?)\]?:(\d+)\b")

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def default_binary() -> str | None:
    return os.environ.get("RINGCAST_BIN")


def _flag_value(flags, name: str, default):
    val = default
    for i, f in enumerate(flags):
        if f == name and i + 1 < len(flags):
            val = flags[i + 1]
        elif f.startswith(name + "="):
            val = f.split("=", 1)[1]
    return val


class Server:
    """One ringcast process on 127.0.0.1:<kernel-chosen port>."""

    def __init__(self, binary: str, flags=(), name: str = "ringcast", workdir: str | None = None,
                 env: dict | None = None):
        self.binary = binary
        self.flags = [str(f) for f in flags]
        self.name = name
        self.workdir = workdir or tempfile.mkdtemp(prefix="rc-integ-")
        self.log_path = os.path.join(self.workdir, "%s.log" % name)
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.exit_status: int | None = None
        self.stopped_in: float | None = None
        self.allowed_error_events: set = set()
        self.drain_timeout = float(_flag_value(self.flags, "--drain-timeout-ms", 10000)) / 1000

    # -- lifecycle

    def start(self, ready_timeout: float = 10.0) -> "Server":
        if not os.access(self.binary, os.X_OK):
            raise Fail("server binary %r is missing or not executable (build tools/ringcast)"
                       % self.binary)
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("RINGCAST_") and k != "RINGCAST_BIN":
                del env[k]   # the server refuses unknown RINGCAST_* keys; ours are not for it
        env.pop("RINGCAST_BIN", None)
        if self.env:
            env.update(self.env)
        self._log = open(self.log_path, "wb")
        argv = [self.binary, "--listen", "127.0.0.1:0"] + self.flags
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, env=env, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + t(ready_timeout)
        while True:
            m = LISTEN_RE.search(self.log())
            if m:
                self.port = int(m.group(2))
                return self
            if self.proc.poll() is not None:
                self.exit_status = self.proc.returncode
                raise Fail("server exited with status %s before logging event=listening\n"
                           "argv: %s\nlog:\n%s" % (self.proc.returncode, " ".join(argv),
                                                   self.log_tail(40)))
            if time.monotonic() > deadline:
                raise Fail("server did not log event=listening with addr=127.0.0.1:PORT within "
                           "%.0fs\nargv: %s\nlog:\n%s" % (t(ready_timeout), " ".join(argv),
                                                          self.log_tail(40)))
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout: float | None = None, check_log: bool = True):
        """Signal the server and check it exits 0 within the drain timeout plus slack, with a clean
        log. Returns the seconds it took. Fail otherwise (the process is killed then)."""
        if self.proc is None:
            return 0.0
        if self.exit_status is not None:      # already stopped (and checked)
            return self.stopped_in or 0.0
        if timeout is None:
            timeout = self.drain_timeout + t(5.0)
        if self.proc.poll() is not None:
            self.exit_status = self.proc.returncode
            self._log.close()
            raise Fail("server died before it was stopped: %s\nlog tail:\n%s"
                       % (describe_status(self.exit_status), self.log_tail(40)))
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        self.stopped_in = time.monotonic() - t0
        if rc is None:
            self.proc.kill()
            self.proc.wait()
            self.exit_status = self.proc.returncode
            self._log.close()
            raise Fail("server did not exit within %.1fs of %s (killed)\nlog tail:\n%s"
                       % (timeout, signal.Signals(sig).name, self.log_tail(40)))
        self.exit_status = rc
        self._log.close()
        if rc != 0:
            raise Fail("server exit status after %s: expected 0, got %s\nlog tail:\n%s"
                       % (signal.Signals(sig).name, describe_status(rc), self.log_tail(40)))
        if check_log:
            self.check_log()
        return self.stopped_in

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and self.exit_status is None:
            self.exit_status = self.proc.returncode
            self._log.close()

    # -- the log

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 30) -> str:
        lines = self.log().splitlines()
        cut = lines[-n:]
        pre = "    [... %d earlier lines in %s]\n" % (len(lines) - n, self.log_path) \
            if len(lines) > n else ""
        return pre + "\n".join("    " + ln for ln in cut)

    def log_events(self, event: str) -> list:
        return [ln for ln in self.log().splitlines() if re.search(r"\bevent=%s\b" % event, ln)]

    def check_log(self):
        text = self.log()
        m = SAN_RE.search(text)
        if m:
            i = text.rfind("\n", 0, m.start()) + 1
            raise Fail("sanitizer report in the server's log (%s):\n%s" % (self.log_path,
                                                                          text[i:i + 6000]))
        errs = [ln for ln in text.splitlines() if re.search(r"\blevel=error\b", ln)
                and not any(re.search(r"\bevent=%s\b" % e, ln) for e in self.allowed_error_events)]
        if errs:
            raise Fail("the server logged %d level=error line(s) (a bug by rc_log.h's definition):\n%s"
                       % (len(errs), "\n".join("    " + e for e in errs[:10])))

    # -- observation

    def metrics_text(self, timeout: float = 5.0) -> str:
        r = http(self.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", timeout=t(timeout))
        if r.status != 200:
            raise Fail("GET /metrics: expected 200, got %s %r" % (r.status, r.body[:200]))
        return r.body.decode("utf-8", "replace")

    def metrics(self) -> "Metrics":
        return Metrics(parse_metrics(self.metrics_text()))

    def rss_kib(self) -> int:
        with open("/proc/%d/status" % self.pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
        raise Fail("no VmRSS in /proc/%d/status" % self.pid)

    def fd_count(self) -> int:
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def url(self, path: str = "/ws") -> str:
        return "ws://127.0.0.1:%d%s" % (self.port, path)


def describe_status(rc) -> str:
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit %d" % rc


# ------------------------------------------------------------------------------------------------
# /metrics

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse_metrics(text: str) -> dict:
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = SAMPLE_RE.match(ln)
        if not m:
            raise Fail("/metrics: line is not 'name{labels} value': %r" % ln)
        try:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        except ValueError:
            raise Fail("/metrics: value is not a number: %r" % ln)
    return out


class Metrics(dict):
    def get_(self, name: str, **labels) -> float:
        key = name
        if labels:
            key += "{" + ",".join('%s="%s"' % kv for kv in labels.items()) + "}"
        if key not in self:
            raise Fail("/metrics has no sample %s (names: %s)"
                       % (key, ", ".join(sorted({k.split("{")[0] for k in self}))))
        return self[key]

    def family(self, name: str) -> dict:
        """{label value: value} of a one-label family, or {None: v} without labels."""
        out = {}
        for k, v in self.items():
            if k == name:
                out[None] = v
            elif k.startswith(name + "{"):
                out[k[k.index('"') + 1:k.rindex('"')]] = v
        return out

    def total(self, name: str) -> float:
        return sum(self.family(name).values())


# ------------------------------------------------------------------------------------------------
# plain HTTP

class HttpAnswer:
    def __init__(self, raw: bytes, eof: bool, error: str | None):
        self.raw = raw
        self.eof = eof          # the server closed the connection after answering
        self.error = error      # a socket error seen while reading (ECONNRESET...)
        self.status = None
        self.reason = ""
        self.headers = []       # [(lower-case name, value)]
        self.body = b""
        if b"\r\n\r\n" in raw:
            head, self.body = raw.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) >= 2 and parts[0].startswith("HTTP/1.") and parts[1].isdigit():
                self.status = int(parts[1])
                self.reason = parts[2] if len(parts) > 2 else ""
            for ln in lines[1:]:
                if ":" in ln:
                    n, v = ln.split(":", 1)
                    self.headers.append((n.strip().lower(), v.strip()))

    def header(self, name: str):
        vals = [v for n, v in self.headers if n == name.lower()]
        return ", ".join(vals) if vals else None

    def summary(self) -> str:
        return "%s %s, headers %s, body %r%s%s" % (
            self.status, self.reason, dict(self.headers), self.body[:300],
            "" if self.eof else ", connection NOT closed by the server",
            ", socket error %s" % self.error if self.error else "")


def http(port: int, request, timeout: float = 5.0) -> HttpAnswer:
    """Send one request (str or bytes) and read until the server closes (or timeout)."""
    if isinstance(request, str):
        request = request.encode("latin-1")
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw, eof, err = b"", False, None
    try:
        s.sendall(request)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except OSError as e:
                err = e.__class__.__name__
                eof = True
                break
            if not d:
                eof = True
                break
            raw += d
    finally:
        s.close()
    return HttpAnswer(raw, eof, err)


def get(port: int, path: str, timeout: float = 5.0, headers: str = "") -> HttpAnswer:
    return http(port, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path, headers),
                timeout=t(timeout))


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
    import json
    return json.dumps({"op": op, "topics": list(topics)})


# ------------------------------------------------------------------------------------------------
# the load generator (perf/ringcast-bench, built next to the server)

def bench_path(ctx) -> str:
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary))), "perf",
                        "ringcast-bench")
    if not os.access(path, os.X_OK):
        raise Fail("no load generator at %s (build the perf/ targets)" % path)
    return path


def run_bench(ctx, url: str, *args, want_ok: bool = True) -> dict:
    """Run the bench quietly; return its JSON object (checked: ok, and the workload's name)."""
    cmd = [bench_path(ctx), "-q"] + [str(a) for a in args] + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=t(60))
    try:
        r = json.loads(out.stdout)
    except ValueError:
        raise Fail("ringcast-bench printed no JSON (exit %d): %s" % (out.returncode,
                                                                     out.stderr[-500:]))
    if want_ok:
        check(r.get("ok") is True and out.returncode == 0,
              "bench not ok (exit %d): %r" % (out.returncode, r.get("error")))
    for key in ("workload", "published", "expected", "delivered", "missing", "latency_us",
                "bench_cpu_s", "server_cpu_s", "server_closes", "errors"):
        check(key in r, "no %r in the JSON" % key)
    return r



# ------------------------------------------------------------------------------------------------
# process helpers

def tcp_queues(local_port: int, remote_port: int):
    """(send queue, receive queue) in bytes of the IPv4 TCP socket 127.0.0.1:local_port ->
    127.0.0.1:remote_port, from /proc/net/tcp; None if there is none. The server's side of a
    connection is (server port, client's port)."""
    want_l = "0100007F:%04X" % local_port
    want_r = "0100007F:%04X" % remote_port
    with open("/proc/net/tcp") as f:
        next(f)
        for ln in f:
            parts = ln.split()
            if parts[1] == want_l and parts[2] == want_r:
                tx, rx = parts[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


def set_linger0(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def free_fd_budget() -> int:
    import resource
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft - len(os.listdir("/proc/self/fd"))


# ------------------------------------------------------------------------------------------------
# the runner

class Ctx:
    """What a case gets: the binary, and ctx.server() to start servers the runner will stop."""

    def __init__(self, binary: str, suite: str, case: str, workdir: str):
        self.binary = binary
        self.suite = suite
        self.case = case
        self.workdir = workdir
        self.servers: list[Server] = []
        self.notes: list[str] = []
        self.cleanup: list = []        # callables run after the case, before its servers stop

    def server(self, *flags, name: str | None = None, start: bool = True, env=None) -> Server:
        name = name or "%s-%d" % (self.case, len(self.servers))
        srv = Server(self.binary, flags, name=name, workdir=self.workdir, env=env)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def note(self, msg: str):
        """A measurement worth printing with the verdict (timings, rates)."""
        self.notes.append(msg)
        print("    note: " + msg, flush=True)


class Suite:
    def __init__(self, name: str):
        self.name = name
        self.cases = []

    def case(self, timeout: float = 60.0):
        """Decorator: a case, with its time limit in seconds at SLOW = 1 (scaled by SLOW)."""
        def deco(fn):
            self.cases.append((fn.__name__, fn, timeout))
            return fn
        return deco

    def main(self, argv=None):
        import argparse
        ap = argparse.ArgumentParser(description="ringcast integration tests: " + self.name)
        ap.add_argument("--bin", default=default_binary(),
                        help="the ringcast server binary (default: $RINGCAST_BIN)")
        ap.add_argument("--only", help="comma-separated case names to run")
        ap.add_argument("--list", action="store_true")
        ap.add_argument("--keep", action="store_true", help="keep the logs' folder")
        a = ap.parse_args(argv)
        if a.list:
            for n, _, tmo in self.cases:
                print("%-28s %4.0fs" % (n, t(tmo)))
            return 0
        if not a.bin:
            print("%s: no server binary: pass --bin PATH or set RINGCAST_BIN" % self.name)
            sys.exit(2)
        a.bin = os.path.abspath(a.bin)
        only = set(a.only.split(",")) if a.only else None
        workdir = tempfile.mkdtemp(prefix="rc-integ-%s-" % self.name)
        print("%s: server %s, SLOW=%g, logs in %s" % (self.name, a.bin, SLOW, workdir), flush=True)
        ok = failed = 0
        for name, fn, tmo in self.cases:
            if only and name not in only:
                continue
            if self._run_case(a.bin, name, fn, tmo, workdir):
                ok += 1
            else:
                failed += 1
        print("%s: %d cases ok, %d cases failed" % (self.name, ok, failed), flush=True)
        if failed == 0 and not a.keep:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
        return 1 if failed else 0

    def _run_case(self, binary, name, fn, tmo, workdir) -> bool:
        ctx = Ctx(binary, self.name, name, workdir)
        limit = t(tmo)
        print("--- %s (limit %.0fs)" % (name, limit), flush=True)

        def on_alarm(signum, frame):
            raise CaseTimeout("case did not finish within its limit of %.0fs" % limit)

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        t0 = time.monotonic()
        err = None
        try:
            fn(ctx)
        except Fail as e:
            err = str(e)
        except Exception:
            err = "unexpected exception (a test bug, or a server answer the test did not " \
                  "foresee):\n" + traceback.format_exc()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        # a server that died during the case is the news, whatever the test saw next
        for srv in ctx.servers:
            if srv.proc is not None and srv.exit_status is None and srv.proc.poll() is not None:
                srv.exit_status = srv.proc.returncode
                srv._log.close()
                text = srv.log()
                m = SAN_RE.search(text)
                report = text[text.rfind("\n", 0, m.start()) + 1:][:6000] if m else \
                    srv.log_tail(40)
                err = ("the server (%s) died during the case: %s\n%s%s"
                       % (srv.name, describe_status(srv.exit_status), report,
                          "\nwhat the test saw: " + err if err else ""))
        for fn_ in ctx.cleanup:
            try:
                fn_()
            except Exception:          # noqa: BLE001 - best effort (closing our sockets)
                pass
        # every server of the case is stopped and checked, even after a failure
        for srv in ctx.servers:
            if srv.proc is None or srv.exit_status is not None:
                continue
            try:
                srv.stop()
            except Fail as e:
                err = (err + "\n" if err else "") + "at the end of the case: " + str(e)
            except Exception:
                srv.kill()
                err = (err + "\n" if err else "") + traceback.format_exc()
        dt = time.monotonic() - t0
        if err is None:
            print("PASS %s (%.1fs)" % (name, dt), flush=True)
            return True
        print("FAIL %s (%.1fs): %s" % (name, dt, err), flush=True)
        for srv in ctx.servers:
            print("  server %s (port %s, %s), log tail:\n%s"
                  % (srv.name, srv.port, describe_status(srv.exit_status), srv.log_tail(25)),
                  flush=True)
        return False
