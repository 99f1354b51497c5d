"""Broken boots: what instances whose worker never starts cost, with and without the boot
deadline (``boot_deadline_seconds``, autoscaler/boot_deadline.py).

A share of launches gets a worker that never starts (a failed user data step, an invalid
setting, a model that does not load): EC2 reports the instance healthy, the Auto Scaling group
counts it ``InService``, and it never writes a ready heartbeat. Nothing else in the world
changes: the same trace, the same AWS-like lags, our policy as deployed. With the deadline,
the scaler marks such an instance unhealthy ``boot_deadline_seconds`` after its launch and the
group replaces it; the termination hook then waits out its timeout, since no worker completes
it (billed, as in AWS).

``python -m autoscaler.simulator.broken_boot`` prints the table and writes
``benchmarks/results/broken_boot.json``.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from autoscaler.boot_deadline import READY_STATES, abandoned, overdue
from autoscaler.policy import knob_default
from autoscaler.simulator.cloud import (
    Action,
    AsgSetup,
    CloudObservation,
    Lifecycle,
    TerminateInstance,
)
from autoscaler.simulator.compare import Scenario
from autoscaler.simulator.engine import Fleet, FleetEnvironment, SimInstance, SimState
from autoscaler.simulator.metrics import PolicyStats, summarize
from autoscaler.simulator.scalers import OursScaler
from autoscaler.simulator.traces import Trace, load
from sdfleet.heartbeats import STALE_AFTER_SECONDS

#: Shares of launches whose worker never starts: a flaky step (1 in 5) and a bad build (all).
BROKEN_SHARES: Final = (0.2, 1.0)
TRACES: Final = ("steady", "diurnal")
SEEDS: Final = (1, 2, 3)
RESULT: Final = Path("benchmarks/results/broken_boot.json")


@dataclass(frozen=True)
class ReleaseHook:
    """``CompleteLifecycleAction(CONTINUE)`` for an instance held by the termination hook."""

    instance_id: str


class BrokenBootFleet(Fleet):
    """The simulated world in which ``broken_share`` of launches never yield a worker."""

    def __init__(
        self,
        trace: Trace,
        environment: FleetEnvironment,
        seed: int,
        broken_share: float,
        asg: AsgSetup | None = None,
    ) -> None:
        super().__init__(trace, environment, seed, asg)
        self.broken_share = broken_share
        self.broken: set[str] = set()
        # Its own generator: which launches break does not shift the world's other draws.
        self._broken_rng = random.Random(seed + 65_537)

    def _launch(self, start: tuple[float, float] | None = None) -> SimInstance:
        instance = super()._launch(start)
        if self._broken_rng.random() < self.broken_share:
            self.broken.add(instance.instance_id)
        return instance

    def _on_ready(self, instance: SimInstance) -> None:
        if instance.instance_id not in self.broken:
            super()._on_ready(instance)
            return
        # EC2's health check passes: the group puts it in service; no worker ever runs.
        if instance.state is SimState.PENDING and instance.lifecycle is Lifecycle.PENDING:
            instance.lifecycle = Lifecycle.IN_SERVICE

    def _on_hook_noticed(self, instance: SimInstance) -> None:
        if instance.instance_id in self.broken:
            return  # no worker completes the hook: it times out, billed until then
        super()._on_hook_noticed(instance)

    def apply(self, actions: Sequence[Action | ReleaseHook]) -> None:  # type: ignore[override]
        for action in actions:
            if isinstance(action, ReleaseHook):
                instance = self.instances.get(action.instance_id)
                if instance is not None and instance.lifecycle is Lifecycle.TERMINATING_WAIT:
                    instance.hook_pending = False
                    self._shut_down(instance)
            else:
                super().apply([action])


class WithBootDeadline:
    """A scaler plus the Lambda's boot deadline, the same rule (:func:`overdue`): an
    in-service instance with no fresh ready heartbeat ``deadline_seconds`` after launch is
    marked unhealthy, which the group answers as a termination without decrement."""

    def __init__(self, inner: OursScaler, deadline_seconds: float) -> None:
        self.inner = inner
        self.deadline_seconds = deadline_seconds
        self.name = f"{inner.name}+deadline"
        self.period = inner.period
        self.offsets = inner.offsets
        self.asg = inner.asg
        self.replaced: list[str] = []

    def start(self) -> Sequence[Action]:
        return self.inner.start()

    def tick(self, observation: CloudObservation) -> Sequence[Action | ReleaseHook]:
        actions: list[Action | ReleaseHook] = list(self.inner.tick(observation))
        ready = [
            b.instance_id
            for b in observation.heartbeats
            if b.state in READY_STATES and b.age_seconds <= STALE_AFTER_SECONDS
        ]
        in_service = [
            i.instance_id for i in observation.instances if i.lifecycle is Lifecycle.IN_SERVICE
        ]
        launched = {i.instance_id: i.launch_time for i in observation.instances}
        late = overdue(in_service, launched, ready, observation.now, self.deadline_seconds)
        late = [i for i in late if i not in self.replaced]
        self.replaced.extend(late)
        held = [
            i.instance_id
            for i in observation.instances
            if i.lifecycle is Lifecycle.TERMINATING_WAIT
        ]
        release = abandoned(held, launched, ready, observation.now, self.deadline_seconds)
        return [
            *actions,
            *(TerminateInstance(i, decrement_desired=False) for i in late),
            *(ReleaseHook(i) for i in release),
        ]


@dataclass(frozen=True)
class BrokenBootRow:
    trace: str
    seed: int
    broken_share: float
    deadline_seconds: float
    stats: PolicyStats
    broken_launches: int
    replaced: int
    #: Billed GPU-hours inside the trace's own duration (a run whose jobs never finish goes
    #: on for up to a day after it; this is the comparable figure).
    window_gpu_hours: float
    window_dollars: float

    def as_dict(self) -> dict[str, object]:
        return {
            "trace": self.trace,
            "seed": self.seed,
            "broken_share": self.broken_share,
            "deadline_seconds": self.deadline_seconds,
            "broken_launches": self.broken_launches,
            "replaced_past_deadline": self.replaced,
            "window_gpu_hours": round(self.window_gpu_hours, 3),
            "window_dollars": round(self.window_dollars, 3),
            **self.stats.as_dict(),
        }


def run(
    trace: Trace, seed: int, broken_share: float, deadline_seconds: float, scenario: Scenario
) -> BrokenBootRow:
    """One run of our policy as deployed; ``deadline_seconds`` 0: no deadline."""
    ours = OursScaler(
        scenario.config,
        scenario.samples_per_invocation,
        scenario.environment.sampling_window_seconds,
    )
    scaler: OursScaler | WithBootDeadline = (
        ours if deadline_seconds <= 0 else WithBootDeadline(ours, deadline_seconds)
    )
    fleet = BrokenBootFleet(trace, scenario.environment, seed, broken_share)
    # ReleaseHook is an action only BrokenBootFleet knows, beyond the Scaler protocol's.
    result = fleet.run(scaler)  # type: ignore[arg-type]
    replaced = len(scaler.replaced) if isinstance(scaler, WithBootDeadline) else 0
    env = scenario.environment
    hours = dollars = 0.0
    for instance in result.instances:
        ended = min(instance.ended if instance.ended is not None else result.end, trace.duration)
        seconds = max(0.0, ended - instance.launched)
        hours += seconds / 3600.0
        price = env.spot_hourly_price if instance.spot else env.on_demand_hourly_price
        dollars += seconds / 3600.0 * price
    return BrokenBootRow(
        trace.name,
        seed,
        broken_share,
        deadline_seconds,
        summarize(result),
        len(fleet.broken),
        replaced,
        hours,
        dollars,
    )


def default_deadline() -> float:
    return float(knob_default("boot_deadline_seconds"))


def table(rows: list[BrokenBootRow]) -> str:
    lines = [
        "| trace | broken boots | deadline | GPU-h in trace | $ in trace | web p95 | jobs done "
        "| broken launches | replaced |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        s = row.stats
        deadline = f"{row.deadline_seconds:g} s" if row.deadline_seconds > 0 else "none"
        done = s.jobs - s.jobs_unfinished - s.jobs_lost
        p95 = f"{s.interactive_p95_wait:.0f} s" if done else "-"
        lines.append(
            f"| {row.trace} (seed {row.seed}) | {row.broken_share:.0%} | {deadline} "
            f"| {row.window_gpu_hours:.1f} | {row.window_dollars:.2f} "
            f"| {p95} | {done}/{s.jobs} "
            f"| {row.broken_launches} | {row.replaced} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--traces", nargs="+", default=list(TRACES))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--shares", nargs="+", type=float, default=list(BROKEN_SHARES))
    parser.add_argument("--deadline", type=float, default=default_deadline())
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    scenario = Scenario()
    rows = [
        run(load(name, seed), seed, share, deadline, scenario)
        for name in args.traces
        for seed in args.seeds
        for share in (0.0, *args.shares)
        for deadline in ((0.0,) if share == 0.0 else (0.0, args.deadline))
    ]
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "broken boots: our policy as deployed, with and without the boot "
                "deadline",
                "command": "python -m autoscaler.simulator.broken_boot",
                "world": "aws_world, Terraform defaults (sdfleet simulate's deployed world)",
                "boot_seconds": float(knob_default("boot_seconds")),
                "rows": [row.as_dict() for row in rows],
            },
            indent=1,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
