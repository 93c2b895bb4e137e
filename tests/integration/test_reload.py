#!/usr/bin/python3
"""Integration: SIGHUP reloads the configuration file (net/rc_reload.h, docs/operations.md
"Reload").

    /usr/bin/python3 tests/integration/test_reload.py --bin build/release/tools/ringcast

good_file  the server starts from a config file (2 workers). The file is rewritten: a new publish
    token, a tighter per-address cap, the debug log level (all reloadable), and a new listen
    pool size and worker count (not reloadable). After SIGHUP the log says `reloaded` with the
    three keys and `reload_refused` naming the other two; publishing with the old token is refused
    (4001) and with the new one works, on connections that land on both workers; the cap holds;
    debug lines appear. Connections open before the reload keep working.
bad_file  a file with a syntax error, then one with a value out of range, then a missing file:
    each SIGHUP logs `reload_failed` with the file and line, and nothing changes (the old token
    still publishes). A good file afterwards reloads.
command_line_wins  a key given on the command line keeps its value whatever the file says.
"""

import os
import signal
import time

from rcbase import Fail, check, expect_eq, t, wait_until
from rcws import RawWS, OP_CLOSE
from rcsuite import Suite

suite = Suite("reload")


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)   # as an editor or a config manager replaces it


def hup_and_wait(srv, event, n_before):
    srv.send_signal(signal.SIGHUP)
    return wait_until(lambda: len(srv.log_events(event)) > n_before and srv.log_events(event),
                      t(5), "a %s line after SIGHUP" % event)[-1]


def publish_works(srv, token, topic):
    """Subscribe to topic, publish one message with token: True if it arrives, False if the
    publisher was closed with 4001."""
    sub = RawWS.connect(srv.port, "/ws?topics=%s" % topic)
    pub = RawWS.connect(srv.port, "/ws?publish=%s&token=%s" % (topic, token))
    try:
        pub.send_text(b"hello")
        m = sub.recv_message(timeout=t(1))
        if m is not None and m[1] == b"hello":
            return True
        fr = pub.recv_frame(timeout=t(2))
        check(fr is not None and fr.opcode == OP_CLOSE, "neither delivered nor refused: %r" % fr)
        expect_eq(fr.close_code, 4001, "close code of a publish with a wrong token")
        return False
    finally:
        sub.close()
        pub.close()


@suite.case(timeout=60)
def good_file(ctx):
    path = os.path.join(ctx.workdir, "ringcast.conf")
    write(path, "workers = 2\npublish-token = old-token\n"
                "ip-limits-loopback = true\nlog-level = info\n")
    srv = ctx.server("--config", path)
    port = srv.port
    before = RawWS.connect(port, "/ws?topics=keep")
    keeper = RawWS.connect(port, "/ws?publish=keep&token=old-token")
    for i in range(4):
        check(publish_works(srv, "old-token", "t%d" % i), "the old token before the reload")
    write(path, "pool-buffers = 1024\nworkers = 1\npublish-token = new-token\n"
                "ip-limits-loopback = true\nip-connections-max = 8\nlog-level = debug\n")
    line = hup_and_wait(srv, "reloaded", 0)
    check("changed=3" in line and "publish-token" in line and "ip-connections-max" in line
          and "log-level" in line, "reloaded line: %s" % line)
    refused = srv.log_events("reload_refused")
    check(refused and "keys=pool-buffers,workers" in refused[-1], "reload_refused: %r" % refused)
    # several connections, so that both workers are asked
    for i in range(4):
        check(not publish_works(srv, "old-token", "o%d" % i), "the old token after the reload")
        check(publish_works(srv, "new-token", "n%d" % i), "the new token after the reload")
    # the reloaded per-address cap (2 connections are open: before, keeper)
    held = [RawWS.connect(port, "/ws?topics=cap") for _ in range(6)]
    try:
        RawWS.connect(port, "/ws?topics=cap")
        raise Fail("a 9th connection with ip-connections-max reloaded to 8")
    except Fail as e:
        check("9th" not in str(e), str(e))
    for h in held:
        h.close()
    wait_until(lambda: srv.log_events("conn_open"), t(5), "debug lines after the reload")
    # a connection from before the reload keeps its subscription and its publisher its right:
    # the token was checked when it connected
    keeper.send_text(b"still")
    m = before.recv_message(timeout=t(2))
    check(m is not None and m[1] == b"still", "a subscriber from before the reload: %r" % (m,))
    before.close()
    keeper.close()


@suite.case(timeout=60)
def bad_file(ctx):
    path = os.path.join(ctx.workdir, "ringcast.conf")
    write(path, "publish-token = tok\n")
    srv = ctx.server("--config", path)
    srv.allowed_error_events.add("reload_failed")
    bad = [("publish-token tok2\n", ":1:"),
           ("publish-token = tok2\nrate-burst-ms = 0\n", ":2:"),
           (None, "ringcast.conf")]
    for i, (text, where) in enumerate(bad):
        if text is None:
            os.unlink(path)
        else:
            write(path, text)
        line = hup_and_wait(srv, "reload_failed", i)
        check(where in line, "reload_failed should say where (%s): %s" % (where, line))
        check(publish_works(srv, "tok", "b%d" % i), "the old token after a failed reload")
    write(path, "publish-token = tok2\n")
    hup_and_wait(srv, "reloaded", 0)
    check(publish_works(srv, "tok2", "good"), "the token of the good file")


@suite.case(timeout=60)
def command_line_wins(ctx):
    path = os.path.join(ctx.workdir, "ringcast.conf")
    write(path, "publish-token = from-file\n")
    srv = ctx.server("--config", path, "--publish-token", "from-flag")
    write(path, "publish-token = from-file-2\n")
    line = hup_and_wait(srv, "reloaded", 0)
    check("changed=0" in line, "reloaded line: %s" % line)
    check(publish_works(srv, "from-flag", "c"), "the token given on the command line")


if __name__ == "__main__":
    suite.main()
