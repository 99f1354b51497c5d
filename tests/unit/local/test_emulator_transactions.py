"""A failed transaction in the emulator leaves exactly what was there before it: the items it
put, updated or deleted are as they were, its stream records are gone, and items it did not
name (written before it) are untouched. The emulator restores only the named items instead of
a copy of the whole table (see ``transactions_roll_back_only_what_they_touched``), so these
are the rollback's whole contract. The emulator runs in this process, never a shared one."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from sdfleet.aws import AwsClients

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        AttributeValueTypeDef,
        KeySchemaElementTypeDef,
    )

pytestmark = pytest.mark.emulator


def _table(db: DynamoDBClient, range_key: bool) -> str:
    name = f"tx-{uuid.uuid4().hex[:8]}"
    attributes: list[AttributeDefinitionTypeDef] = [{"AttributeName": "pk", "AttributeType": "S"}]
    schema: list[KeySchemaElementTypeDef] = [{"AttributeName": "pk", "KeyType": "HASH"}]
    if range_key:
        attributes.append({"AttributeName": "sk", "AttributeType": "S"})
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
    db.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=attributes,
        KeySchema=schema,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name


def _everything(db: DynamoDBClient, name: str) -> list[dict[str, AttributeValueTypeDef]]:
    items = db.scan(TableName=name, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: str(sorted(item.items())))


@pytest.mark.parametrize("range_key", [False, True], ids=["hash key", "hash and range key"])
def test_a_failed_transaction_restores_the_items_it_named_and_drops_its_stream_records(
    aws_in_process: AwsClients, range_key: bool
) -> None:
    db, streams = aws_in_process.dynamodb(), aws_in_process.dynamodbstreams()
    name = _table(db, range_key)

    def key(pk: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": pk}, **({"sk": {"S": "s"}} if range_key else {})}

    for pk, state in (("updated", "before"), ("deleted", "kept"), ("bystander", "alone")):
        db.put_item(TableName=name, Item={**key(pk), "state": {"S": state}})
    before = _everything(db, name)
    arn = db.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records_before = len(streams.get_records(ShardIterator=iterator, Limit=100)["Records"])

    # Three writes that moto applies in order, then a condition that fails last: all undone.
    with pytest.raises(ClientError, match="TransactionCanceled"):
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {**key("new"), "state": {"S": "x"}}}},
                {
                    "Update": {
                        "TableName": name,
                        "Key": key("updated"),
                        "UpdateExpression": "SET #s = :after, extra = :after",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":after": {"S": "after"}},
                    }
                },
                {"Delete": {"TableName": name, "Key": key("deleted")}},
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": key("bystander"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    assert _everything(db, name) == before
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert len(streams.get_records(ShardIterator=iterator, Limit=100)["Records"]) == records_before

    # The same writes without the failing check are applied, and the table is still writable.
    db.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": name, "Item": {**key("new"), "state": {"S": "x"}}}},
            {"Delete": {"TableName": name, "Key": key("deleted")}},
        ]
    )
    states = {item["pk"]["S"]: item["state"]["S"] for item in _everything(db, name)}
    assert states == {"new": "x", "updated": "before", "bystander": "alone"}


def test_a_transaction_naming_one_item_twice_is_refused_and_writes_nothing(
    aws_in_process: AwsClients,
) -> None:
    db = aws_in_process.dynamodb()
    name = _table(db, range_key=False)
    db.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    with pytest.raises(ClientError, match="ValidationException"):
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {"pk": {"S": "b"}}}},
                {"Put": {"TableName": name, "Item": {"pk": {"S": "a"}, "n": {"N": "2"}}}},
                {"Delete": {"TableName": name, "Key": {"pk": {"S": "a"}}}},
            ]
        )
    assert _everything(db, name) == [{"pk": {"S": "a"}, "n": {"N": "1"}}]
