#!/usr/bin/python3
"""Integration: the RFC 6455 conformance suite (conformance.py, Autobahn-style) against /echo.

    /usr/bin/python3 tests/integration/test_conformance.py --bin build/release/tools/ringcast

autobahn_like      the whole suite (300+ cases) against a server at its default message limit
                   (no --message-max-bytes: 1 MiB), the suite run with --max-message 1048576: the
                   messages of 64 KiB (1.1.6-1.2.8) and up to 1 MiB (9.x) must be echoed whole,
                   those over 1 MiB (9.1.4-9.2.6) must get close 1009.
autobahn_like_over_tls  the same suite over wss:// on --tls-listen.
large_messages_9   section 9 alone (single messages up to 16 MiB, 4 MiB fragmented in 64 B to
                   4 MiB fragments, 1 MiB written in chops of 64 to 2,048 bytes, 1,000 round trips)
                   against a server with --message-max-bytes 16M (and the default 4 MiB
                   queue-bytes-max: a queue always takes one message) at the default buffer size:
                   every message, up to 16 MiB, held in a chain of 64 KiB pool buffers, must come
                   back byte for byte (--max-message 16777216).

Zero failed cases is required; afterwards the server must have no connection left and shut down
cleanly. Section 9 takes about 7 s against the release build, 13 s against the ASan build.
"""

import os
import re
import subprocess
import sys

from rcbase import Fail, check, t, wait_until
from rcsuite import Suite

suite = Suite("conformance")
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MAX = 1048576              # the server's default --message-max-bytes


def run_conformance(ctx, srv, max_message, min_cases, case_timeout, run_timeout, cases=None,
                    ca=None):
    """Run conformance.py against srv's /echo (over TLS with ca: its TLS port); require 0 failed
    and at least min_cases run."""
    base = srv.metrics().get_("ringcast_connections")
    url = srv.url("/echo") if ca is None else "wss://127.0.0.1:%d/echo" % srv.tls_port
    cmd = [sys.executable, os.path.join(HERE, "conformance.py"), "--url", url,
           "--max-message", str(max_message), "--timeout", str(case_timeout),
           "--global-timeout", str(run_timeout)] + (["--ca-file", ca] if ca else [])
    if cases:
        cmd += ["--cases", cases]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=run_timeout + t(15))
    except subprocess.TimeoutExpired:
        raise Fail("conformance.py did not finish within %.0fs" % (run_timeout + t(15)))
    lines = p.stdout.splitlines()
    summary = [ln for ln in lines if ln.startswith("conformance: ")]
    bad = [ln for ln in lines if re.match(r"^\S+\s+FAILED", ln)]
    for ln in bad[:40]:
        print("    " + ln)
    check(summary, "conformance.py printed no summary line (exit %d):\n%s"
          % (p.returncode, (p.stdout + p.stderr)[-3000:]))
    ctx.note(summary[-1])
    m = re.match(r"conformance: (\d+) passed, (\d+) failed", summary[-1])
    check(m and int(m.group(2)) == 0 and p.returncode == 0,
          "expected 0 failed cases, got %r (exit %d); failed cases:\n%s"
          % (summary[-1], p.returncode, "\n".join(bad[:40])))
    check(int(m.group(1)) >= min_cases, "expected at least %d cases to run, got %r"
          % (min_cases, summary[-1]))
    wait_until(lambda: srv.metrics().get_("ringcast_connections") <= base or None, t(5),
               "ringcast_connections back to %d after the suite" % base)
    return lines


@suite.case(timeout=150)
def autobahn_like(ctx):
    srv = ctx.server("--close-timeout-ms", "1000")
    lines = run_conformance(ctx, srv, DEFAULT_MAX, 300, t(10), t(120))
    # the 64 KiB messages of section 1 are echoed at the defaults, not refused
    echoed = [ln for ln in lines if re.match(r"^1\.[12]\.[678]\s+OK\b", ln)]
    check(len(echoed) == 6, "expected 1.1.6-1.1.8 and 1.2.6-1.2.8 (64 KiB messages) OK at the "
          "default limit, got %r" % [ln for ln in lines if re.match(r"^1\.[12]\.[678]\s", ln)])


@suite.case(timeout=120)
def large_messages_9(ctx):
    srv = ctx.server("--message-max-bytes", "16M", "--close-timeout-ms", "1000")
    lines = run_conformance(ctx, srv, 16 * 1024 * 1024, 54, t(20), t(75), cases="9.*")
    over = [ln for ln in lines if "over --max-message" in ln]
    check(not over, "no 9.x message is over the 16 MiB limit, yet: %r" % over[:3])


@suite.case(timeout=200)
def autobahn_like_over_tls(ctx):
    """The whole suite again over wss:// (--tls-listen, a certificate from tools/gen-cert.sh):
    every frame the suite writes, chopped or whole, arrives in TLS records instead."""
    d = os.path.join(ctx.workdir, "tls-cert")
    subprocess.run(["sh", os.path.join(HERE, "..", "..", "tools", "gen-cert.sh"), d], check=True,
                   stdout=subprocess.DEVNULL)
    srv = ctx.server("--close-timeout-ms", "1000", "--tls-listen", "127.0.0.1:0",
                     "--tls-cert", os.path.join(d, "cert.pem"), "--tls-key",
                     os.path.join(d, "key.pem"))
    run_conformance(ctx, srv, DEFAULT_MAX, 300, t(10), t(150), ca=os.path.join(d, "cert.pem"))


if __name__ == "__main__":
    suite.main()
