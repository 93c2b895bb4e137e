#!/usr/bin/python3
"""Integration: the admin view (--admin-listen), checked against what the test itself opened.

    /usr/bin/python3 tests/integration/test_admin.py --bin build/release/tools/ringcast [--only CASE]

view_of_what_was_opened  two workers; plain subscribers of known topics, a ringcast.v1 client with
                         subscriptions from its URL and from a command, a publisher, a wss://
                         subscriber, a request head left half sent, idle subscribers until both
                         workers have some, and a slow consumer (a tiny receive buffer, never read)
                         while 300 x 16 KiB are published to it. /connections must list each one
                         exactly once: its peer address and port (the client's getsockname()), the
                         worker and id of its conn_open debug line, state, route, protocol, TLS, its
                         topics, bytes in and out at least what the test sent and received; /slow
                         has the slow consumer first with bytes queued; /topics has each topic's
                         subscribers per kind and per worker and the messages numbered, a rate only
                         from the second request on (10 messages published in between). Then one
                         client closes with 1000 and one resets: both are in "closes" with reason,
                         code and peer, newest first, and gone from "connections".
token                    --admin-token: 401 (with WWW-Authenticate) without it or with a wrong one,
                         200 with Authorization: Bearer or a percent-encoded ?token=; 404, 405.
refused_at_start         a non-loopback --admin-listen without a token stops the server (exit 2,
                         the message names both keys); an admin port already taken stops it too
                         (exit 1, level=error event=admin_listen).
worker_gone              at SIGTERM a worker with no client drains and leaves its loop while the
                         other still waits for a client's close frame: the view answers within
                         its 2 s wait, lists the other worker's client as closing, and says
                         "worker N did not answer"; the server then exits cleanly (ASan: the
                         unanswered question is freed, not leaked).
"""

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from rcbase import Fail, check, expect_eq, t, wait_until
from rcserver import get, http
from rcws import RawWS, accept_for, new_key, upgrade_request
from rcv1 import subscribe_cmd
from rcsuite import Suite

suite = Suite("admin")

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def admin(srv, path, headers="", status=200):
    """GET path on the admin listener: the parsed JSON (status 200), or the answer."""
    r = get(srv.admin_port, path, timeout=t(10), headers=headers)
    check(r.status == status, "admin GET %s: expected %d, got %s" % (path, status, r.summary()))
    if status != 200:
        return r
    check(r.eof and "close" in (r.header("connection") or "").lower(),
          "admin GET %s: the answer should say Connection: close and close (%s)"
          % (path, r.summary()))
    check((r.header("content-type") or "").startswith("application/json"),
          "admin GET %s: Content-Type %r" % (path, r.header("content-type")))
    try:
        doc = json.loads(r.body)
    except ValueError as e:
        raise Fail("admin GET %s: not JSON (%s): %r" % (path, e, r.body[:400]))
    check(TIME_RE.match(doc.get("time", "")), "admin GET %s: time %r" % (path, doc.get("time")))
    return doc


def conn_open_line(srv, sock):
    """(worker, id) of a client from its conn_open debug line."""
    port = sock.getsockname()[1]
    rx = re.compile(r"\bevent=conn_open\b.*?\bworker=(\d+)\b.*?\bconn=(\d+)\b.*?"
                    r"\bpeer=127\.0\.0\.1:%d\b" % port)

    def find():
        for line in srv.log().splitlines():
            m = rx.search(line)
            if m:
                return int(m.group(1)), int(m.group(2))
        return None
    return wait_until(find, t(5), "conn_open line of client port %d" % port)


def by_port(doc, key="connections"):
    out = {}
    for c in doc[key]:
        check(c["peer"] == "127.0.0.1", "%s entry with peer %r: %r" % (key, c["peer"], c))
        check(c["port"] not in out, "two %s entries for port %d: %r and %r"
              % (key, c["port"], out.get(c["port"]), c))
        out[c["port"]] = c
    return out


def make_cert(ctx):
    d = tempfile.mkdtemp(prefix="tls-", dir=ctx.workdir)
    subprocess.run(["sh", os.path.join(TOP, "tools", "gen-cert.sh"), d], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")


def wss_connect(port, path, cafile):
    """A wss:// client: TLS, the upgrade, the 101. Returns (ssl socket, bytes sent, 101 bytes)."""
    tls = ssl.create_default_context(cafile=cafile)
    s = tls.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=t(5)),
                        server_hostname="localhost")
    key = new_key()
    req = upgrade_request(path, key)
    s.sendall(req)
    raw = b""
    while b"\r\n\r\n" not in raw:
        d = s.recv(4096)
        check(d, "wss handshake: EOF")
        raw += d
    check(raw.startswith(b"HTTP/1.1 101") and accept_for(key).encode() in raw,
          "wss handshake: %r" % raw[:200])
    return s, len(req), len(raw)


