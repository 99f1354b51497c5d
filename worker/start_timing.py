"""Times this worker's start, from EC2's launch to taking jobs, and records it in S3.

The records (:mod:`sdfleet.starts`) are what ``sdfleet starts`` turns into the simulator's
boot samples. The start path comes from a small history file in ``state_dir``, which is on
the root volume and so survives a warm pool's stop: a launch time seen before is the process
restarting (systemd) on a start already timed; an instance that started before at another
launch time was stopped and started again (a warm-pool resume).

Recording never stops a worker: without the metadata service (not on EC2) or S3, the start
is logged and not recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Final

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, ValidationError

from sdfleet.records import utcnow
from sdfleet.starts import StartPath, StartRecord, StartRecordStore
from worker.metadata import InstanceMetadata, MetadataUnavailable

HISTORY_FILE: Final = "start-history.json"
#: Launch times kept in the history (a warm-pool instance adds one per resume).
MAX_LAUNCHES_KEPT: Final = 100

logger = Logger(service="sdfleet-worker", child=True)


class StartHistory(BaseModel):
    instance_id: str
    launches: list[datetime] = Field(default_factory=list)


class StartTimer:
    """Records one start per process: the first call to :meth:`ready` wins."""

    def __init__(
        self,
        *,
        state_dir: str,
        metadata: InstanceMetadata | None,
        store: StartRecordStore | None,
        process_started_at: datetime,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.history_path = Path(state_dir) / HISTORY_FILE
        self._metadata = metadata
        self._store = store
        self.process_started_at = process_started_at
        self._clock = clock
        self.record: StartRecord | None = None
        self._done = False

    def ready(
        self, *, entering_pool: bool, model_load_seconds: float | None = None
    ) -> StartRecord | None:
        """Times the start as ready now and records it; None when it cannot be timed."""
        if self._done:
            return self.record
        self._done = True
        ready_at = self._clock()
        if self._metadata is None:
            return None
        try:
            document = self._metadata.identity_document()
            instance_id = str(document["instanceId"])
            launched_at = datetime.fromisoformat(str(document["pendingTime"]))
        except (MetadataUnavailable, KeyError, ValueError) as exc:
            logger.info("start not timed: no identity document", extra={"error": str(exc)})
            return None
        history = self._read_history(instance_id)
        path = self._path(history, launched_at, entering_pool)
        if launched_at not in history.launches:
            history.launches = [*history.launches, launched_at][-MAX_LAUNCHES_KEPT:]
        self._write_history(history)
        self.record = StartRecord(
            instance_id=instance_id,
            start_path=path,
            launched_at=launched_at,
            process_started_at=self.process_started_at,
            ready_at=ready_at,
            model_load_seconds=model_load_seconds,
            image_id=document.get("imageId"),
            instance_type=document.get("instanceType"),
        )
        logger.info(
            "start timed",
            extra={
                "start_path": path.value,
                "launch_to_ready_seconds": round(self.record.launch_to_ready_seconds, 1),
                "boot_seconds": round(self.record.boot_seconds, 1),
                "load_seconds": round(self.record.load_seconds, 1),
            },
        )
        if self._store is not None:
            try:
                self._store.put(self.record)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("start record not written", extra={"error": str(exc)})
        return self.record

    @staticmethod
    def _path(history: StartHistory, launched_at: datetime, entering_pool: bool) -> StartPath:
        if launched_at in history.launches:
            return StartPath.RESTART
        if entering_pool:
            return StartPath.LAUNCH_TO_POOL
        if history.launches:
            return StartPath.RESUME
        return StartPath.LAUNCH

    def _read_history(self, instance_id: str) -> StartHistory:
        try:
            history = StartHistory.model_validate_json(self.history_path.read_text())
        except (OSError, ValidationError):
            return StartHistory(instance_id=instance_id)
        # A file from another instance (state baked into an AMI) says nothing about this one.
        return (
            history if history.instance_id == instance_id else StartHistory(instance_id=instance_id)
        )

    def _write_history(self, history: StartHistory) -> None:
        try:
            self.history_path.parent.mkdir(parents=True, exist_ok=True)
            self.history_path.write_text(history.model_dump_json())
        except OSError as exc:
            logger.warning("start history not written", extra={"error": str(exc)})
