"""Queueing theory the simulator is checked against."""

from __future__ import annotations

import math


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (offered load a = lambda / mu)."""
    if servers <= 0 or offered_load < 0:
        raise ValueError(
            f"servers must be > 0 and offered_load >= 0 (got {servers}, {offered_load})"
        )
    if offered_load >= servers:
        return 1.0
    term, total = 1.0, 1.0
    for k in range(1, servers):
        term *= offered_load / k
        total += term
    last = term * offered_load / servers
    top = last * servers / (servers - offered_load)
    return top / (total + top)


def mmc_mean_wait(servers: int, arrival_rate: float, mean_service: float) -> float:
    """Mean queueing delay (before service starts) in an M/M/c queue."""
    offered = arrival_rate * mean_service
    if offered >= servers:
        return math.inf
    return erlang_c(servers, offered) * mean_service / (servers - offered)
