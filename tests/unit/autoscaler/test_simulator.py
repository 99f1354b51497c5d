"""The simulator's mechanics: billing, lanes, redelivery, spot, the oracle, traces."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from autoscaler.errors import TraceError
from autoscaler.policy import PolicyConfig
from autoscaler.simulator import oracle
from autoscaler.simulator.engine import MIN_BILLED_SECONDS, Fleet, FleetEnvironment
from autoscaler.simulator.metrics import percentile, summarize
from autoscaler.simulator.scalers import OursScaler, StaticScaler
from autoscaler.simulator.traces import (
    BATCH,
    BUILT_IN,
    INTERACTIVE,
    SpotWindow,
    Trace,
    TraceJob,
    load,
    read_csv,
)

FIXED = FleetEnvironment(boot_sigma=0.0, model_load_sigma=0.0, spot_percentage=0)


def trace_of(*jobs: tuple[float, str, float], duration: float = 600.0, **kw: object) -> Trace:
    return Trace("t", "test", tuple(TraceJob(*j) for j in jobs), duration, **kw)  # type: ignore[arg-type]


def test_one_job_from_zero_waits_boot_plus_load_and_bills_the_minimum() -> None:
    config = PolicyConfig(max_capacity=2, quiet_seconds_before_zero=0)
    result = Fleet(trace_of((10.0, INTERACTIVE, 5.0)), FIXED, 1).run(OursScaler(config, 12))
    (job,) = result.jobs
    # Seen at the next 5 s sample (t=10), ready boot + load later.
    assert job.start == pytest.approx(10.0 + FIXED.warmup_seconds)
    stats = summarize(result)
    assert stats.launches == 1
    billed = stats.gpu_hours * 3600
    assert billed >= FIXED.warmup_seconds + 5.0
    assert billed <= FIXED.warmup_seconds + 5.0 + 30.0  # removed soon after going idle


def test_a_short_life_is_billed_sixty_seconds() -> None:
    fleet = Fleet(trace_of(duration=100.0), FIXED, 1)
    fleet.set_desired(1)
    fleet.now = 5.0
    fleet.terminate(next(iter(fleet.instances)))
    result = fleet.run(StaticScaler(0))
    assert summarize(result).gpu_hours * 3600 == pytest.approx(MIN_BILLED_SECONDS)


def test_interactive_lane_is_drained_first() -> None:
    jobs = [(0.0, BATCH, 10.0)] + [(0.1 + n / 100, BATCH, 10.0) for n in range(5)]
    jobs.append((1.0, INTERACTIVE, 10.0))
    result = Fleet(trace_of(*jobs), FIXED, 1).run(StaticScaler(1))
    web = next(j for j in result.jobs if j.lane == INTERACTIVE)
    assert web.start == pytest.approx(10.0)  # right after the job in hand, ahead of 5 batch jobs


def test_killed_work_reappears_after_the_visibility_timeout_and_goes_to_the_dlq() -> None:
    env = FleetEnvironment(
        boot_sigma=0.0,
        model_load_sigma=0.0,
        spot_percentage=100,
        max_receives=2,
        boot_median_seconds=10.0,
        model_load_median_seconds=0.0,
    )
    # Spot instances live ~100 s on average: a 500 s job can never finish.
    storm = (SpotWindow(0.0, 100_000.0, 36.0),)
    trace = trace_of((0.0, INTERACTIVE, 500.0), duration=3000.0, spot_windows=storm)
    result = Fleet(trace, env, 3).run(StaticScaler(1))
    (job,) = result.jobs
    assert job.lost
    assert job.receives == env.max_receives + 1
    assert summarize(result).jobs_lost == 1


def test_spot_mix_follows_base_and_percentage() -> None:
    env = FleetEnvironment(on_demand_base_capacity=2, spot_percentage=50)
    fleet = Fleet(trace_of(), env, 1)
    fleet.set_desired(10)
    spot = sorted(i.spot for i in fleet.live)
    assert spot.count(False) == 2 + 4 and spot.count(True) == 4


def test_oracle_launches_ahead_and_waits_nothing() -> None:
    trace = trace_of((100.0, INTERACTIVE, 5.0), (2000.0, INTERACTIVE, 5.0))
    plan = oracle.plan(trace, FIXED, 0.0)
    assert plan.waits == [0.0, 0.0]
    assert plan.launches == 2  # the gap is longer than a launch: stop and relaunch
    assert plan.billed_seconds == pytest.approx(2 * (FIXED.warmup_seconds + 5.0))
    # Jobs close together share one instance.
    close = oracle.plan(trace_of((100.0, INTERACTIVE, 5.0), (110.0, INTERACTIVE, 5.0)), FIXED)
    assert close.launches == 1
    assert close.billed_seconds == pytest.approx(FIXED.warmup_seconds + 15.0)


def test_oracle_trades_wait_for_cost() -> None:
    trace = BUILT_IN["steady"]()
    strict = oracle.plan(trace, FIXED, 0.0)
    relaxed = oracle.plan(trace, FIXED, 30.0)
    assert max(relaxed.waits) <= 30.0
    assert relaxed.billed_seconds < strict.billed_seconds


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile([], 95) == 0.0


def test_built_in_traces_are_seeded() -> None:
    for name, factory in BUILT_IN.items():
        first, second = factory(), factory()
        assert first.jobs == second.jobs, name
        assert first.jobs, name
        assert all(a.arrival <= b.arrival for a, b in itertools.pairwise(first.jobs))
    assert len([j for j in BUILT_IN["batch-dump"]().jobs if j.lane == BATCH]) == 5000


def test_csv_trace(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("arrival_seconds,lane,gpu_seconds\n5,batch,3.5\n1,interactive,\n")
    trace = read_csv(path)
    assert [(j.arrival, j.lane) for j in trace.jobs] == [(1.0, INTERACTIVE), (5.0, BATCH)]
    assert trace.jobs[1].service == 3.5
    assert load(str(path)).name == "mine"
    path.write_text("arrival_seconds,lane\n1,gold\n")
    with pytest.raises(TraceError, match=r"line 2.*lane"):
        read_csv(path)
    with pytest.raises(TraceError, match="neither a built-in"):
        load("nope")
