"""The job request: what a user asks the fleet to generate.

Limits are named constants so error messages, the JSON Schema and the docs agree.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from sdfleet.webhook_urls import WebhookUrl

PROMPT_MAX_CHARS: Final = 2000
SIZE_MIN: Final = 64
SIZE_MAX: Final = 1024
SIZE_MULTIPLE: Final = 8
STEPS_MIN: Final = 1
STEPS_MAX: Final = 100
GUIDANCE_MIN: Final = 0.0
GUIDANCE_MAX: Final = 30.0
NUM_IMAGES_MIN: Final = 1
NUM_IMAGES_MAX: Final = 8
SEED_MAX: Final = 2**32 - 1
INPUT_KEY_MAX_CHARS: Final = 1024
#: JSON Schema form of "not blank" (patterns search, so one non-space character anywhere).
NOT_BLANK_PATTERN: Final = r"\S"
ADAPTER_SCALE_MIN: Final = 0.0
ADAPTER_SCALE_MAX: Final = 2.0
ADAPTER_SCALE_DEFAULT: Final = 1.0
#: An adapter's id is the id of the training job that made it: a web id, ``b-<MessageId>`` or a
#: batch tenant's ``<tenant>.<id>``. It becomes an S3 key segment: no ``/``, no ``..``.
ADAPTER_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\.[A-Za-z0-9][A-Za-z0-9_-]{0,63})?$"
_ADAPTER_ID: Final = re.compile(ADAPTER_ID_PATTERN.removeprefix("^").removesuffix("$"))


def is_adapter_id(value: str) -> bool:
    return bool(_ADAPTER_ID.fullmatch(value))


class JobKind(StrEnum):
    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    #: A LoRA training (:mod:`sdfleet.training`); its parameters are :class:`TrainParams`.
    TRAIN = "train"

    @property
    def is_generation(self) -> bool:
        return self is not JobKind.TRAIN


class Scheduler(StrEnum):
    """The denoising scheduler (sampler). ``default`` is the one the model ships with."""

    DEFAULT = "default"
    DPMPP_2M = "dpmpp_2m"
    EULER_A = "euler_a"
    DDIM = "ddim"


def _check_dimension(value: int) -> int:
    if not (SIZE_MIN <= value <= SIZE_MAX and value % SIZE_MULTIPLE == 0):
        raise ValueError(f"must be a multiple of {SIZE_MULTIPLE} in {SIZE_MIN}..{SIZE_MAX}")
    return value


# One check with one message, so 63 reports the range and the step together.
Dimension = Annotated[
    int,
    AfterValidator(_check_dimension),
    Field(
        description=f"Pixels; a multiple of {SIZE_MULTIPLE} in {SIZE_MIN}..{SIZE_MAX}.",
        json_schema_extra={"minimum": SIZE_MIN, "maximum": SIZE_MAX, "multipleOf": SIZE_MULTIPLE},
    ),
]


#: Pixels of one cost unit (a 512x512 image, one denoising step).
COST_UNIT_PIXELS: Final = 512 * 512


class JobParams(BaseModel):
    """Generation parameters shared by every job kind (the message's ``params``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    prompt: str = Field(
        min_length=1,
        max_length=PROMPT_MAX_CHARS,
        # The blank-prompt rule below, for schema readers: at least one non-space character.
        json_schema_extra={"pattern": NOT_BLANK_PATTERN},
    )
    negative_prompt: str | None = Field(default=None, max_length=PROMPT_MAX_CHARS)
    width: Dimension = 512
    height: Dimension = 512
    steps: int = Field(default=30, ge=STEPS_MIN, le=STEPS_MAX)
    guidance_scale: float = Field(default=7.5, ge=GUIDANCE_MIN, le=GUIDANCE_MAX)
    num_images: int = Field(default=1, ge=NUM_IMAGES_MIN, le=NUM_IMAGES_MAX)
    scheduler: Scheduler = Field(
        default=Scheduler.DEFAULT,
        description="Sampler: default (the model's own), dpmpp_2m (DPM-Solver++ 2M, good at "
        "20-30 steps), euler_a (Euler ancestral) or ddim.",
    )
    seed: int | None = Field(default=None, ge=0, le=SEED_MAX)
    strength: float | None = Field(
        default=None, ge=0.0, le=1.0, description="img2img only: how far to move from the input."
    )
    input_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=INPUT_KEY_MAX_CHARS,
        description="img2img only: the S3 key of the input image, under the owner's inputs/.",
    )
    adapter_id: str | None = Field(
        default=None,
        pattern=ADAPTER_ID_PATTERN,
        description="One of the owner's trained adapters (GET /models) to generate with.",
    )
    adapter_scale: float | None = Field(
        default=None,
        ge=ADAPTER_SCALE_MIN,
        le=ADAPTER_SCALE_MAX,
        description="How strongly the adapter applies, "
        f"{ADAPTER_SCALE_MIN:g}..{ADAPTER_SCALE_MAX:g} (default {ADAPTER_SCALE_DEFAULT:g}); "
        "only with adapter_id.",
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must contain non-whitespace characters")
        return value

    @property
    def cost_units(self) -> int:
        """Work in 512x512 image-steps: images x steps x pixels / 512**2 (at least 1). One job
        can cost a hundred times another; quotas count this, not jobs."""
        return max(1, self.num_images * self.steps * self.width * self.height // COST_UNIT_PIXELS)

    @field_validator("steps", "width", "height", "num_images", "seed", mode="before")
    @classmethod
    def _no_bool_or_fraction(cls, value: Any) -> Any:
        # JSON true/1.5 must not silently become 1; integers only.
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be an integer")
        return value

    def check_kind(self, kind: JobKind) -> None:
        """Kind-specific rules; raises ValueError naming the field."""
        if kind is JobKind.TRAIN:
            raise ValueError(
                "kind: train takes instance_images and instance_prompt, not generation parameters"
            )
        if self.adapter_scale is not None and self.adapter_id is None:
            raise ValueError("adapter_scale: only allowed with adapter_id")
        if kind is JobKind.IMG2IMG:
            if self.input_key is None:
                raise ValueError("input_key: required for img2img")
        else:
            if self.input_key is not None:
                raise ValueError(f"input_key: only allowed for img2img, not {kind.value}")
            if self.strength is not None:
                raise ValueError(f"strength: only allowed for img2img, not {kind.value}")

    @property
    def effective_strength(self) -> float:
        return 0.8 if self.strength is None else self.strength

    @property
    def effective_adapter_scale(self) -> float:
        return ADAPTER_SCALE_DEFAULT if self.adapter_scale is None else self.adapter_scale


class JobRequest(JobParams):
    """The HTTP API's job body: the kind plus the parameters, flat."""

    kind: JobKind = JobKind.TXT2IMG
    webhook_url: WebhookUrl | None = None

    @model_validator(mode="after")
    def _kind_rules(self) -> JobRequest:
        self.check_kind(self.kind)
        return self

    def params(self) -> JobParams:
        return JobParams.model_validate(
            self.model_dump(exclude={"kind", "webhook_url"}, exclude_none=True)
        )
