"""A worker that stops for a configuration problem says so before it exits (status 78).

Three ways, as a failed model load is reported (worker/startup.py): an ERROR log line
``worker stopped: configuration problem``, a ``failed`` heartbeat record carrying
``stop_reason`` and ``exit_status`` (the scaler logs it when it replaces the instance at the
boot deadline), and a ``WorkerConfigurationErrors`` metric. When the settings themselves did
not load, where to report is read from the environment one value at a time, with the settings'
own defaults, so one bad value does not silence the report.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Final

from aws_lambda_powertools import Logger

from sdfleet import env
from sdfleet.aws import AwsClients
from sdfleet.heartbeats import HeartbeatStore, WorkerHeartbeat, WorkerState
from sdfleet.settings import WorkerSettings
from worker.metadata import InstanceMetadata, MetadataUnavailable

CONFIG_ERROR_METRIC: Final = "WorkerConfigurationErrors"
#: Longest reason kept in the heartbeat record.
MAX_REASON_CHARS: Final = 1000

logger = Logger(service="sdfleet-worker", child=True)


def _default(field: str) -> str:
    return str(WorkerSettings.model_fields[field].default)


class StopReport:
    """Where a stopping worker reports: from its settings, or from the bare environment."""

    def __init__(
        self,
        clients: AwsClients,
        workers_table: str,
        namespace: str,
        worker_id: str,
        instance_id: str | None,
    ) -> None:
        self._clients = clients
        self._workers_table = workers_table
        self._namespace = namespace
        self.worker_id = worker_id
        self.instance_id = instance_id

    @classmethod
    def from_settings(
        cls, settings: WorkerSettings, worker_id: str, instance_id: str | None
    ) -> StopReport:
        return cls(
            AwsClients.from_settings(settings),
            settings.workers_table,
            settings.metrics_namespace,
            worker_id,
            instance_id,
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> StopReport:
        """For settings that failed validation: each value read alone, else its default."""
        environ = os.environ if environ is None else environ
        region = (
            environ.get(env.AWS_REGION)
            or environ.get("AWS_REGION")
            or environ.get("AWS_DEFAULT_REGION")
            or _default("aws_region")
        )
        clients = AwsClients(environ.get(env.AWS_ENDPOINT_URL) or None, region)
        instance_id = environ.get(env.INSTANCE_ID) or None
        if instance_id is None:
            try:
                metadata = InstanceMetadata(
                    environ.get(env.METADATA_URL) or _default("metadata_url")
                )
                instance_id = metadata.instance_id()
            except MetadataUnavailable:
                instance_id = None
        worker_id = (
            environ.get(env.WORKER_ID) or instance_id or f"{socket.gethostname()}-{os.getpid()}"
        )
        return cls(
            clients,
            environ.get(env.WORKERS_TABLE) or _default("workers_table"),
            environ.get(env.POWERTOOLS_METRICS_NAMESPACE) or _default("metrics_namespace"),
            worker_id,
            instance_id,
        )

    def configuration_problem(self, problems: list[str], exit_status: int) -> None:
        """Log line, heartbeat record and metric; a report that fails is logged, never raised."""
        reason = "; ".join(problems)[:MAX_REASON_CHARS]
        logger.error(
            "worker stopped: configuration problem",
            extra={
                "problems": problems,
                "exit_status": exit_status,
                "worker_id": self.worker_id,
                "instance_id": self.instance_id,
            },
        )
        beat = WorkerHeartbeat(
            worker_id=self.worker_id,
            instance_id=self.instance_id,
            state=WorkerState.FAILED,
            stop_reason=reason,
            exit_status=exit_status,
        )
        try:
            HeartbeatStore(self._clients.dynamodb(), self._workers_table).put(beat)
        except Exception as exc:
            logger.warning("could not write the failed heartbeat", extra={"error": str(exc)})
        try:
            self._clients.cloudwatch().put_metric_data(
                Namespace=self._namespace,
                MetricData=[
                    {
                        "MetricName": CONFIG_ERROR_METRIC,
                        "Dimensions": [{"Name": "service", "Value": "sdfleet-worker"}],
                        "Unit": "Count",
                        "Value": 1.0,
                    }
                ],
            )
        except Exception as exc:
            logger.warning("could not send the configuration metric", extra={"error": str(exc)})
