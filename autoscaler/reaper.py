"""Fails the records of jobs whose messages reached a dead-letter queue.

A worker fails a job itself on the last delivery it sees. What it cannot do is speak after
being killed (kill -9, a lost instance) during that last delivery: SQS then moves the message
to the DLQ while the record still reads ``running``. The scaler runs every minute anyway, so
it also reads a few messages of each DLQ and fails their records. The store's worker-less
``fail`` only moves a queued job or one whose lease has expired, so a live worker is never
failed behind its back, and a finished job is left alone. Messages stay in the DLQ for an
operator to inspect or redrive; they are read with a short visibility timeout.

A dead-lettered message fails a record only under the worker's own binding rules
(:mod:`sdfleet.senders`), read from the SQS ``SenderId``, never from the body or from message
attributes:

* interactive and training DLQs: the sender is the ingest API (``ingest_sender_id``) and the
  record the body names was created for that lane;
* batch DLQ: the record is the one this very message created (found by its MessageId, which a
  move to the DLQ keeps) and the record's stored sender key is the message's. The scaler has no
  tenant map, so a batch message naming a record another message created is left alone.

Copies the worker dead-lettered itself (they carry ``sdfleet-error-code``) were settled by the
worker and are skipped; a forged attribute can only make the reaper skip, never act.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sdfleet.errors import JobNotFound, TransitionRejected
from sdfleet.messages import JOB_ID_PATTERN, Lane
from sdfleet.records import ErrorCode, JobError, JobRecord
from sdfleet.senders import is_ingest_sender, sender_key
from sdfleet.store import JobStore

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: Messages read per DLQ per invocation; the rest wait for the next minute.
MAX_MESSAGES_PER_QUEUE: Final = 50
#: How long a read DLQ message stays hidden (short, so operators see it again soon).
READ_VISIBILITY_SECONDS: Final = 30
#: Set by the worker on the copies it dead-letters (worker.gateways.SqsGateway).
WORKER_COPY_ATTRIBUTE: Final = "sdfleet-error-code"
_SQS_BATCH: Final = 10
_JOB_ID = re.compile(JOB_ID_PATTERN.removeprefix("^").removesuffix("$"))


@dataclass
class ReapResult:
    seen: int = 0
    failed: list[str] = field(default_factory=list)
    #: message id -> why its record (if any) was left alone.
    refused: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "failed": list(self.failed)}


def job_id_of(message: Mapping[str, Any]) -> str | None:
    """The body's ``job_id`` when it is a well-formed one, else None."""
    with contextlib.suppress(ValueError, TypeError):
        body = json.loads(message.get("Body", ""))
        if isinstance(body, dict):
            job_id = body.get("job_id")
            if isinstance(job_id, str) and _JOB_ID.fullmatch(job_id):
                return job_id
    return None


class DeadLetterReaper:
    def __init__(
        self,
        sqs: SQSClient,
        store: JobStore,
        dlq_urls: Mapping[Lane, str],
        *,
        ingest_sender_id: str | None = None,
    ) -> None:
        self._sqs = sqs
        self._store = store
        self._dlq_urls = dict(dlq_urls)
        self._ingest_sender_id = ingest_sender_id

    def reap(self, now: datetime | None = None) -> ReapResult:
        result = ReapResult()
        for lane, url in self._dlq_urls.items():
            read = 0
            while read < MAX_MESSAGES_PER_QUEUE:
                messages = self._sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(_SQS_BATCH, MAX_MESSAGES_PER_QUEUE - read),
                    VisibilityTimeout=READ_VISIBILITY_SECONDS,
                    WaitTimeSeconds=0,
                    MessageSystemAttributeNames=["ApproximateReceiveCount", "SenderId"],
                    MessageAttributeNames=[WORKER_COPY_ATTRIBUTE],
                ).get("Messages", [])
                if not messages:
                    break
                read += len(messages)
                for message in messages:
                    result.seen += 1
                    record, refusal = self.bound_record(Lane(lane), message)
                    if record is None:
                        result.refused[str(message.get("MessageId"))] = refusal
                    elif self._fail(record.job_id, lane, now):
                        result.failed.append(record.job_id)
        return result

    def bound_record(self, lane: Lane, message: Mapping[str, Any]) -> tuple[JobRecord | None, str]:
        """The record this dead-lettered message may fail, or None and the reason why not."""
        if WORKER_COPY_ATTRIBUTE in message.get("MessageAttributes", {}):
            return None, "settled by the worker that dead-lettered it"
        sender = message.get("Attributes", {}).get("SenderId")
        try:
            if lane.ingest_only:
                if not is_ingest_sender(sender, self._ingest_sender_id):
                    return None, f"SenderId {sender!r} is not the ingest API"
                job_id = job_id_of(message)
                if job_id is None:
                    return None, "no valid job_id in the body"
                record = self._store.get(job_id)
            else:
                found = self._store.find_by_source_message(str(message["MessageId"]))
                if found is None:
                    return None, "no batch record was created by this message"
                record = found
                if record.sender is None or record.sender != sender_key(sender):
                    return None, f"SenderId {sender!r} did not create {record.job_id!r}"
        except JobNotFound:
            return None, "no such record"
        if record.lane is not lane:
            return None, f"record {record.job_id!r} was not created for the {lane.value} lane"
        return record, ""

    def _fail(self, job_id: str, lane: str, now: datetime | None) -> bool:
        error = JobError(
            code=ErrorCode.RETRIES_EXHAUSTED.value,
            message="the job's message was delivered the maximum number of times without "
            f"completing and is now in the {lane} dead-letter queue",
        )
        try:
            self._store.fail(job_id, error, now=now)
        except (JobNotFound, TransitionRejected):
            return False  # gone, finished, or a live worker still holds it
        return True
