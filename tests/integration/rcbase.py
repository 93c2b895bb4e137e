"""Timing and failures, shared by every module of the integration-test harness.

    from rcbase import Fail, check, expect_eq, wait_until, t, scaled

SLOW: sanitizer builds run the server about 3x slower. RC_SLOW=1 in the environment (tests/run.sh
and the Asan build's ctest set it) makes SLOW = 3 (RC_SLOW_FACTOR=X overrides): tests multiply
their waits and tolerances by it (t()) and may shrink their load sizes with scaled(). A check that
fails raises Fail with what was expected and what came; the runner (rcsuite.py) prints it.
"""

from __future__ import annotations

import os
import time


# ------------------------------------------------------------------------------------------------
# speed of the build under test

def _slow_factor() -> float:
    f = os.environ.get("RC_SLOW_FACTOR")
    if f:
        return float(f)
    return 3.0 if os.environ.get("RC_SLOW", "") not in ("", "0") else 1.0


SLOW = _slow_factor()


def t(seconds: float) -> float:
    """A wait or a tolerance, scaled for a slow (sanitized) server."""
    return seconds * SLOW


def scaled(n: int, minimum: int = 1) -> int:
    """A load size, shrunk for a slow server."""
    return max(minimum, int(n / SLOW))


# ------------------------------------------------------------------------------------------------
# failures

class Fail(Exception):
    """A check failed. The message says what was expected and what came."""


class CaseTimeout(Fail):
    pass


def check(cond, msg: str):
    if not cond:
        raise Fail(msg)


def expect_eq(got, want, what: str):
    if got != want:
        raise Fail("%s: expected %r, got %r" % (what, want, got))


def wait_until(pred, timeout: float, what: str, interval: float = 0.05):
    """Poll pred() until it returns a true value (returned) or timeout seconds pass (Fail, with the
    last value pred returned, so the message shows what was seen)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise Fail("%s: not reached within %.1fs (last seen: %r)" % (what, timeout, last))
        time.sleep(interval)
