"""The per-worker adapter cache on the real tiny pipeline: LRU eviction at its capacity,
switching without reloading, and a job without an adapter drawing the base model's image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from worker.adapter_cache import AdapterCache, adapter_name
from worker.generation import Generator


def _adapter(generator: Generator, tmp_path: Path, seed: int) -> str:
    from diffusers import StableDiffusionPipeline
    from PIL import Image

    from worker.lora_training import LoraTrainer, TrainingConfig, TrainingExample

    pipe = generator.txt2img
    fresh = StableDiffusionPipeline(**{**pipe.components, "unet": _copy(pipe.unet)})
    rng = np.random.default_rng(seed)
    images = [Image.fromarray((rng.random((64, 64, 3)) * 255).astype("uint8")) for _ in range(3)]
    trainer = LoraTrainer(
        dict(fresh.components),
        [TrainingExample(image, "sks") for image in images],
        TrainingConfig(
            steps=2, learning_rate=1e-2, rank=4, resolution=64, train_text_encoder=False, seed=seed
        ),
    )
    trainer.run(lambda _step, _loss: None)
    path = tmp_path / f"a{seed}.safetensors"
    path.write_bytes(trainer.adapter_bytes({"seed": str(seed)}))
    return str(path)


def _copy(module: Any) -> Any:
    import copy

    return copy.deepcopy(module)


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


@pytest.mark.slow
def test_lru_eviction_switching_and_a_clean_base(generator: Generator, tmp_path: Path) -> None:
    paths = [_adapter(generator, tmp_path, seed) for seed in (1, 2, 3)]
    names = [adapter_name("owner", f"t{i}") for i in range(3)]
    cache = AdapterCache(generator.txt2img, capacity=2)
    base = _draw(generator)
    try:
        cache.activate(names[0], paths[0], 1.0)
        first = _draw(generator)
        cache.activate(names[1], paths[1], 1.0)
        cache.activate(names[0], paths[0], 1.0)  # cached: no load, now most recent
        assert cache.loads == 2
        assert np.allclose(_draw(generator), first)
        cache.activate(names[2], paths[2], 1.0)  # evicts the least recently used: names[1]
        assert cache.loaded == [names[0], names[2]]
        assert names[1] not in generator.txt2img.get_list_adapters().get("unet", [])
        assert not np.allclose(first, base)
        cache.deactivate()
        assert np.allclose(_draw(generator), base)
    finally:
        for name in cache.loaded:
            generator.txt2img.delete_adapters([name])
