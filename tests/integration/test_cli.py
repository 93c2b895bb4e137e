#!/usr/bin/python3
"""Integration: tools/ringcast-cli (docs/cli.md) against the real server.

    /usr/bin/python3 tests/integration/test_cli.py --bin build/release/tools/ringcast [--only CASE]

The CLI is found next to the server binary (build/<type>/tools/ringcast-cli). Each case runs it as
a user would, with its stdout and stderr in files of the case's folder, and checks the lines, the
exit status and the messages on stderr.

roundtrip           `sub --json` and `sub` (text) on two topics while `pub` publishes stdin lines
                    on one and `pub --file` (CRLF, a last line without newline) on the other; a
                    binary message and a text with a newline published by a raw client: every
                    message exactly once per topic in order, seq 1, 2, ..., JSON escaping, base64
                    for binary, \\n for a newline in text mode; both subscribers exit 0 at --count
pub_takes_everything  `pub` of 3,000 lines exits 0 only after the server has taken them all
                    (ringcast_messages_published_total up by exactly 3,000 at once); a line that
                    is not UTF-8 stops it (exit 1, the line number) after the lines before it;
                    an input that does not end stops at --timeout-ms (exit 4)
pub_wrong_token     --publish-token: a wrong token and no token exit 3 with the server's
                    unauthorized notice and close 4001 on stderr; RINGCAST_TOKEN works
state_across_runs   --state: a first run takes 3 messages and exits; messages are published while
                    nothing runs; a second run prints exactly those (replayed from the server's
                    history, retained) and no other; the file holds each topic's epoch and last
                    number; a third run after a message published meanwhile goes on from there
snapshot            --snapshot: the latest retained message first (retained: true, its number),
                    then live ones; without it nothing from before (exit 4 at --timeout-ms)
reconnect_after_restart  the server killed (SIGKILL: no close frame, 1006) and started again on
                    the same port, then stopped (SIGTERM: 1001) and started again: the CLI
                    reconnects with backoff each time and prints the messages published on each
                    server; a reset notice says the numbering changed; SIGTERM ends it with 0
refusals            403 (an --origins list, no Origin), 404 (another path), a handshake with an
                    allowed --origin, usage errors (exit 2), a refused connection with
                    --no-reconnect (exit 1), --timeout-ms before --count (exit 4), a state file
                    that is not one (exit 1, its line number)
wss                 wss:// with --ca (tools/gen-cert.sh), by address and by name; without --ca the
                    self-signed certificate is refused (exit 3) and never retried; --insecure
"""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

from rcbase import Fail, check, expect_eq, t, wait_until
from rcserver import _die_with_parent
from rcsuite import Suite
from rcv1 import v1_publish
from rcws import RawWS

suite = Suite("cli")

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EPOCH_RE = re.compile(r"^[0-9a-f]{16}$")


# ------------------------------------------------------------------------------------------------
# running the CLI

def cli_path(ctx) -> str:
    path = os.path.join(os.path.dirname(os.path.abspath(ctx.binary)), "ringcast-cli")
    if not os.access(path, os.X_OK):
        raise Fail("no CLI at %s (build the ringcast-cli target)" % path)
    return path


