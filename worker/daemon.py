"""The worker loop: receive (interactive first), claim, generate, upload, finish, delete.

The pipeline call runs on the main thread; uploads, ``finish`` and message deletes run on
background threads so the GPU starts the next call at once (at most one call's completions
are pending; a drain waits for them), and the next receive and claims start on another
shortly before a call ends (:mod:`worker.receive_ahead`).

Who may finish a job is decided by its DynamoDB lease, never by the SQS receipt handle: the
claim is a conditional write, the heartbeat renews it, outputs are replaced only under it (see
:mod:`worker.outputs`), ``finish`` is conditional on it, and only then is the message deleted.
Every exception while handling a message is caught and logged; the loop never crash-loops.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from sdfleet.aws import AwsClients
from sdfleet.errors import (
    CancelRequested,
    JobNotClaimable,
    JobNotFound,
    LeaseLost,
    TransitionRejected,
)
from sdfleet.heartbeats import HeartbeatStore, WorkerState
from sdfleet.messages import JobMessage, Lane
from sdfleet.records import ErrorCode, JobError, JobRecord, JobStatus, utcnow
from sdfleet.requests import JobKind, JobParams
from sdfleet.settings import WorkerSettings
from sdfleet.store import JobStore
from worker.acks import Acknowledger
from worker.errors import GenerationCancelled, InvalidJobInput
from worker.intake import Action, Intake, MessageIntake, input_problem
from worker.lanes import LanePoller, ReceivedMessage
from worker.lifecycle import Drain, DrainReason, TerminationWatcher, complete_lifecycle_action
from worker.metadata import InstanceMetadata
from worker.metrics import JobMetrics
from worker.outputs import OutputWriter
from worker.receive_ahead import ReceiveAhead
from worker.reporting import WorkerReporter
from worker.retry import redelivery_delay, transient_retry
from worker.startup import resolve_identity
from worker.tenants import TenantMap
from worker.visibility import Heartbeat, JobLease

if TYPE_CHECKING:
    from worker.generation import GeneratedImage, GenerationJob, Generator

#: An input image larger than this is refused before it is read.
MAX_INPUT_BYTES: Final = 32 * 1024 * 1024
#: Seeds derived from the job id fit the request's seed range.
_SEED_BYTES: Final = 4
#: Error text stored on a record or attached to a dead-lettered message.
MAX_ERROR_CHARS: Final = 1000
#: Uploads and finishes of one call in parallel, up to this many at once.
MAX_COMPLETION_THREADS: Final = 8

logger = Logger(service="sdfleet-worker")


def derived_seed(job_id: str) -> int:
    """A job without a seed gets one from its id, so every attempt draws the same images."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:_SEED_BYTES], "big")


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


@dataclass(frozen=True)
class Accepted:
    """A delivery that names a job to claim (its params group it with others of its shape)."""

    message: ReceivedMessage
    job_id: str
    kind: JobKind
    params: JobParams


@dataclass
class Running:
    """One claimed job while its group runs."""

    message: ReceivedMessage
    record: JobRecord
    lease: JobLease
    claimed_at: float
    received_at: float
    images: int = 0


#: A group of same-shape deliveries, and its jobs when they were claimed ahead (else None).
Group = tuple[list[Accepted], list[Running] | None]


@dataclass(frozen=True)
class Fetched:
    """What a receive-ahead brought: the deliveries' groups, the first one claimed."""

    messages: int
    groups: list[Group]


@dataclass(frozen=True)
class ReceiveTiming:
    """One receive and everything it brought (the overhead benchmark reads these)."""

    messages: int
    jobs_finished: int
    wall_seconds: float
    pipeline_seconds: float

    @property
    def overhead_seconds(self) -> float:
        """Main-loop time not inside a pipeline call: receive, intake, claim, input download,
        and waiting for the previous call's uploads if they are slower than the pipeline."""
        return self.wall_seconds - self.pipeline_seconds


