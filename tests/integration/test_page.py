#!/usr/bin/python3
"""Integration: the page the server serves at /, in a real browser. Headless Chromium (Debian's)
loads it from the server; the test publishes known quotes over ringcast.v1 and reads the page's
DOM through the DevTools protocol (a WebSocket the browser opens on 127.0.0.1), and keeps a
screenshot next to the build (BUILD/page.png).

    /usr/bin/python3 tests/integration/test_page.py --bin build/release/tools/ringcast

served             GET / : 200, text/html, the page compiled in, its content security policy;
                   other paths still 404.
ticker             the page subscribes with ringcast.v1 to ?topics=; quotes published on two
                   topics show up as bid, ask, sequence number and count, nothing missed, and
                   the latency figures are numbers; a screenshot is kept.
snapshot_and_resume  a topic published on before the page opened shows its last value at once
                   (a snapshot); the page's connection dropped (offline, its WebSocket closed)
                   while 5 more are published: it reconnects, resumes, and shows them all,
                   nothing missed, the 5 sent from history.
no_topics          ?topics= with nothing valid: the page says so and opens no WebSocket.
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import websockets
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets

from rcbase import Fail, check, expect_eq, t, wait_until
from rcserver import get
from rcv1 import v1_publish
from rcws import RawWS, encode_frame, OP_BINARY
from rcsuite import Suite

suite = Suite("page")


class Browser:
    """Headless Chromium on one page, driven over the DevTools protocol."""

    def __init__(self, ctx, url):
        exe = shutil.which("chromium")
        check(exe is not None, "chromium is not installed (tests/run.sh installs Debian's)")
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=ctx.workdir)
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--user-data-dir=" + self.profile, "--remote-debugging-port=0",
             "--window-size=1200,800", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        wait_until(lambda: os.path.exists(port_file) and os.path.getsize(port_file) > 0,
                   t(30), "chromium's DevToolsActivePort file")
        with open(port_file) as f:
            port = int(f.readline())

        def page_target():
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                for target in json.load(r):
                    if target.get("type") == "page" and target.get("url", "").startswith(url):
                        return target["webSocketDebuggerUrl"]
            return None
        self.ws_url = wait_until(page_target, t(30), "the page's DevTools target")
        self.next_id = 0

    async def call_on(self, ws, method, **params):
        """One DevTools call on an open session ws."""
        self.next_id += 1
        await ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), t(10)))
            if m.get("id") == self.next_id:
                check("error" not in m, "DevTools %s: %r" % (method, m.get("error")))
                return m["result"]

    async def call(self, method, **params):
        async with websockets.connect(self.ws_url, max_size=None) as ws:
            return await self.call_on(ws, method, **params)

    async def _away(self, meanwhile):
        """One DevTools session: the page goes offline (no connection can open), its WebSockets
        are closed (it cannot be reached from outside its script), meanwhile() runs, then the page
        is online again."""
        async with websockets.connect(self.ws_url, max_size=None) as ws:
            def call(method, **params):
                return self.call_on(ws, method, **params)
            net = dict(latency=0, downloadThroughput=-1, uploadThroughput=-1)
            await call("Network.enable")
            await call("Network.emulateNetworkConditions", offline=True, **net)
            proto = await call("Runtime.evaluate", expression="WebSocket.prototype")
            found = await call("Runtime.queryObjects", prototypeObjectId=proto["result"]["objectId"])
            r = await call("Runtime.callFunctionOn", objectId=found["objects"]["objectId"],
                           functionDeclaration="function () { this.forEach((w) => w.close()); "
                                               "return this.length; }",
                           returnByValue=True)
            check(r["result"]["value"] >= 1, "the page's WebSocket found")
            meanwhile()
            await call("Network.emulateNetworkConditions", offline=False, **net)

    def away(self, meanwhile):
        asyncio.run(self._away(meanwhile))

    def eval(self, expr):
        r = asyncio.run(self.call("Runtime.evaluate", expression=expr, returnByValue=True))
        check("exceptionDetails" not in r, "page script %r: %r" % (expr, r.get("exceptionDetails")))
        return r["result"].get("value")

    def screenshot(self, path):
        import base64
        r = asyncio.run(self.call("Page.captureScreenshot", format="png"))
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def close(self):
        self.proc.kill()
        self.proc.wait()


STATUS = "(document.getElementById('status') || {}).textContent"  # undefined until loaded
ROWS = """JSON.stringify([...document.querySelectorAll('#rows tr')].map(tr => ({
  topic: tr.dataset.topic,
  bid: tr.querySelector('.bid').textContent, ask: tr.querySelector('.ask').textContent,
  seq: tr.querySelector('.seq').textContent, count: tr.querySelector('.count').textContent,
  missed: tr.querySelector('.missed').textContent})))"""


@suite.case(timeout=30)
def served(ctx):
    srv = ctx.server()
    a = get(srv.port, "/")
    expect_eq(a.status, 200, "GET / status (%s)" % a.summary())
    expect_eq(a.header("content-type"), "text/html; charset=utf-8", "content type")
    check((a.header("content-security-policy") or "").startswith("default-src 'none'"),
          "content security policy: %r" % a.header("content-security-policy"))
    src = os.path.join(os.path.dirname(__file__), "..", "..", "net", "page", "index.html")
    with open(src, "rb") as f:
        expect_eq(a.body, f.read(), "the body is net/page/index.html")
    expect_eq(get(srv.port, "/index.html").status, 404, "GET /index.html (only / is the page)")


@suite.case(timeout=120)
def ticker(ctx):
    srv = ctx.server()
    url = "http://127.0.0.1:%d/?topics=pg.A,pg.B" % srv.port
    b = Browser(ctx, url)
    try:
        wait_until(lambda: b.eval(STATUS) ==
                   "live: 2 topics" or None, t(30), "the page's subscribed notice")
        pub = RawWS.connect(srv.port, "/ws", protocols=["ringcast.v1"],
                            headers=[("Authorization", "Bearer any")])
        want = {"pg.A": [], "pg.B": []}
        frames = b""
        for k in range(40):
            topic = "pg.A" if k % 2 == 0 else "pg.B"
            bid = 100 + k + 0.25
            q = {"s": topic, "n": k, "bid": bid, "ask": bid + 0.25, "ts": time.time_ns()}
            want[topic].append(q)
            frames += encode_frame(OP_BINARY, v1_publish(topic, json.dumps(q).encode(), text=True))
        pub.sock.sendall(frames)

        def done():
            rows = json.loads(b.eval(ROWS))
            return rows if all(r["count"] == "20" for r in rows) else None
        rows = wait_until(done, t(20), "the page shows 20 messages on each topic")
        expect_eq([r["topic"] for r in rows], ["pg.A", "pg.B"], "one row per topic, in order")
        for r in rows:
            last = want[r["topic"]][-1]
            expect_eq((r["bid"], r["ask"]), ("%.2f" % last["bid"], "%.2f" % last["ask"]),
                      "%s: the last quote" % r["topic"])
            expect_eq(r["seq"], "20", "%s: the sequence number of the 20th message" % r["topic"])
            expect_eq(r["missed"], "0", "%s: missed" % r["topic"])
        p50 = b.eval("document.getElementById('lat-p50').textContent")
        check(p50 not in ("-", "") and float(p50) >= 0, "latency p50 on the page: %r" % p50)
        total = b.eval("document.getElementById('totals').textContent")
        expect_eq(total, "40 messages", "the page's total")
        shot = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary))),
                            "page.png")
        b.screenshot(shot)
        check(os.path.getsize(shot) > 1000, "the screenshot %s" % shot)
        ctx.note("screenshot: %s" % shot)
        pub.close()
    finally:
        b.close()


@suite.case(timeout=120)
def snapshot_and_resume(ctx):
    """The page starts each topic with its last value (a snapshot: published before the page
    opened), and after its connection drops it resumes: what was published meanwhile arrives,
    nothing is counted missed."""
    srv = ctx.server()
    pub = RawWS.connect(srv.port, "/ws", protocols=["ringcast.v1"])

    def quote(k):
        return encode_frame(OP_BINARY, v1_publish(
            "pg.S", json.dumps({"s": "pg.S", "n": k, "bid": 200 + k, "ask": 201 + k}).encode(),
            text=True))
    pub.sock.sendall(b"".join(quote(k) for k in range(5)))      # numbers 1..5, before the page
    time.sleep(0.3)
    b = Browser(ctx, "http://127.0.0.1:%d/?topics=pg.S" % srv.port)
    try:
        def row(count):
            rows = json.loads(b.eval(ROWS))
            return rows[0] if rows and rows[0]["count"] == count else None
        r = wait_until(lambda: row("1"), t(30), "the snapshot on the page")
        expect_eq((r["bid"], r["seq"], r["missed"]), ("204.00", "5", "0"), "the last value at once")
        # the page's connection drops; 6..10 are published while it cannot reconnect
        def meanwhile():
            pub.sock.sendall(b"".join(quote(k) for k in range(5, 10)))
            time.sleep(0.5)
        sent0 = srv.metrics().total("ringcast_retained_sent_total")
        b.away(meanwhile)
        r = wait_until(lambda: row("6"), t(30), "the 5 messages it missed, resumed")
        expect_eq(srv.metrics().total("ringcast_retained_sent_total") - sent0, 5,
                  "the 5 came from history (a resume), not live")
        expect_eq((r["bid"], r["seq"], r["missed"]), ("209.00", "10", "0"), "resumed, nothing missed")
    finally:
        b.close()
        pub.close()


@suite.case(timeout=60)
def no_topics(ctx):
    srv = ctx.server()
    b = Browser(ctx, "http://127.0.0.1:%d/?topics=bad%%20topic" % srv.port)
    try:
        wait_until(lambda: b.eval(STATUS) ==
                   "no valid topic in ?topics=" or None, t(20), "the page's complaint")
        time.sleep(0.3)
        expect_eq(srv.metrics().get("ringcast_subscriptions", 0), 0, "subscriptions the page made")
    finally:
        b.close()


if __name__ == "__main__":
    suite.main()
