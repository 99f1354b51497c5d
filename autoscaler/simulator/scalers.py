"""The policies the simulator compares: ours and the online baselines, each at its best.

Every scaler sees only :class:`~autoscaler.simulator.cloud.CloudObservation` values and acts
only through :data:`~autoscaler.simulator.cloud.Action` values: none of them can reach the
world (arrivals, job times, spot schedules). Every baseline is given the same SLO as ours by
default: its per-instance backlog target is ``target_wait_seconds / default_seconds_per_job``
(AWS's documented "acceptable backlog per instance" recipe), and the same ``max_capacity``;
the benchmark sweeps each baseline's own knobs around that. Two rows are sized by the harness
from the trace before the run, as references rather than online policies: static-peak (the
trace's peak rate) and ours' warm start (its opening load); at run time they, too, hold
nothing but a size.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from autoscaler.observe import view_of
from autoscaler.policy import Memory, Observation, PolicyConfig, decide
from autoscaler.simulator.cloud import (
    Action,
    AsgSetup,
    CloudObservation,
    SetDesiredCapacity,
    SetProtection,
    TerminateInstance,
)
from autoscaler.simulator.traces import LANES, Trace
from sdfleet.heartbeats import STALE_AFTER_SECONDS

#: The Lambda runs every minute; it samples this many times within it.
LAMBDA_PERIOD_SECONDS: Final = 60.0
#: Static fleet: utilization the peak 5-minute rate is sized for.
STATIC_PEAK_UTILIZATION: Final = 0.8
#: The warm start is sized for the trace's busy GPUs over its first this-many seconds.
WARM_START_WINDOW_SECONDS: Final = 600.0
#: Our ASG as deployed: instances launch protected, a drain hook lets workers finish.
DEPLOYED_ASG: Final = AsgSetup(new_instances_protected=True, drain_hook=True)


def backlog_target(config: PolicyConfig) -> float:
    return max(1.0, config.target_wait_seconds / config.default_seconds_per_job)


def policy_observation(observation: CloudObservation) -> Observation:
    """What :class:`autoscaler.observe.FleetObserver` builds from the same AWS answers."""
    beats = {
        b.instance_id: b for b in observation.heartbeats if b.age_seconds <= STALE_AFTER_SECONDS
    }
    views = []
    for instance in observation.instances:
        beat = beats.get(instance.instance_id)
        views.append(
            view_of(
                instance.instance_id,
                str(instance.lifecycle),
                instance.protected,
                None if beat is None else beat.state,
                None if beat is None else beat.idle_since,
                None if beat is None else beat.seconds_per_job,
                instance.spot,
                () if beat is None else beat.recent_job_seconds,
            )
        )
    return Observation(
        now=observation.now,
        visible=observation.visible,
        in_flight=observation.in_flight,
        desired_capacity=observation.desired_capacity,
        instances=tuple(views),
        visible_by_lane={lane: observation.queues[lane].visible for lane in LANES},
        in_flight_by_lane={lane: observation.queues[lane].in_flight for lane in LANES},
    )


class OursScaler:
    """:func:`autoscaler.policy.decide` at the Lambda's sample times, acting as the
    actuator does (lift protection, terminate with decrement; only ever raise desired)."""

    name = "ours"
    asg = DEPLOYED_ASG

    def __init__(
        self,
        config: PolicyConfig,
        samples_per_invocation: int = 4,
        sampling_window_seconds: float = LAMBDA_PERIOD_SECONDS,
        name: str | None = None,
    ) -> None:
        self.config = config
        if name is not None:
            self.name = name
        self.period = LAMBDA_PERIOD_SECONDS
        spacing = sampling_window_seconds / samples_per_invocation
        self.offsets = tuple(n * spacing for n in range(samples_per_invocation))
        self.memory = Memory()

    def start(self) -> Sequence[Action]:
        return [SetDesiredCapacity(self.config.min_capacity)]

    def tick(self, observation: CloudObservation) -> Sequence[Action]:
        decision = decide(policy_observation(observation), self.memory, self.config)
        self.memory = decision.memory
        actions: list[Action] = []
        desired = observation.desired_capacity
        protected = {i.instance_id: i.protected for i in observation.instances}
        for instance_id in decision.terminate:
            if instance_id not in protected or desired - 1 < 0:
                continue
            if protected[instance_id]:
                actions.append(SetProtection(instance_id, False))
            actions.append(TerminateInstance(instance_id, decrement_desired=True))
            desired -= 1
        target = min(decision.desired_capacity, self.config.max_capacity)
        if target > desired:
            actions.append(SetDesiredCapacity(target))
        return actions


class AllOutScaler(OursScaler):
    """Ours with sizing taken out of the question: whenever our policy would launch, it
    launches ``max_capacity`` instead (same samples, same detection, same scale-in).

    A reference, not a contender: its interactive p95 is what launching everything buys in
    this world (not a strict bound: a bigger fleet also draws more spot notices). Where even
    it misses ``target_wait_seconds``, the wait is the boot (and model load) after quiet,
    which no amount of scale-out removes; only capacity held through the quiet (a static
    fleet, a warm pool) gets under it.
    """

    name = "ours-all-out"

    def tick(self, observation: CloudObservation) -> Sequence[Action]:
        actions = super().tick(observation)
        if not any(isinstance(action, SetDesiredCapacity) for action in actions):
            return actions
        kept = [action for action in actions if not isinstance(action, SetDesiredCapacity)]
        return [*kept, SetDesiredCapacity(self.config.max_capacity)]


class WarmStartScaler(OursScaler):
    """Ours from a warm start: the run begins with the fleet its opening load needs already in
    service (the trace's busy GPUs over its first ``WARM_START_WINDOW_SECONDS``, rounded up)
    instead of an empty one; the same policy from there on.

    A reference, not a contender: every trace begins at an empty fleet, so a trace whose load
    starts at once (steady, spot-storm, training-mix) begins with a burst after quiet, a boot
    of waiting and the scale-out that drains it. Where ours misses and this row meets the
    goal, the miss is that start, not the steady state.

    The policy's memory starts as though that load had been running (work just seen, the load
    and the scale-in window's peak at the fleet's size): with an empty memory, a fleet that
    sees no job in its first samples reads as quiet and is scaled in before the first arrival.
    """

    name = "ours-warm-start"

    def __init__(
        self,
        config: PolicyConfig,
        size: int,
        samples_per_invocation: int = 4,
        sampling_window_seconds: float = LAMBDA_PERIOD_SECONDS,
    ) -> None:
        super().__init__(config, samples_per_invocation, sampling_window_seconds)
        self.size = size
        self.asg = replace(DEPLOYED_ASG, prewarmed=size)
        if size:
            self.memory = Memory(
                last_work_at=0.0, last_seen=0.0, peaks=((0.0, size),), load=float(size)
            )

    @classmethod
    def for_trace(
        cls,
        trace: Trace,
        config: PolicyConfig,
        samples_per_invocation: int = 4,
        sampling_window_seconds: float = LAMBDA_PERIOD_SECONDS,
    ) -> WarmStartScaler:
        return cls(
            config,
            opening_fleet(trace, config),
            samples_per_invocation,
            sampling_window_seconds,
        )

    def start(self) -> Sequence[Action]:
        return [SetDesiredCapacity(max(self.config.min_capacity, self.size))]


def opening_fleet(trace: Trace, config: PolicyConfig) -> int:
    """Workers for the trace's opening load: its busy GPUs over the first
    ``WARM_START_WINDOW_SECONDS`` (each job's GPU time within the window), rounded up,
    within ``min_capacity`` and ``max_capacity``."""
    window = WARM_START_WINDOW_SECONDS
    busy = sum(min(job.service, window - job.arrival) for job in trace.jobs if job.arrival < window)
    size = math.ceil(busy / window - 1e-9)
    return max(config.min_capacity, min(config.max_capacity, size))


class StaticScaler:
    """A fixed fleet, already running at the start, sized for the trace's peak."""

    period = 3600.0
    offsets: tuple[float, ...] = (0.0,)

    def __init__(self, size: int, name: str = "static-peak") -> None:
        self.size = size
        self.name = name
        self.asg = AsgSetup(prewarmed=size)

    @classmethod
    def for_peak(cls, trace: Trace, config: PolicyConfig) -> StaticScaler:
        load = trace.peak_rate() * trace.mean_service
        size = math.ceil(load / STATIC_PEAK_UTILIZATION) if load > 0 else 1
        return cls(max(1, min(config.max_capacity, size)))

    def start(self) -> Sequence[Action]:
        return []

    def tick(self, observation: CloudObservation) -> Sequence[Action]:
        return []


@dataclass
class TargetTrackingScaler:
    """EC2 Auto Scaling target tracking on SQS backlog per instance, as AWS recommends.

    Metric (published every minute from ``GetQueueAttributes``): visible messages /
    InService instances. Scale out when 3 of 3 datapoints are above ``target``, to
    ceil(warmed-up instances x metric / target); scale in when 15 of 15 are below 90% of
    target. Target tracking cannot leave zero (no InService instance, no metric), so a step
    policy on "visible > 0" sets 0 -> 1.

    * **recommended** (``gradual=True``): AWS's SQS recipe: workers protect themselves from
      scale-in while busy, the drain hook lets a terminated worker finish, and scale-in is
      gradual: at most 10% of the fleet (at least one) per minute while the scale-in alarm
      (15 of 15 datapoints below 90% of target) holds.
    * **naive** (``gradual=False``): scale-in straight to ceil(visible / target); no
      protection, no hook: the ASG removes its newest instances, busy or not.
    """

    config: PolicyConfig
    warmup_seconds: float
    target: float | None = None
    gradual: bool = True
    name: str = "aws-target-tracking"
    period: float = 60.0
    offsets: tuple[float, ...] = (0.0,)
    scale_in_cooldown_seconds: float = 60.0
    datapoints: deque[float | None] = field(default_factory=lambda: deque(maxlen=15))
    last_scale_in: float = -1e9

    @property
    def asg(self) -> AsgSetup:
        if self.gradual:
            return AsgSetup(workers_protect_while_busy=True, drain_hook=True)
        return AsgSetup()

    def start(self) -> Sequence[Action]:
        return [SetDesiredCapacity(self.config.min_capacity)]

    def tick(self, observation: CloudObservation) -> Sequence[Action]:
        target = self.target or backlog_target(self.config)
        now = observation.now
        warmed = sum(1 for i in observation.active if now - i.launch_time >= self.warmup_seconds)
        in_service = observation.in_service
        visible = observation.visible
        desired = observation.desired_capacity
        metric = visible / in_service if in_service else None
        self.datapoints.append(metric)
        if desired == 0:
            if visible > 0:
                return [SetDesiredCapacity(min(1, self.config.max_capacity))]
            return []
        recent = list(self.datapoints)
        if (
            metric is not None
            and len(recent) >= 3
            and all(m is not None and m > target for m in recent[-3:])
        ):
            # Capacity still warming up is not counted, so it is not added twice.
            wanted = min(self.config.max_capacity, math.ceil(warmed * metric / target))
            if wanted > desired:
                return [SetDesiredCapacity(wanted)]
        if len(recent) == 15 and all(m is not None and m < 0.9 * target for m in recent):
            wanted = max(self.config.min_capacity, math.ceil(visible / target))
            if self.gradual:
                if now - self.last_scale_in < self.scale_in_cooldown_seconds:
                    return []
                wanted = max(wanted, desired - max(1, math.floor(desired * 0.1)))
            if wanted < desired:
                self.last_scale_in = now
                if not self.gradual:
                    self.datapoints.clear()
                return [SetDesiredCapacity(wanted)]
        return []


@dataclass
class KedaScaler:
    """KEDA's aws-sqs-queue scaler driving an HPA, one GPU node per pod.

    KEDA polls SQS every 30 s (metric = visible + in flight, ``scaleOnInFlight``), activates
    0 -> 1 when the metric exceeds ``activationQueueLength`` (0), and returns to 0 after
    ``cooldownPeriod`` (300 s) without activity. The HPA (15 s sync) wants
    ceil(metric / queueLength) replicas (KEDA's default queueLength is 5), ignores changes
    within 10% tolerance, scales up by at most max(4, 100%) per period and down to the
    highest recommendation of the last 300 s (stabilization window). A new pod needs a new
    node: the cluster autoscaler adds it after its 10 s scan (then the node boots). A
    removed pod gets SIGTERM and its 30 s grace period (the drain); its node goes with it
    (the cluster autoscaler's 10-minute wait for an empty node is not modelled, which
    favours KEDA).
    """

    config: PolicyConfig
    queue_length: float = 5.0
    name: str = "keda-hpa"
    period: float = 15.0
    offsets: tuple[float, ...] = (0.0,)
    polling_seconds: float = 30.0
    cooldown_seconds: float = 300.0
    stabilization_seconds: float = 300.0
    provisioning_scan_seconds: float = 10.0
    tolerance: float = 0.1
    asg: AsgSetup = field(default_factory=lambda: AsgSetup(drain_hook=True))
    metric: int = 0
    polled_at: float = -1e9
    last_active: float = -1e9
    replicas: int = 0
    pending_nodes: list[tuple[float, int]] = field(default_factory=list)
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def start(self) -> Sequence[Action]:
        self.replicas = self.config.min_capacity
        return [SetDesiredCapacity(self.config.min_capacity)]

    def tick(self, observation: CloudObservation) -> Sequence[Action]:
        now = observation.now
        actions = self._provision(observation)
        if now - self.polled_at >= self.polling_seconds:
            self.metric = observation.visible + observation.in_flight
            self.polled_at = now
            if self.metric > 0:
                self.last_active = now
        wanted = self._wanted(now)
        if wanted is None or wanted == self.replicas:
            return actions
        if wanted > self.replicas:
            # Pending pods: the cluster autoscaler adds nodes after its next scan.
            self.pending_nodes.append((now + self.provisioning_scan_seconds, wanted))
            self.replicas = wanted
            return actions
        # Pods removed (newest first), each drains in its grace period, its node goes too.
        newest = sorted(observation.active, key=lambda i: i.launch_time, reverse=True)
        for instance in newest[: self.replicas - wanted]:
            actions.append(TerminateInstance(instance.instance_id, decrement_desired=True))
        self.replicas = wanted
        self.pending_nodes = [(t, min(n, wanted)) for t, n in self.pending_nodes]
        return actions

    def _provision(self, observation: CloudObservation) -> list[Action]:
        due = [n for t, n in self.pending_nodes if t <= observation.now]
        self.pending_nodes = [(t, n) for t, n in self.pending_nodes if t > observation.now]
        if due and max(due) > observation.desired_capacity:
            return [SetDesiredCapacity(max(due))]
        return []

    def _wanted(self, now: float) -> int | None:
        replicas = self.replicas
        if replicas == 0:
            return min(1, self.config.max_capacity) if self.metric > 0 else None
        if self.metric == 0 and now - self.last_active >= self.cooldown_seconds:
            self.history.clear()
            return self.config.min_capacity
        ratio = self.metric / (replicas * self.queue_length)
        wanted = replicas if abs(ratio - 1) <= self.tolerance else math.ceil(replicas * ratio)
        wanted = max(1, self.config.min_capacity, wanted)
        self.history.append((now, wanted))
        while self.history and self.history[0][0] < now - self.stabilization_seconds:
            self.history.popleft()
        if wanted > replicas:
            return min(wanted, replicas + max(4, replicas), self.config.max_capacity)
        return min(max(w for _, w in self.history), self.config.max_capacity)


@dataclass
class SampleScaler:
    """The published sample's scaler: every 10 s, ceil((visible + in flight) / 4) instances
    wanted; +1 at a time with a 600 s cooldown; -1 after 25 minutes below; from zero,
    straight to one. (As published it also caps the fleet at 2 instances; here it gets the
    same ``max_capacity`` as every policy.)
    """

    config: PolicyConfig
    per_instance: int = 4
    name: str = "sample-scaler"
    period: float = 10.0
    offsets: tuple[float, ...] = (0.0,)
    cooldown_seconds: float = 600.0
    scale_in_after_seconds: float = 1500.0
    asg: AsgSetup = field(default_factory=AsgSetup)
    last_action: float = -1e9
    below_since: float | None = None

    def start(self) -> Sequence[Action]:
        return [SetDesiredCapacity(self.config.min_capacity)]

    def tick(self, observation: CloudObservation) -> Sequence[Action]:
        now = observation.now
        wanted = math.ceil((observation.visible + observation.in_flight) / self.per_instance)
        current = observation.desired_capacity
        if current == 0 and observation.visible > 0 and self.config.max_capacity > 0:
            self.last_action = now
            return [SetDesiredCapacity(1)]
        if wanted < current:
            self.below_since = now if self.below_since is None else self.below_since
        else:
            self.below_since = None
        if now - self.last_action < self.cooldown_seconds:
            return []
        if wanted > current and current < self.config.max_capacity:
            self.last_action = now
            return [SetDesiredCapacity(current + 1)]
        if (
            self.below_since is not None
            and now - self.below_since >= self.scale_in_after_seconds
            and current > self.config.min_capacity
        ):
            self.last_action = now
            self.below_since = now
            return [SetDesiredCapacity(current - 1)]
        return []
