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
