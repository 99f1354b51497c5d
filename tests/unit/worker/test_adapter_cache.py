"""The per-worker adapter cache on the real tiny pipeline: LRU eviction at its capacity,
switching by hotswap into one slot without reading files, images identical to a freshly loaded
adapter's, the slot rebuilt where hotswap cannot apply, and a job without an adapter drawing
the base model's image."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from worker.adapter_cache import SLOT, AdapterCache, adapter_name
from worker.generation import Generator


def _adapter(
    generator: Generator, folder: Path, seed: int, *, rank: int = 4, text_encoder: bool = False
) -> str:
    """A two-step LoRA trained on copies of the served modules (which stay untouched)."""
    from diffusers import StableDiffusionPipeline
    from PIL import Image

    from worker.lora_training import LoraTrainer, TrainingConfig, TrainingExample

    pipe = generator.txt2img
    fresh = StableDiffusionPipeline(
        **{
            **pipe.components,
            "unet": copy.deepcopy(pipe.unet),
            "text_encoder": copy.deepcopy(pipe.text_encoder),
        }
    )
    rng = np.random.default_rng(seed)
    images = [Image.fromarray((rng.random((64, 64, 3)) * 255).astype("uint8")) for _ in range(3)]
    trainer = LoraTrainer(
        dict(fresh.components),
        [TrainingExample(image, "sks") for image in images],
        TrainingConfig(
            steps=2,
            learning_rate=1e-2,
            rank=rank,
            resolution=64,
            train_text_encoder=text_encoder,
            seed=seed,
        ),
    )
    trainer.run(lambda _step, _loss: None)
    path = folder / f"a{seed}-r{rank}{'-te' if text_encoder else ''}.safetensors"
    path.write_bytes(trainer.adapter_bytes({"seed": str(seed)}))
    return str(path)


def _draw(generator: Generator) -> Any:
    import torch

    output = generator.txt2img(
        "a toy",
        num_inference_steps=2,
        height=64,
        width=64,
        generator=torch.Generator("cpu").manual_seed(3),
        output_type="np",
    )
    return output.images[0]


def _alone(generator: Generator, path: str) -> Any:
    """What ``path`` draws loaded into an empty slot (the reference a hotswap must match)."""
    cache = AdapterCache(generator.txt2img, capacity=1)
    try:
        cache.activate(adapter_name("reference", path), path, 1.0)
        assert cache.slot_rebuilds == 1 and cache.hotswaps == 0
        return _draw(generator)
    finally:
        cache.clear()


@pytest.fixture(scope="module")
def adapters(generator: Generator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("adapters")
    return {
        "a": _adapter(generator, folder, 1),
        "b": _adapter(generator, folder, 2),
        "c": _adapter(generator, folder, 3),
        "rank8": _adapter(generator, folder, 4, rank=8),
        "text_encoder": _adapter(generator, folder, 5, text_encoder=True),
    }


@pytest.fixture()
def cache(generator: Generator) -> Iterator[AdapterCache]:
    made = AdapterCache(generator.txt2img, capacity=2)
    try:
        yield made
    finally:
        made.clear()
    assert generator.txt2img.get_list_adapters().get("unet", []) == []


@pytest.mark.slow
def test_lru_eviction_switching_and_a_clean_base(
    generator: Generator, adapters: dict[str, str], cache: AdapterCache
) -> None:
    paths = [adapters["a"], adapters["b"], adapters["c"]]
    names = [adapter_name("owner", f"t{i}") for i in range(3)]
    base = _draw(generator)
    cache.activate(names[0], paths[0], 1.0)
    first = _draw(generator)
    cache.activate(names[1], paths[1], 1.0)
    cache.activate(names[0], paths[0], 1.0)  # cached: no file read, now most recent
    assert cache.loads == 2
    assert np.allclose(_draw(generator), first)
    cache.activate(names[2], paths[2], 1.0)  # evicts the least recently used: names[1]
    assert cache.loaded == [names[0], names[2]]
    assert cache.loads == 3
    # The model holds one adapter, the slot, however many are cached.
    assert generator.txt2img.get_list_adapters()["unet"] == [SLOT]
    assert not np.allclose(first, base)
    cache.deactivate()
    assert np.allclose(_draw(generator), base)


@pytest.mark.slow
def test_a_hotswapped_adapter_draws_what_it_draws_loaded_alone(
    generator: Generator, adapters: dict[str, str], cache: AdapterCache
) -> None:
    expected_a, expected_b = _alone(generator, adapters["a"]), _alone(generator, adapters["b"])
    assert not np.allclose(expected_a, expected_b)
    cache.activate("a", adapters["a"], 1.0)
    cache.activate("b", adapters["b"], 1.0)
    assert (cache.slot_rebuilds, cache.hotswaps) == (1, 1)
    assert np.allclose(_draw(generator), expected_b, atol=1e-6)
    # Back to the first: its cached weights were not overwritten by the swap.
    cache.activate("a", adapters["a"], 1.0)
    assert (cache.slot_rebuilds, cache.hotswaps, cache.loads) == (1, 2, 2)
    assert np.allclose(_draw(generator), expected_a, atol=1e-6)


@pytest.mark.slow
def test_a_higher_rank_rebuilds_the_slot_and_a_lower_one_is_swapped_in_padded(
    generator: Generator, adapters: dict[str, str], cache: AdapterCache
) -> None:
    expected_a, expected_rank8 = (
        _alone(generator, adapters["a"]),
        _alone(generator, adapters["rank8"]),
    )
    cache.activate("a", adapters["a"], 1.0)
    cache.activate("rank8", adapters["rank8"], 1.0)
    assert (cache.slot_rebuilds, cache.hotswaps) == (2, 0)
    assert np.allclose(_draw(generator), expected_rank8, atol=1e-6)
    cache.activate("a", adapters["a"], 1.0)
    assert (cache.slot_rebuilds, cache.hotswaps) == (2, 1)
    assert np.allclose(_draw(generator), expected_a, atol=1e-6)
    # And back: the rank-8 adapter's cached weights are still its own.
    cache.activate("rank8", adapters["rank8"], 1.0)
    assert (cache.slot_rebuilds, cache.hotswaps, cache.loads) == (2, 2, 2)
    assert np.allclose(_draw(generator), expected_rank8, atol=1e-6)


@pytest.mark.slow
def test_text_encoder_layers_never_linger_after_a_switch(
    generator: Generator, adapters: dict[str, str], cache: AdapterCache
) -> None:
    expected_a = _alone(generator, adapters["a"])
    cache.activate("te", adapters["text_encoder"], 1.0)
    assert "text_encoder" in generator.txt2img.get_list_adapters()
    with_text_encoder = _draw(generator)
    cache.activate("a", adapters["a"], 1.0)
    # Rebuilt, not hotswapped: a swap would have kept the text encoder's layers.
    assert (cache.slot_rebuilds, cache.hotswaps) == (2, 0)
    assert "text_encoder" not in generator.txt2img.get_list_adapters()
    assert np.allclose(_draw(generator), expected_a, atol=1e-6)
    assert not np.allclose(with_text_encoder, expected_a)


def test_capacity_below_one_is_refused(generator: Generator) -> None:
    with pytest.raises(ValueError, match=r"capacity: must be >= 1 \(got 0\)"):
        AdapterCache(generator.txt2img, capacity=0)
