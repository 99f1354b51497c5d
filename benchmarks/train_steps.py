"""Benchmark: LoRA training steps per second with the tiny random-weight model on CPU.

The same code path a training job runs (:class:`worker.lora_training.LoraTrainer`: VAE encode,
text encoder, UNet forward and backward through the LoRA layers, AdamW), on three generated
images at 64x64, for LoRA ranks 4 and 16, with and without the text encoder's LoRA. Also the
time to write one checkpoint (serialised bytes, no S3). It measures the orchestration of a
training, not a GPU's speed: the tiny model's UNet is a few hundred thousand parameters.

    python benchmarks/train_steps.py [--steps 30] [--threads 1]

Prints a table and writes benchmarks/results/train_steps.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS: Final = REPO_ROOT / "benchmarks" / "results" / "train_steps.json"
WARMUP_STEPS: Final = 2
CASES: Final = ((4, False), (16, False), (16, True))


def _images(count: int, size: int) -> list[Any]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [
        Image.fromarray((rng.random((size, size, 3)) * 255).astype("uint8")) for _ in range(count)
    ]


def measure(model_dir: Path, rank: int, text_encoder: bool, steps: int) -> dict[str, Any]:
    from diffusers import StableDiffusionPipeline

    from worker.lora_training import LoraTrainer, TrainingConfig, TrainingExample

    components = StableDiffusionPipeline.from_pretrained(
        str(model_dir), safety_checker=None, requires_safety_checker=False
    ).components
    examples = [TrainingExample(image, "a photo of sks toy") for image in _images(3, 64)]
    config = TrainingConfig(
        steps=steps + WARMUP_STEPS,
        learning_rate=1e-4,
        rank=rank,
        resolution=64,
        train_text_encoder=text_encoder,
        seed=0,
    )
    trainer = LoraTrainer(dict(components), examples, config)
    for _ in range(WARMUP_STEPS):
        trainer.train_step()
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    checkpoint = trainer.checkpoint_bytes()
    checkpoint_seconds = time.perf_counter() - started
    return {
        "rank": rank,
        "train_text_encoder": text_encoder,
        "steps": steps,
        "steps_per_second": round(steps / seconds, 2),
        "ms_per_step": round(1000 * seconds / steps, 1),
        "trainable_parameters": sum(p.numel() for p in trainer.parameters),
        "checkpoint_bytes": len(checkpoint),
        "checkpoint_ms": round(1000 * checkpoint_seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    from worker.tiny_model import ensure_tiny_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as cache:
        model_dir = ensure_tiny_model(cache)
        rows = [measure(model_dir, rank, te, args.steps) for rank, te in CASES]
    table = Table(title="LoRA training, tiny model, CPU, 64x64, batch 1")
    for column in ("rank", "text encoder", "steps/s", "ms/step", "trainable params", "ckpt ms"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["rank"]),
            "yes" if row["train_text_encoder"] else "no",
            str(row["steps_per_second"]),
            str(row["ms_per_step"]),
            str(row["trainable_parameters"]),
            str(row["checkpoint_ms"]),
        )
    Console().print(table)
    result = {
        "benchmark": "train_steps",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "torch_threads": args.threads,
        "torch": torch.__version__,
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
