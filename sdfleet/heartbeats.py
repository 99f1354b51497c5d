"""Worker heartbeat records: what each worker is doing, read by the scaler and the ETA.

Table: hash key ``worker_id`` (S); TTL attribute ``expires_at`` (epoch seconds), so a worker
that vanished stops counting once its record expires.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import fmean
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, Field

from sdfleet.records import utcnow
from sdfleet.store import marshal, unmarshal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: How many recent job durations a heartbeat keeps.
RECENT_JOBS_KEPT: Final = 20
#: A heartbeat older than this is treated as a dead worker.
STALE_AFTER_SECONDS: Final = 180
HEARTBEAT_TTL_SECONDS: Final = 3600


def job_pace(durations: Collection[float]) -> float | None:
    """The pace a worker reports: the mean of its recent job durations, None before any.

    The mean, not the median: a backlog of n jobs takes n x the mean to drain, and with
    mixed job sizes (6 s images beside 2-minute batches) the median is the small jobs' time
    and sizes the fleet for a fraction of the work (a third on the heavy-tailed trace). Once
    ``RECENT_JOBS_KEPT`` jobs are kept, one slow first job moves it by a twentieth of its
    excess, and then leaves it.
    """
    return fmean(durations) if durations else None


class WorkerState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DRAINING = "draining"
    STOPPED = "stopped"
    #: The model could not be loaded (``load_error``) or a setting is invalid (``stop_reason``);
    #: the process exited with ``exit_status``. Not capacity.
    FAILED = "failed"


class WorkerHeartbeat(BaseModel):
    worker_id: str
    instance_id: str | None = None
    state: WorkerState
    current_job: str | None = None
    jobs_done: int = 0
    recent_seconds_per_job: list[float] = Field(default_factory=list)
    model_load_seconds: float | None = None
    attention_backend: str | None = None
    load_error: str | None = None
    load_attempts: int | None = None
    #: Why the worker process stopped before serving (a configuration problem), and its exit
    #: status (75, 78 or 79: worker/__main__.py); the scaler logs it when it replaces the instance.
    stop_reason: str | None = None
    exit_status: int | None = None
    started_at: datetime = Field(default_factory=utcnow)
    idle_since: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    expires_at: int | None = None

    @property
    def seconds_per_job(self) -> float | None:
        return job_pace(self.recent_seconds_per_job)

    def is_stale(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return (now - self.updated_at).total_seconds() > STALE_AFTER_SECONDS


class HeartbeatStore:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._db = dynamodb
        self.table_name = table_name

    def put(self, heartbeat: WorkerHeartbeat) -> None:
        expiry = heartbeat.updated_at + timedelta(seconds=HEARTBEAT_TTL_SECONDS)
        record = heartbeat.model_copy(update={"expires_at": int(expiry.timestamp())})
        values = record.model_dump(mode="python", exclude_none=True)
        values["recent_seconds_per_job"] = values["recent_seconds_per_job"][-RECENT_JOBS_KEPT:]
        self._db.put_item(TableName=self.table_name, Item=marshal(values))

    def delete(self, worker_id: str) -> None:
        self._db.delete_item(TableName=self.table_name, Key={"worker_id": {"S": worker_id}})

    def list(
        self, *, include_stale: bool = False, now: datetime | None = None
    ) -> list[WorkerHeartbeat]:
        beats: list[WorkerHeartbeat] = []
        paginator = self._db.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table_name, ConsistentRead=True):
            for item in page.get("Items", []):
                beat = WorkerHeartbeat.model_validate(unmarshal(item))
                if include_stale or not beat.is_stale(now):
                    beats.append(beat)
        return beats
