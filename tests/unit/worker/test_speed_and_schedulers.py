"""The job's scheduler and the speed settings, through the real pipeline on the tiny model."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from sdfleet.requests import Scheduler
from worker.generation import GeneratedImage, Generator
from worker.png_metadata import read_parameters
from worker.speed import batch_bucket

from .helpers import txt2img


def pixels(image: GeneratedImage) -> np.ndarray:
    with Image.open(io.BytesIO(image.png)) as opened:
        return np.asarray(opened.convert("RGB"), dtype=np.int16)


def no_steps(step: int, total: int) -> None:
    del step, total


@pytest.mark.parametrize(
    ("name", "label"),
    [
        (Scheduler.DPMPP_2M, "DPMSolverMultistepScheduler"),
        (Scheduler.EULER_A, "EulerAncestralDiscreteScheduler"),
        (Scheduler.DDIM, "DDIMScheduler"),
    ],
)
def test_each_scheduler_runs_is_recorded_and_changes_the_image(
    generator: Generator, name: Scheduler, label: str
) -> None:
    [[default]] = generator.generate([txt2img(seed=5)], no_steps)
    [[chosen]] = generator.generate([txt2img(seed=5, scheduler=name.value)], no_steps)
    assert read_parameters(chosen.png)["scheduler"] == label
    assert read_parameters(default.png)["scheduler"] == generator.scheduler_name != label
    assert np.abs(pixels(chosen) - pixels(default)).max() > 0
    # The default is restored for the next job.
    [[again]] = generator.generate([txt2img(seed=5)], no_steps)
    assert np.array_equal(pixels(again), pixels(default))


def test_jobs_with_different_schedulers_never_share_a_call(generator: Generator) -> None:
    ddim = txt2img("a", seed=1, scheduler="ddim")
    default = txt2img("b", seed=1)
    assert generator.batch_key(ddim.kind, ddim.params) != generator.batch_key(
        default.kind, default.params
    )


def test_default_speed_settings_are_applied(generator: Generator) -> None:
    assert generator.speed_options == ["channels_last", "vae_slicing"]
    weight = generator.txt2img.unet.conv_in.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert generator.txt2img.vae.use_slicing


@pytest.mark.parametrize(
    ("images", "limit", "bucket"), [(1, 8, 1), (3, 8, 4), (5, 8, 8), (5, 6, 6), (7, 4, 7)]
)
def test_batch_buckets(images: int, limit: int, bucket: int) -> None:
    assert batch_bucket(images, limit) == bucket


def test_padded_batches_give_the_same_images(generator: Generator) -> None:
    """What a compiled pipeline runs (3 images padded to 4) returns the unpadded images."""
    padded = Generator(
        generator.txt2img,
        device=generator.device,
        attention_backend=generator.attention_backend,
        model_load_seconds=0.0,
        model_name=generator.model_name,
        max_batch_size=4,
        speed_options=["torch_compile"],
    )
    assert padded.pad_batches
    job = txt2img(seed=11, num_images=3)
    [plain] = generator.generate([job], no_steps)
    [bucketed] = padded.generate([job], no_steps)
    assert [image.seed for image in bucketed] == [11, 12, 13]
    for one, other in zip(plain, bucketed, strict=True):
        assert np.abs(pixels(one) - pixels(other)).max() <= 1


def test_vae_tiling_follows_the_image_size(generator: Generator) -> None:
    tiled = Generator(
        generator.txt2img,
        device=generator.device,
        attention_backend=generator.attention_backend,
        model_load_seconds=0.0,
        model_name=generator.model_name,
        max_batch_size=4,
        vae_tiling_min_pixels=96 * 96,
    )
    try:
        tiled.generate([txt2img(width=96, height=96)], no_steps)
        assert tiled.txt2img.vae.use_tiling
        tiled.generate([txt2img(width=64, height=64)], no_steps)
        assert not tiled.txt2img.vae.use_tiling
    finally:
        generator.txt2img.vae.disable_tiling()


def test_warm_up_runs_one_generation_at_the_native_size(generator: Generator) -> None:
    assert generator.native_size() == 64  # the tiny model's 16 px native size, clamped
    seconds = generator.warm_up()
    assert seconds > 0 and generator.warmup_seconds == seconds
