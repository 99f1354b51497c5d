"""``sdfleet status``: lanes (depth, in flight, DLQ), the ASG, workers, and recent jobs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from sdfleet.aws import AwsClients
from sdfleet.heartbeats import HeartbeatStore, WorkerHeartbeat
from sdfleet.records import JobRecord
from sdfleet.store import JobStore
from sdfleet_cli.local.client_config import ClientConfig

RECENT_JOBS_SHOWN = 10


@dataclass(frozen=True)
class LaneStatus:
    lane: str
    visible: int
    in_flight: int
    dead_lettered: int | None


@dataclass(frozen=True)
class FleetStatus:
    lanes: list[LaneStatus]
    desired_capacity: int | None
    instances: list[str]
    workers: list[WorkerHeartbeat]
    recent_jobs: list[JobRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "lanes": [asdict(lane) for lane in self.lanes],
            "desired_capacity": self.desired_capacity,
            "instances": self.instances,
            "workers": [worker.model_dump(mode="json") for worker in self.workers],
            "recent_jobs": [job.model_dump(mode="json") for job in self.recent_jobs],
        }


def _depth(clients: AwsClients, url: str | None) -> tuple[int, int] | None:
    if not url:
        return None
    attributes = clients.sqs().get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )


def fleet_status(clients: AwsClients, config: ClientConfig, owner: str | None) -> FleetStatus:
    lanes = []
    for lane, url, dlq in (
        ("interactive", config.interactive_queue_url, config.interactive_dlq_url),
        ("training", config.training_queue_url, config.training_dlq_url),
        ("batch", config.batch_queue_url, config.batch_dlq_url),
    ):
        if not url:
            continue
        depth = _depth(clients, url) or (0, 0)
        dead = _depth(clients, dlq)
        lanes.append(LaneStatus(lane, depth[0], depth[1], dead[0] if dead else None))
    desired: int | None = None
    instances: list[str] = []
    if config.asg_name:
        try:
            groups = clients.autoscaling().describe_auto_scaling_groups(
                AutoScalingGroupNames=[config.asg_name]
            )["AutoScalingGroups"]
        except ClientError:
            groups = []
        if groups:
            desired = groups[0]["DesiredCapacity"]
            instances = [
                f"{instance['InstanceId']} ({instance['LifecycleState']})"
                for instance in groups[0].get("Instances", [])
            ]
    workers = HeartbeatStore(clients.dynamodb(), config.workers_table).list()
    recent: list[JobRecord] = []
    if owner:
        recent, _ = JobStore(clients.dynamodb(), config.jobs_table).list_by_owner(
            owner, limit=RECENT_JOBS_SHOWN
        )
    workers.sort(key=lambda worker: worker.worker_id)
    return FleetStatus(lanes, desired, instances, workers, recent)
