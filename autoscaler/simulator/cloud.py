"""What a scaler may see and do in the simulator: exactly what the deployed scaler's AWS calls
return and accept, nothing else.

A scaler gets a :class:`CloudObservation` (built by the engine from its world, then frozen)
and answers with :data:`Action` values the engine applies. It never holds a reference to the
world, so it cannot read future arrivals, job times or spot schedules:
``tests/unit/autoscaler/test_harness_isolation.py`` walks everything reachable from an
observation and from every scaler to prove it.

* ``queues``: ``GetQueueAttributes`` per lane, ``ApproximateNumberOfMessages`` (visible) and
  ``ApproximateNumberOfMessagesNotVisible`` (in flight), as approximate and late as SQS's.
* ``instances``: ``DescribeAutoScalingGroups``: lifecycle state, scale-in protection; and
  from ``DescribeInstances`` the launch time and the market (``InstanceLifecycle``: spot or
  on-demand), as ``autoscaler/observe.py`` reads it.
* ``heartbeats``: the worker status records in DynamoDB, each with its age.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sdfleet.heartbeats import WorkerState, job_pace
from sdfleet.messages import Lane


class Lifecycle(StrEnum):
    """The ASG lifecycle states the simulator models (the names AWS returns)."""

    PENDING = "Pending"
    IN_SERVICE = "InService"
    TERMINATING_WAIT = "Terminating:Wait"  # the drain lifecycle hook holds it
    TERMINATING = "Terminating"  # shutting down, still billed until gone


LEAVING: frozenset[Lifecycle] = frozenset({Lifecycle.TERMINATING_WAIT, Lifecycle.TERMINATING})


@dataclass(frozen=True)
class QueueCounts:
    visible: int
    in_flight: int


@dataclass(frozen=True)
class AsgInstance:
    instance_id: str
    lifecycle: Lifecycle
    protected: bool
    launch_time: float
    #: ``DescribeInstances``' ``InstanceLifecycle == "spot"``.
    spot: bool = False


@dataclass(frozen=True)
class WorkerBeat:
    """A worker's status record as last written, and how old it is."""

    instance_id: str
    state: WorkerState
    idle_since: float | None
    age_seconds: float
    #: The recent image-job durations the record keeps (``RECENT_JOBS_KEPT``).
    recent_job_seconds: tuple[float, ...] = ()

    @property
    def seconds_per_job(self) -> float | None:
        """The pace the record reports, derived as the deployed heartbeat's is."""
        return job_pace(self.recent_job_seconds)


@dataclass(frozen=True)
class CloudObservation:
    now: float
    desired_capacity: int
    queues: Mapping[Lane, QueueCounts]
    instances: tuple[AsgInstance, ...]
    heartbeats: tuple[WorkerBeat, ...]

    @property
    def visible(self) -> int:
        return sum(q.visible for q in self.queues.values())

    @property
    def in_flight(self) -> int:
        return sum(q.in_flight for q in self.queues.values())

    @property
    def in_service(self) -> int:
        return sum(1 for i in self.instances if i.lifecycle is Lifecycle.IN_SERVICE)

    @property
    def active(self) -> tuple[AsgInstance, ...]:
        """Instances that count toward the desired capacity (not leaving)."""
        return tuple(i for i in self.instances if i.lifecycle not in LEAVING)


@dataclass(frozen=True)
class SetDesiredCapacity:
    capacity: int


@dataclass(frozen=True)
class TerminateInstance:
    """``TerminateInstanceInAutoScalingGroup`` (through the drain hook when there is one)."""

    instance_id: str
    decrement_desired: bool = True


@dataclass(frozen=True)
class SetProtection:
    instance_id: str
    protected: bool


Action = SetDesiredCapacity | TerminateInstance | SetProtection


@dataclass(frozen=True)
class AsgSetup:
    """How a policy's Auto Scaling group is configured (part of the policy, not the world)."""

    #: ``protect_from_scale_in`` on launch (ours: the ASG then never picks a worker itself).
    new_instances_protected: bool = False
    #: Workers protect themselves while busy (AWS's SQS recipe), unprotect when idle.
    workers_protect_while_busy: bool = False
    #: A termination lifecycle hook lets a worker drain (finish its job) before it goes;
    #: without one a terminated worker is killed, job and all.
    drain_hook: bool = False
    #: Instances already running at the start (a static fleet).
    prewarmed: int = 0
