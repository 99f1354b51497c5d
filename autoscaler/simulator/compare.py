"""Runs every policy on one trace, sweeps each baseline's knobs into a cost-versus-wait
frontier, and checks ours against the goals:

* our interactive p95 wait within ``target_wait_seconds``, and no busy worker killed;
* our GPU-hours and dollars at or below every baseline's frontier at our interactive p95
  (the cheapest swept setting of that baseline whose interactive p95 is no worse);
* on steady and diurnal load, our GPU-hours within 1.3x of the proven busy-time bound.

Where our interactive p95 misses the target, ``ours-all-out`` (ours launching
``max_capacity`` at every scale-out) says why: when even it misses, the wait is the boot
after quiet, beyond any scale-out's reach; when it meets it, the miss is the sizing, and the
row says what meeting it that way spends. ``ours-warm-start`` (ours with the opening load's
fleet already in service) tells a miss that is the trace's start onto an empty fleet (a
burst after quiet) from one in the steady state, for the wait and for the bound alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from autoscaler.policy import PolicyConfig, knob_default
from autoscaler.simulator import oracle
from autoscaler.simulator.engine import Fleet, FleetEnvironment, RunResult, Scaler, aws_world
from autoscaler.simulator.metrics import (
    PolicyStats,
    busy_hours_bound,
    summarize,
    summarize_oracle,
)
from autoscaler.simulator.scalers import (
    AllOutScaler,
    KedaScaler,
    OursScaler,
    SampleScaler,
    StaticScaler,
    TargetTrackingScaler,
    WarmStartScaler,
)
from autoscaler.simulator.traces import Trace
from sdfleet.settings import WorkerSettings

#: The reference row: ours launching ``max_capacity`` whenever it launches.
ALL_OUT: Final = AllOutScaler.name
#: The reference row: ours starting with the opening load's fleet in service.
WARM_START: Final = WarmStartScaler.name
#: Baselines ours must match on p95 wait and undercut on GPU-hours (the main table).
DYNAMIC_BASELINES: Final = ("aws-target-tracking", "keda-hpa", "sample-scaler")
#: Our GPU-hours may be at most this multiple of the busy-time bound on these traces.
BOUND_RATIO_GOAL: Final = 1.3
BOUND_GOAL_TRACES: Final = ("steady", "diurnal")
#: Each baseline family's knob and the values swept for its frontier.
SWEEPS: Final = {
    "aws-target-tracking": ("backlog per instance", (2.0, 5.0, 10.0, 20.0)),
    "aws-target-tracking-naive": ("backlog per instance", (2.0, 5.0, 10.0, 20.0)),
    "keda-hpa": ("queueLength", (1.0, 2.0, 5.0, 10.0)),
    "sample-scaler": ("messages per instance", (1.0, 2.0, 4.0, 8.0)),
}
#: Terraform root defaults that are not scaler settings (checked against variables.tf).
TERRAFORM_ON_DEMAND_BASE_CAPACITY: Final = 0
TERRAFORM_ON_DEMAND_PERCENTAGE_ABOVE_BASE: Final = 0


def deployed_environment() -> FleetEnvironment:
    """The world as Terraform deploys it when a tfvars sets nothing, as slow as AWS.

    Boot + model load is the scaler's ``boot_seconds``; the instance mix, visibility
    timeout, heartbeat and receive count are the Terraform root's defaults (a test compares
    them with ``terraform/variables.tf``).
    """
    worker = WorkerSettings.model_fields
    world = aws_world(FleetEnvironment())
    return replace(
        world.with_warmup(float(knob_default("boot_seconds"))),
        on_demand_base_capacity=TERRAFORM_ON_DEMAND_BASE_CAPACITY,
        spot_percentage=100 - TERRAFORM_ON_DEMAND_PERCENTAGE_ABOVE_BASE,
        visibility_timeout_seconds=float(worker["visibility_timeout_seconds"].default),
        heartbeat_seconds=float(worker["heartbeat_seconds"].default),
        max_receives=int(worker["max_receive_count"].default),
    )


@dataclass(frozen=True)
class Scenario:
    """The policy knobs and the world. The defaults are what an empty tfvars deploys: the
    knobs are :class:`ScalerSettings`' defaults (through :class:`PolicyConfig`)."""

    config: PolicyConfig = field(default_factory=PolicyConfig)
    samples_per_invocation: int = knob_default("samples_per_invocation")
    environment: FleetEnvironment = field(default_factory=deployed_environment)


