"""The simulated ASG splits its launches between on-demand and spot as AWS documents.

EC2 Auto Scaling User Guide, mixed instances groups, "Scaling behavior": the on-demand base
first, then the on-demand percentage of the instances above it, "rounds up to the next
integer in favor of On-Demand Instances". The rows below are that page's example table,
plus the small fleet that the benchmark's 70% spot world runs most of the time.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.simulator.engine import Fleet, FleetEnvironment, on_demand_instances_wanted
from autoscaler.simulator.traces import Trace

#: (on-demand base, spot percentage, {group size: (on-demand, spot)}).
AWS_TABLE = [
    # Base 0, 60% on-demand / 40% spot.
    (0, 40, {10: (6, 4), 20: (12, 8), 30: (18, 12), 40: (24, 16)}),
    # Base 12, 0% on-demand / 100% spot above it: the base is filled first.
    (12, 100, {10: (10, 0), 20: (12, 8), 30: (12, 18), 40: (12, 28)}),
    # Base 10, 50% / 50%: at 20, 10 base + 5 on-demand + 5 spot.
    (10, 50, {10: (10, 0), 20: (15, 5), 30: (20, 10), 40: (25, 15)}),
    # 30% on-demand: the fractional on-demand instance is rounded up, so a fleet of 1 to 3
    # has one on-demand instance (not an all-spot fleet).
    (0, 70, {1: (1, 0), 2: (1, 1), 3: (1, 2), 4: (2, 2)}),
]


def _empty_trace() -> Trace:
    return Trace("empty", "no jobs", (), 600.0)


def _market_mix(fleet: Fleet) -> tuple[int, int]:
    spot = sum(1 for instance in fleet.live if instance.spot)
    return len(fleet.live) - spot, spot


@pytest.mark.parametrize(("base", "spot_percentage", "expected"), AWS_TABLE)
def test_a_fleet_grown_one_instance_at_a_time_has_aws_market_mix(
    base: int, spot_percentage: int, expected: dict[int, tuple[int, int]]
) -> None:
    env = FleetEnvironment(on_demand_base_capacity=base, spot_percentage=spot_percentage)
    fleet = Fleet(_empty_trace(), env, 1)
    seen = {}
    for size in range(1, max(expected) + 1):
        fleet.set_desired(size)
        seen[size] = _market_mix(fleet)
    assert {size: seen[size] for size in expected} == expected


@pytest.mark.parametrize(("base", "spot_percentage", "expected"), AWS_TABLE)
def test_a_fleet_grown_in_one_step_has_aws_market_mix(
    base: int, spot_percentage: int, expected: dict[int, tuple[int, int]]
) -> None:
    env = FleetEnvironment(on_demand_base_capacity=base, spot_percentage=spot_percentage)
    for size, mix in expected.items():
        fleet = Fleet(_empty_trace(), env, 1)
        fleet.set_desired(size)
        assert _market_mix(fleet) == mix, size


def test_a_replacement_after_scale_in_restores_the_on_demand_share() -> None:
    env = FleetEnvironment(on_demand_base_capacity=0, spot_percentage=70)
    fleet = Fleet(_empty_trace(), env, 1)
    fleet.set_desired(3)
    (on_demand,) = [i for i in fleet.live if not i.spot]
    fleet.terminate(on_demand.instance_id)  # no drain hook: gone at once
    assert _market_mix(fleet) == (0, 2)
    fleet.set_desired(3)
    assert _market_mix(fleet) == (1, 2)


@given(
    size=st.integers(0, 500),
    base=st.integers(0, 50),
    spot_percentage=st.integers(0, 100),
)
def test_on_demand_wanted_is_the_base_plus_the_rounded_up_share_above_it(
    size: int, base: int, spot_percentage: int
) -> None:
    above = max(0, size - base)
    exact = ceil(Fraction(above * (100 - spot_percentage), 100))
    wanted = on_demand_instances_wanted(size, base, spot_percentage)
    assert wanted == min(size, base) + exact
    assert 0 <= wanted <= size


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("spot_percentage", 101, r"spot_percentage: must be 0 to 100 \(got 101\)"),
        ("spot_percentage", -1, r"spot_percentage: must be 0 to 100 \(got -1\)"),
        ("on_demand_base_capacity", -1, r"on_demand_base_capacity: must be >= 0 \(got -1\)"),
    ],
)
def test_a_market_mix_out_of_range_is_refused_naming_the_field(
    field: str, value: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        FleetEnvironment(**{field: value})  # type: ignore[arg-type]
