"""An operator redrives a DLQ message whose job the scaler's reaper already failed: the worker
deletes the message and the job stays failed (a record never moves backwards)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from moto.sqs.models import DEFAULT_SENDER_ID

from autoscaler.reaper import DeadLetterReaper
from sdfleet.keys import outputs_prefix
from sdfleet.messages import Lane
from sdfleet.records import JobStatus, utcnow
from sdfleet.store import JobStore
from tests.conftest import FleetResources
from tests.integration.worker.conftest import drive, web_job
from tests.integration.worker.test_jobs import dead_letters, objects, queue_empty

pytestmark = pytest.mark.slow


def test_redriven_message_of_a_reaped_job_is_deleted_and_the_job_stays_failed(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    sqs = fleet.clients.sqs()
    lane, dlq = fleet.queues.interactive_url, fleet.queues.interactive_dlq_url
    job = web_job(job_store, sqs, lane)
    # Its worker died mid-job long ago and the message ran out of deliveries: it is in the DLQ.
    job_store.claim(job.job_id, "killed-worker", 10, now=utcnow() - timedelta(seconds=600))
    [message] = sqs.receive_message(QueueUrl=lane, MaxNumberOfMessages=1)["Messages"]
    sqs.send_message(QueueUrl=dlq, MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=lane, ReceiptHandle=message["ReceiptHandle"])
    # The emulator's one SenderId is the ingest API's: the interactive lane's only sender.
    reaped = DeadLetterReaper(
        sqs, job_store, {Lane.INTERACTIVE: dlq}, ingest_sender_id=DEFAULT_SENDER_ID
    ).reap(utcnow())
    assert reaped.failed == [job.job_id]
    failed = job_store.get(job.job_id)

    # The operator redrives the DLQ back into the lane (what StartMessageMoveTask does; the
    # reaper's read keeps the copy in the DLQ invisible for a while, so it is moved by body).
    sqs.purge_queue(QueueUrl=dlq)
    sqs.send_message(QueueUrl=lane, MessageBody=message["Body"])
    worker = make_worker("w-redrive")
    drive(worker, lambda: queue_empty(fleet, lane), 30, "the redriven message to be deleted")

    after = job_store.get(job.job_id)
    assert after.status is JobStatus.FAILED
    assert (after.error, after.attempts, after.outputs) == (failed.error, failed.attempts, [])
    assert objects(fleet, outputs_prefix("user-1", job.job_id)) == []
    assert dead_letters(fleet, dlq) == []
    assert worker.stats.jobs_succeeded == 0