class Cli:
    """A ringcast-cli running in the background, its stdout and stderr in files."""

    n = 0

    def __init__(self, ctx, *args, env=None):
        Cli.n += 1
        base = os.path.join(ctx.workdir, "%s-cli%d" % (ctx.case, Cli.n))
        self.out_path, self.err_path = base + ".out", base + ".err"
        self.args = [str(a) for a in args]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([cli_path(ctx)] + self.args, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, env=env,
                                         preexec_fn=_die_with_parent)
        ctx.cleanup.append(self.kill)

    def out(self) -> str:
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def err(self) -> str:
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def lines(self) -> list:
        return self.out().splitlines()

    def json(self) -> list:
        out = []
        for ln in self.lines():
            try:
                out.append(json.loads(ln))
            except ValueError:
                raise Fail("ringcast-cli %s: a stdout line that is not JSON: %r"
                           % (" ".join(self.args), ln))
        return out

    def messages(self) -> list:
        return [m for m in self.json() if m.get("type") == "message"]

    def wait_err(self, pattern: str, count: int = 1, timeout: float = 10.0):
        """Wait until stderr matches pattern count times (the CLI's 'subscribed to' line says its
        subscription is in effect: what is published after it reaches it)."""
        wait_until(lambda: len(re.findall(pattern, self.err())) >= count or self.proc.poll()
                   is not None, t(timeout), "stderr of ringcast-cli %s to show %r %d time(s)"
                   % (" ".join(self.args), pattern, count))
        check(len(re.findall(pattern, self.err())) >= count,
              "ringcast-cli %s exited (%s) before stderr showed %r:\n%s"
              % (" ".join(self.args), self.proc.returncode, pattern, self.err()))

    def wait(self, timeout: float = 10.0) -> int:
        try:
            return self.proc.wait(timeout=t(timeout))
        except subprocess.TimeoutExpired:
            raise Fail("ringcast-cli %s did not exit within %.0fs\nstdout:\n%s\nstderr:\n%s"
                       % (" ".join(self.args), t(timeout), self.out()[-2000:],
                          self.err()[-2000:]))

    def expect_exit(self, status: int, timeout: float = 10.0):
        rc = self.wait(timeout)
        check(rc == status, "ringcast-cli %s: exit status %s, expected %d\nstdout:\n%s\nstderr:\n%s"
              % (" ".join(self.args), rc, status, self.out()[-2000:], self.err()[-2000:]))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_cli(ctx, *args, input=None, status=0, env=None, timeout: float = 20.0):
    """Run the CLI to its end; check its exit status; return (stdout, stderr)."""
    argv = [cli_path(ctx)] + [str(a) for a in args]
    r = subprocess.run(argv, input=input, capture_output=True, timeout=t(timeout), env=env,
                       preexec_fn=_die_with_parent)
    out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    check(r.returncode == status, "ringcast-cli %s: exit status %d, expected %d\nstdout:\n%s\n"
          "stderr:\n%s" % (" ".join(argv[1:]), r.returncode, status, out[-2000:], err[-2000:]))
    return out, err


def pub(ctx, url, topic, lines, *args, status=0):
    data = "".join(ln + "\n" for ln in lines).encode()
    return run_cli(ctx, "pub", url, topic, *args, input=data, status=status)


def raw_publish(srv, topic, payload: bytes, text: bool):
    """One PUBLISH by a raw ringcast.v1 client, taken by the server once its close is answered."""
    ws = RawWS.connect(srv.port, "/ws", protocols=["ringcast.v1"])
    ws.send_binary(v1_publish(topic, payload, text=text))
    ws.close_handshake()
    ws.close()


def by_topic(msgs) -> dict:
    out = {}
    for m in msgs:
        out.setdefault(m["topic"], []).append(m)
    return out


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------------------------------------
# the cases

