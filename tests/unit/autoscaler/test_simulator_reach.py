"""Ours all out: the reference row that tells a wait sizing could fix from the boot after
quiet, which no scale-out removes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from autoscaler.policy import PolicyConfig
from autoscaler.simulator.cloud import (
    Action,
    AsgInstance,
    CloudObservation,
    Lifecycle,
    QueueCounts,
    SetDesiredCapacity,
)
from autoscaler.simulator.compare import ALL_OUT, WARM_START, Comparison, Scenario, compare
from autoscaler.simulator.engine import FleetEnvironment, aws_world
from autoscaler.simulator.scalers import AllOutScaler, OursScaler, opening_fleet
from autoscaler.simulator.traces import INTERACTIVE, LANES, Trace, TraceJob

CONFIG = PolicyConfig(max_capacity=20)
QUIET = QueueCounts(visible=0, in_flight=0)


def observation(interactive_visible: int, desired: int = 0) -> CloudObservation:
    queues = {lane: QUIET for lane in LANES}
    queues[INTERACTIVE] = QueueCounts(visible=interactive_visible, in_flight=0)
    instances = tuple(
        AsgInstance(f"i-{n}", Lifecycle.IN_SERVICE, True, 0.0) for n in range(desired)
    )
    return CloudObservation(100.0, desired, queues, instances, ())


def desired_of(actions: Sequence[Action]) -> list[int]:
    return [a.capacity for a in actions if isinstance(a, SetDesiredCapacity)]


def test_all_out_launches_max_capacity_exactly_where_ours_launches() -> None:
    backlog = observation(interactive_visible=3)
    assert desired_of(OursScaler(CONFIG).tick(backlog)) == [1]
    assert desired_of(AllOutScaler(CONFIG).tick(backlog)) == [20]
    assert AllOutScaler(CONFIG).name == ALL_OUT
    nothing = observation(interactive_visible=0)
    assert desired_of(OursScaler(CONFIG).tick(nothing)) == []
    assert desired_of(AllOutScaler(CONFIG).tick(nothing)) == []


def quiet_then_burst() -> Trace:
    """An hour of quiet, then 40 web jobs in 20 s: every policy starts from zero."""
    jobs = tuple(TraceJob(3600.0 + 0.5 * n, INTERACTIVE, 6.0) for n in range(40))
    return Trace("quiet-then-burst", "test", jobs, 5400.0)


def test_a_burst_after_quiet_is_beyond_reach_and_the_miss_says_why() -> None:
    scenario = Scenario(config=CONFIG, environment=aws_world(FleetEnvironment()))
    comparison = compare(quiet_then_burst(), scenario, 1, frontiers=False, with_oracle=False)
    all_out = comparison.all_out
    assert all_out is not None and all_out.policy == ALL_OUT
    # Sizing is not the problem: all out is faster than ours, and still over the target.
    assert comparison.ours.interactive_p95_wait > all_out.interactive_p95_wait > 60.0
    assert all_out.launches > comparison.ours.launches
    assert comparison.beyond_reach
    (miss,) = [m for m in comparison.misses() if m.startswith("interactive p95")]
    assert "beyond scale-out's reach" in miss
    assert f"all out waits {all_out.interactive_p95_wait:.0f}s" in miss


def test_a_miss_that_all_out_meets_is_a_sizing_miss_with_its_cost() -> None:
    scenario = Scenario(config=CONFIG, environment=aws_world(FleetEnvironment()))
    measured = compare(quiet_then_burst(), scenario, 1, frontiers=False, with_oracle=False)
    stats = [
        replace(s, interactive_p95_wait=30.0) if s.policy == ALL_OUT else s for s in measured.stats
    ]
    sizing_could = Comparison(measured.trace, stats, measured.runs, 60.0)
    assert not sizing_could.beyond_reach and sizing_could.sizing_miss
    (miss,) = [m for m in sizing_could.misses() if m.startswith("interactive p95")]
    assert "reach" not in miss
    cost = sizing_could.by_policy(ALL_OUT).gpu_hours / sizing_could.ours.gpu_hours
    assert cost > 1.0
    assert sizing_could.all_out_gpu_ratio == cost
    assert f"a sizing miss: all out waits 30s for {cost:.2f}x our GPU-hours" in miss
    # Beyond reach is not a sizing miss, and neither is a met target.
    assert measured.beyond_reach and not measured.sizing_miss
    met = Comparison(measured.trace, stats, measured.runs, 1000.0)
    assert not met.beyond_reach and not met.sizing_miss
    assert not [m for m in met.misses() if m.startswith("interactive p95")]


def test_the_warm_start_holds_the_opening_loads_fleet_in_service_from_the_first_second() -> None:
    # 0.5 jobs/s of 6.4 s: 3.2 busy GPUs over the first ten minutes, so four workers.
    steady = Trace(
        "opening", "test", tuple(TraceJob(2.0 * n, INTERACTIVE, 6.4) for n in range(900)), 2000.0
    )
    assert opening_fleet(steady, CONFIG) == 4
    assert opening_fleet(steady, replace(CONFIG, max_capacity=2)) == 2
    # Quiet for the first ten minutes: no worker (min_capacity 0), or the minimum.
    assert opening_fleet(quiet_then_burst(), CONFIG) == 0
    assert opening_fleet(quiet_then_burst(), replace(CONFIG, min_capacity=1)) == 1
    scenario = Scenario(config=CONFIG, environment=aws_world(FleetEnvironment()))
    comparison = compare(steady, scenario, 1, frontiers=False, with_oracle=False)
    warm = comparison.warm_start
    assert warm is not None and warm.policy == WARM_START
    # Ours waits a boot for its first worker; the warm start serves the first job at once.
    first = {
        name: min(j.start for j in comparison.runs[name].jobs if j.start is not None)
        for name in ("ours", WARM_START)
    }
    assert first[WARM_START] == 0.0 and first["ours"] > 60.0
    assert warm.interactive_p95_wait < comparison.ours.interactive_p95_wait


def test_a_miss_the_warm_start_meets_is_named_the_start_onto_an_empty_fleet() -> None:
    scenario = Scenario(config=CONFIG, environment=aws_world(FleetEnvironment()))
    measured = compare(quiet_then_burst(), scenario, 1, frontiers=False, with_oracle=False)
    ours = measured.ours

    def with_warm_start(p95: float, gpu_hours: float, name: str = "steady") -> Comparison:
        # The trace opens quiet, so it has no warm-start row: one is made from ours.
        warm = replace(ours, policy=WARM_START, interactive_p95_wait=p95, gpu_hours=gpu_hours)
        trace = replace(measured.trace, name=name)
        return Comparison(trace, [*measured.stats, warm], measured.runs, 60.0)

    bound = measured.bound_gpu_hours
    assert ours.gpu_hours > 1.3 * bound and ours.interactive_p95_wait > 60.0
    start = with_warm_start(20.0, 1.2 * bound)
    (web,) = [m for m in start.misses() if m.startswith("interactive p95")]
    assert "from a warm start: 20s, so the miss is the start onto an empty fleet" in web
    (cost,) = [m for m in start.misses() if m.startswith("GPU-h")]
    assert "from a warm start: 1.20x, so the miss is the start onto an empty fleet" in cost
    steady_state = with_warm_start(70.0, 1.4 * bound)
    (web,) = [m for m in steady_state.misses() if m.startswith("interactive p95")]
    assert "from a warm start: 70s)" in web and "empty fleet" not in web
    (cost,) = [m for m in steady_state.misses() if m.startswith("GPU-h")]
    assert "from a warm start: 1.40x)" in cost and "empty fleet" not in cost
    # The bound is a goal on steady and diurnal only.
    elsewhere = with_warm_start(20.0, 1.2 * bound, name="quiet-then-burst")
    assert not [m for m in elsewhere.misses() if m.startswith("GPU-h")]


def test_the_warm_start_keeps_its_fleet_until_a_load_that_opens_late_arrives() -> None:
    # The opening load arrives 40 s in: several samples see the warm fleet idle first. Its
    # memory starts as though that load had been running, so the fleet is still there.
    late = Trace(
        "late-opening",
        "test",
        tuple(TraceJob(40.0 + 2.0 * n, INTERACTIVE, 6.4) for n in range(300)),
        1200.0,
    )
    size = opening_fleet(late, CONFIG)
    assert size == 3
    scenario = Scenario(config=CONFIG, environment=aws_world(FleetEnvironment()))
    comparison = compare(late, scenario, 1, frontiers=False, with_oracle=False)
    run = comparison.runs[WARM_START]
    warm = [i for i in run.instances if i.launched == 0.0]
    assert len(warm) == size
    assert all(i.jobs_done > 0 for i in warm)
    first = min(run.jobs, key=lambda j: j.arrival)
    assert first.start == first.arrival


def test_a_trace_that_opens_quiet_has_no_warm_start_row() -> None:
    scenario = Scenario(config=CONFIG, environment=aws_world(FleetEnvironment()))
    comparison = compare(quiet_then_burst(), scenario, 1, frontiers=False, with_oracle=False)
    assert comparison.warm_start is None
    (miss,) = [m for m in comparison.misses() if m.startswith("interactive p95")]
    assert "warm start" not in miss
