"""The lease keeper: a thread that keeps held messages invisible and held jobs leased while
the worker works on them. (The worker's *heartbeat* is its status record,
:mod:`sdfleet.heartbeats`, which this thread also publishes through ``on_tick``.)

Every ``renew_seconds`` (the ``heartbeat_seconds`` setting) it extends the visibility of every
message the worker holds (ChangeMessageVisibilityBatch) and renews the DynamoDB lease of every
running job. Progress (step of total) reported from the denoising loop is written with the
lease renewal at most once a second; a job's first step wakes the thread, so "running" shows
progress at once.
Each renewal returns the record, so a ``cancel_requested`` flag set by the API is seen here
and handed to the step callback; a lost lease (another worker took over) is handed over the
same way, so the pipeline stops and nothing is written.

Releasing a message or a job waits for a request about it that is already in flight, so a
late renewal never hides a message the worker just gave back or renews a lease it just
handed back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from sdfleet.errors import JobNotFound, LeaseLost
from sdfleet.messages import Lane
from worker.gateways import JobGateway, QueueGateway
from worker.lanes import ReceivedMessage

#: Progress is written to the record at most this often.
PROGRESS_MIN_INTERVAL_SECONDS: Final = 1.0
#: SQS's batch limit for ChangeMessageVisibilityBatch.
VISIBILITY_BATCH_MAX: Final = 10

logger = Logger(service="sdfleet-worker", child=True)


@dataclass
class JobLease:
    """Shared between the generating thread (reads flags, writes progress) and the keeper."""

    job_id: str
    last_renewed: float = field(default_factory=time.monotonic)
    last_progress_write: float = 0.0
    progress: tuple[int, int] | None = None
    progress_dirty: bool = False
    cancel_requested: bool = False
    lost: bool = False
    wake: threading.Event | None = field(default=None, repr=False, compare=False)
    #: A training's recent loss and its own estimate of the seconds left (written with progress).
    loss: float | None = None
    eta_seconds: float | None = None

    def report_training(self, step: int, total: int, loss: float, eta_seconds: float) -> None:
        self.loss = loss
        self.eta_seconds = eta_seconds
        self.report_progress(step, total)

    def report_progress(self, step: int, total: int) -> None:
        first = self.progress is None
        self.progress = (step, total)
        self.progress_dirty = True
        if first and self.wake is not None:
            self.wake.set()


class LeaseKeeper:
    def __init__(
        self,
        queue: QueueGateway,
        store: JobGateway,
        *,
        worker_id: str,
        renew_seconds: float,
        visibility_timeout_seconds: int,
        lease_seconds: float,
        lane_visibility: Mapping[Lane, int] | None = None,
        on_tick: Callable[[], None] | None = None,
        tick_seconds: float | None = None,
    ) -> None:
        self._queue = queue
        self._store = store
        self._worker_id = worker_id
        self._every = renew_seconds
        self._visibility = visibility_timeout_seconds
        # A training lane's message is kept hidden longer (the queue's own, longer timeout).
        self._lane_visibility = dict(lane_visibility or {})
        self._lease_seconds = lease_seconds
        self._on_tick = on_tick
        self._tick = tick_seconds or min(PROGRESS_MIN_INTERVAL_SECONDS, renew_seconds)
        self._lock = threading.Lock()
        # Held while a request about held messages or one lease is in flight.
        self._in_flight = threading.RLock()
        self._wake = threading.Event()
        self._messages: dict[str, ReceivedMessage] = {}
        self._leases: dict[str, JobLease] = {}
        self._last_visibility = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    # -- what we hold ----------------------------------------------------------------------
    def hold_messages(self, messages: list[ReceivedMessage]) -> None:
        with self._lock:
            for message in messages:
                self._messages[message.receipt_handle] = message

    def release_message(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._messages.pop(message.receipt_handle, None)
        with self._in_flight:
            pass

    def held_messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages.values())

    def hold_job(self, job_id: str) -> JobLease:
        lease = JobLease(job_id, wake=self._wake)
        with self._lock:
            self._leases[job_id] = lease
        return lease

    def held_jobs(self) -> list[str]:
        with self._lock:
            return list(self._leases)

    def release_job(self, job_id: str) -> None:
        with self._lock:
            self._leases.pop(job_id, None)
        with self._in_flight:
            pass

    # -- thread ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._every + 5)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._tick)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.beat(time.monotonic())
            except Exception:
                logger.exception("lease keeper tick failed; will try again")

    def beat(self, now: float) -> None:
        """One tick (public so tests can drive it without waiting)."""
        if now - self._last_visibility >= self._every:
            self._last_visibility = now
            self._extend_visibility()
        if self._on_tick is not None:
            self._on_tick()
        with self._lock:
            leases = list(self._leases.values())
        for lease in leases:
            due = now - lease.last_renewed >= self._every
            progress_due = (
                lease.progress_dirty
                and now - lease.last_progress_write >= PROGRESS_MIN_INTERVAL_SECONDS
            )
            if not (due or progress_due) or lease.lost:
                continue
            with self._in_flight:
                with self._lock:
                    still_held = self._leases.get(lease.job_id) is lease
                if still_held:
                    self._renew(lease, now)

    def _renew(self, lease: JobLease, now: float) -> None:
        step, total = lease.progress if lease.progress else (None, None)
        write_progress = lease.progress_dirty
        try:
            record = self._store.renew_lease(
                lease.job_id,
                self._worker_id,
                self._lease_seconds,
                progress_step=step if write_progress else None,
                progress_total=total if write_progress else None,
                progress_loss=lease.loss if write_progress else None,
                progress_eta_seconds=lease.eta_seconds if write_progress else None,
            )
        except (LeaseLost, JobNotFound) as exc:
            lease.lost = True
            logger.warning("lease lost", extra={"job_id": lease.job_id, "reason": str(exc)})
            return
        except (ClientError, BotoCoreError) as exc:
            # Transient: the lease has margin (lease_seconds > renew_seconds); next tick.
            logger.warning(
                "lease renewal failed", extra={"job_id": lease.job_id, "error": str(exc)}
            )
            return
        lease.last_renewed = now
        if write_progress:
            lease.last_progress_write = now
            lease.progress_dirty = False
        if record.cancel_requested and not lease.cancel_requested:
            logger.info("cancel requested", extra={"job_id": lease.job_id})
            lease.cancel_requested = True

    def _extend_visibility(self) -> None:
        with self._in_flight:
            self._extend_held_visibility()

    def _extend_held_visibility(self) -> None:
        by_queue: dict[str, list[ReceivedMessage]] = {}
        for message in self.held_messages():
            by_queue.setdefault(message.queue_url, []).append(message)
        for queue_url, messages in by_queue.items():
            for start in range(0, len(messages), VISIBILITY_BATCH_MAX):
                chunk = messages[start : start + VISIBILITY_BATCH_MAX]
                try:
                    failures = self._queue.change_visibility_batch(
                        queue_url, chunk, self._lane_visibility.get(chunk[0].lane, self._visibility)
                    )
                except (ClientError, BotoCoreError) as exc:
                    logger.warning("visibility extension failed", extra={"error": str(exc)})
                    continue
                for failure in failures:
                    logger.warning("visibility extension refused", extra={"failure": failure})
