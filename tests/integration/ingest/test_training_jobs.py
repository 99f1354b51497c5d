"""``POST /jobs`` with ``kind: train`` and generation with ``adapter_id``: only the caller's
own uploads and models; anything else is a 404 that writes nothing."""

from __future__ import annotations

import pytest

from sdfleet.heartbeats import HeartbeatStore, WorkerHeartbeat, WorkerState
from sdfleet.keys import adapter_key
from sdfleet.messages import Lane
from sdfleet.training import TRAIN_STEPS_DEFAULT
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import USER_A, USER_B, IngestApi

pytestmark = pytest.mark.emulator


def _train_body(api: IngestApi, owner: str, **changes: object) -> dict[str, object]:
    images = [api.put_input(owner) for _ in range(3)]
    return {"kind": "train", "instance_images": images, "instance_prompt": "sks", **changes}


def test_a_training_is_queued_with_its_params(api: IngestApi) -> None:
    body = _train_body(api, USER_A, steps=20)
    created = api.call(event("create_job", sub=USER_A, body=body))
    assert created.status == 202, created.body
    record = api.store.get(created.body["job_id"])
    assert record.kind.value == "train" and record.owner == USER_A
    assert record.cost_units == 20
    # Its own lane, so a run of minutes never holds up a web job.
    assert record.lane is Lane.TRAINING
    assert api.receive(api.fleet.queues.interactive_url) == []
    [message] = api.receive(api.fleet.queues.training_url)
    assert message["kind"] == "train" and message["lane"] == "training"
    assert message["job_id"] == record.job_id
    assert message["params"]["instance_images"] == body["instance_images"]
    view = api.call(event("get_job", sub=USER_A, path_params={"job_id": record.job_id}))
    assert view.body["params"]["instance_prompt"] == "sks"
    assert view.body["params"]["steps"] == 20


def _submit(api: IngestApi, owner: str, body: dict[str, object]) -> str:
    created = api.call(event("create_job", sub=owner, body=body, headers={"idempotency-key": None}))
    assert created.status == 202, created.body
    job_id: str = created.body["job_id"]
    return job_id


def test_a_queued_training_waits_for_trainings_of_minutes_not_images(api: IngestApi) -> None:
    HeartbeatStore(api.clients.dynamodb(), api.settings.workers_table).put(
        WorkerHeartbeat(worker_id="w1", state=WorkerState.BUSY, recent_seconds_per_job=[4.0])
    )
    ids = [_submit(api, owner, _train_body(api, owner)) for owner in (USER_A, USER_B)]
    web = _submit(api, USER_A, {"prompt": "a red cube"})
    minutes = api.settings.training_minutes_per_job
    view = api.call(event("get_job", sub=USER_B, path_params={"job_id": ids[1]})).body
    # One training ahead in its lane, one live worker: two runs of the training estimate.
    assert view["queue_position"] == 1
    assert view["eta_seconds"] == 2 * minutes * 60
    # A web job's ETA still comes from the workers' measured image times.
    view = api.call(event("get_job", sub=USER_A, path_params={"job_id": web})).body
    assert view["eta_seconds"] == 4


def test_without_a_training_lane_trainings_travel_in_the_interactive_lane(
    api: IngestApi,
) -> None:
    legacy = api.with_settings(training_queue_url=None)
    created = legacy.call(event("create_job", sub=USER_A, body=_train_body(legacy, USER_A)))
    assert created.status == 202, created.body
    assert legacy.store.get(created.body["job_id"]).lane is Lane.INTERACTIVE
    [message] = legacy.receive(legacy.fleet.queues.interactive_url)
    assert message["kind"] == "train"


def test_web_jobs_stay_in_the_interactive_lane(api: IngestApi) -> None:
    body = {"prompt": "a dog", "steps": 2, "width": 64, "height": 64}
    created = api.call(event("create_job", sub=USER_A, body=body))
    assert created.status == 202, created.body
    assert api.store.get(created.body["job_id"]).lane is Lane.INTERACTIVE
    assert api.receive(api.fleet.queues.training_url) == []


def test_default_steps_apply(api: IngestApi) -> None:
    created = api.call(event("create_job", sub=USER_A, body=_train_body(api, USER_A)))
    assert created.status == 202, created.body
    assert api.store.get(created.body["job_id"]).cost_units == TRAIN_STEPS_DEFAULT


def test_another_users_image_is_not_found_and_nothing_is_written(api: IngestApi) -> None:
    body = _train_body(api, USER_A)
    images = list(body["instance_images"])  # type: ignore[call-overload]
    images[1] = api.put_input(USER_B)
    before = api.state()
    refused = api.call(event("create_job", sub=USER_A, body={**body, "instance_images": images}))
    assert refused.status == 404, refused.body
    assert refused.error["field"] == "instance_images[1]"
    assert api.state() == before


def test_a_missing_image_is_not_found(api: IngestApi) -> None:
    body = _train_body(api, USER_A)
    images = [*body["instance_images"][:2], f"users/{USER_A}/inputs/nope.png"]  # type: ignore[index]
    refused = api.call(event("create_job", sub=USER_A, body={**body, "instance_images": images}))
    assert refused.status == 404 and refused.error["field"] == "instance_images[2]"


def test_a_limit_is_a_400_naming_field_and_limit(api: IngestApi) -> None:
    refused = api.call(event("create_job", sub=USER_A, body=_train_body(api, USER_A, rank=500)))
    assert refused.status == 400
    assert refused.error["message"] == "rank: must be <= 128 (got 500)"


def test_generation_with_another_users_adapter_is_not_found(api: IngestApi) -> None:
    s3 = api.clients.s3()
    s3.put_object(Bucket=api.settings.bucket, Key=adapter_key(USER_A, "m1"), Body=b"lora")
    body = {"prompt": "a dog", "steps": 2, "width": 64, "height": 64, "adapter_id": "m1"}
    before = api.state()
    refused = api.call(event("create_job", sub=USER_B, body=body))
    assert refused.status == 404 and refused.error["field"] == "adapter_id"
    assert api.state() == before
    accepted = api.call(event("create_job", sub=USER_A, body={**body, "adapter_scale": 0.5}))
    assert accepted.status == 202, accepted.body
    params = api.store.get(accepted.body["job_id"]).params
    assert params.adapter_id == "m1" and params.adapter_scale == 0.5  # type: ignore[union-attr]
