"""Ingest API fixtures: the app built against the emulator's per-test resources."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from ingest_lambda.app import build_app
from sdfleet.aws import AwsClients
from sdfleet.deletion import Deletion, DeletionStore, IdempotencyRows, UserDataPurger
from sdfleet.keys import inputs_prefix
from sdfleet.records import utcnow
from sdfleet.settings import IngestSettings
from sdfleet.store import USER_ITEM_PREFIX, JobStore
from tests.conftest import FleetResources, new_fleet
from tests.fixtures.apigw.events import FakeLambdaContext
from tests.support.aws_resources import (
    create_idempotency_table,
    unique,
)

USER_A = "7d3b4a52-0c31-4f0e-9c5e-2b1f6d8a9e10"
USER_B = "c0ffee00-1111-4222-8333-944455566677"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and "error" in self.body, self.body
        error: dict[str, Any] = self.body["error"]
        return error


@dataclass(frozen=True)
class State:
    """Everything the API can write: compared before and after a refused request."""

    jobs: list[dict[str, Any]]
    #: The per-user items (active-job counter, deletion state) of the same table.
    users: list[dict[str, Any]]
    idempotency: list[dict[str, Any]]
    objects: list[str]
    messages: dict[str, int]


class IngestApi:
    def __init__(
        self, fleet: FleetResources, settings: IngestSettings, delete_batch_size: int = 1000
    ) -> None:
        self.fleet = fleet
        self.settings = settings
        self.clients: AwsClients = fleet.clients
        self.app: APIGatewayHttpResolver = build_app(settings, fleet.clients, delete_batch_size)
        self.store = JobStore(fleet.clients.dynamodb(), settings.jobs_table)

    def call(self, event: dict[str, Any]) -> ApiResponse:
        raw = self.app.resolve(event, cast(LambdaContext, FakeLambdaContext()))
        return to_response(raw)

    def purge(self, owner: str, seconds_later: float = 0.0) -> Deletion:
        """One pass of the background purge of ``owner``, as if run ``seconds_later``."""
        dynamodb = self.clients.dynamodb()
        purger = UserDataPurger(
            self.store,
            DeletionStore(dynamodb, self.settings.jobs_table),
            self.clients.s3(),
            self.settings.bucket,
            IdempotencyRows(dynamodb, self.settings.idempotency_table),
        )
        return purger.purge(owner, utcnow() + timedelta(seconds=seconds_later))

    def with_settings(self, delete_batch_size: int = 1000, **changes: Any) -> IngestApi:
        return IngestApi(self.fleet, self.settings.model_copy(update=changes), delete_batch_size)

    # -- emulator state ----------------------------------------------------------------------
    def put_input(
        self, owner: str, body: bytes = PNG_BYTES, content_type: str = "image/png"
    ) -> str:
        key = f"{inputs_prefix(owner)}{uuid.uuid4().hex}.png"
        self.clients.s3().put_object(
            Bucket=self.settings.bucket, Key=key, Body=body, ContentType=content_type
        )
        return key

    def object_keys(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        paginator = self.clients.s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=prefix):
            keys += [obj["Key"] for obj in page.get("Contents", [])]
        return sorted(keys)

    def _scan(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        paginator = self.clients.dynamodb().get_paginator("scan")
        for page in paginator.paginate(TableName=table, ConsistentRead=True):
            items += page.get("Items", [])
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))

    def queue_depth(self, url: str) -> int:
        attributes = self.clients.sqs().get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def receive(self, url: str) -> list[dict[str, Any]]:
        messages = (
            self.clients.sqs()
            .receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
            .get("Messages", [])
        )
        return [json.loads(m["Body"]) for m in messages]

    def state(self) -> State:
        queues = self.fleet.queues
        items = self._scan(self.settings.jobs_table)
        return State(
            jobs=[i for i in items if not i["job_id"]["S"].startswith(USER_ITEM_PREFIX)],
            users=[i for i in items if i["job_id"]["S"].startswith(USER_ITEM_PREFIX)],
            idempotency=self._scan(self.settings.idempotency_table),
            objects=self.object_keys(),
            messages={
                "interactive": self.queue_depth(queues.interactive_url),
                "batch": self.queue_depth(queues.batch_url),
                "training": self.queue_depth(queues.training_url),
            },
        )


def to_response(raw: dict[str, Any]) -> ApiResponse:
    text = raw.get("body") or ""
    body = json.loads(text) if text else None
    headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
    return ApiResponse(status=int(raw["statusCode"]), headers=headers, body=body)


def settings_for(fleet: FleetResources, idempotency_table: str, **changes: Any) -> IngestSettings:
    return IngestSettings(
        aws_endpoint_url=fleet.clients.endpoint_url,
        aws_region=fleet.clients.region,
        jobs_table=fleet.jobs_table,
        workers_table=fleet.workers_table,
        bucket=fleet.bucket,
        interactive_queue_url=fleet.queues.interactive_url,
        batch_queue_url=fleet.queues.batch_url,
        training_queue_url=fleet.queues.training_url,
        idempotency_table=idempotency_table,
        **changes,
    )


@pytest.fixture()
def idempotency_table(fleet: FleetResources) -> str:
    return create_idempotency_table(fleet.clients, unique("t-idem"))


@pytest.fixture()
def api(fleet: FleetResources, idempotency_table: str) -> IngestApi:
    return IngestApi(fleet, settings_for(fleet, idempotency_table))


def new_api(clients: AwsClients) -> IngestApi:
    fleet = new_fleet(clients)
    table = create_idempotency_table(clients, unique("t-idem"))
    return IngestApi(fleet, settings_for(fleet, table))


@pytest.fixture(scope="module")
def shared_api(moto_endpoint: str) -> IngestApi:
    """One set of resources for a module whose tests each leave it as they found it."""
    return new_api(AwsClients(endpoint_url=moto_endpoint, region="us-east-1"))
