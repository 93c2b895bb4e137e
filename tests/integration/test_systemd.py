#!/usr/bin/python3
"""Integration: the shipped systemd units (docs/systemd/) and socket activation
(net/rc_activate.h), with systemd's own tools: systemd-analyze and systemd-socket-activate.

    /usr/bin/python3 tests/integration/test_systemd.py --bin build/release/tools/ringcast

units_verify       `systemd-analyze verify` on ringcast.service and ringcast.socket (ExecStart
                   pointed at the built binary): exit 0 and not one warning; and the unit has the
                   settings the server needs (Restart=, LimitNOFILE=, LimitMEMLOCK=infinity,
                   ExecReload= sending SIGHUP).
activated          the server started the way the units say: systemd-socket-activate holds the
                   socket of ringcast.socket (its address moved to a free port, its
                   FileDescriptorName) and starts the service's ExecStart at the first connection,
                   which must be served (it waited in the backlog, it was not refused); the log
                   says socket_activation, and warns that two workers share one socket; every
                   connection is served; the unit's ExecReload reloads the configuration file;
                   SIGTERM drains and exits 0.
socket_per_worker  two SO_REUSEPORT sockets passed for one listener (as two .socket units with
                   ReusePort=yes would): each worker takes one, and connections are spread over
                   both workers.
activation_refused a passed socket that is neither listen nor tls-listen, and one for a listener
                   configured off, stop the server at start with a line saying so.
"""

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

from rcbase import Fail, check, expect_eq, t, wait_until
from rcws import RawWS
from rcsuite import Suite
from rcunits import UNITS, free_port, unit

suite = Suite("systemd")


@suite.case(timeout=60)
def units_verify(ctx):
    if shutil.which("systemd-analyze") is None:
        raise Fail("systemd-analyze is missing (Debian package systemd)")
    d = os.path.join(ctx.workdir, "units")
    os.makedirs(d)
    for name in ("ringcast.service", "ringcast.socket"):
        with open(os.path.join(UNITS, name)) as f:
            text = f.read().replace("/usr/local/bin/ringcast", os.path.abspath(ctx.binary))
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    r = subprocess.run(["systemd-analyze", "verify", "ringcast.service", "ringcast.socket"],
                       cwd=d, capture_output=True, text=True, timeout=t(30))
    said = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and not said,
          "systemd-analyze verify: exit %d, said: %s" % (r.returncode, said))
    svc = unit("ringcast.service")["Service"]
    for key in ("Restart", "LimitNOFILE", "LimitMEMLOCK", "ExecReload", "ExecStart"):
        check(key in svc, "ringcast.service has no %s=" % key)
    expect_eq(svc["LimitMEMLOCK"], ["infinity"], "LimitMEMLOCK (the buffers are locked)")
    check("-HUP" in svc["ExecReload"][0] and "$MAINPID" in svc["ExecReload"][0],
          "ExecReload sends SIGHUP to the server: %r" % svc["ExecReload"])


def start_activated(ctx, port, fdname, args, log):
    cmd = ["systemd-socket-activate", "-l", "127.0.0.1:%d" % port]
    if fdname:
        cmd.append("--fdname=" + fdname)
    cmd += [os.path.abspath(ctx.binary)] + args
    f = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=f, stderr=f, stdin=subprocess.DEVNULL)
    ctx.cleanup.append(lambda: proc.poll() is None and proc.kill())
    wait_until(lambda: "Listening on" in open(log, errors="replace").read(), t(5),
               "systemd-socket-activate listening")
    return proc


