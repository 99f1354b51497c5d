"""Benchmark: the ingest Lambda's cold import time and its deployment zip sizes.

* ``handler import``: ``import ingest_lambda.handler`` in a fresh interpreter (what the goal
  of <= 300 ms is about). The module builds nothing at import time.
* ``cold init``: that import plus building the app (settings, boto3 clients, routes), i.e.
  everything a cold Lambda does before the first request touches AWS.
* Both again ``from the zip``: the unpacked ``build/lambda/ingest.zip`` with only the
  runtime-provided boto3/botocore beside it and no site-packages, as on Lambda.
* Zip sizes (goal <= 15 MiB each), compressed and unpacked (Lambda's limit is 250 MB).

Each timing is the median of ``--runs`` fresh interpreters after one warm-up run. The zip
runs may not write .pyc files (Lambda's /var/task is read-only): they use the ones the zip
ships; ``no .pyc`` shows what a zip without them would cost.

    python benchmarks/ingest_bench.py [--runs 9]

Prints a table and writes benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
RESULTS_PATH: Final = REPO_ROOT / "benchmarks" / "results" / "ingest.json"
ZIPS: Final = {
    "ingest": REPO_ROOT / "build" / "lambda" / "ingest.zip",
    "autoscaler": REPO_ROOT / "build" / "lambda" / "autoscaler.zip",
}
GOAL_IMPORT_MS: Final = 300.0
GOAL_ZIP_MIB: Final = 15.0
#: What the Lambda python3.11 runtime provides next to the function's code.
RUNTIME_MODULES: Final = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six")

_IMPORT_PROBE = """
import time
start = time.perf_counter()
import ingest_lambda.handler
print((time.perf_counter() - start) * 1000)
"""
_INIT_PROBE = """
import time
start = time.perf_counter()
import ingest_lambda.handler as handler
handler.default_app()
print((time.perf_counter() - start) * 1000)
"""


def _child_env(extra_path: str | None = None) -> dict[str, str]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if extra_path:
        environment["PYTHONPATH"] = extra_path
    return environment


def _time_ms(probe: str, runs: int, cwd: Path, env: dict[str, str], no_site: bool) -> list[float]:
    command = [sys.executable, *(["-S"] if no_site else []), "-c", probe]
    samples: list[float] = []
    for attempt in range(runs + 1):
        result = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=120
        )
        if attempt:  # the first run compiles .pyc files
            samples.append(float(result.stdout.strip().splitlines()[-1]))
    return samples


def _runtime_dir(root: Path) -> Path:
    import importlib

    runtime = root / "runtime"
    runtime.mkdir()
    for name in RUNTIME_MODULES:
        module = importlib.import_module(name)
        source = Path(module.__file__ or "")
        target = source.parent if source.name == "__init__.py" else source
        (runtime / target.name).symlink_to(target)
    return runtime


def _zip_sizes(path: Path) -> dict[str, float]:
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    return {"zip_mib": path.stat().st_size / 2**20, "unpacked_mib": unpacked / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)

    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        repo_env = _child_env(str(REPO_ROOT))
        timings["handler import (venv)"] = _time_ms(_IMPORT_PROBE, args.runs, cwd, repo_env, False)
        timings["cold init (venv)"] = _time_ms(_INIT_PROBE, args.runs, cwd, repo_env, False)
        if ZIPS["ingest"].exists():
            runtime = _runtime_dir(cwd)
            code = cwd / "task"
            with zipfile.ZipFile(ZIPS["ingest"]) as archive:
                archive.extractall(code)
            # /var/task is read-only on Lambda: nothing compiled at run time is kept.
            zip_env = _child_env(f"{code}:{runtime}") | {"PYTHONDONTWRITEBYTECODE": "1"}
            timings["handler import (zip)"] = _time_ms(_IMPORT_PROBE, args.runs, cwd, zip_env, True)
            timings["cold init (zip)"] = _time_ms(_INIT_PROBE, args.runs, cwd, zip_env, True)
            for cache in sorted(code.rglob("__pycache__"), reverse=True):
                shutil.rmtree(cache)
            timings["cold init (zip, no .pyc)"] = _time_ms(
                _INIT_PROBE, args.runs, cwd, zip_env, True
            )

    sizes = {name: _zip_sizes(path) for name, path in ZIPS.items() if path.exists()}
    medians = {name: statistics.median(values) for name, values in timings.items()}
    import_ms = medians.get("handler import (zip)", medians["handler import (venv)"])
    results: dict[str, Any] = {
        "benchmark": "ingest",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
        },
        "runs": args.runs,
        "timings_ms": {
            name: {"median": medians[name], "min": min(v), "max": max(v), "samples": v}
            for name, v in timings.items()
        },
        "zips": sizes,
        "goals": {
            "handler_import_ms": {"goal": GOAL_IMPORT_MS, "value": import_ms,
                                  "met": import_ms <= GOAL_IMPORT_MS},
            "zip_mib": {"goal": GOAL_ZIP_MIB,
                        "value": max((s["zip_mib"] for s in sizes.values()), default=None),
                        "met": bool(sizes) and all(s["zip_mib"] <= GOAL_ZIP_MIB
                                                   for s in sizes.values())},
        },
    }  # fmt: skip

    console = Console()
    table = Table(title=f"ingest Lambda cold start (median of {args.runs} fresh interpreters)")
    for column in ("measure", "median", "min", "max", "goal"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for name, values in timings.items():
        goal = f"<= {GOAL_IMPORT_MS:.0f} ms" if name.startswith("handler import") else ""
        table.add_row(
            name, f"{medians[name]:.0f} ms", f"{min(values):.0f} ms", f"{max(values):.0f} ms", goal
        )
    for name, size in sizes.items():
        table.add_row(f"{name}.zip", f"{size['zip_mib']:.2f} MiB", "", "", f"<= {GOAL_ZIP_MIB} MiB")
        table.add_row(f"{name}.zip unpacked", f"{size['unpacked_mib']:.2f} MiB", "", "", "")
    console.print(table)
    if not sizes:
        console.print("[yellow]no zips found: run `make lambda-zips` first[/yellow]")
    console.print(f"load average at the end: {os.getloadavg()}; {os.cpu_count()} CPUs")

    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {RESULTS_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