@dataclass(frozen=True)
class FrontierPoint:
    value: float
    interactive_p95_wait: float
    gpu_hours: float
    dollars: float
    busy_killed: int


@dataclass(frozen=True)
class Frontier:
    """One baseline family's sweep: cost against interactive p95 wait."""

    family: str
    knob: str
    points: tuple[FrontierPoint, ...]

    def at(self, p95: float) -> FrontierPoint | None:
        """The cheapest swept point whose interactive p95 is at most ``p95`` (None: none)."""
        reaching = [p for p in self.points if p.interactive_p95_wait <= p95 + 1e-9]
        return min(reaching, key=lambda p: (p.gpu_hours, p.dollars), default=None)

    def pareto(self) -> tuple[FrontierPoint, ...]:
        ordered = sorted(self.points, key=lambda p: (p.interactive_p95_wait, p.gpu_hours))
        best: list[FrontierPoint] = []
        for point in ordered:
            if not best or point.gpu_hours < best[-1].gpu_hours:
                best.append(point)
        return tuple(best)


@dataclass
class Comparison:
    trace: Trace
    stats: list[PolicyStats]
    runs: dict[str, RunResult]
    target_wait_seconds: float
    frontiers: list[Frontier] = field(default_factory=list)

    def by_policy(self, name: str) -> PolicyStats:
        return next(s for s in self.stats if s.policy == name)

    def row(self, name: str) -> PolicyStats | None:
        """Policy ``name``'s stats, or None where it did not run (a reference row)."""
        return next((s for s in self.stats if s.policy == name), None)

    @property
    def ours(self) -> PolicyStats:
        return self.by_policy("ours")

    @property
    def all_out(self) -> PolicyStats | None:
        return self.row(ALL_OUT)

    @property
    def beyond_reach(self) -> bool:
        """Our interactive p95 misses the target and so does ours launching all out: the
        wait is the boot after quiet, which no scale-out removes."""
        target = self.target_wait_seconds + 1e-9
        all_out = self.all_out
        return (
            self.ours.interactive_p95_wait > target
            and all_out is not None
            and all_out.interactive_p95_wait > target
        )

    @property
    def sizing_miss(self) -> bool:
        """Our interactive p95 misses the target and ours launching all out meets it: a
        bigger scale-out would have met it (at the all-out row's cost)."""
        target = self.target_wait_seconds + 1e-9
        all_out = self.all_out
        return (
            self.ours.interactive_p95_wait > target
            and all_out is not None
            and all_out.interactive_p95_wait <= target
        )

    @property
    def all_out_gpu_ratio(self) -> float | None:
        """All out's GPU-hours over ours: what launching everything would have cost."""
        all_out = self.all_out
        if all_out is None or not self.ours.gpu_hours:
            return None
        return all_out.gpu_hours / self.ours.gpu_hours

    @property
    def warm_start(self) -> PolicyStats | None:
        return self.row(WARM_START)

    @property
    def warm_start_bound_ratio(self) -> float | None:
        warm = self.warm_start
        bound = self.bound_gpu_hours
        return None if warm is None or not bound else warm.gpu_hours / bound

    def _start_clause(self, value: str, met: bool) -> str:
        return f"from a warm start: {value}" + (
            ", so the miss is the start onto an empty fleet" if met else ""
        )

    @property
    def bound_gpu_hours(self) -> float:
        return busy_hours_bound(self.trace)

    @property
    def bound_ratio(self) -> float:
        bound = self.bound_gpu_hours
        return self.ours.gpu_hours / bound if bound else float("inf")

    def frontier_misses(self) -> list[str]:
        ours = self.ours
        found = []
        for frontier in self.frontiers:
            point = frontier.at(ours.interactive_p95_wait)
            if point is None:
                continue
            if point.gpu_hours < ours.gpu_hours - 1e-9 or point.dollars < ours.dollars - 1e-9:
                found.append(
                    f"{frontier.family} ({frontier.knob} {point.value:g}) reaches interactive "
                    f"p95 {point.interactive_p95_wait:.0f}s at {point.gpu_hours:.2f} GPU-h / "
                    f"${point.dollars:.2f} < ours {ours.gpu_hours:.2f} / ${ours.dollars:.2f}"
                )
        return found

    def misses(self) -> list[str]:
        """Every part of the goal this trace misses, in words (empty: goal met)."""
        ours = self.ours
        found = []
        if ours.interactive_p95_wait > self.target_wait_seconds + 1e-9:
            clauses = []
            if self.beyond_reach and self.all_out is not None:
                clauses.append(
                    f"beyond scale-out's reach: all out waits "
                    f"{self.all_out.interactive_p95_wait:.0f}s: the wait is the boot, "
                    "not the sizing"
                )
            elif self.sizing_miss and self.all_out is not None:
                spent = self.all_out_gpu_ratio
                clauses.append(
                    f"a sizing miss: all out waits {self.all_out.interactive_p95_wait:.0f}s"
                    + ("" if spent is None else f" for {spent:.2f}x our GPU-hours")
                )
            warm = self.warm_start
            if warm is not None:
                met = warm.interactive_p95_wait <= self.target_wait_seconds + 1e-9
                clauses.append(self._start_clause(f"{warm.interactive_p95_wait:.0f}s", met))
            why = f" ({'; '.join(clauses)})" if clauses else ""
            found.append(
                f"interactive p95 {ours.interactive_p95_wait:.0f}s > target "
                f"{self.target_wait_seconds:g}s{why}"
            )
        if ours.busy_killed:
            found.append(f"{ours.busy_killed} busy workers killed")
        found += self.frontier_misses()
        if self.trace.name in BOUND_GOAL_TRACES and self.bound_ratio > BOUND_RATIO_GOAL:
            why = ""
            warm_ratio = self.warm_start_bound_ratio
            if warm_ratio is not None:
                met = warm_ratio <= BOUND_RATIO_GOAL
                why = f"; {self._start_clause(f'{warm_ratio:.2f}x', met)}"
            found.append(
                f"GPU-h {self.bound_ratio:.2f}x the busy-time bound "
                f"(goal <= {BOUND_RATIO_GOAL}x{why})"
            )
        return found


