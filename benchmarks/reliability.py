"""``make reliability``: faults the fleet survives, as one table of goals and measured values.

Brings up the local stack (``sdfleet up``: the emulator, the same Terraform, the API adapter
with the real ingest handler, the scaler and DLQ reaper on a timer) with its own worker fleet
switched off (``--max-workers 0``), and runs worker processes itself (``python -m worker``
with the stack's settings, or ``benchmarks/faulty_worker.py`` for the fault rows), restarting
one that exits as systemd does on an instance. Then six scenarios:

- chaos: jobs across both lanes while a random worker gets SIGKILL and another SIGTERM every
  ``--kill-every`` seconds: jobs lost (goal 0), completed twice (0), redeliveries, p95.
- faults: S3, DynamoDB and SQS requests of the workers answered with HTTP 500 at 5 % and
  20 % (botocore ``before-send`` hook): jobs lost 0, every failure after retries with a reason.
- poison: generated bad messages (random text, oversize, wrong versions, foreign, squatted and
  missing job ids, other tenants' records) around valid jobs: worker crashes 0, valid jobs all
  succeed, no other record touched.
- load: the local API on loopback at rising concurrency: 5xx 0, p50/p99 per route, where 429s
  begin.
- isolation: every route and verb of user B on user A's generated ids, for user pairs:
  cross-user access 0.
- deletion: ``DELETE /me`` racing the user's running jobs: objects left 0.

    python benchmarks/reliability.py            # full (the counts below; ~30 min on 2 cores)
    python benchmarks/reliability.py --smoke    # CI: small counts, a few minutes

Writes benchmarks/results/reliability.{json,md} (``--smoke``: reliability-smoke.*).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import random
import shlex
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import requests

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sdfleet import env  # noqa: E402
from sdfleet.aws import AwsClients  # noqa: E402
from sdfleet.keys import user_prefix  # noqa: E402
from sdfleet.messages import JobMessage, Lane, batch_job_id  # noqa: E402
from sdfleet.records import JobRecord, JobStatus  # noqa: E402
from sdfleet.requests import JobKind, JobParams  # noqa: E402
from sdfleet.store import JobStore  # noqa: E402
from sdfleet_cli.local.cognito import LocalUsers  # noqa: E402
from sdfleet_cli.local.state import LocalState, StateDir  # noqa: E402
from sdfleet_cli.local.terraform import EMULATOR_CREDENTIALS  # noqa: E402

RESULTS_DIR: Final = REPO_ROOT / "benchmarks" / "results"
#: Fixed ports (when free) so the recorded Terraform apply is replayed between runs; below
#: the ephemeral range, so outgoing connections cannot take them while the stack starts.
STACK_PORTS: Final = (28_671, 28_672, 28_673)
READY_TIMEOUT_SECONDS: Final = 420
TINY: Final = {"width": 64, "height": 64, "steps": 2, "guidance_scale": 1.0}
#: Worker settings for these runs: short leases so a killed worker's job comes back soon.
WORKER_SETTINGS: Final = {
    env.MODEL_SOURCE: "tiny",
    env.DEVICE: "cpu",
    env.WAIT_TIME_SECONDS: "1",
    env.HEARTBEAT_SECONDS: "2",
    env.VISIBILITY_TIMEOUT_SECONDS: "15",
    env.LEASE_SECONDS: "15",
    env.MAX_RECEIVE_COUNT: "3",
    env.WARMUP: "false",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONUNBUFFERED": "1",
}
RESTART_DELAY_SECONDS: Final = 1.0


@dataclass(frozen=True)
class Counts:
    chaos_jobs: int
    kill_every: tuple[float, float]
    workers: int
    fault_jobs: int
    poison_messages: int
    poison_valid_jobs: int
    load_steps: tuple[int, ...]
    load_seconds: float
    isolation_pairs: int
    deletion_runs: int
    #: Chaos events (each a SIGKILL and a SIGTERM) before the monkey stops; None: no limit.
    kill_events: int | None = None


#: The issue's counts: 1,000 chaos jobs, 10,000 poison messages, 60 s load steps, 100
#: deletions. The full run took 85 min on the 2-core build machine (shared with other work):
#: poison 22 min (the sender, ~8 messages/s), deletion 51 min (~30 s per run: the job's start,
#: then the background purge), load 4 min, chaos 5 min. ``--chaos-jobs``, ``--poison-messages``,
#: ``--deletion-runs`` and ``--load-seconds`` lower them for a quicker look.
FULL: Final = Counts(
    chaos_jobs=1000,
    kill_every=(20.0, 60.0),
    workers=3,
    fault_jobs=20,
    poison_messages=10_000,
    poison_valid_jobs=20,
    load_steps=(1, 2, 4, 8),
    load_seconds=60.0,
    isolation_pairs=10,
    deletion_runs=100,
)
#: The smoke's one chaos event comes as soon as a worker is ready (checked every 1-2 s), while
#: most of its 30 jobs are still queued, so CI sees a SIGKILLed and a SIGTERMed worker's jobs
#: finish; more events would keep two workers from ever getting ahead of their restarts.
SMOKE: Final = Counts(
    chaos_jobs=30,
    kill_every=(1.0, 2.0),
    kill_events=1,
    workers=2,
    fault_jobs=6,
    poison_messages=60,
    poison_valid_jobs=3,
    load_steps=(1, 4),
    load_seconds=3.0,
    isolation_pairs=2,
    deletion_runs=3,
)


#: A worker's log line once its model is loaded: from then on it may hold a job.
WORKER_READY_MARK: Final = b'"message":"model loaded"'
#: After the chaos window, how long the fleet (no longer killed) may take to finish the rest.
CHAOS_DRAIN_SECONDS: Final = 600.0


@dataclass
class Row:
    scenario: str
    metric: str
    goal: str
    measured: Any
    met: bool | None  # None: reported, no goal


@dataclass
class Report:
    mode: str
    counts: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, scenario: str, metric: str, goal: str, measured: Any, met: bool | None) -> None:
        self.rows.append(Row(scenario, metric, goal, measured, met))
        print(f"  {scenario:9} {metric:40} goal {goal:12} measured {measured}", flush=True)

    @property
    def all_met(self) -> bool:
        return all(row.met is not False for row in self.rows)


# -- the stack ------------------------------------------------------------------------------
def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """``sdfleet up`` in its own session and state directory, without workers."""

    def __init__(self, state_dir: Path, logs: Path) -> None:
        self.state_dir = state_dir
        self.console = logs / "up.console"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalState:
        ports = [p if _port_free(p) else _free_port() for p in STACK_PORTS]
        state_file = self.state_dir / "local.json"
        with contextlib.suppress(FileNotFoundError):
            state_file.unlink()
        with self.console.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sdfleet_cli.cli",
                    "up",
                    "--state-dir",
                    str(self.state_dir),
                    "--emulator-port",
                    str(ports[0]),
                    "--api-port",
                    str(ports[1]),
                    "--frontend-port",
                    str(ports[2]),
                    "--max-workers",
                    "0",
                    "--scaler-interval",
                    "1",
                ],
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if state_file.exists():
                return StateDir(self.state_dir).read()
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"sdfleet up did not get ready:\n{self.console.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


# -- workers ----------------------------------------------------------------------------------
class Workers:
    """Worker processes with the stack's settings; one that exits is started again."""

    def __init__(self, state: LocalState, state_dir: Path, logs: Path) -> None:
        from moto.sqs.models import DEFAULT_SENDER_ID

        self.logs = logs
        self.environment = {
            **os.environ,
            **WORKER_SETTINGS,
            env.AWS_ENDPOINT_URL: state.aws_endpoint_url,
            env.AWS_REGION: state.region,
            env.JOBS_TABLE: state.jobs_table,
            env.WORKERS_TABLE: state.workers_table,
            env.BUCKET: state.bucket,
            env.INTERACTIVE_QUEUE_URL: state.interactive_queue_url,
            env.BATCH_QUEUE_URL: state.batch_queue_url,
            env.INTERACTIVE_DLQ_URL: state.interactive_dlq_url or "",
            env.BATCH_DLQ_URL: state.batch_dlq_url or "",
            env.SENDER_TENANTS: json.dumps({DEFAULT_SENDER_ID: state.local_tenant}),
            env.INGEST_SENDER_ID: DEFAULT_SENDER_ID,
            env.MODEL_CACHE_DIR: str((state_dir / "models").resolve()),
            env.METADATA_URL: f"http://127.0.0.1:{_free_port()}",
            **EMULATOR_CREDENTIALS,
            "AWS_DEFAULT_REGION": state.region,
        }
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._expected_exit: set[int] = set()
        #: Where each worker's log stood when it was last spawned (logs are appended to).
        self._log_starts: dict[str, int] = {}
        self.unexpected_exits: list[tuple[str, int]] = []
        self.fault_rate = 0.0
        self.fault_log: Path | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.generation = 0

    def log_paths(self) -> list[Path]:
        return sorted(self.logs.glob("worker-*.log"))

    def start(self, count: int, fault_rate: float = 0.0, fault_log: Path | None = None) -> None:
        self.fault_rate, self.fault_log = fault_rate, fault_log
        self.generation += 1
        self._stop.clear()
        for index in range(count):
            self._spawn(f"g{self.generation}-w{index}")
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()

    def _spawn(self, name: str) -> None:
        environment = {**self.environment, env.WORKER_ID: name}
        command = [sys.executable, "-m", "worker"]
        if self.fault_rate > 0:
            command = [sys.executable, str(REPO_ROOT / "benchmarks" / "faulty_worker.py")]
            environment["SDFLEET_BENCH_FAULT_RATE"] = str(self.fault_rate)
            environment["SDFLEET_BENCH_FAULT_LOG"] = str(self.fault_log)
        log = (self.logs / f"worker-{name}.log").open("ab")
        with self._lock:
            self._log_starts[name] = log.tell()
            self._procs[name] = subprocess.Popen(
                command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        log.close()

    def _supervise(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                exited = [(n, p) for n, p in self._procs.items() if p.poll() is not None]
            for name, process in exited:
                if process.pid in self._expected_exit:
                    self._expected_exit.discard(process.pid)
                else:
                    self.unexpected_exits.append((name, int(process.returncode)))
                if self._stop.wait(RESTART_DELAY_SECONDS):
                    return
                self._spawn(name)

    def _ready(self, name: str) -> bool:
        """The worker has loaded its model since it was last spawned."""
        with (self.logs / f"worker-{name}.log").open("rb") as log:
            log.seek(self._log_starts.get(name, 0))
            return WORKER_READY_MARK in log.read()

    def signal_random(
        self, sig: signal.Signals, avoid: str | None = None, ready_only: bool = False
    ) -> str | None:
        with self._lock:
            live = [n for n, p in self._procs.items() if p.poll() is None and n != avoid]
            if ready_only:
                live = [n for n in live if self._ready(n)]
            if not live:
                return None
            name = random.choice(live)
            process = self._procs[name]
            self._expected_exit.add(process.pid)
            process.send_signal(sig)
        return name

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            procs = list(self._procs.values())
            self._procs.clear()
        for process in procs:
            if process.poll() is None:
                self._expected_exit.add(process.pid)
                process.send_signal(signal.SIGTERM)
        for process in procs:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def succeeded_counts(self) -> Counter[str]:
        """``job succeeded`` log events per job id, over every worker log."""
        counts: Counter[str] = Counter()
        for path in self.log_paths():
            for line in path.read_text(errors="replace").splitlines():
                if '"job succeeded"' not in line:
                    continue
                with contextlib.suppress(ValueError):
                    counts[json.loads(line)["job_id"]] += 1
        return counts


# -- the API ----------------------------------------------------------------------------------
class Api:
    def __init__(self, state: LocalState, clients: AwsClients) -> None:
        self.url = state.api_url.rstrip("/")
        self._users = LocalUsers(
            clients.cognito_idp(), state.user_pool_id, state.user_pool_client_id
        )
        self._tokens: dict[str, str] = {}
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=32, pool_maxsize=64)
        self._session.mount("http://", adapter)

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = self._users.token_for(user).id_token
        return self._tokens[user]

    def sub(self, user: str) -> str:
        payload = self.token(user).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"])

    def call(self, user: str, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
        started = time.perf_counter()
        response = self._session.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Bearer {self.token(user)}"},
            json=body,
            timeout=60,
        )
        seconds = time.perf_counter() - started
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = response.text
        return response.status_code, payload, seconds


def _user(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _job_body(prompt: str = "a lighthouse") -> dict[str, Any]:
    return {"prompt": prompt, **TINY}


def _batch_body(ref: str, job_id: str | None = None, version: int = 1) -> str:
    params = JobParams(prompt="a batch lighthouse", **TINY)  # type: ignore[arg-type]
    message = JobMessage(
        version=1, kind=JobKind.TXT2IMG, params=params, lane=Lane.BATCH, client_ref=ref
    )
    body = json.loads(message.to_body())
    body["version"] = version
    if job_id is not None:
        body["job_id"] = job_id
    return json.dumps(body)


class Fleet:
    """What the scenarios share: the stack's clients, store, API and workers."""

    def __init__(self, state: LocalState, state_dir: Path, logs: Path) -> None:
        self.state = state
        self.clients = AwsClients(state.aws_endpoint_url, state.region)
        self.store = JobStore(self.clients.dynamodb(), state.jobs_table)
        self.api = Api(state, self.clients)
        self.workers = Workers(state, state_dir, logs)

    def send_batch(self, bodies: list[str], queue_url: str | None = None) -> list[str]:
        """Sends bodies 10 at a time; returns the batch job id of each accepted message."""
        url = queue_url or self.state.batch_queue_url
        ids: list[str] = []
        sqs = self.clients.sqs()
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            result = sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)],
            )
            ids += [batch_job_id(s["MessageId"]) for s in result.get("Successful", [])]
        return ids

    def record(self, job_id: str) -> JobRecord | None:
        with contextlib.suppress(Exception):
            return self.store.get(job_id)
        return None

    def wait_terminal(self, job_ids: list[str], timeout: float) -> dict[str, JobRecord | None]:
        deadline = time.monotonic() + timeout
        pending = set(job_ids)
        records: dict[str, JobRecord | None] = dict.fromkeys(job_ids)
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                record = self.record(job_id)
                records[job_id] = record
                if record is not None and record.status.is_terminal:
                    pending.discard(job_id)
            if pending:
                time.sleep(1.0)
        return records

    def objects(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.clients.s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.state.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def queues_empty(self) -> bool:
        sqs = self.clients.sqs()
        for url in (self.state.interactive_queue_url, self.state.batch_queue_url):
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            if any(int(v) for v in attributes.values()):
                return False
        return True

    def wait_drained(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queues_empty():
                return True
            time.sleep(1.0)
        return False


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- scenarios ----------------------------------------------------------------------------------
def _submit_mixed(fleet: Fleet, count: int, per_user: int = 15) -> dict[str, float]:
    """Half the jobs through the API (several users, within the active-job quota), half as
    batch messages. Returns job id -> submit time (epoch seconds)."""
    submitted: dict[str, float] = {}
    web = count // 2
    user = _user("chaos-")
    for index in range(web):
        if index % per_user == 0:
            user = _user("chaos-")
        status, body, _ = fleet.api.call(user, "POST", "/jobs", _job_body(f"chaos {index}"))
        if status == 202:
            submitted[body["job_id"]] = time.time()
    now = time.time()
    for job_id in fleet.send_batch([_batch_body(f"chaos-{i}") for i in range(count - web)]):
        submitted[job_id] = now
    return submitted


def chaos(fleet: Fleet, counts: Counts, report: Report) -> None:
    fleet.workers.start(counts.workers)
    stop = threading.Event()
    kills: Counter[str] = Counter()

    def monkey() -> None:
        # Each event SIGKILLs one worker and SIGTERMs another, and only workers that have
        # loaded their model: one still starting holds no job, and on a loaded machine a start
        # takes longer than the kill interval, so killing those would leave no worker up at all.
        low, high = counts.kill_every
        events = 0
        while not stop.wait(random.uniform(low, high)):
            killed = fleet.workers.signal_random(signal.SIGKILL, ready_only=True)
            if killed is None:
                continue  # no worker has loaded its model yet: not an event
            kills[signal.SIGKILL.name] += 1
            if fleet.workers.signal_random(signal.SIGTERM, avoid=killed, ready_only=True):
                kills[signal.SIGTERM.name] += 1
            events += 1
            if counts.kill_events is not None and events >= counts.kill_events:
                return

    # The kills start with the submissions: workers take jobs while the rest are submitted.
    thread = threading.Thread(target=monkey, daemon=True)
    thread.start()
    submitted = _submit_mixed(fleet, counts.chaos_jobs)
    # Each job is ~1 s of CPU; a killed worker is back in ~1 min and its job in one lease.
    records = fleet.wait_terminal(list(submitted), timeout=300 + 6.0 * counts.chaos_jobs)
    stop.set()
    thread.join()
    # Lost means never finished, even once the kills have stopped and the fleet has had time.
    unfinished = [j for j, r in records.items() if r is None or not r.status.is_terminal]
    records.update(fleet.wait_terminal(unfinished, timeout=CHAOS_DRAIN_SECONDS))
    fleet.workers.stop()
    succeeded = fleet.workers.succeeded_counts()
    lost = [j for j, r in records.items() if r is None or not r.status.is_terminal]
    twice = [j for j in submitted if succeeded[j] > 1]
    done = [r for r in records.values() if r is not None and r.status is JobStatus.SUCCEEDED]
    failed = [r for r in records.values() if r is not None and r.status is JobStatus.FAILED]
    redeliveries = sum(max((r.attempts or 1) - 1, 0) for r in records.values() if r is not None)
    latencies = [
        r.finished_at.timestamp() - submitted[r.job_id] for r in done if r.finished_at is not None
    ]
    report.add("chaos", "jobs (both lanes)", "-", len(submitted), None)
    report.add(
        "chaos",
        "workers killed (SIGKILL / SIGTERM)",
        "-",
        f"{kills['SIGKILL']} / {kills['SIGTERM']}",
        None,
    )
    report.add("chaos", "jobs finished after the kills stopped", "-", len(unfinished), None)
    report.add("chaos", "jobs lost", "0", len(lost), not lost)
    report.add("chaos", "jobs completed twice", "0", len(twice), not twice)
    report.add("chaos", "jobs succeeded / failed", "-", f"{len(done)} / {len(failed)}", None)
    report.add("chaos", "redeliveries", "-", redeliveries, None)
    report.add("chaos", "p95 completion (s)", "-", round(_p(latencies, 0.95), 1), None)


def faults(fleet: Fleet, counts: Counts, report: Report, logs: Path) -> None:
    for rate in (0.05, 0.20):
        label = f"{int(rate * 100)}%"
        log = logs / f"faults-{label}.log"
        log.write_text("")
        fleet.workers.start(counts.workers, fault_rate=rate, fault_log=log)
        ids = fleet.send_batch([_batch_body(f"fault-{rate}-{i}") for i in range(counts.fault_jobs)])
        user = _user("fault-")
        for index in range(counts.fault_jobs // 2):
            status, body, _ = fleet.api.call(user, "POST", "/jobs", _job_body(f"fault {index}"))
            if status == 202:
                ids.append(body["job_id"])
        records = fleet.wait_terminal(ids, timeout=240 + 10.0 * len(ids))
        fleet.workers.stop()
        injected = Counter(line.split()[0] for line in log.read_text().splitlines() if line)
        lost = [j for j, r in records.items() if r is None or not r.status.is_terminal]
        failed = [r for r in records.values() if r is not None and r.status is JobStatus.FAILED]
        unexplained = [r for r in failed if r.error is None or not r.error.message]
        early = [r for r in failed if (r.attempts or 0) < 2 and "retries" not in _reason(r)]
        report.add(f"faults {label}", "jobs", "-", len(ids), None)
        report.add(
            f"faults {label}",
            "errors injected (s3/dynamodb/sqs)",
            "-",
            f"{injected['s3']}/{injected['dynamodb']}/{injected['sqs']}",
            None,
        )
        report.add(f"faults {label}", "jobs lost", "0", len(lost), not lost)
        report.add(
            f"faults {label}", "failed without a reason", "0", len(unexplained), not unexplained
        )
        report.add(f"faults {label}", "failed before retries", "0", len(early), not early)
        report.add(f"faults {label}", "jobs failed (after retries)", "-", len(failed), None)


def _reason(record: JobRecord) -> str:
    return (record.error.message if record.error else "") or ""


def _poison_bodies(fleet: Fleet, count: int, victims: list[str]) -> list[tuple[str, str]]:
    """(lane, body) of ``count`` bad messages of every kind."""
    rng = random.Random(14)
    alphabet = string.printable
    kinds: list[Callable[[int], tuple[str, str]]] = [
        lambda i: ("batch", "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 400)))),
        lambda i: ("batch", json.dumps({"version": 1, "pad": "x" * 200_000})),
        # Over SQS's 256 KiB: refused at the door, counted as refused by SQS.
        lambda i: ("batch", json.dumps({"version": 1, "pad": "x" * 270_000})),
        lambda i: ("batch", _batch_body(f"v{i}", version=rng.choice([0, 2, 99, -1]))),
        lambda i: ("batch", _batch_body(f"f{i}", job_id=rng.choice(victims))),
        lambda i: ("batch", _batch_body(f"s{i}", job_id=f"b-{uuid.uuid4()}")),
        lambda i: ("interactive", json.dumps({"version": 1, "job_id": f"j{uuid.uuid4().hex}"})),
        lambda i: ("interactive", _batch_body(f"l{i}", job_id=rng.choice(victims))),
        lambda i: ("batch", json.dumps([1, 2, 3])),
        lambda i: ("batch", json.dumps({"version": 1, "kind": "txt2img", "params": {}})),
    ]
    return [kinds[i % len(kinds)](i) for i in range(count)]


def poison(fleet: Fleet, counts: Counts, report: Report) -> None:
    # Victims: finished records of a web user and of the batch tenant.
    user = _user("victim-")
    victim_ids: list[str] = []
    for index in range(2):
        status, body, _ = fleet.api.call(user, "POST", "/jobs", _job_body(f"victim {index}"))
        if status == 202:
            victim_ids.append(body["job_id"])
    victim_ids += fleet.send_batch([_batch_body("victim-batch")])
    fleet.workers.start(counts.workers)
    # The snapshot is taken once every victim has finished (workers take minutes to start
    # here): a victim finishing later would read as "touched".
    finished = fleet.wait_terminal(victim_ids, timeout=900)
    if not all(r is not None and r.status.is_terminal for r in finished.values()):
        raise RuntimeError("the victim jobs did not finish before the poison was sent")
    time.sleep(3)  # the finishing worker's last writes (progress, lease) have landed
    before = {j: fleet.record(j) for j in victim_ids}
    bodies = _poison_bodies(fleet, counts.poison_messages, victim_ids)
    lanes = {"batch": fleet.state.batch_queue_url, "interactive": fleet.state.interactive_queue_url}
    valid: list[str] = []
    rejected_by_sqs = 0
    per_valid = max(1, len(bodies) // max(1, counts.poison_valid_jobs))
    sqs = fleet.clients.sqs()
    for index, (lane, body) in enumerate(bodies):
        if index % per_valid == 0 and len(valid) < counts.poison_valid_jobs:
            valid += fleet.send_batch([_batch_body(f"valid-{index}")])
        try:
            sqs.send_message(QueueUrl=lanes[lane], MessageBody=body)
        except Exception:
            rejected_by_sqs += 1
    records = fleet.wait_terminal(valid, timeout=300 + 0.2 * len(bodies))
    drained = fleet.wait_drained(timeout=300 + 0.1 * len(bodies))
    fleet.workers.stop()
    after = {j: fleet.record(j) for j in victim_ids}
    # A record an attacker names must be exactly as it was: same status, same fields.
    touched = [
        j for j in victim_ids if before[j] is None or after[j] is None or before[j] != after[j]
    ]
    ok = [r for r in records.values() if r is not None and r.status is JobStatus.SUCCEEDED]
    report.add(
        "poison",
        "bad messages sent (refused by SQS)",
        "-",
        f"{len(bodies)} ({rejected_by_sqs})",
        None,
    )
    report.add(
        "poison",
        "worker crashes",
        "0",
        len(fleet.workers.unexpected_exits),
        not fleet.workers.unexpected_exits,
    )
    report.add("poison", "valid jobs succeeded", f"{len(valid)}", len(ok), len(ok) == len(valid))
    report.add("poison", "other records touched", "0", len(touched), not touched)
    report.add("poison", "queues drained", "yes", "yes" if drained else "no", drained)


#: How the API's per-user quota refusals begin (active jobs, cost units, uploads per day): a
#: 429 that says so is one user's allowance spent, not the service shedding load.
QUOTA_REASONS: Final = ("active jobs:", "cost units:", "uploads:")


def _is_quota_refusal(payload: Any) -> bool:
    error = payload.get("error") if isinstance(payload, dict) else None
    message = error.get("message", "") if isinstance(error, dict) else ""
    return isinstance(message, str) and message.startswith(QUOTA_REASONS)


def load(fleet: Fleet, counts: Counts, report: Report) -> None:
    """No workers run: jobs stay queued, so each user's quota is reached (429) as it would be.
    Those refusals are counted apart from any other 429 (load shedding, which should begin only
    at a concurrency the API cannot serve)."""
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: Counter[int] = Counter()
    quota_refusals = 0
    first_quota_429: int | None = None
    first_other_429: int | None = None
    for concurrency in counts.load_steps:
        users = [_user("load-") for _ in range(concurrency)]
        for user in users:
            fleet.api.token(user)
        step_statuses: Counter[int] = Counter()
        step_quota: list[int] = [0]
        lock = threading.Lock()
        deadline = time.monotonic() + counts.load_seconds

        def client(
            user: str,
            deadline: float = deadline,
            lock: threading.Lock = lock,
            step_statuses: Counter[int] = step_statuses,
            step_quota: list[int] = step_quota,
        ) -> None:
            job_ids: list[str] = []
            while time.monotonic() < deadline:
                for route, method, path, body in (
                    ("POST /jobs", "POST", "/jobs", _job_body("load")),
                    ("GET /jobs", "GET", "/jobs?limit=20", None),
                    ("GET /jobs/{id}", "GET", f"/jobs/{job_ids[-1] if job_ids else 'none'}", None),
                    ("POST /uploads", "POST", "/uploads", {"content_type": "image/png"}),
                ):
                    status, payload, seconds = fleet.api.call(user, method, path, body)
                    if route == "POST /jobs" and status == 202:
                        job_ids.append(payload["job_id"])
                    with lock:
                        latencies[route].append(seconds)
                        step_statuses[status] += 1
                        if status == 429 and _is_quota_refusal(payload):
                            step_quota[0] += 1

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(client, users))
        statuses.update(step_statuses)
        quota_refusals += step_quota[0]
        if first_quota_429 is None and step_quota[0]:
            first_quota_429 = concurrency
        if first_other_429 is None and step_statuses[429] > step_quota[0]:
            first_other_429 = concurrency
        total = sum(step_statuses.values())
        report.add(
            "load",
            f"concurrency {concurrency}: requests/s",
            "-",
            round(total / counts.load_seconds, 1),
            None,
        )
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    report.add("load", "5xx responses", "0", server_errors, server_errors == 0)
    for route, values in sorted(latencies.items()):
        report.add(
            "load",
            f"{route} p50 / p99 (ms)",
            "-",
            f"{_p(values, 0.5) * 1000:.0f} / {_p(values, 0.99) * 1000:.0f}",
            None,
        )
    report.add(
        "load",
        "429s from per-user quotas (first at concurrency)",
        "-",
        f"{quota_refusals} ({first_quota_429 if first_quota_429 is not None else 'none'})",
        None,
    )
    report.add(
        "load",
        "other 429s (load shedding) begin at concurrency",
        "-",
        first_other_429 if first_other_429 is not None else "none",
        None,
    )


def isolation(fleet: Fleet, counts: Counts, report: Report) -> None:
    api = fleet.api
    probes = 0
    leaks: list[str] = []
    for _ in range(counts.isolation_pairs):
        a, b = _user("iso-a-"), _user("iso-b-")
        status, upload, _ = api.call(a, "POST", "/uploads", {"content_type": "image/png"})
        a_input = upload["key"] if status == 201 else f"{user_prefix(api.sub(a))}inputs/x.png"
        status, created, _ = api.call(a, "POST", "/jobs", _job_body("a secret prompt"))
        a_job = created["job_id"] if status == 202 else uuid.uuid4().hex
        # A's id, fresh ids of both kinds, and mangled forms of A's id.
        generated = [a_job, uuid.uuid4().hex, f"b-{uuid.uuid4()}", a_job.upper(), f"{a_job}x"]
        for job_id in generated:
            for method in ("GET", "DELETE"):
                status, body, _ = api.call(b, method, f"/jobs/{job_id}")
                probes += 1
                if status < 400 or (
                    isinstance(body, dict) and "a secret prompt" in json.dumps(body)
                ):
                    leaks.append(f"{method} /jobs/{job_id} -> {status}")
        status, listed, _ = api.call(b, "GET", "/jobs?limit=100")
        probes += 1
        if a_job in json.dumps(listed):
            leaks.append("GET /jobs lists A's job")
        img2img = {**_job_body("steal"), "kind": "img2img", "input_key": a_input}
        status, body, _ = api.call(b, "POST", "/jobs", img2img)
        probes += 1
        if status < 400:
            leaks.append(f"img2img with A's input -> {status}")
        status, ticket, _ = api.call(b, "POST", "/uploads", {"content_type": "image/png"})
        probes += 1
        if status == 201 and not ticket["key"].startswith(user_prefix(api.sub(b))):
            leaks.append("B's upload ticket outside B's prefix")
        for method, path in (("GET", "/me/deletion"), ("GET", f"/jobs?cursor={a_job}")):
            status, body, _ = api.call(b, method, path)
            probes += 1
            # A 400 may echo the cursor B sent; only A's data in an answer is a leak.
            if "a secret prompt" in json.dumps(body) or (
                status < 400 and a_job in json.dumps(body)
            ):
                leaks.append(f"{method} {path} -> {status}")
        after = fleet.record(a_job)
        if after is not None and (after.status is JobStatus.CANCELLED or after.cancel_requested):
            leaks.append("B cancelled A's job")
    report.add(
        "isolation", "user pairs / probes", "-", f"{counts.isolation_pairs} / {probes}", None
    )
    report.add("isolation", "cross-user access", "0", len(leaks), not leaks)
    if leaks:
        print("    leaks:", leaks[:10])


def _workers_ready(fleet: Fleet) -> None:
    """One batch job through, so the workers have loaded their model before a race."""
    fleet.wait_terminal(fleet.send_batch([_batch_body("warm-up")]), timeout=600)


def deletion(fleet: Fleet, counts: Counts, report: Report) -> None:
    fleet.workers.start(counts.workers)
    _workers_ready(fleet)
    left: dict[str, list[str]] = {}
    raced_running = 0
    incomplete = 0
    for _ in range(counts.deletion_runs):
        user = _user("del-")
        jobs = []
        for index in range(2):
            status, body, _ = fleet.api.call(user, "POST", "/jobs", _job_body(f"delete me {index}"))
            if status == 202:
                jobs.append(body["job_id"])
        # Delete while the first job runs (or once it had its chance to start).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            record = fleet.record(jobs[0]) if jobs else None
            if record is None or record.status is not JobStatus.QUEUED:
                break
            time.sleep(random.uniform(0.05, 0.3))
        record = fleet.record(jobs[0]) if jobs else None
        raced_running += record is not None and record.status is JobStatus.RUNNING
        status, _, _ = fleet.api.call(user, "DELETE", "/me")
        completed = False
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status, body, _ = fleet.api.call(user, "GET", "/me/deletion")
            if status == 200 and body["status"] == "completed":
                completed = True
                break
            time.sleep(0.5)
        incomplete += not completed
        left[user] = fleet.objects(user_prefix(fleet.api.sub(user)))
    # Let every worker finish what it held (a running job must not write after the purge).
    fleet.wait_drained(timeout=120)
    time.sleep(5)
    fleet.workers.stop()
    for user in left:
        left[user] = fleet.objects(user_prefix(fleet.api.sub(user)))
    objects_left = sum(len(keys) for keys in left.values())
    report.add(
        "deletion",
        "DELETE /me runs (racing a running job)",
        "-",
        f"{counts.deletion_runs} ({raced_running})",
        None,
    )
    report.add("deletion", "deletions not completed", "0", incomplete, incomplete == 0)
    report.add("deletion", "objects left", "0", objects_left, objects_left == 0)


SCENARIOS: Final = ("isolation", "load", "poison", "deletion", "faults", "chaos")


# -- output -------------------------------------------------------------------------------------
def render_markdown(report: Report) -> str:
    lines = [
        f"# Reliability ({report.mode})",
        "",
        f"Machine: {report.counts.get('machine', '')}. "
        f"Command: `{report.counts.get('command', '')}`.",
        f"All goals met: **{'yes' if report.all_met else 'no'}**.",
        "",
        "| scenario | metric | goal | measured | met |",
        "|---|---|---|---|---|",
    ]
    for row in report.rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.scenario} | {row.metric} | {row.goal} | {row.measured} | {met} |")
    lines += ["", "Seconds per scenario: " + ", ".join(
        f"{name} {seconds:.0f}" for name, seconds in report.seconds.items()
    ), ""]  # fmt: skip
    return "\n".join(lines)


def write(report: Report, stem: str) -> tuple[Path, Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS_DIR / f"{stem}.json", RESULTS_DIR / f"{stem}.md"
    document = {
        "mode": report.mode,
        "counts": report.counts,
        "all_met": report.all_met,
        "rows": [asdict(row) for row in report.rows],
        "seconds": report.seconds,
    }
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    md_path.write_text(render_markdown(report))
    return json_path, md_path


@contextlib.contextmanager
def running_stack(state_dir: Path, logs: Path) -> Iterator[Fleet]:
    stack = Stack(state_dir, logs)
    state = stack.start()
    fleet = Fleet(state, state_dir, logs)
    try:
        yield fleet
    finally:
        fleet.workers.stop()
        stack.stop()


def run(counts: Counts, mode: str, only: list[str], state_dir: Path, stem: str) -> Report:
    # The emulator takes any credentials; this process's clients need some.
    for name, value in EMULATOR_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    logs = state_dir / "reliability-logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    report = Report(
        mode=mode,
        counts={
            **{k: v for k, v in asdict(counts).items()},
            "machine": f"{os.cpu_count()}-core {platform.machine()}, "
            f"Python {platform.python_version()}",
            "command": shlex.join(["python", "benchmarks/reliability.py", *sys.argv[1:]]),
        },
    )
    started = time.monotonic()
    with running_stack(state_dir, logs) as fleet:
        report.seconds["stack up"] = time.monotonic() - started
        for name in SCENARIOS:
            if only and name not in only:
                continue
            print(f"-- {name}", flush=True)
            begun = time.monotonic()
            try:
                if name == "faults":
                    faults(fleet, counts, report, logs)
                else:
                    globals()[name](fleet, counts, report)
            except Exception as exc:
                # A harness failure is a goal not shown met, never a silently missing row.
                report.add(name, "scenario ran to the end", "yes", f"no: {exc!r}"[:200], False)
                fleet.workers.stop()
            report.seconds[name] = time.monotonic() - begun
    report.seconds["total"] = time.monotonic() - started
    write(report, stem)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small counts (CI)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {SCENARIOS}")
    parser.add_argument("--chaos-jobs", type=int)
    parser.add_argument("--poison-messages", type=int)
    parser.add_argument("--deletion-runs", type=int)
    parser.add_argument("--load-seconds", type=float)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=REPO_ROOT / ".sdfleet" / "reliability-stack",
        help="the stack's state directory (kept, so the Terraform apply is replayed)",
    )
    parser.add_argument("--results-stem", help="file name of the results (default by mode)")
    args = parser.parse_args(argv)
    counts = SMOKE if args.smoke else FULL
    overrides = {
        "chaos_jobs": args.chaos_jobs,
        "poison_messages": args.poison_messages,
        "deletion_runs": args.deletion_runs,
        "load_seconds": args.load_seconds,
    }
    counts = Counts(**{**asdict(counts), **{k: v for k, v in overrides.items() if v}})
    mode = "smoke" if args.smoke else "full"
    stem = args.results_stem or ("reliability-smoke" if args.smoke else "reliability")
    only = [name for name in args.only.split(",") if name]
    report = run(counts, mode, only, args.state_dir, stem)
    print(render_markdown(report))
    return 0 if report.all_met else 1


if __name__ == "__main__":
    sys.exit(main())
