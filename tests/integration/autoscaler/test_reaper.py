"""Jobs whose messages reached a DLQ read failed, unless a live worker or a result says no."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from moto.sqs.models import DEFAULT_SENDER_ID

from autoscaler.handler import ScalerRun
from autoscaler.reaper import DeadLetterReaper
from sdfleet.messages import JobMessage, Lane, batch_job_id
from sdfleet.records import JobRecord, JobStatus, utcnow
from sdfleet.requests import JobKind, JobParams
from sdfleet.settings import ScalerSettings
from sdfleet.store import JobStore
from tests.conftest import FleetResources
from tests.integration.autoscaler.conftest import WorkerGroup

pytestmark = pytest.mark.emulator


def queued(store: JobStore, job_id: str, **fields: object) -> JobRecord:
    return store.create(
        JobRecord(
            job_id=job_id,
            owner="alice",
            kind=JobKind.TXT2IMG,
            params=JobParams(prompt="p"),
            **fields,
        )
    )


def dead_letter(fleet: FleetResources, job_id: str | None, lane: Lane = Lane.INTERACTIVE) -> str:
    """A message in a DLQ, sent as the emulator's one sender (the ingest API here)."""
    body = JobMessage(
        version=1, kind=JobKind.TXT2IMG, params=JobParams(prompt="p"), job_id=job_id
    ).to_body()
    url = fleet.queues.batch_dlq_url if lane is Lane.BATCH else fleet.queues.interactive_dlq_url
    return fleet.clients.sqs().send_message(QueueUrl=url, MessageBody=body)["MessageId"]


def reaper(
    fleet: FleetResources, store: JobStore, ingest: str = DEFAULT_SENDER_ID
) -> DeadLetterReaper:
    dlqs = {
        Lane.INTERACTIVE: fleet.queues.interactive_dlq_url,
        Lane.BATCH: fleet.queues.batch_dlq_url,
    }
    return DeadLetterReaper(fleet.clients.sqs(), store, dlqs, ingest_sender_id=ingest)


def test_reaper_fails_stranded_jobs_only(fleet: FleetResources) -> None:
    store = fleet.job_store()
    start = utcnow()
    stranded = queued(store, "stranded")
    store.claim(stranded.job_id, "killed-worker", 10, now=start - timedelta(seconds=60))
    live = queued(store, "live")
    store.claim(live.job_id, "live-worker", 600)
    done = queued(store, "done")
    store.claim(done.job_id, "w", 600)
    store.finish(done.job_id, "w", ["users/alice/outputs/done/00.png"], [1])
    for job_id in ("stranded", "live", "done", "no-such-job"):
        dead_letter(fleet, job_id)
    message_id = dead_letter(fleet, None, Lane.BATCH)
    queued(
        store,
        batch_job_id(message_id),
        lane=Lane.BATCH,
        sender=DEFAULT_SENDER_ID,
        source_message_id=message_id,
    )
    fleet.clients.sqs().send_message(QueueUrl=fleet.queues.batch_dlq_url, MessageBody="{oops")

    result = reaper(fleet, store).reap(utcnow())

    assert result.seen == 6
    assert sorted(result.failed) == sorted(["stranded", batch_job_id(message_id)])
    failed = store.get("stranded")
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and failed.error.code == "retries_exhausted"
    assert "interactive dead-letter queue" in failed.error.message
    assert "batch dead-letter queue" in store.get(batch_job_id(message_id)).error.message  # type: ignore[union-attr]
    assert store.get("live").status is JobStatus.RUNNING
    assert store.get("done").status is JobStatus.SUCCEEDED
    # The messages stay in the DLQ for operators.
    left = 0
    for url in (fleet.queues.interactive_dlq_url, fleet.queues.batch_dlq_url):
        attributes = fleet.clients.sqs().get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        left += sum(int(v) for v in attributes.values())
    assert left == 6