@suite.case(timeout=60)
def roundtrip(ctx):
    srv = ctx.server()
    url = srv.url("")
    js = Cli(ctx, "sub", url, "a", "b", "--json", "--count", 7)
    tx = Cli(ctx, "sub", url, "a", "b", "--count", 7)
    js.wait_err("subscribed to a, b")
    tx.wait_err("subscribed to a, b")
    a_lines = ["hello", 'back\\slash "quoted" ünïcode', "tab\there"]
    _, err = pub(ctx, url, "a", a_lines)
    check("published 3 message(s) to a" in err, "pub's summary line: %r" % err)
    path = os.path.join(ctx.workdir, "b.txt")
    with open(path, "wb") as f:
        f.write(b"crlf line\r\nlast line without newline")
    run_cli(ctx, "pub", url, "b", "--file", path, "-q")
    raw_publish(srv, "b", b"\x00\x01\xfe\xff", text=False)
    raw_publish(srv, "a", b"two\nlines\r", text=True)
    js.expect_exit(0)
    tx.expect_exit(0)

    got = by_topic(js.messages())
    want = {"a": a_lines + ["two\nlines\r"], "b": ["crlf line", "last line without newline", None]}
    for topic, payloads in want.items():
        ms = got.get(topic, [])
        expect_eq([m["seq"] for m in ms], list(range(1, len(payloads) + 1)),
                  "--json: the numbers of %s" % topic)
        expect_eq([m.get("payload") for m in ms], payloads, "--json: the payloads of %s" % topic)
        for m in ms:
            check(m["retained"] is False, "a live message marked retained: %r" % m)
            check(m["epoch"] is None or EPOCH_RE.match(m["epoch"]), "epoch %r" % m["epoch"])
    expect_eq(got["b"][2].get("payload_b64"), "AAH+/w==", "--json: a binary payload in base64")
    check(len({m["epoch"] for m in got["a"]}) == 1, "one epoch for topic a: %r" % got["a"])

    lines = tx.lines()
    expect_eq([ln for ln in lines if ln.startswith("a ")],
              ["a 1 hello", 'a 2 back\\slash "quoted" ünïcode', "a 3 tab\there",
               "a 4 two\\nlines\\r"], "text output of topic a")
    expect_eq([ln for ln in lines if ln.startswith("b ")],
              ["b 1 crlf line", "b 2 last line without newline", "b 3 base64:AAH+/w=="],
              "text output of topic b")
    if got["a"][0]["epoch"] is None:
        ctx.note("the server's subscribed notice has no positions: epoch is null")


@suite.case(timeout=60)
def pub_takes_everything(ctx):
    srv = ctx.server()
    url = srv.url("")
    n = 3000
    before = srv.metrics().get_("ringcast_messages_published_total")
    pub(ctx, url, "bulk", ["line %05d %s" % (i, "x" * (i % 50)) for i in range(n)], "-q")
    after = srv.metrics().get_("ringcast_messages_published_total")
    expect_eq(after - before, n, "messages the server had published when pub exited 0")
    data = b"good 1\ngood 2\nbad \xff\xfe\nnever sent\n"
    r = subprocess.run([cli_path(ctx), "pub", url, "bulk"], input=data, capture_output=True,
                       timeout=t(20))
    err = r.stderr.decode("utf-8", "replace")
    expect_eq(r.returncode, 1, "exit status of pub with a line that is not UTF-8 (%s)" % err)
    check("stdin:3: not valid UTF-8" in err and "stopped after sending 2 message(s)" in err,
          "pub's message for a bad line: %r" % err)
    wait_until(lambda: srv.metrics().get_("ringcast_messages_published_total") - after == 2,
               t(5), "the 2 lines before the bad one published")

    # an input that does not end: --timeout-ms stops it (exit 4), what came is published
    p = subprocess.Popen([cli_path(ctx), "pub", url, "slow", "--timeout-ms",
                          str(int(t(0.5) * 1000))], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         preexec_fn=_die_with_parent)
    ctx.cleanup.append(p.kill)
    p.stdin.write(b"first\n")
    p.stdin.flush()
    try:
        p.wait(timeout=t(10))           # stdin stays open: no EOF
    except subprocess.TimeoutExpired:
        raise Fail("pub --timeout-ms did not stop")
    err = p.stderr.read()
    p.stdin.close()
    expect_eq(p.returncode, 4, "exit status of pub at --timeout-ms (%r)" % err)
    check(b"timed out after" in err and b"1 message(s) sent to slow" in err,
          "pub's line at the timeout: %r" % err)


