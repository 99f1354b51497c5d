"""The training lane in the scaling policy: trainings are counted with their own duration
(minutes), one worker each, and never distort the image lanes' estimates."""

from __future__ import annotations

import pytest

from autoscaler.policy import (
    InstanceState,
    InstanceView,
    Memory,
    Observation,
    PolicyConfig,
    decide,
    training_workers,
)
from sdfleet.messages import Lane

NOW = 1_800_000_000.0
#: target 60 s, 6 s per image: one ready worker absorbs 0.75 x 60 / 6 = 7.5 queued images.
CONFIG = PolicyConfig(
    min_capacity=0,
    max_capacity=40,
    target_wait_seconds=60.0,
    max_step=40,
    default_seconds_per_job=6.0,
    training_minutes_per_job=15.0,
    backlog_tolerance=0.75,
)


def busy(count: int, start: int = 0) -> tuple[InstanceView, ...]:
    return tuple(
        InstanceView(f"i-{n:03d}", InstanceState.BUSY, seconds_per_job=6.0)
        for n in range(start, start + count)
    )


def observation(
    *,
    images_visible: int = 0,
    trainings_visible: int = 0,
    images_in_flight: int = 0,
    trainings_in_flight: int = 0,
    instances: tuple[InstanceView, ...] = (),
    now: float = NOW,
) -> Observation:
    return Observation(
        now=now,
        visible=images_visible + trainings_visible,
        in_flight=images_in_flight + trainings_in_flight,
        desired_capacity=len(instances),
        instances=instances,
        visible_by_lane={Lane.INTERACTIVE: images_visible, Lane.TRAINING: trainings_visible},
        in_flight_by_lane={
            Lane.INTERACTIVE: images_in_flight,
            Lane.TRAINING: trainings_in_flight,
        },
    )


def test_each_queued_training_asks_for_one_worker_of_its_own() -> None:
    # Four workers busy with images, two trainings queued: the images' ready fleet would
    # absorb two 6-second jobs at once, but a training holds a worker for 15 minutes.
    seen = observation(trainings_visible=2, images_in_flight=4, instances=busy(4))
    decision = decide(seen, Memory(), CONFIG)
    assert decision.need == 6
    assert decision.desired_capacity == 6
    assert decision.reason == "scale-out"


def test_a_training_is_never_split_over_several_workers() -> None:
    # 15 minutes of work against a 60 s target would be 15 workers if it were images.
    seen = observation(trainings_visible=1)
    assert training_workers(seen, CONFIG) == 1.0
    assert decide(seen, Memory(), CONFIG).need == 1


def test_a_short_training_estimate_shares_workers_in_proportion() -> None:
    short = PolicyConfig(target_wait_seconds=60.0, training_minutes_per_job=0.5)
    assert training_workers(observation(trainings_visible=4), short) == pytest.approx(2.0)


def test_workers_busy_training_absorb_none_of_the_image_backlog() -> None:
    # Four ready workers, all four training; 20 images queued. Counted as image capacity they
    # would absorb 30 images and nothing would launch while web jobs wait for 15 minutes.
    seen = observation(images_visible=20, trainings_in_flight=4, instances=busy(4))
    decision = decide(seen, Memory(), CONFIG)
    # 20 images x 6 s over a 60 s target: 2 more workers.
    assert decision.need == 6
    assert decision.desired_capacity == 6


def test_training_workers_do_not_read_as_a_burst_of_images() -> None:
    # Eight workers training for minutes, nothing else: no image arrives or finishes. Read as
    # image workers they would "finish" 8/6 jobs a second, and the arrival rate with them.
    first = observation(trainings_in_flight=8, instances=busy(8))
    memory = decide(first, Memory(), CONFIG).memory
    later = observation(trainings_in_flight=8, instances=busy(8), now=NOW + 5)
    decision = decide(later, memory, CONFIG)
    assert decision.memory.rate == pytest.approx(0.0)
    assert decision.need == 8
    assert decision.desired_capacity == 8


def test_images_arriving_next_to_trainings_still_count_as_arrivals() -> None:
    first = observation(trainings_in_flight=2, images_in_flight=2, instances=busy(4))
    memory = decide(first, Memory(), CONFIG).memory
    later = observation(
        images_visible=10, trainings_in_flight=2, images_in_flight=2, instances=busy(4), now=NOW + 5
    )
    rate = decide(later, memory, CONFIG).memory.rate
    # 10 new images in 5 s plus 2 image workers finishing one each 6 s.
    assert rate == pytest.approx(10 / 5 + 2 / 6)


def test_the_estimate_is_validated_naming_the_field() -> None:
    with pytest.raises(ValueError, match="training_minutes_per_job"):
        PolicyConfig(training_minutes_per_job=0)
    with pytest.raises(ValueError, match="training_minutes_per_job"):
        PolicyConfig(training_minutes_per_job=2000)
