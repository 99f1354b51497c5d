"""Webhook deliveries waiting for their next attempt: messages on an SQS delay queue.

SQS delays a message by at most 15 minutes; a longer wait is taken in hops (the message says
when it is due, and an early arrival is sent back for the rest).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict, Field

from sdfleet.events import JobEvent

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_MAX_DELAY_SECONDS: Final = 900


class PendingDelivery(BaseModel):
    """One event on its way to one URL (the retry queue's message body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: JobEvent
    webhook_url: str
    attempt: int = Field(ge=1, description="The number the next attempt will have.")
    first_attempt_at: datetime
    not_before: float = Field(description="Epoch seconds before which it is not attempted.")


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    delivery: PendingDelivery
    reason: str


class RetryQueue:
    def __init__(self, sqs: SQSClient, queue_url: str, dlq_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._dlq_url = dlq_url

    def schedule(self, delivery: PendingDelivery, now: float) -> None:
        wait = max(0.0, delivery.not_before - now)
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=delivery.model_dump_json(),
            DelaySeconds=min(SQS_MAX_DELAY_SECONDS, math.ceil(wait)),
        )

    def dead_letter(self, delivery: PendingDelivery, reason: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._dlq_url,
            MessageBody=DeadLetter(delivery=delivery, reason=reason).model_dump_json(),
        )
