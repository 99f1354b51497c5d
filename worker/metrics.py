"""Job metrics for the fleet dashboard: ``JobLatencySeconds`` and ``JobsFailed``.

A worker on EC2 has no Lambda log pipeline to carry EMF, so it calls ``PutMetricData``
itself. Values are buffered and sent by the heartbeat thread at most once per flush interval
(one request for many jobs), never on the job's critical path; a failed send is logged and
dropped, never raised: metrics must not fail a job.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

logger = Logger(service="sdfleet-worker", child=True)

#: Seconds between sends while values are waiting.
FLUSH_INTERVAL_SECONDS: Final = 30.0
#: CloudWatch takes at most 150 values per datum.
MAX_VALUES_PER_DATUM: Final = 150
#: Values kept while CloudWatch cannot be reached (the oldest are dropped beyond this).
MAX_BUFFERED_VALUES: Final = 10_000


class JobMetrics:
    def __init__(
        self, cloudwatch: CloudWatchClient, namespace: str, service: str = "sdfleet-worker"
    ) -> None:
        self._cloudwatch = cloudwatch
        self._namespace = namespace
        self._dimensions = [{"Name": "service", "Value": service}]
        self._lock = threading.Lock()
        self._latencies: list[float] = []
        self._failures = 0
        self._last_flush = time.monotonic()

    def job_succeeded(self, latency_seconds: float) -> None:
        with self._lock:
            self._latencies.append(max(0.0, latency_seconds))
            del self._latencies[:-MAX_BUFFERED_VALUES]

    def job_failed(self) -> None:
        with self._lock:
            self._failures += 1

    def flush_if_due(self) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            latencies, self._latencies = self._latencies, []
            failures, self._failures = self._failures, 0
            self._last_flush = time.monotonic()
        data: list[dict[str, Any]] = [
            {
                "MetricName": "JobLatencySeconds",
                "Dimensions": self._dimensions,
                "Unit": "Seconds",
                "Values": latencies[start : start + MAX_VALUES_PER_DATUM],
            }
            for start in range(0, len(latencies), MAX_VALUES_PER_DATUM)
        ]
        if failures:
            data.append(
                {
                    "MetricName": "JobsFailed",
                    "Dimensions": self._dimensions,
                    "Unit": "Count",
                    "Value": float(failures),
                }
            )
        if not data:
            return
        try:
            for start in range(0, len(data), 20):  # at most 1000 datums; stay well under
                self._cloudwatch.put_metric_data(
                    Namespace=self._namespace,
                    MetricData=data[start : start + 20],  # type: ignore[arg-type]
                )
        except Exception:
            logger.exception("could not send job metrics", extra={"dropped": len(latencies)})
