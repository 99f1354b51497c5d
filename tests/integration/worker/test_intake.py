"""Message -> job: validation, owners from SenderId, deterministic batch ids, skips."""

from __future__ import annotations

import json

import pytest

from sdfleet.messages import JobMessage, Lane
from sdfleet.records import ErrorCode, JobRecord, JobStatus
from sdfleet.requests import JobKind
from sdfleet.store import JobStore
from tests.integration.worker.conftest import params
from worker.intake import UNKNOWN_SENDER_OWNER, Action, MessageIntake
from worker.lanes import ReceivedMessage
from worker.tenants import TenantMap, batch_job_id

SENDER = "AIDASENDER"


def delivery(body: str, lane: Lane = Lane.BATCH, sender: str | None = SENDER) -> ReceivedMessage:
    return ReceivedMessage(
        lane=lane,
        queue_url="http://queue",
        message_id="6b3f0a7e-1111-2222-3333-444455556666",
        receipt_handle="rh",
        body=body,
        sender_id=sender,
        receive_count=1,
        sent_timestamp_ms=1_700_000_000_000,
    )


@pytest.fixture()
def intake(job_store: JobStore) -> MessageIntake:
    return MessageIntake(job_store, TenantMap({SENDER: "acme"}))


def body(**overrides: object) -> str:
    message = {
        "version": 1,
        "kind": "txt2img",
        "params": {"prompt": "cat", "width": 64, "height": 64},
    }
    return json.dumps(message | overrides)


def test_batch_message_creates_record_owned_by_tenant(
    intake: MessageIntake, job_store: JobStore
) -> None:
    result = intake.resolve(delivery(body(client_ref="line 7")))
    assert result.action is Action.RUN
    assert result.record is not None
    assert result.record.job_id == batch_job_id("6b3f0a7e-1111-2222-3333-444455556666")
    stored = job_store.get(result.record.job_id)
    assert (stored.owner, stored.lane, stored.client_ref) == ("acme", Lane.BATCH, "line 7")
    assert stored.created_at.timestamp() == 1_700_000_000.0
    # A redelivery finds the same record instead of making a second one.
    again = intake.resolve(delivery(body(client_ref="line 7")))
    assert again.action is Action.RUN and again.record is not None
    assert again.record.job_id == result.record.job_id


def test_owner_in_body_is_refused(intake: MessageIntake) -> None:
    result = intake.resolve(delivery(body(owner="victim")))
    assert result.action is Action.DEAD_LETTER
    assert result.error is not None and "owner: unknown field" in result.error.message


def test_unknown_sender_fails_clearly(intake: MessageIntake, job_store: JobStore) -> None:
    result = intake.resolve(delivery(body(), sender="AIDASTRANGER"))
    assert result.action is Action.DEAD_LETTER
    record = job_store.get(batch_job_id("6b3f0a7e-1111-2222-3333-444455556666"))
    assert record.owner == UNKNOWN_SENDER_OWNER
    assert record.status is JobStatus.FAILED
    assert record.error is not None and record.error.code == ErrorCode.UNKNOWN_SENDER
    assert "AIDASTRANGER" in record.error.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{not json", "body: not a JSON object"),
        ("[1, 2]", "body: not a JSON object"),
        (body(version=2), "version: must be 1"),
        (body(params={"prompt": "x" * 250_000}), "params.prompt: must have at most 2000"),
        (body(params={"prompt": "cat", "steps": 500}), "params.steps: must be <= 100 (got 500)"),
    ],
)
def test_poison_bodies_are_dead_lettered_with_reason(
    intake: MessageIntake, raw: str, expected: str
) -> None:
    result = intake.resolve(delivery(raw))
    assert result.action is Action.DEAD_LETTER
    assert result.error is not None and expected in result.error.message
    assert result.error.code == ErrorCode.INVALID_INPUT


def _web_record(store: JobStore, job_id: str, lane: Lane = Lane.INTERACTIVE) -> JobRecord:
    return store.create(
        JobRecord(job_id=job_id, owner="user-1", kind=JobKind.TXT2IMG, params=params(), lane=lane)
    )


def test_invalid_body_with_queued_record_fails_that_record(
    intake: MessageIntake, job_store: JobStore
) -> None:
    _web_record(job_store, "web-1")
    result = intake.resolve(delivery(body(job_id="web-1", version=9), lane=Lane.INTERACTIVE))
    assert result.action is Action.DELETE
    assert result.record is not None and result.record.job_id == "web-1"
    assert result.error is not None and "version" in result.error.message
    # Another lane's record is not touched by a stray body.
    _web_record(job_store, "web-2")
    other = intake.resolve(delivery(body(job_id="web-2", version=9), lane=Lane.BATCH))
    assert other.action is Action.DEAD_LETTER and other.record is None


def test_message_with_job_id_is_left_to_the_claim(
    intake: MessageIntake, job_store: JobStore
) -> None:
    _web_record(job_store, "web-3")
    message = JobMessage(
        version=1, kind=JobKind.TXT2IMG, params=params(prompt="other"), job_id="web-3"
    )
    result = intake.resolve(delivery(message.to_body(), lane=Lane.INTERACTIVE))
    # No read here: the claim returns the (authoritative) record in one conditional write.
    assert result.action is Action.RUN and result.job_id == "web-3" and result.record is None


def test_missing_record_interactive_is_dropped_batch_is_created(
    intake: MessageIntake, job_store: JobStore
) -> None:
    message = JobMessage(version=1, kind=JobKind.TXT2IMG, params=params(), job_id="own-id-1")
    dropped = intake.resolve_missing(delivery(message.to_body(), lane=Lane.INTERACTIVE), message)
    assert dropped.action is Action.DELETE
    created = intake.resolve_missing(delivery(message.to_body(), lane=Lane.BATCH), message)
    assert created.action is Action.RUN and created.job_id == "own-id-1"
    assert job_store.get("own-id-1").owner == "acme"


def test_img2img_input_outside_owner_prefix_is_invalid(
    intake: MessageIntake, job_store: JobStore
) -> None:
    raw = body(
        kind="img2img",
        params={
            "prompt": "cat",
            "width": 64,
            "height": 64,
            "input_key": "users/victim/inputs/a.png",
        },
    )
    result = intake.resolve(delivery(raw))
    assert result.action is Action.DELETE
    assert result.error is not None and "users/victim/inputs/a.png" in result.error.message
