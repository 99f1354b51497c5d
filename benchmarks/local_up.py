"""`make up` (or `sdfleet up`) to "ready": wall time per run, then a clean Ctrl-C.

    python benchmarks/local_up.py [--runs 2] [--command "make up"] [--repo DIR]

Run it in a fresh clone for the first-run figure (the venv install is included when
`make up` has to build it); later runs reuse the venv, the zips and the recorded apply.
Prints a table and writes benchmarks/results/local_up.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

READY = re.compile(r"^ready in ([0-9.]+)s", re.M)
TIMEOUT_SECONDS = 900


def one_run(command: list[str], repo: Path) -> dict[str, Any]:
    # What this run had to build: a first run in a fresh clone builds both.
    built = {
        "venv_built": not (repo / ".venv").exists(),
        "web_app_built": not (repo / "frontend" / "dist").exists(),
    }
    load_before = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            command, cwd=repo, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        ready_at = None
        while ready_at is None and process.poll() is None:
            if time.monotonic() - started > TIMEOUT_SECONDS:
                break
            if READY.search(Path(log.name).read_text(errors="replace")):
                ready_at = time.monotonic()
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        status = process.wait(timeout=180)
        text = Path(log.name).read_text(errors="replace")
    match = READY.search(text)
    return {
        **built,
        "ready_seconds": round(ready_at - started, 1) if ready_at else None,
        "sdfleet_up_seconds": float(match.group(1)) if match else None,
        "replayed": "replayed the last apply" in text,
        # make itself dies of the SIGINT (-2); the stack's own "stopped" line is what counts.
        "stopped_cleanly": text.rstrip().endswith("stopped") or "\nstopped\n" in text,
        "exit_status": status,
        # The build machine is shared: its load says how much of the time was waiting.
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--command", default="make up")
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]))
    args = parser.parse_args()
    repo = Path(args.repo)
    runs = [one_run(shlex.split(args.command), repo) for _ in range(args.runs)]
    print(f"{'run':>3}  {'to ready (s)':>12}  {'sdfleet up (s)':>14}  replayed  stopped")
    for number, run in enumerate(runs, start=1):
        print(
            f"{number:>3}  {run['ready_seconds']!s:>12}  {run['sdfleet_up_seconds']!s:>14}"
            f"  {run['replayed']!s:>8}  {run['stopped_cleanly']}"
        )
    result = {
        "command": args.command,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        # Empty caches make the first run download what a new laptop downloads.
        "caches": {
            name: os.environ.get(name, "")
            for name in ("UV_CACHE_DIR", "PIP_NO_CACHE_DIR", "npm_config_cache")
        },
        "runs": runs,
    }
    out = Path(__file__).resolve().parent / "results" / "local_up.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
