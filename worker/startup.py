"""Start-up: who this worker is, and what happens when its model cannot be loaded.

A worker that cannot load its model must not sit in a restart loop on a billed instance. Each
failure is reported three ways (an ERROR log line, a ``failed`` heartbeat record carrying the
error, a ``ModelLoadFailures`` metric) and counted in a file that survives restarts. The
process then exits with :data:`EXIT_MODEL_LOAD_RETRY` (systemd restarts it: a download may
work next time) until ``max_model_load_attempts`` failures in a row, or at once when the
failure is permanent (no usable GPU), when it marks its instance ``Unhealthy``
(``SetInstanceHealth``) so the Auto Scaling group replaces it, and exits with
:data:`EXIT_GAVE_UP`, which the systemd unit never restarts (``RestartPreventExitStatus``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aws_lambda_powertools import Logger

from sdfleet.heartbeats import HeartbeatStore, WorkerHeartbeat, WorkerState
from worker.errors import ModelLoadError
from worker.metadata import InstanceMetadata, MetadataUnavailable

if TYPE_CHECKING:
    from sdfleet.aws import AwsClients
    from sdfleet.settings import WorkerSettings

#: The model could not be loaded; trying again may help (systemd restarts the worker).
EXIT_MODEL_LOAD_RETRY: Final = 75  # EX_TEMPFAIL
#: The worker gave up on this host (instance marked unhealthy); systemd must not restart it.
EXIT_GAVE_UP: Final = 79
#: The counter file under ``state_dir``.
LOAD_FAILURES_FILE: Final = "model-load-failures"
LOAD_FAILURE_METRIC: Final = "ModelLoadFailures"
#: Longest error text kept in the heartbeat record.
MAX_ERROR_CHARS: Final = 1000

logger = Logger(service="sdfleet-worker", child=True)


def resolve_identity(
    settings: WorkerSettings, metadata: InstanceMetadata
) -> tuple[str, str | None]:
    """``(worker_id, instance_id)``: settings first, then IMDS, then host name and pid."""
    instance_id = settings.instance_id
    if instance_id is None:
        try:
            instance_id = metadata.instance_id()
        except MetadataUnavailable as exc:
            logger.warning("no instance id from metadata", extra={"error": str(exc)})
    worker_id = settings.worker_id or instance_id or f"{socket.gethostname()}-{os.getpid()}"
    return worker_id, instance_id


class LoadFailureCounter:
    """Failed model loads in a row, kept in a file so restarts add up."""

    def __init__(self, state_dir: str) -> None:
        self.path = Path(state_dir) / LOAD_FAILURES_FILE

    def current(self) -> int:
        try:
            return int(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def increment(self) -> int:
        count = self.current() + 1
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(f"{count}\n")
        except OSError as exc:
            logger.warning("cannot record the load failure", extra={"error": str(exc)})
        return count

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)


class LoadFailureHandler:
    def __init__(
        self,
        settings: WorkerSettings,
        clients: AwsClients,
        *,
        worker_id: str,
        instance_id: str | None,
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._worker_id = worker_id
        self._instance_id = instance_id
        self.counter = LoadFailureCounter(settings.state_dir)

    def handle(self, error: ModelLoadError) -> int:
        """Reports the failure; returns the exit status (retry, or gave up)."""
        attempts = self.counter.increment()
        limit = self._settings.max_model_load_attempts
        give_up = error.permanent or attempts >= limit
        message = str(error)[:MAX_ERROR_CHARS]
        logger.error(
            "model load failed",
            extra={
                "error": message,
                "error_type": type(error).__name__,
                "attempt": attempts,
                "max_attempts": limit,
                "permanent": error.permanent,
                "giving_up": give_up,
            },
        )
        status = EXIT_GAVE_UP if give_up else EXIT_MODEL_LOAD_RETRY
        self._report_heartbeat(message, attempts, status)
        self._report_metric()
        if not give_up:
            return EXIT_MODEL_LOAD_RETRY
        self._mark_unhealthy(message)
        return EXIT_GAVE_UP

    def _report_heartbeat(self, message: str, attempts: int, exit_status: int) -> None:
        beat = WorkerHeartbeat(
            worker_id=self._worker_id,
            instance_id=self._instance_id,
            state=WorkerState.FAILED,
            load_error=message,
            load_attempts=attempts,
            exit_status=exit_status,
        )
        try:
            HeartbeatStore(self._clients.dynamodb(), self._settings.workers_table).put(beat)
        except Exception as exc:
            logger.warning("could not write the failed heartbeat", extra={"error": str(exc)})

    def _report_metric(self) -> None:
        try:
            self._clients.cloudwatch().put_metric_data(
                Namespace=self._settings.metrics_namespace,
                MetricData=[
                    {
                        "MetricName": LOAD_FAILURE_METRIC,
                        "Dimensions": [{"Name": "service", "Value": "sdfleet-worker"}],
                        "Unit": "Count",
                        "Value": 1.0,
                    }
                ],
            )
        except Exception as exc:
            logger.warning("could not send the load-failure metric", extra={"error": str(exc)})

    def _mark_unhealthy(self, message: str) -> None:
        if not (self._instance_id and self._settings.asg_name):
            logger.error(
                "giving up on this host; not in an Auto Scaling group, so nothing replaces it",
                extra={"instance_id": self._instance_id, "asg": self._settings.asg_name},
            )
            return
        try:
            self._clients.autoscaling().set_instance_health(
                InstanceId=self._instance_id,
                HealthStatus="Unhealthy",
                ShouldRespectGracePeriod=False,
            )
        except Exception as exc:
            logger.error("set_instance_health failed", extra={"error": str(exc)})
            return
        # A replacement gets a fresh count (a reused stopped instance keeps its disk).
        self.counter.reset()
        logger.error(
            "instance marked unhealthy; the Auto Scaling group will replace it",
            extra={"instance_id": self._instance_id, "reason": message[:200]},
        )
