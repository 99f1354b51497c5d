"""The simulator against M/M/c theory: a static fleet on a long Poisson run."""

from __future__ import annotations

import math
import statistics

from autoscaler.simulator.engine import Fleet, FleetEnvironment
from autoscaler.simulator.scalers import StaticScaler
from autoscaler.simulator.theory import erlang_c, mmc_mean_wait
from autoscaler.simulator.traces import poisson

SERVERS = 4
MEAN_SERVICE = 1.0
ARRIVAL_RATE = 2.8  # utilization 0.7: queues form often, the run is not ruled by rare spikes
DURATION = 40_000.0  # ~112,000 jobs per replication
SEEDS = (21, 22, 23, 24)
BATCHES = 20


def test_erlang_c_known_values() -> None:
    # Textbook: c = 2, a = 1 -> C = 1/3; c = 1 -> C = rho.
    assert math.isclose(erlang_c(2, 1.0), 1 / 3, rel_tol=1e-12)
    assert math.isclose(erlang_c(1, 0.6), 0.6, rel_tol=1e-12)
    assert erlang_c(3, 3.0) == 1.0


def test_static_fleet_matches_mmc_mean_wait_within_5_percent() -> None:
    """Independent replications, each cut into batches, give the mean and its interval."""
    means: list[float] = []
    jobs = 0
    service_total = 0.0
    for seed in SEEDS:
        trace = poisson(ARRIVAL_RATE, DURATION, seed=seed, median=MEAN_SERVICE, exponential=True)
        result = Fleet(trace, FleetEnvironment(spot_percentage=0), seed=seed).run(
            StaticScaler(SERVERS)
        )
        waits = [j.start - j.arrival for j in result.jobs if j.start is not None]
        assert len(waits) == len(trace.jobs)
        jobs += len(trace.jobs)
        service_total += sum(j.service for j in trace.jobs)
        # Drop the first 2% (the empty-system start), then batch means.
        steady = waits[len(waits) // 50 :]
        size = len(steady) // BATCHES
        means += [statistics.fmean(steady[b * size : (b + 1) * size]) for b in range(BATCHES)]
    simulated = statistics.fmean(means)
    half_width = 1.99 * statistics.stdev(means) / math.sqrt(len(means))  # t(0.975, ~80)
    theory = mmc_mean_wait(SERVERS, jobs / (DURATION * len(SEEDS)), service_total / jobs)
    # The runs are long enough that their own 95% interval is tighter than the 5% goal...
    assert half_width < 0.05 * theory, (simulated, half_width, theory)
    # ...and theory lies within 5% of the simulated mean.
    assert abs(simulated - theory) <= 0.05 * theory, (simulated, theory)
