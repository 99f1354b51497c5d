"""In-memory fakes of the worker's gateway protocols (:mod:`worker.gateways`), so the stages
can be unit tested without the emulator. They keep the conditions of the real ones: the
DynamoDB store's conditional writes (emulator-tested in tests/integration/test_job_store.py)
and SQS's per-message calls; a test can make any call raise."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sdfleet.errors import (
    CancelRequested,
    JobAlreadyExists,
    JobNotClaimable,
    JobNotFound,
    LeaseLost,
    OwnerDataDeleted,
    TransitionRejected,
)
from sdfleet.messages import JobMessage, Lane
from sdfleet.records import JobError, JobRecord, JobStatus, utcnow
from sdfleet.requests import JobKind, JobParams
from sdfleet.store import check_binding
from worker.accept import Acceptor
from worker.claim import Claimer
from worker.intake import MessageIntake
from worker.lanes import ReceivedMessage
from worker.lease_keeper import LeaseKeeper
from worker.settle import Settler
from worker.settle_policy import SettlePolicy
from worker.stats import WorkerStats
from worker.tenants import TenantMap


class MemoryJobs:
    """:class:`worker.gateways.JobGateway` over a dict, with the store's conditions."""

    def __init__(self) -> None:
        self.records: dict[str, JobRecord] = {}
        #: method name -> exception raised by its next calls (until removed).
        self.broken: dict[str, BaseException] = {}
        self.calls: list[tuple[str, str]] = []
        #: owner -> when they asked to delete all their data.
        self.deletions: dict[str, datetime] = {}

    def _enter(self, method: str, job_id: str) -> None:
        self.calls.append((method, job_id))
        if method in self.broken:
            raise self.broken[method]

    def _record(self, job_id: str) -> JobRecord:
        if job_id not in self.records:
            raise JobNotFound(f"job {job_id!r} not found")
        return self.records[job_id]

    def _set(self, record: JobRecord, **changes: Any) -> JobRecord:
        updated = record.model_copy(update=changes)
        self.records[record.job_id] = updated
        return updated

    def _held_by(self, job_id: str, worker_id: str, transition: str) -> JobRecord:
        # As the store: a conditional write on a missing record says "not found".
        record = self._record(job_id)
        if (
            record is None
            or record.status is not JobStatus.RUNNING
            or record.worker_id != worker_id
        ):
            raise LeaseLost(job_id, transition, record.status.value if record else None)
        return record

    def get(self, job_id: str) -> JobRecord:
        self._enter("get", job_id)
        return self._record(job_id)

    def create(self, record: JobRecord) -> JobRecord:
        self._enter("create", record.job_id)
        if record.job_id in self.records:
            raise JobAlreadyExists(record.job_id)
        self.records[record.job_id] = record
        return record

    def claim(
        self,
        job_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        lane: Lane | None = None,
        owner: str | None = None,
    ) -> JobRecord:
        self._enter("claim", job_id)
        record = self._record(job_id)
        check_binding(record, lane=lane, owner=owner)
        now = utcnow()
        expired = record.lease_expires_at is not None and record.lease_expires_at < now
        if not (
            record.status is JobStatus.QUEUED or (record.status is JobStatus.RUNNING and expired)
        ):
            raise JobNotClaimable(job_id, "claim", record.status.value)
        return self._set(
            record,
            status=JobStatus.RUNNING,
            worker_id=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            started_at=now,
            attempts=record.attempts + 1,
        )

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
    ) -> JobRecord:
        self._enter("renew_lease", job_id)
        record = self._held_by(job_id, worker_id, "renew lease")
        changes: dict[str, Any] = {"lease_expires_at": utcnow() + timedelta(seconds=lease_seconds)}
        if progress_step is not None and progress_total is not None:
            changes |= {"progress_step": progress_step, "progress_total": progress_total}
        if progress_loss is not None:
            changes["progress_loss"] = progress_loss
        if progress_eta_seconds is not None:
            changes["progress_eta_seconds"] = progress_eta_seconds
        return self._set(record, **changes)

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
    ) -> JobRecord:
        self._enter("finish", job_id)
        record = self._held_by(job_id, worker_id, "finish")
        if record.cancel_requested:
            raise CancelRequested(job_id, "finish", record.status.value)
        deleted = self.deletions.get(record.owner)
        if deleted is not None and deleted >= record.created_at:
            raise OwnerDataDeleted(job_id, "finish", record.status.value)
        return self._set(
            record,
            status=JobStatus.SUCCEEDED,
            outputs=outputs,
            seeds=seeds,
            attention_backend=attention_backend,
            attention_reason=attention_reason,
            model_seconds=model_seconds,
            total_seconds=total_seconds,
            loss_curve=loss_curve or [],
            adapter_id=adapter_id,
            lease_expires_at=None,
        )

    def fail(self, job_id: str, error: JobError, *, worker_id: str | None = None) -> JobRecord:
        self._enter("fail", job_id)
        if worker_id is not None:
            record = self._held_by(job_id, worker_id, "fail")
        else:
            record = self._record(job_id)
            expired = record.lease_expires_at is not None and record.lease_expires_at < utcnow()
            if not (
                record.status is JobStatus.QUEUED
                or (record.status is JobStatus.RUNNING and expired)
            ):
                raise TransitionRejected(job_id, "fail", record.status.value)
        return self._set(record, status=JobStatus.FAILED, error=error, lease_expires_at=None)

    def mark_cancelled(self, job_id: str, worker_id: str) -> JobRecord:
        self._enter("mark_cancelled", job_id)
        record = self._held_by(job_id, worker_id, "mark cancelled")
        if not record.cancel_requested:
            raise LeaseLost(job_id, "mark cancelled", record.status.value)
        return self._set(record, status=JobStatus.CANCELLED, lease_expires_at=None)

    # -- what the API does (not part of the protocol) --------------------------------------
    def deletion_requested_at(self, owner: str) -> datetime | None:
        self._enter("deletion_requested_at", owner)
        return self.deletions.get(owner)

    def request_cancel(self, job_id: str) -> None:
        self._set(self._record(job_id), cancel_requested=True)

    def take_over(self, job_id: str, worker_id: str) -> None:
        """Another worker claimed the job after our lease lapsed."""
        self._set(self._record(job_id), worker_id=worker_id)


