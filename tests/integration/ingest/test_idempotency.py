"""Idempotency-Key on POST /jobs, on the Powertools DynamoDB persistence layer."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from ingest_lambda.adapters import AdapterService
from ingest_lambda.app import build_service
from ingest_lambda.idempotency import (
    EXPIRY_ATTR,
    IN_PROGRESS_RETRY_AFTER_SECONDS,
    KEY_ATTR,
    IdempotentJobSubmitter,
)
from ingest_lambda.limits import UNAVAILABLE_RETRY_AFTER_SECONDS
from ingest_lambda.routes import register_routes
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import USER_A, USER_B, ApiResponse, IngestApi

pytestmark = pytest.mark.emulator

BODY = {"prompt": "a red fox", "steps": 4}
KEY = "retry-me-1"


def post(
    api: IngestApi, body: object = BODY, key: str | None = KEY, sub: str = USER_A
) -> ApiResponse:
    return api.call(event("create_job", body=body, sub=sub, headers={"idempotency-key": key}))


def test_same_key_and_body_returns_the_same_job_once(api: IngestApi) -> None:
    first = post(api)
    assert first.status == 202
    assert "idempotent-replayed" not in first.headers
    again = post(api)
    assert again.status == 202
    assert again.body == first.body
    assert again.headers["idempotent-replayed"] == "true"
    # One record, one message.
    assert [item["job_id"]["S"] for item in api.state().jobs] == [first.body["job_id"]]
    assert api.queue_depth(api.fleet.queues.interactive_url) == 1


def test_same_request_written_differently_is_the_same_job(api: IngestApi) -> None:
    first = post(api, {"prompt": "a red fox", "steps": 4})
    again = post(api, {"steps": 4, "prompt": "a red fox", "kind": "txt2img", "width": 512})
    assert again.body == first.body


def test_same_key_with_another_body_is_409(api: IngestApi) -> None:
    first = post(api)
    before = api.state()
    other = post(api, {"prompt": "a blue fox", "steps": 4})
    assert other.status == 409
    assert other.error["code"] == "idempotency_key_reused"
    assert other.error["field"] == "Idempotency-Key"
    assert api.state() == before
    assert post(api).body == first.body


def test_keys_are_scoped_per_user(api: IngestApi) -> None:
    a = post(api, sub=USER_A)
    # B sending A's key and A's body gets a job of B's own, not A's job replayed.
    b = post(api, sub=USER_B)
    assert b.status == 202
    assert "idempotent-replayed" not in b.headers
    assert b.body["job_id"] != a.body["job_id"]
    assert api.store.get(b.body["job_id"]).owner == USER_B
    # A third user with A's key and another body is no conflict: the key is theirs alone.
    c = post(api, {"prompt": "something else"}, sub="third-user")
    assert c.status == 202
    assert api.store.get(c.body["job_id"]).owner == "third-user"


def test_a_refused_attempt_leaves_the_key_free(api: IngestApi) -> None:
    limited = api.with_settings(max_active_jobs_per_user=1)
    blocker = post(limited, key="blocker")
    refused = post(limited)
    assert refused.status == 429
    limited.store.cancel(blocker.body["job_id"])
    retried = post(limited)
    assert retried.status == 202
    assert "idempotent-replayed" not in retried.headers


def test_records_use_the_terraform_table_layout(api: IngestApi) -> None:
    post(api)
    [item] = api.state().idempotency
    assert KEY_ATTR in item
    assert EXPIRY_ATTR in item
    assert item["status"]["S"] == "COMPLETED"
    # The key is hashed with the owner: neither the raw key nor the sub is stored in clear.
    assert KEY not in item[KEY_ATTR]["S"]
    assert USER_A not in item[KEY_ATTR]["S"]


def test_replay_does_not_recheck_an_input_deleted_since(api: IngestApi) -> None:
    key = api.put_input(USER_A)
    body = {"kind": "img2img", "prompt": "make it blue", "input_key": key}
    first = post(api, body)
    assert first.status == 202
    api.clients.s3().delete_object(Bucket=api.settings.bucket, Key=key)
    again = post(api, body)
    assert again.status == 202
    assert again.body == first.body
    # Without the key, the same request is a new one and the missing input is refused.
    assert post(api, body, key=None).status == 400


def test_a_retry_while_the_first_is_still_running_is_409_in_progress(api: IngestApi) -> None:
    """The retry arrives while the first request with its key is still inside the submit
    (the record says INPROGRESS): 409 with Retry-After, and the first still completes."""
    service = build_service(api.settings, api.clients)
    during: list[ApiResponse] = []

    def accept_while_a_retry_arrives(owner: str, request: Any) -> Any:
        during.append(api.call(event("create_job", body=BODY, headers={"idempotency-key": KEY})))
        return service.accept_job(owner, request)

    app = APIGatewayHttpResolver()
    register_routes(
        app,
        service,
        IdempotentJobSubmitter(
            api.clients.dynamodb(), api.settings.idempotency_table, accept_while_a_retry_arrives
        ),
        AdapterService(api.settings, api.clients.s3()),
    )
    api_in_flight = copy.copy(api)
    api_in_flight.app = app

    first = post(api_in_flight)

    [retry] = during
    assert retry.status == 409
    assert retry.error["code"] == "idempotency_in_progress"
    assert retry.headers["retry-after"] == str(IN_PROGRESS_RETRY_AFTER_SECONDS)
    assert first.status == 202
    assert post(api).body == first.body
    assert [item["job_id"]["S"] for item in api.state().jobs] == [first.body["job_id"]]


def test_idempotency_store_down_is_503_and_nothing_is_accepted(api: IngestApi) -> None:
    down = api.with_settings(idempotency_table="sdfleet-no-such-table")
    before = api.state()
    response = post(down)
    assert response.status == 503
    assert "idempotency store is unavailable" in response.error["message"]
    assert response.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER_SECONDS)
    assert api.state() == before
