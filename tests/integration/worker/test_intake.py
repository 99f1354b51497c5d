"""Message -> job: validation, owners from SenderId, deterministic batch ids, skips."""

from __future__ import annotations

import json

import pytest

from sdfleet.messages import JobMessage, Lane
from sdfleet.records import ErrorCode, JobRecord, JobStatus
from sdfleet.requests import JobKind
from sdfleet.senders import is_ingest_sender
from sdfleet.store import JobStore
from tests.integration.worker.conftest import params
from worker.errors import UnknownSender
from worker.intake import UNKNOWN_SENDER_OWNER, Action, MessageIntake
from worker.lanes import ReceivedMessage
from worker.tenants import TenantMap, batch_job_id

SENDER = "AIDASENDER"
MALLORY = "AROAMALLORY"
#: The ingest API's role id; its Lambda's SenderId is ``<role id>:<function session>``.
INGEST = "AROAINGEST"


def delivery(body: str, lane: Lane = Lane.BATCH, sender: str | None = None) -> ReceivedMessage:
    if sender is None:
        sender = SENDER if lane is Lane.BATCH else f"{INGEST}:sdfleet-ingest"
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
    return MessageIntake(
        job_store, TenantMap({SENDER: "acme", MALLORY: "mallory"}), ingest_sender_id=INGEST
    )


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


def test_a_batch_message_without_webhook_url_takes_its_tenants_default(
    job_store: JobStore,
) -> None:
    intake = MessageIntake(
        job_store,
        TenantMap({SENDER: "acme", MALLORY: "mallory"}, {"acme": "https://hooks.acme.example/e"}),
    )
    # A message's job_id names a record the claim looks up; with none yet, the record is made.
    records = {
        name: intake.resolve_missing(delivery(b, sender=s), JobMessage.from_body(b)).record
        for name, b, s in (
            ("plain", body(job_id="plain"), SENDER),
            ("own", body(job_id="own", webhook_url="https://own.example/e"), SENDER),
            ("theirs", body(job_id="theirs"), MALLORY),
        )
    }
    assert {name: r.webhook_url if r else "missing" for name, r in records.items()} == {
        "plain": "https://hooks.acme.example/e",
        "own": "https://own.example/e",
        "theirs": None,
    }
    assert job_store.get("acme.plain").webhook_url == "https://hooks.acme.example/e"


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
    assert created.action is Action.RUN and created.job_id == "acme.own-id-1"
    assert job_store.get("acme.own-id-1").owner == "acme"


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


# -- finding 1: every message bound to its sender and lane ----------------------------------


def test_squatted_batch_id_cannot_take_another_tenants_job(
    intake: MessageIntake, job_store: JobStore
) -> None:
    """mallory sends acme's job id first; acme's message still gets acme's own record."""
    squat = JobMessage(
        version=1, kind=JobKind.TXT2IMG, params=params(prompt="mallory's"), job_id="acme-row-0001"
    )
    mallory = intake.resolve_missing(delivery(squat.to_body(), sender=f"{MALLORY}:s1"), squat)
    assert mallory.action is Action.RUN and mallory.job_id is not None
    real = JobMessage(
        version=1, kind=JobKind.TXT2IMG, params=params(prompt="acme's"), job_id="acme-row-0001"
    )
    acme = intake.resolve_missing(delivery(real.to_body()), real)
    assert acme.action is Action.RUN and acme.job_id is not None
    assert acme.job_id != mallory.job_id
    record = job_store.get(acme.job_id)
    assert (record.owner, record.params.prompt) == ("acme", "acme's")
    assert job_store.get(mallory.job_id).owner == "mallory"


@pytest.mark.parametrize("lane", [Lane.INTERACTIVE, Lane.TRAINING])
def test_api_lanes_refuse_every_sender_but_the_ingest_api(
    intake: MessageIntake, job_store: JobStore, lane: Lane
) -> None:
    # The training lane as the interactive one: a batch tenant (SENDER) may not post there.
    _web_record(job_store, "web-9")
    for sender in (SENDER, f"{MALLORY}:ingest", None, f"x{INGEST}:s"):
        message = JobMessage(version=1, kind=JobKind.TXT2IMG, params=params(), job_id="web-9")
        forged = delivery(message.to_body(), lane=lane, sender=sender or "")
        result = intake.resolve(forged)
        assert result.action is Action.DEAD_LETTER, sender
        assert result.error is not None and result.error.code == ErrorCode.SENDER_NOT_ALLOWED
        assert result.record is None
    # The ingest role under any session name is the sender the lane honours.
    ok = intake.resolve(delivery(body(job_id="web-9"), lane=lane))
    assert ok.action is Action.RUN and ok.job_id == "web-9" and ok.owner is None
    assert job_store.get("web-9").status is JobStatus.QUEUED


@pytest.mark.parametrize("sender", [SENDER, f"{MALLORY}:any", "AIDAUNMAPPED"])
def test_forged_invalid_body_fails_no_other_record(
    intake: MessageIntake, job_store: JobStore, sender: str
) -> None:
    """``{"version": 99, "job_id": <victim>}`` from another tenant or an unmapped sender."""
    web = _web_record(job_store, "web-victim", lane=Lane.BATCH)
    acme = JobMessage(version=1, kind=JobKind.TXT2IMG, params=params(), job_id="row-7")
    acme_job = intake.resolve_missing(delivery(acme.to_body()), acme).job_id
    assert acme_job is not None
    for victim in ("web-victim", "row-7", acme_job):
        result = intake.resolve(delivery(body(job_id=victim, version=99), sender=sender))
        if sender == SENDER and victim == "row-7":
            # acme's own body speaks for acme's own queued record.
            assert result.action is Action.DELETE and result.record is not None
            assert result.record.job_id == acme_job
            continue
        assert result.action is Action.DEAD_LETTER and result.record is None, (sender, victim)
    assert job_store.get(web.job_id).status is JobStatus.QUEUED


def test_assumed_role_sender_maps_by_role_id_not_session_name() -> None:
    tenants = TenantMap({"AROAABCDEFGHIJ": "acme"})
    assert tenants.tenant_for("AROAABCDEFGHIJ:batch-session-42") == "acme"
    assert tenants.tenant_for("AROAABCDEFGHIJ") == "acme"
    with pytest.raises(UnknownSender):
        tenants.tenant_for("AROAOTHER:AROAABCDEFGHIJ")
    with pytest.raises(ValueError, match="names a role session"):
        TenantMap({"AROAABCDEFGHIJ:chosen-session": "acme"})
    assert is_ingest_sender("AROAINGEST:sdfleet-ingest", "AROAINGEST")
    assert not is_ingest_sender("AROAOTHER:AROAINGEST", "AROAINGEST")
    assert not is_ingest_sender("AROAINGEST:x", None)
