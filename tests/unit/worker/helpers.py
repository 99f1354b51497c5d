"""Job builders shared by the generation tests."""

from __future__ import annotations

from PIL import Image

from sdfleet.requests import JobKind, JobParams
from worker.generation import GenerationJob

#: Small and quick: the tiny model's latent is 8x8 at this size.
SIZE = 64
STEPS = 3


def txt2img(job_id: str = "job-1", **params: object) -> GenerationJob:
    values: dict[str, object] = {
        "prompt": "a lighthouse at dusk",
        "width": SIZE,
        "height": SIZE,
        "steps": STEPS,
        "seed": 1234,
    }
    values.update(params)
    return GenerationJob(job_id, JobKind.TXT2IMG, JobParams.model_validate(values), None)


def img2img(init: Image.Image | None, job_id: str = "job-i", **params: object) -> GenerationJob:
    values: dict[str, object] = {
        "prompt": "a lighthouse in snow",
        "width": SIZE,
        "height": SIZE,
        "steps": 4,
        "seed": 99,
        "strength": 0.5,
        "input_key": "users/u/inputs/x.png",
    }
    values.update(params)
    return GenerationJob(job_id, JobKind.IMG2IMG, JobParams.model_validate(values), init)
