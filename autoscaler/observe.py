"""Reads what the policy needs: both lanes from SQS, the ASG's instances, worker heartbeats,
and each instance's market (spot or on-demand) from ``DescribeInstances``.

SQS is read directly (``GetQueueAttributes``), not through CloudWatch, whose SQS metrics
lag by minutes and stop for idle queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from autoscaler.errors import ObservationError
from autoscaler.policy import InstanceState, InstanceView, Memory, Observation
from sdfleet.heartbeats import RECENT_JOBS_KEPT, HeartbeatStore, WorkerHeartbeat, WorkerState
from sdfleet.messages import Lane

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_sqs import SQSClient

#: ASG tag that carries the policy's memory between invocations (value <= 256 chars).
MEMORY_TAG: Final = "sdfleet:scaler-memory"
QUEUE_ATTRIBUTES: Final = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
_LEAVING_LIFECYCLES: Final = ("Terminating", "Detaching", "Standby", "EnteringStandby")
#: ``DescribeInstances`` takes at most this many ids per call (with a filter-free request).
_DESCRIBE_BATCH: Final = 100


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
        ec2: Any = None,
    ) -> None:
        self._sqs = sqs
        self._autoscaling = autoscaling
        self._heartbeats = heartbeats
        self._queue_urls = queue_urls
        self.group_name = group_name
        # ec2: a boto3 EC2 client (typed Any: only DescribeInstances is used); None: markets
        # unknown, and scale-in does not prefer either.
        self._ec2 = ec2
        #: An instance's market never changes: each id is described once per observer.
        self._spot: dict[str, bool] = {}
        #: DescribeInstances failures (the markets are then unknown; scaling goes on).
        self.market_errors: list[str] = []

    def markets(self, instance_ids: list[str]) -> dict[str, bool]:
        """instance id -> True for spot (``InstanceLifecycle`` "spot"), False for on-demand;
        ids EC2 did not describe (or could not, see ``market_errors``) are left out."""
        unknown = [i for i in instance_ids if i not in self._spot]
        if self._ec2 is not None and unknown:
            try:
                for start in range(0, len(unknown), _DESCRIBE_BATCH):
                    batch = unknown[start : start + _DESCRIBE_BATCH]
                    paginator = self._ec2.get_paginator("describe_instances")
                    for page in paginator.paginate(InstanceIds=batch):
                        for reservation in page.get("Reservations", []):
                            for instance in reservation.get("Instances", []):
                                spot = instance.get("InstanceLifecycle") == "spot"
                                self._spot[instance["InstanceId"]] = spot
            except (ClientError, BotoCoreError) as exc:
                self.market_errors.append(f"cannot read the markets of {unknown}: {exc}")
        return {i: self._spot[i] for i in instance_ids if i in self._spot}

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
        spot = self.markets(sorted(snapshot.lifecycle))
        views = tuple(
            instance_view(
                instance_id, lifecycle, beats.get(instance_id), snapshot, spot.get(instance_id)
            )
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
    instance_id: str,
    lifecycle: str,
    beat: WorkerHeartbeat | None,
    snapshot: GroupSnapshot,
    spot: bool | None = None,
) -> InstanceView:
    """One instance as the policy sees it: the ASG's lifecycle refined by the heartbeat."""
    return view_of(
        instance_id,
        lifecycle,
        snapshot.protected.get(instance_id, True),
        None if beat is None else beat.state,
        None if beat is None else (beat.idle_since or beat.updated_at).timestamp(),
        None if beat is None else beat.seconds_per_job,
        spot,
        () if beat is None else tuple(beat.recent_seconds_per_job[-RECENT_JOBS_KEPT:]),
    )


def view_of(
    instance_id: str,
    lifecycle: str,
    protected: bool,
    state: WorkerState | None,
    idle_since: float | None,
    seconds_per_job: float | None,
    spot: bool | None = None,
    recent_job_seconds: tuple[float, ...] = (),
) -> InstanceView:
    """The rules, on plain values (the simulator feeds them from its observation)."""
    if lifecycle.startswith(_LEAVING_LIFECYCLES):
        return InstanceView(instance_id, InstanceState.LEAVING, protected=protected, spot=spot)
    if not lifecycle.startswith("InService") or state is None:
        # Booting, loading the model, or silent: capacity on its way, never removed.
        return InstanceView(instance_id, InstanceState.PENDING, protected=protected, spot=spot)
    measured = (seconds_per_job, protected, spot, recent_job_seconds)
    if state is WorkerState.IDLE:
        return InstanceView(instance_id, InstanceState.IDLE, idle_since, *measured)
    if state is WorkerState.BUSY:
        return InstanceView(instance_id, InstanceState.BUSY, None, *measured)
    if state is WorkerState.STARTING:
        return InstanceView(instance_id, InstanceState.PENDING, None, *measured)
    return InstanceView(instance_id, InstanceState.LEAVING, None, *measured)
