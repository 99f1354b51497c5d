"""The offline oracle: knows every arrival and every job's GPU time in advance.

It launches each instance exactly boot + model load (the environment's medians) before the
job that needs it, keeps an instance through an idle gap only when the gap is shorter than
a fresh launch would cost, and may delay a job up to ``max_wait`` seconds when that lets
an instance that is already paid for take it. Spot interruptions do not touch it. With
``max_wait = 0`` no job waits; with ``max_wait`` = another policy's p95 wait it is the
cheapest way we know to give every job that wait, i.e. the cost floor "at the same p95".

Jobs are placed greedily in arrival order (cheapest placement first, then least wait):
a tight lower bound in practice, not a proven optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.simulator.engine import MIN_BILLED_SECONDS, FleetEnvironment
from autoscaler.simulator.traces import Trace


@dataclass
class _Machine:
    segment_start: float  # launch time of the current billed segment
    free_at: float


@dataclass(frozen=True)
class OracleResult:
    waits: list[float]
    billed_seconds: float
    busy_seconds: float
    launches: int


def plan(trace: Trace, environment: FleetEnvironment, max_wait: float = 0.0) -> OracleResult:
    warmup = environment.warmup_seconds
    machines: list[_Machine] = []
    closed: list[float] = []
    waits: list[float] = []
    busy = 0.0
    launches = 0
    for job in trace.jobs:
        arrival, service = job.arrival, job.service
        best: tuple[float, float, int] | None = None  # (cost, wait, index)
        for index, machine in enumerate(machines):
            if machine.free_at > arrival + max_wait:
                continue
            gap = max(0.0, arrival - machine.free_at)
            if gap >= warmup:
                continue  # cheaper to stop it and launch again later
            wait = max(0.0, machine.free_at - arrival)
            candidate = (gap, wait, index)
            if best is None or candidate < best:
                best = candidate
        if best is None:
            # A machine idle for longer than a launch costs was stopped: relaunch it.
            stale = [(i, m) for i, m in enumerate(machines) if m.free_at <= arrival - warmup]
            if stale:
                index, machine = max(stale, key=lambda pair: pair[1].free_at)
                closed.append(max(MIN_BILLED_SECONDS, machine.free_at - machine.segment_start))
                machine.segment_start = arrival - warmup
            else:
                machines.append(_Machine(segment_start=arrival - warmup, free_at=arrival))
                index = len(machines) - 1
            launches += 1
            start = arrival
        else:
            index = best[2]
            start = max(arrival, machines[index].free_at)
        machines[index].free_at = start + service
        waits.append(start - arrival)
        busy += service
    for machine in machines:
        closed.append(max(MIN_BILLED_SECONDS, machine.free_at - machine.segment_start))
    return OracleResult(sorted(waits), sum(closed), busy, launches)
