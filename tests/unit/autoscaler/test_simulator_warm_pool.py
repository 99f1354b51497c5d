"""The simulator's warm pool: stopped instances cost EBS only, a scale-out resumes them first
(fast), the ASG refills the pool with a billed launch, and the pool's size follows AWS's rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from autoscaler.errors import TfvarsError
from autoscaler.simulator.cloud import Action, AsgSetup, CloudObservation, SetDesiredCapacity
from autoscaler.simulator.engine import (
    GP3_ROOT_VOLUME_HOURLY_PRICE,
    Fleet,
    FleetEnvironment,
    RunResult,
)
from autoscaler.simulator.metrics import summarize
from autoscaler.simulator.tfvars import scenario_from_tfvars
from autoscaler.simulator.traces import INTERACTIVE, Trace, TraceJob

ROOT = Path(__file__).resolve().parents[3]
#: No spread: boot 75 + load 20 = 95 s cold; resume 25 + load 25 = 50 s from the pool.
FIXED = FleetEnvironment(boot_sigma=0.0, model_load_sigma=0.0, spot_percentage=0)
POOL = replace(FIXED, warm_pool_min_size=2)


@dataclass
class SetAt:
    """A scripted scaler: desired capacity ``capacity`` at time 0."""

    capacity: int
    name: str = "scripted"
    period: float = 1e9
    offsets: tuple[float, ...] = (0.0,)
    asg: AsgSetup = field(default_factory=AsgSetup)

    def start(self) -> Sequence[Action]:
        return []

    def tick(self, observation: CloudObservation) -> Sequence[Action]:
        return [SetDesiredCapacity(self.capacity)]


def jobs(count: int, duration: float = 3600.0) -> Trace:
    """``count`` jobs at 0, each longer than a cold start (so no worker takes two)."""
    return Trace(
        "t", "test", tuple(TraceJob(0.0, INTERACTIVE, 200.0) for _ in range(count)), duration
    )


def run(env: FleetEnvironment, capacity: int, count: int = 1) -> RunResult:
    return Fleet(jobs(count), env, 1).run(SetAt(capacity))


def starts(result: RunResult) -> list[float]:
    return sorted(j.start for j in result.jobs if j.start is not None)


def test_a_scale_out_resumes_a_stopped_instance_in_the_warm_start_time() -> None:
    assert starts(run(FIXED, 1)) == [pytest.approx(95.0)]
    assert starts(run(POOL, 1)) == [pytest.approx(50.0)]


def test_beyond_the_pool_the_asg_launches_cold() -> None:
    assert starts(run(POOL, 3, count=3)) == pytest.approx([50.0, 50.0, 95.0])


def test_stopped_instances_cost_their_volume_only() -> None:
    result = run(POOL, 0, count=0)
    stats = summarize(result)
    assert result.pool_stopped_seconds == pytest.approx(2 * 3600.0)
    assert stats.gpu_hours == 0.0
    assert stats.dollars == pytest.approx(2 * GP3_ROOT_VOLUME_HOURLY_PRICE)


def test_the_asg_refills_the_pool_with_a_billed_on_demand_launch() -> None:
    result = run(POOL, 1)
    assert result.pool_launches == 1  # the one taken is replaced
    # The replacement runs its full warm-up (boot + model load), then stops.
    warm_up = FIXED.boot_median_seconds + FIXED.model_load_median_seconds
    assert result.pool_billed_seconds == pytest.approx(warm_up)
    taken_stopped = 0.0  # the taken one left the pool at 0
    refill_stopped = 3600.0 - warm_up
    untouched_stopped = 3600.0
    assert result.pool_stopped_seconds == pytest.approx(
        taken_stopped + refill_stopped + untouched_stopped
    )
    stats = summarize(result)
    in_service = result.instances[0]
    running = (in_service.ended or result.end) - in_service.launched
    assert stats.gpu_hours == pytest.approx((running + warm_up) / 3600.0)


def test_the_pool_holds_max_prepared_less_desired_at_least_its_min_size() -> None:
    env = replace(FIXED, warm_pool_min_size=1, warm_pool_max_prepared=5)
    fleet = Fleet(jobs(0), env, 1)
    fleet.fill_pool()
    assert len(fleet.pool) == 5
    fleet.set_desired(3)
    assert len(fleet.pool) == 2  # 3 resumed, none refilled: 5 - 3
    fleet.set_desired(5)
    assert len(fleet.pool) == 1  # the min size: one launched to refill


def test_without_a_pool_nothing_is_prepared() -> None:
    result = run(FIXED, 1)
    assert (result.pool_launches, result.pool_billed_seconds, result.pool_stopped_seconds) == (
        0,
        0.0,
        0.0,
    )


def test_a_pool_with_spot_is_refused() -> None:
    with pytest.raises(ValueError, match=r"warm_pool_min_size.*spot_percentage 0 \(got 70\)"):
        FleetEnvironment(warm_pool_min_size=2)
    with pytest.raises(ValueError, match="warm_pool_max_prepared: must be >= 0"):
        FleetEnvironment(spot_percentage=0, warm_pool_max_prepared=-1)


def test_tfvars_warm_pool_maps_as_the_module_deploys_it() -> None:
    scenario = scenario_from_tfvars(ROOT / "terraform" / "examples" / "on-demand-warm-pool.tfvars")
    env = scenario.environment
    assert (env.warm_pool_min_size, env.warm_pool_max_prepared) == (2, 6)  # max_capacity 6
    assert env.spot_percentage == 0


def test_tfvars_warm_pool_with_spot_is_refused(tmp_path: Path) -> None:
    tfvars = tmp_path / "pool.tfvars"
    tfvars.write_text("warm_pool_enabled = true\nwarm_pool_min_size = 2\n")
    with pytest.raises(TfvarsError, match="warm_pool_enabled needs an on-demand-only fleet"):
        scenario_from_tfvars(tfvars)
    tfvars.write_text(
        "warm_pool_enabled = true\nwarm_pool_min_size = 1.5\n"
        "on_demand_percentage_above_base = 100\n"
    )
    with pytest.raises(TfvarsError, match="warm_pool_min_size must be a whole number >= 0"):
        scenario_from_tfvars(tfvars)


def test_tfvars_max_prepared_capacity_fixes_the_pool_size(tmp_path: Path) -> None:
    tfvars = tmp_path / "pool.tfvars"
    base = "warm_pool_enabled = true\non_demand_percentage_above_base = 100\nmax_capacity = 8\n"
    tfvars.write_text(base + "warm_pool_min_size = 1\nwarm_pool_max_prepared_capacity = 1\n")
    env = scenario_from_tfvars(tfvars).environment
    assert (env.warm_pool_min_size, env.warm_pool_max_prepared) == (1, 1)
    fleet = Fleet(jobs(0), env, 1)
    fleet.fill_pool()
    assert len(fleet.pool) == 1
    fleet.set_desired(3)
    assert len(fleet.pool) == 1  # the min size, whatever the desired capacity
    tfvars.write_text(base + "warm_pool_min_size = 2\nwarm_pool_max_prepared_capacity = 1\n")
    with pytest.raises(
        TfvarsError,
        match=r"warm_pool_max_prepared_capacity must be .*>= "
        r"warm_pool_min_size 2 \(got 1\)",
    ):
        scenario_from_tfvars(tfvars)
