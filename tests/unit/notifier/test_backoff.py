"""Retry timing and outcome classification of webhook attempts."""

from __future__ import annotations

import pytest

from notifier_lambda.backoff import MAX_DELAY_SECONDS, retry_delay
from notifier_lambda.http_delivery import HttpResult, parse_retry_after
from notifier_lambda.notifier import classify
from sdfleet.webhook_attempts import AttemptOutcome


def test_delay_doubles_within_equal_jitter_bounds() -> None:
    for attempt in range(1, 8):
        ceiling = 30 * 2 ** (attempt - 1)
        assert retry_delay(attempt, 30, uniform=lambda lo, hi: lo) == ceiling / 2
        assert retry_delay(attempt, 30, uniform=lambda lo, hi: hi) == ceiling


def test_delay_is_capped_and_retry_after_wins_when_longer() -> None:
    assert retry_delay(40, 30, uniform=lambda lo, hi: hi) == MAX_DELAY_SECONDS
    assert retry_delay(1, 30, retry_after_seconds=600, uniform=lambda lo, hi: hi) == 600
    assert retry_delay(1, 30, retry_after_seconds=1, uniform=lambda lo, hi: hi) == 30


def test_retry_after_forms() -> None:
    assert parse_retry_after("120", now=0) == 120
    assert parse_retry_after("Thu, 01 Jan 1970 00:02:00 GMT", now=60) == 60
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after(None, now=0) is None


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (200, AttemptOutcome.DELIVERED),
        (204, AttemptOutcome.DELIVERED),
        (301, AttemptOutcome.REDIRECT_REFUSED),
        (307, AttemptOutcome.REDIRECT_REFUSED),
        (400, AttemptOutcome.REJECTED),
        (410, AttemptOutcome.REJECTED),
        (429, AttemptOutcome.RETRYING),
        (500, AttemptOutcome.RETRYING),
        (503, AttemptOutcome.RETRYING),
        (None, AttemptOutcome.RETRYING),
    ],
)
def test_classify(code: int | None, outcome: AttemptOutcome) -> None:
    assert classify(HttpResult(status_code=code, latency_ms=1.0)) is outcome
