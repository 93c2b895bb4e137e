#!/usr/bin/python3
"""Integration: a restart that refuses no connection attempt (net/rc_handover.h): a successor
started with --takeover=true takes the listening sockets over from the running server on
--takeover-socket, and only once it serves does the old one stop accepting, close its clients
with 1012 and exit 0.

    /usr/bin/python3 tests/integration/test_takeover.py --bin build/release/tools/ringcast

live_feed             2 workers. A publisher publishing all the time, 8 plain and 4 ringcast.v1
                      subscribers, and a thread opening (and closing) WebSocket after WebSocket the
                      whole time. A successor takes over, then a third process takes over from it.
                      Not one connection attempt refused, reset or answered anything but 101; every
                      subscriber and the publisher get 1012 from each old process and are served by
                      the next one after reconnecting; each v1 subscriber resumes from where it was
                      and is told `reset` with reason `epoch` (history and numbering do not
                      survive a takeover); each old process exits 0.
refused_successors    a successor with another worker count (refused by the server: no descriptor
                      leaves it) and one with another listen address (it abandons) exit 1 with a
                      line saying why; the server logs takeover_failed and keeps serving, its
                      clients untouched.
never_ready           fake successors speaking the protocol by hand: one that takes the sockets
                      and never says READY (the server keeps serving, old and new clients, and
                      gives up after --takeover-timeout-ms), one that hangs up after the sockets,
                      one that says nothing, one of another protocol version (REFUSED with the
                      reason), one that sends garbage; then a real successor takes over: nothing
                      was wedged.
takeover_socket       mode 0600, a socket; a second server without --takeover refuses to start on
                      the socket of a running one; a peer of another uid is refused by
                      SO_PEERCRED (as root, by a client run as uid 65534 with the socket opened
                      for the test; skipped when not root); the socket goes away at a normal
                      exit; --takeover=true with no server there binds as usual.
activated_takeover    socket activation (systemd-socket-activate --fdname=ws) and a takeover of
                      the socket systemd passed: the first connection waits in the backlog and is
                      served, then a successor takes the activated socket over with a thread
                      connecting all the while: nothing refused, the activated server exits 0.
unit_takeover         docs/systemd/ringcast@.service: `systemd-analyze verify` says nothing; its
                      ExecStart run as two instances in turn (the socket path and config moved to
                      the test's folder): the first binds (nothing to take over), the second takes
                      over with a thread connecting all the while (nothing refused, 1012 to the
                      subscriber, the first exits 0); ExecReload reloads the second; SIGTERM.
"""

import json
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

from rcbase import Fail, check, expect_eq, t, wait_until
from rcserver import SAN_RE, get
from rcws import RawWS, WSClosed, OP_CLOSE, OP_TEXT, OP_BINARY
from rcv1 import v1_parse
from rcsuite import Suite
from rcunits import UNITS, free_port, unit

suite = Suite("takeover")

V1 = ["ringcast.v1"]
TOPIC = "tk.feed"

# rc_handover_msg (net/rc_handover.h): magic, version, kind, pid, workers, plain, tls, listen,
# tls_listen, why
MSG = struct.Struct("<IHHIIII56s56s128s")
MAGIC = 0x72636b74
REQUEST, SOCKETS, REFUSED, READY, ABANDON, DONE = 1, 2, 3, 4, 5, 6


def base(path, workers=2):
    """Flags every server of a case shares: the takeover socket, two workers, small buffers."""
    return ["--workers", str(workers), "--takeover-socket", path, "--recv-buffers", "256",
            "--pool-buffers", "1024", "--drain-timeout-ms", "5000"]


def sock_path(ctx):
    return os.path.join(ctx.workdir, "%s.sock" % ctx.case)


def successor(ctx, path, *flags, name):
    return ctx.server(*base(path), "--takeover=true", *flags, name=name)


def gone(srv, what, timeout=None):
    """The old server exits by itself after a takeover: status 0 and a clean log."""
    rc = srv.wait_exit(timeout or t(15))
    if rc is None:
        raise Fail("%s: still running after the takeover\n%s" % (what, srv.log_tail(30)))
    srv.exit_status = rc
    srv._log.close()
    expect_eq(rc, 0, "%s: exit status after the takeover (log:\n%s)" % (what, srv.log_tail(30)))
    srv.check_log()


