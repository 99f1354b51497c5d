"""Every measured figure the README quotes is the one in its benchmark's committed JSON.

Each entry renders a README phrase from ``benchmarks/results/*.json``; a rerun that changes a
result without the README (or a README edit without a rerun) fails here, as a stale
configuration table fails ``test_readme.py``. A figure with no benchmark behind it does not
belong in the README: it goes to the docs, marked as an estimate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest

from benchmarks.scaler.run import _best_frontier_ratio, goal_rows
from sdfleet.settings import ScalerSettings

ROOT: Final = Path(__file__).resolve().parents[3]
RESULTS: Final = ROOT / "benchmarks" / "results"


@cache
def readme() -> str:
    # One line per paragraph: a figure may wrap across lines in the source.
    return re.sub(r"\s*\n\s*", " ", (ROOT / "README.md").read_text(encoding="utf-8"))


@cache
def result(name: str) -> Any:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _overhead(name: str, receive_ahead: float, batch: int) -> float:
    """A row's median; rows without ``receive_ahead_seconds`` ran the default, 0.5 s."""
    rows = result(name)["results"]
    row = next(
        r
        for r in rows
        if r.get("receive_ahead_seconds", 0.5) == receive_ahead and r["batch_size"] == batch
    )
    return float(row["overhead_median_ms"])


def _ingest() -> str:
    timings = result("ingest.json")["timings_ms"]
    zips = result("ingest.json")["zips"]
    venv = timings["handler import (venv)"]["median"]
    zipped = timings["handler import (zip)"]["median"]
    sizes = {f"{z['zip_mib']:.1f}" for z in zips.values()}
    assert len(sizes) == 1, f"the README says 'each': the zips differ ({sizes})"
    return f"{venv:.0f} ms (venv), {zipped:.0f} ms (from the zip); {sizes.pop()} MiB each"


def _worker_overhead() -> str:
    goal = "worker_overhead.json"
    both = "worker_overhead-receive-ahead.json"
    ratios = [_overhead(both, 0.0, b) / _overhead(both, 0.5, b) for b in (1, 4)]
    load = result(both)["machine"]["load_average_1m_before"]
    return (
        f"{_overhead(goal, 0.5, 1):.1f} ms (batch 1), {_overhead(goal, 0.5, 4):.1f} ms (batch 4): "
        "met, by receiving and claiming the next jobs while a call finishes; turned off, the "
        f"median was {ratios[0]:.1f}x (batch 1) and {ratios[1]:.1f}x (batch 4) as long in one run "
        f"comparing both (`--receive-ahead 0.5,0`, `{both}`, taken at load average {load:.0f}"
    )


def _cold_start() -> str:
    summary = result("worker_cold_start.json")["summary"]
    return (
        f"start to ready {summary['cold']['ready_seconds']['min']:.0f} s with an empty cache, "
        f"{summary['warm']['ready_seconds']['min']:.0f} s with a warm one (fastest of 3; "
        f"medians {summary['cold']['ready_seconds']['median']:.0f} / "
        f"{summary['warm']['ready_seconds']['median']:.0f} s"
    )


def _cold_start_parts() -> str:
    document = result("worker_cold_start.json")
    warmups = sorted(document["summary"][c]["warmup_seconds"]["median"] for c in ("cold", "warm"))
    return (
        f"warm-up {warmups[0]:.0f}-{warmups[1]:.0f} s (medians), the S3 pull of the tiny model "
        f"{document['s3_pull']['seconds']:.1f} s"
    )


def _local_up_runs() -> tuple[dict[str, Any], dict[str, Any]]:
    first, later = result("local_up.json")["runs"][:2]
    assert first["venv_built"] and first["web_app_built"], "the first run was not a fresh clone"
    assert later["replayed"], "the second run did not replay the apply"
    return first, later


def _local_up_table() -> str:
    first, later = _local_up_runs()
    setup = first["ready_seconds"] - first["sdfleet_up_seconds"]
    # The goals the README's table states: < 3 min first, < 30 s after.
    met = first["ready_seconds"] < 180 and later["ready_seconds"] < 30
    verdict = "met" if met else "**not met** on this shared machine"
    return (
        f"{first['ready_seconds']:.1f} s ({setup:.0f} s building `.venv` and the web app, "
        f"{first['sdfleet_up_seconds']:.0f} s of `sdfleet up`); after: "
        f"{later['ready_seconds']:.1f} s: {verdict} (load average "
        f"{first['load_average_1m_before']:g} to {first['load_average_1m_after']:g} on 2 cores"
    )


def _local_up_prose() -> str:
    first = _local_up_runs()[0]
    return f"**{first['ready_seconds']:.1f} s** the first time"


def _local_up_prose_after() -> str:
    return f"in **{_local_up_runs()[1]['ready_seconds']:.1f} s** after that"


def _frontend() -> str:
    document = result("frontend.json")
    return (
        f"its JavaScript is {document['js_gzip_bytes'] / 1000:.1f} kB gzipped (budget "
        f"{document['budget_gzip_bytes'] / 1000:.0f} kB, checked by the build), and its "
        f"{document['browser_tests_passed']} browser tests add "
        f"{document['browser_tests_seconds']:.1f} s"
    )


