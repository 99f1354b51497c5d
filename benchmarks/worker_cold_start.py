"""Benchmark (c): worker start to ready, with the model pulled from S3 into an empty cache vs a
warm one, and the warm-up call.

Each run starts ``python -m worker`` (the systemd unit's command) against the embedded emulator
(a separate ``python -m sdfleet.emulator`` process on loopback, like S3 over the network) with
the tiny model published to the emulator's S3 (``model_source = s3://...``, the production
path: listing, download, SHA-256 check, load), and times the worker's own milestones from the
process start: ``model loaded`` (imports + S3 pull + load + attention probe), ``warm-up done``
and ``worker started`` (ready to claim). ``cold`` runs start from an empty model cache;
``warm`` runs reuse the cache the previous run filled (a restart, or a warm-pool instance).

    python benchmarks/worker_cold_start.py [--runs 3]

Prints a table and writes benchmarks/results/worker_cold_start.json. docs/worker-install.md
turns these parts, scaled to SD 1.5 with AWS's documented throughputs, into launch-to-first-
image per start path (plain AMI, baked AMI, warm pool).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sdfleet import env  # noqa: E402
from sdfleet.aws import AwsClients  # noqa: E402
from worker.model_source import download_s3_model, publish  # noqa: E402
from worker.tiny_model import ensure_tiny_model  # noqa: E402

RESULTS_PATH: Final = REPO_ROOT / "benchmarks" / "results" / "worker_cold_start.json"
MILESTONES: Final = ("model loaded", "warm-up done", "worker started")
READY_TIMEOUT_SECONDS: Final = 300


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _one_start(variables: dict[str, str], log_path: Path) -> dict[str, Any]:
    """Starts the worker, times its milestones, drains it with SIGTERM."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=REPO_ROOT,
        env={**os.environ, **variables, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    times: dict[str, float] = {}
    fields: dict[str, Any] = {}
    assert process.stdout is not None
    with log_path.open("w") as log:
        for line in process.stdout:
            log.write(line)
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            message = record.get("message") if isinstance(record, dict) else None
            if message in MILESTONES and message not in times:
                times[message] = time.perf_counter() - started
                for name in ("model_load_seconds", "warmup_seconds", "attention_backend"):
                    if name in record:
                        fields[name] = record[name]
            if message == "worker started":
                process.send_signal(signal.SIGTERM)
            if time.perf_counter() - started > READY_TIMEOUT_SECONDS:
                process.kill()
                break
    status = process.wait(timeout=60)
    missing = [name for name in MILESTONES if name not in times]
    if missing:
        raise SystemExit(f"worker never logged {missing} (exit {status}); see {log_path}")
    return {
        "ready_seconds": round(times["worker started"], 3),
        "model_loaded_at_seconds": round(times["model loaded"], 3),
        "warmup_done_at_seconds": round(times["warm-up done"], 3),
        "model_load_seconds": fields.get("model_load_seconds"),
        "warmup_seconds": fields.get("warmup_seconds"),
        "exit_status": status,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="starts per cache state")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(name, value)
    load_before = os.getloadavg()[0]
    # Benchmark (a)'s emulator starter (this script's folder is on sys.path when it runs).
    overhead: Any = importlib.import_module("worker_overhead")
    emulator, endpoint = overhead.start_emulator()
    scratch = Path(tempfile.mkdtemp(prefix="sdfleet-cold-"))
    try:
        resources: Any = importlib.import_module("tests.support.aws_resources")
        clients = AwsClients(endpoint_url=endpoint)
        prefix = f"cold-{uuid.uuid4().hex[:8]}"
        bucket = resources.create_bucket(clients, f"{prefix}-bucket")
        queues = resources.create_lane_queues(clients, prefix, visibility_timeout=60)
        model_dir = ensure_tiny_model(scratch / "build")
        model_uri = f"s3://{bucket}/models/tiny/"
        files = publish(clients.s3(), model_dir, model_uri)
        model_bytes = _folder_bytes(model_dir)
        cache = scratch / "cache"
        variables = {
            env.AWS_ENDPOINT_URL: endpoint,
            env.AWS_REGION: clients.region,
            env.JOBS_TABLE: resources.create_jobs_table(clients, f"{prefix}-jobs"),
            env.WORKERS_TABLE: resources.create_workers_table(clients, f"{prefix}-workers"),
            env.BUCKET: bucket,
            env.INTERACTIVE_QUEUE_URL: queues.interactive_url,
            env.BATCH_QUEUE_URL: queues.batch_url,
            env.MODEL_SOURCE: model_uri,
            env.MODEL_CACHE_DIR: str(cache),
            env.STATE_DIR: str(scratch / "state"),
            env.DEVICE: "cpu",
            env.WAIT_TIME_SECONDS: "1",
            # No metadata service here: a closed port answers at once.
            env.METADATA_URL: "http://127.0.0.1:9",
            env.WORKER_ID: "cold-start",
        }
        # The S3 pull alone, in this process (the worker's own downloader and checks).
        pulls: list[float] = []
        for index in range(args.runs):
            target = scratch / f"pull-{index}"
            began = time.perf_counter()
            download_s3_model(clients.s3(), model_uri, target)
            pulls.append(time.perf_counter() - began)
        runs: list[dict[str, Any]] = []
        for index in range(args.runs):
            shutil.rmtree(cache, ignore_errors=True)
            cold = _one_start(variables, scratch / f"cold-{index}.log")
            warm = _one_start(variables, scratch / f"warm-{index}.log")
            runs += [{"cache": "cold", **cold}, {"cache": "warm", **warm}]
    finally:
        emulator.kill()
        emulator.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    import torch

    def stat(cache: str, key: str) -> dict[str, float]:
        values = [float(r[key]) for r in runs if r["cache"] == cache]
        # The minimum is the least disturbed by other load on a shared machine.
        return {"median": round(statistics.median(values), 3), "min": round(min(values), 3)}

    summary = {
        cache: {
            key: stat(cache, key)
            for key in ("ready_seconds", "model_load_seconds", "warmup_seconds")
        }
        for cache in ("cold", "warm")
    }
    pull_seconds = min(pulls)
    pull_rate = model_bytes / 2**20 / pull_seconds if pull_seconds > 0 else None
    result: dict[str, Any] = {
        "benchmark": "worker start to ready: model pulled from S3 (emulator) into an empty cache "
        "vs a warm cache, and the warm-up call",
        "command": " ".join(["worker_cold_start.py", *(argv or sys.argv[1:])]),
        "setup": "python -m worker against the emulator in a separate process on loopback; tiny "
        "model published to the emulator's S3 with a manifest; CPU",
        "model": {"uri_files": files, "bytes": model_bytes},
        "summary": summary,
        "s3_pull": {
            "seconds": round(pull_seconds, 3),
            "all_seconds": [round(p, 3) for p in pulls],
            "mib_per_second": round(pull_rate, 1) if pull_rate else None,
        },
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average_1m_before": load_before,
            "load_average_1m_after": os.getloadavg()[0],
        },
        "runs": runs,
    }
    table = Table(title=f"worker start to ready ({args.runs} runs: median / min), seconds")
    for column in ("cache", "ready", "model load (incl. S3 pull)", "warm-up"):
        table.add_column(column, justify="right")
    for state in ("cold", "warm"):
        row = summary[state]
        table.add_row(
            state,
            *(
                f"{row[key]['median']:.2f} / {row[key]['min']:.2f}"
                for key in ("ready_seconds", "model_load_seconds", "warmup_seconds")
            ),
        )
    console = Console()
    console.print(table)
    console.print(
        f"S3 pull of {model_bytes / 2**20:.1f} MiB ({files} files): "
        f"{result['s3_pull']['seconds']:.3f} s (fastest of {args.runs}, in-process)"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
