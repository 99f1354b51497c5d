"""The notifier against the emulator: a streamed jobs table, a bus, the retry queue and its
DLQ, a loopback receiver, and the local poller driving the real handler."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from notifier_lambda.handler import handle
from notifier_lambda.notifier import Notifier
from sdfleet.aws import AwsClients
from sdfleet.records import JobRecord
from sdfleet.requests import JobKind, JobParams
from sdfleet.store import JobStore
from sdfleet.webhook_secrets import WebhookSecrets
from sdfleet.webhook_settings import NotifierSettings
from sdfleet_cli.local.stream_poller import StreamPoller
from tests.conftest import FleetResources
from tests.integration.notifier.receiver import Receiver
from tests.support.aws_resources import unique
from tests.support.polling import wait_until

OWNER = "tenant-events"


@dataclass
class EventsStack:
    fleet: FleetResources
    settings: NotifierSettings
    bus_tap_url: str
    secrets: WebhookSecrets

    @property
    def clients(self) -> AwsClients:
        return self.fleet.clients

    @property
    def store(self) -> JobStore:
        return self.fleet.job_store()

    def settings_with(self, **changes: Any) -> NotifierSettings:
        return self.settings.model_copy(update=changes)

    def notifier(self, settings: NotifierSettings | None = None, **kwargs: Any) -> Notifier:
        c = self.clients
        return Notifier(
            settings or self.settings,
            dynamodb=c.dynamodb(),
            events=c.events(),
            sqs=c.sqs(),
            ssm=c.ssm(),
            **kwargs,
        )

    def poller(self, notifier: Notifier) -> StreamPoller:
        c = self.clients
        return StreamPoller(
            lambda event, context: handle(notifier, event, context),
            dynamodb=c.dynamodb(),
            streams=c.dynamodbstreams(),
            sqs=c.sqs(),
            table=self.fleet.jobs_table,
            retry_queue_url=self.settings.webhook_retry_queue_url,
            region=c.region,
        )

    def new_job(self, webhook_url: str | None, job_id: str | None = None) -> JobRecord:
        return self.store.create(
            JobRecord(
                job_id=job_id or unique("job"),
                owner=OWNER,
                kind=JobKind.TXT2IMG,
                params=JobParams(prompt="a lighthouse", steps=2),
                webhook_url=webhook_url,
            )
        )

    def bus_events(self) -> list[dict[str, Any]]:
        """Everything the bus routed to the tap queue (a rule matching source sdfleet.jobs)."""
        import json

        sqs = self.clients.sqs()
        seen: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.bus_tap_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return seen
            for message in batch:
                seen.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.bus_tap_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def dead_letters(self) -> list[dict[str, Any]]:
        import json

        messages = (
            self.clients.sqs()
            .receive_message(
                QueueUrl=self.settings.webhook_dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            .get("Messages", [])
        )
        return [json.loads(m["Body"]) for m in messages]


def enable_stream(clients: AwsClients, table: str) -> str:
    described = clients.dynamodb().update_table(
        TableName=table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return described["TableDescription"]["LatestStreamArn"]


def new_events_stack(fleet: FleetResources) -> EventsStack:
    clients = fleet.clients
    enable_stream(clients, fleet.jobs_table)
    prefix = unique("ev")
    sqs = clients.sqs()
    dlq = sqs.create_queue(QueueName=f"{prefix}-webhook-dlq")["QueueUrl"]
    retry = sqs.create_queue(QueueName=f"{prefix}-webhook-retry")["QueueUrl"]
    tap = sqs.create_queue(QueueName=f"{prefix}-tap")["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = clients.events()
    bus = f"{prefix}-bus"
    events.create_event_bus(Name=bus)
    events.put_rule(
        Name=f"{prefix}-all", EventBusName=bus, EventPattern='{"source": ["sdfleet.jobs"]}'
    )
    events.put_targets(
        Rule=f"{prefix}-all", EventBusName=bus, Targets=[{"Id": "tap", "Arn": tap_arn}]
    )
    settings = NotifierSettings(
        aws_endpoint_url=clients.endpoint_url,
        aws_region=clients.region,
        jobs_table=fleet.jobs_table,
        event_bus_name=bus,
        webhook_retry_queue_url=retry,
        webhook_dlq_url=dlq,
        webhook_secrets_path=f"/{prefix}/webhook-secrets/",
        webhook_allow_http=True,
        webhook_allow_loopback=True,
        webhook_retry_base_seconds=0.0,
        webhook_timeout_seconds=5.0,
    )
    return EventsStack(
        fleet=fleet,
        settings=settings,
        bus_tap_url=tap,
        secrets=WebhookSecrets(clients.ssm(), settings.webhook_secrets_path),
    )


@pytest.fixture()
def stack(fleet: FleetResources) -> EventsStack:
    return new_events_stack(fleet)


@pytest.fixture()
def receiver(stack: EventsStack) -> Iterator[Receiver]:
    served = Receiver(secret_for=stack.secrets.get_or_create)
    yield served
    served.close()


def drain(poller: StreamPoller, done: Any, timeout: float = 60.0, what: str = "deliveries") -> None:
    def step() -> Any:
        poller.poll_once()
        return done()

    wait_until(step, timeout, what, interval=0.05)