def head_len(ws):
    return len(ws.answer.raw)


@suite.case(timeout=120)
def view_of_what_was_opened(ctx):
    cert = make_cert(ctx)
    srv = ctx.server("--workers", "2", "--admin-listen", "127.0.0.1:0", "--log-level", "debug",
                     "--write-timeout-ms", "120000", "--handshake-timeout-ms", "120000",
                     "--tls-listen", "127.0.0.1:0", "--tls-cert", cert[0], "--tls-key", cert[1])
    check(srv.admin_port is not None, "no admin_listening line: " + srv.log_tail(10))
    opened = []           # (name, socket, what it must look like)
    p1 = RawWS.connect(srv.port, "/ws?topics=alpha")
    p2 = RawWS.connect(srv.port, "/ws?topics=alpha")
    p3 = RawWS.connect(srv.port, "/ws?topics=beta")
    p4 = RawWS.connect(srv.port, "/ws?topics=alpha,beta")
    for name, ws, topics in (("p1", p1, ["alpha"]), ("p2", p2, ["alpha"]), ("p3", p3, ["beta"]),
                             ("p4", p4, ["alpha", "beta"])):
        opened.append((name, ws.sock, dict(route="ws", protocol="plain", tls=False, topics=topics,
                                           publish=None, sent=len(upgrade_request("/ws", "x" * 24)),
                                           got=head_len(ws))))
    v1 = RawWS.connect(srv.port, "/ws?topics=alpha,gamma", protocols=["ringcast.v1"])
    v1.send_text(subscribe_cmd(["delta", "epsilon"]))
    deadline = time.monotonic() + t(5)
    while True:
        check(time.monotonic() < deadline, "no subscribed notice for delta, epsilon")
        fr = v1.expect_frame(t(5), "notices of the v1 client")
        if fr.opcode == 1 and b'"delta"' in fr.payload and b"subscribed" in fr.payload:
            break
    opened.append(("v1", v1.sock, dict(route="ws", protocol="v1", tls=False,
                                       topics=["alpha", "gamma", "delta", "epsilon"],
                                       publish=None, sent=200, got=head_len(v1))))
    pub = RawWS.connect(srv.port, "/ws?publish=alpha")
    opened.append(("pub", pub.sock, dict(route="ws", protocol="plain", tls=False, topics=[],
                                         publish="alpha", sent=0, got=head_len(pub))))
    wss, wss_sent, wss_got = wss_connect(srv.tls_port, "/ws?topics=secure", cert[0])
    opened.append(("wss", wss, dict(route="ws", protocol="plain", tls=True, topics=["secure"],
                                    publish=None, sent=wss_sent, got=wss_got)))
    half = socket.create_connection(("127.0.0.1", srv.port))
    head = b"GET /ws HTTP/1.1\r\nHost: x\r\n"             # a request head, never finished
    half.sendall(head)
    opened.append(("half", half, dict(route=None, protocol=None, tls=False, topics=[],
                                      publish=None, sent=len(head), got=0, state="http")))
    slow = RawWS.connect(srv.port, "/ws?topics=slow", rcvbuf=4096)
    slowpub = RawWS.connect(srv.port, "/ws?publish=slow")
    opened.append(("slow", slow.sock, dict(route="ws", protocol="plain", tls=False,
                                           topics=["slow"], publish=None, sent=0,
                                           got=head_len(slow))))
    opened.append(("slowpub", slowpub.sock, dict(route="ws", protocol="plain", tls=False,
                                                 topics=[], publish="slow", sent=0,
                                                 got=head_len(slowpub))))
    # idle subscribers until both workers have a client (the kernel spreads them by a hash)
    idle = []
    while len({conn_open_line(srv, s)[0] for _, s, _ in opened}) < 2:
        check(len(idle) < 40, "40 more connections, all on one worker")
        ws = RawWS.connect(srv.port, "/ws?topics=idle")
        idle.append(ws)
        opened.append(("idle%d" % len(idle), ws.sock,
                       dict(route="ws", protocol="plain", tls=False, topics=["idle"],
                            publish=None, sent=0, got=head_len(ws))))

    # traffic: 20 messages on alpha (p1 reads them), 300 x 16 KiB to the slow consumer
    for i in range(20):
        pub.send_text("alpha-%02d" % i)
    for i in range(20):
        op, payload = p1.recv_message(t(5))
        expect_eq(payload, b"alpha-%02d" % i, "p1's message %d" % i)
    pub_sent = sum(len("alpha-%02d" % i) + 6 for i in range(20))   # masked frames: 2 + 4 + len
    blob = os.urandom(16384)
    for i in range(300):
        slowpub.send_binary(blob)
    slowpub_port = slowpub.sock.getsockname()[1]

    def all_read():
        c = by_port(admin(srv, "/connections")).get(slowpub_port)
        return c is not None and c["bytes_in"] >= 300 * 16384
    wait_until(all_read, t(15), "the server read the 300 x 16 KiB (bytes_in of their publisher)")

    def slow_first():
        d = admin(srv, "/slow")
        return d if d["slow"] and d["slow"][0]["port"] == slow.sock.getsockname()[1] and \
            d["slow"][0]["queue_bytes"] > 0 else None
    sdoc = wait_until(slow_first, t(15), "the slow consumer first in /slow with bytes queued")
    top = sdoc["slow"][0]
    check(top["queue_msgs"] > 0 and top["topics"] == ["slow"] and top["state"] == "open",
          "/slow's first entry: %r" % top)
    check(len(sdoc["slow"]) <= 10, "/slow lists %d" % len(sdoc["slow"]))
    for e in sdoc["slow"][1:]:
        check((e["queue_bytes"], e["dropped"]) <= (top["queue_bytes"], top["dropped"]),
              "/slow not slowest first: %r after %r" % (e, top))

    doc = admin(srv, "/connections")
    expect_eq([w["answered"] for w in doc["workers"]], [True, True], "workers answered")
    expect_eq(doc["errors"], [], "errors")
    expect_eq(doc["truncated"], False, "truncated")
    conns = by_port(doc)
    ids = [(c["worker"], c["id"]) for c in doc["connections"]]
    expect_eq(len(ids), len(set(ids)), "(worker, id) of every connection unique")
    expect_eq(len(conns), len(opened), "connections listed (the test opened %s)"
              % ", ".join(n for n, _, _ in opened))
    check({c["worker"] for c in doc["connections"]} == {0, 1}, "workers 0 and 1 both listed")
    for name, sock, want in opened:
        port = sock.getsockname()[1]
        check(port in conns, "%s (port %d) not listed" % (name, port))
        c = conns[port]
        worker, cid = conn_open_line(srv, sock)
        expect_eq((c["worker"], c["id"]), (worker, cid), "%s: worker and id (its conn_open line)"
                  % name)
        expect_eq(c["state"], want.get("state", "open"), "%s: state" % name)
        for key in ("route", "protocol", "tls", "publish"):
            expect_eq(c[key], want[key], "%s: %s" % (name, key))
        expect_eq(sorted(c["topics"]), sorted(want["topics"]), "%s: topics" % name)
        expect_eq(c["subscriptions"], len(want["topics"]), "%s: subscriptions" % name)
        check(c["bytes_in"] >= want["sent"], "%s: bytes_in %d, the test sent at least %d"
              % (name, c["bytes_in"], want["sent"]))
        check(c["bytes_out"] >= want["got"], "%s: bytes_out %d, the test received at least %d"
              % (name, c["bytes_out"], want["got"]))
        check(0 <= c["idle_ms"] <= c["age_ms"] < t(120) * 1000, "%s: age %d ms, idle %d ms"
              % (name, c["age_ms"], c["idle_ms"]))
        if name not in ("slow", "half"):
            expect_eq((c["queue_msgs"], c["queue_bytes"]), (0, 0), "%s: queue" % name)
    check(conns[pub.sock.getsockname()[1]]["bytes_in"] >= head_len(pub) // 2 + pub_sent,
          "pub: bytes_in %d, sent %d in messages" % (conns[pub.sock.getsockname()[1]]["bytes_in"],
                                                     pub_sent))
    p1c = conns[p1.sock.getsockname()[1]]
    check(p1c["bytes_out"] >= head_len(p1) + sum(2 + 8 for _ in range(20)),
          "p1: bytes_out %d after 20 messages" % p1c["bytes_out"])
    check(conns[slowpub.sock.getsockname()[1]]["bytes_in"] >= 300 * 16384,
          "slowpub: bytes_in %d after 300 x 16 KiB" % conns[slowpub.sock.getsockname()[1]]["bytes_in"])
    check(conns[half.getsockname()[1]]["idle_ms"] < conns[half.getsockname()[1]]["age_ms"] + 1,
          "half: idle")

    # topics, and a rate from the second request on
    t1 = admin(srv, "/topics")
    expect_eq(t1["rate_seconds"], None, "rate_seconds of the first /topics")
    topics = {x["name"]: x for x in t1["topics"]}
    want = {"alpha": (3, 1), "beta": (2, 0), "gamma": (0, 1), "delta": (0, 1), "epsilon": (0, 1),
            "secure": (1, 0), "slow": (1, 0)}
    if idle:
        want["idle"] = (len(idle), 0)
    for name, (plain, v1n) in want.items():
        check(name in topics, "topic %s not listed: %r" % (name, sorted(topics)))
        x = topics[name]
        expect_eq((x["subscribers_plain"], x["subscribers_v1"], x["subscribers"]),
                  (plain, v1n, plain + v1n), "topic %s: subscribers (plain, v1, all)" % name)
        expect_eq(len(x["subscribers_by_worker"]), 2, "topic %s: per worker" % name)
        expect_eq(sum(x["subscribers_by_worker"]), plain + v1n, "topic %s: per worker" % name)
        expect_eq(x["rate"], None, "topic %s: rate of the first /topics" % name)
    expect_eq(topics["alpha"]["messages"], 20, "alpha: messages numbered")
    expect_eq(topics["slow"]["messages"], 300, "slow: messages numbered")
    for i in range(10):
        pub.send_text("more-%d" % i)
    for i in range(10):
        op, payload = p1.recv_message(t(5))
        expect_eq(payload, b"more-%d" % i, "p1's message after the first /topics")
    time.sleep(0.2)
    t2 = admin(srv, "/topics")
    check(t2["rate_seconds"] is not None and t2["rate_seconds"] > 0,
          "rate_seconds of the second /topics: %r" % t2["rate_seconds"])
    alpha = {x["name"]: x for x in t2["topics"]}["alpha"]
    expect_eq(alpha["messages"], 30, "alpha: messages after 10 more")
    check(alpha["rate"] is not None and abs(alpha["rate"] * t2["rate_seconds"] - 10) < 0.1,
          "alpha: rate %r over %r s, 10 messages" % (alpha["rate"], t2["rate_seconds"]))
    expect_eq({x["name"]: x for x in t2["topics"]}["beta"]["rate"], 0.0, "beta: rate")

    # closes: p3 with 1000, p2 reset; both in "closes", newest first, gone from "connections"
    p3_port, p2_port = p3.sock.getsockname()[1], p2.sock.getsockname()[1]
    whose = {p3_port: conn_open_line(srv, p3.sock), p2_port: conn_open_line(srv, p2.sock)}
    p3.close_handshake(1000)
    time.sleep(0.05)
    p2.linger0()

    def closed():
        d = admin(srv, "/connections")
        ports = {c["port"] for c in d["closes"]}
        return d if {p3_port, p2_port} <= ports else None
    doc = wait_until(closed, t(5), "the two closes in /connections")
    closes = doc["closes"]
    check(len(closes) <= 128, "closes: %d, at most 64 per worker" % len(closes))
    check(all(TIME_RE.match(c["time"]) for c in closes), "close times: %r" % closes[:3])
    check([c["time"] for c in closes] == sorted((c["time"] for c in closes), reverse=True),
          "closes not newest first: %r" % [c["time"] for c in closes])
    got = {c["port"]: c for c in closes if c["port"] in (p3_port, p2_port)}
    expect_eq((got[p3_port]["reason"], got[p3_port]["code"], got[p3_port]["route"]),
              ("client", 1000, "ws"), "p3's close (reason, code, route)")
    expect_eq((got[p2_port]["reason"], got[p2_port]["code"]), ("eof", None), "p2's close (reset)")
    for port, name in ((p3_port, "p3"), (p2_port, "p2")):
        expect_eq((got[port]["worker"], got[port]["id"]), whose[port],
                  "%s's close: worker and id (its conn_open line)" % name)
        check(got[port]["peer"] == "127.0.0.1" and got[port]["age_ms"] >= 0 and
              got[port]["bytes_out"] > 0, "%s's close: %r" % (name, got[port]))
        check(port not in by_port(doc), "%s still listed in connections" % name)
    doc_all = admin(srv, "/")
    for key in ("connections", "closes", "slow", "topics", "workers", "errors", "rate_seconds"):
        check(key in doc_all, "GET / has no %r: %r" % (key, sorted(doc_all)))

    for ws in [p1, p4, v1, pub, slowpub] + idle:
        ws.close_handshake()
    slow.linger0()
    half.close()
    wss.close()


