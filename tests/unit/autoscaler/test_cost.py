"""The monthly cost estimate: each part computed from a known fleet, and the CLI flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.cli import main as simulate_main
from autoscaler.cost import (
    HOURS_PER_MONTH,
    CostInputs,
    estimate_monthly,
    inputs_from_tfvars,
    read_inputs,
)
from autoscaler.errors import TfvarsError
from autoscaler.simulator.engine import FleetEnvironment, RunResult, SimInstance, SimJob
from sdfleet.messages import Lane

ROOT = Path(__file__).resolve().parents[3]


def fleet_run(instances: list[SimInstance], jobs: int, end: float) -> RunResult:
    return RunResult(
        policy="ours",
        trace="known",
        jobs=[SimJob(i, 0.0, Lane.INTERACTIVE, 5.0) for i in range(jobs)],
        instances=instances,
        end=end,
        environment=FleetEnvironment(on_demand_hourly_price=1.0, spot_hourly_price=0.25),
        samples=[],
    )


def instance(name: str, spot: bool, launched: float, ended: float | None) -> SimInstance:
    return SimInstance(name, launched, spot, booted=launched, ready=launched, ended=ended)


def test_each_part_is_priced_from_the_fleet_and_scaled_to_a_month() -> None:
    # A 1-hour trace: one spot instance for the whole hour, one on-demand for 30 min, one
    # on-demand for 10 s (billed the 60 s minimum), 360 jobs.
    run = fleet_run(
        [
            instance("a", True, 0.0, None),
            instance("b", False, 0.0, 1800.0),
            instance("c", False, 100.0, 110.0),
        ],
        jobs=360,
        end=3600.0,
    )
    inputs = CostInputs()
    cost = estimate_monthly(run, 3600.0, inputs)
    months = HOURS_PER_MONTH  # the 1-hour trace repeated
    assert cost.spot_gpu_hours == pytest.approx(1.0 * months)
    assert cost.on_demand_gpu_hours == pytest.approx((0.5 + 60 / 3600) * months)
    assert cost.spot_share == pytest.approx(1.0 / (1.5 + 60 / 3600))
    assert cost.gpu_spot == pytest.approx(0.25 * months)
    assert cost.gpu_on_demand == pytest.approx((0.5 + 60 / 3600) * months)
    assert cost.jobs_per_month == pytest.approx(360 * months)
    assert cost.nat == pytest.approx(
        months * inputs.nat_gateway_hourly + 3 * months * inputs.nat_gb_per_launch * 0.045
    )
    scaler = 43_800 * inputs.scaler_seconds_per_invocation * 0.25 * inputs.lambda_gb_second
    assert cost.scaler_lambda == pytest.approx(scaler + 43_800 / 1e6 * 0.20)
    assert cost.root_volumes == pytest.approx(cost.gpu_hours * 100 * 0.08 / months)
    # Outputs live 30 days: a month holds 30 / 30.4 of a month's outputs at any time.
    kept = 30 / (months / 24)
    assert cost.storage == pytest.approx((2.0 + 360 * months * kept * 0.5 / 1024) * 0.023)
    assert cost.cloudwatch > 3.0 + 5 * 0.10 + 10 * 0.30
    assert cost.total == pytest.approx(sum(cost.parts.values()))


def test_a_longer_trace_of_the_same_fleet_costs_less_per_month() -> None:
    run = fleet_run([instance("a", True, 0.0, 3600.0)], jobs=10, end=7200.0)
    one_hour = estimate_monthly(run, 3600.0, CostInputs())
    two_hours = estimate_monthly(run, 7200.0, CostInputs())
    assert two_hours.gpu_spot == pytest.approx(one_hour.gpu_spot / 2)
    with pytest.raises(ValueError, match="trace_seconds: must be > 0"):
        estimate_monthly(run, 0.0, CostInputs())


def test_tfvars_set_the_volume_and_the_retention() -> None:
    inputs = inputs_from_tfvars(
        {"worker_root_volume_size_gb": 200, "user_data_expiry_days": 7, "max_capacity": 9},
        CostInputs(),
    )
    assert (inputs.root_volume_gb, inputs.output_retention_days) == (200.0, 7.0)
    with pytest.raises(TfvarsError, match="worker_root_volume_size_gb: must be a number >= 0"):
        inputs_from_tfvars({"worker_root_volume_size_gb": "big"}, CostInputs())
    prod = read_inputs(ROOT / "terraform" / "environments" / "prod.tfvars")
    assert prod.output_retention_days == 30.0


def test_a_baked_ami_pulls_only_the_model_through_the_nat() -> None:
    plain = inputs_from_tfvars({}, CostInputs())
    baked = inputs_from_tfvars({"worker_ami_bake": True}, CostInputs())
    assert plain.nat_gb_per_launch == pytest.approx(6.2)
    assert baked.nat_gb_per_launch == pytest.approx(2.0)
    assert inputs_from_tfvars({"worker_ami_bake": False}, CostInputs()) == plain
    with pytest.raises(TfvarsError, match="worker_ami_bake: must be true or false"):
        inputs_from_tfvars({"worker_ami_bake": "yes"}, CostInputs())
    # prod.tfvars bakes its workers' AMI.
    prod = read_inputs(ROOT / "terraform" / "environments" / "prod.tfvars")
    assert prod.nat_gb_per_launch == pytest.approx(2.0)


def test_sdfleet_simulate_prints_the_monthly_estimate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("arrival_seconds\n" + "".join(f"{t}\n" for t in range(0, 1800, 20)))
    assert simulate_main(["simulate", "--trace", str(trace), "--monthly-cost"]) == 0
    out = capsys.readouterr().out
    assert "monthly cost estimate" in out
    for part in ("GPU instances, spot", "NAT gateway and data", "scaler Lambda", "total"):
        assert part in out
