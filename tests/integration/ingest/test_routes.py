"""Every route against the emulator, fed real API Gateway v2 events (tests/fixtures/apigw)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
import requests

from ingest_lambda.limits import QUOTA_RETRY_AFTER_SECONDS
from sdfleet.deletion import DEFAULT_SETTLE_SECONDS
from sdfleet.heartbeats import HeartbeatStore, WorkerHeartbeat, WorkerState
from sdfleet.keys import output_key
from sdfleet.messages import JobMessage, Lane
from sdfleet.records import JobError, JobStatus
from sdfleet.requests import JobParams
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import PNG_BYTES, USER_A, USER_B, IngestApi

pytestmark = pytest.mark.emulator

TXT2IMG = {"prompt": "a lighthouse at dawn", "steps": 4, "width": 64, "height": 64}


def submit(api: IngestApi, sub: str = USER_A, body: dict[str, object] | None = None) -> str:
    response = api.call(
        event("create_job", sub=sub, body=body or TXT2IMG, headers={"idempotency-key": None})
    )
    assert response.status == 202, response.body
    job_id: str = response.body["job_id"]
    return job_id


def run_to_success(api: IngestApi, job_id: str, owner: str, images: int = 2) -> list[str]:
    """What a worker does: claim, write PNGs under the owner's outputs, finish."""
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    keys = [output_key(owner, job_id, i) for i in range(images)]
    for key in keys:
        api.clients.s3().put_object(Bucket=api.settings.bucket, Key=key, Body=PNG_BYTES)
    api.store.finish(job_id, "worker-1", keys, seeds=list(range(images)))
    return keys


