"""The scaler Lambda against the emulator: SQS, the ASG and the workers table are real."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.handler import ScalerRun, lambda_handler
from autoscaler.observe import MEMORY_TAG
from sdfleet import env
from sdfleet.heartbeats import HeartbeatStore, WorkerHeartbeat, WorkerState
from sdfleet.messages import Lane
from sdfleet.settings import ScalerSettings
from tests.conftest import FleetResources
from tests.integration.autoscaler.conftest import WorkerGroup

pytestmark = pytest.mark.emulator


def settings_for(fleet: FleetResources, group: WorkerGroup, **overrides: object) -> ScalerSettings:
    values: dict[str, object] = {
        "aws_endpoint_url": fleet.clients.endpoint_url,
        "aws_region": fleet.clients.region,
        "interactive_queue_url": fleet.queues.interactive_url,
        "batch_queue_url": fleet.queues.batch_url,
        "workers_table": fleet.workers_table,
        "asg_name": group.name,
        "max_capacity": 6,
        "samples_per_invocation": 1,
        "idle_seconds_before_scale_in": 60,
        "quiet_seconds_before_zero": 120,
    }
    values.update(overrides)
    return ScalerSettings(**values)  # type: ignore[arg-type]


def beat(fleet: FleetResources, instance_id: str, state: WorkerState, idle_for: float = 0) -> None:
    now = datetime.now(UTC)
    HeartbeatStore(fleet.clients.dynamodb(), fleet.workers_table).put(
        WorkerHeartbeat(
            worker_id=f"w-{instance_id}",
            instance_id=instance_id,
            state=state,
            current_job="job-1" if state is WorkerState.BUSY else None,
            recent_seconds_per_job=[5.0, 6.0, 7.0],
            idle_since=now - timedelta(seconds=idle_for) if state is WorkerState.IDLE else None,
            updated_at=now,
        )
    )


def test_first_message_starts_one_worker(fleet: FleetResources, worker_group: WorkerGroup) -> None:
    settings = settings_for(fleet, worker_group)
    idle = ScalerRun(settings, fleet.clients)()
    assert idle.desired_capacity == 0
    assert worker_group.desired() == 0

    fleet.clients.sqs().send_message(QueueUrl=fleet.queues.batch_url, MessageBody="{}")
    result = ScalerRun(settings, fleet.clients)()
    assert result.reason == "scale-out"
    assert result.desired_capacity == 1
    assert worker_group.desired() == 1
    assert len(worker_group.instance_ids()) == 1
    assert result.samples[0].visible == {Lane.INTERACTIVE: 0, Lane.BATCH: 1}


def test_backlog_scales_out_in_steps(fleet: FleetResources, worker_group: WorkerGroup) -> None:
    sqs = fleet.clients.sqs()
    for start in range(0, 200, 10):
        sqs.send_message_batch(
            QueueUrl=fleet.queues.interactive_url,
            Entries=[{"Id": str(n), "MessageBody": "{}"} for n in range(start, start + 10)],
        )
    settings = settings_for(fleet, worker_group, max_step=4)
    assert ScalerRun(settings, fleet.clients)().desired_capacity == 4
    assert ScalerRun(settings, fleet.clients)().desired_capacity == 6  # max_capacity
    assert worker_group.desired() == 6


def test_scale_in_removes_only_idle_workers(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    autoscaling = fleet.clients.autoscaling()
    autoscaling.set_desired_capacity(AutoScalingGroupName=worker_group.name, DesiredCapacity=3)
    busy, *idle = worker_group.instance_ids()
    assert all(i["ProtectedFromScaleIn"] for i in worker_group.describe()["Instances"])
    # One job in flight on the busy worker; the other two idle for ten minutes.
    sqs = fleet.clients.sqs()
    sqs.send_message(QueueUrl=fleet.queues.interactive_url, MessageBody="{}")
    sqs.receive_message(QueueUrl=fleet.queues.interactive_url, VisibilityTimeout=300)
    beat(fleet, busy, WorkerState.BUSY)
    for instance_id in idle:
        beat(fleet, instance_id, WorkerState.IDLE, idle_for=600)

    result = ScalerRun(settings_for(fleet, worker_group), fleet.clients)()

    assert sorted(result.terminated) == sorted(idle)
    assert worker_group.instance_ids() == [busy]
    assert worker_group.desired() == 1
    assert result.samples[0].decision.seconds_per_job == 6.0
    # The policy's memory survives the invocation as a tag on the group.
    tags = {t["Key"]: t["Value"] for t in worker_group.describe()["Tags"]}
    assert tags[MEMORY_TAG].split()[0] != "-"


def test_idle_fleet_reaches_zero_after_quiet_time(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    autoscaling = fleet.clients.autoscaling()
    autoscaling.set_desired_capacity(AutoScalingGroupName=worker_group.name, DesiredCapacity=2)
    for instance_id in worker_group.instance_ids():
        beat(fleet, instance_id, WorkerState.IDLE, idle_for=30)
    clock_at = [datetime.now(UTC)]
    settings = settings_for(fleet, worker_group, quiet_seconds_before_zero=120)
    # Work seen now: one worker stays warm through the quiet time.
    fleet.clients.sqs().send_message(QueueUrl=fleet.queues.interactive_url, MessageBody="{}")
    ScalerRun(settings, fleet.clients, clock=lambda: clock_at[0])()
    fleet.clients.sqs().purge_queue(QueueUrl=fleet.queues.interactive_url)
    clock_at[0] += timedelta(seconds=60)
    mid = ScalerRun(settings, fleet.clients, clock=lambda: clock_at[0])()
    assert mid.desired_capacity == 1
    clock_at[0] += timedelta(seconds=90)
    late = ScalerRun(settings, fleet.clients, clock=lambda: clock_at[0])()
    assert late.desired_capacity == 0
    assert worker_group.instance_ids() == []


def test_samples_within_the_minute_with_injected_sleep(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    slept: list[float] = []
    settings = settings_for(fleet, worker_group, samples_per_invocation=4)
    result = ScalerRun(settings, fleet.clients, sleep=slept.append)()
    assert len(result.samples) == 4
    assert slept == [12.0, 12.0, 12.0]


def test_lambda_handler_logs_one_line_and_emits_metrics(
    fleet: FleetResources,
    worker_group: WorkerGroup,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for key, value in fleet.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(env.ASG_NAME, worker_group.name)
    monkeypatch.setenv(env.SCALER_SAMPLES_PER_INVOCATION, "1")
    fleet.clients.sqs().send_message(QueueUrl=fleet.queues.interactive_url, MessageBody="{}")

    with caplog.at_level(logging.INFO):
        result = lambda_handler({"source": "aws.events"}, None)

    assert result["desired_capacity"] == 1
    decisions = [r for r in caplog.records if r.getMessage() == "scaler decision"]
    assert len(decisions) == 1
    logged = decisions[0].scaler  # type: ignore[attr-defined]
    assert logged["samples"][0]["visible"] == {"interactive": 1, "training": 0, "batch": 0}
    assert logged["desired_capacity"] == 1
    emf = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(emf) == 1
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"]
    assert emf[0]["VisibleMessages"] in (1.0, [1.0])
    assert emf[0]["DesiredCapacity"] in (1.0, [1.0])


# Production workers write their heartbeat every 30 s, so a busy worker's record is usually
# tens of seconds old when the scaler reads it: old enough to pass the 10-second idle rule if
# it were ever taken for an idle one.
HEARTBEAT_AGE_SECONDS = 25.0


def beat_aged(
    fleet: FleetResources, instance_id: str, state: WorkerState, age: float, idle_for: float = 0
) -> None:
    now = datetime.now(UTC)
    HeartbeatStore(fleet.clients.dynamodb(), fleet.workers_table).put(
        WorkerHeartbeat(
            worker_id=f"w-{instance_id}",
            instance_id=instance_id,
            state=state,
            current_job="job-1" if state is WorkerState.BUSY else None,
            recent_seconds_per_job=[5.0, 6.0, 7.0],
            idle_since=now - timedelta(seconds=idle_for) if state is WorkerState.IDLE else None,
            updated_at=now - timedelta(seconds=age),
        )
    )


def test_over_capacity_scale_in_never_takes_a_busy_worker_with_an_aged_heartbeat(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    """max_capacity lowered below the fleet: the scaler sheds what it may, the idle worker,
    and keeps both busy ones although their heartbeats are 25 s old."""
    fleet.clients.autoscaling().set_desired_capacity(
        AutoScalingGroupName=worker_group.name, DesiredCapacity=3
    )
    first_busy, second_busy, idle = worker_group.instance_ids()
    sqs = fleet.clients.sqs()
    for _ in range(2):
        sqs.send_message(QueueUrl=fleet.queues.interactive_url, MessageBody="{}")
    sqs.receive_message(
        QueueUrl=fleet.queues.interactive_url, MaxNumberOfMessages=2, VisibilityTimeout=300
    )
    beat_aged(fleet, first_busy, WorkerState.BUSY, age=HEARTBEAT_AGE_SECONDS)
    beat_aged(fleet, second_busy, WorkerState.BUSY, age=HEARTBEAT_AGE_SECONDS)
    beat_aged(fleet, idle, WorkerState.IDLE, age=HEARTBEAT_AGE_SECONDS, idle_for=600)

    result = ScalerRun(settings_for(fleet, worker_group, max_capacity=1), fleet.clients)()

    assert result.terminated == [idle]
    assert worker_group.instance_ids() == sorted([first_busy, second_busy])
    assert worker_group.desired() == 2


def test_scale_in_stops_at_the_groups_min_size(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    """The group's own MinSize (set outside the scaler, e.g. by an SRE) is a floor the
    scaler's terminations respect, even when the policy would go lower."""
    autoscaling = fleet.clients.autoscaling()
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=worker_group.name, MinSize=2, DesiredCapacity=3
    )
    for instance_id in worker_group.instance_ids():
        beat(fleet, instance_id, WorkerState.IDLE, idle_for=600)

    result = ScalerRun(settings_for(fleet, worker_group), fleet.clients)()

    assert len(result.terminated) == 1
    assert len(worker_group.instance_ids()) == 2
    assert worker_group.desired() == 2
