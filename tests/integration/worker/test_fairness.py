"""Per-user fairness in the interactive lane: the real ingest service queues user A's 20
jobs and then user B's one; a real worker (the daemon's wiring, the tiny model) starts B's
job before most of A's. Asserted on the order the records were started, not on timing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ingest_lambda.services import IngestService
from sdfleet.heartbeats import HeartbeatStore
from sdfleet.records import JobRecord, JobStatus
from sdfleet.requests import JobRequest
from sdfleet.settings import IngestSettings
from sdfleet.store import JobStore
from tests.conftest import FleetResources
from tests.integration.worker.conftest import drive

pytestmark = pytest.mark.slow

USER_A = "user-a-with-a-backlog"
USER_B = "user-b-with-one-job"
A_JOBS = 20


def _ingest(fleet: FleetResources, job_store: JobStore) -> IngestService:
    settings = IngestSettings(
        aws_endpoint_url=fleet.clients.endpoint_url,
        aws_region=fleet.clients.region,
        jobs_table=fleet.jobs_table,
        workers_table=fleet.workers_table,
        bucket=fleet.bucket,
        interactive_queue_url=fleet.queues.interactive_url,
        batch_queue_url=fleet.queues.batch_url,
    )
    return IngestService(
        settings,
        s3=fleet.clients.s3(),
        sqs=fleet.clients.sqs(),
        jobs=job_store,
        heartbeats=HeartbeatStore(fleet.clients.dynamodb(), fleet.workers_table),
    )


def _start_order(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any], **knobs: Any
) -> tuple[list[str], str]:
    """Queues A's 20 jobs then B's one, runs one worker until all are done; returns the job
    ids in the order they started, and B's job id."""
    ingest = _ingest(fleet, job_store)
    request = JobRequest(prompt="a red cube", width=64, height=64, steps=1, guidance_scale=1.0)
    a_jobs = [ingest.submit_job(USER_A, request).job_id for _ in range(A_JOBS)]
    b_job = ingest.submit_job(USER_B, request).job_id
    # One job per call and no receive ahead: each start is one decision of the poller.
    worker = make_worker(max_batch_size=1, receive_ahead_seconds=0, **knobs)
    everything = [*a_jobs, b_job]

    def records() -> list[JobRecord]:
        return [job_store.get(job_id) for job_id in everything]

    drive(
        worker,
        lambda: all(r.status is JobStatus.SUCCEEDED for r in records()),
        180,
        "every job to succeed",
    )
    started = sorted(records(), key=lambda r: (r.started_at, r.job_id))
    return [r.job_id for r in started], b_job


def test_one_users_backlog_does_not_starve_another_users_job(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    order, b_job = _start_order(fleet, job_store, make_worker)

    # B's single job starts before most of A's 20 (with the window seeing both users, first).
    assert order.index(b_job) < A_JOBS // 2, order.index(b_job)
    assert order.index(b_job) <= 1


def test_without_the_fair_window_the_backlog_goes_first(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    """The same run first come, first served (``fair_window_messages`` 0): B's job waits for
    all of A's, which is what the window prevents."""
    order, b_job = _start_order(fleet, job_store, make_worker, fair_window_messages=0)

    assert order.index(b_job) == A_JOBS
