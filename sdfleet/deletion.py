"""``DELETE /me``: a deletion that completes, in the background, resumably.

1. The API marks the user as deleting: the user item (``user#<owner>`` in the jobs table) gets
   a deletion id and ``deletion_requested_at``, and sits in the sparse ``queued_by_lane`` index
   under the pseudo-lane ``deletions``. From then on the API creates no job for the user
   (job creation is one transaction with a check of that item), a worker writes no output of a
   job created before the request (it reads the item before its first output write) and
   cannot commit one (``finish`` is one transaction with the same check).
2. :class:`UserDataPurger` runs passes until nothing is left: queued jobs cancelled, running
   ones asked to stop (a live lease is waited for), then records, every object under
   ``users/<owner>/`` (inputs, outputs, adapters under ``models/``) and the user's
   Idempotency-Key rows deleted. The API runs one bounded pass at once; the scaler Lambda's
   one-minute timer (the local stack's scaler timer runs the same code) finishes pending ones.
3. Jobs are found through the ``by_owner`` index, which is eventually consistent in AWS. A pass
   therefore never completes the deletion before ``settle_seconds`` have passed since the
   request (no new job can appear after it, and the index has caught up with any created
   before it), and it completes only when a final index read after that finds nothing.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from sdfleet.errors import JobNotFound, TransitionRejected
from sdfleet.keys import user_prefix
from sdfleet.records import ErrorCode, JobError, JobStatus, utcnow
from sdfleet.store import (
    DELETION_COMPLETED,
    DELETION_DELETING,
    DELETIONS_LANE,
    QUEUE_INDEX,
    JobStore,
    format_time,
    marshal,
    unmarshal,
    user_item_key,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

#: Powertools' idempotency ids start with this prefix, then a hash of the owner: the rows of
#: one owner can be found and purged.
IDEMPOTENCY_KEY_PREFIX: Final = "sdfleet-ingest#create_job"
DEFAULT_SETTLE_SECONDS: Final = 60.0
_S3_DELETE_BATCH: Final = 1000


def idempotency_owner_prefix(owner: str) -> str:
    """The owner's part of their rows' ids: a hash, so the table never names a user."""
    digest = hashlib.sha256(owner.encode()).hexdigest()[:32]
    return f"{IDEMPOTENCY_KEY_PREFIX}#{digest}"


@dataclass(frozen=True)
class Deletion:
    deletion_id: str
    status: str
    requested_at: datetime
    completed_at: datetime | None = None
    jobs_deleted: int = 0
    objects_deleted: int = 0
    idempotency_rows_deleted: int = 0

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Deletion:
        values = unmarshal(item)
        completed = values.get("deletion_completed_at")
        return cls(
            deletion_id=str(values["deletion_id"]),
            status=str(values["deletion_status"]),
            requested_at=_time(values["deletion_requested_at"]),
            completed_at=_time(completed) if completed else None,
            jobs_deleted=int(values.get("jobs_deleted", 0)),
            objects_deleted=int(values.get("objects_deleted", 0)),
            idempotency_rows_deleted=int(values.get("idempotency_rows_deleted", 0)),
        )


def _time(value: str) -> datetime:
    from sdfleet.store import _parse_time

    return _parse_time(value)


class DeletionStore:
    """The deletion state on the user item of the jobs table."""

    def __init__(self, dynamodb: DynamoDBClient, jobs_table: str) -> None:
        self._db = dynamodb
        self._table = jobs_table

    def request(self, owner: str, now: datetime | None = None) -> Deletion:
        """Marks ``owner`` as deleting; a deletion already running is returned as it is."""
        now = now or utcnow()
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=user_item_key(owner),
                UpdateExpression="SET deletion_id = :id, deletion_status = :deleting, "
                "deletion_requested_at = :now, jobs_deleted = :zero, objects_deleted = :zero, "
                "idempotency_rows_deleted = :zero, queue_lane = :lane, queue_seq = :seq "
                "REMOVE deletion_completed_at",
                ConditionExpression="attribute_not_exists(deletion_status) "
                "OR deletion_status <> :deleting",
                ExpressionAttributeValues=marshal(
                    {
                        ":id": uuid.uuid4().hex,
                        ":deleting": DELETION_DELETING,
                        ":now": now,
                        ":zero": 0,
                        ":lane": DELETIONS_LANE,
                        ":seq": f"{format_time(now)}#{owner}",
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            current = self.get(owner)
            if current is None:
                raise
            return current
        return Deletion.from_item(response["Attributes"])

    def get(self, owner: str) -> Deletion | None:
        item = self._db.get_item(
            TableName=self._table, Key=user_item_key(owner), ConsistentRead=True
        ).get("Item")
        if not item or "deletion_id" not in item:
            return None
        return Deletion.from_item(item)

    def pending_owners(self, limit: int = 25) -> list[str]:
        response = self._db.query(
            TableName=self._table,
            IndexName=QUEUE_INDEX,
            KeyConditionExpression="queue_lane = :lane",
            ExpressionAttributeValues={":lane": {"S": DELETIONS_LANE}},
            Limit=limit,
        )
        prefix = user_item_key("")["job_id"]["S"]
        return [item["job_id"]["S"].removeprefix(prefix) for item in response.get("Items", [])]

    def add_counts(self, owner: str, deletion_id: str, jobs: int, objects: int, rows: int) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=user_item_key(owner),
            UpdateExpression="ADD jobs_deleted :jobs, objects_deleted :objects, "
            "idempotency_rows_deleted :rows",
            ConditionExpression="deletion_id = :id",
            ExpressionAttributeValues=marshal(
                {":jobs": jobs, ":objects": objects, ":rows": rows, ":id": deletion_id}
            ),
        )

    def complete(self, owner: str, deletion_id: str, now: datetime) -> Deletion:
        response = self._db.update_item(
            TableName=self._table,
            Key=user_item_key(owner),
            UpdateExpression="SET deletion_status = :completed, deletion_completed_at = :now "
            "REMOVE queue_lane, queue_seq",
            ConditionExpression="deletion_id = :id",
            ExpressionAttributeValues=marshal(
                {":completed": DELETION_COMPLETED, ":now": now, ":id": deletion_id}
            ),
            ReturnValues="ALL_NEW",
        )
        return Deletion.from_item(response["Attributes"])


class IdempotencyRows:
    """The user's Idempotency-Key rows (ids start with :func:`idempotency_owner_prefix`)."""

    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    def delete_owner_rows(self, owner: str) -> int:
        # The table only holds a day of rows (their TTL): a filtered scan is bounded.
        prefix = idempotency_owner_prefix(owner) + "#"
        deleted = 0
        paginator = self._db.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="begins_with(id, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": prefix}},
            ProjectionExpression="id",
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                self._db.delete_item(TableName=self._table, Key={"id": item["id"]})
                deleted += 1
        return deleted


