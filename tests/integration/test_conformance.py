#!/usr/bin/python3
"""Integration: the RFC 6455 conformance suite (conformance.py, Autobahn-style) against /echo.

    /usr/bin/python3 tests/integration/test_conformance.py --bin build/release/tools/ringcast

The server runs with --message-max-bytes 65280 and the suite with the same --max-message, so the
cases with bigger messages expect close 1009. Zero failed cases is required; afterwards the server
must have no connection left and shut down cleanly.
"""

import os
import re
import subprocess
import sys

from rcbase import Fail, check, t, wait_until
from rcsuite import Suite

suite = Suite("conformance")
HERE = os.path.dirname(os.path.abspath(__file__))
MAX = 65280


@suite.case(timeout=150)
def autobahn_like(ctx):
    srv = ctx.server("--message-max-bytes", str(MAX), "--close-timeout-ms", "1000")
    base = srv.metrics().get_("ringcast_connections")
    cmd = [sys.executable, os.path.join(HERE, "conformance.py"), "--url", srv.url("/echo"),
           "--max-message", str(MAX), "--timeout", str(t(10)), "--global-timeout", str(t(120))]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=t(135))
    except subprocess.TimeoutExpired:
        raise Fail("conformance.py did not finish within %.0fs" % t(135))
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
    check(int(m.group(1)) >= 300, "expected the whole suite (300+ cases) to run, got %r"
          % summary[-1])
    wait_until(lambda: srv.metrics().get_("ringcast_connections") <= base or None, t(5),
               "ringcast_connections back to %d after the suite" % base)


if __name__ == "__main__":
    suite.main()
