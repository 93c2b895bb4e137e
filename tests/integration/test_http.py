#!/usr/bin/python3
"""Integration: the plain HTTP routes and every handshake refusal of docs/protocol.md section 4.

    /usr/bin/python3 tests/integration/test_http.py --bin build/release/tools/ringcast [--only CASE]

Raw sockets: each request is written by hand and the whole answer read to EOF, so the checks see
the exact status, the headers the protocol promises (Connection: close, Allow, Retry-After,
Sec-WebSocket-Version) and that the server closes the connection after every plain answer. Each
refusal must also be counted once in ringcast_connections_rejected_total under its reason.
"""

from rcbase import check, expect_eq, t, wait_until
from rcserver import get, http, parse_metrics, Metrics
from rcws import new_key, RawWS, HandshakeRefused
from rcv1 import notice_core
from rcsuite import Suite

suite = Suite("http")

REQUIRED_METRICS = {
    # name: (type, label key, label values that must all be present)
    "ringcast_connections": ("gauge", None, ()),
    "ringcast_open_fds": ("gauge", None, ()),
    "ringcast_topics": ("gauge", None, ()),
    "ringcast_subscriptions": ("gauge", None, ()),
    "ringcast_queued_bytes": ("gauge", None, ()),
    "ringcast_large_message_bytes": ("gauge", None, ()),
    "ringcast_buffers": ("gauge", "state", ("free", "pool", "recv_kernel", "recv_held",
                                            "recv_returned", "chain")),
    "ringcast_large_message_refusals_total": ("counter", None, ()),
    "ringcast_connections_accepted_total": ("counter", None, ()),
    "ringcast_connections_rejected_total": ("counter", "reason", (
        "over_limit", "bad_request", "forbidden", "not_found", "method", "upgrade_required",
        "too_large", "http_version", "draining")),
    "ringcast_connections_closed_total": ("counter", "reason", (
        "client", "eof", "io_error", "http_done", "rejected", "handshake_timeout", "shutdown",
        "protocol_error", "invalid_data", "too_big", "slow_consumer", "write_timeout",
        "unauthorized", "bad_command", "idle_timeout", "ping_flood")),
    "ringcast_slow_consumer_disconnects_total": ("counter", None, ()),
    "ringcast_messages_published_total": ("counter", None, ()),
    "ringcast_messages_delivered_total": ("counter", None, ()),
    "ringcast_messages_dropped_total": ("counter", "reason", (
        "queue_full_oldest", "queue_full_newest", "conflated", "slow_disconnect", "no_memory")),
    "ringcast_bytes_received_total": ("counter", None, ()),
    "ringcast_bytes_sent_total": ("counter", None, ()),
    "ringcast_sends_total": ("counter", None, ()),
}


def plain_answer_checks(r, what, status):
    check(r.status == status, "%s: expected HTTP %d, got %s" % (what, status, r.summary()))
    conn = (r.header("connection") or "").lower()
    check("close" in conn, "%s: expected 'Connection: close' in the answer, got %r (%s)"
          % (what, r.header("connection"), r.summary()))
    check(r.eof, "%s: the server did not close the connection within the wait after its answer "
          "(%s)" % (what, r.summary()))
    cl = r.header("content-length")
    if cl is not None:
        expect_eq(len(r.body), int(cl), "%s: body length vs Content-Length" % what)


def rejected(m):
    return {k: v for k, v in m.family("ringcast_connections_rejected_total").items()}


# Histograms, one series per worker (label worker="N").
HISTOGRAMS = ("ringcast_publish_to_send_seconds", "ringcast_send_messages")


def check_histogram(text, name, worker):
    """The buckets of one series: le ascending and ending in +Inf, counts cumulative, _count equal
    to the +Inf bucket."""
    les, counts = [], []
    prefix = '%s_bucket{worker="%s",le="' % (name, worker)
    for ln in text.splitlines():
        if ln.startswith(prefix):
            le, value = ln[len(prefix):].split('"} ')
            les.append(float(le))   # float("+Inf") is inf
            counts.append(int(value))
    check(len(les) >= 2 and les[-1] == float("inf"),
          "/metrics: %s worker %s: buckets %r should end in +Inf" % (name, worker, les))
    check(les == sorted(les) and len(set(les)) == len(les),
          "/metrics: %s worker %s: le not ascending: %r" % (name, worker, les))
    check(counts == sorted(counts), "/metrics: %s worker %s: bucket counts not cumulative: %r"
          % (name, worker, counts))
    m = Metrics(parse_metrics(text))
    expect_eq(m.get_(name + "_count", worker=worker), counts[-1],
              "/metrics: %s_count{worker=%s} against its +Inf bucket" % (name, worker))


