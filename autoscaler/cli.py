"""``sdfleet simulate``: preview what scaler settings do to queue wait and cost.

python -m autoscaler.cli simulate --tfvars terraform/environments/prod.tfvars --trace bursty
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Final

from autoscaler.errors import ScalerError

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
BOOT_MEDIAN_RANGE: Final = (30.0, 300.0)


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    from autoscaler.simulator.traces import BUILT_IN

    parser.add_argument("--tfvars", type=Path, help="read the scaler knobs and prices from FILE")
    parser.add_argument(
        "--trace",
        action="append",
        help=f"built-in trace ({', '.join(BUILT_IN)}) or a CSV file with arrival_seconds"
        "[,lane,gpu_seconds]; repeatable (default: every built-in trace)",
    )
    parser.add_argument("--plot", type=Path, help="write queue depth, capacity and wait to PNG")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--on-demand-price", type=float, help="USD per on-demand GPU hour")
    parser.add_argument("--spot-price", type=float, help="USD per spot GPU hour")
    parser.add_argument(
        "--boot-median",
        type=float,
        help=f"median EC2 boot seconds ({BOOT_MEDIAN_RANGE[0]:g}..{BOOT_MEDIAN_RANGE[1]:g}, "
        "default: boot_seconds from --tfvars or the settings, less the model load)",
    )
    parser.add_argument(
        "--start-samples",
        type=Path,
        help="the fleet's measured starts (`sdfleet starts --out FILE`): each simulated launch, "
        "warm-pool resume and pool launch takes one of them instead of a lognormal boot",
    )
    parser.add_argument(
        "--frontier",
        action="store_true",
        help="also sweep each baseline's knobs and compare our cost with each one's "
        "cost-versus-wait frontier at our interactive p95 (slower)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument(
        "--monthly-cost",
        action="store_true",
        help="also estimate a month of our policy on each trace, by part (GPU-hours by spot "
        "share, root volumes, NAT, scaler Lambda, CloudWatch, storage; autoscaler/cost.py)",
    )


def run_simulate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from autoscaler.simulator.compare import Comparison, Scenario, compare
    from autoscaler.simulator.report import as_json, frontier_table, plot, rich_table
    from autoscaler.simulator.tfvars import scenario_from_tfvars
    from autoscaler.simulator.traces import BUILT_IN, load

    console = Console() if sys.stdout.isatty() else Console(width=180)
    try:
        scenario = scenario_from_tfvars(args.tfvars) if args.tfvars else Scenario()
        env = scenario.environment
        if args.on_demand_price is not None:
            env = replace(
                env, on_demand_hourly_price=_positive(args.on_demand_price, "--on-demand-price")
            )
        if args.spot_price is not None:
            env = replace(env, spot_hourly_price=_positive(args.spot_price, "--spot-price"))
        if args.boot_median is not None:
            low, high = BOOT_MEDIAN_RANGE
            if not low <= args.boot_median <= high:
                raise ScalerError(
                    f"--boot-median: must be within {low:g}..{high:g} s (got {args.boot_median})"
                )
            env = replace(env, boot_median_seconds=args.boot_median)
        start_samples = getattr(args, "start_samples", None)
        if start_samples is not None:
            from autoscaler.simulator.start_samples import load_start_samples

            if args.boot_median is not None:
                raise ScalerError(
                    "--boot-median: leave it out with --start-samples (the measured starts "
                    "are the boot times)"
                )
            samples = load_start_samples(start_samples)
            advice = samples.boot_seconds_advice(env.warmup_seconds)
            env = samples.apply(env)
            console.print(
                f"start samples: {len(samples.launch)} launch, {len(samples.resume)} resume, "
                f"{len(samples.launch_to_pool)} launch-to-pool ({samples.source})"
            )
            if advice:
                console.print(f"[yellow]note:[/yellow] {advice}")
        scenario = replace(scenario, environment=env)
        traces = [load(name) for name in (args.trace or list(BUILT_IN))]
        cost_inputs = None
        if getattr(args, "monthly_cost", False):
            from autoscaler.cost import read_inputs

            cost_inputs = read_inputs(args.tfvars)
    except ScalerError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return EXIT_USAGE
    comparisons: list[Comparison] = []
    for trace in traces:
        comparison = compare(trace, scenario, args.seed, frontiers=args.frontier)
        comparisons.append(comparison)
        console.print(rich_table(comparison))
        if cost_inputs is not None:
            from autoscaler.cost import estimate_monthly, monthly_cost_table

            monthly = estimate_monthly(comparison.runs["ours"], trace.duration, cost_inputs)
            console.print(monthly_cost_table(monthly))
        if args.frontier:
            console.print(frontier_table(comparison))
        if args.plot:
            target = (
                args.plot
                if len(traces) == 1
                else args.plot.with_name(
                    f"{args.plot.stem}-{trace.name}{args.plot.suffix or '.png'}"
                )
            )
            plot(comparison, target)
            console.print(f"plot: {target}")
    if args.json:
        args.json.write_text(json.dumps(as_json(comparisons, scenario, args.seed), indent=2))
    return EXIT_OK


def _positive(value: float, flag: str) -> float:
    if value <= 0:
        raise ScalerError(f"{flag}: must be > 0 (got {value})")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autoscaler.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    simulate = commands.add_parser("simulate", help="preview scaler settings on traces")
    add_simulate_arguments(simulate)
    args = parser.parse_args(argv)
    return run_simulate(args)


if __name__ == "__main__":
    sys.exit(main())
