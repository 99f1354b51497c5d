"""Measured starts as the simulator's boot times: the samples file that `sdfleet starts`
writes is checked field by field, and a simulated launch, resume and pool launch each take one
of their path's measured starts instead of a lognormal."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autoscaler.cli import EXIT_OK, EXIT_USAGE, main
from autoscaler.simulator.engine import Fleet, FleetEnvironment, RunResult
from autoscaler.simulator.start_samples import (
    MAX_PART_SECONDS,
    StartSamplesError,
    load_start_samples,
)
from sdfleet.starts import START_SAMPLES_VERSION, StartPath, StartRecord, samples_document
from tests.unit.autoscaler.test_simulator_warm_pool import FIXED, POOL, SetAt, jobs, run, starts

LAUNCHED = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)


def record(path: StartPath, boot: float, load: float) -> StartRecord:
    started = LAUNCHED + timedelta(seconds=boot)
    return StartRecord(
        instance_id="i-0123456789abcdef0",
        start_path=path,
        launched_at=LAUNCHED,
        process_started_at=started,
        ready_at=started + timedelta(seconds=load),
    )


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "starts.json"
    path.write_text(json.dumps(document))
    return path


def test_the_records_become_pairs_per_path_and_load_back(tmp_path: Path) -> None:
    records = [
        record(StartPath.LAUNCH, 80.0, 30.5),
        record(StartPath.LAUNCH, 120.0, 31.0),
        record(StartPath.RESUME, 22.0, 24.0),
        record(StartPath.LAUNCH_TO_POOL, 90.0, 40.0),
        record(StartPath.RESTART, 500.0, 30.0),  # a process restart is no boot sample
    ]
    document = samples_document(records, "test")
    assert document["paths"] == {
        "launch": [[80.0, 30.5], [120.0, 31.0]],
        "resume": [[22.0, 24.0]],
        "launch-to-pool": [[90.0, 40.0]],
    }
    samples = load_start_samples(write(tmp_path, document))
    assert samples.launch == ((80.0, 30.5), (120.0, 31.0))
    assert samples.launch_median_seconds == pytest.approx((110.5 + 151.0) / 2)
    env = samples.apply(FIXED)
    assert (env.resume_samples, env.pool_launch_samples) == (((22.0, 24.0),), ((90.0, 40.0),))
    assert env.warmup_seconds == pytest.approx(130.75)  # the baselines' warm-up follows


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (
            {"launch": [[-1, 20]]},
            r"paths.launch\[0\]: boot_seconds must be within 0..3600 s \(got -1\)",
        ),
        ({"resume": [[20, 3601]]}, r"paths.resume\[0\]: load_seconds must be within 0..3600 s"),
        ({"launch": [[80, 20], [80]]}, r"paths.launch\[1\] must be \[boot_seconds, load_seconds\]"),
        ({"launch": [["80", 20]]}, r"paths.launch\[0\] must be \[boot_seconds, load_seconds\]"),
        ({"launch": {"boot": 80}}, r"paths.launch must be a list"),
        ({"lunch": [[80, 20]]}, r"unknown start path\(s\) \['lunch'\]"),
        ({"launch": [], "resume": []}, r"holds no start"),
    ],
)
def test_an_impossible_file_is_refused_naming_the_field_and_the_limit(
    tmp_path: Path, paths: dict[str, Any], message: str
) -> None:
    document = {"version": START_SAMPLES_VERSION, "paths": paths}
    with pytest.raises(StartSamplesError, match=message):
        load_start_samples(write(tmp_path, document))
    assert MAX_PART_SECONDS == 3600


def test_a_file_of_another_version_or_shape_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StartSamplesError, match=r"version must be 1 \(got 2\)"):
        load_start_samples(write(tmp_path, {"version": 2, "paths": {}}))
    with pytest.raises(StartSamplesError, match="must be a JSON object"):
        load_start_samples(write(tmp_path, [[80, 20]]))
    with pytest.raises(StartSamplesError, match="cannot read it"):
        load_start_samples(tmp_path / "absent.json")


def test_a_launch_takes_a_measured_start_instead_of_the_lognormal() -> None:
    measured = replace(FIXED, launch_samples=((140.0, 10.0),))
    assert starts(run(FIXED, 1)) == [pytest.approx(95.0)]
    assert starts(run(measured, 2, count=2)) == [pytest.approx(150.0)] * 2
    spread = replace(FIXED, launch_samples=((40.0, 10.0), (140.0, 10.0)))
    seen = {round(start) for seed in range(1, 9) for start in starts(run_seed(spread, seed))}
    assert seen == {50, 150}  # every start is one of the measured ones, and both are drawn


def run_seed(env: FleetEnvironment, seed: int) -> RunResult:
    return Fleet(jobs(1), env, seed).run(SetAt(1))


def test_a_resume_and_a_pool_launch_take_their_own_paths_samples() -> None:
    measured = replace(POOL, launch_samples=((100.0, 20.0),), resume_samples=((5.0, 7.0),))
    # Two from the stopped pool (5 + 7 s), the third beyond it a cold launch (120 s).
    assert starts(run(measured, 3, count=3)) == pytest.approx([12.0, 12.0, 120.0])
    pooled = replace(measured, pool_launch_samples=((300.0, 60.0),))
    result = run(pooled, 1)
    assert result.pool_billed_seconds == pytest.approx(360.0)  # the refill's measured start
    assert run(measured, 1).pool_billed_seconds == pytest.approx(120.0)  # else a launch's


def test_simulate_replays_the_samples_and_says_when_boot_seconds_is_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = samples_document([record(StartPath.LAUNCH, 250.0, 50.0)], "fleet")
    samples = write(tmp_path, document)
    out = tmp_path / "result.json"
    code = main(
        ["simulate", "--trace", "steady", "--start-samples", str(samples), "--json", str(out)]
    )
    assert code == EXIT_OK
    printed = capsys.readouterr().out
    assert "start samples: 1 launch, 0 resume, 0 launch-to-pool (fleet)" in printed
    assert "set boot_seconds = 300" in printed
    environment = json.loads(out.read_text())["scenario"]["environment"]
    assert environment["launch_samples"] == [[250.0, 50.0]]

    assert main(["simulate", "--start-samples", str(samples), "--boot-median", "90"]) == (
        EXIT_USAGE
    )
    assert "--boot-median: leave it out with --start-samples" in capsys.readouterr().out


def test_simulate_is_quiet_about_boot_seconds_that_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default boot_seconds is 180 s: a measured median of 170 s is within a fifth.
    samples = write(tmp_path, samples_document([record(StartPath.LAUNCH, 140.0, 30.0)], "f"))
    assert main(["simulate", "--trace", "sparse", "--start-samples", str(samples)]) == EXIT_OK
    assert "set boot_seconds" not in capsys.readouterr().out
