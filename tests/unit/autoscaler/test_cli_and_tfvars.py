"""`simulate` on the command line, tfvars parsing, and the benchmark's quick mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.errors import TfvarsError
from autoscaler.simulator.compare import DYNAMIC_BASELINES
from autoscaler.simulator.tfvars import parse, scenario_from_tfvars
from benchmarks.scaler.run import (
    WARM_POOL_BASELINE_WORLDS,
    WARM_POOL_WORLDS,
    Task,
    _reach_cell,
    _warm_start_cell,
    warm_pool_baseline_summary,
    warm_pool_record,
)

REPO = Path(__file__).resolve().parents[3]

TFVARS = """
# knobs
scaler_max_capacity = 12
target_wait_seconds = 30          # the Terraform root's unprefixed name works too
scaler_quiet_seconds_before_zero = 45.5
subnet_ids = ["subnet-a",
  "subnet-b"]
oldest_message_slo_seconds = { interactive = 120, batch = 3600 }
environment = "prod"
enable_frontend = true
on_demand_base_capacity = 1
on_demand_percentage_above_base = 20
on_demand_hourly_price = 1.2
spot_hourly_price = 0.4
scaler_samples_per_invocation = 6
"""


def test_parse_reads_scalars_and_skips_collections() -> None:
    values = parse(TFVARS)
    assert values["scaler_max_capacity"] == 12.0
    assert values["environment"] == "prod"
    assert values["enable_frontend"] is True
    assert "subnet_ids" not in values and "oldest_message_slo_seconds" not in values


def test_scenario_from_tfvars(tmp_path: Path) -> None:
    path = tmp_path / "prod.tfvars"
    path.write_text(TFVARS)
    scenario = scenario_from_tfvars(path)
    assert scenario.config.max_capacity == 12
    assert scenario.config.target_wait_seconds == 30.0
    assert scenario.config.quiet_seconds_before_zero == 45.5
    assert scenario.samples_per_invocation == 6
    env = scenario.environment
    assert (env.on_demand_base_capacity, env.spot_percentage) == (1, 80)
    assert (env.on_demand_hourly_price, env.spot_hourly_price) == (1.2, 0.4)


def test_bad_tfvars_values_name_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "bad.tfvars"
    path.write_text('scaler_max_capacity = "many"\n')
    with pytest.raises(TfvarsError, match="scaler_max_capacity must be a number"):
        scenario_from_tfvars(path)
    path.write_text("scaler_min_capacity = 5\nscaler_max_capacity = 2\n")
    with pytest.raises(TfvarsError, match="max_capacity"):
        scenario_from_tfvars(path)
    path.write_text("this is not hcl\n")
    with pytest.raises(TfvarsError, match="line 1"):
        scenario_from_tfvars(path)


def test_the_repository_tfvars_files_parse() -> None:
    for path in sorted((REPO / "terraform").rglob("*.tfvars")):
        scenario_from_tfvars(path)


def test_simulate_writes_a_table_a_plot_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tfvars = tmp_path / "x.tfvars"
    tfvars.write_text("scaler_max_capacity = 3\nscaler_target_wait_seconds = 90\n")
    plot = tmp_path / "out.png"
    out = tmp_path / "out.json"
    code = main(
        [
            "simulate",
            "--tfvars",
            str(tfvars),
            "--trace",
            "sparse",
            "--plot",
            str(plot),
            "--json",
            str(out),
            "--spot-price",
            "0.25",
            "--boot-median",
            "120",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    for name in (
        "ours",
        "aws-target-tracking",
        "keda-hpa",
        "sample-scaler",
        "static-peak",
        "oracle",
    ):
        assert name in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    document = json.loads(out.read_text())
    assert document["scenario"]["policy"]["max_capacity"] == 3
    assert document["scenario"]["environment"]["spot_hourly_price"] == 0.25
    assert document["scenario"]["environment"]["boot_median_seconds"] == 120
    ours = document["traces"][0]["policies"][0]
    assert ours["policy"] == "ours" and ours["p95_wait"] > 120  # every job is a cold start


def test_simulate_rejects_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--trace", "nope"]) == 2
    assert "neither a built-in" in capsys.readouterr().out
    assert main(["simulate", "--trace", "sparse", "--boot-median", "5"]) == 2
    assert "--boot-median" in capsys.readouterr().out


def test_benchmark_quick_mode_writes_every_trace_and_policy(tmp_path: Path) -> None:
    out = tmp_path / "scaler"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.scaler.run", "--quick", "--out", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    document = json.loads(out.with_suffix(".json").read_text())
    assert document["quick"] is True
    names = {t["trace"] for t in document["traces"]}
    assert names == {"steady", "bursty", "batch-dump", "sparse", "spot-storm", "training-mix"}
    for trace in document["traces"]:
        policies = [p["policy"] for p in trace["policies"]]
        # The warm start is left out where the trace opens quiet (it would be ours again).
        opens_quiet = trace["trace"] == "sparse"
        assert ("ours-warm-start" not in policies) == opens_quiet
        assert [p for p in policies if p != "ours-warm-start"] == [
            "ours",
            "ours-all-out",
            "static-peak",
            "aws-target-tracking",
            "keda-hpa",
            "sample-scaler",
            "oracle",
        ]
        assert trace["goal_met"] == (not trace["misses"])
        for stats in trace["policies"]:
            assert stats["p50_wait"] <= stats["p95_wait"] <= stats["p99_wait"] <= stats["max_wait"]
            assert stats["gpu_hours"] > 0 and 0 <= stats["idle_share"] <= 1
    assert "| policy |" in out.with_suffix(".md").read_text()


def test_simulate_frontier_on_a_csv_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from autoscaler.simulator.compare import SWEEPS

    trace = tmp_path / "mine.csv"
    rows = [f"{60 + n * 2},{'batch' if n % 5 == 0 else 'interactive'},6" for n in range(120)]
    trace.write_text("arrival_seconds,lane,gpu_seconds\n" + "\n".join(rows) + "\n")
    tfvars = tmp_path / "x.tfvars"
    tfvars.write_text("max_capacity = 6\nboot_seconds = 60\n")
    out = tmp_path / "out.json"
    code = main(
        [
            "simulate",
            "--trace",
            str(trace),
            "--tfvars",
            str(tfvars),
            "--frontier",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "cheapest swept setting" in text and "keda-hpa" in text
    (record,) = json.loads(out.read_text())["traces"]
    assert record["trace"] == "mine" and record["jobs"] == 120
    assert [f["family"] for f in record["frontiers"]] == list(SWEEPS)
    for frontier in record["frontiers"]:
        assert len(frontier["points"]) == len(SWEEPS[frontier["family"]][1])
    # 120 jobs x 6 s: the bound is exactly their GPU time.
    assert record["bound_gpu_hours"] == pytest.approx(120 * 6 / 3600, abs=1e-4)
    ours = record["policies"][0]
    assert ours["gpu_hours"] >= record["bound_gpu_hours"]
    assert record["goal_met"] == (not record["misses"])


def test_the_goal_tables_all_out_cell_counts_beyond_reach_and_sizing_misses() -> None:
    def verdict(all_out: float, beyond: bool, sizing: bool, ratio: float) -> dict[str, object]:
        return {
            "all_out_interactive_p95_wait": all_out,
            "beyond_reach": beyond,
            "sizing_miss": sizing,
            "all_out_gpu_ratio": ratio,
        }

    seeds = [
        verdict(90.0, True, False, 1.5),
        verdict(40.0, False, True, 1.8),
        verdict(50.0, False, True, 2.0),
        verdict(20.0, False, False, 3.0),
    ]
    assert _reach_cell(seeds, 60.0) == (
        "50 s (3/4 <= 60), 1/4 beyond reach, 2/4 sizing misses (all out: 1.90x GPU-h)"
    )
    assert _reach_cell(seeds[3:], 60.0) == "20 s (1/1 <= 60)"


def test_the_warm_pool_part_runs_the_baselines_with_the_same_pools() -> None:
    record = warm_pool_record(Task("warm-pool", "bursty", 1, quick=False))
    assert [w["world"] for w in record["worlds"]] == list(WARM_POOL_WORLDS)
    ran = {(row["world"], row["policy"]) for row in record["baselines"]}
    assert ran == {(w, p) for w in WARM_POOL_BASELINE_WORLDS for p in DYNAMIC_BASELINES}
    summary = warm_pool_baseline_summary([record])
    assert {(row["world"], row["policy"]) for row in summary} == ran | {
        (w, "ours") for w in WARM_POOL_BASELINE_WORLDS
    }
    keda = {row["world"]: row for row in summary if row["policy"] == "keda-hpa"}
    # A pool shortens a baseline's wait after quiet too, and costs it the pool's dollars.
    assert (
        keda["on-demand, warm pool"]["interactive_p95_wait"]
        < keda["on-demand, no pool"]["interactive_p95_wait"]
    )
    assert keda["on-demand, warm pool"]["dollars"] > keda["on-demand, no pool"]["dollars"]


def test_the_goal_tables_warm_start_cell_leaves_out_seeds_that_open_quiet() -> None:
    def verdict(web: float | None, ratio: float | None) -> dict[str, object]:
        return {"warm_start_interactive_p95_wait": web, "warm_start_bound_ratio": ratio}

    assert _warm_start_cell([verdict(None, None)] * 3, 60.0) == "none: opens quiet"
    seeds = [verdict(30.0, 1.2), verdict(90.0, 1.4), verdict(None, None)]
    assert _warm_start_cell(seeds, 60.0) == "60 s (1/2 <= 60), 1.30x, 1/3 open quiet"
