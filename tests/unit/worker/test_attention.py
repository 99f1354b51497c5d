"""The attention backend is chosen by running it: an xformers that imports but cannot run falls
back to SDPA (and says why); an SDPA that cannot run stops the load with a ModelLoadError.

xformers has no CPU kernels, so its stand-ins here are small modules put in ``sys.modules``
(the GPU edge); everything behind them is the real diffusers pipeline on the tiny model.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sdfleet.settings import WorkerSettings
from worker.attention import choose_attention, probe_xformers_kernels
from worker.errors import DeviceUnavailable, ModelLoadError
from worker.generation import Generator

from .helpers import txt2img

#: What xformers 0.0.35 (CUDA 12 ops) says under a CUDA 13 torch.
NO_OPERATOR = "No operator found for `memory_efficient_attention_forward` with inputs"


def _stand_in(kernel: Callable[..., Any]) -> dict[str, types.ModuleType]:
    package = types.ModuleType("xformers")
    ops = types.ModuleType("xformers.ops")
    # Import machinery (diffusers' availability checks) asks for a spec.
    package.__spec__ = importlib.machinery.ModuleSpec("xformers", None, is_package=True)
    ops.__spec__ = importlib.machinery.ModuleSpec("xformers.ops", None)
    ops.memory_efficient_attention = kernel  # type: ignore[attr-defined]
    package.ops = ops  # type: ignore[attr-defined]
    return {"xformers": package, "xformers.ops": ops}


def _failing_kernel(*_args: Any, **_kwargs: Any) -> Any:
    raise NotImplementedError(NO_OPERATOR)


def _working_kernel(query: Any, key: Any, value: Any, **_kwargs: Any) -> Any:
    import torch

    # xformers' layout is (batch, tokens, heads, dim); SDPA's is (batch, heads, tokens, dim).
    out = torch.nn.functional.scaled_dot_product_attention(
        query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)
    )
    return out.transpose(1, 2)


@pytest.fixture()
def broken_xformers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, module in _stand_in(_failing_kernel).items():
        monkeypatch.setitem(sys.modules, name, module)
    yield


def test_xformers_whose_kernels_fail_gives_sdpa_and_the_worker_generates(
    worker_settings: WorkerSettings, broken_xformers: None
) -> None:
    from diffusers.models.attention_processor import AttnProcessor2_0

    settings = worker_settings.model_copy(update={"attention_backend": "xformers"})
    generator = Generator.load(settings)

    assert generator.attention_backend == "sdpa"
    assert "xformers requested but unusable" in generator.attention_reason
    assert NO_OPERATOR in generator.attention_reason
    processors = generator.txt2img.unet.attn_processors.values()
    assert all(isinstance(p, AttnProcessor2_0) for p in processors)
    [images] = generator.generate([txt2img(seed=3)], lambda _s, _t: None)
    assert len(images) == 1 and images[0].png.startswith(b"\x89PNG")


def test_probe_runs_the_kernels_not_just_the_import(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    for name, module in _stand_in(_working_kernel).items():
        monkeypatch.setitem(sys.modules, name, module)
    assert probe_xformers_kernels("cpu", torch.float32) is None
    monkeypatch.setattr(sys.modules["xformers.ops"], "memory_efficient_attention", _failing_kernel)
    failure = probe_xformers_kernels("cpu", torch.float32)
    assert failure is not None and NO_OPERATOR in failure


def test_xformers_not_installed_is_a_reason_not_an_error(
    generator: Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setitem(sys.modules, "xformers", None)  # makes `import xformers` fail
    choice = choose_attention(generator.txt2img, "xformers", "cpu", torch.float32)
    assert choice.backend == "sdpa"
    assert "does not import" in choice.reason


def test_default_is_sdpa_with_its_reason(generator: Generator) -> None:
    assert generator.attention_backend == "sdpa"
    assert "default" in generator.attention_reason


@pytest.mark.parametrize(
    ("device", "error"), [("cpu", ModelLoadError), ("cuda", DeviceUnavailable)]
)
def test_sdpa_that_cannot_run_stops_the_load(
    generator: Generator,
    monkeypatch: pytest.MonkeyPatch,
    device: str,
    error: type[ModelLoadError],
) -> None:
    import torch
    import torch.nn.functional

    import worker.attention as attention

    def no_kernel(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("CUDA error: no kernel image is available for execution")

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", no_kernel)
    if device == "cuda":
        # The probe tensor is made on the CPU; only the device name decides the error kind.
        monkeypatch.setattr(attention, "run_tiny_attention", lambda *_a: no_kernel())
    with pytest.raises(error, match="SDPA could not run a tiny attention") as raised:
        choose_attention(generator.txt2img, "sdpa", device, torch.float32)
    assert "no kernel image" in str(raised.value)
    assert raised.value.permanent is (device == "cuda")
