"""The ``train`` job: a LoRA fine-tuned on a handful of the caller's own uploaded images.

Its parameters differ from a generation's (no prompt to draw, thousands of steps), so they are
their own model; a message or record holds one or the other (:mod:`sdfleet.job_kinds`). Limits
are named constants so error messages, the JSON Schema, the OpenAPI document and the README
agree.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from sdfleet.requests import (
    COST_UNIT_PIXELS,
    INPUT_KEY_MAX_CHARS,
    NOT_BLANK_PATTERN,
    PROMPT_MAX_CHARS,
    SEED_MAX,
    SIZE_MAX,
    SIZE_MIN,
    SIZE_MULTIPLE,
    JobKind,
)

INSTANCE_IMAGES_MIN: Final = 3
INSTANCE_IMAGES_MAX: Final = 50
TRAIN_STEPS_MIN: Final = 1
#: 5,000 steps of 512^2 is 5,000 cost units, inside the default active-cost quota (6,400).
TRAIN_STEPS_MAX: Final = 5000
TRAIN_STEPS_DEFAULT: Final = 1000
LEARNING_RATE_MAX: Final = 1e-2
LEARNING_RATE_DEFAULT: Final = 1e-4
RANK_MIN: Final = 1
RANK_MAX: Final = 128
RANK_DEFAULT: Final = 16
RESOLUTION_DEFAULT: Final = 512
CAPTION_MAX_CHARS: Final = PROMPT_MAX_CHARS


def _check_resolution(value: int) -> int:
    if not (SIZE_MIN <= value <= SIZE_MAX and value % SIZE_MULTIPLE == 0):
        raise ValueError(f"must be a multiple of {SIZE_MULTIPLE} in {SIZE_MIN}..{SIZE_MAX}")
    return value


Resolution = Annotated[
    int,
    AfterValidator(_check_resolution),
    Field(
        description=f"Training pixels (square); a multiple of {SIZE_MULTIPLE} in "
        f"{SIZE_MIN}..{SIZE_MAX}.",
        json_schema_extra={"minimum": SIZE_MIN, "maximum": SIZE_MAX, "multipleOf": SIZE_MULTIPLE},
    ),
]
InstanceImage = Annotated[str, Field(min_length=1, max_length=INPUT_KEY_MAX_CHARS)]
Caption = Annotated[str, Field(max_length=CAPTION_MAX_CHARS)]


class TrainParams(BaseModel):
    """A LoRA training's parameters (the message's ``params`` when ``kind`` is ``train``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    instance_images: list[InstanceImage] = Field(
        min_length=INSTANCE_IMAGES_MIN,
        max_length=INSTANCE_IMAGES_MAX,
        description=f"{INSTANCE_IMAGES_MIN}..{INSTANCE_IMAGES_MAX} keys of the owner's uploads "
        "(users/<owner>/inputs/), each at most once.",
    )
    instance_prompt: str = Field(
        min_length=1,
        max_length=PROMPT_MAX_CHARS,
        description="The trigger phrase every image is trained with (unless it has a caption).",
        json_schema_extra={"pattern": NOT_BLANK_PATTERN},
    )
    captions: list[Caption] | None = Field(
        default=None,
        description="Optional: one caption per instance image, in the same order.",
    )
    steps: int = Field(default=TRAIN_STEPS_DEFAULT, ge=TRAIN_STEPS_MIN, le=TRAIN_STEPS_MAX)
    learning_rate: float = Field(default=LEARNING_RATE_DEFAULT, gt=0.0, le=LEARNING_RATE_MAX)
    rank: int = Field(default=RANK_DEFAULT, ge=RANK_MIN, le=RANK_MAX, description="LoRA rank.")
    resolution: Resolution = RESOLUTION_DEFAULT
    train_text_encoder: bool = Field(
        default=False, description="Also train LoRA layers on the text encoder."
    )
    seed: int | None = Field(
        default=None, ge=0, le=SEED_MAX, description="Fixes the initialisation and data order."
    )

    @field_validator("instance_prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain non-whitespace characters")
        return value

    @field_validator("steps", "rank", "resolution", "seed", mode="before")
    @classmethod
    def _no_bool_or_fraction(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be an integer")
        return value

    @model_validator(mode="after")
    def _images_and_captions(self) -> TrainParams:
        if len(set(self.instance_images)) != len(self.instance_images):
            raise ValueError("instance_images: each key may appear only once")
        if self.captions is not None and len(self.captions) != len(self.instance_images):
            raise ValueError(
                f"captions: must have one caption per instance image "
                f"({len(self.instance_images)} images, got {len(self.captions)} captions)"
            )
        return self

    def caption_of(self, index: int) -> str:
        """The text image ``index`` is trained with: its caption, else the trigger phrase."""
        if self.captions is not None and self.captions[index].strip():
            return self.captions[index]
        return self.instance_prompt

    @property
    def cost_units(self) -> int:
        """One unit per 512x512 training step (the same unit as a generation's image-step)."""
        return max(1, self.steps * self.resolution * self.resolution // COST_UNIT_PIXELS)


class TrainRequest(TrainParams):
    """The HTTP API's body for a training: ``kind: "train"`` plus the parameters, flat."""

    kind: Literal[JobKind.TRAIN]

    def params(self) -> TrainParams:
        return TrainParams.model_validate(self.model_dump(exclude={"kind"}, exclude_none=True))
