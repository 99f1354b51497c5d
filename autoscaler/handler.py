"""The scaler Lambda: every minute (EventBridge), sample, decide, act, several times.

Each sample reads every lane and the ASG directly, applies :func:`autoscaler.policy.decide`
and acts on the ASG at once, so a burst is answered within seconds, not at the next
minute. One structured log line per invocation carries every sample's inputs and
decisions; the last sample's figures are published as CloudWatch metrics (EMF).

Keep this module's imports light: no simulator, matplotlib or torch here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from autoscaler.actuate import Applied, GroupActuator
from autoscaler.boot_deadline import BootDeadline, Overdue
from autoscaler.observe import FleetObserver
from autoscaler.policy import SAMPLING_WINDOW_SECONDS, Decision, PolicyConfig, decide
from autoscaler.reaper import DeadLetterReaper, ReapResult
from sdfleet import env
from sdfleet.aws import AwsClients
from sdfleet.deletion import DeletionStore, IdempotencyRows, UserDataPurger
from sdfleet.heartbeats import HeartbeatStore
from sdfleet.messages import Lane
from sdfleet.settings import ScalerSettings
from sdfleet.store import JobStore

DEFAULT_SERVICE: Final = "sdfleet-scaler"
DEFAULT_NAMESPACE: Final = "sdfleet"

logger = Logger(service=os.environ.get(env.POWERTOOLS_SERVICE_NAME, DEFAULT_SERVICE))
metrics = Metrics(namespace=os.environ.get(env.POWERTOOLS_METRICS_NAMESPACE, DEFAULT_NAMESPACE))


@dataclass(frozen=True)
class SampleRecord:
    """One sample of an invocation: what was observed, decided and applied."""

    at: float
    visible: dict[Lane, int]
    in_flight: dict[Lane, int]
    capacity: int
    ready: int
    busy: int
    decision: Decision
    applied: Applied

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "visible": {str(lane): count for lane, count in self.visible.items()},
            "in_flight": {str(lane): count for lane, count in self.in_flight.items()},
            "capacity": self.capacity,
            "ready": self.ready,
            "busy": self.busy,
            **self.decision.as_dict(),
            "applied_desired": self.applied.desired_capacity,
            "launched": self.applied.launched,
            "terminated": list(self.applied.terminated),
            "skipped": list(self.applied.skipped),
        }


@dataclass(frozen=True)
class ScalerResult:
    """One invocation's outcome; the last sample's figures are the invocation's."""

    asg_name: str
    samples: tuple[SampleRecord, ...]
    dead_letters: ReapResult | None = None
    #: User ids whose DELETE /me purge this run completed, or "error: <type>" when it failed.
    deletions_completed: list[str] | str = field(default_factory=list)
    #: Instances marked unhealthy this run: no ready worker by the boot deadline.
    past_boot_deadline: tuple[Overdue, ...] = ()

    @property
    def last(self) -> SampleRecord:
        return self.samples[-1]

    @property
    def desired_capacity(self) -> int:
        return self.last.applied.desired_capacity

    @property
    def reason(self) -> str:
        return self.last.decision.reason

    @property
    def need(self) -> int:
        return self.last.decision.need

    @property
    def launched(self) -> int:
        return sum(s.applied.launched for s in self.samples)

    @property
    def terminated(self) -> list[str]:
        return [i for s in self.samples for i in s.applied.terminated]

    def as_dict(self) -> dict[str, Any]:
        """The JSON the Lambda returns and logs (its shape is what operators query)."""
        document: dict[str, Any] = {
            "asg_name": self.asg_name,
            "desired_capacity": self.desired_capacity,
            "reason": self.reason,
            "need": self.need,
            "launched": self.launched,
            "terminated": self.terminated,
            "samples": [s.as_dict() for s in self.samples],
        }
        if self.dead_letters is not None:
            document["dead_letters"] = self.dead_letters.as_dict()
        document["deletions_completed"] = self.deletions_completed
        document["past_boot_deadline"] = [o.as_dict() for o in self.past_boot_deadline]
        return document


