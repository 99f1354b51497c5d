"""Tables (rich, markdown), JSON and plots of comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from autoscaler.simulator.compare import Comparison, Scenario

if TYPE_CHECKING:
    from rich.table import Table

COLUMNS: Final = (
    ("policy", "policy"),
    ("p50_wait", "p50 wait s"),
    ("p95_wait", "p95 wait s"),
    ("interactive_p95_wait", "web p95 s"),
    ("training_p95_wait", "training p95 s"),
    ("p99_wait", "p99 wait s"),
    ("max_wait", "max wait s"),
    ("gpu_hours", "GPU-h"),
    ("dollars", "$"),
    ("idle_share", "idle"),
    ("launches", "launches"),
    ("jobs_lost", "lost"),
    ("busy_killed", "busy killed"),
)


def _cell(key: str, value: Any) -> str:
    if key == "idle_share":
        return f"{value:.0%}"
    if key == "dollars":
        return f"{value:.2f}"
    if key == "gpu_hours":
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def rows(comparison: Comparison) -> list[list[str]]:
    out = []
    for stats in comparison.stats:
        values = stats.as_dict()
        out.append([_cell(key, values[key]) for key, _ in COLUMNS])
    return out


def verdict(comparison: Comparison) -> str:
    misses = comparison.misses()
    ratio = comparison.bound_ratio
    unswept = "" if comparison.frontiers else "; baselines not swept (--frontier)"
    if not misses:
        return f"goals met (GPU-h {ratio:.2f}x the busy-time bound{unswept})"
    return f"MISSES (GPU-h {ratio:.2f}x the busy-time bound{unswept}): " + "; ".join(misses)


def frontier_rows(comparison: Comparison) -> list[list[str]]:
    """Per baseline family: its cost at our interactive p95, and its swept points."""
    ours = comparison.ours
    out = []
    for frontier in comparison.frontiers:
        point = frontier.at(ours.interactive_p95_wait)
        swept = ", ".join(
            f"{p.value:g}: {p.interactive_p95_wait:.0f}s/{p.gpu_hours:.2f}h"
            + (f"/{p.busy_killed} killed" if p.busy_killed else "")
            for p in frontier.points
        )
        if point is None:
            at = "none reaches it"
            ratio = "-"
        else:
            at = (
                f"{point.gpu_hours:.2f} GPU-h / ${point.dollars:.2f} "
                f"({frontier.knob} {point.value:g})"
            )
            ratio = f"{ours.gpu_hours / point.gpu_hours:.2f}x" if point.gpu_hours else "-"
        out.append([frontier.family, at, ratio, swept])
    return out


#: Under every per-trace table: the two rows that are ours changed on purpose.
REFERENCE_ROWS_NOTE: Final = (
    "ours-all-out and ours-warm-start are references, not contenders: ours launching "
    "max_capacity wherever it launches, and ours starting with the fleet for the trace's "
    "opening load in service."
)


def rich_table(comparison: Comparison) -> Table:
    from rich.table import Table

    trace = comparison.trace
    table = Table(
        title=f"{trace.name}: {trace.description} ({len(trace.jobs)} jobs)",
        caption=f"{verdict(comparison)}\n{REFERENCE_ROWS_NOTE}",
    )
    for key, header in COLUMNS:
        table.add_column(
            header, justify="left" if key == "policy" else "right", no_wrap=key == "policy"
        )
    for row in rows(comparison):
        table.add_row(*row)
    return table


def frontier_table(comparison: Comparison) -> Table:
    from rich.table import Table

    ours = comparison.ours
    table = Table(
        title=f"{comparison.trace.name}: each baseline's cheapest swept setting at our "
        f"interactive p95 ({ours.interactive_p95_wait:.0f} s); ours "
        f"{ours.gpu_hours:.2f} GPU-h / ${ours.dollars:.2f}; busy-time bound "
        f"{comparison.bound_gpu_hours:.2f} GPU-h ({comparison.bound_ratio:.2f}x)",
    )
    for header in ("baseline", "its cost at our web p95", "ours / it", "swept"):
        table.add_column(header, no_wrap=header == "baseline")
    for row in frontier_rows(comparison):
        table.add_row(*row)
    return table


def markdown(comparisons: list[Comparison], scenario: Scenario, seed: int) -> str:
    config = scenario.config
    env = scenario.environment
    lines = [
        "# Scaler benchmark",
        "",
        f"Seed {seed}. Policy knobs: target wait {config.target_wait_seconds:g} s, "
        f"max {config.max_capacity}, max step {config.max_step}, scale-in window "
        f"{config.idle_seconds_before_scale_in:g} s, quiet {config.quiet_seconds_before_zero:g} s, "
        f"backlog tolerance {config.backlog_tolerance:g}, "
        f"{scenario.samples_per_invocation} samples/min. World: boot median "
        f"{env.boot_median_seconds:g} s, model load median {env.model_load_median_seconds:g} s, "
        f"{env.spot_percentage}% spot, ${env.on_demand_hourly_price}/h on demand, "
        f"${env.spot_hourly_price}/h spot. {REFERENCE_ROWS_NOTE}",
        "",
    ]
    header = "| " + " | ".join(h for _, h in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    for comparison in comparisons:
        trace = comparison.trace
        lines += [
            f"## {trace.name}",
            "",
            f"{trace.description}; {len(trace.jobs)} jobs; busy-time bound "
            f"{comparison.bound_gpu_hours:.2f} GPU-h. **{verdict(comparison)}**",
            "",
            header,
            rule,
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows(comparison)]
        if comparison.frontiers:
            lines += [
                "",
                f"Frontiers at our web p95 ({comparison.ours.interactive_p95_wait:.0f} s): "
                "the cheapest swept setting of each baseline that waits no longer.",
                "",
                "| baseline | its cost at our web p95 | ours / it "
                "| swept (knob: web p95 / GPU-h) |",
                "|---|---|---|---|",
            ]
            lines += ["| " + " | ".join(row) + " |" for row in frontier_rows(comparison)]
        lines.append("")
    return "\n".join(lines)


def as_json(comparisons: list[Comparison], scenario: Scenario, seed: int) -> dict[str, Any]:
    config = scenario.config
    return {
        "seed": seed,
        "scenario": {
            "policy": {
                "min_capacity": config.min_capacity,
                "max_capacity": config.max_capacity,
                "target_wait_seconds": config.target_wait_seconds,
                "idle_seconds_before_scale_in": config.idle_seconds_before_scale_in,
                "quiet_seconds_before_zero": config.quiet_seconds_before_zero,
                "max_step": config.max_step,
                "default_seconds_per_job": config.default_seconds_per_job,
                "backlog_tolerance": config.backlog_tolerance,
                "samples_per_invocation": scenario.samples_per_invocation,
            },
            "environment": dict(vars(scenario.environment)),
        },
        "traces": [comparison_json(c) for c in comparisons],
    }


def comparison_json(c: Comparison) -> dict[str, Any]:
    return {
        "trace": c.trace.name,
        "description": c.trace.description,
        "jobs": len(c.trace.jobs),
        "policies": [s.as_dict() for s in c.stats],
        "bound_gpu_hours": round(c.bound_gpu_hours, 4),
        "bound_ratio": round(c.bound_ratio, 4),
        "frontiers": [
            {
                "family": f.family,
                "knob": f.knob,
                "points": [vars(p) for p in f.points],
                "at_our_interactive_p95": (
                    None if (point := f.at(c.ours.interactive_p95_wait)) is None else vars(point)
                ),
            }
            for f in c.frontiers
        ],
        "beyond_reach": c.beyond_reach,
        "sizing_miss": c.sizing_miss,
        "goal_met": not c.misses(),
        "misses": c.misses(),
    }


def plot(comparison: Comparison, path: Path) -> None:
    """Queue depth, capacity and queue wait over time, one line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (depth, capacity, wait) = plt.subplots(3, 1, figsize=(11, 9), sharex=True)
    for name, run in comparison.runs.items():
        times = [s.time / 60 for s in run.samples]
        depth.plot(times, [s.visible for s in run.samples], label=name, linewidth=0.8)
        capacity.step(
            times, [s.capacity for s in run.samples], label=name, linewidth=0.8, where="post"
        )
        done = sorted((j.arrival, j.start - j.arrival) for j in run.jobs if j.start is not None)
        wait.plot([a / 60 for a, _ in done], [w for _, w in done], ".", markersize=1.5, label=name)
    depth.set_ylabel("visible messages")
    capacity.set_ylabel("instances")
    wait.set_ylabel("queue wait (s)")
    wait.set_xlabel("minutes")
    depth.set_title(f"{comparison.trace.name}: {comparison.trace.description}")
    capacity.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