@suite.case(timeout=60)
def pub_wrong_token(ctx):
    srv = ctx.server("--publish-token", "s3cret")
    url = srv.url("")
    sub = Cli(ctx, "sub", url, "t", "--json", "--count", 1)
    sub.wait_err("subscribed to t")
    for args in (("--token", "wrong"), ()):
        _, err = pub(ctx, url, "t", ["nope", "nope again"], *args, status=3)
        check("the server refused: unauthorized" in err, "the unauthorized notice: %r" % err)
        check("4001 (unauthorized)" in err, "the close code 4001 on stderr: %r" % err)
    env = dict(os.environ, RINGCAST_TOKEN="s3cret")
    run_cli(ctx, "pub", url, "t", input=b"good\n", env=env)
    sub.expect_exit(0)
    expect_eq([m["payload"] for m in sub.messages()], ["good"], "what the subscriber got")


def state_lines(path) -> dict:
    out = {}
    with open(path) as f:
        for ln in f:
            if ln.startswith("#") or not ln.strip():
                continue
            topic, epoch, seq = ln.split()
            out[topic] = (epoch, int(seq))
    return out


@suite.case(timeout=90)
def state_across_runs(ctx):
    srv = ctx.server()
    url = srv.url("")
    state = os.path.join(ctx.workdir, "cron.state")
    run1 = Cli(ctx, "sub", url, "s1", "s2", "--state", state, "--count", 3, "--json")
    run1.wait_err("subscribed to s1, s2")
    pub(ctx, url, "s1", ["1a", "1b"], "-q")
    pub(ctx, url, "s2", ["2a"], "-q")
    run1.expect_exit(0)
    expect_eq(sorted((m["topic"], m["payload"]) for m in run1.messages()),
              [("s1", "1a"), ("s1", "1b"), ("s2", "2a")], "first run")
    st = state_lines(state)
    expect_eq({k: v[1] for k, v in st.items()}, {"s1": 2, "s2": 1}, "state file after run 1")
    e1 = run1.messages()[0]["epoch"]
    if e1 is None or st["s1"][0] == "-":
        raise Fail("the server's subscribed notice has no positions (epoch unknown): a server "
                   "without history cannot resume, so the second run would miss what was "
                   "published between the runs (state file: %r)" % st)

    # between the runs: nobody subscribed
    pub(ctx, url, "s1", ["1c", "1d", "1e"], "-q")
    pub(ctx, url, "s2", ["2b"], "-q")
    run2 = Cli(ctx, "sub", url, "s1", "s2", "--state", state, "--json", "--timeout-ms",
               int(t(2) * 1000))
    run2.expect_exit(0)
    got = [(m["topic"], m["seq"], m["payload"]) for m in run2.messages()]
    expect_eq(sorted(got), [("s1", 3, "1c"), ("s1", 4, "1d"), ("s1", 5, "1e"), ("s2", 2, "2b")],
              "second run: exactly what was published while nothing ran")
    check(all(m["retained"] for m in run2.messages()),
          "replayed messages come marked retained: %r" % run2.messages())
    notices = [m for m in run2.json() if m.get("type") != "message"]
    expect_eq(notices, [], "notices in the second run")
    st = state_lines(state)
    expect_eq({k: v[1] for k, v in st.items()}, {"s1": 5, "s2": 2}, "state file after run 2")
    check(EPOCH_RE.match(st["s1"][0]) and st["s1"][0] == e1, "s1's epoch kept: %r" % st)

    # a third run picks up the message published meanwhile, and only it, then goes on live
    pub(ctx, url, "s1", ["1f"], "-q")
    run3 = Cli(ctx, "sub", url, "s1", "s2", "--state", state, "--json", "--count", 2)
    run3.wait_err("subscribed to")
    wait_until(lambda: len(run3.messages()) >= 1, t(5), "the replay of 1f")
    pub(ctx, url, "s2", ["2c"], "-q")
    run3.expect_exit(0)
    expect_eq([(m["topic"], m["seq"], m["payload"], m["retained"]) for m in run3.messages()],
              [("s1", 6, "1f", True), ("s2", 3, "2c", False)], "third run")


