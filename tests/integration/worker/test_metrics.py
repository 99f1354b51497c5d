"""The worker's job metrics reach CloudWatch (the emulator) under the dashboard's names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from sdfleet.aws import AwsClients
from worker.metrics import MAX_VALUES_PER_DATUM, JobMetrics

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.literals import StatisticType

pytestmark = pytest.mark.emulator


def test_buffered_values_are_sent_in_one_flush(aws: AwsClients) -> None:
    namespace = f"sdfleet-test-{datetime.now(UTC).timestamp():.0f}"
    metrics = JobMetrics(aws.cloudwatch(), namespace)
    for seconds in range(MAX_VALUES_PER_DATUM + 5):
        metrics.job_succeeded(float(seconds))
    metrics.job_failed()
    metrics.job_failed()
    metrics.flush()
    metrics.flush()  # nothing left: sends nothing

    cloudwatch = aws.cloudwatch()
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=namespace)["Metrics"]}
    assert names == {"JobLatencySeconds", "JobsFailed"}
    now = datetime.now(UTC)

    def statistic(name: str, stat: StatisticType) -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=name,
            Dimensions=[{"Name": "service", "Value": "sdfleet-worker"}],
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=5),
            Period=600,
            Statistics=[stat],
        )["Datapoints"]
        return sum(float(p[stat]) for p in points)

    assert statistic("JobsFailed", "Sum") == 2
    assert statistic("JobLatencySeconds", "SampleCount") == MAX_VALUES_PER_DATUM + 5


def test_unreachable_cloudwatch_never_raises() -> None:
    dead = AwsClients(endpoint_url="http://127.0.0.1:9", max_attempts=1)
    metrics = JobMetrics(dead.cloudwatch(), "sdfleet")
    metrics.job_succeeded(1.0)
    metrics.flush()
