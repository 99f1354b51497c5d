"""The job's ``scheduler``: the model's own, or one built from the model's scheduler config.

Built once on first use and shared by txt2img and img2img (a scheduler keeps per-call state in
``set_timesteps``, which every pipeline call resets; calls run one at a time).
"""

from __future__ import annotations

from typing import Any

from sdfleet.requests import Scheduler


def _build(name: Scheduler, config: Any) -> Any:
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
    )

    if name is Scheduler.DPMPP_2M:
        return DPMSolverMultistepScheduler.from_config(
            config, algorithm_type="dpmsolver++", solver_order=2
        )
    if name is Scheduler.EULER_A:
        return EulerAncestralDiscreteScheduler.from_config(config)
    if name is Scheduler.DDIM:
        return DDIMScheduler.from_config(config)
    raise ValueError(f"scheduler: {name.value!r} has no builder")


class Schedulers:
    def __init__(self, default: Any) -> None:
        self._built: dict[Scheduler, Any] = {Scheduler.DEFAULT: default}

    def get(self, name: Scheduler) -> Any:
        scheduler = self._built.get(name)
        if scheduler is None:
            scheduler = _build(name, self._built[Scheduler.DEFAULT].config)
            self._built[name] = scheduler
        return scheduler

    def label(self, name: Scheduler) -> str:
        """What the PNG's parameters call it: the diffusers class (and the job's name)."""
        return type(self.get(name)).__name__
