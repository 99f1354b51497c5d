"""Waiting for jobs to finish and collecting their outputs (``submit --wait``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sdfleet.records import JobRecord
from sdfleet.store import item_to_record

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from sdfleet_cli.local.event_follow import JobOutcome

#: BatchGetItem's limit per call.
BATCH_GET_MAX_KEYS: Final = 100
POLL_SECONDS: Final = 1.0


class JobWatcher:
    """Reads many job records at once; a job without a record is still waiting in SQS."""

    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._db = dynamodb
        self.table_name = table_name

    def fetch(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        found: dict[str, JobRecord] = {}
        for start in range(0, len(job_ids), BATCH_GET_MAX_KEYS):
            chunk = job_ids[start : start + BATCH_GET_MAX_KEYS]
            keys = [{"job_id": {"S": job_id}} for job_id in chunk]
            request = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self._db.batch_get_item(RequestItems=request)  # type: ignore[arg-type]
                for item in response.get("Responses", {}).get(self.table_name, []):
                    record = item_to_record(item)
                    found[record.job_id] = record
                request = response.get("UnprocessedKeys") or {}  # type: ignore[assignment]
        return found

    def wait(
        self,
        job_ids: Sequence[str],
        timeout: float,
        on_update: Callable[[dict[str, JobRecord]], None] | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> dict[str, JobRecord]:
        """Polls until every job is terminal or ``timeout`` passes; returns the last view."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.fetch(job_ids)
            if on_update is not None:
                on_update(records)
            done = all(
                job_id in records and records[job_id].status.is_terminal for job_id in job_ids
            )
            if done or time.monotonic() >= deadline:
                return records
            time.sleep(poll_seconds)


def download_outputs(
    s3: S3Client, bucket: str, record: JobRecord | JobOutcome, out_dir: Path
) -> list[Path]:
    """The job's images into ``out_dir/<job_id>/``, named as in S3 (``00.png`` ...)."""
    target = out_dir / record.job_id
    target.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for key in record.outputs:
        path = target / key.rsplit("/", 1)[-1]
        s3.download_file(bucket, key, str(path))
        paths.append(path)
    return paths
