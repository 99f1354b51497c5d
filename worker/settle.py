"""Applying a settle outcome: the record write, the counters, the lease and the message.

The decision is :class:`worker.settle_policy.SettlePolicy`'s; this executor only carries it
out. A record write that is refused because the lease was lost becomes :class:`Dropped`; any
other error while settling becomes a failed attempt (the policy's :meth:`after_error`). Message
deletes go to the acknowledgement thread. No AWS error escapes; only a job outcome without
its claimed job (a bug in a stage) raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from aws_lambda_powertools import Logger

from sdfleet.errors import LeaseLost, TransitionRejected
from sdfleet.messages import Lane
from sdfleet.records import ErrorCode, JobError
from sdfleet.requests import JobKind
from worker.gateways import JobGateway, QueueGateway
from worker.jobs import Running
from worker.lanes import ReceivedMessage
from worker.lease_keeper import LeaseKeeper
from worker.retry import transient_retry
from worker.settle_policy import (
    Cancelled,
    Deferred,
    Discarded,
    Dropped,
    Failed,
    GaveUp,
    Outcome,
    Rejected,
    RetryLater,
    Returned,
    SettlePolicy,
    Succeeded,
)
from worker.stats import WorkerStats

logger = Logger(service="sdfleet-worker", child=True)


class OutcomeMetrics(Protocol):
    def job_succeeded(self, latency_seconds: float) -> None: ...

    def job_failed(self) -> None: ...


class Settler:
    def __init__(
        self,
        policy: SettlePolicy,
        *,
        jobs: JobGateway,
        queue: QueueGateway,
        keeper: LeaseKeeper,
        ack: Callable[[ReceivedMessage], None],
        stats: WorkerStats,
        metrics: OutcomeMetrics,
        job_done: Callable[[float], None],
        worker_id: str,
        dead_letter_queues: Mapping[Lane, str | None],
    ) -> None:
        self.policy = policy
        self._jobs = jobs
        self._queue = queue
        self._keeper = keeper
        self._ack = ack
        self._stats = stats
        self._metrics = metrics
        self._job_done = job_done
        self._worker_id = worker_id
        self._dlq = dict(dead_letter_queues)

    def retry(self, message: ReceivedMessage, running: Running | None, exc: BaseException) -> None:
        """A failed attempt (``running`` is None before a claim): the policy says when again."""
        self.apply(message, self.policy.after_error(message.receive_count, exc), running)

    def apply(self, message: ReceivedMessage, outcome: Outcome, running: Running | None) -> None:
        """Carries out ``outcome``; job outcomes (succeeded ... cancelled) need ``running``."""
        match outcome:
            case Succeeded() if running is not None:
                self._succeeded(running, outcome)
            case Failed(error) if running is not None:
                self._failed(running, error)
            case Cancelled() if running is not None:
                self._cancelled(running)
            case Dropped() if running is not None:
                self._drop(running)
            case RetryLater() | GaveUp():
                self._attempt_failed(message, running, outcome)
            case Rejected():
                self._rejected(message, outcome)
            case Discarded():
                self.delete(message)
            case Deferred(seconds):
                self.set_visibility(message, seconds)
            case Returned():
                logger.info("returning unstarted message", extra={"message_id": message.message_id})
                self.set_visibility(message, 0)
            case _:
                raise ValueError(f"outcome: {outcome!r} needs a claimed job")

    # -- claimed jobs ----------------------------------------------------------------------
    def _succeeded(self, running: Running, outcome: Succeeded) -> None:
        self._stats.add(succeeded=1)
        self._metrics.job_succeeded(outcome.latency_seconds)
        if running.record.kind is not JobKind.TRAIN:
            # The heartbeat's seconds per job is the per-image pace the scaler and the API's
            # ETA use; a training's minutes would distort it (the scaler has its own estimate).
            self._job_done(outcome.total_seconds)
        self._keeper.release_job(running.record.job_id)
        self.delete(running.message)
        logger.info(
            "job succeeded",
            extra={
                "job_id": running.record.job_id,
                "outputs": list(outcome.outputs),
                "total_seconds": round(outcome.total_seconds, 3),
            },
        )

    def _failed(self, running: Running, error: JobError) -> None:
        job_id = running.record.job_id
        try:
            transient_retry(self._jobs.fail)(job_id, error, worker_id=self._worker_id)
        except LeaseLost:
            self._drop(running)
            return
        except Exception as exc:
            self.retry(running.message, running, exc)
            return
        self._stats.add(failed=1)
        self._metrics.job_failed()
        self._keeper.release_job(job_id)
        self.delete(running.message)
        logger.warning("job failed", extra={"job_id": job_id, "error": error.model_dump()})

    def _cancelled(self, running: Running) -> None:
        if running.lease.lost:
            self._drop(running)
            return
        try:
            transient_retry(self._jobs.mark_cancelled)(running.record.job_id, self._worker_id)
        except LeaseLost:
            self._drop(running)
            return
        except Exception as exc:
            self.retry(running.message, running, exc)
            return
        self._stats.add(cancelled=1)
        self._keeper.release_job(running.record.job_id)
        self.delete(running.message)
        logger.info("job cancelled", extra={"job_id": running.record.job_id})

    def expire_unstarted(self, running: Running) -> None:
        """A job claimed ahead that never started (drain): its lease ends now, so the next
        delivery claims it at once. Its message is returned separately."""
        job_id = running.record.job_id
        self._keeper.release_job(job_id)
        try:
            self._jobs.renew_lease(job_id, self._worker_id, 0)
        except Exception:
            logger.exception(
                "could not expire the lease of an unstarted job", extra={"job_id": job_id}
            )

    def _drop(self, running: Running) -> None:
        """We lost the lease: the new holder owns the job and its message. Touch nothing."""
        self._keeper.release_job(running.record.job_id)
        self._keeper.release_message(running.message)

    def _attempt_failed(
        self, message: ReceivedMessage, running: Running | None, outcome: RetryLater | GaveUp
    ) -> None:
        logger.exception(
            "attempt failed",
            extra={
                "message_id": message.message_id,
                "receive_count": message.receive_count,
                "job_id": running.record.job_id if running else None,
            },
            exc_info=outcome.cause,
        )
        self._stats.add(retried=1)
        try:
            if running is not None:
                job_id = running.record.job_id
                self._keeper.release_job(job_id)
                if isinstance(outcome, GaveUp):
                    self._jobs.fail(job_id, outcome.error, worker_id=self._worker_id)
                    self._stats.add(failed=1)
                    self._metrics.job_failed()
                else:
                    # Let the next delivery claim at once instead of waiting for the lease.
                    self._jobs.renew_lease(job_id, self._worker_id, 0)
        except Exception:
            logger.exception("could not settle the record after a failed attempt")
        # On the last delivery visibility 0 sends it to the DLQ at the next receive.
        delay = outcome.delay_seconds if isinstance(outcome, RetryLater) else 0
        self.set_visibility(message, delay)

    # -- deliveries that never ran ---------------------------------------------------------
    def _rejected(self, message: ReceivedMessage, outcome: Rejected) -> None:
        record, error = outcome.record, outcome.error
        if outcome.fail_record and record is not None and error is not None:
            try:
                transient_retry(self._jobs.fail)(record.job_id, error)
                self._stats.add(failed=1)
            except TransitionRejected as exc:
                logger.info(
                    "record not failed", extra={"job_id": record.job_id, "reason": str(exc)}
                )
            except Exception as exc:
                self.retry(message, None, exc)
                return
        log_extra = {
            "message_id": message.message_id,
            "job_id": record.job_id if record else None,
            "error": error.model_dump() if error else None,
            "note": outcome.note,
        }
        if outcome.dead_letter:
            logger.warning("message rejected", extra=log_extra)
            self._dead_letter(message, error)
        else:
            logger.info("message finished without running", extra=log_extra)
            self.delete(message)

    def _dead_letter(self, message: ReceivedMessage, error: JobError | None) -> None:
        """Moves a message that can never run to its lane's DLQ with the reason attached."""
        dlq = self._dlq.get(message.lane)
        reason = error or JobError(code=ErrorCode.INVALID_INPUT.value, message="rejected")
        if not dlq:
            # No DLQ configured: the redrive policy moves it after max receives.
            self.set_visibility(message, 0)
            return
        try:
            transient_retry(self._queue.send_dead_letter)(dlq, message, reason)
        except Exception:
            logger.exception("could not move the message to the DLQ; the redrive policy will")
            self.set_visibility(message, 0)
            return
        self._stats.add(dead_lettered=1)
        self.delete(message)

    # -- the message -----------------------------------------------------------------------
    def delete(self, message: ReceivedMessage) -> None:
        self._keeper.release_message(message)
        self._ack(message)

    def set_visibility(self, message: ReceivedMessage, seconds: int) -> None:
        self._keeper.release_message(message)
        try:
            self._queue.change_visibility(message, seconds)
        except Exception:
            logger.exception(
                "change_message_visibility failed", extra={"message_id": message.message_id}
            )
