"""The one way a test waits for something: poll a predicate until it holds or time runs out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    message: str | Callable[[], str],
    *,
    interval: float = 0.1,
) -> T:
    """Calls ``predicate`` every ``interval`` seconds until it returns something truthy, and
    returns that. After ``timeout`` seconds fails the test with ``message`` (a callable is
    called then, so it can show the state at the end). ``predicate`` may do work each round
    (drive a worker, reconcile a fleet) or fail the test itself to stop early."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
