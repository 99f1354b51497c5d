"""The worker's edges to SQS and DynamoDB, as protocols the stages are written against.

:class:`SqsGateway` is the thin boto3 wrapper the daemon uses (covered by the emulator tests);
:class:`sdfleet.store.JobStore` is the DynamoDB one and satisfies :class:`JobGateway` as it
is. Unit tests of the stages pass in-memory fakes of these protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sdfleet.messages import Lane
from sdfleet.records import JobError, JobRecord
from worker.lanes import ReceivedMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class JobGateway(Protocol):
    """The job-record calls the worker makes; each is one conditional DynamoDB write/read."""

    def get(self, job_id: str) -> JobRecord: ...

    def create(self, record: JobRecord) -> JobRecord: ...

    def claim(
        self,
        job_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        lane: Lane | None = None,
        owner: str | None = None,
    ) -> JobRecord: ...

    def renew_lease(
        self,
        job_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        progress_step: int | None = None,
        progress_total: int | None = None,
        progress_loss: float | None = None,
        progress_eta_seconds: float | None = None,
    ) -> JobRecord: ...

    def finish(
        self,
        job_id: str,
        worker_id: str,
        outputs: list[str],
        seeds: list[int],
        *,
        attention_backend: str | None = None,
        attention_reason: str | None = None,
        queue_wait_seconds: float | None = None,
        model_seconds: float | None = None,
        total_seconds: float | None = None,
        loss_curve: list[float] | None = None,
        adapter_id: str | None = None,
    ) -> JobRecord: ...

    def fail(self, job_id: str, error: JobError, *, worker_id: str | None = None) -> JobRecord: ...

    def mark_cancelled(self, job_id: str, worker_id: str) -> JobRecord: ...

    def deletion_requested_at(self, owner: str) -> datetime | None: ...


class QueueGateway(Protocol):
    """The SQS calls made about messages already received."""

    def delete(self, message: ReceivedMessage) -> None: ...

    def change_visibility(self, message: ReceivedMessage, seconds: int) -> None: ...

    def change_visibility_batch(
        self, queue_url: str, messages: Sequence[ReceivedMessage], seconds: int
    ) -> list[str]:
        """Returns a description of each entry SQS refused."""
        ...

    def send_dead_letter(self, dlq_url: str, message: ReceivedMessage, error: JobError) -> None:
        """Copies ``message`` to ``dlq_url`` with the reason as message attributes."""
        ...


class SqsGateway:
    """:class:`QueueGateway` over a boto3 SQS client."""

    def __init__(self, sqs: SQSClient) -> None:
        self._sqs = sqs

    def delete(self, message: ReceivedMessage) -> None:
        self._sqs.delete_message(QueueUrl=message.queue_url, ReceiptHandle=message.receipt_handle)

    def change_visibility(self, message: ReceivedMessage, seconds: int) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=message.queue_url,
            ReceiptHandle=message.receipt_handle,
            VisibilityTimeout=seconds,
        )

    def change_visibility_batch(
        self, queue_url: str, messages: Sequence[ReceivedMessage], seconds: int
    ) -> list[str]:
        response = self._sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": seconds}
                for i, m in enumerate(messages)
            ],
        )
        return [str(failure) for failure in response.get("Failed", [])]

    def send_dead_letter(self, dlq_url: str, message: ReceivedMessage, error: JobError) -> None:
        self._sqs.send_message(
            QueueUrl=dlq_url,
            MessageBody=message.body or "(empty)",
            MessageAttributes={
                "sdfleet-error-code": {"DataType": "String", "StringValue": error.code},
                "sdfleet-error": {"DataType": "String", "StringValue": error.message},
                "sdfleet-source-message-id": {
                    "DataType": "String",
                    "StringValue": message.message_id,
                },
                "sdfleet-sender-id": {
                    "DataType": "String",
                    "StringValue": message.sender_id or "unknown",
                },
            },
        )
