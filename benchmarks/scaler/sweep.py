"""Ours alone over seeds while one or more knobs vary: the runs behind docs/scaling.md's choices.

python -m benchmarks.scaler.sweep --name prod-window --tfvars terraform/environments/prod.tfvars \\
    --vary idle_seconds_before_scale_in=20,30,45,60 --trace steady --trace spot-storm

``--vary NAME=V1,V2,...`` (repeatable; several make every combination) names a policy knob
(a ``PolicyConfig`` field: ``sdfleet simulate --tfvars`` reads the same ones), a policy constant
(upper case, ``autoscaler/policy.py``: ``VARIATION_HEADROOM``, ``LOAD_SLACK``, ...) or
``boot_seconds`` (launch to first image, as in tfvars). The world is the benchmark's
(``benchmarks/scaler/run.py``: as slow as AWS) or ``--tfvars``'s, its boots measured ones with
``--start-samples FILE`` (``sdfleet starts --out``). Generated traces (held out)
take their shape from the seed. Prints one row per variant and trace, and writes every seed's
figures to ``benchmarks/results/sweeps/<name>.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

import autoscaler.policy as policy
from autoscaler.errors import ScalerError
from autoscaler.policy import PolicyConfig
from autoscaler.simulator.compare import Scenario, run_one
from autoscaler.simulator.metrics import busy_hours_bound, summarize
from autoscaler.simulator.scalers import OursScaler
from autoscaler.simulator.start_samples import StartSamples, load_start_samples
from autoscaler.simulator.tfvars import scenario_from_tfvars
from autoscaler.simulator.traces import BUILT_IN, GENERATED

from .run import BENCHMARK_SCENARIO, RESULTS, SEEDS, run_all, trace_named

SWEEP_RESULTS: Final = RESULTS / "sweeps"
#: The environment setting a variant may change besides the policy's knobs and constants.
BOOT_SECONDS: Final = "boot_seconds"
#: GPU-hours over the proven bound that steady and diurnal must stay within (issue 17).
BOUND_GOAL: Final = 1.3
KNOBS: Final = frozenset(field.name for field in fields(PolicyConfig))
CONSTANTS: Final = frozenset(
    name
    for name, value in vars(policy).items()
    if name.isupper() and isinstance(value, int | float) and not isinstance(value, bool)
)


class SweepError(ValueError):
    """A ``--vary``, ``--trace`` or ``--seeds`` this command cannot run."""


@dataclass(frozen=True)
class Run:
    """One variant on one trace and seed (picklable: it crosses to a worker process)."""

    variant: tuple[tuple[str, float], ...]
    trace: str
    seed: int
    tfvars: str | None
    #: ``sdfleet starts --out``'s file, read once by ``main``: measured starts in place of the
    #: lognormal boots.
    start_samples: StartSamples | None = None


def parse_vary(text: str) -> tuple[str, tuple[float, ...]]:
    name, _, values = text.partition("=")
    name = name.strip()
    if name not in KNOBS | CONSTANTS | {BOOT_SECONDS}:
        raise SweepError(
            f"--vary {text!r}: {name!r} is neither a policy knob ({', '.join(sorted(KNOBS))}), "
            f"a policy constant ({', '.join(sorted(CONSTANTS))}) nor {BOOT_SECONDS}"
        )
    try:
        numbers = tuple(float(value) for value in values.split(",") if value.strip())
    except ValueError:
        raise SweepError(f"--vary {text!r}: values must be numbers (got {values!r})") from None
    if not numbers:
        raise SweepError(f"--vary {text!r}: give at least one value after '='")
    return name, numbers


def parse_seeds(text: str) -> list[int]:
    """``1-10``, ``101,103`` or a mix."""
    seeds: list[int] = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise SweepError(f"--seeds: {part!r} is not a seed or a range like 1-10") from None
        if last < first:
            raise SweepError(f"--seeds: {part!r} ends before it starts")
        seeds.extend(range(first, last + 1))
    if not seeds:
        raise SweepError("--seeds: give at least one seed")
    return seeds


def check_trace(name: str) -> str:
    if name not in BUILT_IN and name not in GENERATED:
        known = ", ".join([*BUILT_IN, *GENERATED])
        raise SweepError(f"--trace {name!r}: not a built-in or generated trace ({known})")
    return name


def scenario_for(run: Run) -> Scenario:
    """The run's world and knobs; its constants are set in this process first."""
    scenario = scenario_from_tfvars(Path(run.tfvars)) if run.tfvars else BENCHMARK_SCENARIO
    knobs: dict[str, Any] = {}
    environment = scenario.environment
    for name, value in run.variant:
        if name in CONSTANTS:
            setattr(policy, name, int(value) if isinstance(getattr(policy, name), int) else value)
        elif name == BOOT_SECONDS:
            environment = environment.with_warmup(value)
        else:
            current = getattr(scenario.config, name)
            knobs[name] = int(value) if isinstance(current, int) else value
    if run.start_samples is not None:
        environment = run.start_samples.apply(environment)
    return replace(scenario, config=replace(scenario.config, **knobs), environment=environment)


@contextmanager
def constants_restored() -> Iterator[None]:
    """Policy constants a variant sets go back to what they were on leaving."""
    saved = {name: getattr(policy, name) for name in CONSTANTS}
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(policy, name, value)


