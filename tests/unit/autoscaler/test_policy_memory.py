"""The policy's memory: its tag encoding, and the learned keep-warm decision."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Final

from hypothesis import example, given
from hypothesis import strategies as st

from autoscaler.policy import (
    Decision,
    InstanceState,
    InstanceView,
    Memory,
    Observation,
    PolicyConfig,
    decide,
    keep_warm_seconds,
)

NOW = 1_800_000_000.0


#: ``to_compact`` keeps one decimal: a value comes back within half a step of 0.1, plus the
#: float error of a decimal that has no exact binary form (0.75 -> "0.8" is 0.05000000000000004
#: away): two units in the last place of the larger value.
HALF_STEP: Final = 0.05


@given(
    st.none() | st.floats(0, 2e9),
    st.none() | st.floats(0, 2e9),
    st.none() | st.floats(1, 1e6),
    st.lists(st.tuples(st.integers(0, 2_000_000_000), st.integers(0, 1000)), max_size=9),
    st.none() | st.floats(0, 1000),
    st.none() | st.integers(0, 10**9),
    st.none() | st.floats(0, 10_000),
)
@example(0.75, 0.75, 1.05, [], None, None, None)
@example(1.05, 12.35, 0.25, [(0, 1)], 3.14159, 12, 1.2345)
@example(0.65, None, None, [], 0.0, 0, 0.0)
def test_memory_round_trips_within_a_tag_value(
    last: float | None,
    seen: float | None,
    gap: float | None,
    peaks: list[tuple[int, int]],
    load: float | None,
    total: int | None,
    rate: float | None,
) -> None:
    memory = Memory(last, seen, gap, tuple((float(s), n) for s, n in peaks), load, total, rate)
    text = memory.to_compact()
    assert len(text) <= 256
    back = Memory.from_compact(text)
    assert back.peaks == memory.peaks
    assert back.total == total
    assert (back.rate is None) == (rate is None)
    if back.rate is not None and rate is not None:
        assert abs(back.rate - rate) <= 0.0005 + 2 * math.ulp(max(abs(rate), 1.0))
    assert (back.load is None) == (load is None)
    if back.load is not None and load is not None:
        assert abs(back.load - load) <= 0.005 + 2 * math.ulp(max(abs(load), 1.0))
    for a, b in ((back.last_work_at, last), (back.last_seen, seen), (back.typical_gap, gap)):
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert abs(a - b) <= HALF_STEP + 2 * math.ulp(max(abs(a), abs(b)))


def test_unreadable_memory_is_no_memory() -> None:
    assert Memory.from_compact("garbage here") == Memory()
    assert Memory.from_compact(None) == Memory()


def _step(t: float, work: bool, memory: Memory, config: PolicyConfig, idle_since: float):
    views = (
        (InstanceView("i-1", InstanceState.BUSY),)
        if work
        else (InstanceView("i-1", InstanceState.IDLE, idle_since=idle_since),)
    )
    return decide(
        Observation(now=t, visible=0, in_flight=int(work), desired_capacity=1, instances=views),
        memory,
        config,
    )


def test_rare_work_is_not_kept_warm_but_frequent_work_is() -> None:
    config = PolicyConfig(quiet_seconds_before_zero=120, idle_seconds_before_scale_in=60)
    # Work, then an hour of quiet, then work again: the gap is learned.
    memory = _step(NOW, True, Memory(), config, NOW).memory
    memory = _step(NOW + 30, False, memory, config, NOW + 10).memory
    memory = _step(NOW + 3600, True, memory, config, NOW).memory
    assert memory.typical_gap is not None and memory.typical_gap > 3000
    # Now idle for 20 s: removed at once instead of after 120 s.
    decision = _step(NOW + 3620, False, memory, config, NOW + 3605)
    assert decision.terminate == ("i-1",) and decision.desired_capacity == 0

    # Gaps of 40 s: the last worker is kept warm for 10 typical gaps (400 s), beyond the
    # 120 s quiet time, so that a longer lull in the trickle does not meet a cold start.
    memory = Memory()
    t = NOW
    for _ in range(5):
        memory = _step(t, True, memory, config, t).memory
        memory = _step(t + 20, False, memory, config, t + 5).memory
        t += 40
    assert memory.typical_gap is not None and 39 < memory.typical_gap < 41
    last_work = t - 40
    held = _step(last_work + 350, False, memory, config, t - 35)
    assert held.terminate == () and held.desired_capacity == 1
    gone = _step(last_work + 410, False, held.memory, config, t - 35)
    assert gone.desired_capacity == 0


def test_keep_warm_covers_the_gaps_unless_work_is_too_rare_to_pay() -> None:
    assert keep_warm_seconds(None, 120) == 120
    assert keep_warm_seconds(5, 120) == 120
    assert keep_warm_seconds(60, 120) == 600
    assert keep_warm_seconds(120, 120) == 1200
    assert keep_warm_seconds(121, 120) == 0


def _three_busy_one_idle(now: float) -> Observation:
    busy = tuple(InstanceView(f"i-{n}", InstanceState.BUSY) for n in range(3))
    idle = InstanceView("i-3", InstanceState.IDLE, idle_since=now - 30)
    return Observation(now=now, visible=0, in_flight=3, desired_capacity=4, instances=(*busy, idle))


def test_scale_in_holds_the_smoothed_load_not_the_busy_workers_of_the_moment() -> None:
    config = PolicyConfig(max_capacity=10)
    # 3.1 busy GPUs on average: 3 workers are held and the idle fourth goes.
    low = decide(
        _three_busy_one_idle(NOW), Memory(last_work_at=NOW - 5, last_seen=NOW - 5, load=3.1), config
    )
    assert low.terminate == ("i-3",) and low.desired_capacity == 3
    assert low.memory.load is not None and 3.0 < low.memory.load < 3.1
    # 3.4 on average: the fourth is kept although only 3 are busy right now.
    high = decide(
        _three_busy_one_idle(NOW), Memory(last_work_at=NOW - 5, last_seen=NOW - 5, load=3.4), config
    )
    assert high.terminate == () and high.desired_capacity == 4


def test_a_booting_worker_counts_toward_draining_the_backlog() -> None:
    config = PolicyConfig(max_capacity=10, target_wait_seconds=60, default_seconds_per_job=6)
    booting = tuple(InstanceView(f"i-{n}", InstanceState.PENDING) for n in range(2))
    observation = Observation(
        now=NOW, visible=25, in_flight=0, desired_capacity=2, instances=booting
    )
    # Two booting workers will absorb 2 x 0.5 x 0.75 x 60 s / 6 s = 7.5 of the 25 jobs: the
    # remaining 17.5 need 1.75 workers, which the two cover; counted as nothing, 25 would need 3.
    assert decide(observation, Memory(), config).desired_capacity == 2
    observation = Observation(
        now=NOW, visible=40, in_flight=0, desired_capacity=2, instances=booting
    )
    assert decide(observation, Memory(), config).desired_capacity == 4


def _burst(now: float, visible: int, memory: Memory) -> Decision:
    ready = InstanceView("i-0", InstanceState.BUSY)
    observation = Observation(
        now=now, visible=visible, in_flight=1, desired_capacity=1, instances=(ready,)
    )
    return decide(observation, memory, PolicyConfig(max_capacity=20, max_step=20))


def test_a_burst_is_met_with_workers_for_its_whole_arrival_rate() -> None:
    # One busy worker; jobs arrive at 1.5/s (6 s each: 9 workers' worth), the queue grows.
    memory = _burst(NOW, 0, Memory()).memory
    memory = _burst(NOW + 4, 6, memory).memory
    burst = _burst(NOW + 8, 12, memory)
    assert burst.memory.rate is not None and 1.2 < burst.memory.rate < 1.8
    # The backlog alone (12 jobs, 7.5 absorbed by the ready worker) asks for 1 more; the
    # arrival rate asks for its 8-11.
    assert burst.desired_capacity >= 8
    # The same backlog with no trend (a queue that stands still) launches for the backlog only.
    still = _burst(NOW + 8, 12, replace(memory, total=13, rate=0.0))
    assert still.desired_capacity <= 2


def test_one_message_moments_after_the_last_decision_is_not_a_burst() -> None:
    memory = decide(
        Observation(now=NOW, visible=0, in_flight=0, desired_capacity=0), Memory(), PolicyConfig()
    ).memory
    soon = Observation(now=NOW + 0.2, visible=1, in_flight=0, desired_capacity=0)
    assert decide(soon, memory, PolicyConfig()).desired_capacity == 1
