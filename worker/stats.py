"""The worker's own counters, read by tests and the overhead benchmark."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReceiveTiming:
    """One receive and everything it brought (the overhead benchmark reads these)."""

    messages: int
    jobs_finished: int
    wall_seconds: float
    pipeline_seconds: float

    @property
    def overhead_seconds(self) -> float:
        """Main-loop time not inside a pipeline call: receive, intake, claim, input download,
        and waiting for the previous call's uploads if they are slower than the pipeline."""
        return self.wall_seconds - self.pipeline_seconds


@dataclass
class WorkerStats:
    """Plain counters; completion threads, intake and the main loop all add to them."""

    jobs_succeeded: int = 0
    jobs_failed: int = 0
    jobs_cancelled: int = 0
    jobs_retried: int = 0
    messages_dead_lettered: int = 0
    pipeline_seconds: float = 0.0
    receives: list[ReceiveTiming] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def jobs_finished(self) -> int:
        return self.jobs_succeeded + self.jobs_failed + self.jobs_cancelled

    def add(
        self,
        *,
        succeeded: int = 0,
        failed: int = 0,
        cancelled: int = 0,
        retried: int = 0,
        dead_lettered: int = 0,
        pipeline_seconds: float = 0.0,
    ) -> None:
        with self._lock:
            self.jobs_succeeded += succeeded
            self.jobs_failed += failed
            self.jobs_cancelled += cancelled
            self.jobs_retried += retried
            self.messages_dead_lettered += dead_lettered
            self.pipeline_seconds += pipeline_seconds
