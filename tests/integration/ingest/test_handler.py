"""``lambda_handler`` as Lambda (and the local stack) calls it: settings from the environment."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest

from ingest_lambda import handler
from sdfleet import env
from sdfleet.deletion import DEFAULT_SETTLE_SECONDS, DeletionStore, UserDataPurger
from sdfleet.records import utcnow
from tests.conftest import FleetResources
from tests.fixtures.apigw.events import FakeLambdaContext, event
from tests.integration.ingest.conftest import USER_A, to_response

pytestmark = pytest.mark.emulator


@pytest.fixture()
def configured(
    fleet: FleetResources, idempotency_table: str, monkeypatch: pytest.MonkeyPatch
) -> FleetResources:
    for name, value in fleet.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(env.IDEMPOTENCY_TABLE, idempotency_table)
    monkeypatch.delenv(env.SSM_PATH, raising=False)
    monkeypatch.setattr(handler, "_default_app", None)
    return fleet


def test_handler_serves_fixture_events_end_to_end(configured: FleetResources) -> None:
    created = to_response(handler.lambda_handler(event("create_job"), FakeLambdaContext()))
    assert created.status == 202, created.body
    job_id = created.body["job_id"]

    replay = to_response(handler.lambda_handler(event("create_job"), FakeLambdaContext()))
    assert replay.body == created.body

    got = to_response(
        handler.lambda_handler(
            event("get_job", path_params={"job_id": job_id}), FakeLambdaContext()
        )
    )
    assert got.status == 200
    assert got.body["status"] == "queued"

    listed = to_response(handler.lambda_handler(event("list_jobs"), FakeLambdaContext()))
    assert [item["job_id"] for item in listed.body["items"]] == [job_id]

    deleted = to_response(handler.lambda_handler(event("delete_me"), FakeLambdaContext()))
    assert deleted.status == 202 and deleted.body["status"] == "deleting"
    reported = to_response(handler.lambda_handler(event("get_deletion"), FakeLambdaContext()))
    assert reported.body["deletion_id"] == deleted.body["deletion_id"]
    purger = UserDataPurger(
        configured.job_store(),
        DeletionStore(configured.clients.dynamodb(), configured.jobs_table),
        configured.clients.s3(),
        configured.bucket,
        None,
    )
    later = utcnow() + timedelta(seconds=DEFAULT_SETTLE_SECONDS)
    finished = purger.purge(USER_A, later)
    assert (finished.status, finished.objects_deleted, finished.jobs_deleted) == (
        "completed",
        0,
        1,
    )
    assert configured.job_store().list_by_owner(USER_A)[0] == []


def test_handler_builds_the_app_once(configured: FleetResources) -> None:
    handler.lambda_handler(event("list_jobs"), FakeLambdaContext())
    first = handler.default_app()
    handler.lambda_handler(event("list_jobs"), FakeLambdaContext())
    assert handler.default_app() is first


def test_handler_logs_json_with_the_request_id(configured: FleetResources) -> None:
    stream = io.StringIO()
    log_handler = handler.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    previous = log_handler.setStream(stream)
    try:
        context = FakeLambdaContext()
        handler.lambda_handler(event("create_job", headers={"idempotency-key": None}), context)
    finally:
        log_handler.setStream(previous)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    [accepted] = [r for r in records if r["message"] == "job accepted"]
    assert accepted["function_request_id"] == context.aws_request_id
    assert accepted["correlation_id"] == "UsLJXj0XoAMEbXA="  # API Gateway's request id
    assert accepted["service"] == "sdfleet-ingest"
    assert len(accepted["job_id"]) == 32