@suite.case(timeout=60)
def token(ctx):
    tok = "s3&cr=t/%x"
    srv = ctx.server("--admin-listen", "127.0.0.1:0", "--admin-token", tok)
    r = admin(srv, "/", status=401)
    check("bearer" in (r.header("www-authenticate") or "").lower(),
          "401 without WWW-Authenticate: Bearer: %s" % r.summary())
    check(r.body.strip() and b"\n" not in r.body.strip(), "401 body: %r" % r.body)
    admin(srv, "/connections", headers="Authorization: Bearer wrong\r\n", status=401)
    admin(srv, "/topics?token=wrong", status=401)
    admin(srv, "/topics?token=" + tok, status=401)   # '&' ends the value: not the token
    doc = admin(srv, "/connections", headers="Authorization: Bearer %s\r\n" % tok)
    expect_eq(doc["connections"], [], "connections of an idle server")
    enc = "".join(c if c.isalnum() else "%%%02X" % ord(c) for c in tok)
    admin(srv, "/slow?x=1&token=" + enc)
    admin(srv, "/nope", status=401)                  # nothing shows without the token
    r = admin(srv, "/nope", headers="Authorization: Bearer %s\r\n" % tok, status=404)
    check(r.body.strip() and b"\n" not in r.body.strip(), "404 body: %r" % r.body)
    r = http(srv.admin_port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
             timeout=t(5))
    expect_eq(r.status, 405, "POST /")
    check("GET" in (r.header("allow") or ""), "405 without Allow: GET: %s" % r.summary())


