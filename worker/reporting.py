"""The worker's own heartbeat record (idle/busy/draining, current job, durations), which the
scaler reads to pick idle instances for scale-in and the API reads for ETAs.

State changes are written by the heartbeat thread within a second (``publish_if_due``), not
on the job's critical path; start-up and shutdown write at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Final

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from sdfleet.heartbeats import RECENT_JOBS_KEPT, HeartbeatStore, WorkerHeartbeat, WorkerState
from sdfleet.records import utcnow

logger = Logger(service="sdfleet-worker", child=True)
_IDLE_STATES: Final = frozenset({WorkerState.IDLE, WorkerState.STARTING})


class WorkerReporter:
    def __init__(
        self,
        store: HeartbeatStore,
        worker_id: str,
        instance_id: str | None,
        refresh_seconds: float,
    ) -> None:
        self._store = store
        self._refresh = refresh_seconds
        self._dirty = True
        self._last_publish = 0.0
        self._lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._recent: deque[float] = deque(maxlen=RECENT_JOBS_KEPT)
        self._beat = WorkerHeartbeat(
            worker_id=worker_id,
            instance_id=instance_id,
            state=WorkerState.STARTING,
            idle_since=utcnow(),
        )

    @property
    def state(self) -> WorkerState:
        return self._beat.state

    def update(
        self,
        state: WorkerState | None = None,
        *,
        current_job: str | None = None,
        model_load_seconds: float | None = None,
        attention_backend: str | None = None,
        publish: bool = False,
    ) -> None:
        with self._lock:
            changes: dict[str, object] = {"updated_at": utcnow(), "current_job": current_job}
            if state is not None:
                changes["state"] = state
                if state is WorkerState.IDLE and self._beat.state not in _IDLE_STATES:
                    changes["idle_since"] = utcnow()
                elif state not in _IDLE_STATES:
                    changes["idle_since"] = None
            if model_load_seconds is not None:
                changes["model_load_seconds"] = model_load_seconds
            if attention_backend is not None:
                changes["attention_backend"] = attention_backend
            self._beat = self._beat.model_copy(update=changes)
            self._dirty = True
        if publish:
            self.publish()

    def job_done(self, seconds: float) -> None:
        with self._lock:
            self._recent.append(round(seconds, 3))
            self._beat = self._beat.model_copy(
                update={
                    "jobs_done": self._beat.jobs_done + 1,
                    "recent_seconds_per_job": list(self._recent),
                }
            )
            self._dirty = True

    def publish_if_due(self) -> None:
        """Called every heartbeat tick: writes changes, and the record at least every
        ``refresh_seconds`` so it never looks stale."""
        if self._dirty or time.monotonic() - self._last_publish >= self._refresh:
            self.publish()

    def publish(self) -> None:
        """Writes the record; a failure is logged, never raised (the next beat retries)."""
        # One writer at a time, so an older snapshot never lands after a newer one.
        with self._publish_lock:
            with self._lock:
                beat = self._beat.model_copy(update={"updated_at": utcnow()})
                self._dirty = False
                self._last_publish = time.monotonic()
            try:
                self._store.put(beat)
            except (ClientError, BotoCoreError) as exc:
                self._dirty = True
                logger.warning("worker heartbeat write failed", extra={"error": str(exc)})