@dataclass
class WorkerStats:
    jobs_succeeded: int = 0
    jobs_failed: int = 0
    jobs_cancelled: int = 0
    jobs_retried: int = 0
    messages_dead_lettered: int = 0
    pipeline_seconds: float = 0.0
    receives: list[ReceiveTiming] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def jobs_finished(self) -> int:
        return self.jobs_succeeded + self.jobs_failed + self.jobs_cancelled

    def count(self, counter: str) -> None:
        """One more of ``counter``: completions, intake and the main loop all count."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        clients: AwsClients,
        generator: Generator,
        *,
        worker_id: str,
        instance_id: str | None = None,
        metadata: InstanceMetadata | None = None,
        drain: Drain | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.instance_id = instance_id
        self.generator = generator
        self.drain = drain or Drain()
        self.stats = WorkerStats()
        self._sqs = clients.sqs()
        self._s3 = clients.s3()
        self._autoscaling = clients.autoscaling
        self.store = JobStore(clients.dynamodb(), settings.jobs_table, settings.record_ttl_days)
        self._intake = MessageIntake(self.store, TenantMap(settings.sender_tenants))
        lanes = (
            [(Lane.INTERACTIVE, settings.interactive_queue_url)]
            if (settings.interactive_queue_url)
            else []
        )
        if settings.batch_queue_url:
            lanes.append((Lane.BATCH, settings.batch_queue_url))
        self._poller = LanePoller(
            self._sqs,
            lanes,
            wait_time_seconds=settings.wait_time_seconds,
            max_messages=settings.max_batch_size,
            visibility_timeout_seconds=settings.visibility_timeout_seconds,
        )
        self.reporter = WorkerReporter(
            HeartbeatStore(clients.dynamodb(), settings.workers_table),
            worker_id,
            instance_id,
            refresh_seconds=settings.heartbeat_seconds,
        )
        self.metrics = JobMetrics(clients.cloudwatch(), settings.metrics_namespace)
        self.heartbeat = Heartbeat(
            self._sqs,
            self.store,
            worker_id=worker_id,
            heartbeat_seconds=settings.heartbeat_seconds,
            visibility_timeout_seconds=settings.visibility_timeout_seconds,
            lease_seconds=settings.lease_seconds,
            on_tick=self._on_heartbeat_tick,
        )
        self._acks = Acknowledger(self._sqs)
        # One thread per image of a full call: a call's uploads and finishes run side by side.
        self._completions = ThreadPoolExecutor(
            max_workers=min(settings.max_batch_size, MAX_COMPLETION_THREADS),
            thread_name_prefix="complete",
        )
        self._pending: list[Future[None]] = []
        self._outputs = OutputWriter(
            self._s3, settings.bucket, self.store, worker_id, settings.lease_seconds
        )
        self._watcher = (
            TerminationWatcher(metadata, self.drain, settings.metadata_poll_seconds)
            if metadata is not None
            else None
        )
        self._dlq = {
            Lane.INTERACTIVE: settings.interactive_dlq_url,
            Lane.BATCH: settings.batch_dlq_url,
        }
        self._ahead = ReceiveAhead(self._fetch_ahead, settings.receive_ahead_seconds)
        logger.append_keys(worker_id=worker_id)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: WorkerSettings, drain: Drain | None = None) -> Worker:
        from worker.generation import Generator

        clients = AwsClients.from_settings(settings)
        metadata = InstanceMetadata(settings.metadata_url)
        worker_id, instance_id = resolve_identity(settings, metadata)
        generator = Generator.load(settings, clients.s3())
        return cls(
            settings,
            clients,
            generator,
            worker_id=worker_id,
            instance_id=instance_id,
            metadata=metadata,
            drain=drain,
        )

    # -- main loop -------------------------------------------------------------------------
    def run(self) -> int:
        """Runs until drained. Returns the process exit status (0 after a clean drain)."""
        self.start_background()
        try:
            while not self.drain.requested:
                self.run_once()
        finally:
            self._shutdown()
        return 0

    def start_background(self) -> None:
        """Starts the heartbeat and metadata threads (``run`` does; tests driving
        ``run_once`` call it themselves)."""
        self.reporter.update(
            WorkerState.IDLE,
            model_load_seconds=self.generator.model_load_seconds,
            attention_backend=self.generator.attention_backend,
            publish=True,
        )
        logger.info(
            "worker started",
            extra={
                "attention_backend": self.generator.attention_backend,
                "model_load_seconds": self.generator.model_load_seconds,
            },
        )
        self.heartbeat.start()
        self._acks.start()
        if self._watcher is not None:
            self._watcher.start()

    def wait_for_completions(self) -> None:
        """Blocks until every finished pipeline call's outputs are uploaded and recorded."""
        pending, self._pending = self._pending, []
        for future in pending:
            try:
                future.result()
            except Exception:
                # _complete settles its own errors; anything here is a bug, logged not raised.
                logger.exception("completion failed")

    def _on_heartbeat_tick(self) -> None:
        self.reporter.publish_if_due()
        self.metrics.flush_if_due()

    def stop_background(self) -> None:
        self._release_fetched()
        self.wait_for_completions()
        self._acks.stop()
        self.heartbeat.stop()
        self.metrics.flush()
        if self._watcher is not None:
            self._watcher.stop()

    def run_once(self, *, long_poll: bool = True) -> int:
        """One receive (or what was received ahead) and everything it brought. Returns the
        number of messages handled."""
        started = time.perf_counter()
        fetched = self._ahead.take()
        if fetched is not None and fetched.messages:
            count, groups = fetched.messages, fetched.groups
        else:
            try:
                messages = self._poller.poll(long_poll=long_poll)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("receive failed", extra={"error": str(exc)})
                self.drain.wait(redelivery_delay(1, self.settings.visibility_timeout_seconds))
                return 0
            if not messages:
                return 0
            self.heartbeat.hold_messages(messages)
            if self.drain.requested:
                for message in messages:
                    self._give_back(message)
                return len(messages)
            count, groups = len(messages), None
        finished_before = self.stats.jobs_finished
        pipeline_before = self.stats.pipeline_seconds
        try:
            if groups is None:
                self._process(messages, started)
            else:
                self._execute(groups, started)
        finally:
            self.stats.receives.append(
                ReceiveTiming(
                    messages=count,
                    jobs_finished=self.stats.jobs_finished - finished_before,
                    wall_seconds=time.perf_counter() - started,
                    pipeline_seconds=self.stats.pipeline_seconds - pipeline_before,
                )
            )
            if self.reporter.state is not WorkerState.DRAINING:
                self.reporter.update(
                    WorkerState.DRAINING if self.drain.requested else WorkerState.IDLE
                )
        return count

    def _shutdown(self) -> None:
        self.reporter.update(WorkerState.DRAINING, publish=True)
        self._release_fetched()
        self._ahead.shutdown()
        self.wait_for_completions()
        for message in self.heartbeat.held_messages():
            self._give_back(message)
        self.stop_background()
        if self.drain.reason is DrainReason.LIFECYCLE:
            self._complete_lifecycle()
        self.reporter.update(WorkerState.STOPPED, publish=True)
        logger.info(
            "worker stopped",
            extra={"reason": self.drain.reason, "jobs_succeeded": self.stats.jobs_succeeded},
        )

    def _complete_lifecycle(self) -> None:
        hook, asg = self.settings.lifecycle_hook_name, self.settings.asg_name
        if not (hook and asg and self.instance_id):
            logger.warning(
                "cannot complete the lifecycle action: hook, ASG or instance id unset",
                extra={"hook": hook, "asg": asg, "instance_id": self.instance_id},
            )
            return
        try:
            complete_lifecycle_action(
                self._autoscaling(), hook_name=hook, asg_name=asg, instance_id=self.instance_id
            )
        except (ClientError, BotoCoreError) as exc:
            logger.error("complete_lifecycle_action failed", extra={"error": str(exc)})

    # -- one receive -----------------------------------------------------------------------
    def _process(self, messages: list[ReceivedMessage], received_at: float) -> None:
        groups: list[Group] = [(group, None) for group in self._groups(self._accept_all(messages))]
        self._execute(groups, received_at)

    def _accept_all(self, messages: list[ReceivedMessage]) -> list[Accepted]:
        runnable: list[Accepted] = []
        for message in messages:
            try:
                accepted = self._accept(message)
            except Exception as exc:
                self._retry_later(message, None, exc)
                continue
            if accepted is not None:
                runnable.append(accepted)
        return runnable

    def _execute(self, groups: list[Group], received_at: float) -> None:
        for index, (group, claimed) in enumerate(groups):
            if self.drain.requested:
                # Received but not started: straight back to the queue.
                self._hand_back(group, claimed)
                continue
            try:
                self._run_group(group, received_at, claimed, last=index == len(groups) - 1)
            except Exception:
                # _run_group handles each job's errors; this is a last line of defence.
                logger.exception("unexpected error around a group")
                for accepted in group:
                    self.heartbeat.release_message(accepted.message)
                    self.heartbeat.release_job(accepted.job_id)

    def _hand_back(self, group: list[Accepted], claimed: list[Running] | None) -> None:
        """Returns a group that never started: its claims expire at once (the next delivery
        claims without waiting for the lease) and its messages are visible again."""
        for running in claimed or []:
            self.heartbeat.release_job(running.record.job_id)
            try:
                self.store.renew_lease(running.record.job_id, self.worker_id, 0)
            except Exception:
                logger.exception(
                    "could not expire the lease of an unstarted job",
                    extra={"job_id": running.record.job_id},
                )
        for accepted in group:
            self._give_back(accepted.message)

    # -- receiving ahead -------------------------------------------------------------------
    def _fetch_ahead(self) -> Fetched:
        """Runs on the receive-ahead thread while the last call of a receive finishes: the
        next receive, its intake, and the claims of its first group (the next call)."""
        if self.drain.requested:
            return Fetched(0, [])
        messages = self._poller.poll(long_poll=False)
        if not messages:
            return Fetched(0, [])
        self.heartbeat.hold_messages(messages)
        received_at = time.perf_counter()
        try:
            groups = self._groups(self._accept_all(messages))
            first = self._claim_group(groups[0], received_at) if groups else None
        except Exception:
            # Intake and claims settle their own errors; never leave a message held forever.
            logger.exception("unexpected error receiving ahead")
            for message in messages:
                self._give_back(message)
            return Fetched(0, [])
        rest: list[Group] = [(group, None) for group in groups[1:]]
        return Fetched(len(messages), [(groups[0], first), *rest] if groups else [])

    def _release_fetched(self) -> None:
        """Hands back whatever was received ahead and never started (drain, tests)."""
        fetched = self._ahead.take()
        if fetched is None:
            return
        for group, claimed in fetched.groups:
            self._hand_back(group, claimed)

    def _accept(self, message: ReceivedMessage) -> Accepted | None:
        """Intake: what to claim, or None when the message was dealt with here."""
        return self._act_on(message, transient_retry(self._intake.resolve)(message))

    def _act_on(self, message: ReceivedMessage, intake: Intake) -> Accepted | None:
        if intake.action is Action.RUN and intake.job_id and intake.parsed:
            return Accepted(message, intake.job_id, intake.parsed.kind, intake.parsed.params)
        record, error = intake.record, intake.error
        if error is not None and record is not None and not record.status.is_terminal:
            try:
                transient_retry(self.store.fail)(record.job_id, error)
                self.stats.count("jobs_failed")
            except TransitionRejected as exc:
                logger.info(
                    "record not failed", extra={"job_id": record.job_id, "reason": str(exc)}
                )
        log_extra = {
            "message_id": message.message_id,
            "job_id": record.job_id if record else None,
            "error": error.model_dump() if error else None,
            "note": intake.note,
        }
        if intake.action is Action.DEAD_LETTER:
            logger.warning("message rejected", extra=log_extra)
            self._dead_letter(message, error)
        else:
            logger.info("message finished without running", extra=log_extra)
            self._delete(message)
        return None

    def _groups(self, runnable: list[Accepted]) -> list[list[Accepted]]:
        """Jobs of the same shape share one pipeline call, up to ``max_batch_size`` images.
        Grouped by the message's parameters; re-checked against the records once claimed."""
        groups: dict[Hashable, list[list[Accepted]]] = {}
        order: list[list[Accepted]] = []
        limit = self.settings.max_batch_size
        for accepted in runnable:
            key = self.generator.batch_key(accepted.kind, accepted.params)
            chunks = groups.setdefault(key, [])
            images = accepted.params.num_images
            if chunks and sum(a.params.num_images for a in chunks[-1]) + images <= limit:
                chunks[-1].append(accepted)
            else:
                chunk = [accepted]
                chunks.append(chunk)
                order.append(chunk)
        return order

    # -- one pipeline call -----------------------------------------------------------------
    def _claim_group(self, group: list[Accepted], received_at: float) -> list[Running]:
        return [r for r in (self._claim(a, received_at) for a in group) if r is not None]

    def _run_group(
        self,
        group: list[Accepted],
        received_at: float,
        claimed: list[Running] | None = None,
        *,
        last: bool = False,
    ) -> None:
        if claimed is None:
            claimed = self._claim_group(group, received_at)
        else:
            # Claimed ahead, during the previous call: the job's time starts now.
            now = time.perf_counter()
            for running in claimed:
                running.claimed_at = now
        # The records are authoritative: a message whose params disagree runs in its own call.
        calls: dict[Hashable, list[Running]] = {}
        for running in claimed:
            key = self.generator.batch_key(running.record.kind, running.record.params)
            calls.setdefault(key, []).append(running)
        for index, runs in enumerate(calls.values()):
            self._generate(runs, receive_ahead=last and index == len(calls) - 1)

    def _generate(self, claimed: list[Running], *, receive_ahead: bool = False) -> None:
        self.reporter.update(WorkerState.BUSY, current_job=claimed[0].record.job_id)
        prepared: list[tuple[Running, GenerationJob]] = []
        for running in claimed:
            try:
                prepared.append((running, self._generation_job(running.record)))
            except InvalidJobInput as exc:
                self._fail(running, JobError(code=exc.code, message=str(exc)))
            except Exception as exc:
                self._retry_later(running.message, running, exc)
        if not prepared:
            return
        leases = [running.lease for running, _ in prepared]
        # The last call of a receive starts the next receive shortly before it ends.
        ahead = self._ahead if receive_ahead and not self.drain.requested else None
        started = time.perf_counter()
        if ahead is not None:
            ahead.start_call()
        try:
            results = self.generator.generate(
                [job for _, job in prepared], _on_step(leases, ahead.on_step if ahead else None)
            )
        except Exception as exc:
            self.stats.pipeline_seconds += time.perf_counter() - started
            self._after_failed_call([running for running, _ in prepared], exc)
            return
        finally:
            if ahead is not None:
                ahead.end_call()
        pipeline_seconds = time.perf_counter() - started
        self.stats.pipeline_seconds += pipeline_seconds
        total_images = sum(len(images) for images in results) or 1
        # Uploads and finish run on the completion threads while the next call generates; the
        # previous call's completions had this whole call to finish (at most one call behind).
        self.wait_for_completions()
        for (running, _), images in zip(prepared, results, strict=True):
            share = pipeline_seconds * len(images) / total_images
            self._pending.append(self._completions.submit(self._complete, running, images, share))

    def _after_failed_call(self, runs: list[Running], exc: Exception) -> None:
        if isinstance(exc, GenerationCancelled):
            for running in runs:
                self._settle_stopped(running)
        elif isinstance(exc, InvalidJobInput) and len(runs) == 1:
            self._fail(runs[0], JobError(code=exc.code, message=str(exc)))
        else:
            # A batch-wide error (or one we cannot pin on a job): every job tries again.
            for running in runs:
                self._retry_later(running.message, running, exc)

    def _claim(self, accepted: Accepted, received_at: float) -> Running | None:
        message = accepted.message
        try:
            try:
                claimed = transient_retry(self.store.claim)(
                    accepted.job_id, self.worker_id, self.settings.lease_seconds
                )
            except JobNotFound:
                # No record (yet): a batch message naming its own job_id, or a deleted job.
                parsed = JobMessage.from_body(message.body)
                again = self._act_on(
                    message, transient_retry(self._intake.resolve_missing)(message, parsed)
                )
                if again is None:
                    return None
                claimed = transient_retry(self.store.claim)(
                    again.job_id, self.worker_id, self.settings.lease_seconds
                )
        except JobNotClaimable as exc:
            status = exc.current_status
            if status is not None and JobStatus(status).is_terminal:
                self._delete(message)
            else:
                # Another worker holds a live lease: never run it. Look again once that lease
                # could have lapsed (its holder died); by then the job is usually finished.
                self._set_visibility(
                    message,
                    min(self.settings.lease_seconds, self.settings.visibility_timeout_seconds),
                )
            logger.info("job not claimable", extra={"job_id": accepted.job_id, "status": status})
            return None
        except JobNotFound:
            self._delete(message)
            return None
        except Exception as exc:
            self._retry_later(message, None, exc)
            return None
        lease = self.heartbeat.hold_job(claimed.job_id)
        running = Running(message, claimed, lease, time.perf_counter(), received_at)
        logger.info(
            "job claimed",
            extra={"job_id": claimed.job_id, "attempt": claimed.attempts, "lane": message.lane},
        )
        problem = input_problem(claimed)
        if problem is not None:
            self._fail(running, problem)
            return None
        return running

    def _generation_job(self, record: JobRecord) -> GenerationJob:
        from worker.generation import GenerationJob

        params = record.params
        if params.seed is None:
            params = params.model_copy(update={"seed": derived_seed(record.job_id)})
        init_image = None
        if record.kind is JobKind.IMG2IMG:
            init_image = self._load_input(params)
        return GenerationJob(
            job_id=record.job_id, kind=record.kind, params=params, init_image=init_image
        )

    def _load_input(self, params: JobParams) -> Any:
        from worker.images import decode_input_image

        key = params.input_key or ""
        try:
            response = transient_retry(self._s3.get_object)(Bucket=self.settings.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                raise InvalidJobInput(
                    ErrorCode.INPUT_MISSING.value, f"input_key: {key!r} does not exist"
                ) from exc
            raise
        size = int(response.get("ContentLength", 0))
        if size > MAX_INPUT_BYTES:
            response["Body"].close()
            raise InvalidJobInput(
                ErrorCode.INVALID_INPUT.value,
                f"input_key: {key!r} is {size} bytes, over the limit of {MAX_INPUT_BYTES}",
            )
        data = response["Body"].read()
        return decode_input_image(
            data,
            max_pixels=self.settings.max_input_pixels,
            width=params.width,
            height=params.height,
        )

    # -- endings ---------------------------------------------------------------------------
    def _complete(self, running: Running, images: list[GeneratedImage], pipeline: float) -> None:
        record, lease = running.record, running.lease
        if lease.lost or lease.cancel_requested:
            self._settle_stopped(running)
            return
        keys: list[str] = []
        try:
            keys = transient_retry(self._outputs.upload)(
                record.owner, record.job_id, [image.png for image in images], record.attempts
            )
            handled = time.perf_counter() - running.claimed_at
            queue_wait = None
            if record.started_at is not None:
                queue_wait = (record.started_at - record.created_at).total_seconds()
            transient_retry(self.store.finish)(
                record.job_id,
                self.worker_id,
                keys,
                [image.seed for image in images],
                attention_backend=self.generator.attention_backend,
                attention_reason=self.generator.attention_reason,
                queue_wait_seconds=queue_wait,
                model_seconds=round(pipeline, 4),
                total_seconds=round(handled, 4),
            )
        except CancelRequested:
            # The cancel arrived after the last step we checked but before the commit: it wins.
            lease.cancel_requested = True
            try:
                transient_retry(self._outputs.discard)(keys)
            except Exception as exc:
                self._retry_later(running.message, running, exc)
                return
            self._settle_stopped(running)
            return
        except LeaseLost as exc:
            logger.warning(
                "lease lost before finish", extra={"job_id": record.job_id, "reason": str(exc)}
            )
            self._drop(running)
            return
        except Exception as exc:
            self._retry_later(running.message, running, exc)
            return
        total = time.perf_counter() - running.claimed_at
        self.stats.count("jobs_succeeded")
        self.metrics.job_succeeded((utcnow() - record.created_at).total_seconds())
        self.reporter.job_done(total)
        self.heartbeat.release_job(record.job_id)
        self._delete(running.message)
        logger.info(
            "job succeeded",
            extra={"job_id": record.job_id, "outputs": keys, "total_seconds": round(total, 3)},
        )

    def _settle_stopped(self, running: Running) -> None:
        """The pipeline stopped (or finished) for a job that was cancelled or taken over."""
        if running.lease.lost:
            self._drop(running)
            return
        try:
            transient_retry(self.store.mark_cancelled)(running.record.job_id, self.worker_id)
        except LeaseLost:
            self._drop(running)
            return
        except Exception as exc:
            self._retry_later(running.message, running, exc)
            return
        self.stats.count("jobs_cancelled")
        self.heartbeat.release_job(running.record.job_id)
        self._delete(running.message)
        logger.info("job cancelled", extra={"job_id": running.record.job_id})

    def _drop(self, running: Running) -> None:
        """We lost the lease: the new holder owns the job and its message. Touch nothing."""
        self.heartbeat.release_job(running.record.job_id)
        self.heartbeat.release_message(running.message)

    def _fail(self, running: Running, error: JobError) -> None:
        try:
            transient_retry(self.store.fail)(running.record.job_id, error, worker_id=self.worker_id)
        except LeaseLost:
            self._drop(running)
            return
        except Exception as exc:
            self._retry_later(running.message, running, exc)
            return
        self.stats.count("jobs_failed")
        self.metrics.job_failed()
        self.heartbeat.release_job(running.record.job_id)
        self._delete(running.message)
        logger.warning(
            "job failed", extra={"job_id": running.record.job_id, "error": error.model_dump()}
        )

    def _retry_later(
        self, message: ReceivedMessage, running: Running | None, exc: BaseException
    ) -> None:
        """A failed attempt: back to the queue with a delay, or, on the last delivery, failed."""
        logger.exception(
            "attempt failed",
            extra={
                "message_id": message.message_id,
                "receive_count": message.receive_count,
                "job_id": running.record.job_id if running else None,
            },
            exc_info=exc,
        )
        self.stats.count("jobs_retried")
        last = message.receive_count >= self.settings.max_receive_count
        try:
            if running is not None:
                job_id = running.record.job_id
                self.heartbeat.release_job(job_id)
                if last:
                    error = JobError(
                        code=ErrorCode.RETRIES_EXHAUSTED.value,
                        message=f"gave up after {message.receive_count} attempts; "
                        f"last error: {_short(exc)}",
                    )
                    self.store.fail(job_id, error, worker_id=self.worker_id)
                    self.stats.count("jobs_failed")
                    self.metrics.job_failed()
                else:
                    # Let the next delivery claim at once instead of waiting for the lease.
                    self.store.renew_lease(job_id, self.worker_id, 0)
        except Exception:
            logger.exception("could not settle the record after a failed attempt")
        # On the last delivery visibility 0 sends it to the DLQ at the next receive.
        delay = (
            0
            if last
            else redelivery_delay(message.receive_count, self.settings.visibility_timeout_seconds)
        )
        self._set_visibility(message, delay)

    # -- SQS -------------------------------------------------------------------------------
    def _delete(self, message: ReceivedMessage) -> None:
        self.heartbeat.release_message(message)
        self._acks.ack(message)

    def _set_visibility(self, message: ReceivedMessage, seconds: int) -> None:
        self.heartbeat.release_message(message)
        try:
            self._sqs.change_message_visibility(
                QueueUrl=message.queue_url,
                ReceiptHandle=message.receipt_handle,
                VisibilityTimeout=seconds,
            )
        except Exception:
            logger.exception(
                "change_message_visibility failed", extra={"message_id": message.message_id}
            )

    def _give_back(self, message: ReceivedMessage) -> None:
        logger.info("returning unstarted message", extra={"message_id": message.message_id})
        self._set_visibility(message, 0)

    def _dead_letter(self, message: ReceivedMessage, error: JobError | None) -> None:
        """Moves a message that can never run to its lane's DLQ with the reason attached."""
        dlq = self._dlq.get(message.lane)
        reason = error or JobError(code=ErrorCode.INVALID_INPUT.value, message="rejected")
        if not dlq:
            # No DLQ configured: the redrive policy moves it after max receives.
            self._set_visibility(message, 0)
            return
        try:
            transient_retry(self._sqs.send_message)(
                QueueUrl=dlq,
                MessageBody=message.body or "(empty)",
                MessageAttributes={
                    "sdfleet-error-code": {"DataType": "String", "StringValue": reason.code},
                    "sdfleet-error": {"DataType": "String", "StringValue": reason.message},
                    "sdfleet-source-message-id": {
                        "DataType": "String",
                        "StringValue": message.message_id,
                    },
                    "sdfleet-sender-id": {
                        "DataType": "String",
                        "StringValue": message.sender_id or "unknown",
                    },
                },
            )
        except Exception:
            logger.exception("could not move the message to the DLQ; the redrive policy will")
            self._set_visibility(message, 0)
            return
        self.stats.count("messages_dead_lettered")
        self._delete(message)


def _on_step(
    leases: list[JobLease], also: Callable[[int, int], None] | None = None
) -> Callable[[int, int], None]:
    """The denoising-step callback: reports progress, tells ``also`` (receiving ahead), and
    stops when no job wants the result."""

    def on_step(step: int, total: int) -> None:
        for lease in leases:
            lease.report_progress(step, total)
        if also is not None:
            also(step, total)
        if all(lease.cancel_requested or lease.lost for lease in leases):
            raise GenerationCancelled("every job in this call was cancelled or taken over")

    return on_step