def test_reaper_fails_no_record_a_message_is_not_bound_to(fleet: FleetResources) -> None:
    """Finding 1: ``{"version": 99, "job_id": <victim>}`` dead-lettered in any lane, by anyone
    but the record's own sender, leaves the victim's queued job alone."""
    store = fleet.job_store()
    queued(store, "web-victim")
    # A batch message naming the record as its own, sent by another sender than its creator.
    batch_message = dead_letter(fleet, None, Lane.BATCH)
    queued(
        store,
        "acme.row-1",
        lane=Lane.BATCH,
        sender="AIDAACME",
        source_message_id=batch_message,
    )
    sqs = fleet.clients.sqs()
    forged = json.dumps({"version": 99, "job_id": "web-victim"})
    sqs.send_message(QueueUrl=fleet.queues.batch_dlq_url, MessageBody=forged)
    sqs.send_message(
        QueueUrl=fleet.queues.batch_dlq_url, MessageBody=json.dumps({"job_id": "acme.row-1"})
    )
    # In the right lane, but not sent by the ingest API.
    dead_letter(fleet, "web-victim")

    result = reaper(fleet, store, ingest="AROAINGESTROLE").reap(utcnow())

    assert result.seen == 4 and result.failed == []
    assert store.get("web-victim").status is JobStatus.QUEUED
    assert store.get("acme.row-1").status is JobStatus.QUEUED


def test_scaler_invocation_reaps_when_dlqs_are_configured(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    store = fleet.job_store()
    queued(store, "waiting")
    dead_letter(fleet, "waiting")
    settings = ScalerSettings(
        **fleet.env(),  # type: ignore[arg-type]
        asg_name=worker_group.name,
        samples_per_invocation=1,
    )
    result = ScalerRun(settings, fleet.clients, sleep=lambda _: None)()
    assert settings.ingest_sender_id == DEFAULT_SENDER_ID
    assert result.dead_letters is not None
    assert result.dead_letters.as_dict() == {"seen": 1, "failed": ["waiting"]}
    assert json.loads(store.get("waiting").model_dump_json())["status"] == "failed"


def test_interactive_dlq_is_reaped_by_the_scaler_too(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    """A web job stranded in the interactive lane's DLQ is failed by the scheduled scaler run,
    with the lane named, as the batch lane's are."""
    store = fleet.job_store()
    stranded = queued(store, "web-stranded")
    store.claim(stranded.job_id, "killed-worker", 10, now=utcnow() - timedelta(seconds=60))
    body = JobMessage(
        version=1, kind=JobKind.TXT2IMG, params=JobParams(prompt="p"), job_id="web-stranded"
    ).to_body()
    fleet.clients.sqs().send_message(QueueUrl=fleet.queues.interactive_dlq_url, MessageBody=body)
    settings = ScalerSettings(
        **fleet.env(),  # type: ignore[arg-type]
        asg_name=worker_group.name,
        samples_per_invocation=1,
    )

    result = ScalerRun(settings, fleet.clients, sleep=lambda _: None)()

    assert result.dead_letters is not None
    assert result.dead_letters.as_dict() == {"seen": 1, "failed": ["web-stranded"]}
    failed = store.get("web-stranded")
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert "interactive dead-letter queue" in failed.error.message


def test_training_dlq_is_reaped_and_the_lane_observed_by_the_scaler(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    """A training stranded in the training lane's DLQ is failed, as the other lanes' are; a web
    job named from the training DLQ is left alone (not created for that lane); the samples
    count the training lane's queue."""
    store = fleet.job_store()
    stranded = queued(store, "train-stranded", lane=Lane.TRAINING)
    store.claim(stranded.job_id, "killed-worker", 10, now=utcnow() - timedelta(seconds=60))
    queued(store, "web-elsewhere")
    sqs = fleet.clients.sqs()
    for job_id in ("train-stranded", "web-elsewhere"):
        body = JobMessage(
            version=1, kind=JobKind.TXT2IMG, params=JobParams(prompt="p"), job_id=job_id
        ).to_body()
        sqs.send_message(QueueUrl=fleet.queues.training_dlq_url, MessageBody=body)
    sqs.send_message(QueueUrl=fleet.queues.training_url, MessageBody="{}")
    settings = ScalerSettings(
        **fleet.env(),  # type: ignore[arg-type]
        asg_name=worker_group.name,
        samples_per_invocation=1,
    )

    result = ScalerRun(settings, fleet.clients, sleep=lambda _: None)()

    assert result.dead_letters is not None
    assert result.dead_letters.as_dict() == {"seen": 2, "failed": ["train-stranded"]}
    failed = store.get("train-stranded")
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and "training dead-letter queue" in failed.error.message
    assert store.get("web-elsewhere").status is JobStatus.QUEUED
    assert result.last.visible == {Lane.INTERACTIVE: 0, Lane.TRAINING: 1, Lane.BATCH: 0}
    assert result.last.decision.need == 1
