"""Receiving from the lanes: interactive, then training, then batch.

One poll is: interactive with WaitTimeSeconds=0, then training, then batch (each with
WaitTimeSeconds=0), and only when all are empty a long poll (``wait_time_seconds``, 20 s in
production) on the interactive lane. So a web job never waits behind a batch backlog or a
training (a busy worker looks at interactive before every other receive), and an idle worker
wakes as soon as a web job arrives. The price: when the whole fleet is idle, the first
training or batch job may wait up to one long poll (20 s).

A training occupies its worker for its whole run (minutes), so the training lane is received
one message at a time: a second training held behind the first would wait for it although
another worker could start it now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sdfleet.messages import Lane

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

#: SQS allows at most 10 messages per receive.
SQS_MAX_MESSAGES: Final = 10
#: At most this many messages per receive, by lane (others: up to ``max_messages``).
LANE_RECEIVE_LIMITS: Final = {Lane.TRAINING: 1}


@dataclass(frozen=True)
class ReceivedMessage:
    """One SQS delivery with the system attributes the worker needs."""

    lane: Lane
    queue_url: str
    message_id: str
    receipt_handle: str
    body: str
    sender_id: str | None
    receive_count: int
    sent_timestamp_ms: int | None
    #: ``MessageGroupId``: the fairness key the ingest API sets (sdfleet/fairness.py).
    group_id: str | None = None

    @classmethod
    def from_sqs(cls, lane: Lane, queue_url: str, message: MessageTypeDef) -> ReceivedMessage:
        attributes = message.get("Attributes", {})
        sent = attributes.get("SentTimestamp")
        return cls(
            lane=lane,
            queue_url=queue_url,
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message.get("Body", ""),
            sender_id=attributes.get("SenderId"),
            receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
            sent_timestamp_ms=int(sent) if sent else None,
            group_id=attributes.get("MessageGroupId"),
        )


class LanePoller:
    """Receives up to ``max_messages`` from the first lane that has any."""

    def __init__(
        self,
        sqs: SQSClient,
        lanes: Sequence[tuple[Lane, str]],
        *,
        wait_time_seconds: int,
        max_messages: int,
        visibility_timeout_seconds: int,
        lane_visibility: Mapping[Lane, int] | None = None,
    ) -> None:
        if not lanes:
            raise ValueError("lanes: at least one (lane, queue URL) is required")
        self._sqs = sqs
        self._lanes = list(lanes)
        self._wait = wait_time_seconds
        self._max = max(1, min(max_messages, SQS_MAX_MESSAGES))
        self._visibility = visibility_timeout_seconds
        self._lane_visibility = dict(lane_visibility or {})

    @property
    def lanes(self) -> list[tuple[Lane, str]]:
        """The lanes in the order they are tried (interactive first)."""
        return list(self._lanes)

    @property
    def max_messages(self) -> int:
        return self._max

    @property
    def wait_time_seconds(self) -> int:
        return self._wait

    def receive(self, lane: Lane, url: str, wait: int, limit: int) -> list[ReceivedMessage]:
        """One ReceiveMessage call on one lane (``limit`` is capped at SQS's 10)."""
        return self._receive(lane, url, wait, max(1, min(limit, SQS_MAX_MESSAGES)))

    def _receive(self, lane: Lane, url: str, wait: int, limit: int) -> list[ReceivedMessage]:
        response = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(limit, LANE_RECEIVE_LIMITS.get(lane, limit)),
            WaitTimeSeconds=wait,
            VisibilityTimeout=self._lane_visibility.get(lane, self._visibility),
            MessageSystemAttributeNames=["All"],
        )
        return [ReceivedMessage.from_sqs(lane, url, m) for m in response.get("Messages", [])]

    def poll(self, *, long_poll: bool = True, limit: int | None = None) -> list[ReceivedMessage]:
        """Messages from the highest-priority non-empty lane (possibly none)."""
        count = self._max if limit is None else max(1, min(limit, self._max))
        for lane, url in self._lanes:
            messages = self._receive(lane, url, 0, count)
            if messages:
                return messages
        if not long_poll or self._wait == 0:
            return []
        lane, url = self._lanes[0]
        return self._receive(lane, url, self._wait, count)