def policies(trace: Trace, scenario: Scenario) -> list[Scaler]:
    config = scenario.config
    env = scenario.environment
    samples = scenario.samples_per_invocation
    warm_start = WarmStartScaler.for_trace(trace, config, samples, env.sampling_window_seconds)
    return [
        OursScaler(config, samples, env.sampling_window_seconds),
        AllOutScaler(config, samples, env.sampling_window_seconds),
        # A trace that opens quiet starts warm already: the row would be ours again.
        *([warm_start] if warm_start.size > 0 else []),
        StaticScaler.for_peak(trace, config),
        TargetTrackingScaler(config, env.warmup_seconds),
        KedaScaler(config),
        SampleScaler(config),
    ]


def sweep(family: str, value: float, scenario: Scenario) -> Scaler:
    config = scenario.config
    warmup = scenario.environment.warmup_seconds
    if family == "aws-target-tracking":
        return TargetTrackingScaler(config, warmup, target=value)
    if family == "aws-target-tracking-naive":
        return TargetTrackingScaler(config, warmup, target=value, gradual=False, name=family)
    if family == "keda-hpa":
        return KedaScaler(config, queue_length=value)
    if family == "sample-scaler":
        return SampleScaler(config, per_instance=int(value))
    raise ValueError(f"family: unknown baseline {family!r}")


def run_one(trace: Trace, scenario: Scenario, scaler: Scaler, seed: int) -> RunResult:
    return Fleet(trace, scenario.environment, seed).run(scaler)


def compare(
    trace: Trace,
    scenario: Scenario,
    seed: int = 1,
    *,
    frontiers: bool = True,
    with_oracle: bool = True,
    sweeps: dict[str, tuple[str, tuple[float, ...]]] | None = None,
) -> Comparison:
    stats: list[PolicyStats] = []
    runs: dict[str, RunResult] = {}
    for scaler in policies(trace, scenario):
        result = run_one(trace, scenario, scaler, seed)
        runs[scaler.name] = result
        stats.append(summarize(result))
    env = scenario.environment
    if with_oracle:
        stats.append(summarize_oracle(oracle.plan(trace, env, 0.0), trace.name, env))
    comparison = Comparison(trace, stats, runs, scenario.config.target_wait_seconds)
    if frontiers:
        comparison.frontiers = [frontier(trace, scenario, family, seed) for family in SWEEPS]
    return comparison


def frontier(
    trace: Trace,
    scenario: Scenario,
    family: str,
    seed: int,
    values: tuple[float, ...] | None = None,
) -> Frontier:
    knob, default_values = SWEEPS[family]
    values = values or default_values
    points = []
    for value in values:
        stats = summarize(run_one(trace, scenario, sweep(family, value, scenario), seed))
        points.append(
            FrontierPoint(
                value,
                stats.interactive_p95_wait,
                stats.gpu_hours,
                stats.dollars,
                stats.busy_killed,
            )
        )
    return Frontier(family, knob, tuple(points))
