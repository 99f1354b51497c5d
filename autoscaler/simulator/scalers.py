"""The policies the simulator compares: ours and the online baselines.

Every baseline is given the same SLO as ours: its per-instance backlog target is
``target_wait_seconds / default_seconds_per_job`` (AWS's documented "acceptable backlog
per instance" recipe), and the same ``max_capacity``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from autoscaler.policy import (
    InstanceState,
    InstanceView,
    Memory,
    Observation,
    PolicyConfig,
    decide,
)
from autoscaler.simulator.engine import Fleet, SimState
from autoscaler.simulator.traces import BATCH, INTERACTIVE, Trace

#: The Lambda runs every minute; it samples this many times within it.
LAMBDA_PERIOD_SECONDS: Final = 60.0
#: Static fleet: utilization the peak 5-minute rate is sized for.
STATIC_PEAK_UTILIZATION: Final = 0.8


def backlog_target(config: PolicyConfig) -> float:
    return max(1.0, config.target_wait_seconds / config.default_seconds_per_job)


class OursScaler:
    """:func:`autoscaler.policy.decide`, fed what the Lambda would observe."""

    name = "ours"

    def __init__(self, config: PolicyConfig, samples_per_invocation: int = 4) -> None:
        self.config = config
        self.period = LAMBDA_PERIOD_SECONDS / samples_per_invocation
        self.memory = Memory()

    def start(self, fleet: Fleet) -> None:
        fleet.set_desired(self.config.min_capacity)

    def observe(self, fleet: Fleet) -> Observation:
        views = []
        for instance in fleet.live:
            if instance.state == SimState.DRAINING:
                state = InstanceState.LEAVING
            elif instance.state == SimState.BUSY:
                state = InstanceState.BUSY
            elif instance.state == SimState.IDLE:
                state = InstanceState.IDLE
            else:
                state = InstanceState.PENDING
            views.append(
                InstanceView(
                    instance.instance_id,
                    state,
                    idle_since=instance.idle_since,
                    seconds_per_job=instance.seconds_per_job,
                )
            )
        return Observation(
            now=fleet.now,
            visible=fleet.visible,
            in_flight=fleet.in_flight,
            desired_capacity=fleet.desired,
            instances=tuple(views),
            visible_by_lane={lane: fleet.visible_in(lane) for lane in (INTERACTIVE, BATCH)},
        )

    def tick(self, fleet: Fleet) -> None:
        decision = decide(self.observe(fleet), self.memory, self.config)
        self.memory = decision.memory
        for instance_id in decision.terminate:
            fleet.terminate(instance_id)
        if decision.desired_capacity != fleet.desired:
            fleet.set_desired(decision.desired_capacity)


class StaticScaler:
    """A fixed fleet, already running at the start, sized for the trace's peak."""

    period = 3600.0

    def __init__(self, size: int, name: str = "static-peak") -> None:
        self.size = size
        self.name = name

    @classmethod
    def for_peak(cls, trace: Trace, config: PolicyConfig) -> StaticScaler:
        load = trace.peak_rate() * trace.mean_service
        size = math.ceil(load / STATIC_PEAK_UTILIZATION) if load > 0 else 1
        return cls(max(1, min(config.max_capacity, size)))

    def start(self, fleet: Fleet) -> None:
        fleet.prewarm(self.size)

    def tick(self, fleet: Fleet) -> None:
        return None


@dataclass
class TargetTrackingScaler:
    """EC2 Auto Scaling target tracking on SQS backlog per instance.

    Metric (1-minute datapoints): visible messages / InService instances. Scale out when 3
    of 3 datapoints are above target, to ceil(visible / target); scale in when 15 of 15 are
    below 90% of target. New instances count toward the metric only after the warm-up.
    Target tracking cannot leave zero (no InService instance, no metric), so a step
    scaling policy on "visible > 0" (1 of 1 datapoints) sets 0 -> 1.
    """

    config: PolicyConfig
    warmup_seconds: float
    name: str = "aws-target-tracking"
    period: float = 60.0
    datapoints: deque[float | None] = field(default_factory=lambda: deque(maxlen=15))

    def start(self, fleet: Fleet) -> None:
        fleet.set_desired(self.config.min_capacity)

    def tick(self, fleet: Fleet) -> None:
        target = backlog_target(self.config)
        warmed = sum(
            1
            for i in fleet.live
            if i.state != SimState.DRAINING and fleet.now - i.launched >= self.warmup_seconds
        )
        in_service = fleet.in_service()
        visible = fleet.visible
        metric = visible / in_service if in_service else None
        self.datapoints.append(metric)
        if fleet.desired == 0:
            if visible > 0:
                fleet.set_desired(min(1, self.config.max_capacity))
            return
        recent = list(self.datapoints)
        if (
            metric is not None
            and len(recent) >= 3
            and all(m is not None and m > target for m in recent[-3:])
        ):
            # Capacity still warming up is not counted, so it is not added twice.
            wanted = min(self.config.max_capacity, math.ceil(warmed * metric / target))
            if wanted > fleet.desired:
                fleet.set_desired(wanted)
                return
        if len(recent) == 15 and all(m is not None and m < 0.9 * target for m in recent):
            wanted = max(self.config.min_capacity, math.ceil(visible / target))
            if wanted < fleet.desired:
                fleet.set_desired(wanted)
                self.datapoints.clear()


