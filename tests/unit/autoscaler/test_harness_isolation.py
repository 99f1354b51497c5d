"""No scaler can reach the future: arrivals, job times and spot schedules stay in the world.

Scalers get frozen observations built from what the deployed scaler's AWS calls return and
answer with actions. These tests walk every object reachable from each observation and from
each scaler (attributes, containers, closures, class) and fail if a trace, a job, a spot
window, the world or its random generators is among them.
"""

from __future__ import annotations

import gc
import random
import types
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from autoscaler.policy import PolicyConfig
from autoscaler.simulator.cloud import Action, AsgSetup, CloudObservation
from autoscaler.simulator.compare import SWEEPS, Scenario, policies, sweep
from autoscaler.simulator.engine import Fleet, FleetEnvironment, SimInstance, SimJob
from autoscaler.simulator.traces import SpotWindow, Trace, TraceJob, spot_storm

FORBIDDEN = (Trace, TraceJob, SpotWindow, SimJob, SimInstance, Fleet, random.Random)
#: Shared machinery every object reaches (classes, modules, builtins): not followed. Module
#: globals are checked on their own below; functions are followed through their closures.
_STOP = (type, types.ModuleType, types.BuiltinFunctionType)


def reachable(root: object) -> list[object]:
    """Every object reachable from ``root`` through references, modules and classes aside."""
    seen: set[int] = set()
    stack = [root]
    found: list[object] = []
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        found.append(item)
        if isinstance(item, _STOP) and item is not root:
            continue
        if isinstance(item, types.FunctionType):
            # Its closure and defaults, not its module's globals (checked separately).
            stack.extend(item.__closure__ or ())
            stack.extend(item.__defaults__ or ())
            stack.extend((item.__kwdefaults__ or {}).values())
            continue
        stack.extend(gc.get_referents(item))
    return found


def forbidden_in(root: object) -> list[str]:
    return sorted({type(o).__name__ for o in reachable(root) if isinstance(o, FORBIDDEN)})


@dataclass
class Recorder:
    """Wraps a scaler and checks everything it is handed and everything it holds."""

    inner: object
    problems: list[str] = field(default_factory=list)
    ticks: int = 0

    @property
    def name(self) -> str:
        return str(self.inner.name)  # type: ignore[attr-defined]

    @property
    def period(self) -> float:
        return float(self.inner.period)  # type: ignore[attr-defined]

    @property
    def offsets(self) -> tuple[float, ...]:
        return tuple(self.inner.offsets)  # type: ignore[attr-defined]

    @property
    def asg(self) -> AsgSetup:
        setup = self.inner.asg  # type: ignore[attr-defined]
        assert isinstance(setup, AsgSetup)
        return setup

    def start(self) -> Sequence[Action]:
        return self.inner.start()  # type: ignore[attr-defined]

    def tick(self, observation: CloudObservation) -> Sequence[Action]:
        self.ticks += 1
        if self.ticks % 25 == 1:  # walking the graph is slow; every 25th tick is plenty
            self.problems += [f"observation holds {n}" for n in forbidden_in(observation)]
            self.problems += [f"{self.name} holds {n}" for n in forbidden_in(self.inner)]
        actions = self.inner.tick(observation)  # type: ignore[attr-defined]
        self.problems += [f"action holds {n}" for n in forbidden_in(list(actions))]
        return actions


def every_scaler(trace: Trace, scenario: Scenario) -> list[object]:
    swept = [sweep(family, values[0], scenario) for family, (_, values) in SWEEPS.items()]
    return [*policies(trace, scenario), *swept]


def test_the_walk_finds_a_smuggled_reference() -> None:
    """The check itself can fail: a scaler that keeps the trace is caught."""
    trace = spot_storm()
    cheat = types.SimpleNamespace(memory={"arrivals": trace.jobs[:3]})
    assert forbidden_in(cheat) == ["TraceJob"]
    assert "Trace" in forbidden_in(types.SimpleNamespace(look=lambda: trace))


@pytest.mark.parametrize("index", range(11))
def test_no_scaler_can_reach_arrivals_or_spot_schedules(index: int) -> None:
    # A short spot storm: spot notices are scheduled, arrivals queued far ahead.
    trace = spot_storm()
    trace = Trace(
        trace.name,
        trace.description,
        tuple(j for j in trace.jobs if j.arrival < 2400),
        3000.0,
        trace.spot_windows,
    )
    scenario = Scenario(config=PolicyConfig(max_capacity=8))
    scalers = every_scaler(trace, scenario)
    assert len(scalers) == 11
    recorder = Recorder(scalers[index])
    Fleet(trace, scenario.environment, seed=1).run(recorder)
    assert recorder.ticks > 0
    assert recorder.problems == []


def test_the_policy_and_scaler_modules_hold_no_world() -> None:
    import autoscaler.observe
    import autoscaler.policy
    import autoscaler.simulator.scalers

    for module in (autoscaler.policy, autoscaler.observe, autoscaler.simulator.scalers):
        for name, value in vars(module).items():
            assert not isinstance(value, FORBIDDEN), f"{module.__name__}.{name}"
            assert value is not Fleet, f"{module.__name__} imports the world ({name})"


def test_observations_are_frozen_values() -> None:
    fleet = Fleet(spot_storm(), FleetEnvironment(), seed=1)  # the ASG acts at once
    fleet.set_desired(2)
    observation = fleet.observe()
    with pytest.raises(AttributeError):
        observation.now = 5.0  # type: ignore[misc]
    assert forbidden_in(observation) == []
    assert [type(i).__name__ for i in observation.instances] == ["AsgInstance", "AsgInstance"]
