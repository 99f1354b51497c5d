"""``python -m benchmarks.scaler.sweep``: ours alone over seeds while knobs vary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import autoscaler.policy as policy
from benchmarks.scaler import sweep


def _run(tmp_path: Path, *args: str) -> dict[str, object]:
    status = sweep.main(["--name", "t", "--workers", "1", "--out-dir", str(tmp_path), *args])
    assert status == 0
    document: dict[str, object] = json.loads((tmp_path / "t.json").read_text())
    return document


def test_a_knob_changes_what_ours_does_and_each_seed_is_kept(tmp_path: Path) -> None:
    document = _run(tmp_path, "--vary", "max_capacity=1,20", "--trace", "steady", "--seeds", "1")
    summary = document["summary"]
    assert isinstance(summary, list)
    by_cap = {row["variant"]["max_capacity"]: row for row in summary}
    assert set(by_cap) == {1.0, 20.0}
    # One worker cannot keep up with steady's load: its web p95 runs far past the target.
    assert by_cap[1.0]["web_p95_mean"] > 4 * by_cap[20.0]["web_p95_mean"]
    assert by_cap[1.0]["web_p95_within_target"] == 0
    assert by_cap[20.0]["web_p95_within_target"] == 1
    runs = document["runs"]
    assert isinstance(runs, list) and len(runs) == 2
    assert str(document["command"]).startswith("python -m benchmarks.scaler.sweep --name t")


def test_a_policy_constant_is_varied_and_restored(tmp_path: Path) -> None:
    before = policy.VARIATION_HEADROOM
    document = _run(
        tmp_path, "--vary", "VARIATION_HEADROOM=0,3", "--trace", "heavy-tail", "--seeds", "101"
    )
    summary = document["summary"]
    assert isinstance(summary, list)
    hours = {row["variant"]["VARIATION_HEADROOM"]: row["bound_ratio_mean"] for row in summary}
    # Headroom for mixed sizes holds more workers on the heavy-tailed mix.
    assert hours[3.0] > hours[0.0]
    assert before == policy.VARIATION_HEADROOM


def test_boot_seconds_lengthens_the_wait_after_quiet(tmp_path: Path) -> None:
    document = _run(tmp_path, "--vary", "boot_seconds=60,300", "--trace", "bursty", "--seeds", "1")
    summary = document["summary"]
    assert isinstance(summary, list)
    waits = {row["variant"]["boot_seconds"]: row["web_p95_mean"] for row in summary}
    assert waits[300.0] > waits[60.0] + 100


def test_measured_starts_replace_the_boots(tmp_path: Path) -> None:
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps({"version": 1, "paths": {"launch": [[280.0, 20.0]]}}))
    args = ("--vary", "max_capacity=20", "--trace", "bursty", "--seeds", "1")
    assumed = _run(tmp_path, *args)
    measured = _run(tmp_path, *args, "--start-samples", str(slow))
    assert str(measured["world"]).endswith(f"boots from --start-samples {slow}")
    assert str(measured["command"]).endswith(f"--start-samples {slow}")
    waits = [d["summary"][0]["web_p95_mean"] for d in (assumed, measured)]  # type: ignore[index]
    # A 300 s launch to ready instead of the benchmark's 95 s: bursty's waits after quiet grow.
    assert waits[1] > waits[0] + 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vary", "no_such_knob=1"], "'no_such_knob' is neither a policy knob"),
        (["--vary", "max_capacity=many"], "values must be numbers (got 'many')"),
        (["--vary", "max_capacity="], "give at least one value"),
        (["--vary", "backlog_tolerance=0.5,2"], "backlog_tolerance: must be <= 1 (got 2.0)"),
        (["--vary", "max_capacity=2", "--seeds", "5-1"], "--seeds: '5-1' ends before it starts"),
        (["--vary", "max_capacity=2", "--trace", "nope"], "--trace 'nope': not a built-in"),
        (
            ["--vary", "boot_seconds=90", "--start-samples", "starts.json"],
            "--vary boot_seconds: leave it out with --start-samples",
        ),
        (
            ["--vary", "max_capacity=2", "--start-samples", "/no/such/starts.json"],
            "start samples /no/such/starts.json: cannot read it",
        ),
    ],
)
def test_bad_input_names_the_flag_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    trace = [] if "--trace" in args else ["--trace", "steady"]
    status = sweep.main(["--name", "t", "--out-dir", str(tmp_path), *trace, *args])
    assert status == 2
    assert message in " ".join(capsys.readouterr().out.split())
    assert not (tmp_path / "t.json").exists()


def test_seed_ranges_and_lists() -> None:
    assert sweep.parse_seeds("1-3,7") == [1, 2, 3, 7]
    assert sweep.parse_seeds("101") == [101]
