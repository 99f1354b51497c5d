"""A batch message may name a job id; one that is already another owner's job is refused.

Kept apart from test_intake.py so that changes to the intake rules elsewhere merge cleanly."""

from __future__ import annotations

import pytest

from sdfleet.messages import JobMessage, Lane
from sdfleet.records import ErrorCode, JobRecord, JobStatus
from sdfleet.requests import JobKind, JobParams
from sdfleet.senders import namespaced_job_id
from sdfleet.store import JobStore
from tests.integration.worker.conftest import params
from worker.intake import Action, MessageIntake
from worker.lanes import ReceivedMessage
from worker.tenants import TenantMap, batch_job_id

pytestmark = pytest.mark.emulator

SENDER = "AIDASENDER"
TENANT = "acme"
OTHER_OWNER = "user-7"
MESSAGE_ID = "0c0ffee0-aaaa-bbbb-cccc-ddddeeeeffff"


def batch_delivery(body: str) -> ReceivedMessage:
    return ReceivedMessage(
        lane=Lane.BATCH,
        queue_url="http://queue",
        message_id=MESSAGE_ID,
        receipt_handle="rh",
        body=body,
        sender_id=SENDER,
        receive_count=1,
        sent_timestamp_ms=1_700_000_000_000,
    )


def someone_elses_job(store: JobStore, job_id: str) -> JobRecord:
    return store.create(
        JobRecord(
            job_id=job_id,
            owner=OTHER_OWNER,
            kind=JobKind.TXT2IMG,
            params=params(prompt="theirs"),
            lane=Lane.BATCH,
        )
    )


@pytest.fixture()
def intake(job_store: JobStore) -> MessageIntake:
    return MessageIntake(job_store, TenantMap({SENDER: TENANT}))


def test_batch_job_id_of_another_owner_is_dead_lettered_and_their_job_untouched(
    intake: MessageIntake, job_store: JobStore
) -> None:
    """The claim found no record, then another owner's record appeared under the id the
    tenant's message names (a race, or a squatted id in the tenant's namespace): the tenant's
    message must not adopt that job."""
    squatted = namespaced_job_id(TENANT, "shared-id-1")
    theirs = someone_elses_job(job_store, squatted)
    message = JobMessage(
        version=1, kind=JobKind.TXT2IMG, params=params(prompt="mine"), job_id="shared-id-1"
    )

    result = intake.resolve_missing(batch_delivery(message.to_body()), message)

    assert result.action is Action.DEAD_LETTER
    assert result.record is None
    assert result.error is not None and result.error.code == ErrorCode.FOREIGN_JOB.value
    assert result.error.message == f"job {squatted!r} belongs to another tenant"
    after = job_store.get(squatted)
    assert isinstance(after.params, JobParams) and isinstance(theirs.params, JobParams)
    assert (after.owner, after.status, after.params.prompt) == (
        OTHER_OWNER,
        JobStatus.QUEUED,
        theirs.params.prompt,
    )


def test_a_named_id_of_another_owner_outside_the_namespace_is_never_touched(
    intake: MessageIntake, job_store: JobStore
) -> None:
    """Another owner's plain ``shared-id-2``: the tenant's message names its own namespaced
    record instead, and theirs stays as it was."""
    theirs = someone_elses_job(job_store, "shared-id-2")
    message = JobMessage(
        version=1, kind=JobKind.TXT2IMG, params=params(prompt="mine"), job_id="shared-id-2"
    )

    result = intake.resolve_missing(batch_delivery(message.to_body()), message)

    assert result.action is Action.RUN
    assert result.record is not None
    assert (result.record.job_id, result.record.owner) == (
        namespaced_job_id(TENANT, "shared-id-2"),
        TENANT,
    )
    after = job_store.get("shared-id-2")
    assert isinstance(after.params, JobParams) and isinstance(theirs.params, JobParams)
    assert (after.owner, after.params.prompt) == (OTHER_OWNER, theirs.params.prompt)


def test_derived_batch_id_of_another_owner_is_dead_lettered(
    intake: MessageIntake, job_store: JobStore
) -> None:
    """The same defence for the id derived from the MessageId (``b-<MessageId>``)."""
    someone_elses_job(job_store, batch_job_id(MESSAGE_ID))
    body = JobMessage(version=1, kind=JobKind.TXT2IMG, params=params(prompt="mine")).to_body()

    result = intake.resolve(batch_delivery(body))

    assert result.action is Action.DEAD_LETTER
    assert job_store.get(batch_job_id(MESSAGE_ID)).owner == OTHER_OWNER


def test_an_invalid_body_naming_another_owners_job_in_the_namespace_leaves_it_queued(
    intake: MessageIntake, job_store: JobStore
) -> None:
    """The rejection's own owner check: the tenant's invalid body names ``shared-id-3``, whose
    namespaced record is another owner's queued job. The body must not fail that job."""
    squatted = namespaced_job_id(TENANT, "shared-id-3")
    someone_elses_job(job_store, squatted)
    invalid = JobMessage(
        version=1, kind=JobKind.TXT2IMG, params=params(prompt="mine"), job_id="shared-id-3"
    ).to_body()
    forged = invalid.replace('"version":1', '"version":99')
    assert forged != invalid

    result = intake.resolve(batch_delivery(forged))

    assert result.action is Action.DEAD_LETTER
    assert result.record is None
    assert result.error is not None and "version" in result.error.message
    after = job_store.get(squatted)
    assert (after.owner, after.status) == (OTHER_OWNER, JobStatus.QUEUED)


def test_the_tenants_own_id_made_for_another_lane_is_dead_lettered(
    intake: MessageIntake, job_store: JobStore
) -> None:
    """The binding's lane check on its own: the tenant owns the record its message names, but
    the record was made for the training lane, so a batch message may not take it."""
    named = namespaced_job_id(TENANT, "row-8")
    job_store.create(
        JobRecord(
            job_id=named,
            owner=TENANT,
            kind=JobKind.TXT2IMG,
            params=params(prompt="trained elsewhere"),
            lane=Lane.TRAINING,
        )
    )
    message = JobMessage(version=1, kind=JobKind.TXT2IMG, params=params(), job_id="row-8")

    result = intake.resolve_missing(batch_delivery(message.to_body()), message)

    assert result.action is Action.DEAD_LETTER and result.record is None
    assert result.error is not None and result.error.code == ErrorCode.FOREIGN_JOB.value
    assert result.error.message == f"job {named!r} was not created for the batch lane"
    assert job_store.get(named).status is JobStatus.QUEUED
