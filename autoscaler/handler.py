"""The scaler Lambda: every minute (EventBridge), sample, decide, act, several times.

Each sample reads both lanes and the ASG directly, applies :func:`autoscaler.policy.decide`
and acts on the ASG at once, so a burst is answered within seconds, not at the next
minute. One structured log line per invocation carries every sample's inputs and
decisions; the last sample's figures are published as CloudWatch metrics (EMF).

Keep this module's imports light: no simulator, matplotlib or torch here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from autoscaler.actuate import GroupActuator
from autoscaler.observe import FleetObserver
from autoscaler.policy import PolicyConfig, decide
from autoscaler.reaper import DeadLetterReaper
from sdfleet import env
from sdfleet.aws import AwsClients
from sdfleet.deletion import DeletionStore, IdempotencyRows, UserDataPurger
from sdfleet.heartbeats import HeartbeatStore
from sdfleet.settings import ScalerSettings
from sdfleet.store import JobStore

DEFAULT_SERVICE: Final = "sdfleet-scaler"
DEFAULT_NAMESPACE: Final = "sdfleet"
#: Samples are spread over this much of the one-minute schedule, leaving room to finish.
SAMPLING_WINDOW_SECONDS: Final = 48.0

logger = Logger(service=os.environ.get(env.POWERTOOLS_SERVICE_NAME, DEFAULT_SERVICE))
metrics = Metrics(namespace=os.environ.get(env.POWERTOOLS_METRICS_NAMESPACE, DEFAULT_NAMESPACE))


@dataclass
class ScalerRun:
    """One invocation's work, with the clock and the sleep injectable for tests."""

    settings: ScalerSettings
    clients: AwsClients
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __call__(self) -> dict[str, Any]:
        settings = self.settings
        queue_urls = {
            "interactive": settings.queue_url("interactive"),
            "batch": settings.queue_url("batch"),
        }
        observer = FleetObserver(
            self.clients.sqs(),
            self.clients.autoscaling(),
            HeartbeatStore(self.clients.dynamodb(), settings.workers_table),
            queue_urls,
            settings.asg_name,
        )
        actuator = GroupActuator(self.clients.autoscaling())
        config = PolicyConfig.from_settings(settings)
        samples: list[dict[str, Any]] = []
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
                {
                    "at": observation.now,
                    "visible": observation.visible_by_lane,
                    "in_flight": observation.in_flight_by_lane,
                    "capacity": observation.capacity,
                    "ready": observation.ready,
                    "busy": observation.busy,
                    **decision.as_dict(),
                    "applied_desired": applied.desired_capacity,
                    "launched": applied.launched,
                    "terminated": applied.terminated,
                    "skipped": applied.skipped,
                }
            )
        last = samples[-1]
        result = {
            "asg_name": settings.asg_name,
            "desired_capacity": last["applied_desired"],
            "reason": last["reason"],
            "need": last["need"],
            "launched": sum(s["launched"] for s in samples),
            "terminated": [i for s in samples for i in s["terminated"]],
            "samples": samples,
        }
        dlq_urls = {
            lane: url
            for lane, url in (
                ("interactive", settings.interactive_dlq_url),
                ("batch", settings.batch_dlq_url),
            )
            if url
        }
        if dlq_urls:
            store = JobStore(self.clients.dynamodb(), settings.jobs_table)
            reaper = DeadLetterReaper(
                self.clients.sqs(), store, dlq_urls, ingest_sender_id=settings.ingest_sender_id
            )
            result["dead_letters"] = reaper.reap(self.clock()).as_dict()
        result["deletions_completed"] = self._purge_deletions(settings)
        logger.info("scaler decision", extra={"scaler": result})
        return result

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


def publish_metrics(result: dict[str, Any]) -> None:
    """The last sample's figures and the invocation's totals, flushed by ``log_metrics``."""
    last = result["samples"][-1]
    metrics.add_metric("VisibleMessages", MetricUnit.Count, sum(last["visible"].values()))
    metrics.add_metric("InFlightMessages", MetricUnit.Count, sum(last["in_flight"].values()))
    metrics.add_metric("DesiredCapacity", MetricUnit.Count, last["applied_desired"])
    metrics.add_metric("WorkersNeeded", MetricUnit.Count, last["need"])
    metrics.add_metric("BusyWorkers", MetricUnit.Count, last["busy"])
    metrics.add_metric("InstancesLaunched", MetricUnit.Count, result["launched"])
    metrics.add_metric("InstancesTerminated", MetricUnit.Count, len(result["terminated"]))
    reaped = result.get("dead_letters", {}).get("failed", [])
    metrics.add_metric("DeadLetterJobsFailed", MetricUnit.Count, len(reaped))


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = ScalerSettings()
    result = ScalerRun(settings, AwsClients.from_settings(settings))()
    publish_metrics(result)
    return result
