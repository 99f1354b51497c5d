"""Pipeline speed settings, each a :class:`~sdfleet.settings.WorkerSettings` field with a safe
default: channels-last memory format and VAE slicing on; VAE tiling, ``torch.compile`` and CUDA
graphs off until a benchmark on the fleet's GPU says they pay (benchmarks/worker_gpu.py).

``torch.compile`` specialises on input shapes. The UNet sees (2 x batch, 4, height/8, width/8):
batches are padded to the next power of two (at most ``max_batch_size``), so a worker compiles
a handful of batch shapes per image size, not one per batch; the Inductor and Triton caches
live in ``compile_cache_dir`` on the instance, so a restart (or a baked AMI that ran a warm-up)
reuses the compiled kernels instead of compiling again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from aws_lambda_powertools import Logger

from sdfleet.settings import WorkerSettings

#: Compiled graphs kept per function: image sizes x batch buckets.
COMPILE_CACHE_SIZE_LIMIT: Final = 64

logger = Logger(service="sdfleet-worker", child=True)


def batch_bucket(images: int, max_batch_size: int) -> int:
    """The padded batch size a compiled pipeline runs: the next power of two, capped."""
    bucket = 1 << max(images - 1, 0).bit_length()
    return max(images, min(bucket, max_batch_size))


def apply_speed_settings(pipe: Any, settings: WorkerSettings, device: str) -> list[str]:
    """Applies the enabled options to ``pipe`` (before any pipeline shares its modules);
    returns their names, for the log and the benchmark."""
    import torch

    enabled: list[str] = []
    if settings.channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        enabled.append("channels_last")
    if settings.vae_slicing:
        pipe.vae.enable_slicing()
        enabled.append("vae_slicing")
    if settings.torch_compile:
        cache = Path(settings.compile_cache_dir).resolve()
        cache.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache / "inductor"))
        os.environ.setdefault("TRITON_CACHE_DIR", str(cache / "triton"))
        torch._dynamo.config.cache_size_limit = max(
            torch._dynamo.config.cache_size_limit, COMPILE_CACHE_SIZE_LIMIT
        )
        graphs = settings.cuda_graphs and device.startswith("cuda")
        mode = "reduce-overhead" if graphs else "default"
        pipe.unet = torch.compile(pipe.unet, mode=mode, fullgraph=True)
        enabled.append("torch_compile+cuda_graphs" if graphs else "torch_compile")
    elif settings.cuda_graphs:
        logger.warning("cuda_graphs needs torch_compile; ignored")
    return enabled
