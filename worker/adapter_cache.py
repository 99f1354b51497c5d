"""Trained adapters on a warm worker: loaded onto the base pipeline's UNet (and text encoder)
as named LoRA adapters, at most ``capacity`` at once, least recently used dropped first.

Switching between cached adapters is ``set_adapters`` (no weights are read, the base model is
never reloaded); a job without an adapter runs with LoRA disabled, so it draws exactly what the
base model draws. The pipeline call that follows uses one adapter state for all its jobs
(the batch key includes the adapter, :meth:`worker.generation.Generator.batch_key`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any


def adapter_name(owner: str, adapter_id: str) -> str:
    """A peft adapter name (no dots allowed) unique to the owner's adapter."""
    return "a" + hashlib.sha256(f"{owner}/{adapter_id}".encode()).hexdigest()[:24]


class AdapterCache:
    def __init__(self, pipe: Any, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: must be >= 1 (got {capacity})")
        self._pipe = pipe
        self._capacity = capacity
        self._loaded: OrderedDict[str, str] = OrderedDict()
        self.loads = 0

    @property
    def loaded(self) -> list[str]:
        """Adapter names, least recently used first."""
        return list(self._loaded)

    def activate(self, name: str, path: str, scale: float) -> None:
        """Makes ``name`` (from ``path``, read only when not cached) the only active adapter."""
        if self._loaded.get(name) != path:
            if name in self._loaded:
                self._drop(name)
            while len(self._loaded) >= self._capacity:
                self._drop(next(iter(self._loaded)))
            self._pipe.load_lora_weights(path, adapter_name=name)
            self._loaded[name] = path
            self.loads += 1
        self._loaded.move_to_end(name)
        self._pipe.enable_lora()
        self._pipe.set_adapters([name], adapter_weights=[scale])

    def deactivate(self) -> None:
        """The base model alone for the next call."""
        if self._loaded:
            self._pipe.disable_lora()

    def _drop(self, name: str) -> None:
        self._pipe.delete_adapters([name])
        del self._loaded[name]
