"""The load generator, perf/ringcast-bench, as the tests run it: found next to the server binary
(build/<type>/perf/ringcast-bench), run quietly, its one JSON line returned and checked.

    r = run_bench(ctx, "ws://127.0.0.1:%d/ws" % srv.port, "--workload", "churn", "-d", 2)
"""

from __future__ import annotations

import json
import os
import subprocess

from rcbase import Fail, check, t


# ------------------------------------------------------------------------------------------------
# the load generator (perf/ringcast-bench, built next to the server)

def bench_path(ctx) -> str:
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary))), "perf",
                        "ringcast-bench")
    if not os.access(path, os.X_OK):
        raise Fail("no load generator at %s (build the perf/ targets)" % path)
    return path


def run_bench(ctx, url: str, *args, want_ok: bool = True) -> dict:
    """Run the bench quietly; return its JSON object (checked: ok, and the workload's name)."""
    cmd = [bench_path(ctx), "-q"] + [str(a) for a in args] + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=t(60))
    try:
        r = json.loads(out.stdout)
    except ValueError:
        raise Fail("ringcast-bench printed no JSON (exit %d): %s" % (out.returncode,
                                                                     out.stderr[-500:]))
    if want_ok:
        check(r.get("ok") is True and out.returncode == 0,
              "bench not ok (exit %d): %r" % (out.returncode, r.get("error")))
    for key in ("workload", "published", "expected", "delivered", "missing", "latency_us",
                "bench_cpu_s", "server_cpu_s", "server_closes", "errors"):
        check(key in r, "no %r in the JSON" % key)
    return r
