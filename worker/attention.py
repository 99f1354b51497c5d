"""Choosing the attention kernel by a probe: SDPA by default, xformers only when it runs here.

A wheel that imports is not a kernel that runs: xformers links one CUDA major, and a torch
built for another leaves it importable with no usable operator (``NotImplementedError`` at
the first call). So xformers is used only when asked for (``attention_backend=xformers``)
*and* a tiny attention through its kernels, then through the pipeline's own attention module,
runs on this device at start-up; otherwise the worker falls back to SDPA and says why.
xformers 0.0.3x dispatches to PyTorch's own flash / memory-efficient kernels, so SDPA loses
little. If SDPA itself cannot run a tiny attention the GPU stack is broken: that is a
:class:`~worker.errors.ModelLoadError`, raised at start-up rather than on the first job.

The CPU path runs the same code as the GPU one: only the chosen processor differs; the choice
and its reason are logged at load and recorded on every job.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from worker.errors import DeviceUnavailable, ModelLoadError

#: Probe shape: batch 1, 16 tokens, 1 head of 64 (the smallest shape every kernel accepts).
_PROBE_TOKENS: Final = 16
_PROBE_HEAD_DIM: Final = 64


class AttentionBackend(StrEnum):
    XFORMERS = "xformers"
    SDPA = "sdpa"


@dataclass(frozen=True)
class AttentionChoice:
    backend: AttentionBackend
    reason: str


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return first_line[:300]


def probe_xformers_kernels(device: str, dtype: Any) -> str | None:
    """None when ``xformers.ops.memory_efficient_attention`` runs a tiny attention on
    ``device``; else why not (not installed, no operator for this GPU/CUDA, ...)."""
    import torch

    try:
        ops = importlib.import_module("xformers.ops")
    except Exception as exc:  # ImportError, or a broken extension raising anything at import
        return f"xformers does not import ({_describe(exc)})"
    try:
        query = torch.randn(1, _PROBE_TOKENS, 1, _PROBE_HEAD_DIM, device=device, dtype=dtype)
        ops.memory_efficient_attention(query, query, query)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    except Exception as exc:
        return f"xformers kernels failed a tiny attention on {device} ({_describe(exc)})"
    return None


def _first_attention_module(pipe: Any) -> Any | None:
    from diffusers.models.attention_processor import Attention

    unet = getattr(pipe, "unet", None)
    if unet is None:
        return None
    for module in unet.modules():
        if isinstance(module, Attention):
            return module
    return None


def run_tiny_attention(pipe: Any, device: str, dtype: Any) -> None:
    """Runs the UNet's first attention module (with whatever processor it now has) once."""
    import torch

    module = _first_attention_module(pipe)
    if module is None:
        return
    width = module.to_q.in_features
    hidden = torch.randn(1, _PROBE_TOKENS, width, device=device, dtype=dtype)
    with torch.inference_mode():
        module(hidden)
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _use_sdpa(pipe: Any) -> None:
    from diffusers.models.attention_processor import AttnProcessor2_0

    # The text encoder is a transformers model; it already uses SDPA by default.
    for name in ("unet", "vae"):
        module = getattr(pipe, name, None)
        if module is not None and hasattr(module, "set_attn_processor"):
            module.set_attn_processor(AttnProcessor2_0())


def _try_xformers(pipe: Any, device: str, dtype: Any) -> str | None:
    """Switches ``pipe`` to xformers and runs one tiny attention; None on success, else why."""
    failure = probe_xformers_kernels(device, dtype)
    if failure is not None:
        return failure
    try:
        pipe.enable_xformers_memory_efficient_attention()
        run_tiny_attention(pipe, device, dtype)
    except Exception as exc:  # diffusers' own checks (CUDA only, version) or the kernel call
        return f"diffusers could not run xformers attention ({_describe(exc)})"
    return None


def choose_attention(pipe: Any, requested: str, device: str, dtype: Any) -> AttentionChoice:
    """Applies the backend that works on this device to every attention module of ``pipe``.

    Raises :class:`ModelLoadError` when not even SDPA runs (a broken GPU/driver stack).
    """
    if requested == AttentionBackend.XFORMERS:
        failure = _try_xformers(pipe, device, dtype)
        if failure is None:
            return AttentionChoice(
                AttentionBackend.XFORMERS, "xformers requested; its kernels ran a tiny attention"
            )
        reason = f"xformers requested but unusable: {failure}; using SDPA"
    else:
        reason = "SDPA is the default (attention_backend=sdpa)"
    try:
        _use_sdpa(pipe)
        run_tiny_attention(pipe, device, dtype)
    except Exception as exc:
        error = DeviceUnavailable if device.startswith("cuda") else ModelLoadError
        raise error(
            f"attention: PyTorch SDPA could not run a tiny attention on {device} "
            f"({_describe(exc)}); the GPU, driver or torch build is broken: check `nvidia-smi` "
            "and that the torch CUDA build matches the driver (docs/worker-install.md)"
        ) from exc
    return AttentionChoice(AttentionBackend.SDPA, reason)