@dataclass
class MemoryQueue:
    """:class:`worker.gateways.QueueGateway` that records what was asked of SQS."""

    deleted: list[str] = field(default_factory=list)
    visibility: list[tuple[str, int]] = field(default_factory=list)
    dead_letters: list[tuple[str, str, JobError]] = field(default_factory=list)
    broken: dict[str, BaseException] = field(default_factory=dict)

    def _enter(self, method: str) -> None:
        if method in self.broken:
            raise self.broken[method]

    def delete(self, message: ReceivedMessage) -> None:
        self._enter("delete")
        self.deleted.append(message.message_id)

    def change_visibility(self, message: ReceivedMessage, seconds: int) -> None:
        self._enter("change_visibility")
        self.visibility.append((message.message_id, seconds))

    def change_visibility_batch(
        self, queue_url: str, messages: Sequence[ReceivedMessage], seconds: int
    ) -> list[str]:
        self._enter("change_visibility_batch")
        self.visibility.extend((m.message_id, seconds) for m in messages)
        return []

    def send_dead_letter(self, dlq_url: str, message: ReceivedMessage, error: JobError) -> None:
        self._enter("send_dead_letter")
        self.dead_letters.append((dlq_url, message.message_id, error))


_ids = itertools.count(1)
SENDER = "AIDASENDER"


def params(**overrides: Any) -> JobParams:
    values: dict[str, Any] = {"prompt": "a red cube", "width": 64, "height": 64, "steps": 2}
    return JobParams.model_validate(values | overrides)


