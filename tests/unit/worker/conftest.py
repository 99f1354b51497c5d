"""Fixtures for the generation tests: one tiny model and one loaded generator per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# The tiny model is built from configs: nothing may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from sdfleet.settings import WorkerSettings
from worker.generation import Generator


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # Tiny tensors on a shared 2-core machine: extra threads only add contention.
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def worker_settings(model_cache: Path) -> WorkerSettings:
    return WorkerSettings(
        model_source="tiny", model_cache_dir=str(model_cache), device="cpu", max_batch_size=4
    )


@pytest.fixture(scope="session")
def generator(worker_settings: WorkerSettings) -> Generator:
    return Generator.load(worker_settings)
