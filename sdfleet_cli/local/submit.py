"""``sdfleet submit``: JSON Lines of job requests -> v1 messages straight onto a lane.

Each line is one :class:`~sdfleet.requests.JobRequest` (``kind`` plus the parameters). A bad
line is reported with its number and field and skipped; the good lines are still sent.
Messages carry no ``job_id``: the worker names the record ``b-<MessageId>`` by the contract's
:func:`sdfleet.messages.batch_job_id`, so the send result tells us every job's id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from pydantic import ValidationError

from sdfleet.messages import JobMessage, Lane, batch_job_id
from sdfleet.requests import JobRequest
from sdfleet.validation import describe_validation_error

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

#: SQS's limits for one SendMessageBatch call.
SQS_BATCH_MAX_ENTRIES: Final = 10
SQS_BATCH_MAX_BYTES: Final = 262_144
MAX_LINES: Final = 100_000
CLIENT_REF_MAX_CHARS: Final = 256


@dataclass(frozen=True)
class LineProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ParsedLine:
    line: int
    message: JobMessage

    @property
    def body(self) -> str:
        return self.message.to_body()


@dataclass(frozen=True)
class SubmittedJob:
    line: int
    job_id: str
    message_id: str


def parse_lines(
    lines: Iterable[str], lane: Lane, source: str = "jobs"
) -> tuple[list[ParsedLine], list[LineProblem]]:
    """Every non-blank line as a message, or the problems that line has."""
    parsed: list[ParsedLine] = []
    problems: list[LineProblem] = []
    now = datetime.now(UTC)
    for number, text in enumerate(lines, start=1):
        if number > MAX_LINES:
            problems.append(LineProblem(number, f"more than {MAX_LINES} lines; the rest ignored"))
            break
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(number, f"not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(data, dict):
            kind = type(data).__name__
            problems.append(LineProblem(number, f"must be a JSON object, got {kind}"))
            continue
        try:
            request = JobRequest.model_validate(data)
            message = JobMessage(
                version=1,
                kind=request.kind,
                params=request.params(),
                lane=lane,
                submitted_at=now,
                client_ref=f"{source}:{number}"[-CLIENT_REF_MAX_CHARS:],
            )
            message.to_body()
        except ValidationError as exc:
            problems.extend(LineProblem(number, str(p)) for p in describe_validation_error(exc))
            continue
        except ValueError as exc:
            problems.append(LineProblem(number, str(exc)))
            continue
        parsed.append(ParsedLine(number, message))
    return parsed, problems


def _batches(items: Sequence[ParsedLine]) -> Iterable[list[ParsedLine]]:
    batch: list[ParsedLine] = []
    size = 0
    for item in items:
        body_size = len(item.body.encode())
        if batch and (
            len(batch) == SQS_BATCH_MAX_ENTRIES or size + body_size > SQS_BATCH_MAX_BYTES
        ):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += body_size
    if batch:
        yield batch


class BatchSender:
    """SendMessageBatch, 10 at a time; per-entry failures become line problems."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def send(self, items: Sequence[ParsedLine]) -> tuple[list[SubmittedJob], list[LineProblem]]:
        submitted: list[SubmittedJob] = []
        problems: list[LineProblem] = []
        for batch in _batches(items):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(item.line), "MessageBody": item.body} for item in batch
            ]
            response = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            for success in response.get("Successful", []):
                submitted.append(
                    SubmittedJob(
                        line=int(success["Id"]),
                        job_id=batch_job_id(success["MessageId"]),
                        message_id=success["MessageId"],
                    )
                )
            for failure in response.get("Failed", []):
                problems.append(
                    LineProblem(
                        int(failure["Id"]),
                        f"SQS refused the message: {failure.get('Code')}: "
                        f"{failure.get('Message', '')}",
                    )
                )
        submitted.sort(key=lambda job: job.line)
        return submitted, problems