@suite.case(timeout=60)
def refused_at_start(ctx):
    r = subprocess.run([ctx.binary, "--listen", "127.0.0.1:0", "--admin-listen", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=t(10))
    expect_eq(r.returncode, 2, "exit status with --admin-listen 0.0.0.0:0 and no token")
    check("admin-listen" in r.stderr and "admin-token" in r.stderr,
          "the refusal should name admin-listen and admin-token: %r" % r.stderr)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    srv = ctx.server("--admin-listen", "127.0.0.1:%d" % taken.getsockname()[1], start=False)
    srv.allowed_error_events.add("admin_listen")
    try:
        srv.start()
    except Fail:
        pass
    else:
        raise Fail("the server started with its admin port taken")
    expect_eq(srv.exit_status, 1, "exit status with the admin port taken")
    check(srv.log_events("admin_listen") and "level=error" in srv.log_events("admin_listen")[0],
          "no level=error event=admin_listen line: " + srv.log_tail(10))
    taken.close()


@suite.case(timeout=90)
def worker_gone(ctx):
    srv = ctx.server("--workers", "2", "--admin-listen", "127.0.0.1:0", "--log-level", "debug",
                     "--close-timeout-ms", "60000", "--drain-timeout-ms", "60000")
    stuck = RawWS.connect(srv.port, "/ws?topics=x")     # will not answer the server's close
    busy, _ = conn_open_line(srv, stuck.sock)
    gone = 1 - busy
    stopped = []

    def stop():
        try:
            srv.stop(signal.SIGTERM)
            stopped.append(None)
        except Fail as e:
            stopped.append(e)
    stopper = threading.Thread(target=stop)
    stopper.start()
    wait_until(lambda: re.search(r"\bevent=drained\b.*\bworker=%d\b" % gone, srv.log()),
               t(10), "worker %d (no client) drained" % gone)
    t0 = time.monotonic()
    doc = admin(srv, "/connections")
    took = time.monotonic() - t0
    check(1.5 < took < t(2) + 2, "the answer took %.1f s: the 2 s wait for the silent worker" % took)
    expect_eq(doc["errors"], ["worker %d did not answer" % gone], "errors")
    expect_eq([w["answered"] for w in doc["workers"]], [gone != 0, gone != 1], "answered")
    c = by_port(doc)[stuck.sock.getsockname()[1]]
    expect_eq((c["worker"], c["state"]), (busy, "closing"), "the stuck client")
    admin(srv, "/topics")      # again: the question left with the silent worker is taken back
    stuck.close()              # now the drain ends
    stopper.join(t(30))
    check(not stopper.is_alive(), "the server did not stop after the drain")
    if stopped[0] is not None:
        raise stopped[0]
    check(srv.log_events("admin_no_answer"), "no admin_no_answer line")


if __name__ == "__main__":
    suite.main()
