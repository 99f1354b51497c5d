"""The scaler benchmark on a fleet's measured starts (``--start-samples``): every part's
world (built-in, prod, warm pool) draws its boots from the file, and the committed results,
which describe the estimated boots, are not overwritten."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from autoscaler.simulator.start_samples import StartSamples, load_start_samples
from benchmarks.scaler import run
from benchmarks.scaler.run import Task, run_task, warm_pool_record

#: Starts far slower than the benchmark's estimates (75 s + 20 s launch, 25 s + 25 s resume).
SLOW_STARTS: dict[str, Any] = {
    "version": 1,
    "paths": {"launch": [[280.0, 20.0]], "resume": [[200.0, 20.0]]},
}


@pytest.fixture()
def slow_starts(tmp_path: Path) -> StartSamples:
    path = tmp_path / "starts.json"
    path.write_text(json.dumps(SLOW_STARTS))
    return load_start_samples(path)


def ours_web_p95(record: dict[str, Any]) -> float:
    (ours,) = (p for p in record["policies"] if p["policy"] == "ours")
    return float(ours["interactive_p95_wait"])


@pytest.mark.parametrize("part", ["built-in", "prod"])
def test_measured_starts_set_the_boots_of_each_part(part: str, slow_starts: StartSamples) -> None:
    _, estimated, _ = run_task(Task(part, "sparse", 1, quick=True))
    _, measured, _ = run_task(Task(part, "sparse", 1, quick=True, start_samples=slow_starts))
    # Each lone job of sparse waits a whole start: 300 s measured, ~95-100 s estimated.
    assert ours_web_p95(measured) > ours_web_p95(estimated) + 150


def test_measured_resumes_set_the_warm_pool_worlds(slow_starts: StartSamples) -> None:
    def waits(record: dict[str, Any]) -> dict[str, float]:
        return {w["world"]: w["interactive_p95_wait"] for w in record["worlds"]}

    estimated = waits(warm_pool_record(Task("warm-pool", "sparse", 1, quick=True)))
    measured = waits(
        warm_pool_record(Task("warm-pool", "sparse", 1, quick=True, start_samples=slow_starts))
    )
    # A 220 s resume instead of ~50 s.
    assert measured["on-demand, warm pool"] > estimated["on-demand, warm pool"] + 100


def test_a_bad_samples_file_stops_the_run_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scaler"
    missing = tmp_path / "no-such.json"
    assert run.main(["--quick", "--start-samples", str(missing), "--out", str(out)]) == 2
    assert f"start samples {missing}: cannot read it" in " ".join(capsys.readouterr().out.split())
    assert not out.with_suffix(".json").exists()


def test_only_a_full_run_on_the_estimated_boots_writes_the_committed_results() -> None:
    assert run.default_out(False, measured=False) == run.RESULTS / "scaler"
    assert run.default_out(False, measured=True) == run.RESULTS / "scaler-start-samples"
    assert run.default_out(True, measured=False) == run.RESULTS / "scaler-quick"
    assert run.default_out(True, measured=True) == run.RESULTS / "scaler-start-samples-quick"
