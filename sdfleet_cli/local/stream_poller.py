"""The notifier's event sources, locally: the job table's DynamoDB stream and the webhook retry
queue, read on a timer and handed to the real handler as Lambda would (batches, partial
failures). A shard's position is checkpointed only after its records were handled, to a file
when one is given, so a notifier killed mid-batch resumes where it stopped (at least once)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sdfleet_cli.local.lambda_context import LambdaContext

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient

DEFAULT_INTERVAL_SECONDS: Final = 0.5
#: Lambda's default batch size for a DynamoDB stream mapping is 100.
STREAM_BATCH_SIZE: Final = 100
SQS_BATCH_SIZE: Final = 10

Handler = Callable[[dict[str, Any], Any], Any]
logger = logging.getLogger(__name__)


def _failed_ids(response: Any) -> list[str]:
    if not isinstance(response, dict):
        return []
    return [str(f["itemIdentifier"]) for f in response.get("batchItemFailures", [])]


class StreamPoller:
    def __init__(
        self,
        handler: Handler,
        *,
        dynamodb: DynamoDBClient,
        streams: DynamoDBStreamsClient,
        sqs: SQSClient,
        table: str,
        retry_queue_url: str,
        region: str,
        checkpoint_path: Path | None = None,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self._handler = handler
        self._dynamodb = dynamodb
        self._streams = streams
        self._sqs = sqs
        self._table = table
        self._retry_queue_url = retry_queue_url
        self._region = region
        self._checkpoint_path = checkpoint_path
        self.interval_seconds = interval_seconds
        self._checkpoints: dict[str, str] = self._load_checkpoints()
        self._stream_arn: str | None = None
        self.invocations = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notifier-poller", daemon=True)

    # -- checkpoints -----------------------------------------------------------------------
    def _load_checkpoints(self) -> dict[str, str]:
        if self._checkpoint_path and self._checkpoint_path.exists():
            loaded = json.loads(self._checkpoint_path.read_text())
            return {str(k): str(v) for k, v in loaded.items()}
        return {}

    def _save_checkpoint(self, shard_id: str, sequence_number: str) -> None:
        self._checkpoints[shard_id] = sequence_number
        if self._checkpoint_path is None:
            return
        partial = self._checkpoint_path.with_suffix(".tmp")
        partial.write_text(json.dumps(self._checkpoints))
        os.replace(partial, self._checkpoint_path)  # atomic: a kill leaves old or new

    # -- one round -------------------------------------------------------------------------
    def poll_once(self) -> int:
        """Handles what is waiting on the stream and the retry queue; returns records handled."""
        return self._poll_stream() + self._poll_retries()

    def _arn(self) -> str:
        if self._stream_arn is None:
            table = self._dynamodb.describe_table(TableName=self._table)["Table"]
            arn = table.get("LatestStreamArn")
            if not arn:
                raise RuntimeError(f"table {self._table} has no stream")
            self._stream_arn = arn
        return self._stream_arn

    def _poll_stream(self) -> int:
        arn = self._arn()
        handled = 0
        shards = self._streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            after = self._checkpoints.get(shard_id)
            if after:
                iterator = self._streams.get_shard_iterator(
                    StreamArn=arn,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=after,
                )["ShardIterator"]
            else:
                iterator = self._streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            records = self._streams.get_records(ShardIterator=iterator, Limit=STREAM_BATCH_SIZE)[
                "Records"
            ]
            if not records:
                continue
            event = {"Records": [dict(r, eventSourceARN=arn) for r in records]}
            failed = set(self._invoke(event))
            done = None
            for record in records:
                sequence = record["dynamodb"]["SequenceNumber"]
                if sequence in failed:
                    break  # Lambda retries from the first failure; so do we
                done = sequence
                handled += 1
            if done is not None:
                self._save_checkpoint(shard_id, done)
        return handled

    def _poll_retries(self) -> int:
        if not self._retry_queue_url:
            return 0
        messages = self._sqs.receive_message(
            QueueUrl=self._retry_queue_url, MaxNumberOfMessages=SQS_BATCH_SIZE, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return 0
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self._retry_queue_url,
                    "awsRegion": self._region,
                }
                for m in messages
            ]
        }
        failed = set(self._invoke(event))
        for message in messages:
            if message["MessageId"] not in failed:
                self._sqs.delete_message(
                    QueueUrl=self._retry_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return len(messages) - len(failed)

    def _invoke(self, event: dict[str, Any]) -> list[str]:
        context = LambdaContext(function_name="sdfleet-notifier-local", region=self._region)
        self.invocations += 1
        try:
            return _failed_ids(self._handler(event, context))
        except Exception:
            # The whole batch failed: nothing is checkpointed or deleted; it comes again.
            self.failures += 1
            logger.exception("notifier invocation failed")
            records = event["Records"]
            return [
                r["dynamodb"]["SequenceNumber"] if "dynamodb" in r else r["messageId"]
                for r in records
            ]

    # -- timer -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                self.failures += 1
                logger.exception("notifier poll failed")
            self._stop.wait(self.interval_seconds)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