@dataclass
class KedaScaler:
    """KEDA's aws-sqs-queue scaler driving an HPA.

    KEDA polls SQS every 30 s (metric = visible + in flight, ``scaleOnInFlight``), activates
    0 -> 1 when the metric exceeds ``activationQueueLength`` (0), and returns to 0 after
    ``cooldownPeriod`` (300 s) without activity. The HPA (15 s sync) wants
    ceil(metric / queueLength) replicas, ignores changes within 10% tolerance, scales up by
    at most max(4, 100%) per period and down to the highest recommendation of the last
    300 s (stabilization window). A removed pod's instance goes with it.
    """

    config: PolicyConfig
    name: str = "keda-hpa"
    period: float = 15.0
    polling_seconds: float = 30.0
    cooldown_seconds: float = 300.0
    stabilization_seconds: float = 300.0
    tolerance: float = 0.1
    metric: int = 0
    polled_at: float = -1e9
    last_active: float = -1e9
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def start(self, fleet: Fleet) -> None:
        fleet.set_desired(self.config.min_capacity)

    def tick(self, fleet: Fleet) -> None:
        now = fleet.now
        if now - self.polled_at >= self.polling_seconds:
            self.metric = fleet.visible + fleet.in_flight
            self.polled_at = now
            if self.metric > 0:
                self.last_active = now
        replicas = fleet.desired
        if replicas == 0:
            if self.metric > 0:
                fleet.set_desired(min(1, self.config.max_capacity))
            return
        if self.metric == 0 and now - self.last_active >= self.cooldown_seconds:
            fleet.set_desired(self.config.min_capacity)
            self.history.clear()
            return
        ratio = self.metric / (replicas * backlog_target(self.config))
        wanted = replicas if abs(ratio - 1) <= self.tolerance else math.ceil(replicas * ratio)
        wanted = max(1, self.config.min_capacity, wanted)
        self.history.append((now, wanted))
        while self.history and self.history[0][0] < now - self.stabilization_seconds:
            self.history.popleft()
        if wanted > replicas:
            wanted = min(wanted, replicas + max(4, replicas), self.config.max_capacity)
        else:
            wanted = max(w for _, w in self.history)
        if wanted != replicas:
            fleet.set_desired(min(wanted, self.config.max_capacity))


@dataclass
class SampleScaler:
    """The published sample's scaler: every 10 s, ceil((visible + in flight) / 4) instances
    wanted; +1 at a time with a 600 s cooldown; -1 after 25 minutes below; from zero,
    straight to one.
    """

    config: PolicyConfig
    name: str = "sample-scaler"
    period: float = 10.0
    per_instance: int = 4
    cooldown_seconds: float = 600.0
    scale_in_after_seconds: float = 1500.0
    last_action: float = -1e9
    below_since: float | None = None

    def start(self, fleet: Fleet) -> None:
        fleet.set_desired(self.config.min_capacity)

    def tick(self, fleet: Fleet) -> None:
        now = fleet.now
        wanted = math.ceil((fleet.visible + fleet.in_flight) / self.per_instance)
        current = fleet.desired
        if current == 0 and fleet.visible > 0 and self.config.max_capacity > 0:
            fleet.set_desired(1)
            self.last_action = now
            return
        if wanted < current:
            self.below_since = now if self.below_since is None else self.below_since
        else:
            self.below_since = None
        if now - self.last_action < self.cooldown_seconds:
            return
        if wanted > current and current < self.config.max_capacity:
            fleet.set_desired(current + 1)
            self.last_action = now
        elif (
            self.below_since is not None
            and now - self.below_since >= self.scale_in_after_seconds
            and current > self.config.min_capacity
        ):
            fleet.set_desired(current - 1)
            self.last_action = now
            self.below_since = now
