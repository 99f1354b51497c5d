"""Every built-in trace x every policy, fixed seeds: a table per trace, JSON + markdown.

    python -m benchmarks.scaler.run            # full: writes benchmarks/results/scaler.{json,md}
    python -m benchmarks.scaler.run --quick    # CI: the short traces only, to --out
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Final

from rich.console import Console

from autoscaler.simulator.compare import Comparison, Scenario, compare
from autoscaler.simulator.report import as_json, markdown, rich_table
from autoscaler.simulator.traces import BUILT_IN

RESULTS: Final = Path(__file__).resolve().parents[1] / "results"
SEED: Final = 1
#: --quick leaves out the 24-hour trace; every other trace is as in the full run.
QUICK_SKIPS: Final = ("diurnal",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the long traces (CI)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write <out>.json and <out>.md (default: "
                             "benchmarks/results/scaler, or scaler-quick with --quick)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    out: Path = args.out or RESULTS / ("scaler-quick" if args.quick else "scaler")
    out.parent.mkdir(parents=True, exist_ok=True)

    console = Console(width=140)
    scenario = Scenario()
    comparisons: list[Comparison] = []
    started = time.perf_counter()
    for name, factory in BUILT_IN.items():
        if args.quick and name in QUICK_SKIPS:
            continue
        comparison = compare(factory(), scenario, args.seed)
        comparisons.append(comparison)
        console.print(rich_table(comparison))
    elapsed = time.perf_counter() - started
    document = as_json(comparisons, scenario, args.seed)
    document["quick"] = args.quick
    document["elapsed_seconds"] = round(elapsed, 2)
    out.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(comparisons, scenario, args.seed) + "\n")
    met = sum(1 for c in comparisons if not c.misses())
    console.print(f"goal met on {met}/{len(comparisons)} traces in {elapsed:.1f} s; "
                  f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
