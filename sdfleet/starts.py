"""Measured worker starts: how long an instance took from EC2's launch to taking jobs.

Each worker start writes one small JSON record to the data bucket under
:data:`START_RECORDS_PREFIX` (``fleet/starts/<instance id>/<launched>-<process start>.json``).
``sdfleet starts`` collects them into the samples file that ``sdfleet simulate
--start-samples`` replays, so the simulator's boot times are this fleet's, per start path.

A start is timed from the instance identity document's ``pendingTime`` (EC2 writes the
document again whenever the instance starts, so after a stop and start it is the latest
start) to the moment the worker may take jobs: ``boot_seconds`` runs to the worker
process's start (EC2, the OS, the user data's install), ``load_seconds`` from there (imports,
the model, the warm-up generation, the launch gate).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

START_RECORDS_PREFIX: Final = "fleet/starts/"
#: Version of the samples file ``sdfleet starts --out`` writes.
START_SAMPLES_VERSION: Final = 1
_KEY_TIME_FORMAT: Final = "%Y%m%dT%H%M%SZ"


class StartPath(StrEnum):
    #: A new instance straight into service (the plain or baked-AMI start).
    LAUNCH = "launch"
    #: A new instance into the warm pool: ready here means loaded, warm and about to stop.
    LAUNCH_TO_POOL = "launch-to-pool"
    #: A stopped (warm pool) instance started into service.
    RESUME = "resume"
    #: The worker process started again on a start already timed (systemd restarted it);
    #: kept for the record, never a boot sample.
    RESTART = "restart"


#: The start paths that are boot samples, in the samples file's order.
SAMPLED_PATHS: Final = (StartPath.LAUNCH, StartPath.RESUME, StartPath.LAUNCH_TO_POOL)


class StartRecord(BaseModel):
    instance_id: str
    start_path: StartPath
    #: EC2's ``pendingTime``: when the instance last entered ``pending``.
    launched_at: datetime
    process_started_at: datetime
    ready_at: datetime
    model_load_seconds: float | None = None
    image_id: str | None = None
    instance_type: str | None = None

    @property
    def boot_seconds(self) -> float:
        return (self.process_started_at - self.launched_at).total_seconds()

    @property
    def load_seconds(self) -> float:
        return (self.ready_at - self.process_started_at).total_seconds()

    @property
    def launch_to_ready_seconds(self) -> float:
        return (self.ready_at - self.launched_at).total_seconds()

    @property
    def key(self) -> str:
        launched = self.launched_at.strftime(_KEY_TIME_FORMAT)
        started = self.process_started_at.strftime(_KEY_TIME_FORMAT)
        return f"{START_RECORDS_PREFIX}{self.instance_id}/{launched}-{started}.json"


class StartRecordStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def put(self, record: StartRecord) -> None:
        self._s3.put_object(
            Bucket=self.bucket,
            Key=record.key,
            Body=record.model_dump_json().encode(),
            ContentType="application/json",
        )

    def record_keys(self) -> Iterator[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=START_RECORDS_PREFIX):
            for item in page.get("Contents", []):
                yield item["Key"]

    def get(self, key: str) -> StartRecord:
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return StartRecord.model_validate_json(body)


def launched_second_of_key(key: str) -> datetime | None:
    """The launch time a record's key names, to the second; None for a key not in that form.

    Lets a reader skip records launched before a cut-off without fetching them.
    """
    launched, _, _ = key.rpartition("/")[2].partition("-")
    try:
        return datetime.strptime(launched, _KEY_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def samples_document(records: Iterable[StartRecord], source: str) -> dict[str, Any]:
    """The samples file: ``[boot_seconds, load_seconds]`` pairs per sampled start path."""
    paths: dict[str, list[list[float]]] = {path.value: [] for path in SAMPLED_PATHS}
    for record in records:
        if record.start_path in SAMPLED_PATHS:
            pair = [round(record.boot_seconds, 3), round(record.load_seconds, 3)]
            paths[record.start_path.value].append(pair)
    return {"version": START_SAMPLES_VERSION, "source": source, "paths": paths}


def dump_samples(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1) + "\n"