class UserDataPurger:
    def __init__(
        self,
        jobs: JobStore,
        deletions: DeletionStore,
        s3: S3Client,
        bucket: str,
        idempotency: IdempotencyRows | None,
        *,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    ) -> None:
        self._jobs = jobs
        self._deletions = deletions
        self._s3 = s3
        self._bucket = bucket
        self._idempotency = idempotency
        self._settle = timedelta(seconds=settle_seconds)

    def purge_pending(self, now: datetime | None = None, budget_seconds: float = 30.0) -> list[str]:
        """A pass for each pending deletion, within the budget; the owners it completed."""
        started = time.monotonic()
        completed = []
        for owner in self._deletions.pending_owners():
            if time.monotonic() - started > budget_seconds:
                break
            if self.purge(owner, now).status == DELETION_COMPLETED:
                completed.append(owner)
        return completed

    def purge(self, owner: str, now: datetime | None = None) -> Deletion:
        """One pass; completes the deletion when nothing is left and the index has settled."""
        now = now or utcnow()
        deletion = self._deletions.get(owner)
        if deletion is None or deletion.status != DELETION_DELETING:
            raise JobNotFound(f"no deletion is running for {owner!r}")
        jobs, waiting = self._purge_records(owner, now)
        objects = self._delete_objects(user_prefix(owner))
        rows = self._idempotency.delete_owner_rows(owner) if self._idempotency else 0
        if jobs or objects or rows:
            self._deletions.add_counts(owner, deletion.deletion_id, jobs, objects, rows)
        settled = now - deletion.requested_at >= self._settle
        if waiting or not settled or next(self._jobs.iter_owner_job_ids(owner), None):
            current = self._deletions.get(owner)
            return current if current is not None else deletion
        return self._deletions.complete(owner, deletion.deletion_id, now)

    def _purge_records(self, owner: str, now: datetime) -> tuple[int, int]:
        """(records deleted, running jobs still held by a live worker)."""
        deleted = waiting = 0
        for job_id in list(self._jobs.iter_owner_job_ids(owner)):
            try:
                record = self._jobs.get(job_id)
                if record.owner != owner:
                    continue
                if record.status is JobStatus.QUEUED:
                    record = self._jobs.cancel(job_id, owner=owner, now=now)
                elif record.status is JobStatus.RUNNING:
                    lease = record.lease_expires_at
                    if lease is not None and lease > now:
                        if not record.cancel_requested:
                            self._jobs.request_cancel(job_id, owner=owner)
                        waiting += 1
                        continue
                    error = JobError(
                        code=ErrorCode.CANCELLED.value, message="the owner deleted their data"
                    )
                    record = self._jobs.fail(job_id, error, now=now)
                self._jobs.delete(job_id, owner)
                deleted += 1
            except (JobNotFound, TransitionRejected):
                waiting += 1  # changed under us: look again next pass
        return deleted, waiting

    def _delete_objects(self, prefix: str) -> int:
        deleted = 0
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self._bucket, Prefix=prefix, PaginationConfig={"PageSize": _S3_DELETE_BATCH}
        ):
            keys = [obj["Key"] for obj in page.get("Contents", []) if "Key" in obj]
            if not keys:
                continue
            response = self._s3.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
            deleted += len(keys) - len(response.get("Errors", []))
        return deleted