def delivery(
    body: str,
    *,
    lane: Lane = Lane.INTERACTIVE,
    receive_count: int = 1,
    sender_id: str | None = SENDER,
) -> ReceivedMessage:
    n = next(_ids)
    return ReceivedMessage(
        lane=lane,
        queue_url=f"https://sqs.local/{lane.value}",
        message_id=f"m-{n}",
        receipt_handle=f"rh-{n}",
        body=body,
        sender_id=sender_id,
        receive_count=receive_count,
        sent_timestamp_ms=None,
    )


def job_body(job_id: str | None, kind: JobKind = JobKind.TXT2IMG, **overrides: Any) -> str:
    return JobMessage(version=1, kind=kind, params=params(**overrides), job_id=job_id).to_body()


def queued(
    jobs: MemoryJobs,
    job_id: str,
    *,
    owner: str = "user-1",
    lane: Lane = Lane.INTERACTIVE,
    kind: JobKind = JobKind.TXT2IMG,
    **overrides: Any,
) -> JobRecord:
    record = JobRecord(job_id=job_id, owner=owner, kind=kind, params=params(**overrides), lane=lane)
    return jobs.create(record)


def keeper(queue: MemoryQueue, jobs: MemoryJobs, worker_id: str = "w1") -> LeaseKeeper:
    """The real lease keeper over the fakes, its thread not started."""
    return LeaseKeeper(
        queue,
        jobs,
        worker_id=worker_id,
        renew_seconds=30,
        visibility_timeout_seconds=120,
        lease_seconds=120,
    )


@dataclass
class Recorded:
    """Collects calls to a callback (acks, job-done reports, metrics)."""

    calls: list[Any] = field(default_factory=list)

    def __call__(self, *args: Any) -> None:
        self.calls.append(args[0] if len(args) == 1 else args)


@dataclass
class MemoryMetrics:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    def job_succeeded(self, latency_seconds: float) -> None:
        self.latencies.append(latency_seconds)

    def job_failed(self) -> None:
        self.failures += 1


DLQ_URLS = {Lane.INTERACTIVE: "https://sqs.local/interactive-dlq", Lane.BATCH: None}
TENANT = "acme"


@dataclass
class Stages:
    """The settle, intake and claim stages wired to the fakes, as the worker wires them."""

    jobs: MemoryJobs
    queue: MemoryQueue
    keeper: LeaseKeeper
    acks: Recorded
    job_done: Recorded
    metrics: MemoryMetrics
    stats: WorkerStats
    settler: Settler
    acceptor: Acceptor
    claimer: Claimer

    def acked(self) -> list[str]:
        return [message.message_id for message in self.acks.calls]


def stages(
    *, worker_id: str = "w1", max_receive_count: int = 3, lease_seconds: int = 120
) -> Stages:
    jobs, queue = MemoryJobs(), MemoryQueue()
    lease_keeper = keeper(queue, jobs, worker_id)
    acks, job_done, metrics, stats = Recorded(), Recorded(), MemoryMetrics(), WorkerStats()
    settler = Settler(
        SettlePolicy(
            max_receive_count=max_receive_count,
            visibility_timeout_seconds=120,
            lease_seconds=lease_seconds,
        ),
        jobs=jobs,
        queue=queue,
        keeper=lease_keeper,
        ack=acks,
        stats=stats,
        metrics=metrics,
        job_done=job_done,
        worker_id=worker_id,
        dead_letter_queues=DLQ_URLS,
    )
    acceptor = Acceptor(
        MessageIntake(jobs, TenantMap({SENDER: TENANT}), ingest_sender_id=SENDER), settler
    )
    claimer = Claimer(
        jobs, acceptor, settler, lease_keeper, worker_id=worker_id, lease_seconds=lease_seconds
    )
    return Stages(
        jobs, queue, lease_keeper, acks, job_done, metrics, stats, settler, acceptor, claimer
    )
