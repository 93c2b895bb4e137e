#!/usr/bin/python3
"""Integration: authorization with JSON Web Tokens (net/rc_access.h, net/rc_auth.h,
docs/operations.md "Tokens"), tokens made by a third party: PyJWT (Debian's python3-jwt), keys by
openssl.

    /usr/bin/python3 tests/integration/test_tokens.py --bin build/release/tools/ringcast

The server runs with a keys file of three keys (HS256 secret, ES256 and RS256 public keys) and
--subscribe-token-topics "priv.*", on two workers.

grants           tokens of each algorithm, with and without kid, grant what they list: a v1 client
                 publishes on a granted topic (its subscriber gets it) and is refused `forbidden`
                 elsewhere without being closed; subscribes to priv.* only where granted; a plain
                 publisher whose token does not grant its publish= is refused 403 at the
                 handshake; the shared publish token still publishes anywhere.
open_and_closed  without a token: public topics subscribe, priv.* does not (403 at the handshake,
                 `forbidden` to a subscribe command); publishing is refused (4001).
bad_tokens       expired, not yet valid, wrong signature, unknown kid, alg=none, and the key
                 confusion attack (HS256 signed with the RS256 public key's PEM as its secret, with
                 that key's kid and without) each get 401 with the reason; an auth command with
                 them gets a `forbidden` error naming it, and the connection stays.
expiry_refresh   a connection whose token expires is closed with 4006 (after exp and the 5 s
                 leeway); one that sent a fresh token in an auth command before stays open and
                 keeps its grant.
key_rotation     the keys file is replaced (a new HS256 secret under the same kid) and SIGHUP: a
                 token of the old secret is refused on new connections, one of the new secret
                 accepted; connections made before go on.
"""

import json
import os
import signal
import subprocess
import time

import jwt

from rcbase import Fail, check, expect_eq, t, wait_until
from rcws import RawWS, HandshakeRefused, OP_CLOSE, OP_TEXT, OP_BINARY
from rcv1 import v1_publish, v1_parse
from rcsuite import Suite

suite = Suite("tokens")

SECRET = b"s" * 40
SECRET2 = b"t" * 48
PUBLISH_TOKEN = "shared-publish-token"


def keys(ctx):
    """The keys file and the private keys: (path, ec_private_pem, rsa_private_pem,
    rsa_public_pem)."""
    d = ctx.workdir
    ec, rsa = os.path.join(d, "ec.pem"), os.path.join(d, "rsa.pem")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ec],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "genrsa", "-out", rsa, "2048"], check=True, capture_output=True)
    for src, dst in ((ec, "ec.pub.pem"), (rsa, "rsa.pub.pem")):
        subprocess.run(["openssl", "pkey", "-in", src, "-pubout", "-out", os.path.join(d, dst)],
                       check=True, capture_output=True)
    path = os.path.join(d, "keys.txt")
    write_keys(path, SECRET)
    with open(ec, "rb") as f:
        ec_priv = f.read()
    with open(rsa, "rb") as f:
        rsa_priv = f.read()
    with open(os.path.join(d, "rsa.pub.pem"), "rb") as f:
        rsa_pub = f.read()
    return path, ec_priv, rsa_priv, rsa_pub


def write_keys(path, secret):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("# test keys\nhs HS256 hex:%s\nec ES256 ec.pub.pem\nrs RS256 rsa.pub.pem\n"
                % secret.hex())
    os.rename(tmp, path)


def token(key, alg="HS256", kid="hs", exp=3600, nbf=None, sub=("pub.*", "priv.a"),
          pub=("pub.*",)):
    now = int(time.time())
    claims = {"sub": "tester", "subscribe": list(sub), "publish": list(pub)}
    if exp is not None:
        claims["exp"] = now + exp
    if nbf is not None:
        claims["nbf"] = now + nbf
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def server(ctx, keys_path, *extra):
    return ctx.server("--jwt-keys", keys_path, "--subscribe-token-topics", "priv.*",
                      "--publish-token", PUBLISH_TOKEN, "--workers", "2", *extra)


def v1(srv, tok=None, path="/ws"):
    headers = [("Authorization", "Bearer " + tok)] if tok else []
    return RawWS.connect(srv.port, path, protocols=["ringcast.v1"], headers=headers)


def notice(ws, timeout=5.0):
    while True:
        m = ws.recv_message(timeout=t(timeout))
        check(m is not None, "no notice within %.1fs" % timeout)
        check(m[0] != OP_CLOSE, "closed instead of a notice: %r" % (m[1],))
        if m[0] == OP_TEXT:
            return json.loads(m[1])


def command(ws, **cmd):
    ws.send_text(json.dumps(cmd))
    return notice(ws)