@suite.case(timeout=30)
def health_ready_metrics(ctx):
    srv = ctx.server("--workers", "2", "--recv-buffers", "64", "--pool-buffers", "128")
    r = get(srv.port, "/healthz")
    plain_answer_checks(r, "GET /healthz", 200)
    r = get(srv.port, "/readyz")
    plain_answer_checks(r, "GET /readyz", 200)
    r = get(srv.port, "/metrics")
    plain_answer_checks(r, "GET /metrics", 200)
    ctype = r.header("content-type") or ""
    check(ctype.startswith("text/plain"),
          "GET /metrics: expected Content-Type text/plain (Prometheus 0.0.4), got %r" % ctype)
    text = r.body.decode()
    # Prometheus text format: every sample's family has HELP and TYPE before its first sample.
    helped, typed, seen_sample = set(), {}, set()
    for ln in text.splitlines():
        if ln.startswith("# HELP "):
            helped.add(ln.split()[2])
        elif ln.startswith("# TYPE "):
            parts = ln.split()
            check(len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram"),
                  "/metrics: bad TYPE line %r" % ln)
            typed[parts[2]] = parts[3]
        elif ln and not ln.startswith("#"):
            name = ln.split("{")[0].split(" ")[0]
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[:-len(suffix)]
                if name.endswith(suffix) and typed.get(base) == "histogram":
                    name = base
            check(name.startswith("ringcast_"), "/metrics: sample without the ringcast_ prefix: %r"
                  % ln)
            check(name in helped and name in typed,
                  "/metrics: sample %r before its # HELP / # TYPE lines" % ln)
            seen_sample.add(name)
    for name, ty in typed.items():
        if ty == "counter":
            check(name.endswith("_total"), "/metrics: counter %s does not end in _total" % name)
    m = Metrics(parse_metrics(text))
    for name, (ty, label, values) in REQUIRED_METRICS.items():
        check(name in typed, "/metrics: metric %s missing (have: %s)" % (name, sorted(typed)))
        expect_eq(typed[name], ty, "/metrics: TYPE of %s" % name)
        fam = m.family(name)
        if label is None:
            check(None in fam, "/metrics: %s should be one sample without labels, got %r"
                  % (name, fam))
        else:
            missing = [v for v in values if v not in fam]
            check(not missing, "/metrics: %s lacks %s=%r samples (has %r)"
                  % (name, label, missing, sorted(k for k in fam if k)))
    for k, v in m.items():
        if k.split("{")[0].endswith("_seconds_sum"):
            check(v >= 0, "/metrics: %s = %r is negative" % (k, v))
            continue
        check(v >= 0 and v == int(v), "/metrics: %s = %r is not a non-negative integer" % (k, v))
    for name in HISTOGRAMS:
        expect_eq(typed.get(name), "histogram", "/metrics: TYPE of %s" % name)
        for worker in ("0", "1"):
            check_histogram(text, name, worker)
    # the buffer states add up to the pool: (recv + pool buffers) per worker, 2 workers
    total = m.total("ringcast_buffers")
    check(total > 0 and total % (64 + 128) == 0,
          "sum of ringcast_buffers{state=...} with --recv-buffers 64 --pool-buffers 128: "
          "expected a multiple of 192 (per worker), got %r" % total)
    # The connection that scrapes may count itself, nothing else is open; accepted = closed + open.
    # Each worker sets its gauges at the end of its loop turn and /metrics adds up every worker's
    # figures, so a request just answered by another worker may still count for a moment: poll.
    def idle():
        m2 = srv.metrics()
        acc = m2.get_("ringcast_connections_accepted_total")
        closed = m2.total("ringcast_connections_closed_total")
        conns = m2.get_("ringcast_connections")
        return m2 if conns <= 1 and acc - closed == conns else None
    m2 = wait_until(idle, t(5), "ringcast_connections <= 1 (the scrape itself) and "
                    "accepted_total - sum(closed_total) == the connections gauge (rc_metrics.h)")
    acc = m2.get_("ringcast_connections_accepted_total")
    check(acc >= 4, "connections_accepted_total after 4 requests: expected >= 4, got %r" % acc)
    check(m2.get_("ringcast_connections_closed_total", reason="http_done") >= 3,
          "closed_total{reason=http_done} after 3 answered GETs: got %r"
          % m2.get_("ringcast_connections_closed_total", reason="http_done"))


