"""Reads what the policy needs: both lanes from SQS, the ASG's instances, worker heartbeats.

SQS is read directly (``GetQueueAttributes``), not through CloudWatch, whose SQS metrics
lag by minutes and stop for idle queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from autoscaler.errors import ObservationError
from autoscaler.policy import InstanceState, InstanceView, Memory, Observation
from sdfleet.heartbeats import HeartbeatStore, WorkerHeartbeat, WorkerState
from sdfleet.messages import Lane

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_sqs import SQSClient

#: ASG tag that carries the policy's memory between invocations (value <= 256 chars).
MEMORY_TAG: Final = "sdfleet:scaler-memory"
QUEUE_ATTRIBUTES: Final = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
_LEAVING_LIFECYCLES: Final = ("Terminating", "Detaching", "Standby", "EnteringStandby")


@dataclass(frozen=True)
class GroupSnapshot:
    name: str
    desired: int
    min_size: int
    max_size: int
    lifecycle: dict[str, str]
    protected: dict[str, bool]
    memory: Memory


class FleetObserver:
    def __init__(
        self,
        sqs: SQSClient,
        autoscaling: AutoScalingClient,
        heartbeats: HeartbeatStore,
        queue_urls: dict[Lane, str],
        group_name: str,
    ) -> None:
        self._sqs = sqs
        self._autoscaling = autoscaling
        self._heartbeats = heartbeats
        self._queue_urls = queue_urls
        self.group_name = group_name

    def queue_depths(self) -> tuple[dict[Lane, int], dict[Lane, int]]:
        visible: dict[Lane, int] = {}
        in_flight: dict[Lane, int] = {}
        for lane, url in self._queue_urls.items():
            try:
                attributes = self._sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=list(QUEUE_ATTRIBUTES),  # type: ignore[arg-type]
                )["Attributes"]
            except (ClientError, BotoCoreError) as exc:
                raise ObservationError(f"cannot read queue {url!r} ({lane} lane): {exc}") from exc
            visible[lane] = int(attributes.get("ApproximateNumberOfMessages", "0"))
            in_flight[lane] = int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0"))
        return visible, in_flight

    def group(self) -> GroupSnapshot:
        try:
            groups = self._autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=[self.group_name]
            )["AutoScalingGroups"]
        except (ClientError, BotoCoreError) as exc:
            raise ObservationError(
                f"cannot read auto scaling group {self.group_name!r}: {exc}"
            ) from exc
        if not groups:
            raise ObservationError(f"auto scaling group {self.group_name!r} does not exist")
        group = groups[0]
        memory_text = next(
            (t.get("Value") for t in group.get("Tags", []) if t.get("Key") == MEMORY_TAG), None
        )
        instances = group.get("Instances", [])
        return GroupSnapshot(
            name=self.group_name,
            desired=int(group["DesiredCapacity"]),
            min_size=int(group["MinSize"]),
            max_size=int(group["MaxSize"]),
            lifecycle={i["InstanceId"]: i["LifecycleState"] for i in instances},
            protected={i["InstanceId"]: bool(i.get("ProtectedFromScaleIn")) for i in instances},
            memory=Memory.from_compact(memory_text),
        )

    def observe(self, now: datetime) -> tuple[Observation, GroupSnapshot]:
        visible, in_flight = self.queue_depths()
        snapshot = self.group()
        beats = {
            b.instance_id: b for b in self._heartbeats.list(now=now) if b.instance_id is not None
        }
        views = tuple(
            instance_view(instance_id, lifecycle, beats.get(instance_id), snapshot)
            for instance_id, lifecycle in sorted(snapshot.lifecycle.items())
        )
        observation = Observation(
            now=now.timestamp(),
            visible=sum(visible.values()),
            in_flight=sum(in_flight.values()),
            desired_capacity=snapshot.desired,
            instances=views,
            visible_by_lane=visible,
            in_flight_by_lane=in_flight,
        )
        return observation, snapshot


def instance_view(
    instance_id: str, lifecycle: str, beat: WorkerHeartbeat | None, snapshot: GroupSnapshot
) -> InstanceView:
    """One instance as the policy sees it: the ASG's lifecycle refined by the heartbeat."""
    return view_of(
        instance_id,
        lifecycle,
        snapshot.protected.get(instance_id, True),
        None if beat is None else beat.state,
        None if beat is None else (beat.idle_since or beat.updated_at).timestamp(),
        None if beat is None else beat.median_seconds_per_job,
    )


def view_of(
    instance_id: str,
    lifecycle: str,
    protected: bool,
    state: WorkerState | None,
    idle_since: float | None,
    seconds_per_job: float | None,
) -> InstanceView:
    """The rules, on plain values (the simulator feeds them from its observation)."""
    if lifecycle.startswith(_LEAVING_LIFECYCLES):
        return InstanceView(instance_id, InstanceState.LEAVING, protected=protected)
    if not lifecycle.startswith("InService") or state is None:
        # Booting, loading the model, or silent: capacity on its way, never removed.
        return InstanceView(instance_id, InstanceState.PENDING, protected=protected)
    if state is WorkerState.IDLE:
        return InstanceView(instance_id, InstanceState.IDLE, idle_since, seconds_per_job, protected)
    if state is WorkerState.BUSY:
        return InstanceView(instance_id, InstanceState.BUSY, None, seconds_per_job, protected)
    if state is WorkerState.STARTING:
        return InstanceView(instance_id, InstanceState.PENDING, None, seconds_per_job, protected)
    return InstanceView(instance_id, InstanceState.LEAVING, None, seconds_per_job, protected)