@suite.case(timeout=60)
def snapshot(ctx):
    srv = ctx.server()
    url = srv.url("")
    pub(ctx, url, "snap", ["old 1", "old 2"], "-q")
    sub = Cli(ctx, "sub", url, "snap", "--snapshot", "--json", "--count", 2)
    wait_until(lambda: len(sub.messages()) >= 1 or sub.proc.poll() is not None, t(5),
               "the snapshot message")
    first = sub.messages()
    check(first, "no snapshot message (a server without history?); stderr:\n" + sub.err())
    expect_eq((first[0]["seq"], first[0]["payload"], first[0]["retained"]), (2, "old 2", True),
              "the snapshot: the latest retained message, marked retained")
    pub(ctx, url, "snap", ["new 3"], "-q")
    sub.expect_exit(0)
    expect_eq([(m["seq"], m["payload"], m["retained"]) for m in sub.messages()],
              [(2, "old 2", True), (3, "new 3", False)], "snapshot, then live")
    text = Cli(ctx, "sub", url, "snap", "--count", 1, "--timeout-ms", int(t(1) * 1000))
    text.expect_exit(4)
    expect_eq(text.lines(), [], "without --snapshot: nothing from before")
    check("timed out after" in text.err() and "0 of 1 messages" in text.err(),
          "the timeout's line: %r" % text.err())


@suite.case(timeout=120)
def reconnect_after_restart(ctx):
    srv = ctx.server()
    port = srv.port
    url = srv.url("")
    sub = Cli(ctx, "sub", url, "r", "--json", "--backoff-base-ms", 50, "--backoff-max-ms", 300)
    sub.wait_err("subscribed to r")
    pub(ctx, url, "r", ["one", "two"], "-q")
    wait_until(lambda: len(sub.messages()) == 2, t(5), "the first two messages")

    srv.kill()                              # no close frame: 1006
    sub.wait_err("without a close frame \\(1006\\); reconnecting in")
    # an attempt while nothing listens, before the restart (a server listens within a few ms of
    # its start, so the CLI's first retry may otherwise already find the new one)
    sub.wait_err("cannot connect to")
    srv2 = ctx.server("--listen", "127.0.0.1:%d" % port, name="restarted")
    sub.wait_err("subscribed to r", 2, timeout=15)
    pub(ctx, url, "r", ["three"], "-q")
    wait_until(lambda: len(sub.messages()) == 3, t(5), "the message on the restarted server")

    srv2.stop()                             # drain: 1001
    sub.wait_err("1001 \\(going away\\).*reconnecting in")
    ctx.server("--listen", "127.0.0.1:%d" % port, name="restarted-again")
    sub.wait_err("subscribed to r", 3, timeout=15)
    pub(ctx, url, "r", ["four"], "-q")
    wait_until(lambda: len(sub.messages()) == 4, t(5), "the message on the third server")

    sub.proc.send_signal(signal.SIGTERM)
    sub.expect_exit(0)
    msgs = sub.messages()
    expect_eq([m["payload"] for m in msgs], ["one", "two", "three", "four"], "every message")
    expect_eq([m["seq"] for m in msgs], [1, 2, 1, 1], "numbers: each server numbers anew")
    resets = [m for m in sub.json() if m.get("type") == "reset"]
    if msgs[0]["epoch"] is not None:
        expect_eq([(r["topic"], r["reason"]) for r in resets], [("r", "epoch")] * 2,
                  "a reset notice (new numbering) after each restart")
        check(len({m["epoch"] for m in msgs}) == 3, "three epochs: %r" % msgs)
    check("cannot connect to" in sub.err(), "attempts while the server was down:\n" + sub.err())


