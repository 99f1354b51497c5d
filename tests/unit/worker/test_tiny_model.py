"""The tiny model: deterministic, offline, in diffusers' format, built once per cache."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from pathlib import Path

import pytest

from sdfleet.settings import WorkerSettings
from worker.generation import Generator
from worker.tiny_model import (
    COMPLETE_MARKER,
    MODEL_MAX_LENGTH,
    build_tiny_model,
    ensure_tiny_model,
    main,
)


def digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_two_builds_are_byte_identical(
    generator: Generator, model_cache: Path, tmp_path: Path
) -> None:
    cached = ensure_tiny_model(model_cache)
    rebuilt = build_tiny_model(tmp_path / "again")
    assert digests(cached) == digests(rebuilt)
    files = set(digests(rebuilt))
    assert {
        "model_index.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
        "scheduler/scheduler_config.json",
    } <= files
    assert any(name.startswith("tokenizer/") for name in files)
    index = json.loads((rebuilt / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["safety_checker"] == [None, None]


def test_tokenizer_is_a_real_clip_tokenizer(generator: Generator) -> None:
    tokenizer = generator.txt2img.tokenizer
    assert tokenizer.model_max_length == MODEL_MAX_LENGTH
    tokens = tokenizer.tokenize("the cat")
    assert tokens[-1] == "at</w>"  # merges apply, words end with CLIP's end-of-word suffix
    ids = tokenizer("the cat", padding="max_length", max_length=MODEL_MAX_LENGTH).input_ids
    assert len(ids) == MODEL_MAX_LENGTH
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids[1:3]


def test_ensure_reuses_a_complete_build(generator: Generator, model_cache: Path) -> None:
    folder = ensure_tiny_model(model_cache)
    stamp = (folder / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(model_cache) == folder
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns == stamp


def test_an_interrupted_build_is_rebuilt_and_racers_share_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the tiny model must not touch the network: connect{args[1:]}")

    # Offline by construction, not only by HF_HUB_OFFLINE: any connection attempt fails the test.
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    target = tmp_path / "tiny-v1"
    (target / "unet").mkdir(parents=True)
    (target / "unet" / "half-written").write_bytes(b"x")  # no completion marker
    results: list[Path] = []
    racers = [
        threading.Thread(target=lambda: results.append(ensure_tiny_model(tmp_path)))
        for _ in range(2)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert results == [target, target]
    assert (target / COMPLETE_MARKER).is_file()
    assert not (target / "unet" / "half-written").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tiny-build-")] == []
    # It loads through the normal path.
    loaded = Generator.load(
        WorkerSettings(model_source=str(target), model_cache_dir=str(tmp_path), device="cpu")
    )
    assert loaded.txt2img.unet.config.cross_attention_dim == 32


def test_command_builds_into_a_folder_and_refuses_a_full_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    assert main([str(out)]) == 0
    assert (out / "model_index.json").is_file()
    assert str(out) in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(out)])
    assert "exists and is not empty" in capsys.readouterr().err
