"""Estimated time to completion from the queue position and the live workers' job durations.

Pure functions: the service gathers the inputs (queue position, heartbeats) and calls these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Final

from sdfleet.heartbeats import WorkerHeartbeat, WorkerState, job_pace

#: Assumed job duration before any live worker has reported its own.
DEFAULT_SECONDS_PER_JOB: Final = 6.0
#: Added when no worker is live: the scaler has to start an instance and load the model.
COLD_START_SECONDS: Final = 120.0
#: Workers in these states will take jobs soon; draining or stopped ones will not.
SERVING_STATES: Final = frozenset({WorkerState.STARTING, WorkerState.IDLE, WorkerState.BUSY})


def fleet_speed(
    heartbeats: Iterable[WorkerHeartbeat], now: datetime | None = None
) -> tuple[int, float | None]:
    """(live serving workers, their pace: the mean seconds per job over their recent jobs
    pooled, or None)."""
    live = [b for b in heartbeats if b.state in SERVING_STATES and not b.is_stale(now)]
    durations = [seconds for beat in live for seconds in beat.recent_seconds_per_job]
    return len(live), job_pace(durations)


def estimate_eta_seconds(
    *,
    active: bool,
    running: bool,
    queue_position: int,
    live_workers: int,
    seconds_per_job: float | None,
    progress_step: int | None = None,
    progress_total: int | None = None,
    default_seconds_per_job: float = DEFAULT_SECONDS_PER_JOB,
    cold_start_seconds: float = COLD_START_SECONDS,
) -> int | None:
    """Seconds until the job is likely done; None for a finished job.

    A running job needs the rest of one job's time (scaled by its denoising progress). A
    queued job waits for the jobs ahead of it, spread over the live workers in waves, then
    takes one job's time; with no live worker it also waits for a cold start.
    """
    if not active:
        return None
    per_job = seconds_per_job if seconds_per_job and seconds_per_job > 0 else None
    per_job = per_job or default_seconds_per_job
    if running:
        done = 0.0
        if progress_step is not None and progress_total:
            done = min(max(progress_step / progress_total, 0.0), 1.0)
        return math.ceil(per_job * (1.0 - done))
    workers = max(live_workers, 1)
    waves = max(queue_position, 0) // workers
    wait = (waves + 1) * per_job
    if live_workers <= 0:
        wait += cold_start_seconds
    return math.ceil(wait)