def refused(srv, tok, path="/ws?topics=pub.x"):
    try:
        RawWS.connect(srv.port, path, headers=[("Authorization", "Bearer " + tok)])
    except HandshakeRefused as e:
        return e.answer.status, (e.answer.body or b"").decode(errors="replace").strip()
    raise Fail("a handshake with token %s... was accepted" % tok[:20])


def publish_arrives(pubws, subws, topic):
    body = ("m %.6f" % time.monotonic()).encode()
    pubws.send_binary(v1_publish(topic, body))
    m = subws.recv_message(timeout=t(2))
    return m is not None and m[0] == OP_BINARY and v1_parse(m[1])[3] == body


# ------------------------------------------------------------------------------------------------

@suite.case(timeout=90)
def grants(ctx):
    path, ec, rsa, _ = keys(ctx)
    srv = server(ctx, path)
    sub = v1(srv)
    expect_eq(command(sub, op="subscribe", topics=["pub.a", "pub.b"])["type"], "subscribed",
              "a public subscribe")
    for alg, key, kid in (("HS256", SECRET, "hs"), ("HS256", SECRET, None), ("ES256", ec, "ec"),
                          ("ES256", ec, None), ("RS256", rsa, "rs"), ("RS256", rsa, None)):
        what = "%s kid=%s" % (alg, kid)
        c = v1(srv, token(key, alg, kid))
        check(publish_arrives(c, sub, "pub.a"), "%s: a publish on a granted topic" % what)
        c.send_binary(v1_publish("other", b"x"))
        n = notice(c)
        check(n["type"] == "error" and n["code"] == "forbidden",
              "%s: a publish on a topic not granted: %r" % (what, n))
        check(publish_arrives(c, sub, "pub.b"), "%s: the connection goes on after it" % what)
        n = command(c, op="subscribe", topics=["priv.a"], id=1)
        expect_eq(n["type"], "subscribed", "%s: a granted private subscribe" % what)
        n = command(c, op="subscribe", topics=["priv.b"], id=2)
        check(n["type"] == "error" and n["code"] == "forbidden" and n["id"] == 2,
              "%s: a private topic not granted: %r" % (what, n))
        c.close()
    # URL subscriptions and a plain publisher
    tok = token(SECRET)
    RawWS.connect(srv.port, "/ws?topics=priv.a", headers=[("Authorization", "Bearer " + tok)]).close()
    status, body = refused(srv, tok, "/ws?topics=priv.b")
    check(status == 403 and "token" in body, "URL subscribe not granted: %s %s" % (status, body))
    status, body = refused(srv, tok, "/ws?publish=other")
    check(status == 403 and "publish" in body, "plain publish= not granted: %s %s" % (status,
                                                                                      body))
    p = RawWS.connect(srv.port, "/ws?publish=pub.a&token=" + tok)
    p.send_text(b"plain")
    m = sub.recv_message(timeout=t(2))
    check(m is not None and v1_parse(m[1])[3] == b"plain", "a plain publisher's message: %r"
          % (m,))
    p.close()
    # the shared token publishes anywhere and subscribes to private topics
    s = v1(srv, PUBLISH_TOKEN)
    expect_eq(command(s, op="subscribe", topics=["priv.zzz"])["type"], "subscribed",
              "the shared token subscribing to a private topic")
    check(publish_arrives(s, sub, "pub.a"), "the shared token publishing")
    s.close()
    sub.close()


@suite.case(timeout=60)
def open_and_closed(ctx):
    path, _, _, _ = keys(ctx)
    srv = server(ctx, path)
    RawWS.connect(srv.port, "/ws?topics=pub.a").close()
    try:
        RawWS.connect(srv.port, "/ws?topics=priv.a")
        raise Fail("a private topic without a token")
    except HandshakeRefused as e:
        expect_eq(e.answer.status, 403, "a private topic in the URL without a token")
    c = v1(srv)
    n = command(c, op="subscribe", topics=["pub.a", "priv.a"], id="x")
    check(n["type"] == "error" and n["code"] == "forbidden" and n["id"] == "x",
          "a private subscribe without a token: %r" % n)
    expect_eq(command(c, op="subscribe", topics=["pub.a"])["type"], "subscribed",
              "the public one alone")
    c.send_binary(v1_publish("pub.a", b"x"))
    fr = c.expect_frame(t(2), "close after an unauthorized publish")
    while fr.opcode != OP_CLOSE:
        fr = c.expect_frame(t(2), "close after an unauthorized publish")
    expect_eq(fr.close_code, 4001, "publishing without a token")
    m = srv.metrics()
    check(m.get_("ringcast_connections_rejected_total", reason="forbidden_topic") >= 1,
          "rejected_total{reason=forbidden_topic}")


