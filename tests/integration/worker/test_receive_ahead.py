"""Receiving ahead: while a call finishes, the next job is received and claimed, so the next
call starts at once; a drain hands such a job back and it still runs exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sdfleet.keys import outputs_prefix
from sdfleet.records import JobStatus, utcnow
from sdfleet.store import JobStore
from tests.conftest import FleetResources
from tests.integration.worker.conftest import drive, web_job
from tests.integration.worker.test_jobs import objects, queue_empty
from tests.support.polling import wait_until
from worker.lifecycle import DrainReason

#: Far longer than a tiny-model call: the fetch starts at the first denoising step.
LONG_LEAD_SECONDS = 30


def two_jobs(fleet: FleetResources, store: JobStore) -> tuple[Any, Any]:
    """The first call is 30 steps long: the claim ahead, made at its first step, lands well
    before it ends."""
    sqs, url = fleet.clients.sqs(), fleet.queues.interactive_url
    return web_job(store, sqs, url, steps=30), web_job(store, sqs, url, steps=3)


def test_next_job_is_claimed_during_the_call_and_runs_next(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    first, second = two_jobs(fleet, job_store)
    worker = make_worker("w-ahead", max_batch_size=1, receive_ahead_seconds=LONG_LEAD_SECONDS)

    assert worker.run_once(long_poll=False) == 1
    claimed = wait_until(
        lambda: r if (r := job_store.get(second.job_id)).status is JobStatus.RUNNING else None,
        10,
        "the second job claimed ahead",
    )
    assert claimed.worker_id == "w-ahead" and claimed.attempts == 1
    assert worker.run_once(long_poll=False) == 1
    worker.wait_for_completions()

    done = {job.job_id: job_store.get(job.job_id) for job in (first, second)}
    assert all(r.status is JobStatus.SUCCEEDED and r.attempts == 1 for r in done.values())
    # Claimed while the first call was still running, before the first job finished.
    started, finished = done[second.job_id].started_at, done[first.job_id].finished_at
    assert started is not None and finished is not None and started < finished
    wait_until(lambda: queue_empty(fleet, fleet.queues.interactive_url), 5, "messages deleted")


def test_lead_zero_receives_only_after_the_call(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    first, second = two_jobs(fleet, job_store)
    worker = make_worker("w-no-ahead", max_batch_size=1, receive_ahead_seconds=0)

    assert worker.run_once(long_poll=False) == 1
    worker.wait_for_completions()

    assert job_store.get(first.job_id).status is JobStatus.SUCCEEDED
    untouched = job_store.get(second.job_id)
    assert untouched.status is JobStatus.QUEUED and untouched.attempts == 0


def test_drain_hands_back_a_job_claimed_ahead_and_it_runs_once(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    first, second = two_jobs(fleet, job_store)
    draining = make_worker("w-drain", max_batch_size=1, receive_ahead_seconds=LONG_LEAD_SECONDS)
    assert draining.run_once(long_poll=False) == 1
    wait_until(lambda: job_store.get(second.job_id).worker_id == "w-drain", 10, "the claim ahead")

    draining.drain.request(DrainReason.SIGNAL)
    draining.stop_background()

    assert job_store.get(first.job_id).status is JobStatus.SUCCEEDED
    handed_back = job_store.get(second.job_id)
    # Its lease ends at once and its message is visible again: the next worker need not wait.
    assert handed_back.status is JobStatus.RUNNING and handed_back.worker_id == "w-drain"
    assert handed_back.lease_expires_at is not None and handed_back.lease_expires_at <= utcnow()
    taker = make_worker("w-take", max_batch_size=1, receive_ahead_seconds=0)
    drive(taker, lambda: job_store.get(second.job_id).status.is_terminal, 60, "the second job")
    taker.wait_for_completions()

    record = job_store.get(second.job_id)
    assert record.status is JobStatus.SUCCEEDED and record.worker_id == "w-take"
    assert record.attempts == 2  # the claim ahead, then the takeover
    assert objects(fleet, outputs_prefix("user-1", second.job_id)) == record.outputs
    assert draining.stats.jobs_succeeded == 1 and taker.stats.jobs_succeeded == 1
