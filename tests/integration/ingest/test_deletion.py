"""``DELETE /me`` (finding 3): marked at once, purged in the background to completion, and
nothing of the user survives or comes back: records, objects, adapters, idempotency rows."""

from __future__ import annotations

import pytest

from ingest_lambda.routes import REPLAYED_HEADER
from sdfleet.deletion import DEFAULT_SETTLE_SECONDS
from sdfleet.errors import OwnerDataDeleted
from sdfleet.keys import output_key
from sdfleet.records import JobStatus
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import PNG_BYTES, USER_A, USER_B, IngestApi
from tests.integration.ingest.test_routes import TXT2IMG, submit

pytestmark = pytest.mark.emulator

LEASE_SECONDS = 600


def test_no_job_is_accepted_while_a_deletion_runs(api: IngestApi) -> None:
    assert api.call(event("delete_me")).status == 202
    refused = api.call(event("create_job", body=TXT2IMG, headers={"idempotency-key": None}))
    assert refused.status == 409
    assert refused.body["error"]["code"] == "deletion_in_progress"
    assert api.store.list_by_owner(USER_A)[0] == []
    # Another user is not affected.
    submit(api, sub=USER_B)


def test_an_idempotency_key_does_not_replay_a_deleted_job(api: IngestApi) -> None:
    first = api.call(event("create_job", body=TXT2IMG))
    assert first.status == 202
    assert api.call(event("delete_me")).status == 202
    done = api.purge(USER_A, seconds_later=DEFAULT_SETTLE_SECONDS)
    assert done.status == "completed" and done.idempotency_rows_deleted == 1
    again = api.call(event("create_job", body=TXT2IMG))
    assert again.status == 202
    assert REPLAYED_HEADER.lower() not in again.headers
    assert again.body["job_id"] != first.body["job_id"]


def test_the_purge_waits_for_the_index_to_settle_and_for_a_live_worker(api: IngestApi) -> None:
    job_id = submit(api)
    api.store.claim(job_id, "worker-1", lease_seconds=LEASE_SECONDS)
    adapter = f"users/{USER_A}/models/adapter-1/weights.safetensors"
    api.clients.s3().put_object(Bucket=api.settings.bucket, Key=adapter, Body=b"w")
    started = api.call(event("delete_me"))
    assert started.status == 202 and started.body["status"] == "deleting"
    # Asking again returns the same deletion.
    assert api.call(event("delete_me")).body["deletion_id"] == started.body["deletion_id"]

    # The running job is asked to stop; the deletion stays open while its worker lives.
    assert api.purge(USER_A, seconds_later=DEFAULT_SETTLE_SECONDS).status == "deleting"
    assert api.store.get(job_id).cancel_requested
    assert api.object_keys(f"users/{USER_A}/") == []
    # The worker writes nothing more: its commit is refused whatever it uploaded meanwhile.
    with pytest.raises(OwnerDataDeleted):
        api.store.finish(job_id, "worker-1", [output_key(USER_A, job_id, 0)], [1])
    assert api.call(event("get_deletion")).body["status"] == "deleting"

    # Its lease lapses (the worker died): the next pass fails and deletes it, and completes.
    done = api.purge(USER_A, seconds_later=LEASE_SECONDS + DEFAULT_SETTLE_SECONDS)
    assert done.status == "completed" and done.jobs_deleted == 1
    assert api.store.list_by_owner(USER_A)[0] == []
    report = api.call(event("get_deletion")).body
    assert report["status"] == "completed" and report["objects_deleted"] == 1
    assert report["completed_at"] is not None


def test_a_deletion_is_not_completed_before_the_index_has_settled(api: IngestApi) -> None:
    queued = submit(api)
    api.call(event("delete_me"))
    early = api.purge(USER_A)
    assert early.status == "deleting" and early.jobs_deleted == 1
    assert api.store.list_by_owner(USER_A)[0] == []
    assert api.purge(USER_A, seconds_later=DEFAULT_SETTLE_SECONDS).status == "completed"
    assert queued not in {r.job_id for r in api.store.list_by_owner(USER_A)[0]}


def test_get_deletion_before_any_is_404(api: IngestApi) -> None:
    assert api.call(event("get_deletion")).status == 404


def test_after_completion_the_user_may_submit_again(api: IngestApi) -> None:
    api.call(event("delete_me"))
    api.purge(USER_A, seconds_later=DEFAULT_SETTLE_SECONDS)
    job_id = submit(api)
    api.store.claim(job_id, "w", lease_seconds=LEASE_SECONDS)
    key = output_key(USER_A, job_id, 0)
    api.clients.s3().put_object(Bucket=api.settings.bucket, Key=key, Body=PNG_BYTES)
    assert api.store.finish(job_id, "w", [key], [1]).status is JobStatus.SUCCEEDED
