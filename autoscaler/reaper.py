"""Fails the records of jobs whose messages reached a dead-letter queue.

A worker fails a job itself on the last delivery it sees. What it cannot do is speak after
being killed (kill -9, a lost instance) during that last delivery: SQS then moves the message
to the DLQ while the record still reads ``running``. The scaler runs every minute anyway, so
it also reads a few messages of each DLQ and fails their records. The store's worker-less
``fail`` only moves a queued job or one whose lease has expired, so a live worker is never
failed behind its back, and a finished job is left alone. Messages stay in the DLQ for an
operator to inspect or redrive; they are read with a short visibility timeout.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sdfleet.errors import JobNotFound, TransitionRejected
from sdfleet.messages import Lane, batch_job_id
from sdfleet.records import ErrorCode, JobError
from sdfleet.store import JobStore

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: Messages read per DLQ per invocation; the rest wait for the next minute.
MAX_MESSAGES_PER_QUEUE: Final = 50
#: How long a read DLQ message stays hidden (short, so operators see it again soon).
READ_VISIBILITY_SECONDS: Final = 30
_SQS_BATCH: Final = 10


@dataclass
class ReapResult:
    seen: int = 0
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "failed": list(self.failed)}


def job_id_of(message: Mapping[str, Any]) -> str:
    """The message's ``job_id``, or the id a worker derives for a batch message."""
    with contextlib.suppress(ValueError, TypeError):
        body = json.loads(message.get("Body", ""))
        if isinstance(body, dict) and isinstance(body.get("job_id"), str):
            return str(body["job_id"])
    return batch_job_id(str(message["MessageId"]))


class DeadLetterReaper:
    def __init__(self, sqs: SQSClient, store: JobStore, dlq_urls: Mapping[Lane, str]) -> None:
        self._sqs = sqs
        self._store = store
        self._dlq_urls = dict(dlq_urls)

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
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                ).get("Messages", [])
                if not messages:
                    break
                read += len(messages)
                for message in messages:
                    result.seen += 1
                    job_id = job_id_of(message)
                    if self._fail(job_id, lane, now):
                        result.failed.append(job_id)
        return result

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
