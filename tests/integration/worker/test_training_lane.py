"""The training lane against the emulator: the API puts trainings there, workers take web jobs
first and trainings one at a time, and a training holds one worker (its message hidden, its
lease alive) for its whole run while web jobs submitted after it are served by another."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from sdfleet.messages import Lane
from sdfleet.records import JobStatus
from sdfleet.settings import WorkerSettings
from sdfleet.store import JobStore
from tests.conftest import FleetResources
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import IngestApi, settings_for
from tests.integration.worker.conftest import drive, wait_status
from tests.integration.worker.test_training import put_images
from tests.support.aws_resources import create_idempotency_table, unique
from worker.lanes import LanePoller
from worker.stages import lanes_of

pytestmark = pytest.mark.emulator

OWNER = "user-lane"
#: About 28 s of tiny-model training on the 2-core build VM and 21 s on CI (240 steps took 8.4 s
#: there): comfortably more than the 10 s training visibility on either.
TRAINING_OUTLASTS_VISIBILITY_STEPS = 600
WEB = {"prompt": "a red cube", "width": 64, "height": 64, "steps": 2, "guidance_scale": 1.0}


def ingest(fleet: FleetResources) -> IngestApi:
    return IngestApi(
        fleet, settings_for(fleet, create_idempotency_table(fleet.clients, unique("i")))
    )


def submit(api: IngestApi, body: dict[str, Any]) -> str:
    # A fresh Idempotency-Key per job (the fixture event carries a fixed one).
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    created = api.call(event("create_job", sub=OWNER, body=body, headers=headers))
    assert created.status == 202, created.body
    job_id: str = created.body["job_id"]
    return job_id


def training(api: IngestApi, fleet: FleetResources, steps: int) -> dict[str, Any]:
    return {
        "kind": "train",
        "instance_images": put_images(fleet, OWNER),
        "instance_prompt": "a photo of sks toy",
        "steps": steps,
        "rank": 4,
        "resolution": 64,
        "learning_rate": 1e-3,
        "seed": 3,
    }


def send(fleet: FleetResources, url: str, body: str) -> None:
    fleet.clients.sqs().send_message(QueueUrl=url, MessageBody=body)


def poller(fleet: FleetResources, visibility: int, training_visibility: int) -> LanePoller:
    settings = WorkerSettings(
        interactive_queue_url=fleet.queues.interactive_url,
        training_queue_url=fleet.queues.training_url,
        batch_queue_url=fleet.queues.batch_url,
        training_visibility_timeout_seconds=training_visibility,
        heartbeat_seconds=0.5,
    )
    return LanePoller(
        fleet.clients.sqs(),
        lanes_of(settings),
        wait_time_seconds=0,
        max_messages=4,
        visibility_timeout_seconds=visibility,
        lane_visibility=settings.lane_visibility(),
    )


def test_lanes_are_drained_interactive_then_training_one_at_a_time_then_batch(
    fleet: FleetResources,
) -> None:
    for name in ("t1", "t2"):
        send(fleet, fleet.queues.training_url, name)
    send(fleet, fleet.queues.batch_url, "b1")
    send(fleet, fleet.queues.interactive_url, "w1")
    lanes = poller(fleet, visibility=60, training_visibility=60)
    assert [lane for lane, _ in lanes.lanes] == [Lane.INTERACTIVE, Lane.TRAINING, Lane.BATCH]

    received = [lanes.poll(long_poll=False) for _ in range(5)]
    lanes_and_bodies = [[(m.lane, m.body) for m in batch] for batch in received]
    assert lanes_and_bodies[0] == [(Lane.INTERACTIVE, "w1")]
    # A training takes its worker for minutes: never a second one held behind it.
    trainings = lanes_and_bodies[1:3]
    assert [len(batch) for batch in trainings] == [1, 1]
    assert sorted(body for batch in trainings for lane, body in batch if lane is Lane.TRAINING) == [
        "t1",
        "t2",
    ]
    assert lanes_and_bodies[3] == [(Lane.BATCH, "b1")]
    assert received[4] == []


def test_a_training_message_is_received_with_the_training_lanes_longer_visibility(
    fleet: FleetResources,
) -> None:
    send(fleet, fleet.queues.training_url, "t1")
    send(fleet, fleet.queues.interactive_url, "w1")
    lanes = poller(fleet, visibility=1, training_visibility=60)
    assert [m.body for m in lanes.poll(long_poll=False)] == ["w1"]
    assert [m.body for m in lanes.poll(long_poll=False)] == ["t1"]
    time.sleep(2.5)
    # The web job's 1 s ran out; the training's 60 s did not.
    again = lanes.poll(long_poll=False) + lanes.poll(long_poll=False)
    assert [m.body for m in again] == ["w1"]


@pytest.mark.slow
def test_a_web_job_submitted_after_a_training_runs_first_on_a_single_worker(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    api = ingest(fleet)
    trained = submit(api, training(api, fleet, steps=4))
    web = submit(api, WEB)
    assert job_store.get(trained).lane is Lane.TRAINING
    worker = make_worker("w-one", max_batch_size=4, receive_ahead_seconds=0)

    assert worker.run_once(long_poll=False) == 1
    worker.wait_for_completions()
    assert job_store.get(web).status is JobStatus.SUCCEEDED
    assert job_store.get(trained).status is JobStatus.QUEUED

    drive(worker, lambda: job_store.get(trained).status.is_terminal, 240, "the training")
    record = job_store.get(trained)
    assert record.status is JobStatus.SUCCEEDED, record.error
    assert record.attempts == 1


@pytest.mark.slow
def test_a_training_holds_one_worker_for_its_whole_run_while_another_serves_web_jobs(
    fleet: FleetResources, job_store: JobStore, make_worker: Callable[..., Any]
) -> None:
    api = ingest(fleet)
    # Long enough to outlast the training lane's visibility (10 s) and the lease (5 s): only
    # the lease keeper's renewals (every 1 s) keep the message hidden and the lease alive.
    trained = submit(api, training(api, fleet, steps=TRAINING_OUTLASTS_VISIBILITY_STEPS))
    trainer = make_worker(
        "w-trainer", training_visibility_timeout_seconds=10, receive_ahead_seconds=0
    )
    run = threading.Thread(target=trainer.run_once, kwargs={"long_poll": False})
    run.start()
    try:
        wait_status(job_store, trained, JobStatus.RUNNING, 60)
        web = submit(api, WEB)
        server = make_worker("w-web", receive_ahead_seconds=0)
        drive(server, lambda: job_store.get(web).status.is_terminal, 60, "the web job")
        assert job_store.get(web).status is JobStatus.SUCCEEDED
        assert job_store.get(trained).status is JobStatus.RUNNING
        # The web worker keeps polling until the training ends and never receives it: its
        # message stays hidden throughout.
        drive(server, lambda: job_store.get(trained).status.is_terminal, 300, "the training")
        assert sum(receive.messages for receive in server.stats.receives) == 1
        assert job_store.get(trained).worker_id == "w-trainer"
    finally:
        run.join(timeout=300)
    record = job_store.get(trained)
    assert record.status is JobStatus.SUCCEEDED, record.error
    assert record.attempts == 1
    started, finished = record.started_at, record.finished_at
    assert started is not None and finished is not None
    assert (finished - started).total_seconds() > 10
