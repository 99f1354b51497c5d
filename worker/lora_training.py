"""LoRA fine-tuning of a Stable Diffusion model on a few images, as diffusers' DreamBooth LoRA
example does it (examples/dreambooth/train_dreambooth_lora.py), without Accelerate.

* LoRA layers (peft ``LoraConfig``, Gaussian init, ``lora_alpha = rank``) on the UNet's attention
  projections ``to_q``, ``to_k``, ``to_v``, ``to_out.0``; with ``train_text_encoder`` also on the
  CLIP text encoder's ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``. Everything else frozen.
* One image per step; the epsilon (or v) prediction loss against DDPM noise at a random timestep.
* Deterministic: the LoRA init follows the seed; every epoch's data order is a permutation drawn
  from ``seed + epoch`` (so it is known at any step without saved state); noise, timesteps and
  VAE samples come from one generator whose state is part of the checkpoint.
* A checkpoint is the LoRA weights, AdamW's state, the LR scheduler's state, the generator's
  and torch's RNG state, the step and the losses: restoring it on another machine continues
  exactly where the run was (:meth:`LoraTrainer.state` / :meth:`LoraTrainer.restore`).
* On CUDA: bf16 autocast around the forward passes and gradient checkpointing (the LoRA
  parameters and the optimizer stay fp32); on CPU plain fp32, the same code otherwise.

This module knows nothing of S3, SQS or job records (:mod:`worker.train_run` does).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

UNET_TARGET_MODULES: Final = ("to_q", "to_k", "to_v", "to_out.0")
TEXT_ENCODER_TARGET_MODULES: Final = ("q_proj", "k_proj", "v_proj", "out_proj")
ADAM_BETAS: Final = (0.9, 0.999)
ADAM_WEIGHT_DECAY: Final = 1e-2
ADAM_EPSILON: Final = 1e-8
MAX_GRAD_NORM: Final = 1.0
#: Checkpoint format; bump when its keys change.
CHECKPOINT_VERSION: Final = 1


@dataclass(frozen=True)
class TrainingExample:
    """One instance image (RGB, already ``resolution`` square) and the text it is trained with."""

    image: Any
    caption: str


@dataclass(frozen=True)
class TrainingConfig:
    steps: int
    learning_rate: float
    rank: int
    resolution: int
    train_text_encoder: bool
    seed: int


@dataclass
class TrainingState:
    """Where a run is: restored from a checkpoint or fresh."""

    step: int = 0
    losses: list[float] = field(default_factory=list)


def data_order(seed: int, epoch: int, count: int) -> list[int]:
    """The order of the instance images in ``epoch``: the same for every run with ``seed``."""
    import torch

    generator = torch.Generator("cpu").manual_seed(seed + epoch)
    return [int(i) for i in torch.randperm(count, generator=generator)]


class LoraTrainer:
    """Owns a freshly loaded copy of the base model's components while one training runs."""

    # Long on purpose: peft injection, optimizer, scheduler and data order are set up together
    # so a resumed run restores them in the same order as a fresh one.
    def __init__(
        self,
        components: dict[str, Any],
        examples: Sequence[TrainingExample],
        config: TrainingConfig,
        *,
        device: str = "cpu",
    ) -> None:
        import torch
        from diffusers import DDPMScheduler
        from diffusers.optimization import get_scheduler
        from peft import LoraConfig, inject_adapter_in_model

        if not examples:
            raise ValueError("examples: at least one image is needed")
        self.config = config
        self.device = device
        self._examples = list(examples)
        self.unet = components["unet"]
        self.vae = components["vae"]
        self.text_encoder = components["text_encoder"]
        self.tokenizer = components["tokenizer"]
        self.noise_scheduler = DDPMScheduler.from_config(components["scheduler"].config)
        for module in (self.unet, self.vae, self.text_encoder):
            module.requires_grad_(False)
            module.to(device)
        # The LoRA init draws from torch's global generator: seed it for a reproducible start.
        torch.manual_seed(config.seed)
        self.unet.add_adapter(
            LoraConfig(
                r=config.rank,
                lora_alpha=config.rank,
                init_lora_weights="gaussian",
                target_modules=list(UNET_TARGET_MODULES),
            )
        )
        if config.train_text_encoder:
            # peft directly: transformers' own add_adapter wants a newer peft than diffusers.
            self.text_encoder = inject_adapter_in_model(
                LoraConfig(
                    r=config.rank,
                    lora_alpha=config.rank,
                    init_lora_weights="gaussian",
                    target_modules=list(TEXT_ENCODER_TARGET_MODULES),
                ),
                self.text_encoder,
            )
        self._autocast = device.startswith("cuda")
        if self._autocast:
            self.unet.enable_gradient_checkpointing()
            if config.train_text_encoder:
                self.text_encoder.gradient_checkpointing_enable()
        self.parameters = [p for p in self._trained_modules_parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.parameters,
            lr=config.learning_rate,
            betas=ADAM_BETAS,
            weight_decay=ADAM_WEIGHT_DECAY,
            eps=ADAM_EPSILON,
        )
        self.lr_scheduler = get_scheduler("constant", optimizer=self.optimizer)
        self.generator = torch.Generator("cpu").manual_seed(config.seed)
        self.state = TrainingState()
        self._pixels = [self._to_pixels(example.image) for example in self._examples]
        self._tokens = [self._tokenize(example.caption) for example in self._examples]

    # -- setup -------------------------------------------------------------------------------
    def _trained_modules_parameters(self) -> list[Any]:
        params = list(self.unet.parameters())
        if self.config.train_text_encoder:
            params += list(self.text_encoder.parameters())
        return params

    def _to_pixels(self, image: Any) -> Any:
        import numpy as np
        import torch

        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(self.device)

    def _tokenize(self, caption: str) -> Any:
        tokens = self.tokenizer(
            caption,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        return tokens.input_ids.to(self.device)

    # -- training ----------------------------------------------------------------------------
    def example_at(self, step: int) -> int:
        """The index of the image trained on at ``step`` (0-based)."""
        count = len(self._examples)
        return data_order(self.config.seed, step // count, count)[step % count]

    def train_step(self) -> float:
        """One optimisation step on the next image; returns its loss."""
        import torch
        import torch.nn.functional as functional

        index = self.example_at(self.state.step)
        self.unet.train()
        if self.config.train_text_encoder:
            self.text_encoder.train()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self._autocast):
            with torch.no_grad():
                posterior = self.vae.encode(self._pixels[index]).latent_dist
                latents = posterior.sample(generator=self.generator).to(self.device)
                latents = latents * self.vae.config.scaling_factor
            noise = torch.randn(latents.shape, generator=self.generator).to(self.device)
            timesteps = torch.randint(
                0,
                self.noise_scheduler.config.num_train_timesteps,
                (latents.shape[0],),
                generator=self.generator,
            ).to(self.device)
            noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
            hidden = self.text_encoder(self._tokens[index], return_dict=False)[0]
            prediction = self.unet(noisy, timesteps, hidden, return_dict=False)[0]
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        loss = functional.mse_loss(prediction.float(), target.float(), reduction="mean")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters, MAX_GRAD_NORM)
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach().item())
        self.state.step += 1
        self.state.losses.append(value)
        return value

    def run(self, on_step: Callable[[int, float], None]) -> None:
        """Steps until ``config.steps``; ``on_step(step, loss)`` after each (it may raise to
        stop, e.g. on a cancel, or write a checkpoint)."""
        while self.state.step < self.config.steps:
            loss = self.train_step()
            on_step(self.state.step, loss)

    # -- checkpoints -------------------------------------------------------------------------
    def lora_state(self) -> dict[str, dict[str, Any]]:
        """The trained LoRA weights in peft's naming, per module."""
        from peft.utils import get_peft_model_state_dict

        layers = {"unet": _detached(get_peft_model_state_dict(self.unet))}
        if self.config.train_text_encoder:
            layers["text_encoder"] = _detached(get_peft_model_state_dict(self.text_encoder))
        return layers

    def checkpoint_bytes(self) -> bytes:
        import torch

        payload = {
            "version": CHECKPOINT_VERSION,
            "config": json.dumps(self.config.__dict__, sort_keys=True),
            "step": self.state.step,
            "losses": list(self.state.losses),
            "lora": self.lora_state(),
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        """Continues from a checkpoint of a run with the same config (else ValueError)."""
        import torch
        from peft.utils import set_peft_model_state_dict

        # weights_only: a checkpoint is tensors and plain values; nothing in it is executed.
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if payload.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint: version {payload.get('version')!r} is not supported")
        if payload["config"] != json.dumps(self.config.__dict__, sort_keys=True):
            raise ValueError("checkpoint: made with different training parameters")
        set_peft_model_state_dict(self.unet, payload["lora"]["unet"])
        if self.config.train_text_encoder:
            set_peft_model_state_dict(self.text_encoder, payload["lora"]["text_encoder"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.lr_scheduler.load_state_dict(payload["lr_scheduler"])
        self.generator.set_state(payload["generator"])
        torch.set_rng_state(payload["torch_rng"])
        self.state = TrainingState(step=int(payload["step"]), losses=list(payload["losses"]))

    # -- the result --------------------------------------------------------------------------
    def adapter_bytes(self, metadata: dict[str, str]) -> bytes:
        """The adapter as one ``.safetensors`` file in diffusers' LoRA format (what
        ``pipe.load_lora_weights`` reads), with ``metadata`` in its header."""
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import convert_state_dict_to_diffusers
        from safetensors.torch import save

        layers = self.lora_state()
        state: dict[str, Any] = {}
        for prefix, weights in layers.items():
            packed = StableDiffusionPipeline.pack_weights(
                convert_state_dict_to_diffusers(weights), prefix
            )
            state.update(packed)
        return bytes(save({k: v.contiguous() for k, v in state.items()}, metadata=metadata))


def _detached(weights: dict[str, Any]) -> dict[str, Any]:
    return {name: tensor.detach().to("cpu").clone() for name, tensor in weights.items()}
