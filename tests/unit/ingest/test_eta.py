"""The ETA is a pure function of queue position, live workers and job durations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest_lambda.eta import (
    COLD_START_SECONDS,
    DEFAULT_SECONDS_PER_JOB,
    estimate_eta_seconds,
    fleet_speed,
)
from sdfleet.heartbeats import STALE_AFTER_SECONDS, WorkerHeartbeat, WorkerState
from sdfleet.records import utcnow


def eta(**kwargs: object) -> int | None:
    base: dict[str, object] = {
        "active": True,
        "running": False,
        "queue_position": 0,
        "live_workers": 1,
        "seconds_per_job": 10.0,
    }
    return estimate_eta_seconds(**(base | kwargs))  # type: ignore[arg-type]


def test_finished_job_has_no_eta() -> None:
    assert eta(active=False) is None


@pytest.mark.parametrize(
    ("position", "workers", "expected"),
    [(0, 1, 10), (1, 1, 20), (4, 1, 50), (3, 2, 20), (4, 2, 30), (7, 4, 20), (0, 8, 10)],
)
def test_queued_job_waits_in_waves_over_the_workers(
    position: int, workers: int, expected: int
) -> None:
    assert eta(queue_position=position, live_workers=workers) == expected


def test_no_live_worker_adds_a_cold_start() -> None:
    assert eta(queue_position=2, live_workers=0) == 30 + COLD_START_SECONDS


def test_unknown_speed_falls_back_to_the_default() -> None:
    assert eta(seconds_per_job=None) == DEFAULT_SECONDS_PER_JOB
    assert eta(seconds_per_job=0.0) == DEFAULT_SECONDS_PER_JOB


@pytest.mark.parametrize(
    ("step", "total", "expected"),
    [(None, None, 10), (0, 20, 10), (5, 20, 8), (10, 20, 5), (20, 20, 0), (30, 20, 0)],
)
def test_running_job_scales_with_progress(
    step: int | None, total: int | None, expected: int
) -> None:
    assert eta(running=True, progress_step=step, progress_total=total) == expected


def test_running_job_ignores_the_queue() -> None:
    assert eta(running=True, queue_position=50, live_workers=0) == 10


def beat(
    worker_id: str, state: WorkerState, durations: list[float], age: float = 0
) -> WorkerHeartbeat:
    return WorkerHeartbeat(
        worker_id=worker_id,
        state=state,
        recent_seconds_per_job=durations,
        updated_at=utcnow() - timedelta(seconds=age),
    )


def test_fleet_speed_counts_live_serving_workers_and_pools_durations() -> None:
    beats = [
        beat("a", WorkerState.BUSY, [4.0, 6.0]),
        beat("b", WorkerState.IDLE, [8.0]),
        beat("c", WorkerState.STARTING, []),
        beat("d", WorkerState.DRAINING, [100.0]),
        beat("e", WorkerState.STOPPED, [100.0]),
        beat("f", WorkerState.BUSY, [100.0], age=STALE_AFTER_SECONDS + 1),
    ]
    assert fleet_speed(beats) == (3, 6.0)


def test_fleet_speed_is_the_mean_pace_so_a_mixed_backlog_is_not_read_as_its_small_jobs() -> None:
    # Eight 6 s images and two 2-minute batches: ten such jobs take 288 s, 28.8 s each;
    # their median (6 s) would promise a fifth of that.
    beats = [
        beat("a", WorkerState.BUSY, [6.0] * 4 + [120.0]),
        beat("b", WorkerState.IDLE, [6.0] * 4 + [120.0]),
    ]
    # pytest.approx inside a tuple: mypy sees Approx[float] where a float | None is compared.
    assert fleet_speed(beats) == (2, pytest.approx(28.8))  # type: ignore[comparison-overlap]


def test_fleet_speed_without_durations() -> None:
    assert fleet_speed([beat("a", WorkerState.IDLE, [])]) == (1, None)
    assert fleet_speed([]) == (0, None)
