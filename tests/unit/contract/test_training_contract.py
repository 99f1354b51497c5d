"""The ``train`` job kind and the adapter fields in the contract: limits named in errors,
messages that carry training parameters, and kinds that cannot take the other's fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from sdfleet.job_kinds import AnyJobRequest
from sdfleet.messages import JobMessage
from sdfleet.records import JobRecord
from sdfleet.requests import ADAPTER_SCALE_MAX, JobKind, JobParams, is_adapter_id
from sdfleet.training import (
    INSTANCE_IMAGES_MAX,
    INSTANCE_IMAGES_MIN,
    LEARNING_RATE_DEFAULT,
    RANK_DEFAULT,
    RANK_MAX,
    RESOLUTION_DEFAULT,
    TRAIN_STEPS_DEFAULT,
    TRAIN_STEPS_MAX,
    TrainParams,
    TrainRequest,
)
from sdfleet.validation import describe_validation_error

IMAGES = [f"users/u1/inputs/{i}.png" for i in range(3)]
TRAIN = {"kind": "train", "instance_images": IMAGES, "instance_prompt": "a photo of sks dog"}


def _problems(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        AnyJobRequest.model_validate_json(json.dumps(body), strict=True)
    return [p.message for p in describe_validation_error(caught.value)]


def test_a_train_request_takes_the_documented_defaults() -> None:
    request = AnyJobRequest.model_validate_json(json.dumps(TRAIN), strict=True).root
    assert isinstance(request, TrainRequest)
    params = request.params()
    assert (params.steps, params.learning_rate, params.rank, params.resolution) == (
        TRAIN_STEPS_DEFAULT,
        LEARNING_RATE_DEFAULT,
        RANK_DEFAULT,
        RESOLUTION_DEFAULT,
    )
    assert params.train_text_encoder is False and params.seed is None


def test_a_body_without_kind_is_still_a_txt2img() -> None:
    request = AnyJobRequest.model_validate_json('{"prompt": "a cat"}', strict=True).root
    assert request.kind is JobKind.TXT2IMG


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"instance_images": IMAGES[:2]},
            f"instance_images: must have at least {INSTANCE_IMAGES_MIN} items",
        ),
        (
            {"instance_images": [f"k{i}" for i in range(INSTANCE_IMAGES_MAX + 1)]},
            f"instance_images: must have at most {INSTANCE_IMAGES_MAX} items",
        ),
        ({"steps": TRAIN_STEPS_MAX + 1}, f"steps: must be <= {TRAIN_STEPS_MAX}"),
        ({"rank": RANK_MAX + 1}, f"rank: must be <= {RANK_MAX}"),
        ({"rank": 0}, "rank: must be >= 1"),
        ({"learning_rate": 0}, "learning_rate: must be > 0"),
        ({"resolution": 500}, "resolution: must be a multiple of 8 in 64..1024"),
        ({"instance_prompt": "   "}, "instance_prompt: must contain non-whitespace"),
        ({"captions": ["one"]}, "captions: must have one caption per instance image (3 images"),
        ({"instance_images": [IMAGES[0]] * 3}, "instance_images: each key may appear only once"),
        ({"prompt": "x"}, "prompt: unknown field is not allowed"),
    ],
)
def test_train_limits_name_the_field_and_the_limit(change: dict[str, Any], expected: str) -> None:
    problems = _problems({**TRAIN, **change})
    assert any(p.startswith(expected) for p in problems), problems


def test_generation_fields_are_refused_on_a_training_and_vice_versa() -> None:
    assert "instance_images: unknown field is not allowed" in _problems(
        {"prompt": "a cat", "instance_images": IMAGES}
    )
    assert any(p.startswith("instance_images: required") for p in _problems({"kind": "train"}))


def test_adapter_scale_is_bounded_and_needs_an_adapter() -> None:
    assert _problems({"prompt": "x", "adapter_id": "a1", "adapter_scale": 2.5}) == [
        f"adapter_scale: must be <= {ADAPTER_SCALE_MAX} (got 2.5)"
    ]
    assert any(
        "adapter_scale: only allowed with adapter_id" in p
        for p in _problems({"prompt": "x", "adapter_scale": 0.5})
    )
    params = JobParams(prompt="x", adapter_id="a1")
    assert params.effective_adapter_scale == 1.0


@pytest.mark.parametrize("value", ["../x", "a/b", "a..b", "", ".a", "t.b-1.c"])
def test_adapter_ids_cannot_name_another_prefix(value: str) -> None:
    assert not is_adapter_id(value)
    assert is_adapter_id("t.b-1") and is_adapter_id("0123abcd")


def test_a_train_message_round_trips_with_training_params() -> None:
    message = JobMessage(
        version=1,
        kind=JobKind.TRAIN,
        params=TrainParams(instance_images=IMAGES, instance_prompt="sks", steps=5),
    )
    again = JobMessage.from_body(message.to_body())
    assert isinstance(again.params, TrainParams) and again.params.steps == 5


def test_a_message_whose_kind_and_params_disagree_is_refused() -> None:
    body = {
        "version": 1,
        "kind": "txt2img",
        "params": {"instance_images": IMAGES, "instance_prompt": "sks"},
    }
    with pytest.raises(ValidationError, match="for kind train only"):
        JobMessage.model_validate(body)
    body = {"version": 1, "kind": "train", "params": {"prompt": "a cat"}}
    with pytest.raises(ValidationError, match="kind train needs instance_images"):
        JobMessage.model_validate(body)


def test_a_record_reads_back_training_params() -> None:
    record = JobRecord(
        job_id="j1",
        owner="u1",
        kind=JobKind.TRAIN,
        params=TrainParams(instance_images=IMAGES, instance_prompt="sks"),
    )
    again = JobRecord.model_validate(json.loads(record.model_dump_json()))
    assert isinstance(again.params, TrainParams)
    assert again.params.cost_units == TRAIN_STEPS_DEFAULT