def close_code(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


# ------------------------------------------------------------------------------------------------
# clients that keep going across takeovers

class Worker(threading.Thread):
    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.halt = threading.Event()
        self.errors = []

    def finish(self):
        self.halt.set()
        self.join(t(10))


class Connector(Worker):
    """Opens a WebSocket, closes it, again and again: every attempt must get its 101."""

    def __init__(self, port):
        super().__init__(port)
        self.attempts = []    # monotonic start of each attempt
        self.failures = []

    def run(self):
        while not self.halt.is_set():
            t0 = time.monotonic()
            try:
                ws = RawWS.connect(self.port, "/ws?topics=tk.churn", timeout=10)
                ws.send_close(1000)
                ws.close()
            except Fail as e:          # refused, reset, EOF, or an answer other than 101
                self.failures.append("%.3f: %s" % (t0, e))
            self.attempts.append(t0)
            time.sleep(0.002)

    def during(self, t0, t1):
        return sum(1 for a in self.attempts if t0 <= a <= t1)


class Sub(Worker):
    """A subscriber of TOPIC that reconnects after each close. conns: one dict per connection,
    {"msgs": data messages, "code": the server's close code}. A v1 one resumes from its last
    position and keeps the reset notices it is told."""

    def __init__(self, port, v1=False):
        super().__init__(port)
        self.v1 = v1
        self.conns = []
        self.resets = []
        self.epoch, self.last = None, 0

    def connect(self):
        if not self.v1:
            return RawWS.connect(self.port, "/ws?topics=" + TOPIC)
        if self.epoch is None:
            return RawWS.connect(self.port, "/ws?topics=" + TOPIC, protocols=V1)
        ws = RawWS.connect(self.port, "/ws", protocols=V1)
        ws.send_text(json.dumps({"op": "subscribe", "resume": [
            {"topic": TOPIC, "epoch": self.epoch, "seq": self.last}]}))
        return ws

    def take(self, cur, op, body):
        if op == OP_TEXT and self.v1:
            n = json.loads(body)
            if n.get("type") == "subscribed":
                self.epoch = n["positions"][0]["epoch"]
            elif n.get("type") == "reset":
                self.resets.append(n)
            return
        if self.v1:
            _, seq, _, _ = v1_parse(body)
            self.last = seq
        cur["msgs"] += 1

    def run(self):
        while not self.halt.is_set():
            try:
                ws = self.connect()
            except Fail as e:
                self.errors.append("connect: %s" % e)
                time.sleep(0.05)
                continue
            cur = {"msgs": 0, "code": None}
            self.conns.append(cur)
            try:
                while not self.halt.is_set():
                    m = ws.recv_message(0.2)
                    if m is None:
                        continue
                    op, body = m
                    if op == OP_CLOSE:
                        cur["code"] = close_code(body)
                        ws.send_close(1000)
                        ws.wait_eof(t(5))
                        break
                    self.take(cur, op, body)
            except (Fail, OSError) as e:
                self.errors.append("connection %d: %s" % (len(self.conns), e))
            ws.close()


class Pub(Worker):
    """A plain publisher of TOPIC, a message every 2 ms, reconnecting after each close."""

    def __init__(self, port):
        super().__init__(port)
        self.closes = []
        self.sent = 0

    def run(self):
        while not self.halt.is_set():
            try:
                ws = RawWS.connect(self.port, "/ws?publish=" + TOPIC)
            except Fail as e:
                self.errors.append("connect: %s" % e)
                time.sleep(0.05)
                continue
            try:
                while not self.halt.is_set():
                    ws.send_text(b"%d" % self.sent)
                    self.sent += 1
                    fr = ws.recv_frame(0.002)      # the pace, and a close from the server
                    if fr is not None and fr.opcode == OP_CLOSE:
                        self.closes.append(close_code(fr.payload))
                        ws.send_close(1000)
                        ws.wait_eof(t(5))
                        break
            except (Fail, OSError) as e:
                self.errors.append("publishing: %s" % e)
            ws.close()


def start_all(ctx, *workers):
    for w in workers:
        w.start()
    ctx.cleanup.append(lambda: [w.halt.set() for w in workers])


def served_since(subs, k, n=10):
    """Every subscriber is on its k-th connection (from 1) and got n messages on it."""
    return all(len(s.conns) >= k and s.conns[k - 1]["msgs"] >= n for s in subs)


# ------------------------------------------------------------------------------------------------
# the cases

@suite.case(timeout=150)
def live_feed(ctx):
    path = sock_path(ctx)
    first = ctx.server(*base(path), name="first")
    port = first.port
    subs = [Sub(port) for _ in range(8)] + [Sub(port, v1=True) for _ in range(4)]
    pub, con = Pub(port), Connector(port)
    start_all(ctx, pub, con, *subs)
    wait_until(lambda: served_since(subs, 1), t(10), "every subscriber fed by the first server")

    servers = [first]
    for k, name in ((2, "second"), (3, "third")):
        old = servers[-1]
        t0 = time.monotonic()
        new = successor(ctx, path, name=name)
        expect_eq(new.port, port, "the %s server's port" % name)
        gone(old, "the %s server" % old.name)
        t1 = time.monotonic()
        ctx.note("takeover by the %s server: %.2f s from its start to the old one's exit, %d "
                 "connection attempts meanwhile" % (name, t1 - t0, con.during(t0, t1)))
        check(con.during(t0, t1) > 0, "no connection attempt was made during the takeover")
        wait_until(lambda: served_since(subs, k), t(10),
                   "every subscriber reconnected and fed by the %s server" % name)
        check("role=server" in " ".join(old.log_events("takeover_done")),
              "the old server logs takeover_done role=server")
        check("role=successor" in " ".join(new.log_events("takeover_done")),
              "the new server logs takeover_done role=successor")
        servers.append(new)
    for w in [pub, con] + subs:
        w.finish()

    ctx.note("%d connection attempts in all, %d messages published" % (len(con.attempts), pub.sent))
    check(not con.failures, "%d of %d connection attempts failed (refused, reset or not 101), "
          "first ones:\n  %s" % (len(con.failures), len(con.attempts), "\n  ".join(con.failures[:5])))
    bad = []
    for i, s in enumerate(subs):
        codes = [c["code"] for c in s.conns]
        if s.errors:
            bad.append("subscriber %d: %s" % (i, s.errors[:3]))
        elif codes[:2] != [1012, 1012] or any(c["msgs"] == 0 for c in s.conns[:3]):
            bad.append("subscriber %d: closes %r, messages per connection %r"
                       % (i, codes, [c["msgs"] for c in s.conns]))
        elif s.v1 and [r["reason"] for r in s.resets] != ["epoch", "epoch"]:
            bad.append("subscriber %d (v1): expected a reset with reason epoch after each "
                       "takeover, got %r" % (i, s.resets))
    check(not bad, "subscribers:\n  " + "\n  ".join(bad))
    check(not pub.errors, "publisher: %s" % pub.errors[:3])
    expect_eq(pub.closes, [1012, 1012], "the publisher's closes")


def run_successor(ctx, path, flags, what):
    """A successor that is expected to fail: its exit status and log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    argv = [ctx.binary, "--listen", "127.0.0.1:0"] + base(path) + ["--takeover=true"] + flags
    r = subprocess.run(argv, capture_output=True, text=True, timeout=t(30), env=env)
    check(not SAN_RE.search(r.stderr), "%s: sanitizer report:\n%s" % (what, r.stderr[-3000:]))
    return r.returncode, r.stderr


def round_trip(pub, sub, body, what):
    pub.send_text(body)
    m = sub.recv_message(t(5))
    expect_eq(m, (OP_TEXT, body), what)


@suite.case(timeout=90)
def refused_successors(ctx):
    path = sock_path(ctx)
    srv = ctx.server(*base(path))
    sub = RawWS.connect(srv.port, "/ws?topics=r")
    pub = RawWS.connect(srv.port, "/ws?publish=r")
    round_trip(pub, sub, b"before", "before any successor")
    for what, flags, want, server_reason in (
            ("one worker instead of two", ["--workers", "1"], "reason=refused", "workers"),
            ("another listen address", ["--listen", "127.0.0.2:0"], "reason=mismatch",
             "successor_refused")):
        rc, log = run_successor(ctx, path, flags, what)
        expect_eq(rc, 1, "%s: the successor's exit status (log:\n%s)" % (what, log[-2000:]))
        line = next((ln for ln in log.splitlines() if "event=takeover_failed" in ln), "")
        check("role=successor " + want in line and "level=error" in line,
              "%s: the successor says why in one error line: %r" % (what, line or log[-1500:]))
        ctx.note("%s: %s" % (what, line[line.find("detail="):]))
        wait_until(lambda: [ln for ln in srv.log_events("takeover_failed")
                            if "reason=" + server_reason in ln], t(5),
                   "%s: the server's takeover_failed reason=%s" % (what, server_reason))
        round_trip(pub, sub, what.encode(), "%s: the server keeps serving its clients" % what)
        RawWS.connect(srv.port, "/ws?topics=r2").close()
    expect_eq(stat.S_IMODE(os.stat(path).st_mode), 0o600, "the takeover socket is still there")


def fake_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(t(10))
    s.connect(path)
    return s


def fake_send(s, kind, workers=2, version=1, magic=MAGIC):
    s.sendall(MSG.pack(magic, version, kind, os.getpid(), workers, 0, 0, b"", b"", b""))


def fake_recv(s, timeout):
    """One message and the descriptors with it: (dict, fds); Fail at EOF."""
    s.settimeout(timeout)
    data, fds = b"", []
    while len(data) < MSG.size:
        d, f, _, _ = socket.recv_fds(s, MSG.size - len(data), 256)
        fds += f
        if not d:
            raise Fail("the server closed the takeover connection (after %d bytes)" % len(data))
        data += d
    v = MSG.unpack(data)
    keys = ("magic", "version", "kind", "pid", "workers", "plain", "tls", "listen", "tls_listen",
            "why")
    m = dict(zip(keys, v))
    for k in ("listen", "tls_listen", "why"):
        m[k] = m[k].split(b"\0")[0].decode()
    return m, fds


def failed_with(srv, reason, before):
    """Wait for one more takeover_failed line with this reason than `before` counted."""
    def more():
        n = [ln for ln in srv.log_events("takeover_failed") if "reason=%s " % reason in ln]
        return len(n) > before and n
    return wait_until(more, t(6), "the server's takeover_failed reason=%s" % reason)


def count_failed(srv, reason):
    return len([ln for ln in srv.log_events("takeover_failed") if "reason=%s " % reason in ln])


@suite.case(timeout=90)
def never_ready(ctx):
    path = sock_path(ctx)
    srv = ctx.server(*base(path), "--takeover-timeout-ms", "1500", name="server")
    sub = RawWS.connect(srv.port, "/ws?topics=nr")
    pub = RawWS.connect(srv.port, "/ws?publish=nr")
    round_trip(pub, sub, b"before", "before the fake successors")

    # 1. takes the sockets, never says READY
    s = fake_connect(path)
    fake_send(s, REQUEST)
    m, fds = fake_recv(s, t(5))
    expect_eq((m["magic"], m["kind"], m["workers"], m["plain"], m["tls"], m["listen"],
               m["tls_listen"], len(fds)),
              (MAGIC, SOCKETS, 2, 2, 0, "127.0.0.1:%d" % srv.port, "off", 2), "the SOCKETS answer")
    for fd in fds:
        ls = socket.socket(fileno=os.dup(fd))
        expect_eq(ls.getsockname(), ("127.0.0.1", srv.port), "a descriptor passed")
        check(ls.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), "a listening socket")
        ls.close()
    t0 = time.monotonic()
    round_trip(pub, sub, b"while one hangs", "the server serves its clients meanwhile")
    late = RawWS.connect(srv.port, "/ws?topics=nr")
    round_trip(pub, late, b"to a new one", "a client connecting meanwhile is served")
    expect_eq(sub.recv_message(t(5)), (OP_TEXT, b"to a new one"), "the first subscriber too")
    expect_eq(get(srv.port, "/readyz").status, 200, "/readyz meanwhile")
    failed_with(srv, "not_ready", 0)
    ctx.note("a successor that never said READY was given up after %.2f s (timeout 1.5 s)"
             % (time.monotonic() - t0))
    s.settimeout(t(5))
    expect_eq(s.recv(1), b"", "the server closed the connection of the one that hung")
    s.close()
    for fd in fds:
        os.close(fd)
    round_trip(pub, sub, b"after", "after it was given up")

    # 2. hangs up after the sockets
    s = fake_connect(path)
    fake_send(s, REQUEST)
    m, fds = fake_recv(s, t(5))
    for fd in fds:
        os.close(fd)
    s.close()
    failed_with(srv, "hung_up", 0)

    # 3. says nothing
    s = fake_connect(path)
    failed_with(srv, "timeout", 0)
    s.close()

    # 4. another version: told why
    s = fake_connect(path)
    fake_send(s, REQUEST, version=9)
    m, fds = fake_recv(s, t(5))
    expect_eq((m["kind"], len(fds)), (REFUSED, 0), "another protocol version")
    check("protocol version 9" in m["why"], "the refusal says why: %r" % m["why"])
    s.close()

    # 5. garbage
    s = fake_connect(path)
    s.sendall(b"GET / HTTP/1.1\r\n" * 40)
    failed_with(srv, "not_a_takeover_message", 0)
    s.close()

    round_trip(pub, sub, b"after the fakes", "the server serves after all of them")
    new = successor(ctx, path, "--takeover-timeout-ms", "1500", name="successor")
    m = sub.recv_message(t(10))
    check(m is not None and m[0] == OP_CLOSE and close_code(m[1]) == 1012,
          "the server's subscriber is closed with 1012 by the real takeover: %r" % (m,))
    gone(srv, "the server")
    sub2 = RawWS.connect(new.port, "/ws?topics=nr")
    pub2 = RawWS.connect(new.port, "/ws?publish=nr")
    round_trip(pub2, sub2, b"on the successor", "the successor serves")


PEER_CLIENT = r"""
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:    # the server may have closed already (it checks the peer at accept)
    s.sendall(struct.pack("<IHHIIII56s56s128s", 0x72636b74, 1, 1, os.getpid(), 2, 0, 0, b"", b"",
                          b""))
    d = s.recv(4096)
except (BrokenPipeError, ConnectionResetError):
    d = b""
print("uid=%d answer=%d" % (os.getuid(), len(d)))
"""


@suite.case(timeout=60)
def takeover_socket(ctx):
    d = tempfile.mkdtemp(prefix="rc-tk-")
    os.chmod(d, 0o711)           # another uid may reach the socket (below), not list the folder
    ctx.cleanup.append(lambda: shutil.rmtree(d, ignore_errors=True))
    path = os.path.join(d, "takeover.sock")
    srv = ctx.server(*base(path), name="server")
    st = os.stat(path)
    check(stat.S_ISSOCK(st.st_mode), "takeover-socket is a socket")
    expect_eq(stat.S_IMODE(st.st_mode), 0o600, "takeover-socket's mode")
    check(re.search(r'event=takeover_socket path="%s" mode=0600' % re.escape(path), srv.log()),
          "the takeover_socket line")

    # a second server that does not take over refuses to start on a live takeover socket
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    r = subprocess.run([ctx.binary, "--listen", "127.0.0.1:0"] + base(path), capture_output=True,
                       text=True, timeout=t(30), env=env)
    expect_eq(r.returncode, 1, "a second server on the same takeover socket")
    check("a server answers there" in r.stderr, "it says why: %s" % r.stderr[-1000:])
    expect_eq(os.stat(path).st_ino, st.st_ino, "the running server's socket is left alone")

    # a peer of another uid: the mode keeps it out; opened for the test, SO_PEERCRED does
    if os.geteuid() == 0:
        os.chmod(path, 0o666)
        r = subprocess.run([sys.executable, "-c", PEER_CLIENT, path], user=65534, group=65534,
                           extra_groups=[], capture_output=True, text=True, timeout=t(20))
        os.chmod(path, 0o600)
        expect_eq((r.returncode, r.stdout.strip()), (0, "uid=65534 answer=0"),
                  "uid 65534 gets no answer (stderr %r)" % r.stderr[-500:])
        line = failed_with(srv, "peer_uid", 0)[0]
        ctx.note("another uid: %s" % line[line.find("reason="):])
    else:
        ctx.note("not root: the SO_PEERCRED refusal of another uid is not tested")
    RawWS.connect(srv.port, "/ws?topics=x").close()

    srv.stop()
    check(not os.path.exists(path), "the takeover socket is removed at a normal exit")
    # --takeover=true and nobody there: listen as usual, and offer the socket
    alone = ctx.server(*base(path), "--takeover=true", name="alone")
    check(alone.log_events("takeover_failed") and
          "reason=no_server" in alone.log_events("takeover_failed")[0],
          "no server to take over: said once, at warn")
    check(stat.S_ISSOCK(os.stat(path).st_mode), "it offers its own takeover socket")
    RawWS.connect(alone.port, "/ws?topics=x").close()


def launch(ctx, argv, name, env=None):
    """A process the runner does not know: killed at the end, its log checked by stopped()."""
    log = os.path.join(ctx.workdir, name + ".log")
    f = open(log, "wb")
    full = dict(os.environ)
    for k in list(full):
        if k.startswith("RINGCAST_"):
            del full[k]
    full.update(env or {})
    proc = subprocess.Popen(argv, stdout=f, stderr=f, stdin=subprocess.DEVNULL, env=full)
    f.close()
    ctx.cleanup.append(lambda: proc.poll() is None and proc.kill())
    proc.log = log
    proc.text = lambda: open(log, errors="replace").read()
    return proc


def stopped(proc, what, timeout=None, sig=None):
    if sig is not None:
        proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=timeout or t(15))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise Fail("%s: still running (log:\n%s)" % (what, proc.text()[-2000:]))
    text = proc.text()
    expect_eq(rc, 0, "%s: exit status (log:\n%s)" % (what, text[-2000:]))
    check(not SAN_RE.search(text), "%s: sanitizer report:\n%s" % (what, text[-3000:]))
    errs = [ln for ln in text.splitlines() if "level=error" in ln]
    check(not errs, "%s: error lines: %s" % (what, errs[:5]))


@suite.case(timeout=60)
def activated_takeover(ctx):
    if shutil.which("systemd-socket-activate") is None:
        raise Fail("systemd-socket-activate is missing (Debian package systemd)")
    path = sock_path(ctx)
    port = free_port()
    act = launch(ctx, ["systemd-socket-activate", "-l", "127.0.0.1:%d" % port, "--fdname=ws",
                       ctx.binary, "--listen", "127.0.0.1:%d" % port] + base(path), "activated")
    wait_until(lambda: "Listening on" in act.text(), t(5), "systemd-socket-activate listening")
    t0 = time.monotonic()
    sub = RawWS.connect(port, "/ws?topics=a", timeout=t(10))    # starts the server
    ctx.note("the first connection, made before the server ran, was served after %.0f ms"
             % (1000 * (time.monotonic() - t0)))
    check(re.search(r"event=socket_activation fds=1 listen=127\.0\.0\.1:%d" % port, act.text()),
          "no socket_activation line: %s" % act.text()[-1500:])
    wait_until(lambda: "event=takeover_socket" in act.text(), t(5), "the takeover socket")
    con = Connector(port)
    start_all(ctx, con)
    time.sleep(0.2)
    new = successor(ctx, path, name="successor")
    expect_eq(new.port, port, "the successor serves the activated socket")
    m = sub.recv_message(t(10))
    check(m is not None and m[0] == OP_CLOSE and close_code(m[1]) == 1012,
          "the activated server's subscriber is closed with 1012: %r" % (m,))
    sub.close()
    stopped(act, "the activated server")
    time.sleep(0.2)
    con.finish()
    check(con.attempts and not con.failures, "%d of %d attempts failed: %s"
          % (len(con.failures), len(con.attempts), con.failures[:3]))
    s2 = RawWS.connect(port, "/ws?topics=a")
    p2 = RawWS.connect(port, "/ws?publish=a")
    round_trip(p2, s2, b"on the successor", "the successor serves the activated socket")


@suite.case(timeout=90)
def unit_takeover(ctx):
    if shutil.which("systemd-analyze") is None:
        raise Fail("systemd-analyze is missing (Debian package systemd)")
    d = os.path.join(ctx.workdir, "units")
    os.makedirs(d)
    with open(os.path.join(UNITS, "ringcast@.service")) as f:
        text = f.read().replace("/usr/local/bin/ringcast", os.path.abspath(ctx.binary))
    with open(os.path.join(d, "ringcast@.service"), "w") as f:
        f.write(text)
    r = subprocess.run(["systemd-analyze", "verify", "ringcast@a.service"], cwd=d,
                       capture_output=True, text=True, timeout=t(30))
    said = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and not said,
          "systemd-analyze verify ringcast@a.service: exit %d, said: %s" % (r.returncode, said))
    svc = unit("ringcast@.service")["Service"]
    expect_eq(svc["LimitMEMLOCK"], ["infinity"], "LimitMEMLOCK (the buffers are locked)")
    expect_eq(svc["Restart"], ["on-failure"], "Restart= (a takeover ends the old one with 0)")
    check("-HUP" in svc["ExecReload"][0] and "$MAINPID" in svc["ExecReload"][0],
          "ExecReload sends SIGHUP: %r" % svc["ExecReload"])

    # ExecStart, the way the unit says, with the configuration and the socket in our folder
    port = free_port()
    conf = os.path.join(ctx.workdir, "ringcast.conf")
    with open(conf, "w") as f:
        f.write("listen = 127.0.0.1:%d\nworkers = 2\nrecv-buffers = 256\npool-buffers = 1024\n"
                "drain-timeout-ms = 5000\n" % port)
    path = sock_path(ctx)
    argv = svc["ExecStart"][0].split()
    argv[0] = os.path.abspath(ctx.binary)
    argv[argv.index("--config") + 1] = conf
    argv = [re.sub(r"^--takeover-socket=.*", "--takeover-socket=" + path, a) for a in argv]
    check("--takeover=true" in argv, "the unit's ExecStart takes over: %r" % argv)
    a = launch(ctx, argv, "instance-a")
    wait_until(lambda: "event=listening" in a.text(), t(10), "instance a listening")
    check("reason=no_server" in a.text(), "instance a: nothing to take over, said once")
    sub = RawWS.connect(port, "/ws?topics=u")
    con = Connector(port)
    start_all(ctx, con)
    time.sleep(0.2)
    b = launch(ctx, argv, "instance-b")
    wait_until(lambda: "event=takeover_done" in b.text(), t(15), "instance b took over")
    m = sub.recv_message(t(10))
    check(m is not None and m[0] == OP_CLOSE and close_code(m[1]) == 1012,
          "instance a's subscriber is closed with 1012: %r" % (m,))
    sub.close()
    stopped(a, "instance a, taken over")
    time.sleep(0.2)
    con.finish()
    check(con.attempts and not con.failures, "%d of %d attempts failed: %s"
          % (len(con.failures), len(con.attempts), con.failures[:3]))
    ctx.note("%d connection attempts across the takeover, none refused" % len(con.attempts))
    # the unit's ExecReload, with $MAINPID: instance b
    with open(conf, "a") as f:
        f.write("rate-commands-per-s = 7\n")
    reload_cmd = svc["ExecReload"][0].replace("$MAINPID", str(b.pid)).split()
    subprocess.run(reload_cmd, check=True, timeout=t(10))
    wait_until(lambda: "changed=1 keys=rate-commands-per-s" in b.text(), t(5),
               "the reload by ExecReload")
    s2 = RawWS.connect(port, "/ws?topics=u")
    p2 = RawWS.connect(port, "/ws?publish=u")
    round_trip(p2, s2, b"on instance b", "instance b serves")
    s2.close()
    p2.close()
    stopped(b, "instance b", sig=signal.SIGTERM)
    check(not os.path.exists(path), "instance b removed its takeover socket at exit")


if __name__ == "__main__":
    suite.main()