def run_variant(run: Run) -> dict[str, Any]:
    with constants_restored():
        scenario = scenario_for(run)
        trace = trace_named(run.trace, run.seed)
        scaler = OursScaler(
            scenario.config,
            scenario.samples_per_invocation,
            scenario.environment.sampling_window_seconds,
        )
        stats = summarize(run_one(trace, scenario, scaler, run.seed))
    return {
        "variant": dict(run.variant),
        "trace": run.trace,
        "seed": run.seed,
        "target_wait_seconds": scenario.config.target_wait_seconds,
        "interactive_p95_wait": round(stats.interactive_p95_wait, 2),
        "gpu_hours": round(stats.gpu_hours, 4),
        "dollars": round(stats.dollars, 4),
        "bound_ratio": round(stats.gpu_hours / busy_hours_bound(trace), 4),
        "busy_killed": stats.busy_killed,
    }


def summarize_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant and trace, in the order the runs were listed."""
    groups: dict[tuple[tuple[tuple[str, float], ...], str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((tuple(sorted(row["variant"].items())), row["trace"]), []).append(row)
    summary = []
    for (variant, trace), found in groups.items():
        waits = [row["interactive_p95_wait"] for row in found]
        ratios = [row["bound_ratio"] for row in found]
        target = found[0]["target_wait_seconds"]
        summary.append(
            {
                "variant": dict(variant),
                "trace": trace,
                "seeds": len(found),
                "web_p95_mean": round(statistics.fmean(waits), 1),
                "web_p95_within_target": sum(wait <= target for wait in waits),
                "bound_ratio_mean": round(statistics.fmean(ratios), 3),
                "bound_ratio_min": min(ratios),
                "bound_ratio_max": max(ratios),
                "bound_ratio_within_goal": sum(ratio <= BOUND_GOAL for ratio in ratios),
                "busy_killed": sum(row["busy_killed"] for row in found),
            }
        )
    return summary


def _label(variant: dict[str, float]) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in variant.items()) or "as given"


def table(summary: list[dict[str, Any]], title: str) -> Table:
    out = Table(title=title)
    for header in (
        "variant",
        "trace",
        "web p95 mean",
        "web p95 within target",
        "GPU-h / bound",
        f"within {BOUND_GOAL}x",
        "busy killed",
    ):
        out.add_column(header)
    for row in summary:
        out.add_row(
            _label(row["variant"]),
            row["trace"],
            f"{row['web_p95_mean']:.1f} s",
            f"{row['web_p95_within_target']}/{row['seeds']}",
            f"{row['bound_ratio_mean']:.3f}x [{row['bound_ratio_min']:.2f}-"
            f"{row['bound_ratio_max']:.2f}]",
            f"{row['bound_ratio_within_goal']}/{row['seeds']}",
            str(row["busy_killed"]),
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--name", required=True, help="results file stem (sweeps/<name>.json)")
    parser.add_argument("--vary", action="append", required=True, help="NAME=V1,V2,...")
    parser.add_argument("--trace", action="append", required=True, help="trace (repeatable)")
    parser.add_argument("--seeds", default=f"{SEEDS[0]}-{SEEDS[-1]}", help="e.g. 1-10,101")
    parser.add_argument("--tfvars", type=Path, help="the world and knobs of FILE (prod.tfvars)")
    parser.add_argument(
        "--start-samples",
        type=Path,
        help="measured starts (`sdfleet starts --out FILE`) in place of the lognormal boots",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes")
    parser.add_argument("--out-dir", type=Path, default=SWEEP_RESULTS, help="where to write")
    args = parser.parse_args(argv)
    console = Console(width=160)
    try:
        varied = [parse_vary(text) for text in args.vary]
        traces = [check_trace(name) for name in args.trace]
        seeds = parse_seeds(args.seeds)
        if args.tfvars is not None and not args.tfvars.is_file():
            raise SweepError(f"--tfvars: no file {args.tfvars}")
        if args.workers < 1:
            raise SweepError(f"--workers: must be >= 1 (got {args.workers})")
        if args.start_samples is not None and BOOT_SECONDS in dict(varied):
            raise SweepError(
                f"--vary {BOOT_SECONDS}: leave it out with --start-samples (the measured "
                "starts are the boot times)"
            )
        variants = [
            tuple(zip([name for name, _ in varied], values, strict=True))
            for values in itertools.product(*(values for _, values in varied))
        ]
        tfvars = str(args.tfvars) if args.tfvars else None
        samples = load_start_samples(args.start_samples) if args.start_samples else None
        for variant in variants:  # a knob outside its limits fails here, before any run
            with constants_restored():
                scenario_for(Run(variant, traces[0], seeds[0], tfvars, samples))
    except (SweepError, ScalerError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    runs = [
        Run(v, trace, seed, tfvars, samples) for v in variants for trace in traces for seed in seeds
    ]
    rows, elapsed = run_all(run_variant, runs, args.workers)
    summary = summarize_rows(rows)
    command = "python -m benchmarks.scaler.sweep " + " ".join(
        [f"--name {args.name}"]
        + [f"--vary {text}" for text in args.vary]
        + [f"--trace {name}" for name in traces]
        + [f"--seeds {args.seeds}"]
        + ([f"--tfvars {args.tfvars}"] if args.tfvars else [])
        + ([f"--start-samples {args.start_samples}"] if args.start_samples else [])
    )
    world = f"--tfvars {args.tfvars}" if args.tfvars else "the benchmark's (aws_world)"
    if args.start_samples:
        world += f", boots from --start-samples {args.start_samples}"
    document = {
        "command": command,
        "world": world,
        "machine": f"{os.cpu_count()}-core {platform.machine()}, {platform.system()}",
        "elapsed_seconds": round(elapsed, 1),
        "summary": summary,
        "runs": rows,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"{args.name}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    console.print(table(summary, command))
    console.print(f"{len(runs)} runs in {elapsed:.1f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
