"""What the observer reads from the emulator: every lane's depths and the group's instances."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config

from autoscaler.errors import ObservationError
from autoscaler.observe import MEMORY_TAG, FleetObserver
from autoscaler.policy import InstanceState, Memory
from sdfleet.aws import AwsClients
from sdfleet.heartbeats import HeartbeatStore, WorkerHeartbeat, WorkerState
from sdfleet.messages import Lane
from tests.conftest import FleetResources, free_port
from tests.integration.autoscaler.conftest import WorkerGroup, new_worker_group
from tests.support.aws_resources import unique


def observer(clients: AwsClients, queue_urls: dict[Lane, str], group: str) -> FleetObserver:
    # The heartbeats are not read by these tests: no table behind them.
    heartbeats = HeartbeatStore(clients.dynamodb(), "not-read")
    return FleetObserver(clients.sqs(), clients.autoscaling(), heartbeats, queue_urls, group)


def test_each_lane_reports_its_visible_and_in_flight_jobs(aws: AwsClients) -> None:
    sqs = aws.sqs()
    urls = {lane: sqs.create_queue(QueueName=unique(lane.value))["QueueUrl"] for lane in Lane}
    for _ in range(3):
        sqs.send_message(QueueUrl=urls[Lane.INTERACTIVE], MessageBody="{}")
    sqs.send_message(QueueUrl=urls[Lane.BATCH], MessageBody="{}")
    received = sqs.receive_message(
        QueueUrl=urls[Lane.INTERACTIVE], MaxNumberOfMessages=2, VisibilityTimeout=300
    )
    assert len(received["Messages"]) == 2
    visible, in_flight = observer(aws, urls, "unused").queue_depths()
    assert visible == {Lane.INTERACTIVE: 1, Lane.TRAINING: 0, Lane.BATCH: 1}
    assert in_flight == {Lane.INTERACTIVE: 2, Lane.TRAINING: 0, Lane.BATCH: 0}


def test_the_group_snapshot_is_the_groups_state(aws: AwsClients) -> None:
    group: WorkerGroup = new_worker_group(aws)
    autoscaling = aws.autoscaling()
    autoscaling.set_desired_capacity(AutoScalingGroupName=group.name, DesiredCapacity=2)
    first, second = group.instance_ids()
    autoscaling.set_instance_protection(
        AutoScalingGroupName=group.name, InstanceIds=[second], ProtectedFromScaleIn=False
    )
    memory = Memory(last_work_at=10.0, last_seen=20.0, typical_gap=30.0, load=1.5)
    autoscaling.create_or_update_tags(
        Tags=[
            {
                "ResourceId": group.name,
                "ResourceType": "auto-scaling-group",
                "Key": MEMORY_TAG,
                "Value": memory.to_compact(),
                "PropagateAtLaunch": False,
            }
        ]
    )
    snapshot = observer(aws, {}, group.name).group()
    assert (snapshot.name, snapshot.desired, snapshot.min_size, snapshot.max_size) == (
        group.name,
        2,
        0,
        6,
    )
    assert snapshot.lifecycle == {first: "InService", second: "InService"}
    assert snapshot.protected == {first: True, second: False}
    assert snapshot.memory == memory


def test_a_missing_group_is_named(aws: AwsClients) -> None:
    with pytest.raises(ObservationError, match="auto scaling group 'no-such-group' does not exist"):
        observer(aws, {}, "no-such-group").group()


def test_aws_out_of_reach_names_what_could_not_be_read(aws: AwsClients) -> None:
    unreachable = Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1)
    endpoint = f"http://127.0.0.1:{free_port()}"
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint, config=unreachable)
    autoscaling = boto3.client(
        "autoscaling", region_name="us-east-1", endpoint_url=endpoint, config=unreachable
    )
    heartbeats = HeartbeatStore(aws.dynamodb(), "not-read")
    url = f"{endpoint}/123456789012/lane"
    blind = FleetObserver(sqs, autoscaling, heartbeats, {Lane.BATCH: url}, "workers-x")
    with pytest.raises(ObservationError, match=f"cannot read queue '{url}' \\(batch lane\\)"):
        blind.queue_depths()
    with pytest.raises(ObservationError, match="cannot read auto scaling group 'workers-x'"):
        blind.group()


def test_the_observation_reads_heartbeats_at_its_own_time_and_each_lane_apart(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    """An observation taken at a given time (the simulator's clock, a replay) reads the
    heartbeats fresh at that time, not at the wall clock's; it reports each instance's
    protection and its worker's pace (the mean of its recent job times, `job_pace`), and each
    lane's own depths."""
    taken_at = datetime(2021, 3, 1, 12, 0, tzinfo=UTC)
    autoscaling = fleet.clients.autoscaling()
    autoscaling.set_desired_capacity(AutoScalingGroupName=worker_group.name, DesiredCapacity=2)
    busy, idle = sorted(worker_group.instance_ids())
    autoscaling.set_instance_protection(
        AutoScalingGroupName=worker_group.name, InstanceIds=[idle], ProtectedFromScaleIn=False
    )
    heartbeats = HeartbeatStore(fleet.clients.dynamodb(), fleet.workers_table)
    for instance_id, state, job_seconds in (
        (busy, WorkerState.BUSY, [4.0, 9.0, 5.0]),
        (idle, WorkerState.IDLE, [2.0, 3.0]),
    ):
        heartbeats.put(
            WorkerHeartbeat(
                worker_id=f"w-{instance_id}",
                instance_id=instance_id,
                state=state,
                recent_seconds_per_job=job_seconds,
                idle_since=taken_at if state is WorkerState.IDLE else None,
                started_at=taken_at,
                updated_at=taken_at,
            )
        )
    sqs = fleet.clients.sqs()
    sqs.send_message(QueueUrl=fleet.queues.training_url, MessageBody="{}")
    sqs.send_message(QueueUrl=fleet.queues.batch_url, MessageBody="{}")
    sqs.receive_message(QueueUrl=fleet.queues.batch_url, VisibilityTimeout=300)
    urls = {
        Lane.INTERACTIVE: fleet.queues.interactive_url,
        Lane.BATCH: fleet.queues.batch_url,
        Lane.TRAINING: fleet.queues.training_url,
    }
    watcher = FleetObserver(sqs, autoscaling, heartbeats, urls, worker_group.name)
    observation, _ = watcher.observe(taken_at)
    views = {view.instance_id: view for view in observation.instances}
    assert (views[busy].state, views[idle].state) == (InstanceState.BUSY, InstanceState.IDLE)
    assert (views[busy].protected, views[idle].protected) == (True, False)
    # The mean of each worker's recent jobs (a median would read 5.0 for the busy one).
    assert (views[busy].seconds_per_job, views[idle].seconds_per_job) == (6.0, 2.5)
    # The durations themselves, for the spread of job sizes (the policy's headroom).
    assert views[busy].recent_job_seconds == (4.0, 9.0, 5.0)
    assert views[idle].recent_job_seconds == (2.0, 3.0)
    assert observation.visible_by_lane == {Lane.INTERACTIVE: 0, Lane.BATCH: 0, Lane.TRAINING: 1}
    assert observation.in_flight_by_lane == {
        Lane.INTERACTIVE: 0,
        Lane.BATCH: 1,
        Lane.TRAINING: 0,
    }
