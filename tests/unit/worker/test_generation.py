"""Generation with the tiny model through the real diffusers pipelines, on the CPU."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdfleet.requests import SEED_MAX, JobKind, JobParams
from sdfleet.settings import WorkerSettings
from worker.errors import GenerationCancelled, InvalidJobInput, ModelLoadError
from worker.generation import GeneratedImage, GenerationJob, Generator
from worker.png_metadata import read_parameters

from .helpers import SIZE, STEPS, img2img, txt2img


def pixels(image: GeneratedImage) -> np.ndarray:
    with Image.open(io.BytesIO(image.png)) as opened:
        return np.asarray(opened.convert("RGB"), dtype=np.int16)


def no_steps(step: int, total: int) -> None:
    del step, total


@pytest.fixture(scope="module")
def init_image() -> Image.Image:
    gradient = np.tile(np.linspace(0, 255, SIZE, dtype=np.uint8), (SIZE, 1))
    return Image.fromarray(np.stack([gradient, gradient.T, 255 - gradient], axis=-1), "RGB")


def test_load_reports_cpu_sdpa_and_shares_components(generator: Generator) -> None:
    from diffusers.models.attention_processor import AttnProcessor2_0

    assert generator.device == "cpu"
    assert generator.attention_backend == "sdpa"
    assert generator.model_load_seconds > 0
    processors = generator.txt2img.unet.attn_processors
    assert processors and all(isinstance(p, AttnProcessor2_0) for p in processors.values())
    # img2img reuses the very same modules: one copy of the weights in memory.
    assert generator.img2img.unet is generator.txt2img.unet
    assert generator.img2img.vae is generator.txt2img.vae
    assert generator.txt2img.unet.dtype.is_floating_point
    assert str(generator.txt2img.unet.dtype) == "torch.float32"


def test_txt2img_png_of_requested_size_with_parameters(generator: Generator) -> None:
    job = txt2img(num_images=2, seed=41, negative_prompt="blurry", width=64, height=96)
    [images] = generator.generate([job], no_steps)
    assert [image.seed for image in images] == [41, 42]
    for index, image in enumerate(images):
        assert image.png.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(image.png)) as opened:
            opened.verify()
        with Image.open(io.BytesIO(image.png)) as opened:
            assert opened.format == "PNG"
            assert opened.size == (64, 96) == (image.width, image.height)
            text = opened.info["parameters"]
        assert text.startswith("a lighthouse at dusk\nNegative prompt: blurry\n")
        assert f"Seed: {41 + index}" in text and "Size: 64x96" in text
        meta = read_parameters(image.png)
        assert meta["seed"] == 41 + index
        assert meta["index"] == index
        assert meta["job_id"] == "job-1"
        assert meta["steps"] == STEPS
        assert meta["attention_backend"] == "sdpa"
        assert meta["model"] == "tiny"
        assert meta["strength"] is None


def test_same_seed_same_pixels_whatever_the_batch(generator: Generator) -> None:
    [alone] = generator.generate([txt2img(seed=7)], no_steps)
    batched = generator.generate(
        [txt2img("other", prompt="a red barn", seed=500, num_images=2), txt2img(seed=7)],
        no_steps,
    )
    assert batched[1][0].seed == 7
    # Batch composition may change kernel choice, so allow a rounding step, no more.
    difference = np.abs(pixels(alone[0]) - pixels(batched[1][0]))
    assert difference.max() <= 2
    assert np.abs(pixels(alone[0]) - pixels(batched[0][0])).mean() > 5


def test_different_seeds_and_prompts_differ(generator: Generator) -> None:
    [[first, second]] = generator.generate([txt2img(num_images=2, seed=1)], no_steps)
    assert np.abs(pixels(first) - pixels(second)).mean() > 5
    [[other_prompt]] = generator.generate([txt2img(prompt="an owl", seed=1)], no_steps)
    assert np.abs(pixels(first) - pixels(other_prompt)).mean() > 1


def test_seeds_wrap_within_the_request_range(generator: Generator) -> None:
    [[last, wrapped]] = generator.generate([txt2img(seed=SEED_MAX, num_images=2)], no_steps)
    assert (last.seed, wrapped.seed) == (SEED_MAX, 0)


def test_missing_seed_draws_and_records_random_seeds(generator: Generator) -> None:
    [images] = generator.generate([txt2img(seed=None, num_images=2)], no_steps)
    seeds = [image.seed for image in images]
    assert all(0 <= seed <= SEED_MAX for seed in seeds)
    assert [read_parameters(image.png)["seed"] for image in images] == seeds
    # Regenerating with the recorded seed reproduces the image.
    [[again]] = generator.generate([txt2img(seed=seeds[0])], no_steps)
    assert np.abs(pixels(again) - pixels(images[0])).max() <= 2


def test_on_step_reports_every_step_of_every_call(generator: Generator) -> None:
    calls: list[tuple[int, int]] = []
    jobs = [txt2img("a", num_images=1), txt2img("b", num_images=2), txt2img("c", num_images=3)]
    results = generator.generate(jobs, lambda step, total: calls.append((step, total)))
    # 6 images with max_batch_size 4: two pipeline calls, progress counted across both.
    assert calls == [(step, 2 * STEPS) for step in range(1, 2 * STEPS + 1)]
    assert [len(images) for images in results] == [1, 2, 3]
    assert [image.seed for image in results[2]] == [1234, 1235, 1236]
    assert {read_parameters(results[1][1].png)["job_id"]} == {"b"}


def test_exception_from_on_step_stops_generation(generator: Generator) -> None:
    calls: list[int] = []

    def cancel_at_two(step: int, total: int) -> None:
        calls.append(step)
        if step == 2:
            raise GenerationCancelled("owner cancelled")

    with pytest.raises(GenerationCancelled, match="owner cancelled"):
        generator.generate([txt2img(steps=6, num_images=8)], cancel_at_two)
    assert calls == [1, 2]


def test_img2img_follows_the_input_and_counts_strength_steps(
    generator: Generator, init_image: Image.Image
) -> None:
    calls: list[tuple[int, int]] = []
    [[weak]] = generator.generate(
        [img2img(init_image, strength=0.25, steps=8)], lambda s, t: calls.append((s, t))
    )
    assert calls == [(1, 2), (2, 2)]
    assert (weak.width, weak.height) == init_image.size
    # The random VAE cannot reconstruct the input, so compare two inputs instead: at low
    # strength the output follows the input; at full strength the input barely shows.
    other = init_image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    [[weak_other]] = generator.generate([img2img(other, strength=0.25, steps=8)], no_steps)
    [[strong]] = generator.generate([img2img(init_image, strength=1.0, steps=8)], no_steps)
    [[strong_other]] = generator.generate([img2img(other, strength=1.0, steps=8)], no_steps)
    weak_gap = np.abs(pixels(weak) - pixels(weak_other)).mean()
    strong_gap = np.abs(pixels(strong) - pixels(strong_other)).mean()
    assert weak_gap > 2 * strong_gap
    meta = read_parameters(weak.png)
    assert (meta["kind"], meta["strength"]) == ("img2img", 0.25)
    assert "Denoising strength: 0.25" in Image.open(io.BytesIO(weak.png)).info["parameters"]


def test_img2img_jobs_batch_together(generator: Generator, init_image: Image.Image) -> None:
    flipped = init_image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    first, second = img2img(init_image, "i1"), img2img(flipped, "i2", num_images=2, seed=5)
    assert generator.batch_key(first.kind, first.params) == generator.batch_key(
        second.kind, second.params
    )
    results = generator.generate([first, second], no_steps)
    assert [[image.seed for image in images] for images in results] == [[99], [5, 6]]


def test_batch_key_separates_shapes_not_prompts(generator: Generator) -> None:
    base = JobParams(prompt="a", width=64, height=64, steps=4, seed=1)
    key = generator.batch_key(JobKind.TXT2IMG, base)
    assert key == generator.batch_key(
        JobKind.TXT2IMG, base.model_copy(update={"prompt": "b", "seed": 2, "num_images": 3})
    )
    for change in ({"width": 128}, {"height": 72}, {"steps": 5}, {"guidance_scale": 1.0}):
        assert generator.batch_key(JobKind.TXT2IMG, base.model_copy(update=change)) != key
    image_params = base.model_copy(update={"input_key": "k", "strength": 0.5})
    assert generator.batch_key(JobKind.IMG2IMG, image_params) != key
    assert generator.batch_key(
        JobKind.IMG2IMG, image_params.model_copy(update={"strength": 0.6})
    ) != generator.batch_key(JobKind.IMG2IMG, image_params)


def test_jobs_of_different_shapes_are_refused_together(generator: Generator) -> None:
    with pytest.raises(ValueError, match="batch key"):
        generator.generate([txt2img(width=64), txt2img(width=128)], no_steps)
    assert generator.generate([], no_steps) == []


def test_generation_job_checks_its_inputs(init_image: Image.Image) -> None:
    with pytest.raises(InvalidJobInput, match="img2img needs an input image"):
        img2img(None)
    with pytest.raises(InvalidJobInput, match=r"is 64x64, expected 64x128"):
        img2img(init_image, height=128)
    with pytest.raises(InvalidJobInput, match=r"steps=3, strength=0.2") as caught:
        img2img(init_image, steps=3, strength=0.2)
    assert caught.value.code == "invalid_input"
    with pytest.raises(InvalidJobInput, match="not allowed for txt2img"):
        GenerationJob("x", JobKind.TXT2IMG, JobParams(prompt="p", width=64, height=64), init_image)


def test_a_model_directory_loads_through_the_same_code(
    generator: Generator, model_cache: Path
) -> None:
    folder = next(model_cache.glob("tiny-v*"))
    loaded = Generator.load(
        WorkerSettings(model_source=str(folder), model_cache_dir=str(model_cache), device="cpu")
    )
    assert loaded.model_name == str(folder)
    [[from_dir]] = loaded.generate([txt2img(seed=3)], no_steps)
    [[from_tiny]] = generator.generate([txt2img(seed=3)], no_steps)
    assert np.array_equal(pixels(from_dir), pixels(from_tiny))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("./no/such/model", "is not 'tiny', an existing directory"),
        ("s3://", "has no bucket"),
        # A hub id with no hub (HF_HUB_OFFLINE here) and nothing cached.
        ("nobody/no-such-model", "loading 'nobody/no-such-model' .* failed"),
    ],
)
def test_bad_model_sources_fail_clearly(source: str, message: str, tmp_path: Path) -> None:
    settings = WorkerSettings(model_source=source, model_cache_dir=str(tmp_path), device="cpu")
    with pytest.raises(ModelLoadError, match=message):
        Generator.load(settings, s3=object())  # type: ignore[arg-type]


def test_a_folder_that_is_not_a_model_fails_clearly(tmp_path: Path) -> None:
    settings = WorkerSettings(model_source=str(tmp_path), model_cache_dir=str(tmp_path))
    with pytest.raises(ModelLoadError, match=r"without model_index\.json"):
        Generator.load(settings)


def test_cuda_requested_without_cuda_fails_clearly(worker_settings: WorkerSettings) -> None:
    settings = worker_settings.model_copy(update={"device": "cuda"})
    with pytest.raises(ModelLoadError, match="'cuda' requested but CUDA is not available"):
        Generator.load(settings)
    with pytest.raises(ModelLoadError, match="'tpu' is not"):
        Generator.load(worker_settings.model_copy(update={"device": "tpu"}))


def test_a_call_out_of_gpu_memory_is_split_not_failed(
    generator: Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    unet = generator.txt2img.unet
    real_forward = unet.forward
    batches: list[int] = []

    def forward_with_small_memory(sample: torch.Tensor, *args: object, **kwargs: object) -> object:
        # The GPU edge, faked: more than 2 latents (1 image with CFG) does not fit.
        batches.append(sample.shape[0])
        if sample.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_forward(sample, *args, **kwargs)

    monkeypatch.setattr(unet, "forward", forward_with_small_memory)
    calls: list[tuple[int, int]] = []
    results = generator.generate(
        [txt2img("a", seed=10), txt2img("b", seed=20, num_images=2)],
        lambda step, total: calls.append((step, total)),
    )
    monkeypatch.undo()
    assert [[image.seed for image in images] for images in results] == [[10], [20, 21]]
    assert set(batches) == {6, 4, 2}  # 3 images, then 1 + 2, then 1 + 1
    assert calls[-1] == (3 * STEPS, 3 * STEPS)
    [[alone]] = generator.generate([txt2img("b", seed=21)], no_steps)
    assert np.abs(pixels(alone) - pixels(results[1][1])).max() <= 2


def test_a_single_image_out_of_memory_fails(
    generator: Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def no_memory(*args: object, **kwargs: object) -> object:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(generator.txt2img.unet, "forward", no_memory)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        generator.generate([txt2img()], no_steps)
