"""Appends a webhook attempt to the job's record (``GET /jobs/{id}`` shows them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from sdfleet.store import marshal
from sdfleet.webhook_attempts import ATTEMPTS_ATTRIBUTE, WebhookAttempt

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def record_attempt(
    dynamodb: DynamoDBClient, table: str, job_id: str, attempt: WebhookAttempt
) -> bool:
    """False when the job no longer exists (deleted meanwhile): nothing to record on."""
    value = marshal({"a": [attempt.model_dump(mode="python", exclude_none=True)]})["a"]
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET #a = list_append(if_not_exists(#a, :empty), :new)",
            ConditionExpression="attribute_exists(job_id)",
            ExpressionAttributeNames={"#a": ATTEMPTS_ATTRIBUTE},
            ExpressionAttributeValues={":new": value, ":empty": {"L": []}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
