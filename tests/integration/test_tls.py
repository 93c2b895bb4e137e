#!/usr/bin/python3
"""Integration: wss:// and https:// on --tls-listen, against real TLS peers.

    /usr/bin/python3 tests/integration/test_tls.py --bin build/release/tools/ringcast [--only CASE]

Each case makes its own certificate with tools/gen-cert.sh (ECDSA P-256, or RSA-2048) and starts
the server with both listeners. The peers: curl (https routes), `openssl s_client` (TLS 1.3 and
1.2, ALPN, session resumption by ticket, on one worker and across two), Python `websockets` with
an ssl context (pub/sub byte-exact at sizes from 1 byte to chained messages, /echo up to 1 MB),
headless Chromium (Debian's) opening wss:// from a page, trusting the certificate by its key
(--ignore-certificate-errors-spki-list), and raw sockets for bad input: plain HTTP, random bytes, a ClientHello cut short then silence (the
handshake deadline), a record longer than TLS allows, a reset in the middle of the handshake, and
a flood of ClientHellos left hanging while a wss subscriber keeps receiving. After each, the
server's TLS sessions, connections and buffers are back where they started. SIGHUP reloads the
pair for new handshakes while open sessions go on; a bad pair is refused and the last good one
kept. ringcast.v1 over wss on two workers: subscribes that wait for the other worker hold the
rest of their input in the TLS session, and three commands in one record are answered in order.
SIGTERM drains wss subscribers (everything queued, then 1001); 150 connections closed
cleanly, without a close frame, or reset leave no descriptor, session or buffer behind.
"""

import asyncio
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import json

import websockets

from rcbase import check, expect_eq, t, wait_until
from rcserver import set_linger0
from rcv1 import v1_parse, v1_publish
from rcws import encode_frame, OP_TEXT
from rcsuite import Suite

suite = Suite("tls")

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_cert(ctx, *args):
    d = tempfile.mkdtemp(prefix="tls-", dir=ctx.workdir)
    subprocess.run(["sh", os.path.join(TOP, "tools", "gen-cert.sh"), d] + list(args), check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")


def tls_server(ctx, *flags, cert=None, workers=1):
    cert = cert or make_cert(ctx)
    srv = ctx.server("--tls-listen", "127.0.0.1:0", "--tls-cert", cert[0], "--tls-key", cert[1],
                     "--workers", str(workers), *flags)
    check(srv.tls_port is not None, "the listening line has no tls_addr: " + srv.log_tail(5))
    srv.cert = cert[0]
    return srv


def curl(srv, path):
    r = subprocess.run(["curl", "-sS", "--max-time", str(t(10)), "--cacert", srv.cert,
                        "-o", "-", "-w", "\n%{http_code}",
                        "https://127.0.0.1:%d%s" % (srv.tls_port, path)],
                       capture_output=True, text=True)
    check(r.returncode == 0, "curl %s: exit %d: %s" % (path, r.returncode, r.stderr.strip()))
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def s_client(srv, *args, sess_in=None, sess_out=None, data=b""):
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.tls_port, "-CAfile", srv.cert,
            "-alpn", "http/1.1", "-servername", "localhost"] + list(args)
    if sess_in:
        argv += ["-sess_in", sess_in]
    if sess_out:
        argv += ["-sess_out", sess_out]
    if data:
        argv += ["-ign_eof"]   # wait for the answer and the server's close, not just stdin's end
    r = subprocess.run(argv, input=data, capture_output=True, timeout=t(20))
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def metrics(srv):
    m = srv.metrics()
    return {k: m.total(k) for k in ("ringcast_tls_sessions", "ringcast_tls_handshakes_total",
                                     "ringcast_tls_handshakes_resumed_total",
                                     "ringcast_tls_failures_total", "ringcast_connections")}


def settled(srv, what):
    """Every TLS session and connection gone but the one asking /metrics (plain)."""
    def done():
        m = metrics(srv)
        return m["ringcast_tls_sessions"] == 0 and m["ringcast_connections"] <= 1
    wait_until(done, t(10), what + ": TLS sessions and connections back to 0")


def ssl_ctx(srv):
    return ssl.create_default_context(cafile=srv.cert)


