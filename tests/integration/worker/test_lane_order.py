"""The real worker, as the daemon builds it, takes web jobs before a batch backlog."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sdfleet.messages import Lane
from sdfleet.records import JobStatus
from sdfleet.store import JobStore
from tests.conftest import FleetResources
from tests.integration.worker.conftest import web_job

pytestmark = pytest.mark.slow


def test_worker_runs_the_interactive_job_before_the_batch_backlog(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    sqs = fleet.clients.sqs()
    backlog = [
        web_job(job_store, sqs, fleet.queues.batch_url, owner="tenant-batch", lane=Lane.BATCH)
        for _ in range(3)
    ]
    web = web_job(job_store, sqs, fleet.queues.interactive_url)
    # No receive ahead, so one run_once is exactly one receive: the one the lanes decide.
    worker = make_worker(max_batch_size=4, receive_ahead_seconds=0)

    handled = worker.run_once(long_poll=False)
    worker.wait_for_completions()

    assert handled == 1
    assert job_store.get(web.job_id).status is JobStatus.SUCCEEDED
    assert [job_store.get(r.job_id).status for r in backlog] == [JobStatus.QUEUED] * 3
