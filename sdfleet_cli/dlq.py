"""``sdfleet dlq show`` and ``sdfleet dlq redrive``: inspect a lane's dead-letter queue, and
send its batch jobs through the lane again.

``show`` receives with a short visibility and makes every message visible again at once, so it
moves nothing (the scaler's reaper reads the same queues the same way).

``redrive`` sends each message's body to the batch lane as a new message and deletes the
dead-lettered one only after the new one is accepted, so a failure in between duplicates a
job rather than losing it. The new message's ``SenderId`` is the caller's: run it with the
submitter's role (the tenant the jobs belong to, ``sender_tenants``) and each job gets a new
id, ``b-<new MessageId>``. The interactive lane honours only the ingest API's role, so its
dead letters are inspected, never redriven: their users resubmit from the web app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sdfleet.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: Seconds a message ``show`` received stays hidden if the command dies before releasing it.
PEEK_VISIBILITY_SECONDS: Final = 30
#: While ``redrive`` sends a message's copy (then deletes the message).
REDRIVE_VISIBILITY_SECONDS: Final = 120
SQS_MAX_MESSAGES: Final = 10
#: Attributes the worker adds when it dead-letters a message itself (worker/gateways.py).
WORKER_ATTRIBUTES: Final = (
    "sdfleet-error-code",
    "sdfleet-error",
    "sdfleet-source-message-id",
    "sdfleet-sender-id",
)
BODY_EXCERPT_CHARS: Final = 120


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    sender_id: str
    receive_count: int
    sent_at_ms: int
    #: Set when the worker moved it (an unrunnable message); empty when SQS moved it after
    #: the lane's maxReceiveCount deliveries.
    error_code: str
    error: str
    source_message_id: str
    original_sender_id: str
    body: str

    @property
    def body_excerpt(self) -> str:
        flat = " ".join(self.body.split())
        return flat if len(flat) <= BODY_EXCERPT_CHARS else flat[: BODY_EXCERPT_CHARS - 1] + "…"


@dataclass(frozen=True)
class Redriven:
    old_message_id: str
    new_message_id: str

    @property
    def job_id(self) -> str:
        """The record the worker creates for it (a batch message without a ``job_id``)."""
        return f"b-{self.new_message_id}"


def _attribute(message: Any, name: str) -> str:
    value = message.get("MessageAttributes", {}).get(name, {})
    return str(value.get("StringValue", ""))


def _dead_letter(message: Any) -> DeadLetter:
    system = message.get("Attributes", {})
    return DeadLetter(
        message_id=message["MessageId"],
        sender_id=system.get("SenderId", ""),
        receive_count=int(system.get("ApproximateReceiveCount", 0)),
        sent_at_ms=int(system.get("SentTimestamp", 0)),
        error_code=_attribute(message, "sdfleet-error-code"),
        error=_attribute(message, "sdfleet-error"),
        source_message_id=_attribute(message, "sdfleet-source-message-id"),
        original_sender_id=_attribute(message, "sdfleet-sender-id"),
        body=message.get("Body", ""),
    )


class DeadLetterQueue:
    """One lane's DLQ, and the lane its messages came from."""

    def __init__(self, sqs: SQSClient, dlq_url: str, lane_url: str, lane: str) -> None:
        self._sqs = sqs
        self._dlq_url = dlq_url
        self._lane_url = lane_url
        self._lane = lane

    def _receive(self, count: int, visibility: int) -> list[Any]:
        response = self._sqs.receive_message(
            QueueUrl=self._dlq_url,
            MaxNumberOfMessages=min(SQS_MAX_MESSAGES, count),
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def show(self, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` dead letters, each made visible again at once."""
        seen: dict[str, DeadLetter] = {}
        held: list[Any] = []
        try:
            while len(seen) < limit:
                batch = self._receive(limit - len(seen), PEEK_VISIBILITY_SECONDS)
                if not batch:
                    break
                held.extend(batch)
                for message in batch:
                    seen.setdefault(message["MessageId"], _dead_letter(message))
        finally:
            for message in held:
                self._sqs.change_message_visibility(
                    QueueUrl=self._dlq_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
        return list(seen.values())

    def redrive(self, limit: int) -> list[Redriven]:
        """Sends up to ``limit`` dead letters' bodies to the batch lane, then deletes them."""
        if self._lane != "batch":
            raise ConfigurationError(
                f"dlq redrive: the {self._lane} lane honours only the ingest API's role, so its "
                "dead letters cannot be sent again from here; inspect them with `sdfleet dlq "
                "show`, and their users resubmit from the web app"
            )
        moved: list[Redriven] = []
        while len(moved) < limit:
            batch = self._receive(limit - len(moved), REDRIVE_VISIBILITY_SECONDS)
            if not batch:
                break
            for message in batch:
                kept = {
                    name: value
                    for name, value in message.get("MessageAttributes", {}).items()
                    if name not in WORKER_ATTRIBUTES
                }
                request: dict[str, Any] = {
                    "QueueUrl": self._lane_url,
                    "MessageBody": message["Body"],
                }
                if kept:
                    request["MessageAttributes"] = kept
                sent = self._sqs.send_message(**request)
                self._sqs.delete_message(
                    QueueUrl=self._dlq_url, ReceiptHandle=message["ReceiptHandle"]
                )
                moved.append(Redriven(message["MessageId"], sent["MessageId"]))
        return moved
