"""What the policy decides, and reports, for given observations, memory and settings.

Each decision's document (``Decision.as_dict``) is what the scaler handler logs and returns
for every sample; the memory's compact form is the ASG tag the next invocation reads.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

import pytest

from autoscaler.policy import (
    MEMORY_BUCKETS,
    MIN_GAP_SECONDS,
    MIN_IDLE_BEFORE_REMOVAL_SECONDS,
    MIN_VARIATION_SAMPLES,
    SPOT_WAIT_SECONDS,
    VARIATION_HEADROOM,
    Decision,
    InstanceState,
    InstanceView,
    Memory,
    Observation,
    PolicyConfig,
    decide,
    job_time_variation,
    seconds_per_job,
    variation_headroom,
    workers_to_hold,
)
from sdfleet.messages import Lane
from sdfleet.settings import ScalerSettings

#: A multiple of every bucket length used below (7.5 s, 75 s, 1 s), so buckets start on it.
NOW = 1_800_000_000.0
#: Long enough idle to be removable, and past any spot wait.
LONG_IDLE = 300.0
#: Idle long enough to be removable, and still inside the spot wait (a spot worker idle this long
#: would wait for an on-demand worker about to be idle).
IN_SPOT_WAIT = MIN_IDLE_BEFORE_REMOVAL_SECONDS + SPOT_WAIT_SECONDS / 2


def idle(
    instance_id: str,
    idle_for: float = LONG_IDLE,
    *,
    spot: bool | None = None,
    per_job: float | None = None,
    now: float = NOW,
) -> InstanceView:
    return InstanceView(instance_id, InstanceState.IDLE, now - idle_for, per_job, True, spot)


def busy(
    instance_id: str, *, spot: bool | None = None, per_job: float | None = None
) -> InstanceView:
    return InstanceView(instance_id, InstanceState.BUSY, None, per_job, True, spot)


def pending(instance_id: str) -> InstanceView:
    return InstanceView(instance_id, InstanceState.PENDING)


def observe(
    *views: InstanceView,
    visible: int = 0,
    in_flight: int = 0,
    trainings_visible: int = 0,
    now: float = NOW,
) -> Observation:
    """A sample whose ASG wants exactly the instances given (none leaving)."""
    return Observation(
        now=now,
        visible=visible + trainings_visible,
        in_flight=in_flight,
        desired_capacity=len(views),
        instances=views,
        visible_by_lane={Lane.INTERACTIVE: visible, Lane.TRAINING: trainings_visible},
    )


def working(load: float) -> Memory:
    """Work seen at the last sample (4 s ago, the handler's spacing) at this smoothed load."""
    return Memory(last_work_at=NOW - 4, last_seen=NOW - 4, load=load)


def quiet_for(seconds: float) -> Memory:
    """No work for ``seconds``, sampled until 4 s ago."""
    return Memory(last_work_at=NOW - seconds, last_seen=NOW - 4, load=0.0)


# --- the document each decision logs --------------------------------------------------------


def test_a_scale_out_reports_the_workers_launched_the_need_and_the_measured_job_time() -> None:
    # One worker busy at 6.12345 s a job; 30 queued. It absorbs 0.75 x 60 / 6.12345 = 7.3 of
    # them; the other 22.7 take 2.3 workers more within the 60 s target: 4 in all.
    config = PolicyConfig(max_capacity=10, target_wait_seconds=60, backlog_tolerance=0.75)
    decision = decide(
        observe(busy("i-0", per_job=6.12345), visible=30, in_flight=1), Memory(), config
    )
    assert decision.as_dict() == {
        "desired_capacity": 4,
        "terminate": [],
        "need": 4,
        "seconds_per_job": 6.123,
        "reason": "scale-out",
    }


def test_a_fleet_at_its_load_holds() -> None:
    decision = decide(observe(busy("i-0"), busy("i-1"), in_flight=2), working(2.0), PolicyConfig())
    assert decision.as_dict() == {
        "desired_capacity": 2,
        "terminate": [],
        "need": 2,
        "seconds_per_job": PolicyConfig().default_seconds_per_job,
        "reason": "hold",
    }


def test_a_surplus_of_workers_all_busy_or_idle_too_briefly_is_held() -> None:
    # The job in flight holds one worker; the second is surplus but idle for only 5 s, which
    # may be the moment between two of its jobs.
    decision = decide(
        observe(busy("i-0", per_job=7.5), idle("i-1", idle_for=5), in_flight=1),
        working(0.0),
        PolicyConfig(),
    )
    assert decision.as_dict() == {
        "desired_capacity": 2,
        "terminate": [],
        "need": 1,
        "seconds_per_job": 7.5,
        "reason": "hold-busy",
    }
    assert decision.memory.last_seen == NOW


def test_a_scale_in_reports_the_idle_worker_it_removes() -> None:
    decision = decide(
        observe(busy("i-0", per_job=7.5), idle("i-1", idle_for=30), in_flight=1),
        working(1.0),
        PolicyConfig(),
    )
    assert decision.as_dict() == {
        "desired_capacity": 1,
        "terminate": ["i-1"],
        "need": 1,
        "seconds_per_job": 7.5,
        "reason": "scale-in",
    }


def test_after_the_quiet_time_the_last_worker_goes_as_quiet() -> None:
    decision = decide(observe(idle("i-0")), quiet_for(600), PolicyConfig(min_capacity=0))
    assert decision.as_dict() == {
        "desired_capacity": 0,
        "terminate": ["i-0"],
        "need": 0,
        "seconds_per_job": PolicyConfig().default_seconds_per_job,
        "reason": "quiet",
    }


def test_a_lowered_max_removes_idle_workers_longest_idle_first_as_above_max() -> None:
    decision = decide(
        observe(busy("i-0"), idle("i-1", idle_for=30), idle("i-2", idle_for=60), in_flight=1),
        working(1.0),
        PolicyConfig(max_capacity=1),
    )
    assert decision.as_dict() == {
        "desired_capacity": 1,
        "terminate": ["i-2", "i-1"],
        "need": 1,
        "seconds_per_job": PolicyConfig().default_seconds_per_job,
        "reason": "above-max",
    }


def test_a_fleet_at_max_capacity_still_scales_in_its_idle_workers() -> None:
    at_max = PolicyConfig(max_capacity=2)
    decision = decide(
        observe(busy("i-0"), idle("i-1", idle_for=30), in_flight=1), working(1.0), at_max
    )
    assert (decision.desired_capacity, decision.terminate, decision.reason) == (
        1,
        ("i-1",),
        "scale-in",
    )
    quiet = decide(observe(idle("i-0")), quiet_for(600), PolicyConfig(max_capacity=1))
    assert (quiet.desired_capacity, quiet.terminate, quiet.reason) == (0, ("i-0",), "quiet")


def test_at_max_capacity_a_backlog_holds_rather_than_reporting_a_scale_out() -> None:
    decision = decide(
        observe(busy("i-0"), busy("i-1"), visible=100, in_flight=2),
        working(2.0),
        PolicyConfig(max_capacity=2),
    )
    assert decision.need > 2
    assert (decision.desired_capacity, decision.terminate, decision.reason) == (2, (), "hold")


@pytest.mark.parametrize(
    "memory",
    [Memory(), Memory(last_work_at=NOW - 600, last_seen=NOW - 4, load=0.0, total=0, rate=0.0)],
    ids=["first-decision", "after-work-with-no-arrivals"],
)
def test_nothing_to_do_on_an_empty_fleet_launches_nothing(memory: Memory) -> None:
    decision = decide(Observation(NOW, 0, 0, 0), memory, PolicyConfig(min_capacity=0))
    assert (decision.desired_capacity, decision.need, decision.reason) == (0, 0, "hold")


# --- settings ---------------------------------------------------------------------------------


def test_the_policy_takes_every_knob_from_the_scaler_settings() -> None:
    knobs = {
        "min_capacity": 2,
        "max_capacity": 9,
        "target_wait_seconds": 45.0,
        "idle_seconds_before_scale_in": 30.0,
        "quiet_seconds_before_zero": 300.0,
        "max_step": 3,
        "default_seconds_per_job": 7.5,
        "training_minutes_per_job": 20.0,
        "backlog_tolerance": 0.5,
    }
    assert all(ScalerSettings.model_fields[k].default != v for k, v in knobs.items())
    settings = ScalerSettings(**knobs)  # type: ignore[arg-type]
    assert PolicyConfig.from_settings(settings) == PolicyConfig(**knobs)  # type: ignore[arg-type]


def test_a_max_below_the_min_is_refused_naming_both() -> None:
    with pytest.raises(ValueError, match=r"max_capacity: must be >= min_capacity 3 \(got 2\)"):
        PolicyConfig(min_capacity=3, max_capacity=2)
    # A fixed-size fleet is a valid setting.
    assert PolicyConfig(min_capacity=3, max_capacity=3).max_capacity == 3


# --- the job time estimate --------------------------------------------------------------------


def _reporting(*values: float | None) -> Observation:
    return observe(*(idle(f"i-{n}", per_job=v) for n, v in enumerate(values)))


@pytest.mark.parametrize(
    ("reported", "estimate"),
    [
        ((), 9.0),
        ((None, 0.0), 9.0),  # no job timed yet: nothing measured
        ((0.5,), 0.5),  # a fast model is measured too
        ((7.0, None, 3.0, 100.0), 7.0),  # the median, whatever the order; an outlier ignored
        ((100.0, 3.0, 7.0, 5.0), 6.0),  # an even count: the mean of the middle two
        ((8.0, 2.0, 100.0, 6.0, 4.0), 6.0),
    ],
)
def test_the_job_time_is_the_median_of_the_workers_measurements(
    reported: tuple[float | None, ...], estimate: float
) -> None:
    config = PolicyConfig(default_seconds_per_job=9.0)
    assert seconds_per_job(_reporting(*reported), config) == estimate


# --- what counts as work ----------------------------------------------------------------------


def test_a_queued_job_keeps_the_last_worker_after_a_long_quiet() -> None:
    # The idle worker absorbs the job at once, but it is work: the fleet is not quiet.
    decision = decide(observe(idle("i-0"), visible=1), quiet_for(3600), PolicyConfig())
    assert (decision.desired_capacity, decision.terminate, decision.need) == (1, (), 1)
    assert decision.memory.last_work_at == NOW


def test_a_job_in_flight_is_work_though_no_worker_reports_busy_yet() -> None:
    # The heartbeat that says busy is not written yet: the message in flight is the work.
    decision = decide(observe(idle("i-0"), in_flight=1), quiet_for(3600), PolicyConfig())
    assert (decision.desired_capacity, decision.terminate) == (1, ())
    assert decision.memory.last_work_at == NOW


def test_a_worker_reporting_busy_is_work_though_no_job_is_in_flight() -> None:
    # The message is deleted, the heartbeat still says busy: no quiet scale-in yet.
    decision = decide(observe(busy("i-0")), quiet_for(3600), PolicyConfig())
    assert (decision.desired_capacity, decision.reason) == (1, "hold")
    assert decision.memory.last_work_at == NOW


def test_the_last_worker_goes_exactly_when_the_quiet_time_has_passed() -> None:
    config = PolicyConfig(min_capacity=0, quiet_seconds_before_zero=120)
    kept = decide(observe(idle("i-0")), quiet_for(119), config)
    assert (kept.desired_capacity, kept.terminate) == (1, ())
    gone = decide(observe(idle("i-0")), quiet_for(120), config)
    assert (gone.desired_capacity, gone.terminate, gone.reason) == (0, ("i-0",), "quiet")


# --- what scale-in holds ----------------------------------------------------------------------


def test_the_hold_is_the_load_less_the_slack_and_at_least_one_worker_while_there_is_work() -> None:
    config = PolicyConfig()
    per_job = config.default_seconds_per_job
    nothing = observe(idle("i-0"))
    assert workers_to_hold(nothing, config, per_job, load=0.0) == 0
    assert workers_to_hold(observe(idle("i-0"), in_flight=1), config, per_job, load=0.0) == 1
    # A queued job the idle worker absorbs at once still holds that worker.
    assert workers_to_hold(observe(idle("i-0"), visible=1), config, per_job, load=0.0) == 1
    # 3.25 busy GPUs on average hold 3 workers (the slack is 0.25); a little more holds 4.
    three = observe(*(busy(f"i-{n}") for n in range(3)), in_flight=3)
    assert workers_to_hold(three, config, per_job, load=3.25) == 3
    assert workers_to_hold(three, config, per_job, load=3.26) == 4


def with_recent(view: InstanceView, durations: list[float]) -> InstanceView:
    return replace(view, recent_job_seconds=tuple(durations))


#: Ten like-sized images (C^2 ~0.01) and ten of a heavy-tailed mix: 6 s images beside 24 s
#: four-image jobs and a 2-minute batch (C^2 ~2.04).
LIKE_SIZED = [5.5, 6.0, 6.5, 6.2, 5.8, 6.1, 5.9, 6.3, 5.7, 6.0]
MIXED_SIZES = [6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 24.0, 24.0, 30.0, 120.0]


def test_job_time_variation_pools_the_workers_recent_durations() -> None:
    two = observe(with_recent(busy("i-0"), MIXED_SIZES), with_recent(busy("i-1"), LIKE_SIZED))
    pooled = MIXED_SIZES + LIKE_SIZED
    expected = statistics.pvariance(pooled) / statistics.fmean(pooled) ** 2
    assert job_time_variation(two) == pytest.approx(expected)
    # One worker's ten durations are too few to trust (MIN_VARIATION_SAMPLES is 20).
    assert MIN_VARIATION_SAMPLES == 20
    assert job_time_variation(observe(with_recent(busy("i-0"), MIXED_SIZES))) is None


def test_mixed_job_sizes_hold_headroom_and_like_sized_jobs_none() -> None:
    config = PolicyConfig()
    per_job = config.default_seconds_per_job

    def fleet(durations: list[float]) -> Observation:
        views = (with_recent(busy(f"i-{n}"), durations) for n in range(3))
        return observe(*views, in_flight=3)

    like = fleet(LIKE_SIZED)
    assert variation_headroom(like) == 0.0
    assert workers_to_hold(like, config, per_job, load=3.2) == 3
    mixed = fleet(MIXED_SIZES)
    variation = job_time_variation(mixed)
    assert variation == pytest.approx(2.044, abs=1e-3)
    assert variation is not None
    assert variation_headroom(mixed) == pytest.approx(VARIATION_HEADROOM * (variation - 1.0))
    # 3.2 busy GPUs on average hold 3 workers for like-sized jobs; the mix adds 1.04.
    assert workers_to_hold(mixed, config, per_job, load=3.2) == 4
    assert workers_to_hold(mixed, config, per_job, load=3.3) == 5
    # With nothing queued or running there is no queue to guard: no headroom.
    idle_mixed = observe(*(with_recent(idle(f"i-{n}"), MIXED_SIZES) for n in range(3)))
    assert workers_to_hold(idle_mixed, config, per_job, load=3.2) == 3


def test_scale_in_keeps_the_headroom_for_mixed_job_sizes() -> None:
    """One busy and five idle workers after a load of 3.2: like-sized jobs keep 3, the mix 4."""
    config = PolicyConfig(max_capacity=10, idle_seconds_before_scale_in=60)
    memory = replace(working(0.0), load=3.2, last_seen=NOW - 4.0)
    kept = {}
    for name, durations in (("like", LIKE_SIZED), ("mixed", MIXED_SIZES)):
        fleet = [with_recent(busy("i-0"), durations)]
        fleet += [with_recent(idle(f"i-{n}"), durations) for n in range(1, 6)]
        decision = decide(observe(*fleet, in_flight=1), memory, config)
        kept[name] = decision.desired_capacity
    assert kept == {"like": 3, "mixed": 4}


def test_queued_trainings_hold_a_worker_each_against_scale_in() -> None:
    fleet = [idle(f"i-{n}") for n in range(3)]
    decision = decide(observe(*fleet, trainings_visible=2), working(0.0), PolicyConfig())
    assert decision.desired_capacity == 2
    assert len(decision.terminate) == 1


def test_a_hold_lasts_the_scale_in_window_then_the_fleet_shrinks() -> None:
    """Four trainings queued hold the four idle workers; the queue is then purged. Sampled
    every 4 s (as the handler does), the fleet stays at 4 for the scale-in window (60 s, kept
    in 7.5 s buckets: up to one bucket longer), then shrinks to the warm worker."""
    config = PolicyConfig(
        max_capacity=10, idle_seconds_before_scale_in=60, quiet_seconds_before_zero=3600
    )
    fleet = [idle(f"i-{n}", now=NOW) for n in range(4)]
    first = decide(observe(*fleet, trainings_visible=4), Memory(), config)
    assert (first.desired_capacity, first.terminate) == (4, ())
    memory = first.memory
    # A retry at the same instant, then samples every 4 s within the window.
    for now in [NOW, *(NOW + 4 * k for k in range(1, 17))]:
        held = decide(observe(*fleet, now=now), memory, config)
        assert (held.desired_capacity, held.terminate) == (4, ()), now - NOW
        memory = held.memory
    # One window and one bucket after the hold, it is forgotten.
    later = decide(observe(*fleet, now=NOW + 67.5), memory, config)
    assert later.desired_capacity == 1
    assert later.terminate == ("i-0", "i-1", "i-2")


def test_with_no_scale_in_window_a_hold_of_a_second_ago_no_longer_holds() -> None:
    config = PolicyConfig(
        max_capacity=10, idle_seconds_before_scale_in=0, quiet_seconds_before_zero=3600
    )
    fleet = [idle(f"i-{n}") for n in range(4)]
    memory = decide(observe(*fleet, trainings_visible=4), Memory(), config).memory
    decision = decide(observe(*fleet, now=NOW + 1), memory, config)
    assert decision.desired_capacity == 1


def test_a_hold_dated_after_now_does_not_hold_the_fleet() -> None:
    # The tag was written by a clock ahead of this one (or this clock stepped back).
    memory = Memory(last_work_at=NOW - 10, last_seen=NOW - 4, peaks=((NOW + 30, 5),), load=0.0)
    fleet = [idle(f"i-{n}") for n in range(3)]
    decision = decide(observe(*fleet), memory, PolicyConfig(max_capacity=10))
    assert decision.desired_capacity == 1


def test_the_memory_keeps_the_newest_holds_that_fit_its_tag() -> None:
    # A window lengthened to 600 s finds 12 holds 4 s apart: only the newest are kept.
    config = PolicyConfig(max_capacity=10, idle_seconds_before_scale_in=600)
    remembered = tuple((NOW - 48 + 4 * k, 1) for k in range(12))
    memory = Memory(last_work_at=NOW - 4, last_seen=NOW - 4, peaks=remembered, load=1.0)
    decision = decide(observe(busy("i-0"), in_flight=1), memory, config)
    kept = MEMORY_BUCKETS + 1
    assert decision.memory.peaks == (*remembered[-(kept - 1) :], (NOW, 1))
    assert len(decision.memory.to_compact()) <= 256


# --- the learned gap between bursts of work --------------------------------------------------


def test_a_busy_stretch_is_not_learned_as_short_gaps() -> None:
    """Work an hour apart has taught that work is rare (no warm worker). Ten samples of
    continuous work after it are not ten 4-second gaps: once idle, the worker goes at once."""
    config = PolicyConfig(min_capacity=0, quiet_seconds_before_zero=120)
    memory = Memory(last_work_at=NOW - 3600, last_seen=NOW - 4, typical_gap=3600.0, load=0.0)
    for k in range(11):
        now = NOW + 4 * k
        memory = decide(observe(busy("i-0"), in_flight=1, now=now), memory, config).memory
    assert memory.typical_gap == pytest.approx(3600)
    decision = decide(observe(idle("i-0", idle_for=16, now=NOW + 60), now=NOW + 60), memory, config)
    assert (decision.desired_capacity, decision.reason) == (0, "quiet")


def test_one_long_lull_does_not_send_a_trickle_of_work_to_cold_starts() -> None:
    """Work every 40 s, then one 2000 s lull: the typical gap moves a quarter of the way (in
    logs), to 106 s, so the last worker is still kept warm 10 gaps (1064 s) after work."""
    config = PolicyConfig(min_capacity=0, quiet_seconds_before_zero=120)
    memory = Memory(last_work_at=NOW - 2000, last_seen=NOW - 4, typical_gap=40.0, load=0.0)
    memory = decide(observe(busy("i-0"), in_flight=1), memory, config).memory
    assert memory.typical_gap == pytest.approx(40**0.75 * 2000**0.25)
    later = NOW + 600
    decision = decide(observe(idle("i-0", idle_for=590, now=later), now=later), memory, config)
    assert (decision.desired_capacity, decision.terminate) == (1, ())


def test_a_lagging_count_between_jobs_is_not_learned_as_a_gap() -> None:
    """Work an hour apart. A job's count flickers to 0 for one 8 s stretch (SQS's approximate
    counts lag) before its worker reads busy: that is not a gap between bursts of work, so the
    typical gap stays an hour and, once idle, the worker goes at once. (Learned as 8 s, it had
    pulled the hour to 17 minutes and kept a worker warm ~40 minutes after a lone job.)"""
    config = PolicyConfig(min_capacity=0, quiet_seconds_before_zero=300)
    memory = Memory(last_work_at=NOW - 3600, last_seen=NOW - 4, typical_gap=3600.0, load=0.0)
    memory = decide(observe(pending("i-0"), visible=1), memory, config).memory
    assert memory.typical_gap == pytest.approx(3600)
    flicker = NOW + MIN_GAP_SECONDS - 7
    memory = decide(observe(pending("i-0"), now=flicker), memory, config).memory
    memory = decide(observe(busy("i-0"), in_flight=1, now=flicker + 4), memory, config).memory
    assert memory.typical_gap == pytest.approx(3600)
    at = flicker + 60
    decision = decide(observe(idle("i-0", 20, now=at), now=at), memory, config)
    assert (decision.desired_capacity, decision.reason) == (0, "quiet")


def test_a_quiet_of_min_gap_seconds_is_learned_as_a_gap() -> None:
    config = PolicyConfig(min_capacity=0, quiet_seconds_before_zero=5)
    memory = decide(observe(busy("i-0"), in_flight=1), Memory(), config).memory
    at = NOW + 0.2
    memory = decide(observe(idle("i-0", 0.1, now=at), now=at), memory, config).memory
    at = NOW + MIN_GAP_SECONDS
    memory = decide(observe(busy("i-0"), in_flight=1, now=at), memory, config).memory
    assert memory.typical_gap == MIN_GAP_SECONDS


# --- the load and arrival estimates ------------------------------------------------------------


@pytest.mark.parametrize("now", [NOW, NOW - 10], ids=["retry-at-the-same-instant", "clock-back"])
def test_a_sample_not_after_the_last_one_moves_neither_the_load_nor_the_arrival_rate(
    now: float,
) -> None:
    memory = Memory(last_work_at=NOW, last_seen=NOW, load=2.5, total=3, rate=0.5)
    decision = decide(
        observe(busy("i-0"), busy("i-1"), visible=20, in_flight=2, now=now),
        memory,
        PolicyConfig(max_capacity=10),
    )
    assert decision.memory.rate == 0.5
    assert decision.memory.load == 2.5


def test_a_memory_written_before_the_load_was_kept_starts_the_load_afresh() -> None:
    old_tag = Memory.from_compact(f"{NOW - 4} {NOW - 4} -")
    assert old_tag.load is None and old_tag.last_seen == NOW - 4
    decision = decide(observe(busy("i-0"), in_flight=1), old_tag, PolicyConfig())
    assert decision.memory.load == 1.0
    no_time = Memory(load=3.0)
    assert decide(observe(busy("i-0"), in_flight=1), no_time, PolicyConfig()).memory.load == 1.0


def test_the_arrival_rate_decays_with_a_15_second_time_constant() -> None:
    memory = Memory(last_work_at=NOW - 15, last_seen=NOW - 15, load=0.0, total=0, rate=1.0)
    decision = decide(Observation(NOW, 0, 0, 0), memory, PolicyConfig())
    assert decision.memory.rate == pytest.approx(math.exp(-1))
    rising = Memory(last_work_at=NOW - 15, last_seen=NOW - 15, load=0.0, total=0, rate=0.0)
    # 30 jobs in 15 s: 2 a second, of which one time constant brings in 1 - 1/e.
    decision = decide(Observation(NOW, 30, 0, 0), rising, PolicyConfig(max_capacity=10))
    assert decision.memory.rate == pytest.approx(2 * (1 - math.exp(-1)))


# --- starting ahead of a burst -----------------------------------------------------------------


def _arrivals(rate: float, *views: InstanceView, visible: int, in_flight: int) -> Decision:
    """A decision with the arrival rate already estimated (``rate`` jobs a second)."""
    observation = observe(*views, visible=visible, in_flight=in_flight)
    return decide(observation, Memory(rate=rate), PolicyConfig(max_capacity=10))


def test_arrivals_at_twice_the_capacity_launch_workers_for_the_whole_rate() -> None:
    # Two workers at 4 s a job; 1 job/s calls for 4 workers, exactly twice the fleet, while
    # 23 queued are just past what the two absorb (22.5): the backlog alone asks for 3.
    pair = (busy("i-0", per_job=4.0), busy("i-1", per_job=4.0))
    burst = _arrivals(1.0, *pair, visible=23, in_flight=2)
    assert (burst.need, burst.desired_capacity) == (4, 4)
    # A little less than twice the fleet is no burst: the backlog decides.
    steady = _arrivals(0.975, *pair, visible=23, in_flight=2)
    assert (steady.need, steady.desired_capacity) == (3, 3)


def test_an_empty_fleet_meeting_a_burst_starts_workers_for_its_rate() -> None:
    # 0.5 jobs/s at 6 s each: 3 workers, more than twice "one"; 5 queued ask for 1 alone.
    decision = _arrivals(0.5, visible=5, in_flight=0)
    assert (decision.need, decision.desired_capacity) == (3, 3)


def test_arrivals_the_ready_fleet_absorbs_launch_nothing() -> None:
    # 1 job/s would be 6 workers, but the 3 queued fit in the busy worker's share of the wait.
    decision = _arrivals(1.0, busy("i-0"), visible=3, in_flight=1)
    assert (decision.need, decision.desired_capacity, decision.reason) == (1, 1, "hold")


# --- which idle worker goes -------------------------------------------------------------------


def test_longest_idle_goes_first_on_a_clock_that_starts_at_zero() -> None:
    # The simulator's clock starts at 0: a worker idle since 0.0 has been idle the longest.
    at = 30.0
    fleet = (
        InstanceView("i-a", InstanceState.IDLE, idle_since=0.5),
        InstanceView("i-b", InstanceState.IDLE, idle_since=0.0),
    )
    memory = Memory(last_work_at=at - 4, last_seen=at - 4, load=0.0)
    decision = decide(Observation(at, 0, 0, 2, fleet), memory, PolicyConfig())
    assert decision.terminate == ("i-b",)


def test_a_worker_idle_exactly_the_minimum_idle_time_is_removable() -> None:
    fleet = (busy("i-0"), idle("i-1", idle_for=MIN_IDLE_BEFORE_REMOVAL_SECONDS), idle("i-2", 9.9))
    decision = decide(observe(*fleet, in_flight=1), working(1.0), PolicyConfig())
    assert decision.terminate == ("i-1",)


def test_a_busy_spot_worker_is_not_waited_for() -> None:
    # Only an on-demand worker about to be idle is worth keeping a spot one for.
    decision = decide(
        observe(idle("i-s1", IN_SPOT_WAIT, spot=True), busy("i-s2", spot=True), in_flight=1),
        working(1.0),
        PolicyConfig(),
    )
    assert decision.terminate == ("i-s1",)


def test_a_leaving_on_demand_instance_is_not_waited_for() -> None:
    leaving = InstanceView("i-od", InstanceState.LEAVING, spot=False)
    fleet = (
        idle("i-s1", IN_SPOT_WAIT + 0.5, spot=True),
        idle("i-s2", IN_SPOT_WAIT, spot=True),
        leaving,
    )
    decision = decide(Observation(NOW, 0, 0, 2, fleet), working(0.0), PolicyConfig())
    assert decision.terminate == ("i-s1",)


def test_a_spot_worker_idle_exactly_the_spot_wait_waits_no_longer() -> None:
    waited = MIN_IDLE_BEFORE_REMOVAL_SECONDS + SPOT_WAIT_SECONDS
    decision = decide(
        observe(idle("i-spot", waited, spot=True), busy("i-od", spot=False), in_flight=1),
        working(1.0),
        PolicyConfig(),
    )
    assert decision.terminate == ("i-spot",)


# --- the memory tag ---------------------------------------------------------------------------


def test_the_memory_tag_text() -> None:
    """Times to a tenth of a second, the load to hundredths, the rate to thousandths: what
    the ASG tag shows, and what keeps it within the tag's 256 characters."""
    memory = Memory(
        last_work_at=NOW + 12.34,
        last_seen=NOW + 16.0,
        typical_gap=40.06,
        peaks=((NOW, 4), (NOW + 7.5, 2)),
        load=3.14159,
        total=12,
        rate=1.23456,
    )
    text = "1800000012.3 1800000016.0 40.1 1800000000:4 1800000007.5:2 L3.14 T12 R1.235"
    assert memory.to_compact() == text
    assert Memory.from_compact(text) == Memory(
        NOW + 12.3, NOW + 16.0, 40.1, ((NOW, 4), (NOW + 7.5, 2)), 3.14, 12, 1.235
    )


def test_a_bucket_starting_on_a_half_second_is_remembered_once_across_invocations() -> None:
    """The 60 s window's 7.5 s buckets start on half seconds. Each invocation reads the tag the
    last one wrote; two decisions in one bucket must leave one peak, not two (a duplicate
    pushes the oldest remembered hold out of the tag a bucket early)."""
    config = PolicyConfig(max_capacity=10)
    start = NOW + 7.5  # a bucket boundary on a half second
    memory = Memory(last_work_at=NOW, last_seen=NOW, load=1.0)
    for now in (start + 1, start + 5):
        decision = decide(observe(busy("i-0"), in_flight=1, now=now), memory, config)
        memory = Memory.from_compact(decision.memory.to_compact())
    assert [peak_start for peak_start, _ in memory.peaks] == [start]


@pytest.mark.parametrize(
    ("memory", "text"),
    [
        (Memory(), "- - -"),
        (Memory(last_seen=NOW), "- 1800000000.0 -"),
        (Memory(last_work_at=NOW, typical_gap=60.0), "1800000000.0 - 60.0"),
    ],
)
def test_times_not_known_yet_are_dashes_in_the_tag(memory: Memory, text: str) -> None:
    assert memory.to_compact() == text
    assert Memory.from_compact(text) == memory
