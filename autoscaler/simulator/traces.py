"""Arrival traces: the built-in seeded ones and a CSV reader.

A trace fixes every job (arrival time, lane, GPU seconds) in advance, so every policy is
measured on exactly the same work. It may also carry spot-interruption windows.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from autoscaler.errors import TraceError
from sdfleet.messages import Lane

INTERACTIVE: Final = Lane.INTERACTIVE
TRAINING: Final = Lane.TRAINING
BATCH: Final = Lane.BATCH
#: Lanes in the order workers drain them.
LANES: Final = (INTERACTIVE, TRAINING, BATCH)

#: Per-job GPU seconds: lognormal around the median (a 512x512, 30-step SD 1.5 image on a
#: mid-range GPU takes about 6 s; prompts and sizes spread it).
DEFAULT_JOB_MEDIAN_SECONDS: Final = 6.0
DEFAULT_JOB_SIGMA: Final = 0.35
#: Per-training GPU seconds: lognormal around 15 minutes (1000 LoRA steps of SD 1.5 at 512 px
#: plus loading and checkpoints; the scaler's training_minutes_per_job default).
DEFAULT_TRAINING_MEDIAN_SECONDS: Final = 900.0
DEFAULT_TRAINING_SIGMA: Final = 0.3
#: Quiet time after the last arrival, so every policy can scale back to zero in the run.
TAIL_SECONDS: Final = 1800.0
MAX_CSV_JOBS: Final = 1_000_000


@dataclass(frozen=True)
class TraceJob:
    arrival: float
    lane: Lane
    service: float


@dataclass(frozen=True)
class SpotWindow:
    """Spot interruptions arrive at ``rate_per_hour`` per spot instance inside the window."""

    start: float
    end: float
    rate_per_hour: float


@dataclass(frozen=True)
class Trace:
    name: str
    description: str
    jobs: tuple[TraceJob, ...]
    duration: float
    spot_windows: tuple[SpotWindow, ...] = field(default=())

    @property
    def mean_service(self) -> float:
        return sum(j.service for j in self.jobs) / len(self.jobs) if self.jobs else 0.0

    def peak_rate(self, window: float = 300.0) -> float:
        """The largest arrival rate over any ``window``-second span (jobs per second)."""
        arrivals = [j.arrival for j in self.jobs]
        best, left = 0, 0
        for right, t in enumerate(arrivals):
            while arrivals[left] < t - window:
                left += 1
            best = max(best, right - left + 1)
        return best / window


def _service(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _lane(rng: random.Random, batch_share: float) -> Lane:
    return BATCH if rng.random() < batch_share else INTERACTIVE


def _poisson_jobs(
    rng: random.Random,
    rate: Callable[[float], float],
    max_rate: float,
    end: float,
    batch_share: float = 0.2,
    median: float = DEFAULT_JOB_MEDIAN_SECONDS,
    sigma: float = DEFAULT_JOB_SIGMA,
) -> list[TraceJob]:
    """A non-homogeneous Poisson process by thinning."""
    jobs: list[TraceJob] = []
    t = 0.0
    while True:
        t += rng.expovariate(max_rate)
        if t >= end:
            return jobs
        if rng.random() * max_rate <= rate(t):
            jobs.append(TraceJob(t, _lane(rng, batch_share), _service(rng, median, sigma)))


def steady(seed: int = 1) -> Trace:
    rng = random.Random(seed)
    end = 2 * 3600.0
    jobs = _poisson_jobs(rng, lambda _t: 0.5, 0.5, end)
    return Trace(
        "steady",
        "Poisson, 0.5 jobs/s for 2 h (3 busy GPUs on average)",
        tuple(jobs),
        end + TAIL_SECONDS,
    )


def bursty(seed: int = 2) -> Trace:
    """A two-state MMPP: quiet (0.05/s) for ~20 min, bursts (1.5/s) for ~5 min."""
    rng = random.Random(seed)
    end = 4 * 3600.0
    jobs: list[TraceJob] = []
    t, high = 0.0, False
    while t < end:
        stay = rng.expovariate(1 / (300.0 if high else 1200.0))
        rate = 1.5 if high else 0.05
        stop = min(end, t + stay)
        now = t
        while True:
            now += rng.expovariate(rate)
            if now >= stop:
                break
            jobs.append(
                TraceJob(
                    now,
                    _lane(rng, 0.2),
                    _service(rng, DEFAULT_JOB_MEDIAN_SECONDS, DEFAULT_JOB_SIGMA),
                )
            )
        t, high = stop, not high
    return Trace(
        "bursty",
        "MMPP: 0.05/s quiet ~20 min, 1.5/s bursts ~5 min, 4 h",
        tuple(jobs),
        end + TAIL_SECONDS,
    )


def diurnal(seed: int = 3) -> Trace:
    rng = random.Random(seed)
    end = 24 * 3600.0

    def rate(t: float) -> float:
        # Trough 0.01/s at 04:00, peak 0.8/s at 16:00.
        phase = math.cos(2 * math.pi * (t / 3600.0 - 16.0) / 24.0)
        return 0.01 + 0.79 * (1 + phase) / 2

    jobs = _poisson_jobs(rng, rate, 0.8, end)
    return Trace(
        "diurnal", "24 h sine: 0.01/s at 04:00 to 0.8/s at 16:00", tuple(jobs), end + TAIL_SECONDS
    )


def batch_dump(seed: int = 4) -> Trace:
    rng = random.Random(seed)
    jobs = [
        TraceJob(
            60.0 + n * 0.01, BATCH, _service(rng, DEFAULT_JOB_MEDIAN_SECONDS, DEFAULT_JOB_SIGMA)
        )
        for n in range(5000)
    ]
    # A trickle of web jobs on top: they must not wait behind the dump.
    t = 0.0
    while True:
        t += rng.expovariate(0.02)
        if t > 3 * 3600.0:
            break
        jobs.append(
            TraceJob(t, INTERACTIVE, _service(rng, DEFAULT_JOB_MEDIAN_SECONDS, DEFAULT_JOB_SIGMA))
        )
    jobs.sort(key=lambda j: j.arrival)
    return Trace(
        "batch-dump",
        "5,000 batch jobs at once, web jobs at 0.02/s, 3 h",
        tuple(jobs),
        3 * 3600.0 + TAIL_SECONDS,
    )


def sparse(seed: int = 5) -> Trace:
    rng = random.Random(seed)
    end = 12 * 3600.0
    jobs = _poisson_jobs(rng, lambda _t: 1 / 2400.0, 1 / 2400.0, end, batch_share=0.0)
    return Trace(
        "sparse", "long idle: single jobs ~40 min apart, 12 h", tuple(jobs), end + TAIL_SECONDS
    )


def spot_storm(seed: int = 6) -> Trace:
    rng = random.Random(seed)
    end = 2 * 3600.0
    jobs = _poisson_jobs(rng, lambda _t: 0.5, 0.5, end)
    return Trace(
        "spot-storm",
        "steady 0.5/s; 30 min in, 30 min of spot interruptions at 4/h per instance",
        tuple(jobs),
        end + TAIL_SECONDS,
        spot_windows=(SpotWindow(1800.0, 3600.0, 4.0),),
    )


def training_mix(seed: int = 7) -> Trace:
    """Steady web and batch images with LoRA trainings mixed in: the trainings must neither
    delay the web jobs nor be mistaken for a burst of images."""
    rng = random.Random(seed)
    end = 3 * 3600.0
    jobs = _poisson_jobs(rng, lambda _t: 0.3, 0.3, end)
    t = 0.0
    while True:
        t += rng.expovariate(1 / 600.0)
        if t >= end:
            break
        service = _service(rng, DEFAULT_TRAINING_MEDIAN_SECONDS, DEFAULT_TRAINING_SIGMA)
        jobs.append(TraceJob(t, TRAINING, service))
    jobs.sort(key=lambda j: j.arrival)
    return Trace(
        "training-mix",
        "Poisson 0.3 images/s (20% batch) with a LoRA training every ~10 min (~15 min each), 3 h",
        tuple(jobs),
        end + TAIL_SECONDS,
    )


BUILT_IN: Final[dict[str, Callable[..., Trace]]] = {
    "steady": steady,
    "bursty": bursty,
    "diurnal": diurnal,
    "batch-dump": batch_dump,
    "sparse": sparse,
    "spot-storm": spot_storm,
    "training-mix": training_mix,
}


# ---- held-out shapes: generated per seed, never used to tune the policy's knobs ---------
#: Job sizes for the heavy-tailed mix: (share, median GPU seconds): one 512 px image, four
#: images, one 1024 px image, a long img2img batch.
JOB_SIZES: Final = ((0.6, 6.0), (0.25, 24.0), (0.1, 30.0), (0.05, 120.0))


def _sized(rng: random.Random) -> float:
    pick = rng.random()
    for share, median in JOB_SIZES:
        if pick < share:
            return _service(rng, median, 0.5)
        pick -= share
    return _service(rng, JOB_SIZES[-1][1], 0.5)


def flash_crowd(seed: int) -> Trace:
    """A quiet web trickle (0.03/s) with 2-4 flash crowds: 2/s within a minute, then an
    exponential decay over ~8 minutes; 3 h."""
    rng = random.Random(seed)
    end = 3 * 3600.0
    crowds = sorted(rng.uniform(600.0, end - 1200.0) for _ in range(rng.randint(2, 4)))

    def rate(t: float) -> float:
        extra = 0.0
        for start in crowds:
            if start <= t:
                ramp = min(1.0, (t - start) / 60.0)
                extra += 2.0 * ramp * math.exp(-max(0.0, t - start - 60.0) / 480.0)
        return 0.03 + extra

    jobs = _poisson_jobs(rng, rate, 2.0 * len(crowds) + 0.03, end, batch_share=0.1)
    return Trace(
        "flash-crowd",
        f"0.03/s web trickle, {len(crowds)} flash crowds to 2/s decaying over ~8 min, 3 h",
        tuple(jobs),
        end + TAIL_SECONDS,
    )


def weekly(seed: int) -> Trace:
    """Two days: a weekday (peak 0.2/s at 15:00) then a weekend day (peak 0.06/s), with
    hour-to-hour noise; 48 h."""
    rng = random.Random(seed)
    end = 48 * 3600.0
    noise = [rng.uniform(0.7, 1.3) for _ in range(49)]

    def rate(t: float) -> float:
        hour = t / 3600.0
        peak = 0.2 if hour < 24 else 0.06
        phase = math.cos(2 * math.pi * (hour % 24 - 15.0) / 24.0)
        return (0.005 + peak * (1 + phase) / 2) * noise[int(hour)]

    jobs = _poisson_jobs(rng, rate, 0.2 * 1.3 + 0.01, end, batch_share=0.2)
    return Trace(
        "weekly",
        "weekday (peak 0.2/s) then weekend day (peak 0.06/s), hourly noise, 48 h",
        tuple(jobs),
        end + TAIL_SECONDS,
    )


def heavy_tail(seed: int) -> Trace:
    """Steady 0.15/s for 2 h with heavy-tailed job times mixing sizes and image counts
    (6 s to minutes: ``JOB_SIZES``), 40% batch."""
    rng = random.Random(seed)
    end = 2 * 3600.0
    jobs: list[TraceJob] = []
    t = 0.0
    while True:
        t += rng.expovariate(0.15)
        if t >= end:
            break
        jobs.append(TraceJob(t, _lane(rng, 0.4), _sized(rng)))
    return Trace(
        "heavy-tail",
        "0.15/s for 2 h; job sizes 6 s (60%), 24 s, 30 s, 120 s (5%), lognormal; 40% batch",
        tuple(jobs),
        end + TAIL_SECONDS,
    )


#: Held-out shapes: the benchmark reports them over seeds no knob was tuned on (heavy-tail's
#: seeds 1-10 chose the policy's ``VARIATION_HEADROOM``; the benchmark reports 101-110).
GENERATED: Final[dict[str, Callable[[int], Trace]]] = {
    "flash-crowd": flash_crowd,
    "weekly": weekly,
    "heavy-tail": heavy_tail,
}


def poisson(
    rate: float,
    duration: float,
    seed: int,
    median: float,
    sigma: float = 0.0,
    exponential: bool = False,
) -> Trace:
    """A homogeneous Poisson trace (the theory check uses exponential service times)."""
    rng = random.Random(seed)
    jobs: list[TraceJob] = []
    t = 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            break
        service = rng.expovariate(1 / median) if exponential else _service(rng, median, sigma)
        jobs.append(TraceJob(t, INTERACTIVE, service))
    return Trace("poisson", f"Poisson {rate}/s", tuple(jobs), duration)


def read_csv(path: Path, default_service: float = DEFAULT_JOB_MEDIAN_SECONDS) -> Trace:
    """Columns: ``arrival_seconds`` (required), ``lane`` and ``gpu_seconds`` (optional)."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise TraceError(f"trace file {str(path)!r}: cannot read ({exc})") from exc
    if not rows:
        raise TraceError(f"trace file {str(path)!r}: no rows")
    if len(rows) > MAX_CSV_JOBS:
        raise TraceError(f"trace file {str(path)!r}: {len(rows)} rows, limit {MAX_CSV_JOBS}")
    jobs = []
    for number, row in enumerate(rows, start=2):
        try:
            arrival = float(row["arrival_seconds"])
            service = float(row.get("gpu_seconds") or default_service)
        except (KeyError, TypeError, ValueError) as exc:
            raise TraceError(
                f"trace file {str(path)!r} line {number}: arrival_seconds and gpu_seconds "
                f"must be numbers (got {row!r})"
            ) from exc
        lane_name = (row.get("lane") or INTERACTIVE).strip()
        if lane_name not in LANES or arrival < 0 or service <= 0:
            raise TraceError(
                f"trace file {str(path)!r} line {number}: lane must be one of {', '.join(LANES)}, "
                f"arrival_seconds >= 0 and gpu_seconds > 0 (got {row!r})"
            )
        jobs.append(TraceJob(arrival, Lane(lane_name), service))
    jobs.sort(key=lambda j: j.arrival)
    return Trace(path.stem, f"from {path.name}", tuple(jobs), jobs[-1].arrival + TAIL_SECONDS)


def load(name_or_path: str, seed: int | None = None) -> Trace:
    if name_or_path in BUILT_IN:
        factory = BUILT_IN[name_or_path]
        return factory(seed) if seed is not None else factory()
    path = Path(name_or_path)
    if path.suffix.lower() == ".csv":
        return read_csv(path)
    raise TraceError(
        f"trace: {name_or_path!r} is neither a built-in trace ({', '.join(BUILT_IN)}) "
        "nor a .csv file"
    )
