"""The web app's cost to `make test`: build time, gzipped JavaScript, browser-test wall time.

    python benchmarks/frontend.py [--clean] [--skip-browser-tests]

`--clean` removes frontend/node_modules and frontend/dist first (the fresh-clone cost of
`npm ci` + build); the browser tests run with pytest against their own `sdfleet up` (the
figure includes starting the stack, a replayed Terraform apply when the recording exists).
Prints a table and writes benchmarks/results/frontend.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "frontend.json"


def timed(command: list[str]) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true")
    parser.add_argument("--skip-browser-tests", action="store_true")
    args = parser.parse_args()

    if args.clean:
        for path in (ROOT / "frontend" / "node_modules", ROOT / "frontend" / "dist"):
            shutil.rmtree(path, ignore_errors=True)
    build_seconds, _ = timed(["make", "--no-print-directory", "frontend"])
    size = json.loads((ROOT / "frontend" / "dist" / "bundle-size.json").read_text())
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "clean_build": args.clean,
        "build_seconds": round(build_seconds, 1),
        "js_bytes": size["js_bytes"],
        "js_gzip_bytes": size["js_gzip_bytes"],
        "budget_gzip_bytes": size["budget_gzip_bytes"],
    }
    if not args.skip_browser_tests:
        seconds, output = timed([sys.executable, "-m", "pytest", "tests/browser", "-q"])
        passed = re.search(r"(\d+) passed", output)
        result["browser_tests_seconds"] = round(seconds, 1)
        result["browser_tests_passed"] = int(passed.group(1)) if passed else 0

    rows = [
        (
            "npm ci + build" if args.clean else "build (make frontend)",
            f"{result['build_seconds']} s",
        ),
        (
            "JavaScript, gzipped",
            f"{result['js_gzip_bytes'] / 1000:.1f} kB "
            f"(budget {result['budget_gzip_bytes'] / 1000:.0f} kB)",
        ),
        ("JavaScript, raw", f"{result['js_bytes'] / 1000:.1f} kB"),
    ]
    if "browser_tests_seconds" in result:
        rows.append(
            (
                "browser tests (pytest tests/browser)",
                f"{result['browser_tests_seconds']} s, {result['browser_tests_passed']} passed",
            )
        )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
