"""Receiving the next jobs while the current pipeline call finishes.

Between two pipeline calls the GPU waits for an SQS receive and a DynamoDB claim per job
(tens of milliseconds each). ``ReceiveAhead`` starts that work on a thread shortly before
the running call is expected to end, so the next call can start as soon as this one returns.

"Shortly" is ``lead_seconds``: the fetch starts before the call when the previous call took
no longer than the lead, else at the first denoising step after which the estimated rest of
the call (seconds per step so far x steps left) is within the lead. So a message is held at
most about ``lead_seconds`` longer than without receiving ahead, whatever the call's length
(a long call must not keep a job from an idle worker), and a lead of 0 turns it off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from aws_lambda_powertools import Logger

logger = Logger(service="sdfleet-worker")

FetchResult = TypeVar("FetchResult")


class ReceiveAhead(Generic[FetchResult]):
    """At most one fetch in flight; the main loop ``take``s its result before receiving."""

    def __init__(
        self,
        fetch: Callable[[], FetchResult],
        lead_seconds: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if lead_seconds < 0:
            raise ValueError(f"lead_seconds: must be >= 0 (got {lead_seconds})")
        self._fetch = fetch
        self._lead = lead_seconds
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="receive-ahead")
        self._lock = threading.Lock()
        self._future: Future[FetchResult] | None = None
        self._in_call = False
        self._launched = False
        self._call_started = 0.0
        self._last_call_seconds: float | None = None

    @property
    def enabled(self) -> bool:
        return self._lead > 0

    @property
    def in_flight(self) -> bool:
        with self._lock:
            return self._future is not None

    def start_call(self) -> None:
        """A pipeline call that may be followed by fetched jobs is about to start."""
        if not self.enabled:
            return
        self._call_started = self._clock()
        self._in_call, self._launched = True, False
        if self._last_call_seconds is not None and self._last_call_seconds <= self._lead:
            self._launch()

    def on_step(self, step: int, total: int) -> None:
        """Denoising step ``step`` of ``total`` is done (called inside the pipeline call)."""
        if not self._in_call or self._launched or step <= 0:
            return
        elapsed = self._clock() - self._call_started
        if elapsed / step * max(total - step, 0) <= self._lead:
            self._launch()

    def end_call(self) -> None:
        """The pipeline call returned (or raised)."""
        if self._in_call:
            self._last_call_seconds = self._clock() - self._call_started
        self._in_call = False

    def take(self) -> FetchResult | None:
        """The fetched result (waiting for a fetch in flight), or None when there is none or
        it failed (logged; the caller then receives as usual)."""
        with self._lock:
            future, self._future = self._future, None
        if future is None:
            return None
        try:
            return future.result()
        except Exception:
            logger.exception("receiving ahead failed; receiving as usual")
            return None

    def shutdown(self) -> None:
        self._in_call = False
        self._executor.shutdown(wait=True)

    def _launch(self) -> None:
        self._launched = True
        with self._lock:
            if self._future is None:
                self._future = self._executor.submit(self._fetch)
