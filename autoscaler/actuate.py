"""Applies a decision to the Auto Scaling group.

Scale-out sets the desired capacity. Scale-in never lowers the desired capacity by itself
(the ASG would then pick the instances, busy or not): it terminates the chosen idle
instances with ``ShouldDecrementDesiredCapacity``, first lifting their scale-in protection
(instances launch protected, so nothing else removes a worker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from autoscaler.errors import ScalerError
from autoscaler.observe import MEMORY_TAG, GroupSnapshot
from autoscaler.policy import Decision, Memory

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient


class ActuationError(ScalerError):
    """The ASG refused a change."""


@dataclass
class Applied:
    desired_capacity: int
    launched: int = 0
    terminated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class GroupActuator:
    def __init__(self, autoscaling: AutoScalingClient) -> None:
        self._autoscaling = autoscaling

    def apply(self, decision: Decision, snapshot: GroupSnapshot) -> Applied:
        group = snapshot.name
        desired = snapshot.desired
        applied = Applied(desired_capacity=desired)
        try:
            for instance_id in decision.terminate:
                if desired - 1 < snapshot.min_size or instance_id not in snapshot.lifecycle:
                    applied.skipped.append(instance_id)
                    continue
                if snapshot.protected.get(instance_id, False):
                    self._autoscaling.set_instance_protection(
                        AutoScalingGroupName=group,
                        InstanceIds=[instance_id],
                        ProtectedFromScaleIn=False,
                    )
                self._autoscaling.terminate_instance_in_auto_scaling_group(
                    InstanceId=instance_id, ShouldDecrementDesiredCapacity=True
                )
                desired -= 1
                applied.terminated.append(instance_id)
            target = min(decision.desired_capacity, snapshot.max_size)
            if target > desired:
                self._autoscaling.set_desired_capacity(
                    AutoScalingGroupName=group, DesiredCapacity=target, HonorCooldown=False
                )
                applied.launched = target - desired
                desired = target
        except (ClientError, BotoCoreError) as exc:
            raise ActuationError(f"auto scaling group {group!r} refused a change: {exc}") from exc
        applied.desired_capacity = desired
        return applied

    def save_memory(self, group: str, memory: Memory) -> None:
        try:
            self._autoscaling.create_or_update_tags(
                Tags=[
                    {
                        "ResourceId": group,
                        "ResourceType": "auto-scaling-group",
                        "Key": MEMORY_TAG,
                        "Value": memory.to_compact()[:256],
                        "PropagateAtLaunch": False,
                    }
                ]
            )
        except (ClientError, BotoCoreError) as exc:
            raise ActuationError(f"cannot tag auto scaling group {group!r}: {exc}") from exc
