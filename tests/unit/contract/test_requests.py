"""The job request: every validation error names the field and the limit."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sdfleet.requests import JobKind, JobRequest
from sdfleet.validation import describe_validation_error

VALID: dict[str, Any] = {"kind": "txt2img", "prompt": "a cat"}


def problems(body: dict[str, Any]) -> list[tuple[str | None, str]]:
    with pytest.raises(ValidationError) as caught:
        JobRequest.model_validate(body)
    return [(p.field, p.message) for p in describe_validation_error(caught.value)]


def test_defaults() -> None:
    request = JobRequest.model_validate(VALID)
    assert request.kind is JobKind.TXT2IMG
    assert (request.width, request.height, request.steps, request.num_images) == (512, 512, 30, 1)
    assert request.params().model_dump(exclude_none=True)["prompt"] == "a cat"
    assert request.scheduler == "default"
    assert JobRequest.model_validate(VALID | {"scheduler": "euler_a"}).params().scheduler == (
        "euler_a"
    )


@pytest.mark.parametrize(
    ("override", "field", "limit_text"),
    [
        ({"prompt": ""}, "prompt", "at least 1"),
        ({"prompt": "x" * 2001}, "prompt", "at most 2000"),
        ({"prompt": "   "}, "prompt", "non-whitespace"),
        ({"negative_prompt": "x" * 2001}, "negative_prompt", "at most 2000"),
        ({"width": 63}, "width", "multiple of 8 in 64..1024"),
        ({"width": 56}, "width", "multiple of 8 in 64..1024"),
        ({"width": 1032}, "width", "multiple of 8 in 64..1024"),
        ({"height": 100}, "height", "multiple of 8 in 64..1024"),
        ({"steps": 0}, "steps", ">= 1"),
        ({"steps": 101}, "steps", "<= 100"),
        ({"steps": 2.5}, "steps", "integer"),
        ({"steps": True}, "steps", "integer"),
        ({"steps": "ten"}, "steps", "integer"),
        ({"guidance_scale": -0.1}, "guidance_scale", ">= 0"),
        ({"guidance_scale": 30.5}, "guidance_scale", "<= 30"),
        ({"num_images": 9}, "num_images", "<= 8"),
        ({"num_images": 0}, "num_images", ">= 1"),
        ({"seed": -1}, "seed", ">= 0"),
        ({"seed": 2**32}, "seed", "<= 4294967295"),
        ({"kind": "inpaint"}, "kind", "txt2img"),
        ({"owner": "mallory"}, "owner", "unknown field"),
        ({"strength": 0.5}, "strength", "only allowed for img2img"),
        ({"input_key": "users/a/inputs/x.png"}, "input_key", "only allowed for img2img"),
        ({"kind": "img2img"}, "input_key", "required for img2img"),
        ({"kind": "img2img", "input_key": "k", "strength": 1.5}, "strength", "<= 1"),
        ({"scheduler": "heun"}, "scheduler", "'dpmpp_2m'"),
        ({"scheduler": "DDIM"}, "scheduler", "'ddim'"),
    ],
)
def test_each_bad_value_names_field_and_limit(
    override: dict[str, Any], field: str, limit_text: str
) -> None:
    found = problems(VALID | override)
    assert any(f == field and limit_text in m and m.startswith(f"{field}:") for f, m in found), (
        found
    )


def test_missing_prompt_is_named() -> None:
    assert ("prompt", "prompt: required") in problems({"kind": "txt2img"})


def test_img2img_valid() -> None:
    request = JobRequest.model_validate(
        {"kind": "img2img", "prompt": "p", "input_key": "users/u/inputs/a.png", "strength": 0.3}
    )
    assert request.params().strength == 0.3
    assert request.params().effective_strength == 0.3


def test_bad_value_is_quoted() -> None:
    (_, message), *_ = problems(VALID | {"steps": 500})
    assert "500" in message
