#!/usr/bin/python3
"""Integration: interoperability with the Node `ws` client (npm ws 8, tests/integration/node).

    (cd tests/integration/node && npm ci)
    /usr/bin/python3 tests/integration/test_interop_node.py --bin build/release/tools/ringcast

Starts the server and runs node/interop.mjs against it (plain and ringcast.v1 pub/sub, ping,
echo, a refused handshake), over ws:// and again over wss:// (--tls-listen, Node trusting the
test's certificate through NODE_EXTRA_CA_CERTS). A missing node or node_modules is a failure, not a skip: tests/run.sh
installs both.
"""

import os
import shutil
import subprocess

from rcbase import Fail, t
from rcsuite import Suite

suite = Suite("interop_node")
HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")


def run_interop(ctx, base, env=None):
    node = shutil.which("node")
    if not node:
        raise Fail("node is not installed (Debian: apt-get install nodejs; tests/run.sh does it)")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "ws")):
        raise Fail("the npm package ws is not installed: run 'npm ci' in %s (tests/run.sh does "
                   "it)" % NODE_DIR)
    try:
        p = subprocess.run([node, os.path.join(NODE_DIR, "interop.mjs"), base], cwd=NODE_DIR,
                           capture_output=True, text=True, timeout=t(75),
                           env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired as e:
        raise Fail("node interop.mjs did not finish within %.0fs; output so far:\n%s"
                   % (t(75), e.stdout))
    out = (p.stdout + p.stderr).rstrip()
    print("\n".join("    " + ln for ln in out.splitlines()))
    if p.returncode != 0:
        raise Fail("node interop.mjs exited with %d (its failing checks are above)" % p.returncode)


@suite.case(timeout=90)
def node_ws(ctx):
    srv = ctx.server()
    run_interop(ctx, "ws://127.0.0.1:%d" % srv.port)


@suite.case(timeout=90)
def node_ws_over_tls(ctx):
    """The same checks over wss:// (--tls-listen), Node trusting the test's own certificate."""
    d = os.path.join(ctx.workdir, "tls-cert")
    subprocess.run(["sh", os.path.join(HERE, "..", "..", "tools", "gen-cert.sh"), d], check=True,
                   stdout=subprocess.DEVNULL)
    cert = os.path.join(d, "cert.pem")
    srv = ctx.server("--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key",
                     os.path.join(d, "key.pem"))
    run_interop(ctx, "wss://127.0.0.1:%d" % srv.tls_port, env={"NODE_EXTRA_CA_CERTS": cert})


if __name__ == "__main__":
    suite.main()
