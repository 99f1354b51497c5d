"""Benchmark: job transition -> webhook delivered (median, p95) against the emulator, and the
notifier's cold import time.

* ``delivery``: N jobs each move queued -> running -> succeeded through the real JobStore, one
  transition at a time; the local poller hands the stream to the real handler (polling every
  0.1 s when idle); a loopback receiver verifies each signature and notes when it arrived.
  Latency is arrival time minus the event's ``occurred_at`` (the transition's write), so it
  includes the poll interval and every emulator call on the way.
* ``cold import``: ``import notifier_lambda.handler`` in a fresh interpreter (fastest of 5).

Prints a table and writes benchmarks/results/notifier.json.
    python benchmarks/notifier_bench.py --jobs 100
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.table import Table

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
RESULTS_PATH: Final = REPO_ROOT / "benchmarks" / "results" / "notifier.json"
IMPORT_SNIPPET: Final = (
    "import time; t = time.perf_counter(); import notifier_lambda.handler; "
    "print(time.perf_counter() - t)"
)
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)


def cold_import_seconds(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_SNIPPET],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times)


def delivery_latencies(jobs: int) -> list[float]:
    from sdfleet.aws import AwsClients
    from sdfleet_cli.emulator import start_emulator

    # The acceptance tests' harness (streamed table, bus, queues, verifying receiver), loaded
    # by name: it is test code, outside what the linters type-check.
    harness = importlib.import_module("tests.integration.notifier.conftest")
    fleets = importlib.import_module("tests.conftest")
    receiver_class = importlib.import_module("tests.integration.notifier.receiver").Receiver
    free_port, new_fleet, new_events_stack = (
        fleets.free_port,
        fleets.new_fleet,
        harness.new_events_stack,
    )

    port = free_port()
    server = start_emulator("127.0.0.1", port)
    try:
        clients = AwsClients(endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1")
        stack = new_events_stack(new_fleet(clients))
        receiver = receiver_class(secret_for=stack.secrets.get_or_create)
        arrivals: dict[tuple[str, str], float] = {}
        poller = stack.poller(stack.notifier())
        poller.interval_seconds = 0.1
        stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                if not poller.poll_once():
                    stop.wait(poller.interval_seconds)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        store = stack.store

        def delivered(count: int) -> None:
            deadline = time.monotonic() + 120
            while len(receiver.deliveries) < count and time.monotonic() < deadline:
                time.sleep(0.01)

        # One transition at a time, each waited for: latency, not the drain of a backlog.
        for n in range(jobs):
            job = stack.new_job(receiver.url("/bench"))
            delivered(3 * n + 1)
            store.claim(job.job_id, "w1", lease_seconds=60)
            delivered(3 * n + 2)
            store.finish(job.job_id, "w1", outputs=[], seeds=[0])
            delivered(3 * n + 3)
        stop.set()
        thread.join(10)
        receiver.close()
        if not all(d.signature_ok for d in receiver.deliveries):
            raise SystemExit("a signature did not verify")
        latencies = []
        for delivery, arrived in zip(receiver.deliveries, receiver.arrivals, strict=True):
            key = (delivery.body["job_id"], delivery.body["status"])
            if key in arrivals:
                continue
            arrivals[key] = arrived
            occurred = datetime.fromisoformat(delivery.body["occurred_at"]).timestamp()
            latencies.append(arrived - occurred)
        return latencies
    finally:
        server.stop()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30)
    args = parser.parse_args()
    latencies = delivery_latencies(args.jobs)
    cold = cold_import_seconds()
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "jobs": args.jobs,
        "transitions_delivered": len(latencies),
        "delivery_median_ms": round(statistics.median(latencies) * 1000, 1),
        "delivery_p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "cold_import_ms": round(cold * 1000, 1),
    }
    table = Table(title="notifier (emulator, loopback receiver)")
    for column in ("transitions", "median ms", "p95 ms", "cold import ms"):
        table.add_column(column)
    table.add_row(
        str(result["transitions_delivered"]),
        str(result["delivery_median_ms"]),
        str(result["delivery_p95_ms"]),
        str(result["cold_import_ms"]),
    )
    Console().print(table)
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
