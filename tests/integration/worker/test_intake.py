"""Message -> job: validation, owners from SenderId, deterministic batch ids, skips."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from autoscaler.reaper import DeadLetterReaper
from sdfleet.aws import AwsClients
from sdfleet.messages import JobMessage, Lane
from sdfleet.records import ErrorCode, JobRecord, JobStatus
from sdfleet.requests import JobKind, JobParams
from sdfleet.senders import is_ingest_sender
from sdfleet.store import JobStore
from tests.integration.worker.conftest import params
from worker.errors import UnknownSender
from worker.intake import MAX_REASON_CHARS, UNKNOWN_SENDER_OWNER, Action, MessageIntake
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
    assert isinstance(record.params, JobParams)
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


# -- what a refusal says, and what it leaves behind ------------------------------------------


def _unknown_field_body(*names: str) -> str:
    """A v1 message whose only problems are the unknown top-level fields ``names``."""
    return body(**dict.fromkeys(names, 1))


UNKNOWN_FIELD = ": unknown field is not allowed"


def test_a_reason_of_every_problem_is_kept_whole_up_to_its_limit(intake: MessageIntake) -> None:
    """Problems are joined with "; "; a reason of exactly MAX_REASON_CHARS is not cut."""
    two = intake.resolve(delivery(_unknown_field_body("zz", "aa")))
    assert two.error is not None
    assert two.error.message == f"zz{UNKNOWN_FIELD}; aa{UNKNOWN_FIELD}"
    name = "n" * (MAX_REASON_CHARS - len(UNKNOWN_FIELD))
    at_limit = intake.resolve(delivery(_unknown_field_body(name)))
    assert at_limit.error is not None
    assert at_limit.error.message == name + UNKNOWN_FIELD
    assert len(at_limit.error.message) == MAX_REASON_CHARS


def test_a_reason_over_its_limit_is_cut_to_the_limit_with_an_ellipsis(
    intake: MessageIntake,
) -> None:
    name = "n" * (MAX_REASON_CHARS - len(UNKNOWN_FIELD) + 1)
    result = intake.resolve(delivery(_unknown_field_body(name)))
    assert result.error is not None
    assert result.error.message == (name + UNKNOWN_FIELD)[: MAX_REASON_CHARS - 3] + "..."
    assert len(result.error.message) == MAX_REASON_CHARS


def test_a_body_that_is_not_json_is_quoted_by_its_first_40_characters(
    intake: MessageIntake,
) -> None:
    raw = "<xml>" + "0123456789" * 5
    result = intake.resolve(delivery(raw))
    assert result.error is not None
    assert result.error.message == f"body: not a JSON object (first bytes: {raw[:40]!r})"


def test_an_invalid_body_naming_no_record_is_dead_lettered_with_its_reason(
    intake: MessageIntake,
) -> None:
    for lane in (Lane.BATCH, Lane.INTERACTIVE):
        result = intake.resolve(delivery(body(job_id="nobody-9", version=9), lane=lane))
        assert result.action is Action.DEAD_LETTER and result.record is None, lane
        assert result.error is not None, lane
        assert result.error.code == ErrorCode.INVALID_INPUT
        assert "version" in result.error.message


def test_an_invalid_body_does_not_fail_a_record_of_another_lane_with_the_same_id(
    intake: MessageIntake, job_store: JobStore
) -> None:
    """The ingest API's invalid interactive body names a queued training: the training stays."""
    _web_record(job_store, "train-4", lane=Lane.TRAINING)
    result = intake.resolve(delivery(body(job_id="train-4", version=9), lane=Lane.INTERACTIVE))
    assert result.action is Action.DEAD_LETTER and result.record is None
    assert result.error is not None and "version" in result.error.message
    assert job_store.get("train-4").status is JobStatus.QUEUED


@pytest.mark.parametrize("lane", [Lane.INTERACTIVE, Lane.TRAINING])
def test_an_api_lane_message_without_job_id_is_refused_naming_the_field(
    intake: MessageIntake, lane: Lane
) -> None:
    result = intake.resolve(delivery(body(), lane=lane))
    assert result.action is Action.DEAD_LETTER and result.record is None
    assert result.error is not None
    assert result.error.code == ErrorCode.INVALID_INPUT
    assert result.error.message == (
        f"job_id: required on the {lane.value} lane (the ingest API creates the record)"
    )


def test_an_unknown_sender_naming_a_job_id_gets_a_failed_record_of_its_message(
    intake: MessageIntake, job_store: JobStore
) -> None:
    """The body's job_id is ignored: the record is ``b-<MessageId>`` under unknown-sender, and
    it keeps the message's lane, time and client_ref, so the submitter can find out why."""
    result = intake.resolve(
        delivery(body(job_id="row-12", client_ref="line 12"), sender="AIDASTRANGER")
    )
    assert result.action is Action.DEAD_LETTER
    assert result.error is not None and result.error.code == ErrorCode.UNKNOWN_SENDER
    record = job_store.get(batch_job_id("6b3f0a7e-1111-2222-3333-444455556666"))
    assert (record.owner, record.status, record.lane, record.client_ref) == (
        UNKNOWN_SENDER_OWNER,
        JobStatus.FAILED,
        Lane.BATCH,
        "line 12",
    )
    assert record.created_at.timestamp() == 1_700_000_000.0
    assert result.record is not None and result.record.job_id == record.job_id


