"""The runner of an integration suite: cases in order, each under its own time limit, each server
it started stopped and checked.

    from rcsuite import Suite
    suite = Suite("pubsub")

    @suite.case(timeout=60)
    def fan_out(ctx):
        srv = ctx.server("--queue-msgs-max", "256")   # started, port known, stopped by the runner
        ...

    if __name__ == "__main__":
        suite.main()                                  # exits 1 if a case failed

It prints one line per case (PASS / FAIL with what was expected and what came, plus the tail of
the server's log on failure), then "<suite>: N cases ok, M cases failed"; main() returns 1 if any
failed. A server that died during a case, or that does not stop cleanly after it, fails the case.
Options of every suite: --bin PATH (or RINGCAST_BIN), --only CASE,..., --list, --keep.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
import traceback

from rcbase import SLOW, CaseTimeout, Fail, t
from rcserver import SAN_RE, Server, default_binary, describe_status


# ------------------------------------------------------------------------------------------------
# the runner

class Ctx:
    """What a case gets: the binary, and ctx.server() to start servers the runner will stop."""

    def __init__(self, binary: str, suite: str, case: str, workdir: str):
        self.binary = binary
        self.suite = suite
        self.case = case
        self.workdir = workdir
        self.servers: list[Server] = []
        self.notes: list[str] = []
        self.cleanup: list = []        # callables run after the case, before its servers stop

    def server(self, *flags, name: str | None = None, start: bool = True, env=None) -> Server:
        name = name or "%s-%d" % (self.case, len(self.servers))
        srv = Server(self.binary, flags, name=name, workdir=self.workdir, env=env)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def note(self, msg: str):
        """A measurement worth printing with the verdict (timings, rates)."""
        self.notes.append(msg)
        print("    note: " + msg, flush=True)


class Suite:
    def __init__(self, name: str):
        self.name = name
        self.cases = []

    def case(self, timeout: float = 60.0):
        """Decorator: a case, with its time limit in seconds at SLOW = 1 (scaled by SLOW)."""
        def deco(fn):
            self.cases.append((fn.__name__, fn, timeout))
            return fn
        return deco

    def main(self, argv=None):
        """Parse the command line, run the cases, print the verdicts, and exit: 0 if every case
        passed, 1 if one failed, 2 without a server binary. (It exits itself: a suite that called
        it without passing its status on once reported failed cases as a pass.)"""
        import argparse
        ap = argparse.ArgumentParser(description="ringcast integration tests: " + self.name)
        ap.add_argument("--bin", default=default_binary(),
                        help="the ringcast server binary (default: $RINGCAST_BIN)")
        ap.add_argument("--only", help="comma-separated case names to run")
        ap.add_argument("--list", action="store_true")
        ap.add_argument("--keep", action="store_true", help="keep the logs' folder")
        a = ap.parse_args(argv)
        if a.list:
            for n, _, tmo in self.cases:
                print("%-28s %4.0fs" % (n, t(tmo)))
            sys.exit(0)
        if not a.bin:
            print("%s: no server binary: pass --bin PATH or set RINGCAST_BIN" % self.name)
            sys.exit(2)
        a.bin = os.path.abspath(a.bin)
        only = set(a.only.split(",")) if a.only else None
        workdir = tempfile.mkdtemp(prefix="rc-integ-%s-" % self.name)
        print("%s: server %s, SLOW=%g, logs in %s" % (self.name, a.bin, SLOW, workdir), flush=True)
        ok = failed = 0
        for name, fn, tmo in self.cases:
            if only and name not in only:
                continue
            if self._run_case(a.bin, name, fn, tmo, workdir):
                ok += 1
            else:
                failed += 1
        print("%s: %d cases ok, %d cases failed" % (self.name, ok, failed), flush=True)
        if failed == 0 and not a.keep:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
        sys.exit(1 if failed else 0)

    def _run_case(self, binary, name, fn, tmo, workdir) -> bool:
        ctx = Ctx(binary, self.name, name, workdir)
        limit = t(tmo)
        print("--- %s (limit %.0fs)" % (name, limit), flush=True)

        def on_alarm(signum, frame):
            raise CaseTimeout("case did not finish within its limit of %.0fs" % limit)

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        t0 = time.monotonic()
        err = None
        try:
            fn(ctx)
        except Fail as e:
            err = str(e)
        except Exception:
            err = "unexpected exception (a test bug, or a server answer the test did not " \
                  "foresee):\n" + traceback.format_exc()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        # a server that died during the case is the news, whatever the test saw next
        for srv in ctx.servers:
            if srv.proc is not None and srv.exit_status is None and srv.proc.poll() is not None:
                srv.exit_status = srv.proc.returncode
                srv._log.close()
                text = srv.log()
                m = SAN_RE.search(text)
                report = text[text.rfind("\n", 0, m.start()) + 1:][:6000] if m else \
                    srv.log_tail(40)
                err = ("the server (%s) died during the case: %s\n%s%s"
                       % (srv.name, describe_status(srv.exit_status), report,
                          "\nwhat the test saw: " + err if err else ""))
        for fn_ in ctx.cleanup:
            try:
                fn_()
            except Exception:          # noqa: BLE001 - best effort (closing our sockets)
                pass
        # every server of the case is stopped and checked, even after a failure
        for srv in ctx.servers:
            if srv.proc is None or srv.exit_status is not None:
                continue
            try:
                srv.stop()
            except Fail as e:
                err = (err + "\n" if err else "") + "at the end of the case: " + str(e)
            except Exception:
                srv.kill()
                err = (err + "\n" if err else "") + traceback.format_exc()
        dt = time.monotonic() - t0
        if err is None:
            print("PASS %s (%.1fs)" % (name, dt), flush=True)
            return True
        print("FAIL %s (%.1fs): %s" % (name, dt, err), flush=True)
        for srv in ctx.servers:
            print("  server %s (port %s, %s), log tail:\n%s"
                  % (srv.name, srv.port, describe_status(srv.exit_status), srv.log_tail(25)),
                  flush=True)
        return False