@suite.case(timeout=60)
def refusals(ctx):
    srv = ctx.server("--allow-no-origin", "false", "--origins", "http://ok.example")
    url = srv.url("")
    t0 = time.monotonic()
    _, err = run_cli(ctx, "sub", url, "t", status=3)
    check("403 Forbidden" in err, "the 403 on stderr: %r" % err)
    check("reconnecting" not in err and time.monotonic() - t0 < t(5),
          "a 403 is not retried: %r" % err)
    _, err = run_cli(ctx, "pub", url, "t", "--origin", "http://evil.example", input=b"x\n",
                     status=3)
    check("403 Forbidden" in err, "the 403 for another origin: %r" % err)
    ok = Cli(ctx, "sub", url, "t", "--origin", "http://ok.example", "--count", 1,
             "--timeout-ms", int(t(1) * 1000))
    ok.expect_exit(4)
    check("subscribed to t" in ok.err(), "an allowed origin subscribes: %r" % ok.err())
    _, err = run_cli(ctx, "sub", srv.url("/nope"), "t", status=3)
    check("404 Not Found" in err, "the 404 on stderr: %r" % err)

    for args in (("sub",), ("sub", url), ("sub", "http://x/", "t"), ("sub", url, "bad topic"),
                 ("pub", url, "a", "b"), ("pub", url, "a", "--count", 1),
                 ("sub", url, "a", "--token", "x"), ("sub", url, "a", "--ca", "x.pem"),
                 ("frob", url, "a")):
        _, err = run_cli(ctx, *args, status=2)
        check("try ringcast-cli --help" in err, "usage hint for %r: %r" % (args, err))
    out, _ = run_cli(ctx, "--help")
    check("Examples:" in out and "--state FILE" in out, "--help: %r" % out[:200])

    _, err = run_cli(ctx, "sub", "ws://127.0.0.1:%d" % free_port(), "t", "--no-reconnect",
                     status=1)
    check("cannot connect to" in err and "Connection refused" in err, "refused: %r" % err)

    bad = os.path.join(ctx.workdir, "bad.state")
    with open(bad, "w") as f:
        f.write("# a comment\nt 0123456789abcdef 12\nt nothex 3\n")
    _, err = run_cli(ctx, "sub", url, "t", "--state", bad, status=1)
    check("bad.state:3: EPOCH is not 16 lowercase hex digits" in err, "a bad state file: %r" % err)


@suite.case(timeout=60)
def wss(ctx):
    d = tempfile.mkdtemp(prefix="tls-", dir=ctx.workdir)
    subprocess.run(["sh", os.path.join(TOP, "tools", "gen-cert.sh"), d], check=True,
                   stdout=subprocess.DEVNULL)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    srv = ctx.server("--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
    check(srv.tls_port is not None, "no tls_addr in the listening line")
    url = "wss://127.0.0.1:%d" % srv.tls_port
    sub = Cli(ctx, "sub", url, "w", "--ca", cert, "--json", "--count", 2)
    sub.wait_err("subscribed to w")
    check("over TLSv1." in sub.err(), "the TLS version on stderr: %r" % sub.err())
    pub(ctx, url, "w", ["secret 1"], "--ca", cert, "-q")
    pub(ctx, "wss://localhost:%d" % srv.tls_port, "w", ["secret 2"], "--ca", cert, "-q")
    sub.expect_exit(0)
    expect_eq([m["payload"] for m in sub.messages()], ["secret 1", "secret 2"], "over wss://")

    t0 = time.monotonic()
    _, err = run_cli(ctx, "sub", url, "w", status=3)
    check("certificate is not trusted" in err and "reconnecting" not in err,
          "an untrusted certificate stops at once: %r" % err)
    check(time.monotonic() - t0 < t(5), "refused within 5 s")
    ins = Cli(ctx, "sub", url, "w", "--insecure", "--count", 1, "--timeout-ms", int(t(1) * 1000))
    ins.expect_exit(4)
    check("subscribed to w" in ins.err(), "--insecure connects: %r" % ins.err())


if __name__ == "__main__":
    suite.main()