@suite.case(timeout=60)
def bad_tokens(ctx):
    path, ec, rsa, rsa_pub = keys(ctx)
    srv = server(ctx, path)
    good = token(SECRET)
    h, p, s = good.split(".")
    forged = h + "." + p + "." + ("A" if s[0] != "A" else "B") + s[1:]
    none_tok = jwt.encode({"publish": ["*"]}, None, algorithm="none")
    # key confusion: HMAC keyed with the public key's text; PyJWT refuses to do it itself
    import base64
    import hashlib
    import hmac

    def raw_hs(header, claims, key):
        enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        signing = enc(json.dumps(header).encode()) + "." + enc(json.dumps(claims).encode())
        sig = hmac.new(key, signing.encode(), hashlib.sha256).digest()
        return signing + "." + enc(sig)

    claims = {"publish": ["*"], "subscribe": ["*"], "exp": int(time.time()) + 600}
    confusion_kid = raw_hs({"alg": "HS256", "typ": "JWT", "kid": "rs"}, claims, rsa_pub)
    confusion = raw_hs({"alg": "HS256", "typ": "JWT"}, claims, rsa_pub)
    cases = [
        ("expired", token(SECRET, exp=-60), "token expired"),
        ("not yet valid", token(SECRET, nbf=600), "token not yet valid"),
        ("wrong signature", forged, "bad signature"),
        ("another secret", token(b"x" * 40), "bad signature"),
        ("unknown kid", token(SECRET, kid="nobody"), "no key for the token"),
        ("kid of another algorithm", token(SECRET, kid="ec"), "no key for the token"),
        ("alg none", none_tok, "unsupported algorithm"),
        ("key confusion with kid", confusion_kid, "no key for the token"),
        ("key confusion without kid", confusion, "bad signature"),
        ("not a token", "abc", "malformed token"),
    ]
    c = v1(srv)
    for what, tok, reason in cases:
        status, body = refused(srv, tok)
        check(status == 401 and body == reason, "%s: expected 401 %r, got %s %r"
              % (what, reason, status, body))
        n = command(c, op="auth", token=tok, id=what)
        check(n["type"] == "error" and n["code"] == "forbidden" and n["message"] == reason
              and n["id"] == what, "%s: auth command: %r" % (what, n))
    n = command(c, op="auth", token=good)
    check(n["type"] == "authorized" and n["exp"] > time.time(), "a good token after them: %r" % n)
    m = srv.metrics()
    expect_eq(m.get_("ringcast_connections_rejected_total", reason="unauthorized"),
              float(len(cases)), "rejected_total{reason=unauthorized}")
    c.close()


@suite.case(timeout=90)
def expiry_refresh(ctx):
    path, _, _, _ = keys(ctx)
    srv = server(ctx, path)
    lapse = v1(srv, token(SECRET, exp=1))
    keepw = v1(srv, token(SECRET, exp=1))
    t0 = time.monotonic()
    n = command(keepw, op="auth", token=token(SECRET, exp=600), id="r")
    check(n["type"] == "authorized" and n["id"] == "r", "refresh: %r" % n)
    fr = lapse.expect_frame(t(12), "the close of an expired connection")
    while fr.opcode != OP_CLOSE:
        fr = lapse.expect_frame(t(12), "the close of an expired connection")
    took = time.monotonic() - t0
    expect_eq(fr.close_code, 4006, "close code of an expired token")
    ctx.note("closed %.1f s after connecting (exp 1 s + 5 s leeway)" % took)
    check(took >= 5, "closed after %.1f s, before exp and the leeway" % took)
    time.sleep(1)
    expect_eq(command(keepw, op="subscribe", topics=["priv.a"])["type"], "subscribed",
              "the refreshed connection, after the first token's expiry")
    wait_until(lambda: srv.metrics().get_("ringcast_connections_closed_total",
                                          reason="token_expired") == 1.0, t(5),
               "closed_total{reason=token_expired} = 1")
    keepw.close()


@suite.case(timeout=60)
def key_rotation(ctx):
    path, _, _, _ = keys(ctx)
    srv = server(ctx, path)
    before = v1(srv, token(SECRET))
    write_keys(path, SECRET2)
    srv.send_signal(signal.SIGHUP)
    wait_until(lambda: srv.log_events("reloaded"), t(5), "the reload")
    status, body = refused(srv, token(SECRET))
    check(status == 401 and body == "bad signature", "the old secret after rotation: %s %s"
          % (status, body))
    v1(srv, token(SECRET2)).close()
    expect_eq(command(before, op="subscribe", topics=["priv.a"])["type"], "subscribed",
              "a connection from before the rotation keeps its grant")
    before.close()
    # a keys file that does not load: the keys stay
    with open(path, "w") as f:
        f.write("hs HS256 hex:00\n")
    srv.allowed_error_events.add("reload_refused")
    srv.send_signal(signal.SIGHUP)
    wait_until(lambda: len(srv.log_events("reloaded")) == 2, t(5), "the second reload")
    check(any("jwt-keys" in ln for ln in srv.log_events("reload_refused")),
          "reload_refused names jwt-keys")
    v1(srv, token(SECRET2)).close()


if __name__ == "__main__":
    suite.main()
