"""The base model a training starts from: a fresh copy of the configured model's components
for each training (LoRA layers are added to it in place, so the generation pipeline is never
used). Loaded from the same source and cache as the generation model
(:mod:`worker.model_source`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sdfleet.settings import WorkerSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def base_components(settings: WorkerSettings, s3: S3Client | None) -> dict[str, Any]:
    """unet, vae, text_encoder, tokenizer and scheduler in fp32 on the CPU (the trainer moves
    them; LoRA parameters train in fp32 and the forward passes autocast on a GPU)."""
    from diffusers import StableDiffusionPipeline

    from worker.model_source import resolve_model

    resolved = resolve_model(settings.model_source, settings.model_cache_dir, s3)
    pipe = StableDiffusionPipeline.from_pretrained(
        resolved.location,
        safety_checker=None,
        requires_safety_checker=False,
        local_files_only=resolved.is_local,
        cache_dir=resolved.hub_cache_dir,
    )
    pipe.set_progress_bar_config(disable=True)
    return dict(pipe.components)
