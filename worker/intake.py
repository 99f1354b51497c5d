"""From an SQS delivery to a job record the worker may claim, or to a clear rejection.

Rules (documented in docs/worker.md):

* A body that is not a valid v1 message is rejected. If it names a ``job_id`` whose record is
  still queued in the same lane, that record is failed with the reason and the message is
  deleted; otherwise the message is moved to the lane's DLQ with the reason attached.
* A message with a ``job_id``: the record is authoritative (owner, kind, params). It is not
  read here: the worker's claim (one conditional write) returns it, or says it is terminal
  (the message is deleted) or missing (:meth:`MessageIntake.resolve_missing`).
* A message without a record (batch): the owner is the tenant mapped from the SQS ``SenderId``;
  the record is created with the message's ``job_id`` or ``b-<MessageId>``, so a redelivery
  finds the same record. On the interactive lane a missing record means the user deleted the
  job: the message is dropped.
* An unknown sender: a failed record under the reserved owner ``unknown-sender`` (so a batch
  submitter can read why by ``b-<MessageId>``) and the message goes to the DLQ, where an
  operator can redrive it once the sender is mapped.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import ValidationError

from sdfleet.errors import JobAlreadyExists, JobNotFound, TransitionRejected
from sdfleet.keys import is_input_of
from sdfleet.messages import JOB_ID_PATTERN, JobMessage, Lane
from sdfleet.records import ErrorCode, JobError, JobRecord, JobStatus, utcnow
from sdfleet.requests import JobKind
from sdfleet.validation import describe_validation_error
from worker.errors import UnknownSender
from worker.gateways import JobGateway
from worker.lanes import ReceivedMessage
from worker.tenants import TenantMap, batch_job_id

UNKNOWN_SENDER_OWNER: Final = "unknown-sender"
#: Rejection reasons are stored and logged; keep them readable.
MAX_REASON_CHARS: Final = 1000
_JOB_ID = re.compile(JOB_ID_PATTERN)


class Action(StrEnum):
    RUN = "run"
    DELETE = "delete"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class Intake:
    """What to do with one delivery."""

    action: Action
    record: JobRecord | None = None
    error: JobError | None = None
    note: str = ""
    job_id: str | None = None
    parsed: JobMessage | None = None


def _reason(problems: list[str]) -> str:
    text = "; ".join(problems)
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def _sent_at(message: ReceivedMessage) -> datetime:
    if message.sent_timestamp_ms is None:
        return utcnow()
    return datetime.fromtimestamp(message.sent_timestamp_ms / 1000, tz=UTC)


class MessageIntake:
    def __init__(self, store: JobGateway, tenants: TenantMap) -> None:
        self._store = store
        self._tenants = tenants

    def resolve(self, message: ReceivedMessage) -> Intake:
        try:
            parsed = JobMessage.from_body(message.body)
        except ValidationError as exc:
            return self._reject_body(message, exc)
        if parsed.job_id is not None:
            return Intake(Action.RUN, job_id=parsed.job_id, parsed=parsed)
        return self._batch(message, parsed)

    def resolve_missing(self, message: ReceivedMessage, parsed: JobMessage) -> Intake:
        """The claim found no record for the message's ``job_id``."""
        if message.lane is Lane.INTERACTIVE:
            return Intake(Action.DELETE, note="record deleted before the job ran")
        return self._batch(message, parsed)

    # -- valid messages --------------------------------------------------------------------
    def _existing(self, record: JobRecord, parsed: JobMessage) -> Intake:
        if record.status.is_terminal:
            return Intake(Action.DELETE, record=record, note=f"job is {record.status.value}")
        problem = input_problem(record)
        if problem is not None:
            return Intake(Action.DELETE, record=record, error=problem)
        return Intake(Action.RUN, record=record, job_id=record.job_id, parsed=parsed)

    def _batch(self, message: ReceivedMessage, parsed: JobMessage) -> Intake:
        job_id = parsed.job_id or batch_job_id(message.message_id)
        try:
            owner = self._tenants.tenant_for(message.sender_id)
        except UnknownSender as exc:
            error = JobError(code=ErrorCode.UNKNOWN_SENDER.value, message=str(exc))
            record = self._create_failed(job_id, UNKNOWN_SENDER_OWNER, parsed, message, error)
            return Intake(Action.DEAD_LETTER, record=record, error=error)
        candidate = JobRecord(
            job_id=job_id,
            owner=owner,
            kind=parsed.kind,
            params=parsed.params,
            lane=message.lane,
            created_at=_sent_at(message),
            client_ref=parsed.client_ref,
        )
        try:
            record = self._store.create(candidate)
        except JobAlreadyExists:
            record = self._store.get(job_id)
            if record.owner != owner:
                error = JobError(
                    code=ErrorCode.INVALID_INPUT.value,
                    message=f"job_id: {job_id!r} belongs to another owner",
                )
                return Intake(Action.DEAD_LETTER, error=error)
        return self._existing(record, parsed)

    def _create_failed(
        self,
        job_id: str,
        owner: str,
        parsed: JobMessage,
        message: ReceivedMessage,
        error: JobError,
    ) -> JobRecord | None:
        record = JobRecord(
            job_id=job_id,
            owner=owner,
            kind=parsed.kind,
            params=parsed.params,
            lane=message.lane,
            created_at=_sent_at(message),
            client_ref=parsed.client_ref,
        )
        with contextlib.suppress(JobAlreadyExists):
            self._store.create(record)
        try:
            return self._store.fail(job_id, error)
        except TransitionRejected:
            return None

    # -- invalid bodies --------------------------------------------------------------------
    def _reject_body(self, message: ReceivedMessage, exc: ValidationError) -> Intake:
        raw = _loads(message.body)
        if raw is None:
            problems = [f"body: not a JSON object (first bytes: {message.body[:40]!r})"]
        else:
            problems = [p.message for p in describe_validation_error(exc)]
        error = JobError(code=ErrorCode.INVALID_INPUT.value, message=_reason(problems))
        job_id = raw.get("job_id") if raw is not None else None
        if isinstance(job_id, str) and _JOB_ID.match(job_id):
            try:
                record = self._store.get(job_id)
            except JobNotFound:
                return Intake(Action.DEAD_LETTER, error=error)
            # Only a record still waiting in this lane: a stray or forged body must not fail a
            # job that another message is running.
            if record.status is JobStatus.QUEUED and record.lane is message.lane:
                return Intake(Action.DELETE, record=record, error=error)
        return Intake(Action.DEAD_LETTER, error=error)


def _loads(body: str) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def input_problem(record: JobRecord) -> JobError | None:
    """Checks the worker makes before claiming (the ingest API checks them too)."""
    if record.kind is JobKind.IMG2IMG:
        key = record.params.input_key
        if key is None or not is_input_of(key, record.owner):
            return JobError(
                code=ErrorCode.INVALID_INPUT.value,
                message=f"input_key: {key!r} is not under the owner's inputs/ prefix",
            )
    return None
