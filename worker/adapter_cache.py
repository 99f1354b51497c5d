"""Trained adapters on a warm worker: at most ``capacity`` kept in memory (least recently used
dropped first), and one of them at a time in the model's single LoRA slot.

The model holds one peft adapter, :data:`SLOT`, whatever the cache's size. Switching to another
cached adapter copies its weights into the slot's layers in place (peft's hotswap through
``load_lora_weights(..., hotswap=True)``): no file is read, the base model is never reloaded,
and the cost is that of one adapter's weights, the same with 1 or 8 cached. (Loading every
cached adapter into the model, the usual way, makes each switch and each generation walk every
loaded adapter in every LoRA layer, so both slow down as the cache grows.)

The slot is rebuilt instead (delete, then load) for its first adapter and where hotswap cannot
apply: an adapter with text-encoder layers (diffusers 0.42 hotswaps UNet layers only), one that
targets other layers, or one of a higher rank than the slot's (a lower rank is swapped in padded
with zeros, which computes the same). A job without an adapter runs with LoRA disabled, so it
draws exactly what the base model draws. The pipeline call that follows uses one adapter state
for all its jobs (the batch key includes the adapter,
:meth:`worker.generation.Generator.batch_key`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

#: The one adapter name the model ever holds.
SLOT: Final = "sdfleet_slot"
#: Keys of a diffusers-format LoRA file that belong to the text encoder.
TEXT_ENCODER_PREFIX: Final = "text_encoder."
#: A LoRA layer's down projection in each key style diffusers reads (ours is the first).
DOWN_SUFFIXES: Final = ("lora.down.weight", "lora_A.weight", "lora_down.weight")


def adapter_name(owner: str, adapter_id: str) -> str:
    """A name unique to the owner's adapter (no dots, so it is also a valid peft name)."""
    return "a" + hashlib.sha256(f"{owner}/{adapter_id}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CachedAdapter:
    path: str
    weights: dict[str, Any]

    @property
    def has_text_encoder_layers(self) -> bool:
        return any(key.startswith(TEXT_ENCODER_PREFIX) for key in self.weights)

    @property
    def rank(self) -> int:
        """The largest rank of its layers (a down projection is rank x inputs)."""
        return max(
            (int(w.shape[0]) for key, w in self.weights.items() if key.endswith(DOWN_SUFFIXES)),
            default=0,
        )


class AdapterCache:
    def __init__(self, pipe: Any, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: must be >= 1 (got {capacity})")
        self._pipe = pipe
        self._capacity = capacity
        self._cached: OrderedDict[str, CachedAdapter] = OrderedDict()
        #: The cached adapter whose weights are in the slot (None: none, or not known to be).
        self._in_slot: str | None = None
        self._slot_has_text_encoder_layers = False
        self._slot_rank = 0
        #: Adapter files read, hotswaps into the slot, and rebuilds of the slot.
        self.loads = 0
        self.hotswaps = 0
        self.slot_rebuilds = 0

    @property
    def loaded(self) -> list[str]:
        """Cached adapter names, least recently used first."""
        return list(self._cached)

    def activate(self, name: str, path: str, scale: float) -> None:
        """Makes ``name`` (from ``path``, read only when not cached) the only active adapter."""
        cached = self._cached.get(name)
        if cached is None or cached.path != path:
            self._cached.pop(name, None)
            while len(self._cached) >= self._capacity:
                self._evict(next(iter(self._cached)))
            cached = CachedAdapter(path, self._read(path))
            self._cached[name] = cached
            self.loads += 1
            if self._in_slot == name:
                self._in_slot = None  # a new version of the same adapter
        self._cached.move_to_end(name)
        if self._in_slot != name:
            self._fill_slot(cached)
            self._in_slot = name
        self._pipe.enable_lora()
        self._pipe.set_adapters([SLOT], adapter_weights=[scale])

    def deactivate(self) -> None:
        """The base model alone for the next call."""
        if self._slot_exists():
            self._pipe.disable_lora()

    def clear(self) -> None:
        """Forgets every cached adapter and removes the slot from the model."""
        self._cached.clear()
        self._in_slot = None
        if self._slot_exists():
            self._pipe.delete_adapters([SLOT])

    def _read(self, path: str) -> dict[str, Any]:
        from safetensors.torch import load_file

        # Kept on the UNet's device, so a hotswap copies device to device.
        return load_file(path, device=str(self._pipe.unet.device))

    def _evict(self, name: str) -> None:
        del self._cached[name]
        if self._in_slot == name:
            self._in_slot = None

    def _slot_exists(self) -> bool:
        return SLOT in self._pipe.get_list_adapters().get("unet", [])

    def _fill_slot(self, cached: CachedAdapter) -> None:
        hotswappable = (
            self._slot_exists()
            and not cached.has_text_encoder_layers
            and not self._slot_has_text_encoder_layers
            # A larger tensor would be swapped in by exchanging storage with the cache's own.
            and cached.rank <= self._slot_rank
        )
        if hotswappable:
            try:
                # A shallow copy: diffusers renames keys in the dict it is given.
                self._pipe.load_lora_weights(dict(cached.weights), adapter_name=SLOT, hotswap=True)
            except (RuntimeError, ValueError):
                pass  # layers or a config the slot cannot take: the rebuild below replaces it
            else:
                self.hotswaps += 1
                return
        if self._slot_exists():
            self._pipe.delete_adapters([SLOT])
        # Copies: a later hotswap writes into the slot's tensors, which must not be the cache's.
        self._pipe.load_lora_weights(
            {key: tensor.clone() for key, tensor in cached.weights.items()}, adapter_name=SLOT
        )
        self._slot_has_text_encoder_layers = cached.has_text_encoder_layers
        self._slot_rank = cached.rank
        self.slot_rebuilds += 1
