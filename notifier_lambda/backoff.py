"""When to try a webhook again: exponential backoff with jitter, or the receiver's Retry-After."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final

#: No single wait is longer than this (then the doubling stops).
MAX_DELAY_SECONDS: Final = 6 * 3600.0


def retry_delay(
    attempt: int,
    base_seconds: float,
    retry_after_seconds: float | None = None,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): base x 2^(attempt-1), capped,
    with "equal jitter" (half fixed, half random) so retries of many jobs spread out. A
    receiver's Retry-After wins when it asks for longer."""
    ceiling = min(MAX_DELAY_SECONDS, base_seconds * 2 ** (attempt - 1))
    delay = uniform(ceiling / 2, ceiling) if ceiling > 0 else 0.0
    if retry_after_seconds is not None:
        delay = max(delay, min(retry_after_seconds, MAX_DELAY_SECONDS))
    return delay