@dataclass
class ScalerRun:
    """One invocation's work, with the clock and the sleep injectable for tests."""

    settings: ScalerSettings
    clients: AwsClients
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __call__(self) -> ScalerResult:
        settings = self.settings
        observer = FleetObserver(
            self.clients.sqs(),
            self.clients.autoscaling(),
            HeartbeatStore(self.clients.dynamodb(), settings.workers_table),
            # Interactive and batch are required; the training lane where one is configured.
            {Lane.INTERACTIVE: settings.queue_url(Lane.INTERACTIVE)}
            | settings.queue_urls()
            | {Lane.BATCH: settings.queue_url(Lane.BATCH)},
            settings.asg_name,
            self.clients.client("ec2"),
        )
        actuator = GroupActuator(self.clients.autoscaling())
        config = PolicyConfig.from_settings(settings)
        # First, so the samples below already see the replacements the group starts.
        past_deadline = self._enforce_boot_deadline(settings, observer)
        samples: list[SampleRecord] = []
        spacing = SAMPLING_WINDOW_SECONDS / settings.samples_per_invocation
        memory = None
        for index in range(settings.samples_per_invocation):
            if index:
                self.sleep(spacing)
            observation, snapshot = observer.observe(self.clock())
            memory = snapshot.memory if memory is None else memory
            decision = decide(observation, memory, config)
            applied = actuator.apply(decision, snapshot)
            memory = decision.memory
            actuator.save_memory(snapshot.name, memory)
            samples.append(
                SampleRecord(
                    at=observation.now,
                    visible=observation.visible_by_lane,
                    in_flight=observation.in_flight_by_lane,
                    capacity=observation.capacity,
                    ready=observation.ready,
                    busy=observation.busy,
                    decision=decision,
                    applied=applied,
                )
            )
        for problem in observer.market_errors:
            logger.warning(
                "instance markets unknown; scale-in prefers neither", extra={"error": problem}
            )
        dlq_urls = settings.dlq_urls()
        dead_letters = None
        if dlq_urls:
            store = JobStore(self.clients.dynamodb(), settings.jobs_table)
            reaper = DeadLetterReaper(
                self.clients.sqs(), store, dlq_urls, ingest_sender_id=settings.ingest_sender_id
            )
            dead_letters = reaper.reap(self.clock())
        result = ScalerResult(
            settings.asg_name,
            tuple(samples),
            dead_letters,
            deletions_completed=self._purge_deletions(settings),
            past_boot_deadline=tuple(past_deadline),
        )
        logger.info("scaler decision", extra={"scaler": result.as_dict()})
        return result

    def _enforce_boot_deadline(
        self, settings: ScalerSettings, observer: FleetObserver
    ) -> list[Overdue]:
        """Marks instances with no ready worker past the boot deadline unhealthy (the group
        replaces them), each with an ERROR log line naming what its worker last reported."""
        if settings.boot_deadline_seconds <= 0:
            return []
        now = self.clock()
        deadline = BootDeadline(
            self.clients.client("ec2"),
            self.clients.autoscaling(),
            settings.boot_deadline_seconds,
            settings.asg_name,
            settings.lifecycle_hook_name,
        )
        beats = HeartbeatStore(self.clients.dynamodb(), settings.workers_table).list(
            include_stale=True, now=now
        )
        replaced = deadline.enforce(observer.group().lifecycle, beats, now)
        for problem in deadline.hook_errors:
            logger.warning("could not complete the termination hook", extra={"error": problem})
        for instance in replaced:
            logger.error(
                "instance past the boot deadline marked unhealthy; the group replaces it",
                extra={
                    "boot_deadline_seconds": settings.boot_deadline_seconds,
                    **instance.as_dict(),
                },
            )
        return replaced

    def _purge_deletions(self, settings: ScalerSettings) -> list[str] | str:
        """A pass of every pending DELETE /me (sdfleet/deletion.py); never stops the scaling."""
        dynamodb = self.clients.dynamodb()
        purger = UserDataPurger(
            JobStore(dynamodb, settings.jobs_table),
            DeletionStore(dynamodb, settings.jobs_table),
            self.clients.s3(),
            settings.bucket,
            IdempotencyRows(dynamodb, settings.idempotency_table),
            settle_seconds=settings.deletion_settle_seconds,
        )
        try:
            return purger.purge_pending(self.clock())
        except Exception as exc:  # the next minute's run resumes it
            logger.exception("user data purge failed")
            return f"error: {type(exc).__name__}"


def publish_metrics(result: ScalerResult) -> None:
    """The last sample's figures and the invocation's totals, flushed by ``log_metrics``."""
    last = result.last
    metrics.add_metric("VisibleMessages", MetricUnit.Count, sum(last.visible.values()))
    metrics.add_metric("InFlightMessages", MetricUnit.Count, sum(last.in_flight.values()))
    metrics.add_metric("DesiredCapacity", MetricUnit.Count, last.applied.desired_capacity)
    metrics.add_metric("WorkersNeeded", MetricUnit.Count, last.decision.need)
    metrics.add_metric("BusyWorkers", MetricUnit.Count, last.busy)
    metrics.add_metric("InstancesLaunched", MetricUnit.Count, result.launched)
    metrics.add_metric("InstancesTerminated", MetricUnit.Count, len(result.terminated))
    reaped = result.dead_letters.failed if result.dead_letters is not None else []
    metrics.add_metric("DeadLetterJobsFailed", MetricUnit.Count, len(reaped))
    # Alarmed in Terraform (modules/observability): a boot that never yields a worker.
    metrics.add_metric(
        "InstancesPastBootDeadline", MetricUnit.Count, len(result.past_boot_deadline)
    )


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = ScalerSettings()
    result = ScalerRun(settings, AwsClients.from_settings(settings))()
    publish_metrics(result)
    return result.as_dict()
