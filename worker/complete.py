"""The finish stage: a call's images to S3 and the record to ``succeeded``, off the main thread.

Uploads and ``finish`` of one call run on up to :data:`MAX_COMPLETION_THREADS` threads while
the next call generates; the loop waits for them before handing over the next call's (at most
one call behind), and a drain waits for all of them. Outputs are written only under the lease
(:mod:`worker.outputs`) and ``finish`` is conditional on it and on no cancel request; a cancel
that lands after the last step still wins (the PNGs just written are deleted). So does a
``DELETE /me`` made after the job was created: the worker reads the owner's deletion state
before its first output write, and ``finish`` is one transaction with a check of it.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, Protocol

from aws_lambda_powertools import Logger

from sdfleet.errors import CancelRequested, JobNotFound, LeaseLost, OwnerDataDeleted
from sdfleet.records import JobRecord, utcnow
from worker.gateways import JobGateway
from worker.jobs import Running
from worker.retry import transient_retry
from worker.settle import Settler
from worker.settle_policy import Discarded, Dropped, Succeeded

if TYPE_CHECKING:
    from worker.generation import GeneratedImage

#: Uploads and finishes of one call in parallel, up to this many at once.
MAX_COMPLETION_THREADS: Final = 8

logger = Logger(service="sdfleet-worker", child=True)


class OutputStore(Protocol):
    """Where a job's PNGs go (:class:`worker.outputs.OutputWriter` on S3)."""

    def upload(self, owner: str, job_id: str, pngs: list[bytes], attempt: int) -> list[str]: ...

    def discard(self, keys: list[str]) -> None: ...


class Completer:
    def __init__(
        self,
        jobs: JobGateway,
        outputs: OutputStore,
        settler: Settler,
        *,
        worker_id: str,
        threads: int,
    ) -> None:
        self._jobs = jobs
        self._outputs = outputs
        self._settler = settler
        self._worker_id = worker_id
        # One thread per image of a full call: a call's uploads and finishes run side by side.
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(threads, MAX_COMPLETION_THREADS)),
            thread_name_prefix="complete",
        )
        self._pending: list[Future[None]] = []

    def submit(
        self,
        running: Running,
        images: list[GeneratedImage],
        pipeline_seconds: float,
        attention_backend: str,
        attention_reason: str | None = None,
    ) -> None:
        self._pending.append(
            self._pool.submit(
                self.complete,
                running,
                images,
                pipeline_seconds,
                attention_backend,
                attention_reason,
            )
        )

    def wait(self) -> None:
        """Blocks until every submitted completion has settled."""
        pending, self._pending = self._pending, []
        for future in pending:
            try:
                future.result()
            except Exception:
                # complete settles its own errors; anything here is a bug, logged not raised.
                logger.exception("completion failed")

    # Long on purpose: upload, finish and delete of one call are one durable sequence (the
    # message goes only after the record says succeeded); its branches are the failure cases.
    def complete(
        self,
        running: Running,
        images: list[GeneratedImage],
        pipeline_seconds: float,
        attention_backend: str,
        attention_reason: str | None = None,
    ) -> None:
        record, lease, message = running.record, running.lease, running.message
        policy = self._settler.policy
        stopped = policy.before_completion(lease)
        if stopped is not None:
            self._settler.apply(message, stopped, running)
            return
        keys: list[str] = []
        if self._owner_deleted(record):
            self._abandon(running, keys, "the owner deleted their data before the first output")
            return
        try:
            keys = transient_retry(self._outputs.upload)(
                record.owner, record.job_id, [image.png for image in images], record.attempts
            )
            handled = time.perf_counter() - running.claimed_at
            queue_wait = None
            if record.started_at is not None:
                queue_wait = (record.started_at - record.created_at).total_seconds()
            transient_retry(self._jobs.finish)(
                record.job_id,
                self._worker_id,
                keys,
                [image.seed for image in images],
                attention_backend=attention_backend,
                attention_reason=attention_reason,
                queue_wait_seconds=queue_wait,
                model_seconds=round(pipeline_seconds, 4),
                total_seconds=round(handled, 4),
            )
        except CancelRequested:
            # The cancel arrived after the last step we checked but before the commit: it wins.
            lease.cancel_requested = True
            try:
                transient_retry(self._outputs.discard)(keys)
            except Exception as exc:
                self._settler.retry(message, running, exc)
                return
            self._settler.apply(message, policy.stopped(lease), running)
            return
        except (OwnerDataDeleted, JobNotFound):
            # DELETE /me since the job was created (or its record is already purged): nothing
            # of it may stay behind.
            self._abandon(running, keys, "the owner deleted their data")
            return
        except LeaseLost as exc:
            logger.warning(
                "lease lost before finish", extra={"job_id": record.job_id, "reason": str(exc)}
            )
            self._settler.apply(message, Dropped(), running)
            return
        except Exception as exc:
            self._settler.retry(message, running, exc)
            return
        total = time.perf_counter() - running.claimed_at
        latency = (utcnow() - record.created_at).total_seconds()
        self._settler.apply(message, Succeeded(tuple(keys), total, latency), running)

    def _owner_deleted(self, record: JobRecord) -> bool:
        requested = transient_retry(self._jobs.deletion_requested_at)(record.owner)
        return requested is not None and requested >= record.created_at

    def _abandon(self, running: Running, keys: list[str], note: str) -> None:
        """Removes what was written, gives the lease up at once (so the purge need not wait
        for it) and deletes the message; the purge deals with the record."""
        try:
            transient_retry(self._outputs.discard)(keys)
        except Exception as exc:
            self._settler.retry(running.message, running, exc)
            return
        self._settler.expire_unstarted(running)
        self._settler.apply(running.message, Discarded(note), None)
        logger.info("job abandoned", extra={"job_id": running.record.job_id, "reason": note})
