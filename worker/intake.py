"""From an SQS delivery to a job record the worker may claim, or to a clear rejection.

Rules (documented in docs/worker.md; sender keys and namespaces in :mod:`sdfleet.senders`):

* Every message is bound to its sender and lane first. On the interactive and training lanes
  only the ingest API's role (``ingest_sender_id``) may send, and its message must name a record
  created for that lane. On the batch lane the sender must map to a tenant, and the message's
  ``job_id`` J names the record ``<tenant>.J``, claimed only if that tenant owns it and it is a
  batch record.
  Anything else is dead-lettered with a reason and touches no record.
* A body that is not a valid v1 message is rejected. If it names a ``job_id`` whose record (under
  the same rules) is still queued in the same lane, that record is failed with the reason and the
  message is deleted; otherwise the message is moved to the lane's DLQ with the reason attached.
* A message with a ``job_id``: the record is authoritative (owner, kind, params). It is not
  read here: the worker's claim (one conditional write, also conditional on lane and owner)
  returns it, or says it is terminal (the message is deleted) or missing
  (:meth:`MessageIntake.resolve_missing`).
* A batch message without a record: the owner is the tenant mapped from the SQS ``SenderId``;
  the record ``<tenant>.<job_id>``, or ``b-<MessageId>`` when the body names no id (SQS assigns
  MessageIds, so no sender can choose one), is created, so a redelivery finds the same record.
  On the interactive lane a missing record means the user deleted the job: it is dropped.
* A batch message without ``webhook_url`` takes its tenant's default (``tenant_webhook_urls``)
  into the record; the notifier applies the SSRF and allow-list rules to it at every send.
* An unknown batch sender: a failed record ``b-<MessageId>`` under the reserved
  owner ``unknown-sender`` (so a submitter can read why; the body's ``job_id`` is ignored) and
  the message goes to the DLQ, where an operator can redrive it once the sender is mapped.
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

from sdfleet.errors import JobAlreadyExists, JobNotBound, JobNotFound, TransitionRejected
from sdfleet.keys import is_input_of
from sdfleet.messages import JOB_ID_PATTERN, JobMessage, Lane
from sdfleet.records import ErrorCode, JobError, JobRecord, JobStatus, utcnow
from sdfleet.requests import JobKind
from sdfleet.senders import is_ingest_sender, namespaced_job_id, sender_key
from sdfleet.store import check_binding
from sdfleet.training import TrainParams
from sdfleet.validation import describe_validation_error
from worker.errors import UnknownSender
from worker.gateways import JobGateway
from worker.lanes import ReceivedMessage
from worker.tenants import TenantMap, batch_job_id

UNKNOWN_SENDER_OWNER: Final = "unknown-sender"
#: Rejection reasons are stored and logged; keep them readable.
MAX_REASON_CHARS: Final = 1000
_JOB_ID = re.compile(JOB_ID_PATTERN.removeprefix("^").removesuffix("$"))


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
    #: The claim must find a record of this owner (batch: the sender's tenant).
    owner: str | None = None


def _reason(problems: list[str]) -> str:
    text = "; ".join(problems)
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def _sent_at(message: ReceivedMessage) -> datetime:
    if message.sent_timestamp_ms is None:
        return utcnow()
    return datetime.fromtimestamp(message.sent_timestamp_ms / 1000, tz=UTC)


def _refused(code: ErrorCode, message: str) -> Intake:
    return Intake(Action.DEAD_LETTER, error=JobError(code=code.value, message=message))


class MessageIntake:
    def __init__(
        self, store: JobGateway, tenants: TenantMap, *, ingest_sender_id: str | None = None
    ) -> None:
        self._store = store
        self._tenants = tenants
        self._ingest_sender_id = ingest_sender_id

    def resolve(self, message: ReceivedMessage) -> Intake:
        if message.lane.ingest_only and not is_ingest_sender(
            message.sender_id, self._ingest_sender_id
        ):
            return _refused(
                ErrorCode.SENDER_NOT_ALLOWED,
                f"SenderId {message.sender_id!r}: only the ingest API "
                f"(ingest_sender_id) may send to the {message.lane.value} lane",
            )
        try:
            parsed = JobMessage.from_body(message.body)
        except ValidationError as exc:
            return self._reject_body(message, exc)
        if message.lane.ingest_only:
            if parsed.job_id is None:
                return _refused(
                    ErrorCode.INVALID_INPUT,
                    f"job_id: required on the {message.lane.value} lane (the ingest API creates "
                    "the record)",
                )
            return Intake(Action.RUN, job_id=parsed.job_id, parsed=parsed)
        if parsed.job_id is not None:
            try:
                tenant = self._tenants.tenant_for(message.sender_id)
            except UnknownSender:
                return self._batch(message, parsed)
            job_id = namespaced_job_id(tenant, parsed.job_id)
            return Intake(Action.RUN, job_id=job_id, parsed=parsed, owner=tenant)
        return self._batch(message, parsed)

    def resolve_missing(self, message: ReceivedMessage, parsed: JobMessage) -> Intake:
        """The claim found no record for the message's ``job_id``."""
        if message.lane.ingest_only:
            return Intake(Action.DELETE, note="record deleted before the job ran")
        return self._batch(message, parsed)

    # -- valid messages --------------------------------------------------------------------
    def _existing(self, record: JobRecord, parsed: JobMessage) -> Intake:
        if record.status.is_terminal:
            return Intake(Action.DELETE, record=record, note=f"job is {record.status.value}")
        problem = input_problem(record)
        if problem is not None:
            return Intake(Action.DELETE, record=record, error=problem)
        owner = record.owner if record.lane is Lane.BATCH else None
        return Intake(Action.RUN, record=record, job_id=record.job_id, parsed=parsed, owner=owner)

    def _batch(self, message: ReceivedMessage, parsed: JobMessage) -> Intake:
        own_id = batch_job_id(message.message_id)
        try:
            owner = self._tenants.tenant_for(message.sender_id)
        except UnknownSender as exc:
            error = JobError(code=ErrorCode.UNKNOWN_SENDER.value, message=str(exc))
            record = self._create_failed(own_id, UNKNOWN_SENDER_OWNER, parsed, message, error)
            return Intake(Action.DEAD_LETTER, record=record, error=error)
        job_id = namespaced_job_id(owner, parsed.job_id) if parsed.job_id else own_id
        candidate = JobRecord(
            job_id=job_id,
            owner=owner,
            kind=parsed.kind,
            params=parsed.params,
            lane=Lane.BATCH,
            created_at=_sent_at(message),
            client_ref=parsed.client_ref,
            # The record keeps the URL, so all of the job's events go to the same place even if
            # the tenant's default changes meanwhile; the notifier checks it at every send.
            webhook_url=parsed.webhook_url or self._tenants.default_webhook_url(owner),
            sender=sender_key(message.sender_id),
            source_message_id=message.message_id,
        )
        try:
            record = self._store.create(candidate)
        except JobAlreadyExists:
            record = self._store.get(job_id)
            try:
                check_binding(record, lane=Lane.BATCH, owner=owner)
            except JobNotBound as exc:
                return _refused(ErrorCode.FOREIGN_JOB, str(exc))
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
        named = raw.get("job_id") if raw is not None else None
        job_id = self._bound_id(message, named)
        if job_id is not None:
            owner = (
                None if message.lane.ingest_only else self._tenants.tenant_for(message.sender_id)
            )
            try:
                record = self._store.get(job_id)
                check_binding(record, lane=message.lane, owner=owner)
            except (JobNotFound, JobNotBound):
                return Intake(Action.DEAD_LETTER, error=error)
            # Only a record still waiting in this lane: a stray or forged body must not fail a
            # job that another message is running.
            if record.status is JobStatus.QUEUED:
                return Intake(Action.DELETE, record=record, error=error)
        return Intake(Action.DEAD_LETTER, error=error)

    def _bound_id(self, message: ReceivedMessage, named: object) -> str | None:
        """The record an invalid body may speak for: its ``job_id`` in the sender's namespace
        (the interactive lane's sender was checked already); None when there is none."""
        if not isinstance(named, str) or not _JOB_ID.fullmatch(named):
            return None
        if message.lane.ingest_only:
            return named
        try:
            return namespaced_job_id(self._tenants.tenant_for(message.sender_id), named)
        except UnknownSender:
            return None


def _loads(body: str) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def input_problem(record: JobRecord) -> JobError | None:
    """Checks the worker makes before claiming (the ingest API checks them too)."""
    params = record.params
    if isinstance(params, TrainParams):
        # Another user's key fails the job: the owner is the record's, never the body's.
        for index, image in enumerate(params.instance_images):
            if not is_input_of(image, record.owner):
                return JobError(
                    code=ErrorCode.INVALID_INPUT.value,
                    message=f"instance_images[{index}]: {image[:120]!r} is not under the "
                    "owner's inputs/ prefix",
                )
        return None
    if record.kind is JobKind.IMG2IMG:
        key = params.input_key
        if key is None or not is_input_of(key, record.owner):
            return JobError(
                code=ErrorCode.INVALID_INPUT.value,
                message=f"input_key: {key!r} is not under the owner's inputs/ prefix",
            )
    return None
