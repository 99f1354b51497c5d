"""Creates uniquely named resources with the same shape Terraform gives them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdfleet.aws import AwsClients
from sdfleet.store import OWNER_INDEX, QUEUE_INDEX, SOURCE_MESSAGE_INDEX

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType


@dataclass(frozen=True)
class LaneQueues:
    interactive_url: str
    batch_url: str
    interactive_dlq_url: str
    batch_dlq_url: str
    training_url: str
    training_dlq_url: str


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_jobs_table(clients: AwsClients, name: str) -> str:
    db = clients.dynamodb()
    db.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "job_id", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
            {"AttributeName": "queue_lane", "AttributeType": "S"},
            {"AttributeName": "queue_seq", "AttributeType": "S"},
            {"AttributeName": "source_message_id", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": OWNER_INDEX,
                "KeySchema": [
                    {"AttributeName": "owner", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": QUEUE_INDEX,
                "KeySchema": [
                    {"AttributeName": "queue_lane", "KeyType": "HASH"},
                    {"AttributeName": "queue_seq", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": SOURCE_MESSAGE_INDEX,
                "KeySchema": [{"AttributeName": "source_message_id", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    )
    return name


def create_workers_table(clients: AwsClients, name: str) -> str:
    clients.dynamodb().create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "worker_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "worker_id", "KeyType": "HASH"}],
    )
    return name


def create_idempotency_table(clients: AwsClients, name: str) -> str:
    clients.dynamodb().create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    return name


def create_lane_queues(
    clients: AwsClients, prefix: str, visibility_timeout: int = 30, max_receive_count: int = 3
) -> LaneQueues:
    sqs = clients.sqs()
    urls: dict[str, str] = {}
    for lane in ("interactive", "batch", "training"):
        dlq_url = sqs.create_queue(
            QueueName=f"{prefix}-{lane}-dlq", Attributes={"MessageRetentionPeriod": "1209600"}
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        attributes: dict[QueueAttributeNameType, str] = {
            "VisibilityTimeout": str(visibility_timeout),
            "MaximumMessageSize": "262144",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
            ),
        }
        urls[lane] = sqs.create_queue(QueueName=f"{prefix}-{lane}", Attributes=attributes)[
            "QueueUrl"
        ]
        urls[f"{lane}_dlq"] = dlq_url
    return LaneQueues(
        interactive_url=urls["interactive"],
        batch_url=urls["batch"],
        interactive_dlq_url=urls["interactive_dlq"],
        batch_dlq_url=urls["batch_dlq"],
        training_url=urls["training"],
        training_dlq_url=urls["training_dlq"],
    )


def create_bucket(clients: AwsClients, name: str) -> str:
    clients.s3().create_bucket(Bucket=name)
    return name
