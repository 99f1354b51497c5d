"""The DynamoDB job store. Every status transition is one conditional write.

Table layout (Terraform's ``storage`` module creates the same):

* hash key ``job_id`` (S); TTL attribute ``expires_at`` (N, epoch seconds).
* GSI ``by_owner``: ``owner`` (S) + ``created_at`` (S, fixed-width ISO UTC): my jobs,
  newest first.
* GSI ``by_source_message``: ``source_message_id`` (S), sparse (batch records only, KEYS_ONLY):
  the dead-letter reaper finds a batch job from its message without the tenant map.
* GSI ``queued_by_lane``: ``queue_lane`` (S) + ``queue_seq`` (S); the two attributes exist only
  while a job is queued (a sparse index), so "queued ahead of me" is one COUNT query.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from sdfleet.errors import (
    ActiveJobLimit,
    CancelRequested,
    JobAlreadyExists,
    JobNotBound,
    JobNotClaimable,
    JobNotFound,
    LeaseLost,
    OwnerDataDeleted,
    TransitionRejected,
)
from sdfleet.messages import Lane
from sdfleet.records import JobError, JobRecord, JobStatus, utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

OWNER_INDEX: Final = "by_owner"
QUEUE_INDEX: Final = "queued_by_lane"
SOURCE_MESSAGE_INDEX: Final = "by_source_message"
LIST_LIMIT_MAX: Final = 100
DEFAULT_TTL_DAYS: Final = 30
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def format_time(value: datetime) -> str:
    """Fixed-width UTC ISO time, so string order is time order."""
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)


def _to_dynamo_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo_value(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, str | int | bool):
        return value.value
    return value


def _from_dynamo_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo_value(v) for v in value]
    return value


def marshal(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _serializer.serialize(_to_dynamo_value(v)) for k, v in values.items() if v is not None
    }


def unmarshal(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo_value(_deserializer.deserialize(v)) for k, v in item.items()}


def record_to_item(record: JobRecord) -> dict[str, Any]:
    values = record.model_dump(mode="python", exclude_none=True)
    values["params"] = record.params.model_dump(mode="json", exclude_none=True)
    if record.error is not None:
        values["error"] = record.error.model_dump()
    if record.status is JobStatus.QUEUED:
        values["queue_lane"] = record.lane.value
        values["queue_seq"] = queue_seq(record)
    return marshal(values)


def item_to_record(item: dict[str, Any]) -> JobRecord:
    return JobRecord.model_validate(unmarshal(item))


def queue_seq(record: JobRecord) -> str:
    return f"{format_time(record.created_at)}#{record.job_id}"


#: The per-user item in the jobs table (``job_id = user#<owner>``): deletion state. Job ids never
#: contain ``#``. It has no ``owner`` attribute, so it is in neither the owner index nor listings.
USER_ITEM_PREFIX: Final = "user#"
#: While a deletion runs, its user item sits in the sparse ``queued_by_lane`` index under this
#: pseudo-lane, so the purger finds pending deletions without a scan.
DELETIONS_LANE: Final = "deletions"
DELETION_DELETING: Final = "deleting"
DELETION_COMPLETED: Final = "completed"


def user_item_key(owner: str) -> dict[str, Any]:
    return {"job_id": {"S": f"{USER_ITEM_PREFIX}{owner}"}}


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def _decode_cursor(cursor: str, owner: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(key, dict) or key.get("owner") != {"S": owner}:
            raise ValueError
        return key
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"cursor: {cursor[:40]!r} is not a cursor this API returned") from exc


class JobStore:
    """Reads and transitions job records. The client is passed in (emulator or AWS)."""

    def __init__(
        self, dynamodb: DynamoDBClient, table_name: str, ttl_days: int = DEFAULT_TTL_DAYS
    ) -> None:
        self._db = dynamodb
        self.table_name = table_name
        self.ttl_days = ttl_days

    # -- reads -----------------------------------------------------------------------------
    def get(self, job_id: str, *, consistent: bool = True) -> JobRecord:
        response = self._db.get_item(
            TableName=self.table_name, Key={"job_id": {"S": job_id}}, ConsistentRead=consistent
        )
        if "Item" not in response:
            raise JobNotFound(f"job {job_id!r} not found")
        return item_to_record(response["Item"])

    def get_for_owner(self, job_id: str, owner: str) -> JobRecord:
        """The job, only if ``owner`` owns it; another owner's job is simply not found."""
        record = self.get(job_id)
        if record.owner != owner:
            raise JobNotFound(f"job {job_id!r} not found")
        return record

    def list_by_owner(
        self, owner: str, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[JobRecord], str | None]:
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise ValueError(f"limit: must be in 1..{LIST_LIMIT_MAX}, got {limit}")
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": OWNER_INDEX,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":owner": {"S": owner}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = _decode_cursor(cursor, owner)
        response = self._db.query(**kwargs)
        records = [item_to_record(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return records, (_encode_cursor(last) if last else None)

    def iter_owner_job_ids(self, owner: str) -> Iterator[str]:
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table_name,
            IndexName=OWNER_INDEX,
            KeyConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
        ):
            for item in page.get("Items", []):
                yield item["job_id"]["S"]

    def count_active(self, owner: str) -> int:
        """Queued plus running jobs of ``owner`` (for the per-user quota)."""
        total = 0
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table_name,
            IndexName=OWNER_INDEX,
            KeyConditionExpression="#owner = :owner",
            FilterExpression="#status IN (:queued, :running)",
            ExpressionAttributeNames={"#owner": "owner", "#status": "status"},
            ExpressionAttributeValues={
                ":owner": {"S": owner},
                ":queued": {"S": JobStatus.QUEUED.value},
                ":running": {"S": JobStatus.RUNNING.value},
            },
            Select="COUNT",
        ):
            total += page["Count"]
        return total

    def count_queued_ahead(self, record: JobRecord) -> int:
        """Queued jobs in the same lane created before this one (0 when it is not queued)."""
        if record.status is not JobStatus.QUEUED:
            return 0
        total = 0
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table_name,
            IndexName=QUEUE_INDEX,
            KeyConditionExpression="queue_lane = :lane AND queue_seq < :seq",
            ExpressionAttributeValues={
                ":lane": {"S": record.lane.value},
                ":seq": {"S": queue_seq(record)},
            },
            Select="COUNT",
        ):
            total += page["Count"]
        return total

    # -- transitions -----------------------------------------------------------------------
    def create(
        self,
        record: JobRecord,
        *,
        unless_owner_deleting: bool = False,
        active_limit: int | None = None,
        cost_limit: int | None = None,
    ) -> JobRecord:
        """A new queued record. With ``unless_owner_deleting`` (the API), in one transaction
        with a check that its owner is not being deleted (:class:`OwnerDataDeleted`)."""
        if record.status is not JobStatus.QUEUED:
            raise ValueError(f"status: a new job must be queued, got {record.status.value!r}")
        if record.expires_at is None:
            expiry = record.created_at + timedelta(days=self.ttl_days)
            record = record.model_copy(update={"expires_at": int(expiry.timestamp())})
        if unless_owner_deleting or active_limit is not None:
            return self._create_unless_owner_deleting(record, active_limit, cost_limit)
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=record_to_item(record),
                ConditionExpression="attribute_not_exists(job_id)",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise JobAlreadyExists(f"job {record.job_id!r} exists already") from exc
            raise
        return record

    def find_by_source_message(self, message_id: str) -> JobRecord | None:
        """The batch record an SQS message created (index read, then a consistent get)."""
        response = self._db.query(
            TableName=self.table_name,
            IndexName=SOURCE_MESSAGE_INDEX,
            KeyConditionExpression="source_message_id = :id",
            ExpressionAttributeValues={":id": {"S": message_id}},
        )
        for item in response.get("Items", []):
            try:
                return self.get(item["job_id"]["S"])
            except JobNotFound:
                continue
        return None

    def claim(
        self,
        job_id: str,
        worker_id: str,
        lease_seconds: float,
        now: datetime | None = None,
        *,
        lane: Lane | None = None,
        owner: str | None = None,
    ) -> JobRecord:
        """queued -> running for ``worker_id``; or take over a running job whose lease expired.

        With ``lane`` (and ``owner``), only a record created for that lane (and owner) is
        claimed; another one raises :class:`JobNotBound` and is left untouched."""
        now = now or utcnow()
        lease = now + timedelta(seconds=lease_seconds)
        condition = (
            "attribute_exists(job_id) AND (#status = :queued OR "
            "(#status = :running AND lease_expires_at < :now))"
        )
        values: dict[str, Any] = {
            ":running": JobStatus.RUNNING.value,
            ":queued": JobStatus.QUEUED.value,
            ":worker": worker_id,
            ":lease": lease,
            ":now": now,
            ":zero": 0,
            ":one": 1,
        }
        names: dict[str, str] = {}
        if lane is not None:
            condition += " AND #lane = :lane"
            values[":lane"] = lane.value
            names["#lane"] = "lane"
        if owner is not None:
            condition += " AND #owner = :owner"
            values[":owner"] = owner
            names["#owner"] = "owner"
        try:
            return self._update(
                job_id,
                "claim",
                JobNotClaimable,
                update="SET #status = :running, worker_id = :worker, lease_expires_at = :lease, "
                "started_at = :now, attempts = if_not_exists(attempts, :zero) + :one "
                "REMOVE queue_lane, queue_seq, progress_step, progress_total",
                condition=condition,
                values=values,
                names=names,
            )
        except JobNotClaimable as exc:
            current = self.get(job_id)
            check_binding(current, lane=lane, owner=owner)
            raise exc

    def renew_lease(
        self,
        job_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        progress_step: int | None = None,
        progress_total: int | None = None,
        progress_loss: float | None = None,
        progress_eta_seconds: float | None = None,
        now: datetime | None = None,
    ) -> JobRecord:
        """Extends the lease (and records progress); returns the record so the caller sees
        ``cancel_requested``. Raises :class:`LeaseLost` when another worker took over."""
        now = now or utcnow()
        sets = ["lease_expires_at = :lease"]
        values: dict[str, Any] = {":lease": now + timedelta(seconds=lease_seconds)}
        if progress_step is not None and progress_total is not None:
            sets += ["progress_step = :step", "progress_total = :total"]
            values |= {":step": progress_step, ":total": progress_total}
        # A training's loss and ETA ride along with its progress.
        if progress_loss is not None:
            sets.append("progress_loss = :loss")
            values[":loss"] = progress_loss
        if progress_eta_seconds is not None:
            sets.append("progress_eta_seconds = :eta")
            values[":eta"] = progress_eta_seconds
        return self._update(
            job_id,
            "renew lease",
            LeaseLost,
            update="SET " + ", ".join(sets),
            condition="#status = :running AND worker_id = :worker",
            values=values | {":running": JobStatus.RUNNING.value, ":worker": worker_id},
        )

    def finish(
        self,
        job_id: str,
        worker_id: str,
        outputs: list[str],
        seeds: list[int],
        *,
        attention_backend: str | None = None,
        attention_reason: str | None = None,
        queue_wait_seconds: float | None = None,
        model_seconds: float | None = None,
        total_seconds: float | None = None,
        loss_curve: list[float] | None = None,
        adapter_id: str | None = None,
        now: datetime | None = None,
    ) -> JobRecord:
        """running -> succeeded, only by the worker holding the lease and only while no cancel
        was requested: a cancel that arrives before the result is committed wins, and the worker
        is told so with :class:`CancelRequested` (it then removes its outputs)."""
        now = now or utcnow()
        values: dict[str, Any] = {
            ":succeeded": JobStatus.SUCCEEDED.value,
            ":running": JobStatus.RUNNING.value,
            ":worker": worker_id,
            ":now": now,
            ":outputs": outputs,
            ":seeds": seeds,
            ":true": True,
        }
        sets = [
            "#status = :succeeded",
            "finished_at = :now",
            "outputs = :outputs",
            "seeds = :seeds",
        ]
        optional = {
            "attention_backend": attention_backend,
            "attention_reason": attention_reason,
            "queue_wait_seconds": queue_wait_seconds,
            "model_seconds": model_seconds,
            "total_seconds": total_seconds,
            "loss_curve": loss_curve,
            "adapter_id": adapter_id,
        }
        for name, value in optional.items():
            if value is not None:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        try:
            return self._update(
                job_id,
                "finish",
                LeaseLost,
                update="SET " + ", ".join(sets) + " REMOVE lease_expires_at",
                condition=(
                    "#status = :running AND worker_id = :worker"
                    " AND (attribute_not_exists(cancel_requested) OR cancel_requested <> :true)"
                ),
                values=values,
                unless_owner_deleted=True,
            )
        except LeaseLost as exc:
            current = self.get(job_id)
            if (
                current.status is JobStatus.RUNNING
                and current.worker_id == worker_id
                and current.cancel_requested
            ):
                raise CancelRequested(job_id, "finish", current.status.value) from exc
            raise

    def fail(
        self,
        job_id: str,
        error: JobError,
        *,
        worker_id: str | None = None,
        now: datetime | None = None,
    ) -> JobRecord:
        """-> failed. A worker may fail the job it holds; without a worker id (invalid input
        before any claim, or the dead-letter reaper) only a queued job or one whose lease has
        expired can be failed, so a live worker's job is never failed behind its back."""
        now = now or utcnow()
        values: dict[str, Any] = {
            ":failed": JobStatus.FAILED.value,
            ":running": JobStatus.RUNNING.value,
            ":now": now,
            ":error": error.model_dump(),
        }
        if worker_id is not None:
            condition = "#status = :running AND worker_id = :worker"
            values[":worker"] = worker_id
            rejected: type[TransitionRejected] = LeaseLost
        else:
            condition = (
                "attribute_exists(job_id) AND (#status = :queued OR "
                "(#status = :running AND lease_expires_at < :now))"
            )
            values[":queued"] = JobStatus.QUEUED.value
            rejected = TransitionRejected
        return self._update(
            job_id,
            "fail",
            rejected,
            update="SET #status = :failed, finished_at = :now, #error = :error "
            "REMOVE queue_lane, queue_seq, lease_expires_at",
            condition=condition,
            values=values,
            names={"#error": "error"},
            ends_job=True,
        )

    def cancel(
        self, job_id: str, *, owner: str | None = None, now: datetime | None = None
    ) -> JobRecord:
        """queued -> cancelled (workers skip it when its message arrives)."""
        values: dict[str, Any] = {
            ":cancelled": JobStatus.CANCELLED.value,
            ":queued": JobStatus.QUEUED.value,
            ":now": now or utcnow(),
        }
        condition = "#status = :queued"
        if owner is not None:
            condition += " AND #owner = :owner"
            values[":owner"] = owner
        return self._update(
            job_id,
            "cancel",
            TransitionRejected,
            update="SET #status = :cancelled, finished_at = :now REMOVE queue_lane, queue_seq",
            condition=condition,
            values=values,
            names={"#owner": "owner"} if owner is not None else None,
            ends_job=True,
        )

    def request_cancel(self, job_id: str, *, owner: str | None = None) -> JobRecord:
        """Flags a running job; its worker stops between denoising steps."""
        values: dict[str, Any] = {":running": JobStatus.RUNNING.value, ":true": True}
        condition = "#status = :running"
        if owner is not None:
            condition += " AND #owner = :owner"
            values[":owner"] = owner
        return self._update(
            job_id,
            "request cancel",
            TransitionRejected,
            update="SET cancel_requested = :true",
            condition=condition,
            values=values,
            names={"#owner": "owner"} if owner is not None else None,
        )

    def mark_cancelled(self, job_id: str, worker_id: str, now: datetime | None = None) -> JobRecord:
        """running -> cancelled, only by the lease holder and only after a cancel request."""
        return self._update(
            job_id,
            "mark cancelled",
            LeaseLost,
            update="SET #status = :cancelled, finished_at = :now REMOVE lease_expires_at",
            condition="#status = :running AND worker_id = :worker AND cancel_requested = :true",
            values={
                ":true": True,
                ":cancelled": JobStatus.CANCELLED.value,
                ":running": JobStatus.RUNNING.value,
                ":worker": worker_id,
                ":now": now or utcnow(),
            },
            ends_job=True,
        )

    def clear_outputs(self, job_id: str, owner: str) -> JobRecord:
        """Forgets the output keys of a finished job (after its objects were deleted)."""
        return self._update(
            job_id,
            "clear outputs",
            TransitionRejected,
            update="SET outputs = :empty",
            condition="#owner = :owner AND #status IN (:succeeded, :failed, :cancelled)",
            values={
                ":empty": [],
                ":owner": owner,
                ":succeeded": JobStatus.SUCCEEDED.value,
                ":failed": JobStatus.FAILED.value,
                ":cancelled": JobStatus.CANCELLED.value,
            },
            names={"#owner": "owner"},
        )

    def delete(self, job_id: str, owner: str) -> None:
        try:
            self._db.delete_item(
                TableName=self.table_name,
                Key={"job_id": {"S": job_id}},
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise JobNotFound(f"job {job_id!r} not found") from exc
            raise

    def delete_owner_records(self, owner: str) -> int:
        deleted = 0
        for job_id in list(self.iter_owner_job_ids(owner)):
            try:
                self.delete(job_id, owner)
                deleted += 1
            except JobNotFound:
                continue
        return deleted

    # -- the owner's deletion ----------------------------------------------------------------
    def _create_unless_owner_deleting(
        self, record: JobRecord, active_limit: int | None, cost_limit: int | None = None
    ) -> JobRecord:
        """Put + one update of the owner's user item: not deleting, and (with
        ``active_limit``) a free active-job slot taken atomically, so parallel creates can
        never exceed it (:class:`ActiveJobLimit`)."""
        not_deleting = "(attribute_not_exists(deletion_status) OR deletion_status <> :deleting)"
        user: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": user_item_key(record.owner),
            "ExpressionAttributeValues": {":deleting": {"S": DELETION_DELETING}},
        }
        if active_limit is not None:
            cost = record.params.cost_units
            if cost_limit is not None and cost > cost_limit:
                raise ActiveJobLimit(record.owner, cost, cost_limit, "cost units")
            record = record.model_copy(update={"counted": True, "cost_units": cost})
            user["UpdateExpression"] = "ADD active_jobs :one, active_cost :cost"
            condition = (
                f"{not_deleting} AND (attribute_not_exists(active_jobs) OR active_jobs < :limit)"
            )
            user["ExpressionAttributeValues"] |= {
                ":one": {"N": "1"},
                ":limit": {"N": str(active_limit)},
                ":cost": {"N": str(cost)},
            }
            if cost_limit is not None:
                # No arithmetic in conditions: "active + cost <= limit" as "active <= room".
                condition += " AND (attribute_not_exists(active_cost) OR active_cost <= :room)"
                user["ExpressionAttributeValues"][":room"] = {"N": str(cost_limit - cost)}
            user["ConditionExpression"] = condition
            owner_item: dict[str, Any] = {"Update": user}
        else:
            user["ConditionExpression"] = not_deleting
            owner_item = {"ConditionCheck": user}
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": record_to_item(record),
                    "ConditionExpression": "attribute_not_exists(job_id)",
                }
            },
            owner_item,
        ]
        try:
            self._db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(exc)
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                item = self._db.get_item(
                    TableName=self.table_name, Key=user_item_key(record.owner), ConsistentRead=True
                ).get("Item", {})
                if item.get("deletion_status", {}).get("S") == DELETION_DELETING:
                    raise OwnerDataDeleted(record.job_id, "create", None) from exc
                active = int(item.get("active_jobs", {}).get("N", "0"))
                if active_limit is not None and active >= active_limit:
                    raise ActiveJobLimit(record.owner, active, active_limit) from exc
                cost = int(item.get("active_cost", {}).get("N", "0"))
                raise ActiveJobLimit(record.owner, cost, cost_limit or 0, "cost units") from exc
            raise JobAlreadyExists(f"job {record.job_id!r} exists already") from exc
        return record

    def deletion_requested_at(self, owner: str) -> datetime | None:
        """When ``owner`` last asked to delete all their data (consistent read), or None."""
        item = self._db.get_item(
            TableName=self.table_name, Key=user_item_key(owner), ConsistentRead=True
        ).get("Item")
        if not item or "deletion_requested_at" not in item:
            return None
        return _parse_time(item["deletion_requested_at"]["S"])

    def _update_unless_owner_deleted(
        self,
        job_id: str,
        transition: str,
        rejected: type[TransitionRejected],
        *,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None,
        owner_check: bool = True,
    ) -> JobRecord:
        """The update in one transaction with the owner's user item: a check that the owner
        has not asked to delete their data since the job was created (``owner_check``, so a
        late worker cannot recreate it), and, when the update ends a job that holds one of the
        owner's active-job slots (``counted``), the slot's release (the item allows one
        operation per transaction, so both go into one update of it)."""
        current = self.get(job_id)
        attribute_names = {"#status": "status"} | (names or {})
        used_names = {k: v for k, v in attribute_names.items() if k in update or k in condition}
        job_update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"job_id": {"S": job_id}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": marshal(values),
        }
        if used_names:
            job_update["ExpressionAttributeNames"] = used_names
        release = current.counted and not current.status.is_terminal
        user: dict[str, Any] = {"TableName": self.table_name, "Key": user_item_key(current.owner)}
        user_values: dict[str, Any] = {}
        if owner_check:
            user["ConditionExpression"] = (
                "attribute_not_exists(deletion_requested_at) OR deletion_requested_at < :created"
            )
            user_values[":created"] = current.created_at
        items: list[Any] = [{"Update": job_update}]
        if release:
            user["UpdateExpression"] = "ADD active_jobs :minus_one, active_cost :minus_cost"
            user_values[":minus_one"] = -1
            user_values[":minus_cost"] = -current.cost_units
            user["ExpressionAttributeValues"] = marshal(user_values)
            items.append({"Update": user})
        elif owner_check:
            user["ExpressionAttributeValues"] = marshal(user_values)
            items.append({"ConditionCheck": user})
        try:
            self._db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(exc)
            if owner_check and len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise OwnerDataDeleted(job_id, transition, current.status.value) from exc
            try:
                status: str | None = self.get(job_id).status.value
            except JobNotFound:
                raise JobNotFound(f"job {job_id!r} not found") from exc
            raise rejected(job_id, transition, status) from exc
        return self.get(job_id)

    def take_upload_slot(self, owner: str, limit: int, now: datetime | None = None) -> int:
        """Counts one upload ticket against the owner's daily allowance (UTC day) atomically;
        raises :class:`ActiveJobLimit` (``uploads today``) when it is used up. Returns the count."""
        today = (now or utcnow()).strftime("%Y-%m-%d")
        key = user_item_key(owner)
        try:
            response = self._db.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="ADD uploads_today :one",
                ConditionExpression="upload_day = :today AND uploads_today < :limit",
                ExpressionAttributeValues=marshal({":one": 1, ":today": today, ":limit": limit}),
                ReturnValues="UPDATED_NEW",
            )
            return int(response["Attributes"]["uploads_today"]["N"])
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
        try:  # a new day (or the first upload): start the count again
            self._db.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET upload_day = :today, uploads_today = :one",
                ConditionExpression="attribute_not_exists(upload_day) OR upload_day <> :today",
                ExpressionAttributeValues=marshal({":one": 1, ":today": today}),
            )
            return 1
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
        raise ActiveJobLimit(owner, limit, limit, "uploads today")

    def active_jobs(self, owner: str) -> int:
        """The owner's active-job counter (consistent read)."""
        return self._counter(owner, "active_jobs")

    def active_cost(self, owner: str) -> int:
        """Cost units of the owner's queued and running jobs (consistent read)."""
        return self._counter(owner, "active_cost")

    def _counter(self, owner: str, name: str) -> int:
        item = self._db.get_item(
            TableName=self.table_name, Key=user_item_key(owner), ConsistentRead=True
        ).get("Item")
        return int(item[name]["N"]) if item and name in item else 0

    def withdraw(self, record: JobRecord) -> None:
        """Deletes a queued record whose message never left, releasing its slot; a user item
        that then holds nothing is removed too, so a refused request leaves no trace."""
        items: list[Any] = [
            {
                "Delete": {
                    "TableName": self.table_name,
                    "Key": {"job_id": {"S": record.job_id}},
                    "ConditionExpression": "#owner = :owner AND #status = :queued",
                    "ExpressionAttributeNames": {"#owner": "owner", "#status": "status"},
                    "ExpressionAttributeValues": marshal(
                        {":owner": record.owner, ":queued": JobStatus.QUEUED.value}
                    ),
                }
            }
        ]
        if record.counted:
            items.append(
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": user_item_key(record.owner),
                        "UpdateExpression": "ADD active_jobs :minus_one, active_cost :minus_cost",
                        "ExpressionAttributeValues": {
                            ":minus_one": {"N": "-1"},
                            ":minus_cost": {"N": str(-record.cost_units)},
                        },
                    }
                }
            )
        try:
            self._db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise JobNotFound(f"job {record.job_id!r} not found") from exc
            raise
        try:
            self._db.delete_item(
                TableName=self.table_name,
                Key=user_item_key(record.owner),
                ConditionExpression="active_jobs = :zero AND active_cost = :zero "
                "AND attribute_not_exists(deletion_id)",
                ExpressionAttributeValues={":zero": {"N": "0"}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    # -- internals -------------------------------------------------------------------------
    def _update(
        self,
        job_id: str,
        transition: str,
        rejected: type[TransitionRejected],
        *,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
        unless_owner_deleted: bool = False,
        ends_job: bool = False,
    ) -> JobRecord:
        """``ends_job``: a terminal transition, which releases the job's active-job slot in
        the same transaction (when it holds one)."""
        if unless_owner_deleted or ends_job:
            return self._update_unless_owner_deleted(
                job_id,
                transition,
                rejected,
                update=update,
                condition=condition,
                values=values,
                names=names,
                owner_check=unless_owner_deleted,
            )
        attribute_names = {"#status": "status"} | (names or {})
        used_names = {k: v for k, v in attribute_names.items() if k in update or k in condition}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"job_id": {"S": job_id}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": marshal(values),
            "ReturnValues": "ALL_NEW",
        }
        if used_names:
            kwargs["ExpressionAttributeNames"] = used_names
        try:
            response = self._db.update_item(**kwargs)
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            try:
                current: str | None = self.get(job_id).status.value
            except JobNotFound:
                raise JobNotFound(f"job {job_id!r} not found") from exc
            raise rejected(job_id, transition, current) from exc
        return item_to_record(response["Attributes"])


def _cancellation_codes(exc: ClientError) -> list[str]:
    reasons = exc.response.get("CancellationReasons", [])  # type: ignore[typeddict-item]
    if not reasons:
        # Some emulators only put them into the message: "[None, ConditionalCheckFailed]".
        message = exc.response.get("Error", {}).get("Message", "")
        inside = message[message.find("[") + 1 : message.rfind("]")] if "[" in message else ""
        return [part.strip() for part in inside.split(",")]
    return [str(reason.get("Code", "None")) for reason in reasons]


def check_binding(record: JobRecord, *, lane: Lane | None, owner: str | None) -> None:
    """Raises :class:`JobNotBound` unless ``record`` was created for ``lane`` and ``owner``."""
    if lane is not None and record.lane is not lane:
        raise JobNotBound(f"job {record.job_id!r} was not created for the {lane.value} lane")
    if owner is not None and record.owner != owner:
        raise JobNotBound(f"job {record.job_id!r} belongs to another tenant")


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
