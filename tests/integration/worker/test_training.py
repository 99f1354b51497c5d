"""LoRA training jobs on the tiny model on CPU, against the emulator: a few steps on three
generated images; a worker SIGKILLed mid-training and the job resumed on another from its
last checkpoint, reaching the uninterrupted run's adapter; another user's image fails the job;
generation with the adapter differs from generation without it at the same seed."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sdfleet.keys import adapter_key, adapter_metadata_key, checkpoint_key
from sdfleet.messages import JobMessage, Lane
from sdfleet.records import ErrorCode, JobRecord, JobStatus
from sdfleet.requests import JobKind
from sdfleet.store import JobStore
from sdfleet.training import TrainParams
from tests.conftest import FleetResources
from tests.integration.worker.conftest import (
    WorkerProcess,
    drive,
    wait_status,
    web_job,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.emulator

OWNER = "user-train"
#: Large enough a learning rate that 24 steps visibly lower the tiny model's loss.
TRAIN: dict[str, Any] = {
    "instance_prompt": "a photo of sks toy",
    "steps": 24,
    "learning_rate": 1e-2,
    "rank": 4,
    "resolution": 64,
    "seed": 7,
}


def put_images(fleet: FleetResources, owner: str, count: int = 3) -> list[str]:
    """Generated RGB images (seeded), uploaded as an owner's inputs."""
    rng = np.random.default_rng(11)
    keys = []
    for _ in range(count):
        array = (rng.random((64, 64, 3)) * 255).astype("uint8")
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, "PNG")
        key = f"users/{owner}/inputs/{uuid.uuid4().hex}.png"
        fleet.clients.s3().put_object(
            Bucket=fleet.bucket, Key=key, Body=buffer.getvalue(), ContentType="image/png"
        )
        keys.append(key)
    return keys


def train_job(
    fleet: FleetResources, store: JobStore, images: list[str], owner: str = OWNER, **changes: Any
) -> JobRecord:
    """What the ingest API does for a training: the record first, then the message on the
    training lane."""
    params = TrainParams.model_validate({**TRAIN, "instance_images": images, **changes})
    record = store.create(
        JobRecord(
            job_id=f"t-{uuid.uuid4().hex[:12]}",
            owner=owner,
            kind=JobKind.TRAIN,
            params=params,
            lane=Lane.TRAINING,
        )
    )
    message = JobMessage(
        version=1, kind=JobKind.TRAIN, params=params, job_id=record.job_id, lane=Lane.TRAINING
    )
    fleet.clients.sqs().send_message(
        QueueUrl=fleet.queues.training_url, MessageBody=message.to_body()
    )
    return record


def read(fleet: FleetResources, key: str) -> bytes:
    body: bytes = fleet.clients.s3().get_object(Bucket=fleet.bucket, Key=key)["Body"].read()
    return body


def exists(fleet: FleetResources, key: str) -> bool:
    listed = fleet.clients.s3().list_objects_v2(Bucket=fleet.bucket, Prefix=key)
    return any(obj["Key"] == key for obj in listed.get("Contents", []))


def adapter_tensors(data: bytes) -> dict[str, Any]:
    from safetensors.torch import load

    return load(data)


