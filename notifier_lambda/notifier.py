"""From a job table write to an EventBridge event and a signed webhook delivery.

A stream record whose status changed is a transition: it is published, then its webhook (if the
job has one) gets its first attempt at once. A failed attempt that may succeed later (timeout,
connection error, 5xx, 429) is scheduled on the retry queue; other outcomes settle the event.
One job's webhooks go out in order: an event waits until the job's previous one has settled.
Every attempt is appended to the job record. Anything raised makes the stream (or the retry
queue) deliver the record again: at least once, never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger

from notifier_lambda.attempts import record_attempt
from notifier_lambda.backoff import retry_delay
from notifier_lambda.http_delivery import HttpResult, post
from notifier_lambda.publisher import EventPublisher
from notifier_lambda.retry_queue import PendingDelivery, RetryQueue
from sdfleet.errors import JobNotFound
from sdfleet.events import JobEvent, event_id, transition_event
from sdfleet.records import JobRecord
from sdfleet.store import JobStore, item_to_record
from sdfleet.webhook_attempts import AttemptOutcome, WebhookAttempt
from sdfleet.webhook_secrets import WebhookSecrets
from sdfleet.webhook_settings import NotifierSettings
from sdfleet.webhook_signing import signed_headers
from sdfleet.webhook_urls import Resolver, WebhookUrlRefused, check_webhook_url, resolve_host

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

logger = Logger(service="sdfleet-notifier", child=True)

#: A rotated secret is used from at most this long after the rotation.
SECRET_CACHE_SECONDS: Final = 60.0
#: How long an event waits before looking again whether the job's previous one has settled.
HOLD_SECONDS_MIN: Final = 1.0
HOLD_SECONDS_MAX: Final = 60.0
_USER_ITEM_PREFIX: Final = "user#"

Post = Callable[..., HttpResult]


def images(raw: dict[str, Any]) -> tuple[JobRecord | None, JobRecord | None]:
    """(old, new) job records of a DynamoDB stream record; None where absent or not a job."""
    change = raw.get("dynamodb", {})

    def parse(image: dict[str, Any] | None) -> JobRecord | None:
        if not image or "owner" not in image or "status" not in image:
            return None  # per-user counter items and the like share the table
        if image.get("job_id", {}).get("S", "").startswith(_USER_ITEM_PREFIX):
            return None
        return item_to_record(image)

    return parse(change.get("OldImage")), parse(change.get("NewImage"))


class Notifier:
    def __init__(
        self,
        settings: NotifierSettings,
        *,
        dynamodb: DynamoDBClient,
        events: EventBridgeClient,
        sqs: SQSClient,
        ssm: SSMClient,
        resolve: Resolver = resolve_host,
        send: Post = post,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._dynamodb = dynamodb
        self._jobs = JobStore(dynamodb, settings.jobs_table)
        self._publisher = EventPublisher(events, settings.event_bus_name)
        self._retries = RetryQueue(sqs, settings.webhook_retry_queue_url, settings.webhook_dlq_url)
        self._secrets = WebhookSecrets(ssm, settings.webhook_secrets_path)
        self._secret_cache: dict[str, tuple[float, str]] = {}
        self._resolve = resolve
        self._send = send
        self._clock = clock

    # -- entry points ----------------------------------------------------------------------
    def on_stream_record(self, raw: dict[str, Any]) -> JobEvent | None:
        if raw.get("eventName") == "REMOVE":
            return None
        old, new = images(raw)
        if new is None:
            return None
        event = transition_event(old, new)
        if event is None:
            return None
        self._publisher.publish(event)
        logger.info("published", extra={"event_id": event.id, "type": event.type})
        if new.webhook_url:
            now = self._clock()
            self.deliver(
                PendingDelivery(
                    event=event,
                    webhook_url=new.webhook_url,
                    attempt=1,
                    first_attempt_at=datetime.fromtimestamp(now, UTC),
                    not_before=now,
                )
            )
        return event

    def on_retry_message(self, body: str) -> None:
        delivery = PendingDelivery.model_validate_json(body)
        if delivery.not_before > self._clock() + 1:
            self._retries.schedule(delivery, self._clock())  # an SQS hop of a longer wait
            return
        self.deliver(delivery)

    # -- delivery --------------------------------------------------------------------------
    def deliver(self, delivery: PendingDelivery) -> None:
        event = delivery.event
        now = self._clock()
        deadline = (
            delivery.first_attempt_at.timestamp() + self._settings.webhook_delivery_window_seconds
        )
        if self._waits_for_previous(event):
            hold = min(
                HOLD_SECONDS_MAX, max(HOLD_SECONDS_MIN, self._settings.webhook_retry_base_seconds)
            )
            if now + hold > deadline:
                self._give_up(delivery, "the job's previous event never settled")
                return
            self._retries.schedule(delivery.model_copy(update={"not_before": now + hold}), now)
            return
        try:
            checked = check_webhook_url(
                delivery.webhook_url, self._settings.policy_for(event.owner), self._resolve
            )
        except WebhookUrlRefused as exc:
            self._record(delivery, AttemptOutcome.REFUSED, detail=str(exc))
            return
        body = event.to_body()
        headers = signed_headers(self._secret(event.owner), event.id, body, now=now)
        result = self._send(checked, body, headers, self._settings.webhook_timeout_seconds)
        outcome = classify(result)
        if outcome is AttemptOutcome.RETRYING:
            delay = retry_delay(
                delivery.attempt,
                self._settings.webhook_retry_base_seconds,
                result.retry_after_seconds,
            )
            if now + delay > deadline:
                self._record(delivery, AttemptOutcome.GAVE_UP, result)
                self._give_up(
                    delivery, f"still failing after {delivery.attempt} attempts: {_reason(result)}"
                )
                return
            self._record(delivery, outcome, result)
            self._retries.schedule(
                delivery.model_copy(
                    update={"attempt": delivery.attempt + 1, "not_before": now + delay}
                ),
                now,
            )
            return
        self._record(delivery, outcome, result)

    def _waits_for_previous(self, event: JobEvent) -> bool:
        if event.previous_status is None:
            return False
        previous = event_id(event.job_id, event.previous_status)
        try:
            record = self._jobs.get(event.job_id)
        except JobNotFound:
            return False  # deleted: nothing left to order against
        settled = {a.event_id for a in record.webhook_attempts if a.outcome.settles}
        return previous not in settled

    def _give_up(self, delivery: PendingDelivery, reason: str) -> None:
        logger.warning(
            "webhook dead-lettered", extra={"event_id": delivery.event.id, "reason": reason}
        )
        self._retries.dead_letter(delivery, reason)

    def _record(
        self,
        delivery: PendingDelivery,
        outcome: AttemptOutcome,
        result: HttpResult | None = None,
        detail: str | None = None,
    ) -> None:
        attempt = WebhookAttempt(
            event_id=delivery.event.id,
            event_type=delivery.event.type,
            attempt=delivery.attempt,
            at=datetime.fromtimestamp(self._clock(), UTC),
            outcome=outcome,
            status_code=result.status_code if result else None,
            latency_ms=round(result.latency_ms, 1) if result else None,
            detail=detail or (result.error if result else None),
        )
        record_attempt(self._dynamodb, self._settings.jobs_table, delivery.event.job_id, attempt)

    def _secret(self, owner: str) -> str:
        now = self._clock()
        cached = self._secret_cache.get(owner)
        if cached is None or now - cached[0] > SECRET_CACHE_SECONDS:
            cached = (now, self._secrets.get_or_create(owner))
            self._secret_cache[owner] = cached
        return cached[1]


def classify(result: HttpResult) -> AttemptOutcome:
    code = result.status_code
    if code is None or code == 429 or code >= 500:
        return AttemptOutcome.RETRYING
    if 200 <= code < 300:
        return AttemptOutcome.DELIVERED
    if 300 <= code < 400:
        return AttemptOutcome.REDIRECT_REFUSED
    return AttemptOutcome.REJECTED


def _reason(result: HttpResult) -> str:
    return result.error or f"HTTP {result.status_code}"
