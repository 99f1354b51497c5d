"""Lambda entry point: the job table's stream and the webhook retry queue, both as batches with
partial failures (Powertools), so one bad record is retried without redoing the whole batch."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from notifier_lambda.notifier import Notifier
from sdfleet.aws import AwsClients
from sdfleet.webhook_settings import NotifierSettings

logger = Logger(service="sdfleet-notifier")


def build_notifier(settings: NotifierSettings, clients: AwsClients) -> Notifier:
    return Notifier(
        settings,
        dynamodb=clients.dynamodb(),
        events=clients.events(),
        sqs=clients.sqs(),
        ssm=clients.ssm(),
    )


@cache
def _notifier() -> Notifier:
    settings = NotifierSettings()
    return build_notifier(settings, AwsClients.from_settings(settings))


def handle(notifier: Notifier, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """One invocation: stream records or retry-queue messages (never mixed)."""
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":

        def on_message(record: SQSRecord) -> None:
            notifier.on_retry_message(record.body)

        return process_partial_response(
            event=event,
            record_handler=on_message,
            processor=BatchProcessor(event_type=EventType.SQS),
            context=context,
        )

    def on_change(record: DynamoDBRecord) -> None:
        notifier.on_stream_record(record.raw_event)

    return process_partial_response(
        event=event,
        record_handler=on_change,
        processor=BatchProcessor(event_type=EventType.DynamoDBStreams),
        context=context,
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return handle(_notifier(), event, context)
