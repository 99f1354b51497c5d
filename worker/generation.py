"""Image generation with diffusers: one set of components serves txt2img and img2img.

The model is loaded once (fp16 on CUDA, fp32 on CPU) with ``from_pretrained``, whatever its
source (see :mod:`worker.model_source`); the img2img pipeline is built from the same
components, so it costs no memory. Jobs with equal :meth:`Generator.batch_key` run in one
pipeline call: a list of prompts and one seeded ``torch.Generator`` per image, so an image's
pixels depend only on its own seed, not on what it was batched with.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger
from PIL import Image

from sdfleet import env
from sdfleet.records import ErrorCode
from sdfleet.requests import SEED_MAX, SIZE_MAX, SIZE_MIN, SIZE_MULTIPLE, JobKind, JobParams
from sdfleet.settings import WorkerSettings
from worker.attention import AttentionChoice, choose_attention
from worker.errors import DeviceUnavailable, InvalidJobInput, ModelLoadError
from worker.model_source import TINY, resolve_model
from worker.png_metadata import ImageParameters, encode_png
from worker.schedulers import Schedulers
from worker.speed import apply_speed_settings, batch_bucket

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Denoising steps of the warm-up call (enough to run every module once, and the scheduler).
WARMUP_STEPS: Final = 2
#: Seeds wrap here, so every recorded seed can be submitted again as a job's ``seed``.
SEED_MODULUS: Final = SEED_MAX + 1

logger = Logger(service="sdfleet-worker")

StepCallback = Callable[[int, int], None]


def img2img_steps(params: JobParams) -> int:
    """Denoising steps img2img actually runs: diffusers skips the first (1 - strength)."""
    return min(int(params.steps * params.effective_strength), params.steps)


@dataclass(frozen=True)
class GenerationJob:
    """One claimed job, ready to run. Invalid combinations raise :class:`InvalidJobInput`."""

    job_id: str
    kind: JobKind
    params: JobParams
    init_image: Image.Image | None = None
    #: The owner's adapter (``params.adapter_id``) as a local file and its cache name.
    adapter_path: str | None = None
    adapter_name: str | None = None

    def __post_init__(self) -> None:
        params = self.params
        if self.kind is JobKind.IMG2IMG:
            if self.init_image is None:
                raise InvalidJobInput(
                    ErrorCode.INVALID_INPUT.value, "input_key: img2img needs an input image"
                )
            if self.init_image.size != (params.width, params.height):
                raise InvalidJobInput(
                    ErrorCode.INVALID_INPUT.value,
                    f"input image: is {self.init_image.size[0]}x{self.init_image.size[1]}, "
                    f"expected {params.width}x{params.height} (decode it with decode_input_image)",
                )
            if img2img_steps(params) < 1:
                raise InvalidJobInput(
                    ErrorCode.INVALID_INPUT.value,
                    f"strength: steps x strength must be at least 1 denoising step "
                    f"(got steps={params.steps}, strength={params.effective_strength})",
                )
        elif self.init_image is not None:
            raise InvalidJobInput(
                ErrorCode.INVALID_INPUT.value, f"input image: not allowed for {self.kind.value}"
            )

    def seeds(self) -> list[int]:
        """Image i uses seed + i; a job without a seed draws random ones (then recorded)."""
        if self.params.seed is None:
            return [secrets.randbelow(SEED_MODULUS) for _ in range(self.params.num_images)]
        return [(self.params.seed + i) % SEED_MODULUS for i in range(self.params.num_images)]


@dataclass(frozen=True)
class GeneratedImage:
    png: bytes
    seed: int
    width: int
    height: int


@dataclass(frozen=True)
class _Item:
    """One image to generate: which job it belongs to and its own inputs."""

    job_index: int
    image_index: int
    job: GenerationJob
    seed: int


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError)


def _free_cuda_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def resolve_device(requested: str | None) -> str:
    import torch

    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested != "cpu" and not requested.startswith("cuda"):
        raise ModelLoadError(f"device: {requested!r} is not 'cuda', 'cuda:N' or 'cpu'")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        built_for = torch.version.cuda or "no CUDA (a CPU-only build)"
        raise DeviceUnavailable(
            f"device: {requested!r} requested but CUDA is not available ({env.DEVICE}="
            f"{requested}): torch {torch.__version__} is built for {built_for}; check "
            "`nvidia-smi` (driver loaded, GPU visible) and that the torch CUDA build matches the "
            "driver "
            "(docs/worker-install.md). Refusing to generate on the CPU."
        )
    return requested


class Generator:
    """The loaded model. Not thread-safe: one pipeline call at a time."""

    def __init__(
        self,
        txt2img: Any,
        *,
        device: str,
        attention_backend: str,
        model_load_seconds: float,
        model_name: str,
        max_batch_size: int,
        attention_reason: str = "",
        speed_options: Sequence[str] = (),
        vae_tiling_min_pixels: int = 0,
        adapter_cache_size: int = 4,
    ) -> None:
        from diffusers import StableDiffusionImg2ImgPipeline

        from worker.adapter_cache import AdapterCache

        self.txt2img = txt2img
        # The constructor (not from_pipe, which casts to fp32 unless told) shares every module.
        self.img2img = StableDiffusionImg2ImgPipeline(
            **txt2img.components, requires_safety_checker=False
        )
        self.img2img.set_progress_bar_config(disable=True)
        self.txt2img.set_progress_bar_config(disable=True)
        self.device = device
        self.attention_backend = attention_backend
        self.attention_reason = attention_reason
        self.model_load_seconds = model_load_seconds
        self.warmup_seconds: float | None = None
        self.model_name = model_name
        self.max_batch_size = max_batch_size
        self.scheduler_name = type(txt2img.scheduler).__name__
        self.schedulers = Schedulers(txt2img.scheduler)
        self.speed_options = list(speed_options)
        # A compiled UNet specialises on shapes: pad batches to few sizes (worker/speed.py).
        self.pad_batches = any(option.startswith("torch_compile") for option in speed_options)
        self.vae_tiling_min_pixels = vae_tiling_min_pixels
        # img2img shares the UNet and text encoder: adapters loaded here apply to both.
        self.adapters = AdapterCache(txt2img, adapter_cache_size)

    @classmethod
    def load(cls, settings: WorkerSettings, s3: S3Client | None = None) -> Generator:
        """Loads the model and picks the attention kernel. Every failure, whatever raised
        it, is a :class:`ModelLoadError` whose message says what to check."""
        started = time.perf_counter()
        try:
            return cls._load(settings, s3, started)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"model_source: loading {settings.model_source!r} failed with "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    # Long on purpose: the load is one ordered sequence (imports, source, dtype, pipeline,
    # attention probe, speed options, warm-up), and every step reports into the same result.
    @classmethod
    def _load(cls, settings: WorkerSettings, s3: S3Client | None, started: float) -> Generator:
        import torch
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        # Progress bars are terminal art; in a service's log they are noise.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()

        device = resolve_device(settings.device)
        if (
            settings.model_source == TINY
            and device == "cpu"
            and "OMP_NUM_THREADS" not in os.environ
        ):
            # The tiny model's tensors are so small that thread hand-offs cost more than they
            # save (3x slower with 2 threads on a busy 2-core machine); a real model keeps all.
            torch.set_num_threads(1)
        if s3 is None and settings.model_source.startswith("s3://"):
            from sdfleet.aws import AwsClients

            s3 = AwsClients.from_settings(settings).s3()
        resolved = resolve_model(settings.model_source, settings.model_cache_dir, s3)
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        try:
            pipe = StableDiffusionPipeline.from_pretrained(
                resolved.location,
                dtype=dtype,
                safety_checker=None,
                requires_safety_checker=False,
                local_files_only=resolved.is_local,
                cache_dir=resolved.hub_cache_dir,
            )
            pipe = pipe.to(device)
        except Exception as exc:
            raise ModelLoadError(
                f"model_source: loading {resolved.source!r} from {resolved.location!r} "
                f"failed: {type(exc).__name__}: {exc}"
            ) from exc
        choice: AttentionChoice = choose_attention(pipe, settings.attention_backend, device, dtype)
        speed = apply_speed_settings(pipe, settings, device)
        seconds = time.perf_counter() - started
        logger.info(
            "model loaded",
            extra={
                "model_source": resolved.source,
                "device": device,
                "dtype": str(dtype),
                "attention_backend": choice.backend.value,
                "attention_reason": choice.reason,
                "speed_options": speed,
                "model_load_seconds": round(seconds, 3),
            },
        )
        return cls(
            pipe,
            device=device,
            attention_backend=choice.backend.value,
            attention_reason=choice.reason,
            model_load_seconds=seconds,
            model_name=resolved.source,
            max_batch_size=settings.max_batch_size,
            speed_options=speed,
            vae_tiling_min_pixels=settings.vae_tiling_min_pixels,
            adapter_cache_size=settings.adapter_cache_size,
        )

    def warm_up(self, steps: int = WARMUP_STEPS) -> float:
        """One small txt2img call before the first claim: CUDA context, cuDNN/cuBLAS autotuning
        and (when enabled) compilation happen here, not in a user's first job. It runs at the
        model's native size (512 px for SD 1.5; the tiny test model's smallest), the shape
        compilation should see first. A failure is a :class:`ModelLoadError`. Returns the
        seconds taken."""
        started = time.perf_counter()
        size = self.native_size()
        params = JobParams(prompt="warm-up", seed=0, steps=steps, width=size, height=size)
        job = GenerationJob(job_id="warm-up", kind=JobKind.TXT2IMG, params=params)
        try:
            self.generate([job], lambda _step, _total: None)
        except Exception as exc:
            raise ModelLoadError(
                f"warm-up: the first generation failed ({type(exc).__name__}: {exc}); the "
                "model loaded but cannot run on this device"
            ) from exc
        self.warmup_seconds = time.perf_counter() - started
        logger.info("warm-up done", extra={"warmup_seconds": round(self.warmup_seconds, 3)})
        return self.warmup_seconds

    def native_size(self) -> int:
        """The image side the model was trained at, as a valid job size."""
        unet, scale = self.txt2img.unet, self.txt2img.vae_scale_factor
        native = int(unet.config.sample_size) * int(scale)
        return max(SIZE_MIN, min(SIZE_MAX, native - native % SIZE_MULTIPLE))

    def batch_key(self, kind: JobKind, params: JobParams) -> tuple[object, ...]:
        """Jobs with equal keys can share one pipeline call (prompts and seeds may differ)."""
        strength = params.effective_strength if kind is JobKind.IMG2IMG else None
        return (
            kind.value,
            params.width,
            params.height,
            params.steps,
            params.guidance_scale,
            strength,
            params.scheduler.value,
            # One adapter state per pipeline call: jobs with different adapters never share one.
            params.adapter_id,
            params.effective_adapter_scale if params.adapter_id else None,
        )

    def generate(
        self, jobs: Sequence[GenerationJob], on_step: StepCallback
    ) -> list[list[GeneratedImage]]:
        """One list of ``num_images`` images per job, in order.

        Runs as few pipeline calls as ``max_batch_size`` allows; a call that runs out of GPU
        memory is split in two and retried. ``on_step(step, total)`` is called after every
        denoising step, counted over all calls; an exception it raises (e.g.
        GenerationCancelled) stops generation and propagates.
        """
        if not jobs:
            return []
        keys = {self.batch_key(job.kind, job.params) for job in jobs}
        if len(keys) != 1:
            raise ValueError(f"jobs in one generate() call must share a batch key, got {keys}")
        items = [
            _Item(job_index, image_index, job, seed)
            for job_index, job in enumerate(jobs)
            for image_index, seed in enumerate(job.seeds())
        ]
        pending = deque(
            items[start : start + self.max_batch_size]
            for start in range(0, len(items), self.max_batch_size)
        )
        results: list[list[GeneratedImage]] = [[] for _ in jobs]
        first = jobs[0]
        steps_per_call = (
            img2img_steps(first.params) if first.kind is JobKind.IMG2IMG else first.params.steps
        )
        calls_done = 0
        while pending:
            chunk = pending.popleft()
            total = steps_per_call * (calls_done + 1 + len(pending))
            try:
                images = self._run(chunk, on_step, done=calls_done * steps_per_call, total=total)
            except Exception as exc:
                if not _is_out_of_memory(exc) or len(chunk) == 1:
                    raise
                # Too big for this GPU at this size: halve the call rather than fail every
                # job in it again on each redelivery.
                half = len(chunk) // 2
                logger.warning(
                    "out of GPU memory; splitting the batch",
                    extra={"images": len(chunk), "into": [half, len(chunk) - half]},
                )
                _free_cuda_memory()
                pending.extendleft([chunk[half:], chunk[:half]])
                continue
            calls_done += 1
            for item, image in zip(chunk, images, strict=True):
                results[item.job_index].append(self._encode(item, image))
        return results

    def _run(
        self, chunk: list[_Item], on_step: StepCallback, *, done: int, total: int
    ) -> list[Image.Image]:
        import torch

        params = chunk[0].job.params
        kind = chunk[0].job.kind
        first = chunk[0].job
        if first.adapter_name and first.adapter_path:
            self.adapters.activate(
                first.adapter_name, first.adapter_path, params.effective_adapter_scale
            )
        else:
            self.adapters.deactivate()
        scheduler = self.schedulers.get(params.scheduler)
        self.txt2img.scheduler = scheduler
        self.img2img.scheduler = scheduler
        vae = self.txt2img.vae
        if 0 < self.vae_tiling_min_pixels <= params.width * params.height:
            vae.enable_tiling()
        else:
            vae.disable_tiling()
        # Padding repeats the last image's inputs; the extra images are dropped below.
        real = len(chunk)
        if self.pad_batches:
            chunk = chunk + [chunk[-1]] * (batch_bucket(real, self.max_batch_size) - real)

        def step_end(
            pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]
        ) -> dict[str, Any]:
            on_step(done + step + 1, total)
            return tensors

        arguments: dict[str, Any] = {
            "prompt": [item.job.params.prompt for item in chunk],
            "negative_prompt": [item.job.params.negative_prompt or "" for item in chunk],
            "num_inference_steps": params.steps,
            "guidance_scale": params.guidance_scale,
            # CPU generators: the initial noise for a seed is the same on every device.
            "generator": [torch.Generator("cpu").manual_seed(item.seed) for item in chunk],
            "callback_on_step_end": step_end,
            "output_type": "pil",
        }
        if kind is JobKind.IMG2IMG:
            arguments["image"] = [item.job.init_image for item in chunk]
            arguments["strength"] = params.effective_strength
            output = self.img2img(**arguments)
        else:
            arguments["width"] = params.width
            arguments["height"] = params.height
            output = self.txt2img(**arguments)
        images: list[Image.Image] = output.images[:real]
        return images

    def _encode(self, item: _Item, image: Image.Image) -> GeneratedImage:
        params = item.job.params
        metadata = ImageParameters(
            job_id=item.job.job_id,
            index=item.image_index,
            kind=item.job.kind.value,
            prompt=params.prompt,
            negative_prompt=params.negative_prompt,
            seed=item.seed,
            steps=params.steps,
            guidance_scale=params.guidance_scale,
            width=image.width,
            height=image.height,
            strength=params.effective_strength if item.job.kind is JobKind.IMG2IMG else None,
            scheduler=self.schedulers.label(params.scheduler),
            model=self.model_name,
            attention_backend=self.attention_backend,
        )
        return GeneratedImage(encode_png(image, metadata), item.seed, image.width, image.height)
