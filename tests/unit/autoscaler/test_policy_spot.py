"""Spot-aware scale-in: idle on-demand instances go before idle spot ones, and a spot removal
waits for an on-demand worker that is about to be idle."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.policy import (
    MIN_IDLE_BEFORE_REMOVAL_SECONDS,
    SPOT_WAIT_SECONDS,
    InstanceState,
    InstanceView,
    Memory,
    Observation,
    PolicyConfig,
    decide,
)
from tests.support.hypothesis_profiles import examples

NOW = 1_800_000_000.0
#: Idle long enough to be removed, not so long that it stops waiting for on-demand.
JUST_REMOVABLE = MIN_IDLE_BEFORE_REMOVAL_SECONDS + SPOT_WAIT_SECONDS / 2
#: A config whose scale-in window has passed: the fleet shrinks to the load at once.
CONFIG = PolicyConfig(idle_seconds_before_scale_in=0, quiet_seconds_before_zero=3600)


def idle(instance_id: str, spot: bool | None, idle_for: float = 300.0) -> InstanceView:
    return InstanceView(instance_id, InstanceState.IDLE, NOW - idle_for, 6.0, True, spot)


def busy(instance_id: str, spot: bool | None) -> InstanceView:
    return InstanceView(instance_id, InstanceState.BUSY, None, 6.0, True, spot)


def observe(*views: InstanceView, in_flight: int = 0) -> Observation:
    return Observation(NOW, 0, in_flight, len(views), views)


def recent_work() -> Memory:
    """Work seen a moment ago: not quiet, so the fleet keeps its warm worker."""
    return Memory(last_work_at=NOW - 1, last_seen=NOW - 12, load=0.0)


def test_scale_in_removes_the_idle_on_demand_instance_though_the_spot_one_idled_longer() -> None:
    decision = decide(
        observe(idle("i-spot", True, idle_for=900), idle("i-od", False, idle_for=60)),
        recent_work(),
        CONFIG,
    )
    assert decision.terminate == ("i-od",)
    assert decision.desired_capacity == 1


def test_unknown_markets_keep_the_longest_idle_first_order() -> None:
    decision = decide(
        observe(idle("i-a", None, idle_for=60), idle("i-b", None, idle_for=900)),
        recent_work(),
        CONFIG,
    )
    assert decision.terminate == ("i-b",)


def test_a_spot_removal_waits_for_a_busy_on_demand_worker() -> None:
    # Load 1 (one busy): of the two idle spot workers one is surplus now, the busy
    # on-demand worker is surplus once it is idle: only one spot worker goes now.
    decision = decide(
        observe(
            idle("i-s1", True, JUST_REMOVABLE + 1),
            idle("i-s2", True, JUST_REMOVABLE),
            busy("i-od", False),
            in_flight=1,
        ),
        Memory(last_work_at=NOW, last_seen=NOW - 12, load=1.0),
        CONFIG,
    )
    assert decision.terminate == ("i-s1",)


def test_a_spot_instance_waits_no_longer_than_the_spot_wait() -> None:
    long_idle = MIN_IDLE_BEFORE_REMOVAL_SECONDS + SPOT_WAIT_SECONDS + 1
    decision = decide(
        observe(idle("i-spot", True, long_idle), busy("i-od", False), in_flight=1),
        Memory(last_work_at=NOW, last_seen=NOW - 12, load=1.0),
        CONFIG,
    )
    assert decision.terminate == ("i-spot",)


def test_a_spot_removal_waits_for_an_on_demand_worker_idle_too_briefly() -> None:
    fresh = idle("i-od", False, idle_for=MIN_IDLE_BEFORE_REMOVAL_SECONDS / 2)
    decision = decide(observe(idle("i-spot", True, JUST_REMOVABLE), fresh), recent_work(), CONFIG)
    assert decision.terminate == ()
    assert decision.desired_capacity == 2


def test_quiet_scale_in_to_zero_does_not_wait() -> None:
    quiet = Memory(last_work_at=NOW - 7200, last_seen=NOW - 12, load=0.0)
    config = PolicyConfig(idle_seconds_before_scale_in=0, quiet_seconds_before_zero=60)
    fresh = idle("i-od", False, idle_for=MIN_IDLE_BEFORE_REMOVAL_SECONDS / 2)
    decision = decide(observe(idle("i-spot", True, JUST_REMOVABLE), fresh), quiet, config)
    assert decision.terminate == ("i-spot",)


@settings(max_examples=examples(200), deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.floats(MIN_IDLE_BEFORE_REMOVAL_SECONDS, 7200)),
        min_size=1,
        max_size=12,
    )
)
def test_no_spot_instance_is_removed_while_an_idle_on_demand_one_stays(
    fleet: list[tuple[bool, float]],
) -> None:
    views = tuple(idle(f"i-{n:03d}", spot, idle_for) for n, (spot, idle_for) in enumerate(fleet))
    decision = decide(observe(*views), recent_work(), CONFIG)
    removed = set(decision.terminate)
    kept_on_demand = [v for v in views if v.spot is False and v.instance_id not in removed]
    removed_spot = [v for v in views if v.spot is True and v.instance_id in removed]
    assert not (kept_on_demand and removed_spot)


def spot_beside_a_busy_on_demand_worker(spot_idle_for: float) -> tuple[str, ...]:
    """What scale-in removes from an idle spot worker and a busy on-demand one (load 1)."""
    decision = decide(
        observe(idle("i-spot", True, spot_idle_for), busy("i-od", False), in_flight=1),
        Memory(last_work_at=NOW, last_seen=NOW - 12, load=1.0),
        CONFIG,
    )
    return decision.terminate


def test_the_spot_wait_is_about_one_sample() -> None:
    """The measured setting (see ``SPOT_WAIT_SECONDS``): a spot worker idle 12 s waits one
    more sample for the busy on-demand one; at 13 s it goes. A 10 s wait held it until 20 s
    and put steady past 1.3x the busy-time bound on 5 of 8 training seeds."""
    assert spot_beside_a_busy_on_demand_worker(12.0) == ()
    assert spot_beside_a_busy_on_demand_worker(13.0) == ("i-spot",)
    assert spot_beside_a_busy_on_demand_worker(15.0) == ("i-spot",)