def test_a_redelivered_message_of_an_unknown_sender_is_dead_lettered_again(
    intake: MessageIntake, job_store: JobStore
) -> None:
    first = intake.resolve(delivery(body(), sender="AIDASTRANGER"))
    again = intake.resolve(delivery(body(), sender="AIDASTRANGER"))
    assert (first.action, again.action) == (Action.DEAD_LETTER, Action.DEAD_LETTER)
    assert again.error is not None and again.error.code == ErrorCode.UNKNOWN_SENDER
    record = job_store.get(batch_job_id("6b3f0a7e-1111-2222-3333-444455556666"))
    assert (record.owner, record.status) == (UNKNOWN_SENDER_OWNER, JobStatus.FAILED)


def test_a_redelivered_batch_message_of_a_finished_job_is_deleted_saying_why(
    intake: MessageIntake, job_store: JobStore
) -> None:
    first = intake.resolve(delivery(body()))
    assert first.action is Action.RUN and first.record is not None
    job_store.cancel(first.record.job_id, owner="acme")
    again = intake.resolve(delivery(body()))
    assert again.action is Action.DELETE
    assert again.record is not None and again.record.job_id == first.record.job_id
    assert again.record.status is JobStatus.CANCELLED
    assert again.note == "job is cancelled"
    assert again.error is None


@pytest.mark.parametrize("lane", [Lane.INTERACTIVE, Lane.TRAINING])
def test_an_api_lane_message_whose_record_is_gone_is_deleted_saying_why(
    intake: MessageIntake, lane: Lane
) -> None:
    message = JobMessage(version=1, kind=JobKind.TXT2IMG, params=params(), job_id="gone-1")
    dropped = intake.resolve_missing(delivery(message.to_body(), lane=lane), message)
    assert (dropped.action, dropped.record, dropped.error) == (Action.DELETE, None, None)
    assert dropped.note == "record deleted before the job ran"


def _train_body(*images: str) -> str:
    return body(kind="train", params={"instance_images": list(images), "instance_prompt": "sks"})


def test_a_batch_training_of_the_tenants_own_images_runs(
    intake: MessageIntake, job_store: JobStore
) -> None:
    own = ("users/acme/inputs/a.png", "users/acme/inputs/b.png", "users/acme/inputs/c.png")
    result = intake.resolve(delivery(_train_body(*own)))
    assert result.action is Action.RUN and result.error is None
    assert result.record is not None and result.record.kind is JobKind.TRAIN
    assert result.owner == "acme"


def test_a_batch_training_naming_another_owners_image_is_failed_naming_that_image(
    intake: MessageIntake, job_store: JobStore
) -> None:
    """The owner is the record's (the sender's tenant): another user's key fails the job."""
    # Longer than the 120 characters a reason quotes of it.
    theirs = "users/victim/inputs/" + "b" * 150 + ".png"
    result = intake.resolve(
        delivery(_train_body("users/acme/inputs/a.png", theirs, "users/acme/inputs/c.png"))
    )
    assert result.action is Action.DELETE
    assert result.record is not None and result.record.owner == "acme"
    assert result.error is not None and result.error.code == ErrorCode.INVALID_INPUT
    assert result.error.message == (
        f"instance_images[1]: {theirs[:120]!r} is not under the owner's inputs/ prefix"
    )
    # The record the settler fails is the tenant's own, still queued until then.
    assert job_store.get(result.record.job_id).status is JobStatus.QUEUED


@pytest.fixture()
def zone_far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone 5.5 hours off UTC (Lambda and CI run in UTC, which hides a
    time read as local)."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("zone_far_from_utc")
def test_a_batch_record_is_created_at_the_messages_send_time_in_any_local_zone(
    intake: MessageIntake, job_store: JobStore
) -> None:
    sent = datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert datetime.fromtimestamp(1_700_000_000).hour != sent.hour
    made = intake.resolve(delivery(body()))
    refused = intake.resolve(delivery(body(job_id="row-1"), sender="AIDASTRANGER"))
    for result in (made, refused):
        assert result.record is not None
        assert result.record.created_at == sent
        assert job_store.get(result.record.job_id).created_at == sent


def test_a_batch_record_names_the_message_and_sender_that_made_it(
    intake: MessageIntake, job_store: JobStore, aws: AwsClients
) -> None:
    """What the reaper binds a dead-lettered batch message by: the record its MessageId made,
    and only while the message's SenderId is the one that made it."""
    message = delivery(body(), sender=f"{SENDER}:session-1")
    made = intake.resolve(message)
    assert made.record is not None
    reaper = DeadLetterReaper(aws.sqs(), job_store, {})
    dead = {"MessageId": message.message_id, "Attributes": {"SenderId": f"{SENDER}:session-1"}}
    record, why = reaper.bound_record(Lane.BATCH, dead)
    assert (record.job_id if record else None, why) == (made.record.job_id, "")
    forged = {"MessageId": message.message_id, "Attributes": {"SenderId": MALLORY}}
    assert reaper.bound_record(Lane.BATCH, forged)[0] is None
