"""The broken-boot scenario: instances whose worker never starts, with and without the boot
deadline (autoscaler/simulator/broken_boot.py), on a short trace."""

from __future__ import annotations

from autoscaler.simulator.broken_boot import run
from autoscaler.simulator.compare import Scenario
from autoscaler.simulator.traces import poisson

TRACE = poisson(rate=0.2, duration=3 * 3600.0, seed=11, median=6.0, sigma=0.3)
DEADLINE = 600.0


def test_without_the_deadline_a_broken_boot_is_billed_for_the_whole_trace() -> None:
    row = run(TRACE, 11, 1.0, 0.0, Scenario())
    assert row.broken_launches >= 1 and row.replaced == 0
    assert row.stats.jobs_unfinished == row.stats.jobs  # no worker ever ran a job
    # Every broken instance stays: billed from its launch to the end of the trace.
    assert row.window_gpu_hours >= row.broken_launches * (TRACE.duration - 300) / 3600


def test_the_deadline_replaces_broken_boots_and_the_jobs_get_done() -> None:
    without = run(TRACE, 11, 0.3, 0.0, Scenario())
    with_deadline = run(TRACE, 11, 0.3, DEADLINE, Scenario())
    assert with_deadline.replaced >= 1
    assert with_deadline.replaced <= with_deadline.broken_launches
    done = with_deadline.stats.jobs - with_deadline.stats.jobs_unfinished
    assert done == with_deadline.stats.jobs
    assert with_deadline.window_gpu_hours < without.window_gpu_hours


def test_healthy_boots_are_never_replaced() -> None:
    row = run(TRACE, 11, 0.0, DEADLINE, Scenario())
    assert row.replaced == 0 and row.broken_launches == 0
    assert row.stats.jobs_unfinished == 0


def test_the_readme_and_docs_quote_the_committed_result() -> None:
    """README and docs/scaling.md figures are the means of benchmarks/results/broken_boot.json."""
    import json
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    rows = json.loads((repo / "benchmarks/results/broken_boot.json").read_text())["rows"]

    def mean_hours(share: float, deadline: float) -> str:
        chosen = [
            r
            for r in rows
            if r["trace"] == "diurnal"
            and r["broken_share"] == share
            and r["deadline_seconds"] == deadline
        ]
        assert len(chosen) == 3
        return f"{sum(r['window_gpu_hours'] for r in chosen) / 3:.1f}"

    def done_share(share: float, deadline: float) -> str:
        chosen = [
            r
            for r in rows
            if r["trace"] == "diurnal"
            and r["broken_share"] == share
            and r["deadline_seconds"] == deadline
        ]
        done = sum(r["jobs"] - r["jobs_unfinished"] - r["jobs_lost"] for r in chosen)
        return f"{done / sum(r['jobs'] for r in chosen):.0%}"

    readme = " ".join((repo / "README.md").read_text().split())
    expected = (
        f"{mean_hours(0.2, 0.0)} GPU-hours and {done_share(0.2, 0.0)} of jobs done without the "
        f"deadline, {mean_hours(0.2, 600.0)} and {done_share(0.2, 600.0)} with it "
        f"({mean_hours(0.0, 0.0)} with no broken boot)"
    )
    assert expected in readme
    scaling = (repo / "docs/scaling.md").read_text()
    assert f"| diurnal | 20% | none | {mean_hours(0.2, 0.0)} | {done_share(0.2, 0.0)} |" in scaling
    assert f"| diurnal | 20% | 600 s | {mean_hours(0.2, 600.0)} |" in scaling