@suite.case(timeout=60)
def routes_and_versions(ctx):
    srv = tls_server(ctx)
    code, body = curl(srv, "/healthz")
    expect_eq(code, 200, "GET https /healthz")
    code, _ = curl(srv, "/readyz")
    expect_eq(code, 200, "GET https /readyz")
    code, body = curl(srv, "/metrics")
    expect_eq(code, 200, "GET https /metrics")
    check("ringcast_tls_handshakes_total" in body, "/metrics over TLS lacks the TLS counters")
    code, _ = curl(srv, "/nope")
    expect_eq(code, 404, "GET https /nope")
    for flag, want in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
        out = s_client(srv, flag, data=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check("Protocol  : " + want in out or "New, " + want in out,
              "s_client %s: no %s session:\n%s" % (flag, want, out[-1500:]))
        check("ALPN protocol: http/1.1" in out, "s_client %s: ALPN http/1.1 not chosen" % flag)
        check("Verify return code: 0 (ok)" in out, "s_client %s: certificate not verified" % flag)
        check("HTTP/1.1 200" in out, "s_client %s: no answer to GET /healthz" % flag)
    settled(srv, "after the routes")
    m = metrics(srv)
    check(m["ringcast_tls_handshakes_total"] >= 6, "handshakes counted: %s" % m)
    expect_eq(m["ringcast_tls_failures_total"], 0, "TLS failures")


@suite.case(timeout=60)
def min_version_13(ctx):
    srv = tls_server(ctx, "--tls-min-version", "1.3")
    out = s_client(srv, "-tls1_2", data=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    check("New, TLSv1.2" not in out and "HTTP/1.1 200" not in out,
          "a TLS 1.2 session with --tls-min-version 1.3:\n" + out[-800:])
    out = s_client(srv, "-tls1_3", data=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    check("HTTP/1.1 200" in out, "TLS 1.3 refused with --tls-min-version 1.3:\n" + out[-800:])
    settled(srv, "after the refusal")
    check(metrics(srv)["ringcast_tls_failures_total"] >= 1, "the refused handshake is counted")


@suite.case(timeout=90)
def resumption(ctx):
    """A ticket resumes, at TLS 1.3 and 1.2, and with two workers on whichever one the
    reconnection lands (the ticket keys are the process's)."""
    srv = tls_server(ctx, workers=2)
    for flag in ("-tls1_3", "-tls1_2"):
        sess = os.path.join(ctx.workdir, "sess%s.pem" % flag)
        out = s_client(srv, flag, sess_out=sess, data=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check("HTTP/1.1 200" in out, "first connection %s:\n%s" % (flag, out[-800:]))
        reused = 0
        for _ in range(6):
            out = s_client(srv, flag, sess_in=sess,
                           data=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            check("HTTP/1.1 200" in out, "resumed connection %s:\n%s" % (flag, out[-800:]))
            reused += "Reused, TLSv1." in out
        expect_eq(reused, 6, "connections %s that resumed, of 6" % flag)
    settled(srv, "after resumption")
    check(metrics(srv)["ringcast_tls_handshakes_resumed_total"] >= 12, "resumptions counted")


async def pubsub_exact(srv, sizes):
    ctx = ssl_ctx(srv)
    base = "wss://127.0.0.1:%d" % srv.tls_port
    async with websockets.connect(base + "/ws?topics=t", ssl=ctx, max_size=None) as sub, \
            websockets.connect(base + "/ws?publish=t", ssl=ctx, max_size=None) as pub:
        await asyncio.sleep(0.2)
        sent = [os.urandom(n // 2).hex() + "z" * (n % 2) for n in sizes]
        for m in sent:
            await pub.send(m)
        for i, m in enumerate(sent):
            got = await asyncio.wait_for(sub.recv(), t(10))
            check(got == m, "message %d (%d bytes): got %d bytes, not the same" % (
                i, len(m), len(got)))
    async with websockets.connect(base + "/echo", ssl=ctx, max_size=None) as e:
        for n in (0, 1, 125, 126, 16384, 65536, 300000, 1 << 20):
            b = os.urandom(n)
            await e.send(b)
            got = await asyncio.wait_for(e.recv(), t(10))
            check(got == b, "/echo of %d bytes over TLS: %d bytes back, not the same" % (
                n, len(got)))


@suite.case(timeout=90)
def websockets_exact(ctx):
    srv = tls_server(ctx)
    # small, a full record, several records, the chunk's edge, chained messages
    sizes = [1, 70, 16383, 16384, 16385, 40000, 65000, 65536, 70000, 300000, 1000000]
    asyncio.run(pubsub_exact(srv, sizes))
    settled(srv, "after pub/sub")
    expect_eq(metrics(srv)["ringcast_tls_failures_total"], 0, "TLS failures")


async def joins_run(srv, rounds):
    """ringcast.v1 over wss on 2 workers: subscribes of topics owned by the other worker wait for
    its answer with the rest of their input held in the TLS session; three commands sent in one
    write come back answered in order, snapshots and live messages after them."""
    ctx = ssl_ctx(srv)
    base = "wss://127.0.0.1:%d" % srv.tls_port
    async with websockets.connect(base + "/ws", ssl=ctx, subprotocols=["ringcast.v1"]) as pub:
        topics = ["j.%d" % i for i in range(8)]
        for k, topic in enumerate(topics):
            await pub.send(v1_publish(topic, b"last:%d" % k, text=True))
        await asyncio.sleep(0.2)
        for r in range(rounds):
            async with websockets.connect(base + "/ws?topics=j.0,j.1,j.2", ssl=ctx,
                                          subprotocols=["ringcast.v1"]) as c:
                n = json.loads(await asyncio.wait_for(c.recv(), t(5)))
                expect_eq(n["topics"], ["j.0", "j.1", "j.2"], "round %d: URL topics" % r)
                cmds = [{"op": "subscribe", "topics": topics[3:6], "snapshot": True, "id": 1},
                        {"op": "unsubscribe", "topics": ["j.0"], "id": 2},
                        {"op": "subscribe", "topics": topics[6:], "id": 3}]
                # one TLS record, one read: the second and third wait behind the first's joint
                c.transport.write(b"".join(encode_frame(OP_TEXT, json.dumps(x).encode())
                                           for x in cmds))
                got = []
                while len(got) < 6:
                    m = await asyncio.wait_for(c.recv(), t(5))
                    got.append(json.loads(m) if isinstance(m, str) else v1_parse(m))
                notices = [g for g in got if isinstance(g, dict)]
                expect_eq([(x["type"], x["id"]) for x in notices],
                          [("subscribed", 1), ("unsubscribed", 2), ("subscribed", 3)],
                          "round %d: answers in the order of the commands" % r)
                snaps = sorted((g[0], g[3]) for g in got if not isinstance(g, dict))
                expect_eq(snaps, [("j.3", b"last:3"), ("j.4", b"last:4"), ("j.5", b"last:5")],
                          "round %d: snapshots" % r)
                idx = [i for i, g in enumerate(got) if isinstance(g, dict)]
                check(idx[0] == 0, "round %d: the snapshots come after their notice" % r)


@suite.case(timeout=90)
def v1_joins_over_tls(ctx):
    srv = tls_server(ctx, workers=2)
    asyncio.run(joins_run(srv, 20))
    check(srv.metrics().total("ringcast_subscribe_joins_waited_total") > 0,
          "some subscribes waited for the other worker")
    settled(srv, "after the joins")


def raw_conn(srv):
    s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=t(5))
    return s


def closed_soon(s, what, within):
    """The server closes s (EOF or reset) within `within` seconds, whatever it sends first."""
    s.settimeout(t(within))
    start = time.monotonic()
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        check(False, "%s: still open after %.1f s" % (what, t(within)))
    return time.monotonic() - start


def client_hello():
    """A real ClientHello, taken from Python's ssl module over a memory BIO."""
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = c.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


@suite.case(timeout=120)
def bad_input(ctx):
    srv = tls_server(ctx, "--handshake-timeout-ms", "1000")
    before = srv.metrics()
    # a subscriber that must keep receiving through all of it
    hello = client_hello()
    check(len(hello) > 100 and hello[0] == 22, "ClientHello from the ssl module")

    s = raw_conn(srv)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    closed_soon(s, "plain HTTP to the TLS port", 5)
    s.close()

    s = raw_conn(srv)
    s.sendall(os.urandom(3000))
    closed_soon(s, "random bytes", 5)
    s.close()

    s = raw_conn(srv)
    s.sendall(hello[: len(hello) // 2])
    took = closed_soon(s, "a ClientHello cut short, then silence", 8)
    check(took >= 0.5, "closed after %.2f s: before the 1 s handshake deadline?" % took)
    s.close()

    s = raw_conn(srv)
    s.sendall(bytes([22, 3, 1, 0x50, 0x00]) + os.urandom(200))  # a 20,480-byte record
    closed_soon(s, "a record over 16 KiB + overhead", 5)
    s.close()

    s = raw_conn(srv)
    s.sendall(hello)
    time.sleep(0.2)
    set_linger0(s)
    s.close()                                                   # reset mid-handshake

    settled(srv, "after bad input")
    after = srv.metrics()
    check(after.total("ringcast_tls_failures_total") >= 3, "failures counted: %s"
          % after.total("ringcast_tls_failures_total"))
    expect_eq(after.get_('ringcast_buffers', state="pool"), before.get_('ringcast_buffers',
              state="pool"), "pool buffers in use, before and after")


async def flood_while_subscribed(srv, hellos):
    ctx = ssl_ctx(srv)
    base = "wss://127.0.0.1:%d" % srv.tls_port
    async with websockets.connect(base + "/ws?topics=f", ssl=ctx) as sub, \
            websockets.connect(base + "/ws?publish=f", ssl=ctx) as pub:
        await asyncio.sleep(0.2)
        socks = []
        for i in range(hellos):
            s = socket.create_connection(("127.0.0.1", srv.tls_port))
            s.sendall(client_hello())
            socks.append(s)
            if i % 20 == 0:
                await pub.send("m%d" % i)
                got = await asyncio.wait_for(sub.recv(), t(5))
                check(got == "m%d" % i, "the subscriber got %r during the flood" % got)
        for s in socks:
            s.close()


async def many_at_once(srv, n):
    ctx = ssl_ctx(srv)
    url = "wss://127.0.0.1:%d/ws?topics=many" % srv.tls_port

    async def one(i):
        async with websockets.connect(url, ssl=ctx, open_timeout=t(30)) as ws:
            await ws.ping()
            return i
    done = await asyncio.gather(*(one(i) for i in range(n)))
    expect_eq(len(done), n, "wss connections opened at once")


@suite.case(timeout=180)
def hello_flood(ctx):
    srv = tls_server(ctx)
    asyncio.run(flood_while_subscribed(srv, 200))
    settled(srv, "after 200 ClientHellos left hanging")
    # More handshakes at once than a loop turn admits (16): they all complete, in turn.
    asyncio.run(many_at_once(srv, 100))
    settled(srv, "after 100 handshakes at once")
    m = metrics(srv)
    check(m["ringcast_tls_handshakes_total"] >= 102, "handshakes counted: %s" % m)
    ctx.note("handshakes that waited for a later loop turn: %d"
             % srv.metrics().total("ringcast_tls_admissions_queued_total"))


async def reload_while_subscribed(ctx, srv, a, b, paths):
    base = "wss://127.0.0.1:%d" % srv.tls_port
    trust_a = ssl.create_default_context(cafile=a[0])
    async with websockets.connect(base + "/ws?topics=r", ssl=trust_a) as sub, \
            websockets.connect(base + "/ws?publish=r", ssl=trust_a) as pub:
        await asyncio.sleep(0.2)
        # a new pair: new handshakes use it, the open sessions go on
        shutil.copy(b[0], paths[0])
        shutil.copy(b[1], paths[1])
        srv.send_signal(signal.SIGHUP)
        wait_until(lambda: len(srv.log_events("tls_reloaded")) == 2, t(10),
                   "both workers log tls_reloaded")
        await pub.send("after reload")
        got = await asyncio.wait_for(sub.recv(), t(5))
        expect_eq(got, "after reload", "an open session after the reload")
        srv.cert = b[0]
        out = s_client(srv, data=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check("Verify return code: 0 (ok)" in out and "HTTP/1.1 200" in out,
              "a new handshake does not verify against the new certificate:\n" + out[-600:])
        # a key that does not match: refused, the pair in use stays
        shutil.copy(a[1], paths[1])
        srv.send_signal(signal.SIGHUP)
        wait_until(lambda: len(srv.log_events("tls_reload_refused")) == 1, t(10),
                   "worker 0 logs tls_reload_refused")
        time.sleep(0.3)
        expect_eq(len(srv.log_events("tls_reloaded")), 2, "reloads after the refused one")
        out = s_client(srv, data=b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check("Verify return code: 0 (ok)" in out and "HTTP/1.1 200" in out,
              "after a refused reload the server does not use the last good pair:\n"
              + out[-600:])
        await pub.send("still")
        expect_eq(await asyncio.wait_for(sub.recv(), t(5)), "still", "the open session")


@suite.case(timeout=90)
def sighup_reload(ctx):
    a = make_cert(ctx)
    b = make_cert(ctx, "--rsa")
    d = tempfile.mkdtemp(prefix="live-", dir=ctx.workdir)
    paths = (os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"))
    shutil.copy(a[0], paths[0])
    shutil.copy(a[1], paths[1])
    srv = tls_server(ctx, cert=paths, workers=2)
    srv.allowed_error_events.add("tls_reload_refused")
    asyncio.run(reload_while_subscribed(ctx, srv, a, b, paths))
    settled(srv, "after the reloads")
    plain = ctx.server()
    plain.send_signal(signal.SIGHUP)
    wait_until(lambda: len(plain.log_events("reloaded")) == 1, t(5),
               "a server without TLS reloads its configuration")
    check(not plain.log_events("tls_reloaded"), "a server without TLS reloaded a certificate")
    check(plain.alive(), "SIGHUP stopped a server without TLS")


async def drain_run(srv, subs, msgs):
    ctx = ssl_ctx(srv)
    base = "wss://127.0.0.1:%d" % srv.tls_port
    clients = [await websockets.connect(base + "/ws?topics=d", ssl=ctx) for _ in range(subs)]
    async with websockets.connect(base + "/ws?publish=d", ssl=ctx) as pub:
        await asyncio.sleep(0.2)
        for i in range(msgs):
            await pub.send("d%d" % i)
        await asyncio.sleep(0.1)
        # stop() signals, then checks exit 0 and a clean log, while the clients read
        stop = asyncio.create_task(asyncio.to_thread(srv.stop, signal.SIGTERM))
        codes = []
        for ws in clients:
            got = []
            try:
                while True:
                    got.append(await asyncio.wait_for(ws.recv(), t(10)))
            except websockets.ConnectionClosed as e:
                codes.append(e.rcvd.code if e.rcvd else None)
            expect_eq(got, ["d%d" % i for i in range(msgs)], "what a subscriber got before 1001")
        expect_eq(codes, [1001] * subs, "close codes at drain over TLS")
        await stop


@suite.case(timeout=90)
def drain_over_tls(ctx):
    """SIGTERM: every wss subscriber gets what was queued, then close 1001, sealed."""
    srv = tls_server(ctx, workers=2)
    asyncio.run(drain_run(srv, 20, 200))


async def churn_run(srv, rounds):
    ctx = ssl_ctx(srv)
    base = "wss://127.0.0.1:%d" % srv.tls_port
    for i in range(rounds):
        ws = await websockets.connect(base + "/ws?topics=c%d" % (i % 7), ssl=ctx)
        if i % 3 == 0:
            await ws.close()                          # a clean close: close frames both ways
        elif i % 3 == 1:
            ws.transport.close()                      # TLS and TCP gone without a close frame
        else:
            sock = ws.transport.get_extra_info("socket")
            set_linger0(sock)
            ws.transport.abort()                      # reset


@suite.case(timeout=120)
def churn_over_tls(ctx):
    srv = tls_server(ctx, workers=2)
    fds = srv.fd_count()
    asyncio.run(churn_run(srv, 150))
    settled(srv, "after 150 connections opened and closed three ways")
    expect_eq(srv.fd_count(), fds, "the server's descriptors, before and after")
    m = srv.metrics()
    expect_eq(m.total("ringcast_subscriptions"), 0, "subscriptions left")
    expect_eq(m.get_('ringcast_buffers', state="pool"), 0, "pool buffers in use")


PAGE = """<!doctype html><meta charset="utf-8"><title>ringcast wss</title>
<script>
const report = (what) => fetch("http://127.0.0.1:%(report)d/?" + encodeURIComponent(what));
const ws = new WebSocket("wss://127.0.0.1:%(port)d/ws?topics=browser");
ws.onopen = () => report("open");
ws.onmessage = (e) => { report("got " + e.data); ws.close(1000, "done"); };
ws.onerror = () => report("error");
</script>"""


def spki_hash(cert):
    """base64(sha256(SubjectPublicKeyInfo)): what Chromium's certificate pinning flag takes."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout
    dig = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der,
                         capture_output=True, check=True).stdout
    import base64
    return base64.b64encode(dig).decode()


@suite.case(timeout=120)
def chromium_wss(ctx):
    """Headless Chromium (Debian's) opens wss:// from a page, trusting the test's certificate,
    and receives a message published over plain ws://: the page reports what it saw to a small
    HTTP server of the test."""
    import http.server
    import queue
    import threading
    browser = shutil.which("chromium")
    check(browser is not None, "chromium is not installed (tests/run.sh installs Debian's)")
    srv = tls_server(ctx)
    reports = queue.Queue()

    class Report(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            from urllib.parse import unquote
            reports.put(unquote(self.path[2:]))
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()

        def log_message(self, *a):
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Report)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    page = os.path.join(ctx.workdir, "wss.html")
    with open(page, "w") as f:
        f.write(PAGE % {"report": httpd.server_address[1], "port": srv.tls_port})
    profile = tempfile.mkdtemp(prefix="chromium-", dir=ctx.workdir)
    proc = subprocess.Popen([browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                             "--no-first-run", "--user-data-dir=" + profile,
                             "--ignore-certificate-errors-spki-list=" + spki_hash(srv.cert),
                             "file://" + page], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        first = reports.get(timeout=t(30))
        expect_eq(first, "open", "the page's first report (its WebSocket over TLS)")
        async def publish():
            async with websockets.connect("ws://127.0.0.1:%d/ws?publish=browser"
                                          % srv.port) as pub:
                await pub.send("hello from ringcast")
                await asyncio.sleep(0.2)
        asyncio.run(publish())
        got = reports.get(timeout=t(15))
        expect_eq(got, "got hello from ringcast", "what the page received")
    finally:
        proc.kill()
        proc.wait()
        httpd.shutdown()
    settled(srv, "after the browser")
    check(metrics(srv)["ringcast_tls_handshakes_total"] >= 1, "the browser's handshake counted")


async def pings_during_large(srv, count, size, pings):
    ctx = ssl_ctx(srv)
    base = "wss://127.0.0.1:%d" % srv.tls_port
    async with websockets.connect(base + "/ws?topics=big", ssl=ctx, max_size=None,
                                  ping_interval=None) as sub, \
            websockets.connect(base + "/ws?publish=big", ssl=ctx, max_size=None) as pub:
        await asyncio.sleep(0.2)
        sent = [os.urandom(size) for _ in range(count)]
        for m in sent:
            await pub.send(m)
        got = []

        async def reader():
            for _ in range(count):
                got.append(await asyncio.wait_for(sub.recv(), t(20)))
        task = asyncio.create_task(reader())
        waiters = []
        for _ in range(pings):                      # pings while the large frames go out
            waiters.append(await sub.ping())
            await asyncio.sleep(0.002)
        await task
        await asyncio.wait_for(asyncio.gather(*waiters), t(10))
        check(got == sent, "large messages over TLS with pings between: %d of %d intact" % (
            sum(a == b for a, b in zip(got, sent)), count))


@suite.case(timeout=120)
def pings_during_large_frames(ctx):
    """Over TLS a large frame goes out in slices, one per send; the pongs the subscriber's pings
    ask for must come between frames, never inside one (RFC 6455 5.4)."""
    srv = tls_server(ctx, "--queue-bytes-max", "16M")
    asyncio.run(pings_during_large(srv, 8, 1 << 20, 40))


@suite.case(timeout=60)
def startup_refusals(ctx):
    a = make_cert(ctx)
    b = make_cert(ctx, "--rsa")
    cases = [
        (("--tls-listen", "127.0.0.1:0"), "tls-listen needs tls-cert and tls-key"),
        (("--tls-listen", "127.0.0.1:0", "--tls-cert", a[0] + ".none", "--tls-key", a[1]),
         "No such file"),
        (("--tls-listen", "127.0.0.1:0", "--tls-cert", a[0], "--tls-key", b[1]),
         "does not match"),
        (("--listen", "off"), "both listen and tls-listen are off"),
        (("--tls-min-version", "1.1"), "expected 1.2 or 1.3"),
    ]
    for flags, says in cases:
        r = subprocess.run([ctx.binary, "--listen", "127.0.0.1:0"] + list(flags),
                           capture_output=True, text=True, timeout=t(10))
        check(r.returncode != 0, "%s: started (exit %d)" % (" ".join(flags), r.returncode))
        check(says in r.stdout + r.stderr, "%s: expected %r in:\n%s" % (
            " ".join(flags), says, (r.stdout + r.stderr)[-600:]))


if __name__ == "__main__":
    suite.main()
