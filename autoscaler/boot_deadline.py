"""The boot deadline: no GPU billed without a worker on it.

An instance the Auto Scaling group counts as ``InService`` passes EC2's health check even when
its worker never started (a failed user data step, an invalid setting, a model that does not
load): the policy sees it as capacity on its way and never removes it, since it is not idle.
Once ``boot_deadline_seconds`` have passed since its launch (EC2 ``LaunchTime``; a warm-pool
start resets it) without a ready heartbeat from its worker (idle, busy or draining, and
fresh), the scaler marks it ``Unhealthy`` (``SetInstanceHealth``) and the group terminates
and replaces it. Each replacement is logged and counted (the ``InstancesPastBootDeadline``
metric, alarmed in Terraform): a broken build replaces every instance it boots, and only an
operator can fix that.

:func:`overdue` is the rule on plain values; the simulator runs the same function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from autoscaler.errors import ScalerError
from sdfleet.heartbeats import WorkerHeartbeat, WorkerState

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient

#: Worker states that show a worker which got through start-up.
READY_STATES: Final = frozenset({WorkerState.IDLE, WorkerState.BUSY, WorkerState.DRAINING})
#: DescribeInstances takes at most this many ids per call.
_DESCRIBE_BATCH: Final = 100


class BootDeadlineError(ScalerError):
    """EC2 or the Auto Scaling group refused a call of the boot deadline."""


@dataclass(frozen=True)
class Overdue:
    """An instance past the deadline, with what its worker last said (if anything)."""

    instance_id: str
    launched_at: float
    seconds_since_launch: float
    worker_state: str | None = None
    worker_error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "instance_id": self.instance_id,
            "seconds_since_launch": round(self.seconds_since_launch, 1),
            "worker_state": self.worker_state,
            "worker_error": self.worker_error,
        }


def overdue(
    in_service: Iterable[str],
    launch_times: Mapping[str, float],
    ready: Iterable[str],
    now: float,
    deadline_seconds: float,
) -> list[str]:
    """In-service instances launched at least ``deadline_seconds`` before ``now`` whose worker
    has not reported ready; none when the deadline is 0 (off). Sorted, oldest launch first."""
    if deadline_seconds <= 0:
        return []
    ready_ids = set(ready)
    late = [
        instance_id
        for instance_id in in_service
        if instance_id not in ready_ids
        and instance_id in launch_times
        and now - launch_times[instance_id] >= deadline_seconds
    ]
    return sorted(late, key=lambda i: (launch_times[i], i))


def abandoned(
    waiting_on_hook: Iterable[str],
    launch_times: Mapping[str, float],
    ready: Iterable[str],
    now: float,
    deadline_seconds: float,
) -> list[str]:
    """Instances held by the termination hook (``Terminating:Wait``) that no worker will
    release: past the deadline and never ready, so there is nothing to drain. Completing their
    hook saves its whole timeout of billing per replacement."""
    return overdue(waiting_on_hook, launch_times, ready, now, deadline_seconds)


def is_ready(beat: WorkerHeartbeat, now: datetime) -> bool:
    return beat.state in READY_STATES and not beat.is_stale(now)


class BootDeadline:
    """Finds the group's overdue instances and marks them unhealthy."""

    def __init__(
        self,
        ec2: Any,
        autoscaling: AutoScalingClient,
        deadline_seconds: float,
        group_name: str,
        hook_name: str | None = None,
    ) -> None:
        # ec2: a boto3 EC2 client (typed Any: only DescribeInstances is used).
        self._ec2 = ec2
        self._autoscaling = autoscaling
        self.deadline_seconds = deadline_seconds
        self.group_name = group_name
        self.hook_name = hook_name
        self.hook_errors: list[str] = []

    def launch_times(self, instance_ids: list[str]) -> dict[str, float]:
        times: dict[str, float] = {}
        try:
            for start in range(0, len(instance_ids), _DESCRIBE_BATCH):
                batch = instance_ids[start : start + _DESCRIBE_BATCH]
                paginator = self._ec2.get_paginator("describe_instances")
                for page in paginator.paginate(InstanceIds=batch):
                    for reservation in page.get("Reservations", []):
                        for instance in reservation.get("Instances", []):
                            launched = instance.get("LaunchTime")
                            if launched is not None:
                                times[instance["InstanceId"]] = launched.timestamp()
        except (ClientError, BotoCoreError) as exc:
            raise BootDeadlineError(f"cannot read launch times of {instance_ids}: {exc}") from exc
        return times

    def enforce(
        self,
        lifecycle: Mapping[str, str],
        beats: Iterable[WorkerHeartbeat],
        now: datetime,
    ) -> list[Overdue]:
        """Marks every overdue instance of the group unhealthy; returns them."""
        if self.deadline_seconds <= 0:
            return []
        by_instance = {b.instance_id: b for b in beats if b.instance_id is not None}
        ready = [i for i, beat in by_instance.items() if is_ready(beat, now)]
        ready_ids = set(ready)
        in_service = [i for i, state in lifecycle.items() if state.startswith("InService")]
        held = [i for i, state in lifecycle.items() if state == "Terminating:Wait"]
        waiting = [i for i in in_service if i not in ready_ids]
        held = [i for i in held if i not in ready_ids] if self.hook_name else []
        if not waiting and not held:
            return []  # the usual case: no EC2 call
        launched = self.launch_times(waiting + held)
        self._release_hooks(
            abandoned(held, launched, ready, now.timestamp(), self.deadline_seconds)
        )
        found = overdue(waiting, launched, ready, now.timestamp(), self.deadline_seconds)
        replaced: list[Overdue] = []
        for instance_id in found:
            beat = by_instance.get(instance_id)
            try:
                self._autoscaling.set_instance_health(
                    InstanceId=instance_id,
                    HealthStatus="Unhealthy",
                    ShouldRespectGracePeriod=False,
                )
            except (ClientError, BotoCoreError) as exc:
                raise BootDeadlineError(
                    f"cannot mark instance {instance_id!r} unhealthy: {exc}"
                ) from exc
            replaced.append(
                Overdue(
                    instance_id,
                    launched[instance_id],
                    now.timestamp() - launched[instance_id],
                    None if beat is None else str(beat.state),
                    None if beat is None else (beat.stop_reason or beat.load_error),
                )
            )
        return replaced

    def _release_hooks(self, instance_ids: list[str]) -> None:
        """CONTINUE the termination of instances no worker will drain; a refusal (the action
        already completed or timed out) is only logged: the next run tries again."""
        for instance_id in instance_ids:
            try:
                self._autoscaling.complete_lifecycle_action(
                    LifecycleHookName=self.hook_name or "",
                    AutoScalingGroupName=self.group_name,
                    InstanceId=instance_id,
                    LifecycleActionResult="CONTINUE",
                )
            except (ClientError, BotoCoreError) as exc:
                self.hook_errors.append(f"{instance_id}: {exc}")
