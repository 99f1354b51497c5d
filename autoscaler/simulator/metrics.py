"""Turns a run into the figures SREs compare: waits, billed GPU-hours, dollars, idle share."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from autoscaler.simulator.engine import MIN_BILLED_SECONDS, FleetEnvironment, RunResult
from autoscaler.simulator.oracle import OracleResult
from autoscaler.simulator.traces import BATCH, INTERACTIVE, TRAINING, Trace


def busy_hours_bound(trace: Trace) -> float:
    """A proven lower bound on the GPU-hours of any policy that runs every job of ``trace``.

    Each job occupies one GPU for its GPU time, a GPU runs one job at a time, and every
    second a GPU runs a job is a billed second; so billed GPU-seconds >= the sum of the
    jobs' GPU times, whatever the policy, the waits or the boot times.
    """
    return sum(j.service for j in trace.jobs) / 3600.0


@dataclass(frozen=True)
class PolicyStats:
    policy: str
    trace: str
    jobs: int
    p50_wait: float
    p95_wait: float
    p99_wait: float
    max_wait: float
    mean_wait: float
    gpu_hours: float
    dollars: float
    idle_share: float
    launches: int
    jobs_lost: int
    jobs_unfinished: int
    #: The SLO lane: the wait web users feel.
    interactive_p95_wait: float = 0.0
    #: The batch lane is reported as completion: last batch job done - first batch arrival.
    batch_p95_wait: float = 0.0
    batch_completion_seconds: float = 0.0
    #: How long trainings waited for a worker (0 on a trace without trainings).
    training_p95_wait: float = 0.0
    #: Workers killed with a job in hand (the job reruns after its visibility timeout).
    busy_killed: int = 0

    def as_dict(self) -> dict[str, float | int | str]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _blended_price(env: FleetEnvironment) -> float:
    share = env.spot_percentage / 100.0
    return share * env.spot_hourly_price + (1 - share) * env.on_demand_hourly_price


def summarize(result: RunResult) -> PolicyStats:
    waits = result.waits
    billed = busy = dollars = 0.0
    for instance in result.instances:
        ended = instance.ended if instance.ended is not None else result.end
        seconds = max(MIN_BILLED_SECONDS, ended - instance.launched)
        billed += seconds
        busy += instance.busy_seconds
        price = (
            result.environment.spot_hourly_price
            if instance.spot
            else result.environment.on_demand_hourly_price
        )
        dollars += seconds / 3600.0 * price
    env = result.environment
    # Warm pool: warming up is billed running time (on-demand: AWS has no spot warm pools);
    # stopped, only the EBS volume is billed.
    billed += result.pool_billed_seconds
    dollars += result.pool_billed_seconds / 3600.0 * env.on_demand_hourly_price
    dollars += result.pool_stopped_seconds / 3600.0 * env.stopped_hourly_price
    lost = sum(1 for j in result.jobs if j.lost)
    unfinished = sum(1 for j in result.jobs if j.done is None and not j.lost)
    batch = [j for j in result.jobs if j.lane is BATCH]
    batch_done = [j.done for j in batch if j.done is not None]
    return PolicyStats(
        policy=result.policy,
        trace=result.trace,
        jobs=len(result.jobs),
        p50_wait=percentile(waits, 50),
        p95_wait=percentile(waits, 95),
        p99_wait=percentile(waits, 99),
        max_wait=waits[-1] if waits else 0.0,
        mean_wait=sum(waits) / len(waits) if waits else 0.0,
        gpu_hours=billed / 3600.0,
        dollars=dollars,
        idle_share=1 - busy / billed if billed else 0.0,
        launches=len(result.instances),
        jobs_lost=lost,
        jobs_unfinished=unfinished,
        interactive_p95_wait=percentile(result.lane_waits(INTERACTIVE), 95),
        batch_p95_wait=percentile(result.lane_waits(BATCH), 95),
        batch_completion_seconds=(
            max(batch_done) - min(j.arrival for j in batch) if batch_done else 0.0
        ),
        busy_killed=sum(1 for i in result.instances if i.killed_busy),
        training_p95_wait=percentile(result.lane_waits(TRAINING), 95),
    )


def summarize_oracle(
    oracle: OracleResult, trace: str, env: FleetEnvironment, name: str = "oracle"
) -> PolicyStats:
    waits = oracle.waits
    hours = oracle.billed_seconds / 3600.0
    return PolicyStats(
        policy=name,
        trace=trace,
        jobs=len(waits),
        p50_wait=percentile(waits, 50),
        p95_wait=percentile(waits, 95),
        p99_wait=percentile(waits, 99),
        max_wait=waits[-1] if waits else 0.0,
        mean_wait=sum(waits) / len(waits) if waits else 0.0,
        gpu_hours=hours,
        dollars=hours * _blended_price(env),
        idle_share=1 - oracle.busy_seconds / oracle.billed_seconds if oracle.billed_seconds else 0,
        launches=oracle.launches,
        jobs_lost=0,
        jobs_unfinished=0,
    )
