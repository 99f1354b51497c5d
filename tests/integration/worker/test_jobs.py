"""Acceptance against the emulator with the real tiny model: outputs, records, duplicates,
races, cancellation, poison messages and retries."""

from __future__ import annotations

import io
import json
import struct
import threading
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from sdfleet.heartbeats import HeartbeatStore, WorkerState
from sdfleet.keys import output_key, outputs_prefix
from sdfleet.messages import JobMessage, Lane
from sdfleet.records import ErrorCode, JobStatus
from sdfleet.requests import JobKind, JobParams
from sdfleet.store import JobStore
from tests.conftest import FleetResources
from tests.integration.worker.conftest import (
    BATCH_TENANT,
    drive,
    params,
    web_job,
)
from tests.support.polling import wait_until
from worker.tenants import batch_job_id

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

pytestmark = pytest.mark.slow


def png_bytes(size: tuple[int, int], fmt: str = "PNG", color: str = "orange") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A few hundred bytes that declare a 3.6 gigapixel image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def objects(fleet: FleetResources, prefix: str) -> list[str]:
    listing = fleet.clients.s3().list_objects_v2(Bucket=fleet.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def queue_empty(fleet: FleetResources, url: str) -> bool:
    attributes = fleet.clients.sqs().get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def dead_letters(fleet: FleetResources, url: str) -> list[MessageTypeDef]:
    found: list[MessageTypeDef] = []
    sqs = fleet.clients.sqs()
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return found
        found.extend(batch)


def test_txt2img_and_img2img_produce_pngs_and_records(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    sqs, s3 = fleet.clients.sqs(), fleet.clients.s3()
    worker = make_worker("w-accept")
    txt = web_job(
        job_store, sqs, fleet.queues.interactive_url, num_images=2, width=64, height=96, seed=1234
    )
    s3.put_object(Bucket=fleet.bucket, Key="users/user-1/inputs/in.png", Body=png_bytes((120, 80)))
    img = web_job(
        job_store,
        sqs,
        fleet.queues.interactive_url,
        kind=JobKind.IMG2IMG,
        input_key="users/user-1/inputs/in.png",
        strength=0.6,
        width=64,
        height=64,
    )
    drive(
        worker,
        lambda: all(job_store.get(j.job_id).status.is_terminal for j in (txt, img)),
        90,
        "both jobs",
    )

    for job, size, count in ((txt, (64, 96), 2), (img, (64, 64), 1)):
        record = job_store.get(job.job_id)
        assert record.status is JobStatus.SUCCEEDED, record.error
        expected = [output_key("user-1", job.job_id, i) for i in range(count)]
        assert record.outputs == expected
        assert objects(fleet, outputs_prefix("user-1", job.job_id)) == expected
        for key in expected:
            obj = s3.get_object(Bucket=fleet.bucket, Key=key)
            assert obj["ContentType"] == "image/png"
            image = Image.open(io.BytesIO(obj["Body"].read()))
            assert image.format == "PNG" and image.size == size
            assert isinstance(job.params, JobParams)
            assert job.params.prompt in json.dumps(image.info, default=str)
        assert len(record.seeds) == count
        assert record.worker_id == "w-accept" and record.attempts == 1
        assert record.attention_backend == worker.generator.attention_backend
        assert record.queue_wait_seconds is not None and record.queue_wait_seconds >= 0
        assert record.model_seconds is not None and record.model_seconds > 0
        assert record.total_seconds is not None and record.total_seconds >= record.model_seconds
    assert job_store.get(txt.job_id).seeds[0] == 1234
    wait_until(lambda: queue_empty(fleet, fleet.queues.interactive_url), 5, "messages deleted")
    worker.wait_for_completions()
    wait_until(
        lambda: (
            HeartbeatStore(fleet.clients.dynamodb(), fleet.workers_table).list()[0].jobs_done == 2
        ),
        5,
        "the heartbeat with both jobs",
    )

    [beat] = HeartbeatStore(fleet.clients.dynamodb(), fleet.workers_table).list()
    assert beat.worker_id == "w-accept" and beat.jobs_done == 2
    assert beat.state is WorkerState.IDLE and beat.current_job is None
    assert len(beat.recent_seconds_per_job) == 2
    assert beat.model_load_seconds is not None


def test_batch_message_runs_under_sender_tenant(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    message = JobMessage(version=1, kind=JobKind.TXT2IMG, params=params(), client_ref="row-1")
    sent = fleet.clients.sqs().send_message(
        QueueUrl=fleet.queues.batch_url, MessageBody=message.to_body()
    )
    job_id = batch_job_id(sent["MessageId"])
    worker = make_worker("w-batch")
    drive(worker, lambda: worker.stats.jobs_succeeded == 1, 60, "the batch job")
    record = job_store.get(job_id)
    assert (record.owner, record.lane, record.client_ref) == (BATCH_TENANT, Lane.BATCH, "row-1")
    assert record.status is JobStatus.SUCCEEDED
    assert record.outputs == [output_key(BATCH_TENANT, job_id, 0)]


def test_same_message_twice_and_two_racing_workers_complete_once(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    sqs = fleet.clients.sqs()
    job = web_job(job_store, sqs, fleet.queues.interactive_url, steps=4)
    duplicate = JobMessage(version=1, kind=job.kind, params=job.params, job_id=job.job_id)
    for _ in range(2):
        sqs.send_message(QueueUrl=fleet.queues.interactive_url, MessageBody=duplicate.to_body())
    workers = [make_worker("w-race-a", max_batch_size=1), make_worker("w-race-b", max_batch_size=1)]
    barrier = threading.Barrier(2)

    def race(worker: Any) -> None:
        barrier.wait()
        drive(worker, lambda: queue_empty(fleet, fleet.queues.interactive_url), 60, "queue empty")

    threads = [threading.Thread(target=race, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    record = job_store.get(job.job_id)
    assert record.status is JobStatus.SUCCEEDED
    assert record.attempts == 1  # claimed once, never taken over
    assert sum(w.stats.jobs_succeeded for w in workers) == 1
    keys = objects(fleet, outputs_prefix("user-1", job.job_id))
    assert keys == record.outputs
    head = fleet.clients.s3().head_object(Bucket=fleet.bucket, Key=keys[0])
    assert head["Metadata"]["worker-id"] == record.worker_id


def test_cancelled_and_finished_jobs_are_skipped(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    sqs, url = fleet.clients.sqs(), fleet.queues.interactive_url
    cancelled = web_job(job_store, sqs, url)
    job_store.cancel(cancelled.job_id, owner="user-1")
    worker = make_worker("w-skip")
    drive(worker, lambda: queue_empty(fleet, url), 20, "the message deleted")
    record = job_store.get(cancelled.job_id)
    assert record.status is JobStatus.CANCELLED and record.attempts == 0
    assert worker.stats.jobs_succeeded == 0
    assert objects(fleet, outputs_prefix("user-1", cancelled.job_id)) == []


def test_cancel_between_steps(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    # Two 256 px images of 100 steps: many heartbeat ticks even on fast cores (at 128 px and
    # one image a quiet CI machine ran all 100 steps before the worker saw the cancel).
    job = web_job(
        job_store,
        fleet.clients.sqs(),
        fleet.queues.interactive_url,
        steps=100,
        width=256,
        height=256,
        num_images=2,
    )
    worker = make_worker("w-cancel")
    runner = threading.Thread(
        target=drive, args=(worker, lambda: worker.stats.jobs_finished, 120, "the cancel")
    )
    runner.start()
    # The cancel is sent once the denoising loop has reported a step: the job is mid-run.
    wait_until(lambda: job_store.get(job.job_id).progress_step, 60, "the job's first step")
    job_store.request_cancel(job.job_id, owner="user-1")
    runner.join(120)
    record = job_store.get(job.job_id)
    assert record.status is JobStatus.CANCELLED
    assert record.progress_step is not None and record.progress_step < 100
    assert objects(fleet, outputs_prefix("user-1", job.job_id)) == []
    wait_until(lambda: queue_empty(fleet, fleet.queues.interactive_url), 5, "message deleted")


def test_a_cancel_that_arrives_after_the_last_step_still_wins(
    fleet: FleetResources,
    job_store: JobStore,
    make_worker: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = web_job(job_store, fleet.clients.sqs(), fleet.queues.interactive_url)
    worker = make_worker("w-late-cancel")
    upload = worker._outputs.upload

    def upload_then_user_cancels(*args: Any, **kwargs: Any) -> list[str]:
        keys = upload(*args, **kwargs)
        assert objects(fleet, outputs_prefix("user-1", job.job_id)) == keys
        job_store.request_cancel(job.job_id, owner="user-1")
        return keys

    monkeypatch.setattr(worker._outputs, "upload", upload_then_user_cancels)
    drive(worker, lambda: worker.stats.jobs_finished, 60, "the job")
    record = job_store.get(job.job_id)
    assert record.status is JobStatus.CANCELLED and record.outputs == []
    assert (worker.stats.jobs_cancelled, worker.stats.jobs_succeeded) == (1, 0)
    assert objects(fleet, outputs_prefix("user-1", job.job_id)) == []
    wait_until(lambda: queue_empty(fleet, fleet.queues.interactive_url), 5, "message deleted")


def test_poison_messages_never_stop_the_worker(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    sqs, s3 = fleet.clients.sqs(), fleet.clients.s3()
    url = fleet.queues.interactive_url
    sqs.send_message(QueueUrl=url, MessageBody="{garbage")
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"version": 2, "kind": "txt2img", "params": {"prompt": "x"}}),
    )
    # SQS refuses bodies over 256 KiB, so the largest prompt that can arrive is just under it.
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(
            {"version": 1, "kind": "txt2img", "params": {"prompt": "p" * 250_000}}
        ),
    )
    inputs = {"bomb": bomb_png(), "gif": png_bytes((64, 64), "GIF")}
    for name, data in inputs.items():
        s3.put_object(Bucket=fleet.bucket, Key=f"users/user-1/inputs/{name}", Body=data)
    failing = {
        name: web_job(
            job_store, sqs, url, kind=JobKind.IMG2IMG, input_key=f"users/user-1/inputs/{name}"
        )
        for name in ("bomb", "gif", "missing")
    }
    good = web_job(job_store, sqs, url)
    worker = make_worker("w-poison", max_batch_size=2)
    drive(worker, lambda: queue_empty(fleet, url), 90, "every message handled")

    assert job_store.get(good.job_id).status is JobStatus.SUCCEEDED
    expected = {
        "bomb": (ErrorCode.INVALID_INPUT, "pixel limit"),
        "gif": (ErrorCode.INVALID_INPUT, "'gif' is not allowed"),
        "missing": (ErrorCode.INPUT_MISSING, "users/user-1/inputs/missing"),
    }
    for name, (code, text) in expected.items():
        record = job_store.get(failing[name].job_id)
        assert record.status is JobStatus.FAILED, name
        assert record.error is not None and record.error.code == code
        assert text in record.error.message, record.error.message
    letters = dead_letters(fleet, fleet.queues.interactive_dlq_url)
    reasons = sorted(m["MessageAttributes"]["sdfleet-error"]["StringValue"] for m in letters)
    assert len(reasons) == 3, reasons
    assert any("not a JSON object" in r for r in reasons)
    assert any(r.startswith("version: must be 1") for r in reasons)
    assert any("params.prompt: must have at most 2000 characters" in r for r in reasons)


def test_repeated_failure_ends_failed_and_in_the_dlq(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    job = web_job(job_store, fleet.clients.sqs(), fleet.queues.interactive_url)
    # Outputs cannot be written (the bucket is gone): every attempt fails the same way.
    fleet.clients.s3().delete_bucket(Bucket=fleet.bucket)
    worker = make_worker("w-retry")  # max_receive_count 3, as the queues' redrive policy
    drive(worker, lambda: job_store.get(job.job_id).status is JobStatus.FAILED, 60, "failed")
    record = job_store.get(job.job_id)
    assert record.error is not None and record.error.code == ErrorCode.RETRIES_EXHAUSTED
    assert "gave up after 3 attempts" in record.error.message
    assert "NoSuchBucket" in record.error.message
    assert record.attempts == 3
    # The queue's redrive policy (maxReceiveCount) moves it on the next receive.
    drive(worker, lambda: dead_letters(fleet, fleet.queues.interactive_dlq_url), 20, "the DLQ")