def refusal(ctx, srv, request, status, reason_label, what, headers=None, body_prefix=None):
    before = rejected(srv.metrics())
    r = http(srv.port, request, timeout=t(5))
    plain_answer_checks(r, what, status)
    ctype = r.header("content-type") or ""
    check(ctype.startswith("text/plain"), "%s: expected Content-Type text/plain, got %r"
          % (what, ctype))
    body = r.body.rstrip(b"\r\n")
    check(body and b"\n" not in body, "%s: expected a one-line reason as the body, got %r"
          % (what, r.body))
    for name, want in (headers or {}).items():
        got = r.header(name)
        check(got is not None and want.lower() in got.lower(),
              "%s: expected header %s: %s, got %r (%s)" % (what, name, want, got, r.summary()))
    if body_prefix is not None:
        check(r.body.decode("latin-1").startswith(body_prefix),
              "%s: expected the body to start with %r, got %r" % (what, body_prefix, r.body))
    after = rejected(srv.metrics())
    diff = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    expect_eq(diff, {reason_label: 1},
              "%s: change of ringcast_connections_rejected_total by reason" % what)


def up(path, method="GET", version="HTTP/1.1", drop=(), extra=(), key=None):
    key = key or new_key()
    hdrs = [("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
    hdrs = [(n, v) for n, v in hdrs if n not in drop] + list(extra)
    return ("%s %s %s\r\n" % (method, path, version) +
            "".join("%s: %s\r\n" % h for h in hdrs) + "\r\n")


@suite.case(timeout=60)
def refusals(ctx):
    srv = ctx.server()
    refusal(ctx, srv, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found", "GET /nope")
    refusal(ctx, srv, up("/nope"), 404, "not_found", "upgrade of /nope")
    refusal(ctx, srv, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 426, "upgrade_required",
            "plain GET /ws", headers={"Sec-WebSocket-Version": "13"})
    refusal(ctx, srv, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", 426, "upgrade_required",
            "plain GET /echo", headers={"Sec-WebSocket-Version": "13"})
    refusal(ctx, srv, up("/ws", drop=("Sec-WebSocket-Version",),
                         extra=(("Sec-WebSocket-Version", "8"),)),
            426, "upgrade_required", "upgrade with Sec-WebSocket-Version: 8",
            headers={"Sec-WebSocket-Version": "13"})
    refusal(ctx, srv, up("/ws", method="POST"), 405, "method", "POST /ws",
            headers={"Allow": "GET"})
    refusal(ctx, srv, "POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, "method",
            "POST /ws without upgrade", headers={"Allow": "GET"})
    refusal(ctx, srv, up("/ws", key="abc"), 400, "bad_request", "Sec-WebSocket-Key 'abc'")
    refusal(ctx, srv, up("/ws", drop=("Sec-WebSocket-Key",)), 400, "bad_request",
            "upgrade without Sec-WebSocket-Key")
    refusal(ctx, srv, up("/ws", version="HTTP/1.0"), 400, "bad_request", "HTTP/1.0 upgrade")
    refusal(ctx, srv, up("/ws", version="HTTP/2.0"), 505, "http_version", "HTTP/2.0 request")
    refusal(ctx, srv, "GARBAGE\r\n\r\n", 400, "bad_request", "malformed request line")
    big = "GET /ws HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n" % ("a" * 9000)
    refusal(ctx, srv, big, 431, "too_large", "request head of 9 KB (limit 8192)")
    many = "GET /ws HTTP/1.1\r\nHost: x\r\n" + "".join("X-F%d: v\r\n" % i for i in range(120)) \
        + "\r\n"
    refusal(ctx, srv, many, 431, "too_large", "request with 121 header fields (limit 100)")
    # refused queries: exact reasons from docs/protocol.md section 3
    q = [("/ws?topics=a%2Cb", "bad topic in topics=: each comma-separated item"),
         ("/ws?topics=a,,b", "bad topic in topics=: each comma-separated item"),
         ("/ws?topics=", "bad topic in topics=: each comma-separated item"),
         ("/ws?topics=%4", "bad percent-escape in the query"),
         ("/ws?x=%zz&topics=a", "bad percent-escape in the query"),
         ("/ws?topics=" + ",".join("t%d" % i for i in range(65)), "too many topics in topics="),
         ("/ws?publish=a&publish=b", "publish= given more than once"),
         ("/ws?publish=a%20b", "bad topic in publish="),
         ("/ws?token=a&token=b", "token= given more than once")]
    for path, reason in q:
        refusal(ctx, srv, up(path), 400, "bad_request", "upgrade of %s" % path,
                body_prefix=reason)
    refusal(ctx, srv, up("/ws?publish=a", extra=(("Sec-WebSocket-Protocol", "ringcast.v1"),)),
            400, "bad_request", "publish= with ringcast.v1",
            body_prefix="publish= is not allowed with the ringcast.v1 subprotocol")
    refusal(ctx, srv, up("/ws?token=abc", extra=(("Authorization", "Bearer xyz"),)),
            400, "bad_request", "token= and Authorization differ",
            body_prefix="token= and the Authorization header carry different tokens")
    # and what must still be accepted
    for path in ("/ws?topics=a,b&topics=c&_=1712345", "/ws?Topics=x",
                 "/ws?topics=trades/BTC-USD@binance,l2:ETH-USD.1"):
        ws = RawWS.connect(srv.port, path)
        ws.close_handshake()
    ws = RawWS.connect(srv.port, "/ws?topics=a", headers=(("Authorization", "Basic Zm9vOmJhcg=="),))
    ws.close_handshake()
    # a handshake trickled one byte per send (no pause) still completes
    ws = RawWS.connect(srv.port, "/echo", chunked=True)
    ws.send_text("x")
    op, p = ws.recv_message(t(5))
    expect_eq((op, p), (1, b"x"), "echo after a byte-by-byte handshake")
    ws.close_handshake()


@suite.case(timeout=60)
def max_connections(ctx):
    limit = 5
    srv = ctx.server("--max-connections", str(limit))
    before = srv.metrics()
    held = [RawWS.connect(srv.port, "/ws?topics=full") for _ in range(limit)]
    try:
        # the next WebSocket is refused with 503 and Retry-After: 1 (plain HTTP routes such as
        # /healthz may still be answered: not checked)
        for what, req in (("upgrade of /ws", up("/ws?topics=full")),
                          ("upgrade of /echo", up("/echo"))):
            r = http(srv.port, req, timeout=t(5))
            plain_answer_checks(r, "%s with %d connections open (--max-connections %d)"
                                % (what, limit, limit), 503)
            check((r.header("retry-after") or "").strip() == "1",
                  "503 over the limit: expected 'Retry-After: 1', got %r" % r.header("retry-after"))
        # the ones we hold still work
        held[0].send_frame(9, b"still-here")
        fr = held[0].expect_frame(t(5), "pong from a connection open at the limit")
        expect_eq((fr.opcode, fr.payload), (10, b"still-here"), "pong at the limit")
    finally:
        for ws in held[1:]:
            ws.close_handshake()
    # room again: a new connection is accepted (the server may take a moment to free the slots)
    def try_connect():
        try:
            RawWS.connect(srv.port, "/ws?topics=full").close_handshake()
            return True
        except HandshakeRefused as e:
            return "refused %s" % e.answer.status
    wait_until(try_connect, t(5), "a connection accepted after 4 of 5 closed")
    held[0].close_handshake()
    after = srv.metrics()
    d = after.get_("ringcast_connections_rejected_total", reason="over_limit") - \
        before.get_("ringcast_connections_rejected_total", reason="over_limit")
    expect_eq(d, 2, "ringcast_connections_rejected_total{reason=over_limit} increase")


@suite.case(timeout=30)
def v1_subprotocol_negotiation(ctx):
    srv = ctx.server()
    ws = RawWS.connect(srv.port, "/ws?topics=n", protocols=["chat", "ringcast.v1"])
    expect_eq(ws.subprotocol, "ringcast.v1", "subprotocol chosen among chat, ringcast.v1")
    check(ws.answer.header("sec-websocket-extensions") is None,
          "server negotiated an extension: %r" % ws.answer.header("sec-websocket-extensions"))
    fr = ws.expect_frame(t(5), "the subscribed notice of a ringcast.v1 connection")
    expect_eq(fr.opcode, 1, "opcode of the first frame (a notice, TEXT)")
    import json
    expect_eq(notice_core(json.loads(fr.payload)), {"type": "subscribed", "topics": ["n"]}, "first notice")
    ws.close_handshake()
    ws = RawWS.connect(srv.port, "/ws?topics=n", protocols=["Ringcast.v1", "other"])
    expect_eq(ws.subprotocol, None, "subprotocol when only unknown names are offered "
              "(names compare case-sensitively)")
    fr = ws.recv_frame(0.3)
    expect_eq(fr, None, "a plain client gets nothing unprompted (no notice)")
    ws.close_handshake()
    # offered with permessage-deflate: no extension in the answer
    ws = RawWS.connect(srv.port, "/ws?topics=n", headers=(
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),))
    check(ws.answer.header("sec-websocket-extensions") is None,
          "server accepted an extension: %r" % ws.answer.header("sec-websocket-extensions"))
    ws.close_handshake()


if __name__ == "__main__":
    suite.main()