@suite.case(timeout=90)
def activated(ctx):
    sock = unit("ringcast.socket")["Socket"]
    svc = unit("ringcast.service")["Service"]
    fdname = sock["FileDescriptorName"][0]
    port = free_port()
    conf = os.path.join(ctx.workdir, "ringcast.conf")
    with open(conf, "w") as f:
        f.write("listen = 127.0.0.1:%d\nworkers = 2\nlog-level = info\n" % port)
    argv = svc["ExecStart"][0].split()[1:]
    argv[argv.index("--config") + 1] = conf
    log = os.path.join(ctx.workdir, "activated.log")
    proc = start_activated(ctx, port, fdname, argv, log)
    # the first connection starts the server: it waits in the backlog meanwhile
    t0 = time.monotonic()
    first = RawWS.connect(port, "/ws?topics=a", timeout=t(10))
    ctx.note("the first connection was served %.0f ms after it was made"
             % (1000 * (time.monotonic() - t0)))
    text = open(log, errors="replace").read()
    check(re.search(r"event=socket_activation fds=1 listen=127\.0\.0\.1:%d" % port, text),
          "no socket_activation line: %s" % text[-2000:])
    # both workers take connections from the one socket
    clients = [RawWS.connect(port, "/ws?topics=a") for _ in range(12)]
    pub = RawWS.connect(port, "/ws?publish=a")
    pub.send_text(b"hello")
    for c in [first] + clients:
        m = c.recv_message(timeout=t(3))
        check(m is not None and m[1] == b"hello", "a subscriber on the activated socket: %r"
              % (m,))
    check("workers share sockets" in text, "no warning that two workers share one socket")
    # the unit's ExecReload, with $MAINPID
    with open(conf, "a") as f:
        f.write("rate-commands-per-s = 7\n")
    reload_cmd = svc["ExecReload"][0].replace("$MAINPID", str(proc.pid)).split()
    subprocess.run(reload_cmd, check=True, timeout=t(10))
    wait_until(lambda: "changed=1 keys=rate-commands-per-s" in open(log, errors="replace").read(),
               t(5), "the reload by ExecReload")
    for c in [first, pub] + clients:
        c.close()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=t(20))
    text = open(log, errors="replace").read()
    expect_eq(rc, 0, "exit status after SIGTERM (log: %s)" % text[-1500:])
    drained = dict(re.findall(r"event=drained worker=(\d) accepted=(\d+)", text))
    ctx.note("accepted per worker on one shared socket: %s" % drained)
    expect_eq(sum(int(v) for v in drained.values()), 14, "connections accepted in all")


@suite.case(timeout=60)
def socket_per_worker(ctx):
    port = free_port()
    socks = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", port))
        s.listen(128)
        socks.append(s)
    # out of the way of 3 and 4 first: the launcher moves them there
    fds = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 20) for s in socks]
    log = os.path.join(ctx.workdir, "per-worker.log")
    f = open(log, "wb")
    # descriptors 3 and 4 and LISTEN_PID of the process that runs the server, as systemd passes
    # them (the launcher execs the server: the same pid)
    launcher = ("import os, sys\n"
                "for i, fd in enumerate(sys.argv[1:3]):\n"
                "    os.dup2(int(fd), 3 + i)\n"
                "    os.set_inheritable(3 + i, True)\n"
                "    os.close(int(fd))\n"
                "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='2',\n"
                "                  LISTEN_FDNAMES='ws:ws')\n"
                "os.execv(sys.argv[3], sys.argv[3:])\n")
    cmd = [sys.executable, "-c", launcher, str(fds[0]), str(fds[1]), os.path.abspath(ctx.binary),
           "--listen", "127.0.0.1:%d" % port, "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=f, stderr=f, stdin=subprocess.DEVNULL, pass_fds=fds)
    for fd in fds:
        os.close(fd)
    ctx.cleanup.append(lambda: proc.poll() is None and proc.kill())
    for s in socks:
        s.close()   # the server holds them now
    try:
        wait_until(lambda: "event=listening" in open(log, errors="replace").read(), t(10),
                   "the server listening")
    except Fail as e:
        raise Fail("%s; its log: %s" % (e, open(log, errors="replace").read()[-1500:]))
    text = open(log, errors="replace").read()
    check("listen_sockets=2" in text and "workers share sockets" not in text,
          "two sockets, one per worker: %s" % text[-1500:])
    clients = [RawWS.connect(port, "/ws?topics=a") for _ in range(40)]
    for c in clients:
        c.close()
    proc.send_signal(signal.SIGTERM)
    expect_eq(proc.wait(timeout=t(20)), 0, "exit status after SIGTERM")
    text = open(log, errors="replace").read()
    drained = dict(re.findall(r"event=drained worker=(\d) accepted=(\d+)", text))
    ctx.note("accepted per worker with a socket each: %s" % drained)
    check(len(drained) == 2 and all(int(v) > 0 for v in drained.values())
          and sum(int(v) for v in drained.values()) == 40,
          "connections spread over both workers: %r" % drained)


@suite.case(timeout=60)
def activation_refused(ctx):
    for what, args, want in (
            ("an address that is neither listener", ["--listen", "127.0.0.1:1"],
             "matches neither listen nor tls-listen"),
            ("a listener configured off", ["--listen", "off", "--tls-listen", "127.0.0.1:0",
                                           "--tls-cert", "x", "--tls-key", "y"], None)):
        port = free_port()
        log = os.path.join(ctx.workdir, "refused-%d.log" % port)
        proc = start_activated(ctx, port, None, args, log)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=t(2)).close()
        except OSError:
            pass
        rc = proc.wait(timeout=t(20))
        text = open(log, errors="replace").read()
        check(rc != 0, "%s: the server started (exit %s)" % (what, rc))
        if want:
            check(want in text, "%s: the log should say %r: %s" % (what, want, text[-800:]))
        else:
            check("level=error" in text, "%s: no error line: %s" % (what, text[-800:]))


if __name__ == "__main__":
    suite.main()
