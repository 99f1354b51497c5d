"""A tiny random-weight Stable Diffusion, built offline from small configs.

Tests and the local stack use it so the real diffusers code path runs (tokenizer, CLIP text
encoder, UNet with cross-attention, VAE, scheduler) in milliseconds on a CPU. It is saved with
``save_pretrained`` in diffusers' format and loaded by the same ``from_pretrained`` call as a
real model. The weights are seeded and the tokenizer files are written here, so two builds are
byte-identical and nothing touches the network.

``python -m worker.tiny_model OUT_DIR`` builds it.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

from worker.file_lock import file_lock

#: Written last, so a directory without it is an interrupted build.
COMPLETE_MARKER: Final = ".sdfleet-tiny-complete"
#: Bump when the configs below change, so caches rebuild.
TINY_MODEL_VERSION: Final = 1
SEED: Final = 0
#: Latent 8x8 for a 64x64 image: four VAE blocks give SD's factor of 8, so sizes behave alike.
VAE_BLOCKS: Final = (8, 8, 16, 16)
TEXT_HIDDEN: Final = 32
MODEL_MAX_LENGTH: Final = 77

UNET_CONFIG: Final[dict[str, Any]] = {
    "sample_size": 8,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 1,
    "block_out_channels": (32, 64),
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": TEXT_HIDDEN,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
VAE_CONFIG: Final[dict[str, Any]] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "block_out_channels": VAE_BLOCKS,
    "down_block_types": ("DownEncoderBlock2D",) * len(VAE_BLOCKS),
    "up_block_types": ("UpDecoderBlock2D",) * len(VAE_BLOCKS),
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "sample_size": 64,
}
SCHEDULER_CONFIG: Final[dict[str, Any]] = {
    # SD 1.5's noise schedule, so the scheduler behaves as it does on the real model.
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "timestep_spacing": "leading",
    "steps_offset": 1,
}

# Frequent English letter pairs, merged into tokens so words are not all single letters.
_MERGE_PAIRS: Final = (
    "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le "
    "ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns di fo ho pe ec "
    "pr no ct us ac ot il tr ly nc et ut ss so rs un lo wa ge ie wh ee wi em ad ol rt po we na"
)
_START: Final = "<|startoftext|>"
_END: Final = "<|endoftext|>"


def _bytes_to_unicode() -> list[str]:
    """CLIP's byte-level alphabet: every byte maps to a printable character."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def tokenizer_files() -> tuple[dict[str, int], list[str]]:
    """A small CLIP BPE vocabulary and its merges, in CLIP's file formats."""
    alphabet = _bytes_to_unicode()
    tokens = alphabet + [char + "</w>" for char in alphabet]
    merges: list[str] = []
    for pair in _MERGE_PAIRS.split():
        first, second = pair[0], pair[1]
        merges.append(f"{first} {second}")
        merges.append(f"{first} {second}</w>")
        tokens.extend([first + second, first + second + "</w>"])
    tokens.extend([_START, _END])
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    return vocab, merges


def make_tokenizer(scratch: Path) -> Any:
    """The tiny CLIP tokenizer (transformers 4 needs ``scratch`` for its two files)."""
    from transformers import CLIPTokenizer

    vocab, merges = tokenizer_files()
    special = {
        "model_max_length": MODEL_MAX_LENGTH,
        "bos_token": _START,
        "eos_token": _END,
        "unk_token": _END,
        "pad_token": _END,
    }
    if "vocab" in inspect.signature(CLIPTokenizer.__init__).parameters:
        # transformers 5: the tokenizers-backed class takes the vocabulary and merges directly.
        return CLIPTokenizer(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges], **special)
    # transformers 4 reads CLIP's two files.
    vocab_file = scratch / "vocab.json"
    merges_file = scratch / "merges.txt"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return CLIPTokenizer(vocab_file=str(vocab_file), merges_file=str(merges_file), **special)


TEXT_CONFIG: Final[dict[str, Any]] = {
    "hidden_size": TEXT_HIDDEN,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": MODEL_MAX_LENGTH,
    "projection_dim": TEXT_HIDDEN,
}


def random_weight_pipeline(
    unet_config: dict[str, Any],
    vae_config: dict[str, Any],
    text_config: dict[str, Any],
    *,
    seed: int,
    device: str = "cpu",
) -> Any:
    """A ``StableDiffusionPipeline`` of random weights from component configs, with the tiny
    tokenizer; the tiny model and the GPU benchmark (full-size configs) are both built here.

    ``text_config`` may override the tokenizer-derived vocabulary size and token ids.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = make_tokenizer(Path(scratch))
    # One seed per component, so changing one config leaves the others' weights alone; the
    # components are created on ``device`` directly (a full-size UNet initialises fast there).
    with torch.device(device):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**unet_config)
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(**vae_config)
        torch.manual_seed(seed + 2)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                **{
                    "vocab_size": len(tokenizer),
                    "bos_token_id": tokenizer.bos_token_id,
                    "eos_token_id": tokenizer.eos_token_id,
                    "pad_token_id": tokenizer.pad_token_id,
                    **text_config,
                }
            )
        )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(**SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_tiny_model(out_dir: str | Path) -> Path:
    """Builds the model into ``out_dir`` (which must not exist yet or be empty)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pipe = random_weight_pipeline(UNET_CONFIG, VAE_CONFIG, TEXT_CONFIG, seed=SEED)
    pipe.save_pretrained(out, safe_serialization=True)
    (out / COMPLETE_MARKER).write_text(f"{TINY_MODEL_VERSION}\n", encoding="utf-8")
    return out


def is_complete(directory: Path) -> bool:
    marker = directory / COMPLETE_MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8").strip() == str(
        TINY_MODEL_VERSION
    )


def ensure_tiny_model(cache_dir: str | Path) -> Path:
    """The tiny model under ``cache_dir/tiny-v<version>``, built on first use."""
    cache = Path(cache_dir)
    target = cache / f"tiny-v{TINY_MODEL_VERSION}"
    if is_complete(target):
        return target
    with file_lock(cache / ".tiny.lock"):
        if is_complete(target):
            return target
        # Build aside and rename: a crash mid-build never leaves a half model at ``target``.
        scratch = Path(tempfile.mkdtemp(prefix=".tiny-build-", dir=cache))
        try:
            build_tiny_model(scratch)
            if target.exists():
                shutil.rmtree(target)
            os.replace(scratch, target)
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.tiny_model",
        description="Build the tiny random-weight Stable Diffusion model (offline, deterministic).",
    )
    parser.add_argument("out_dir", type=Path, help="directory to write the model into")
    args = parser.parse_args(argv)
    out: Path = args.out_dir
    if out.exists() and any(out.iterdir()):
        parser.error(f"out_dir {str(out)!r} exists and is not empty")
    build_tiny_model(out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