def _mutation() -> str:
    """Each module's score as the README row quotes it, in the results' order."""
    document = result("mutation.json")
    scores = [
        f"`{module}` {m['detected']}/{m['detected'] + len(m['survived']) + len(m['not_covered'])}"
        for module, m in document["modules"].items()
    ]
    return f"{', '.join(scores)}; not run yet: {len(document['not_run'])}"


def _scaler_world() -> str:
    environment = result("scaler.json")["scenario"]["environment"]
    return (
        f"the benchmark assumes medians of {environment['boot_median_seconds']:.0f} s + "
        f"{environment['model_load_median_seconds']:.0f} s"
    )


def _scaler_frontier_span() -> str:
    document = result("scaler.json")
    ratios = [v["best_frontier_ratio"] for vs in document["by_seed"].values() for v in vs]
    ratios += [_best_frontier_ratio(r) for rs in document["held_out"].values() for r in rs]
    ratios += [_best_frontier_ratio(r) for r in document["prod"]["traces"]]
    reached = [r for r in ratios if r is not None]
    return f"it costs {1 / max(reached):.2f}x to {1 / min(reached):.1f}x ours"


def _scaler_elapsed() -> str:
    return f"build machine, {result('scaler.json')['elapsed_seconds']:.0f} s)"


#: The adapter swap goals (issue 16): a switch "well under" one generation, and "flat" as the
#: cache grows, read as at most this share of a generation and this ratio from 1 to 8 cached.
SWAP_SHARE_GOAL: Final = 0.10
SWAP_FLAT_GOAL: Final = 1.5


def _adapter_swap() -> str:
    document = result("adapter_swap.json")
    rows = document["rows"]
    # Rows whose switches swapped weights (one cached adapter has no other to switch to).
    swapping = [row for row in rows if row["cached_adapters"] in document["switch_rows_compared"]]
    switches = [row["switch_ms"] for row in swapping]
    loads = [row["uncached_load_ms"] for row in rows]
    share = max(row["switch_share_of_generation"] for row in swapping)
    ratio = document["switch_ms_max_over_min"]
    under = "met" if share <= SWAP_SHARE_GOAL else "**not met**"
    flat = "met" if ratio <= SWAP_FLAT_GOAL else "**not met**"
    return (
        f"switch {min(switches):.1f}-{max(switches):.1f} ms at "
        f"{swapping[0]['cached_adapters']}-{swapping[-1]['cached_adapters']} cached adapters, at "
        f"most {100 * share:.1f} % of one generation ({document['generation']['ms']:.0f} ms); "
        f"uncached load {min(loads):.0f}-{max(loads):.0f} ms. Well under a generation: {under}; "
        f"flat: {flat} (slowest median {ratio:g}x the fastest; load average "
        f"{document['load_average_1m_before']:g} on 2 cores"
    )


FIGURES: Final[dict[str, Callable[[], str]]] = {
    "ingest.json": _ingest,
    "worker_overhead.json": _worker_overhead,
    "worker_cold_start.json (ready)": _cold_start,
    "worker_cold_start.json (parts)": _cold_start_parts,
    "local_up.json (benchmarks table)": _local_up_table,
    "local_up.json (local stack, first)": _local_up_prose,
    "local_up.json (local stack, after)": _local_up_prose_after,
    "frontend.json": _frontend,
    "mutation.json": _mutation,
    "scaler.json (world)": _scaler_world,
    "scaler.json (frontier span)": _scaler_frontier_span,
    "scaler.json (elapsed)": _scaler_elapsed,
    "adapter_swap.json": _adapter_swap,
}


@pytest.mark.parametrize("source", list(FIGURES))
def test_a_readme_figure_is_its_benchmark_result(source: str) -> None:
    expected = FIGURES[source]()
    assert expected in readme(), (
        f"README.md does not say {expected!r} ({source}): rerun the benchmark or copy its "
        "figure into the README"
    )


def test_the_readme_scaler_goal_table_is_the_benchmarks() -> None:
    lines = set((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    for row in goal_rows(result("scaler.json")):
        line = "| " + " | ".join(row) + " |"
        assert line in lines, f"README.md lacks the scaler goal row {line!r}"


def test_the_readme_tuning_table_shows_the_settings_defaults() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    fields = ScalerSettings.model_fields
    for name in (
        "min_capacity",
        "max_capacity",
        "target_wait_seconds",
        "backlog_tolerance",
        "idle_seconds_before_scale_in",
        "quiet_seconds_before_zero",
        "max_step",
        "default_seconds_per_job",
        "samples_per_invocation",
        "boot_seconds",
    ):
        default = fields[name].default
        assert f"| `{name}` | {default:g} |" in text, f"README tuning table: {name} is {default:g}"


def test_every_result_the_readme_names_exists() -> None:
    for name in re.findall(r"benchmarks/results/([\w.-]+\.(?:json|md))", readme()):
        assert (RESULTS / name).is_file(), f"README.md names benchmarks/results/{name}"
