"""The fleet's measured starts as the simulator's boot times (``--start-samples FILE``).

``sdfleet starts --out FILE`` writes the file from the workers' start records
(:mod:`sdfleet.starts`): per start path, ``[boot_seconds, load_seconds]`` pairs. A simulated
launch draws one pair uniformly (with replacement) instead of the lognormals, so the
distribution's shape, tail included, is the fleet's own.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from autoscaler.errors import ScalerError
from autoscaler.simulator.engine import FleetEnvironment
from sdfleet.starts import START_SAMPLES_VERSION, StartPath

#: A part of a start longer than this is not a start: the boot deadline replaces the instance
#: long before (``boot_deadline_seconds`` is at most 3600).
MAX_PART_SECONDS: Final = 3600.0
#: How far the tfvars' ``boot_seconds`` may be from the measured median before
#: ``sdfleet simulate`` says so.
BOOT_SECONDS_DRIFT: Final = 0.2


class StartSamplesError(ScalerError):
    """A start samples file is unreadable or holds an impossible start."""


Pairs = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class StartSamples:
    source: str
    launch: Pairs
    resume: Pairs
    launch_to_pool: Pairs

    def apply(self, environment: FleetEnvironment) -> FleetEnvironment:
        return replace(
            environment,
            launch_samples=self.launch,
            resume_samples=self.resume,
            pool_launch_samples=self.launch_to_pool,
        )

    @property
    def launch_median_seconds(self) -> float | None:
        """Median launch to ready of a start into service, None without launch samples."""
        if not self.launch:
            return None
        return statistics.median(boot + load for boot, load in self.launch)

    def boot_seconds_advice(self, boot_seconds: float) -> str | None:
        """A line when the tfvars' ``boot_seconds`` is far from the measured median."""
        median = self.launch_median_seconds
        if median is None or abs(boot_seconds - median) <= BOOT_SECONDS_DRIFT * median:
            return None
        return (
            f"the measured launches' median launch to ready is {median:.0f} s, boot_seconds "
            f"{boot_seconds:g} s: set boot_seconds = {math.ceil(median)} in the tfvars (a "
            "simulation without --start-samples assumes it, and boot_deadline_seconds must "
            "exceed it)"
        )


def load_start_samples(path: Path) -> StartSamples:
    where = f"start samples {path}"
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise StartSamplesError(f"{where}: cannot read it: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise StartSamplesError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise StartSamplesError(f"{where}: must be a JSON object from `sdfleet starts --out`")
    version = document.get("version")
    if version != START_SAMPLES_VERSION:
        raise StartSamplesError(
            f"{where}: version must be {START_SAMPLES_VERSION} (got {version!r})"
        )
    paths = document.get("paths")
    if not isinstance(paths, dict):
        raise StartSamplesError(f"{where}: paths must be an object of start paths")
    unknown = sorted(set(paths) - {p.value for p in StartPath})
    if unknown:
        raise StartSamplesError(f"{where}: paths: unknown start path(s) {unknown}")
    samples = StartSamples(
        source=str(document.get("source", path)),
        launch=_pairs(paths, StartPath.LAUNCH, where),
        resume=_pairs(paths, StartPath.RESUME, where),
        launch_to_pool=_pairs(paths, StartPath.LAUNCH_TO_POOL, where),
    )
    if not (samples.launch or samples.resume or samples.launch_to_pool):
        raise StartSamplesError(f"{where}: holds no start (every path is empty)")
    return samples


def _pairs(paths: dict[str, Any], path: StartPath, where: str) -> Pairs:
    values = paths.get(path.value, [])
    if not isinstance(values, list):
        raise StartSamplesError(f"{where}: paths.{path.value} must be a list")
    pairs: list[tuple[float, float]] = []
    for index, value in enumerate(values):
        field = f"paths.{path.value}[{index}]"
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            raise StartSamplesError(
                f"{where}: {field} must be [boot_seconds, load_seconds] (got {value!r})"
            )
        for name, part in zip(("boot_seconds", "load_seconds"), value, strict=True):
            if not (math.isfinite(part) and 0 <= part <= MAX_PART_SECONDS):
                raise StartSamplesError(
                    f"{where}: {field}: {name} must be within 0..{MAX_PART_SECONDS:g} s "
                    f"(got {part})"
                )
        pairs.append((float(value[0]), float(value[1])))
    return tuple(pairs)