# -- uploads -----------------------------------------------------------------------------------
def test_upload_is_a_presigned_post_into_the_callers_inputs(api: IngestApi) -> None:
    response = api.call(event("create_upload", body={"content_type": "image/webp"}))
    assert response.status == 201, response.body
    ticket = response.body
    assert ticket["key"].startswith(f"users/{USER_A}/inputs/")
    assert ticket["key"].endswith(".webp")
    assert ticket["expires_in"] == 300
    assert ticket["max_bytes"] == 10 * 1024 * 1024
    assert ticket["fields"]["key"] == ticket["key"]
    assert ticket["fields"]["Content-Type"] == "image/webp"

    # The emulator does not enforce POST policies: check the signed policy document itself.
    policy = json.loads(base64.b64decode(ticket["fields"]["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1, 10 * 1024 * 1024] in conditions
    assert {"Content-Type": "image/webp"} in conditions
    assert {"key": ticket["key"]} in conditions
    assert {"bucket": api.settings.bucket} in conditions
    # Finding 4: the input is tagged, so the expire-inputs lifecycle rule matches it.
    tagging = (
        "<Tagging><TagSet><Tag><Key>sdfleet-kind</Key><Value>input</Value></Tag></TagSet></Tagging>"
    )
    assert ticket["fields"]["tagging"] == tagging and {"tagging": tagging} in conditions
    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    remaining = (expires - datetime.now(UTC)).total_seconds()
    assert 240 < remaining <= 300

    # The browser's multipart POST lands where the ticket says.
    upload = requests.post(
        ticket["url"],
        data=ticket["fields"],
        files={"file": ("in.webp", b"RIFF0000WEBP")},
        timeout=10,
    )
    assert upload.status_code in (200, 201, 204), upload.text
    head = api.clients.s3().head_object(Bucket=api.settings.bucket, Key=ticket["key"])
    assert head["ContentLength"] == 12


def test_upload_expiry_and_size_follow_the_settings(api: IngestApi) -> None:
    small = api.with_settings(upload_url_expires_seconds=60, upload_max_bytes=1024)
    ticket = small.call(event("create_upload", body={"content_type": "image/png"})).body
    policy = json.loads(base64.b64decode(ticket["fields"]["policy"]))
    assert ["content-length-range", 1, 1024] in policy["conditions"]
    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert (expires - datetime.now(UTC)).total_seconds() <= 60
    assert ticket["expires_in"] == 60


# -- job creation ------------------------------------------------------------------------------
def test_job_is_recorded_then_queued_on_the_interactive_lane(api: IngestApi) -> None:
    response = api.call(event("create_job", headers={"idempotency-key": None}))
    assert response.status == 202
    assert response.body["status"] == "queued"
    job_id = response.body["job_id"]

    record = api.store.get(job_id)
    assert record.owner == USER_A
    assert record.status is JobStatus.QUEUED
    assert record.lane is Lane.INTERACTIVE
    assert isinstance(record.params, JobParams)
    assert record.params.prompt == "a lighthouse at dawn, oil painting"
    assert record.params.seed == 42

    [body] = api.receive(api.fleet.queues.interactive_url)
    message = JobMessage.model_validate(body)
    assert message.job_id == job_id
    assert message.lane is Lane.INTERACTIVE
    assert message.params == record.params
    assert "owner" not in body
    assert api.queue_depth(api.fleet.queues.batch_url) == 0


def test_img2img_with_the_callers_own_upload(api: IngestApi) -> None:
    key = api.put_input(USER_A)
    body = {"kind": "img2img", "prompt": "make it blue", "input_key": key, "strength": 0.6}
    response = api.call(event("create_job", body=body, headers={"idempotency-key": None}))
    assert response.status == 202, response.body
    record = api.store.get(response.body["job_id"])
    assert isinstance(record.params, JobParams)
    assert record.params.input_key == key
    assert record.params.strength == 0.6


def test_base64_encoded_body_is_decoded(api: IngestApi) -> None:
    ev = event("create_job", body=TXT2IMG, base64_body=True, headers={"idempotency-key": None})
    response = api.call(ev)
    assert response.status == 202, response.body


def test_quota_of_active_jobs_answers_429_with_retry_after(api: IngestApi) -> None:
    limited = api.with_settings(max_active_jobs_per_user=2)
    first, _ = submit(limited), submit(limited)
    before = limited.state()
    response = limited.call(event("create_job", body=TXT2IMG, headers={"idempotency-key": None}))
    assert response.status == 429
    assert response.headers["retry-after"] == str(QUOTA_RETRY_AFTER_SECONDS)
    assert response.error["code"] == "too_many_active_jobs"
    assert "limit is 2" in response.error["message"]
    assert limited.state() == before
    # Another user is not affected, and a finished job frees a slot.
    submit(limited, sub=USER_B)
    limited.store.cancel(first)
    submit(limited)


def test_send_failure_withdraws_the_record(api: IngestApi) -> None:
    broken_url = api.fleet.queues.interactive_url + "-gone"
    broken = api.with_settings(interactive_queue_url=broken_url)
    before = broken.state()
    response = broken.call(event("create_job", headers={"idempotency-key": None}))
    assert response.status == 503
    assert response.error["code"] == "unavailable"
    assert "retry-after" in response.headers
    assert broken.state() == before


# -- reads -------------------------------------------------------------------------------------
def test_queued_job_reports_its_place_and_eta(api: IngestApi) -> None:
    ids = [submit(api, sub) for sub in (USER_B, USER_B, USER_A)]
    view = api.call(event("get_job", path_params={"job_id": ids[2]})).body
    assert view["status"] == "queued"
    assert view["queue_position"] == 2
    assert view["progress"] is None
    # No worker is live: two waves of the default job time behind a cold start.
    assert view["eta_seconds"] == 3 * 6 + 120

    HeartbeatStore(api.clients.dynamodb(), api.settings.workers_table).put(
        WorkerHeartbeat(worker_id="w1", state=WorkerState.BUSY, recent_seconds_per_job=[10.0, 20.0])
    )
    view = api.call(event("get_job", path_params={"job_id": ids[2]})).body
    assert view["eta_seconds"] == 3 * 15


def test_running_job_reports_progress(api: IngestApi) -> None:
    job_id = submit(api)
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    api.store.renew_lease(job_id, "worker-1", 60, progress_step=5, progress_total=20)
    view = api.call(event("get_job", path_params={"job_id": job_id})).body
    assert view["status"] == "running"
    assert view["progress"] == {"step": 5, "total": 20}
    assert view["queue_position"] is None
    assert view["started_at"] is not None
    assert view["eta_seconds"] == 5  # 3/4 of the default 6 s, rounded up


def test_succeeded_job_links_its_outputs(api: IngestApi) -> None:
    job_id = submit(api)
    keys = run_to_success(api, job_id, USER_A)
    view = api.call(event("get_job", path_params={"job_id": job_id})).body
    assert view["status"] == "succeeded"
    assert [o["key"] for o in view["outputs"]] == keys
    assert view["eta_seconds"] is None
    assert view["finished_at"] is not None
    fetched = requests.get(view["outputs"][0]["url"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == PNG_BYTES
    assert "X-Amz-Expires=600" in view["outputs"][0]["url"]


def test_failed_job_reports_its_error(api: IngestApi) -> None:
    job_id = submit(api)
    api.store.fail(job_id, JobError(code="invalid_input", message="input image is not a PNG"))
    view = api.call(event("get_job", path_params={"job_id": job_id})).body
    assert view["status"] == "failed"
    assert view["error"] == {"code": "invalid_input", "message": "input image is not a PNG"}


def test_unknown_or_malformed_job_id_is_404(api: IngestApi) -> None:
    for job_id in ("0" * 32, "not a job", "../../etc"):
        response = api.call(event("get_job", path_params={"job_id": job_id}))
        assert response.status == 404, job_id
        assert response.error["code"] == "not_found"


def test_list_is_newest_first_and_pages(api: IngestApi) -> None:
    ids = [submit(api) for _ in range(3)]
    submit(api, sub=USER_B)
    page = api.call(event("list_jobs", query={"limit": "2"})).body
    assert [item["job_id"] for item in page["items"]] == ids[::-1][:2]
    assert page["next_cursor"]
    rest = api.call(event("list_jobs", query={"limit": "2", "cursor": page["next_cursor"]})).body
    assert [item["job_id"] for item in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None


def test_unknown_route_is_a_json_404(api: IngestApi) -> None:
    ev = event("get_job", path_params={"job_id": "x"})
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/nope"
    response = api.call(ev)
    assert response.status == 404
    assert response.error["code"] == "not_found"


# -- deletion ----------------------------------------------------------------------------------
def test_delete_cancels_a_queued_job(api: IngestApi) -> None:
    job_id = submit(api)
    response = api.call(event("delete_job", path_params={"job_id": job_id}))
    assert response.status == 200
    assert response.body["status"] == "cancelled"
    record = api.store.get(job_id)
    assert record.status is JobStatus.CANCELLED
    assert api.store.count_queued_ahead(record) == 0


def test_delete_asks_a_running_job_to_stop(api: IngestApi) -> None:
    job_id = submit(api)
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    response = api.call(event("delete_job", path_params={"job_id": job_id}))
    assert response.status == 202
    assert response.body == {
        "job_id": job_id,
        "status": "running",
        "cancel_requested": True,
        "outputs_deleted": 0,
    }
    assert api.store.get(job_id).cancel_requested
    # The worker honours it; the record ends cancelled.
    assert api.store.mark_cancelled(job_id, "worker-1").status is JobStatus.CANCELLED


def test_delete_of_a_finished_job_removes_its_outputs(api: IngestApi) -> None:
    job_id = submit(api)
    keys = run_to_success(api, job_id, USER_A, images=3)
    other_job = submit(api)
    other_keys = run_to_success(api, other_job, USER_A, images=1)
    response = api.call(event("delete_job", path_params={"job_id": job_id}))
    assert response.status == 200
    assert response.body["outputs_deleted"] == 3
    assert not set(keys) & set(api.object_keys())
    assert set(other_keys) <= set(api.object_keys())
    assert api.store.get(job_id).outputs == []
    assert api.call(event("get_job", path_params={"job_id": job_id})).body["outputs"] == []


def test_delete_me_removes_every_object_and_record_of_the_caller_only(api: IngestApi) -> None:
    api = api.with_settings(delete_batch_size=10)
    s3 = api.clients.s3()
    # More objects than one listing page / one batch delete holds.
    for i in range(25):
        s3.put_object(
            Bucket=api.settings.bucket, Key=f"users/{USER_A}/inputs/{i:05d}.png", Body=b"x"
        )
    queued, running, done = submit(api), submit(api), submit(api)
    api.store.claim(running, "worker-1", lease_seconds=60)
    run_to_success(api, done, USER_A)
    b_job = submit(api, sub=USER_B)
    b_input = api.put_input(USER_B)

    response = api.call(event("delete_me"))
    assert response.status == 202
    assert response.body["status"] == "deleting"
    # The worker holding the running job honours the cancel; a pass after the index settled
    # (DEFAULT_SETTLE_SECONDS) completes the deletion.
    assert api.purge(USER_A).status == "deleting"
    api.store.mark_cancelled(running, "worker-1")
    assert api.purge(USER_A, seconds_later=DEFAULT_SETTLE_SECONDS).status == "completed"
    report = api.call(event("get_deletion")).body
    assert report["deletion_id"] == response.body["deletion_id"]
    assert (report["objects_deleted"], report["jobs_deleted"]) == (27, 3)
    assert api.object_keys(f"users/{USER_A}/") == []
    assert api.call(event("list_jobs")).body["items"] == []
    for job_id in (queued, running, done):
        assert api.call(event("get_job", path_params={"job_id": job_id})).status == 404
    assert api.store.get(b_job).owner == USER_B
    assert api.object_keys(f"users/{USER_B}/") == [b_input]


def test_default_route_events_are_routed_by_path(api: IngestApi) -> None:
    """A `$default` route (the local adapter, or a catch-all stage) carries no route key and
    no pathParameters: routing uses the method and rawPath alone."""
    job_id = submit(api)
    ev = event("get_job", path_params={"job_id": job_id})
    ev["routeKey"] = ev["requestContext"]["routeKey"] = "$default"
    del ev["pathParameters"]
    response = api.call(ev)
    assert response.status == 200
    assert response.body["job_id"] == job_id


def test_a_cursor_only_works_for_its_owner(api: IngestApi) -> None:
    for _ in range(2):
        submit(api)
    cursor = api.call(event("list_jobs", query={"limit": "1"})).body["next_cursor"]
    response = api.call(event("list_jobs", sub=USER_B, query={"limit": "1", "cursor": cursor}))
    assert response.status == 400
    assert response.error["field"] == "cursor"


def test_an_unexpected_failure_is_a_json_500_without_details(api: IngestApi) -> None:
    broken = api.with_settings(jobs_table="no-such-table")
    response = broken.call(event("get_job", path_params={"job_id": "abc"}))
    assert response.status == 500
    assert response.error == {"code": "internal", "message": "internal error", "field": None}


def test_identity_comes_only_from_the_authorizer_claims(api: IngestApi) -> None:
    """Headers that look like identity are ignored: the job belongs to the JWT's sub."""
    headers = {"x-user-id": USER_B, "x-amzn-oidc-identity": USER_B}
    response = api.call(event("create_job", body=TXT2IMG, headers=headers))
    assert response.status == 202
    assert api.store.get(response.body["job_id"]).owner == USER_A
