"""The web app's training and adapter limits are the contract's: the form checks them before
uploading anything, so a drifted number would refuse valid trainings or let bad ones through."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from sdfleet import requests, training

SRC: Final = Path(__file__).resolve().parents[3] / "frontend" / "src"


def _constants(text: str) -> dict[str, float]:
    """``name: 1e-2,`` entries and ``export const NAME = 2;`` lines of a TypeScript file."""
    pairs = re.findall(r"^\s*(\w+): ([0-9.e+-]+),$", text, re.M)
    pairs += re.findall(r"^export const (\w+) = ([0-9.e+-]+);$", text, re.M)
    return {name: float(value) for name, value in pairs}


def test_the_training_form_limits_are_the_contracts() -> None:
    limits = _constants((SRC / "training.ts").read_text(encoding="utf-8"))
    assert limits == {
        "imagesMin": training.INSTANCE_IMAGES_MIN,
        "imagesMax": training.INSTANCE_IMAGES_MAX,
        "stepsMin": training.TRAIN_STEPS_MIN,
        "stepsMax": training.TRAIN_STEPS_MAX,
        "learningRateMax": training.LEARNING_RATE_MAX,
        "rankMin": training.RANK_MIN,
        "rankMax": training.RANK_MAX,
        "resolutionMin": requests.SIZE_MIN,
        "resolutionMax": requests.SIZE_MAX,
        "resolutionMultiple": requests.SIZE_MULTIPLE,
        "promptMaxChars": requests.PROMPT_MAX_CHARS,
    }


def test_the_adapter_scale_limits_are_the_contracts() -> None:
    limits = _constants((SRC / "form.ts").read_text(encoding="utf-8"))
    assert limits["ADAPTER_SCALE_MIN"] == requests.ADAPTER_SCALE_MIN
    assert limits["ADAPTER_SCALE_MAX"] == requests.ADAPTER_SCALE_MAX
