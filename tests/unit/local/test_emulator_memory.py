"""The emulator frees what it no longer uses: transactions (moto deep-copies the whole table
before each, to roll back) and stream reads leave one copy of a table alive, not one per
transaction. Without this the local stack's emulator grew by ~30 MB/s under the reliability
chaos run and was killed by the kernel at 22 GB. The test starts an emulator in this process
(never a shared one) and counts its live table objects."""

from __future__ import annotations

import gc
import uuid
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from sdfleet.aws import AwsClients

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import PutTypeDef

pytestmark = pytest.mark.emulator

ROUNDS = 12


def _live_tables(name: str) -> int:
    from moto.dynamodb.models.table import Table

    gc.collect()
    # type(), not isinstance(): isinstance reads each object's __class__, and torch's
    # deprecated module proxies warn when read.
    return sum(1 for o in gc.get_objects() if issubclass(type(o), Table) and o.name == name)


def test_transactions_and_stream_reads_keep_one_copy_of_a_table(
    aws_in_process: AwsClients,
) -> None:
    aws = aws_in_process
    db, streams = aws.dynamodb(), aws.dynamodbstreams()
    name = f"memory-{uuid.uuid4().hex[:8]}"
    db.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    arn = db.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def put(pk: str) -> PutTypeDef:
        return {
            "TableName": name,
            "ConditionExpression": "attribute_not_exists(pk)",
            "Item": {"pk": {"S": pk}},
        }

    try:
        for index in range(ROUNDS):
            # Read the stream as the local stream poller does, then one transaction that
            # succeeds and one that fails its condition (moto rolls back to its copy).
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST"
            )["ShardIterator"]
            streams.get_records(ShardIterator=iterator, Limit=10)
            db.transact_write_items(TransactItems=[{"Put": put(f"job-{index}")}])
            with pytest.raises(ClientError, match="TransactionCanceled"):
                db.transact_write_items(TransactItems=[{"Put": put("job-0")}])
        assert _live_tables(name) == 1
        # An iterator taken before a rollback still reads the table's records written after it.
        before = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST"
        )["ShardIterator"]
        with pytest.raises(ClientError, match="TransactionCanceled"):
            db.transact_write_items(TransactItems=[{"Put": put("job-0")}])
        db.put_item(TableName=name, Item={"pk": {"S": "after-the-rollback"}})
        records = streams.get_records(ShardIterator=before, Limit=10)["Records"]
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["after-the-rollback"]
    finally:
        db.delete_table(TableName=name)