def test_training_succeeds_loss_goes_down_and_the_adapter_changes_generation(
    fleet: FleetResources,
    job_store: JobStore,
    make_worker: Callable[..., Any],
) -> None:
    worker = make_worker("w-train", train_checkpoint_every_steps=10)
    images = put_images(fleet, OWNER)
    job = train_job(fleet, job_store, images)
    drive(worker, lambda: job_store.get(job.job_id).status.is_terminal, 240, "the training")

    record = job_store.get(job.job_id)
    assert record.status is JobStatus.SUCCEEDED, record.error
    assert record.adapter_id == job.job_id
    assert record.outputs == [adapter_key(OWNER, job.job_id)]
    curve = record.loss_curve
    assert len(curve) == TRAIN["steps"]
    third = len(curve) // 3
    assert np.mean(curve[-third:]) < np.mean(curve[:third]), curve
    tensors = adapter_tensors(read(fleet, adapter_key(OWNER, job.job_id)))
    assert tensors and all(name.startswith("unet.") for name in tensors)
    assert any("to_q" in name for name in tensors)
    metadata = json.loads(read(fleet, adapter_metadata_key(OWNER, job.job_id)))
    assert metadata["rank"] == "4" and metadata["instance_prompt"] == TRAIN["instance_prompt"]
    assert metadata["base_model"] == "tiny" and metadata["loss_curve"] == curve
    # The finished adapter replaces its checkpoint.
    assert not exists(fleet, checkpoint_key(OWNER, job.job_id))

    # Generation with the adapter differs from generation without it at the same seed.
    sqs = fleet.clients.sqs()
    plain = web_job(job_store, sqs, fleet.queues.interactive_url, owner=OWNER, seed=5)
    drive(worker, lambda: job_store.get(plain.job_id).status.is_terminal, 60, "plain")
    tuned = web_job(
        job_store, sqs, fleet.queues.interactive_url, owner=OWNER, seed=5, adapter_id=job.job_id
    )
    drive(worker, lambda: job_store.get(tuned.job_id).status.is_terminal, 60, "tuned")
    again = web_job(job_store, sqs, fleet.queues.interactive_url, owner=OWNER, seed=5)
    drive(worker, lambda: job_store.get(again.job_id).status.is_terminal, 60, "plain again")
    pixels = {}
    for name, run in (("plain", plain), ("tuned", tuned), ("again", again)):
        done = job_store.get(run.job_id)
        assert done.status is JobStatus.SUCCEEDED, done.error
        image = Image.open(io.BytesIO(read(fleet, done.outputs[0])))
        pixels[name] = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert np.abs(pixels["tuned"] - pixels["plain"]).max() > 0
    # The adapter is unloaded cleanly: the next plain job draws the plain image again.
    assert np.array_equal(pixels["again"], pixels["plain"])


def test_another_users_image_or_adapter_fails_the_job_through_sqs(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    worker = make_worker("w-foreign")
    images = put_images(fleet, OWNER, 2) + put_images(fleet, "someone-else", 1)
    job = train_job(fleet, job_store, images)
    generation = web_job(
        job_store,
        fleet.clients.sqs(),
        fleet.queues.interactive_url,
        owner="someone-else",
        adapter_id="t-doesnotexist",
    )
    drive(
        worker,
        lambda: all(job_store.get(j.job_id).status.is_terminal for j in (job, generation)),
        60,
        "both jobs",
    )
    record = job_store.get(job.job_id)
    assert record.status is JobStatus.FAILED
    assert record.error is not None and record.error.code == ErrorCode.INVALID_INPUT.value
    assert "instance_images[2]" in record.error.message
    failed = job_store.get(generation.job_id)
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert "adapter_id" in failed.error.message
    assert not exists(fleet, adapter_key(OWNER, job.job_id))


def test_a_killed_training_resumes_on_another_worker_and_reaches_the_same_adapter(
    fleet: FleetResources,
    job_store: JobStore,
    spawn_worker: Callable[..., WorkerProcess],
    make_worker: Callable[..., Any],
) -> None:
    images = put_images(fleet, OWNER)
    # The uninterrupted run, in process.
    reference_worker = make_worker("w-reference", train_checkpoint_every_steps=1000)
    reference = train_job(fleet, job_store, images)
    drive(
        reference_worker,
        lambda: job_store.get(reference.job_id).status.is_terminal,
        240,
        "the uninterrupted training",
    )
    assert job_store.get(reference.job_id).status is JobStatus.SUCCEEDED

    # The same training in a worker process, killed once it has written a checkpoint.
    job = train_job(fleet, job_store, images)
    first = spawn_worker("w-first", train_checkpoint_every_steps=6)
    wait_until(
        lambda: exists(fleet, checkpoint_key(OWNER, job.job_id)),
        240,
        "a checkpoint",
        interval=0.2,
    )
    first.process.kill()  # SIGKILL: no drain, no hand-back
    first.wait(30)
    killed_at = job_store.get(job.job_id)
    assert killed_at.status is JobStatus.RUNNING and killed_at.worker_id == "w-first"
    assert (killed_at.progress_step or 0) < TRAIN["steps"]

    second = spawn_worker("w-second", train_checkpoint_every_steps=6)
    record = wait_status(job_store, job.job_id, JobStatus.SUCCEEDED, 240)
    assert record.worker_id == "w-second" and record.attempts == 2
    assert "training resumed from its checkpoint" in second.log()

    expected = adapter_tensors(read(fleet, adapter_key(OWNER, reference.job_id)))
    resumed = adapter_tensors(read(fleet, adapter_key(OWNER, job.job_id)))
    assert resumed.keys() == expected.keys()
    for name, tensor in expected.items():
        assert np.allclose(resumed[name].numpy(), tensor.numpy(), rtol=1e-4, atol=1e-6), name
    # The loss history crosses the kill without a gap.
    assert len(record.loss_curve) == TRAIN["steps"]
