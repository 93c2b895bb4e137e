"""The server under test: start the real ringcast binary, talk plain HTTP to it, read its figures.

    srv = ctx.server("--queue-msgs-max", "256")   # rcsuite.Ctx: started, port known, stopped by
                                                  # the runner
    m = srv.metrics()                             # /metrics scraped into a dict
    answer = get(srv.port, "/readyz")

  * Server: runs the binary (path from --bin, or the RINGCAST_BIN environment variable) as
    `ringcast --listen 127.0.0.1:0 FLAGS...`, stderr (the logfmt log) to a file, and waits (10 s,
    scaled by SLOW) for the `event=listening ... addr=127.0.0.1:PORT` line to learn the port (and
    tls_port from its tls_addr=, admin_port from an `event=admin_listening addr=...` line). The
    child gets SIGKILL if this Python process dies (PR_SET_PDEATHSIG), so a test killed by ctest's
    timeout leaves no server behind. stop() sends SIGTERM and checks: exit status 0 within the
    drain timeout, no sanitizer report ('ERROR: AddressSanitizer', 'runtime error:', ...) and no
    level=error line in the log.
  * metrics(): GET /metrics parsed into {'ringcast_connections': 0.0,
    'ringcast_buffers{state="free"}': 512.0, ...}; rss_kib() and fd_count() from /proc/PID.
  * http(), get(): one raw HTTP request and the whole answer (the server closes after every plain
    HTTP answer, so we read to EOF and say whether EOF came).
  * tcp_queues(), set_linger0(), free_fd_budget(): what a test needs to look at or shape a socket.
  * worker_of(sock), owner_of(topic): with --log-level debug, the worker that accepted a client
    and the worker that numbers a topic, from the server's debug lines.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time

from rcbase import Fail, t, wait_until


# ------------------------------------------------------------------------------------------------
# the server process

SAN_RE = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|"
                    r"ERROR SUMMARY: [1-9]|AddressSanitizer:DEADLYSIGNAL|"
                    r"(WARNING|FATAL): ThreadSanitizer")
LISTEN_RE = re.compile(r"\bevent=listening\b.*\baddr=\[?([0-9.:a-f]+?)\]?:(\d+)\b")
TLS_LISTEN_RE = re.compile(r"\bevent=listening\b.*\btls_addr=\[?([0-9.:a-f]+?)\]?:(\d+)\b")
ADMIN_LISTEN_RE = re.compile(r"\bevent=admin_listening\b.*\baddr=\[?([0-9.:a-f]+?)\]?:(\d+)\b")

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
        self.tls_port: int | None = None   # with --tls-listen
        self.admin_port: int | None = None  # with --admin-listen (the admin_listening line)
        self.exit_status: int | None = None
        self.stopped_in: float | None = None
        self.allowed_error_events: set = set()
        # where /metrics is asked from: another loopback address when a test holds 127.0.0.1 at a
        # per-address limit
        self.metrics_source = "127.0.0.1"
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
                tm = TLS_LISTEN_RE.search(self.log())
                self.tls_port = int(tm.group(2)) if tm else None
                am = ADMIN_LISTEN_RE.search(self.log())
                self.admin_port = int(am.group(2)) if am else None
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

    def _from_log(self, pattern: str, key: str, what: str) -> int:
        """The worker= of the first line matching pattern (group 1: worker, group 2: key), waiting
        up to 5 s (scaled) for it. Needs --log-level debug."""
        rx = re.compile(pattern)

        def find():
            for line in self.log().splitlines():
                m = rx.search(line)
                if m and m.group(2) == key:
                    return int(m.group(1)) + 1       # +1: worker 0 must be a true value
            return None
        return wait_until(find, t(5), what) - 1

    def worker_of(self, sock: socket.socket) -> int:
        """The worker that accepted this client socket, from its conn_open debug line."""
        port = sock.getsockname()[1]
        return self._from_log(r"\bevent=conn_open\b.*?\bworker=(\d+)\b.*?\bpeer=127\.0\.0\.1:(\d+)\b",
                              str(port), "conn_open line of client port %d" % port)

    def owner_of(self, topic: str) -> int:
        """The worker that numbers the topic, from its topic_numbered debug line (written when it
        numbers the topic's first message)."""
        return self._from_log(r"\bevent=topic_numbered\b.*?\bworker=(\d+)\b.*?\btopic=(\S+)",
                              topic, "topic_numbered line of %s" % topic)

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
        r = http(self.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", timeout=t(timeout),
                 source=self.metrics_source)
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


def http(port: int, request, timeout: float = 5.0, source: str = "127.0.0.1") -> HttpAnswer:
    """Send one request (str or bytes) from source and read until the server closes (or
    timeout)."""
    if isinstance(request, str):
        request = request.encode("latin-1")
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
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
