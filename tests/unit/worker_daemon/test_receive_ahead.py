"""When ReceiveAhead starts the next receive: never more than ``lead`` before a call ends."""

from __future__ import annotations

import threading

import pytest

from worker.receive_ahead import ReceiveAhead


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Fetches:
    """Counts fetches; each returns its number."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self.count += 1
            return self.count


def make(lead: float) -> tuple[ReceiveAhead[int], Clock, Fetches]:
    clock, fetches = Clock(), Fetches()
    return ReceiveAhead(fetches, lead, clock=clock), clock, fetches


def test_negative_lead_is_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match=r"lead_seconds: must be >= 0 \(got -1\)"):
        ReceiveAhead(lambda: None, -1)


def test_lead_zero_never_fetches() -> None:
    ahead, clock, fetches = make(0)
    ahead.start_call()
    for step in range(1, 31):
        clock.now += 0.001
        ahead.on_step(step, 30)
    ahead.end_call()
    ahead.start_call()
    assert ahead.take() is None and fetches.count == 0


def test_long_call_fetches_only_when_the_rest_is_within_the_lead() -> None:
    ahead, clock, fetches = make(0.5)
    ahead.start_call()  # no previous call: nothing to go on yet
    for step in range(1, 30):  # 0.1 s a step: 30 steps, 3 s
        clock.now += 0.1
        ahead.on_step(step, 30)
        if 0.1 * (30 - step) > 0.5 + 1e-9:
            assert not ahead.in_flight, step
    assert ahead.in_flight
    assert ahead.take() == 1
    ahead.end_call()
    assert fetches.count == 1  # once per call


def test_short_calls_fetch_before_the_next_call_starts() -> None:
    ahead, clock, fetches = make(0.5)
    ahead.start_call()
    clock.now += 0.05
    ahead.on_step(1, 2)  # the rest (0.05 s) is within the lead
    assert ahead.take() == 1
    clock.now += 0.05
    ahead.end_call()  # the call took 0.1 s
    ahead.start_call()  # so the next call fetches at once
    assert ahead.take() == 2
    ahead.on_step(1, 2)
    assert not ahead.in_flight and fetches.count == 2


def test_nothing_is_fetched_outside_a_call() -> None:
    ahead, _, fetches = make(10)
    ahead.on_step(1, 2)
    assert ahead.take() is None and fetches.count == 0


def test_a_failed_fetch_reads_as_none() -> None:
    def fail() -> int:
        raise ConnectionError("receive failed")

    ahead = ReceiveAhead(fail, 10)
    ahead.start_call()
    ahead.on_step(1, 2)
    assert ahead.take() is None
    ahead.shutdown()
