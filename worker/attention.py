"""Choosing the attention kernel: xformers memory-efficient attention on CUDA, else SDPA.

The CPU path runs the same code as the GPU one: only the chosen processor differs, and the
backend in use is logged at load and recorded on every job.
"""

from __future__ import annotations

import importlib.util
from enum import StrEnum
from typing import Any


class AttentionBackend(StrEnum):
    XFORMERS = "xformers"
    SDPA = "sdpa"


def xformers_available() -> bool:
    """xformers is an optional extra (``.[gpu]``) and only has CUDA kernels."""
    return importlib.util.find_spec("xformers") is not None


def default_backend(device: str) -> AttentionBackend:
    if device.startswith("cuda") and xformers_available():
        return AttentionBackend.XFORMERS
    return AttentionBackend.SDPA


def apply_attention(pipe: Any, backend: AttentionBackend) -> AttentionBackend:
    """Sets every attention module of ``pipe`` (UNet and VAE) to ``backend``; returns it."""
    if backend is AttentionBackend.XFORMERS:
        pipe.enable_xformers_memory_efficient_attention()
        return backend
    from diffusers.models.attention_processor import AttnProcessor2_0

    # The text encoder is a transformers model; it already uses SDPA by default.
    for name in ("unet", "vae"):
        module = getattr(pipe, name, None)
        if module is not None and hasattr(module, "set_attn_processor"):
            module.set_attn_processor(AttnProcessor2_0())
    return backend
