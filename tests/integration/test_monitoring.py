#!/usr/bin/python3
"""Integration: the alerting rules and the Grafana dashboard in docs/monitoring/ fit the server.

    /usr/bin/python3 tests/integration/test_monitoring.py --bin build/release/tools/ringcast

rules_check        `promtool check rules` (Debian's prometheus package) accepts ringcast.rules.yml.
rules_unit_tests   `promtool test rules ringcast.rules.test.yml`: each alert fires on the made-up
                   series that should fire it, and not on the ones that should not.
names_exist        every ringcast_ metric the rules and the dashboard name is one a running server
                   (2 workers, TLS on) exports in /metrics; the dashboard is JSON with one query
                   at least per panel.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

import yaml

from rcbase import Fail, check, expect_eq
from rcsuite import Suite

suite = Suite("monitoring")

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIR = os.path.join(TOP, "docs", "monitoring")
RULES = os.path.join(DIR, "ringcast.rules.yml")
RULE_TESTS = os.path.join(DIR, "ringcast.rules.test.yml")
DASHBOARD = os.path.join(DIR, "grafana-dashboard.json")


def promtool(*args):
    exe = shutil.which("promtool")
    check(exe is not None, "promtool is not installed (tests/run.sh installs Debian's prometheus)")
    r = subprocess.run([exe] + list(args), cwd=DIR, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "promtool %s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


@suite.case(timeout=120)
def rules_check(ctx):
    out = promtool("check", "rules", RULES)
    check("SUCCESS" in out, out)


@suite.case(timeout=120)
def rules_unit_tests(ctx):
    out = promtool("test", "rules", RULE_TESTS)
    check("SUCCESS" in out, out)


def names_in(expr):
    """The ringcast_ metric families an expression reads (histogram suffixes dropped)."""
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in re.findall(r"\bringcast_[a-z_]+", expr)}


@suite.case(timeout=60)
def names_exist(ctx):
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    check(len(exprs) >= 8, "the rules: %d" % len(exprs))
    with open(DASHBOARD) as f:
        dash = json.load(f)
    for p in dash["panels"]:
        check(p.get("targets"), "panel %r has no query" % p.get("title"))
        exprs += [t["expr"] for t in p["targets"]]
    wanted = set()
    for e in exprs:
        wanted |= names_in(e)
    cert = tempfile.mkdtemp(prefix="tls-", dir=ctx.workdir)
    subprocess.run(["sh", os.path.join(TOP, "tools", "gen-cert.sh"), cert], check=True,
                   stdout=subprocess.DEVNULL)
    srv = ctx.server("--workers", "2", "--tls-listen", "127.0.0.1:0",
                     "--tls-cert", os.path.join(cert, "cert.pem"),
                     "--tls-key", os.path.join(cert, "key.pem"))
    text = srv.metrics_text()
    have = set(re.findall(r"^# TYPE (ringcast_[a-z_]+) ", text, re.M))
    missing = sorted(wanted - have)
    if missing:
        raise Fail("named in docs/monitoring but not exported: %s" % ", ".join(missing))
    ctx.note("%d metric families named, all exported" % len(wanted))
    srv.stop()


if __name__ == "__main__":
    suite.main()
