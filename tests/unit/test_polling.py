"""tests.support.polling.wait_until: returns the first truthy value, fails with the message."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.support.polling import wait_until


def test_returns_the_first_truthy_value_after_polling() -> None:
    answers = iter([None, 0, "", "ready", "later"])
    calls = itertools.count(1)

    def predicate() -> str | int | None:
        next(calls)
        return next(answers)

    assert wait_until(predicate, timeout=5, message="ready", interval=0.001) == "ready"
    assert next(calls) == 5  # four calls made, no fifth after success


def test_times_out_with_the_message_evaluated_at_the_end() -> None:
    state = {"seen": 0}

    def predicate() -> bool:
        state["seen"] += 1
        return False

    started = time.monotonic()
    expected = r"timed out after 0.2 s waiting for 3 workers, have \d+"
    with pytest.raises(AssertionError, match=expected):
        wait_until(predicate, 0.2, lambda: f"3 workers, have {state['seen']}", interval=0.01)
    assert time.monotonic() - started >= 0.2
    assert state["seen"] >= 2
