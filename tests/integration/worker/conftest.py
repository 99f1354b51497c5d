"""Fixtures for the worker's tests: settings against the emulator, the fake metadata service,
the tiny model, in-process workers and `python -m worker` subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sdfleet import env
from sdfleet.aws import AwsClients
from sdfleet.messages import JobMessage, Lane
from sdfleet.records import JobRecord, JobStatus
from sdfleet.requests import JobKind, JobParams
from sdfleet.settings import WorkerSettings
from sdfleet.store import JobStore
from tests.conftest import FleetResources
from tests.integration.worker.fake_imds import FakeImds
from tests.support.polling import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
#: moto stamps every message with this SenderId; tests map it to a tenant.
MOTO_SENDER_ID = "AIDAIT2UOQQY3AUEKVGXU"
BATCH_TENANT = "tenant-batch"
#: Settings that keep the tests fast on a 2-core machine.
FAST_SETTINGS: dict[str, Any] = {
    "visibility_timeout_seconds": 10,
    "training_visibility_timeout_seconds": 10,
    "heartbeat_seconds": 1.0,
    "lease_seconds": 5,
    "wait_time_seconds": 1,
    "metadata_poll_seconds": 0.3,
    "max_receive_count": 3,
    "max_batch_size": 4,
    "device": "cpu",
    # The warm-up generation is tested where it matters (test_startup.py turns it on).
    "warmup": False,
}


@pytest.fixture()
def imds() -> Iterator[FakeImds]:
    fake = FakeImds().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, built once per session (the same code path as a real model)."""
    shared = os.environ.get("SDFLEET_TEST_MODEL_CACHE")
    path = Path(shared) if shared else tmp_path_factory.mktemp("models")
    from worker.tiny_model import ensure_tiny_model

    ensure_tiny_model(path)
    return path


@pytest.fixture()
def settings_env(
    fleet: FleetResources, imds: FakeImds, model_cache_dir: Path, tmp_path: Path
) -> Callable[..., dict[str, str]]:
    """The SDFLEET_* environment of a worker for this test's fleet (its state, such as the
    start history, in the test's own directory)."""

    def make(**overrides: Any) -> dict[str, str]:
        values = {"state_dir": str(tmp_path / "worker-state"), **FAST_SETTINGS, **overrides}
        result = fleet.env() | {
            env.METADATA_URL: imds.url,
            env.MODEL_SOURCE: "tiny",
            env.MODEL_CACHE_DIR: str(model_cache_dir),
            env.SENDER_TENANTS: json.dumps({MOTO_SENDER_ID: BATCH_TENANT}),
        }
        names = {
            "visibility_timeout_seconds": env.VISIBILITY_TIMEOUT_SECONDS,
            "training_visibility_timeout_seconds": env.TRAINING_VISIBILITY_TIMEOUT_SECONDS,
            "heartbeat_seconds": env.HEARTBEAT_SECONDS,
            "lease_seconds": env.LEASE_SECONDS,
            "wait_time_seconds": env.WAIT_TIME_SECONDS,
            "metadata_poll_seconds": env.METADATA_POLL_SECONDS,
            "max_receive_count": env.MAX_RECEIVE_COUNT,
            "max_batch_size": env.MAX_BATCH_SIZE,
            "device": env.DEVICE,
            "worker_id": env.WORKER_ID,
            "instance_id": env.INSTANCE_ID,
            "lifecycle_hook_name": env.LIFECYCLE_HOOK_NAME,
            "asg_name": env.ASG_NAME,
            "sender_tenants": env.SENDER_TENANTS,
            "tenant_webhook_urls": env.TENANT_WEBHOOK_URLS,
            "max_input_pixels": env.MAX_INPUT_PIXELS,
            "receive_ahead_seconds": env.RECEIVE_AHEAD_SECONDS,
            "fair_window_messages": env.FAIR_WINDOW_MESSAGES,
            "model_source": env.MODEL_SOURCE,
            "state_dir": env.STATE_DIR,
            "max_model_load_attempts": env.MAX_MODEL_LOAD_ATTEMPTS,
            "launch_hook_name": env.LAUNCH_HOOK_NAME,
            "attention_backend": env.ATTENTION_BACKEND,
            "warmup": env.WARMUP,
            "train_checkpoint_every_steps": env.TRAIN_CHECKPOINT_EVERY_STEPS,
            "adapter_cache_size": env.ADAPTER_CACHE_SIZE,
        }
        for key, value in values.items():
            result[names[key]] = value if isinstance(value, str) else json.dumps(value)
        return result

    return make


@pytest.fixture()
def worker_settings(settings_env: Callable[..., dict[str, str]]) -> Callable[..., WorkerSettings]:
    def make(**overrides: Any) -> WorkerSettings:
        variables = settings_env(**overrides)
        saved = {k: os.environ.get(k) for k in variables}
        os.environ.update(variables)
        try:
            return WorkerSettings()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    return make


def params(**overrides: Any) -> JobParams:
    values: dict[str, Any] = {
        "prompt": "a red cube",
        "width": 64,
        "height": 64,
        "steps": 2,
        "guidance_scale": 1.0,
    }
    return JobParams.model_validate(values | overrides)


def web_job(
    store: JobStore,
    sqs: Any,
    queue_url: str,
    *,
    owner: str = "user-1",
    kind: JobKind = JobKind.TXT2IMG,
    lane: Lane = Lane.INTERACTIVE,
    **param_overrides: Any,
) -> JobRecord:
    """What the ingest API does: the record first, then the message."""
    import uuid

    job_params = params(**param_overrides)
    record = store.create(
        JobRecord(
            job_id=f"j-{uuid.uuid4().hex[:12]}",
            owner=owner,
            kind=kind,
            params=job_params,
            lane=lane,
        )
    )
    message = JobMessage(version=1, kind=kind, params=job_params, job_id=record.job_id, lane=lane)
    sqs.send_message(QueueUrl=queue_url, MessageBody=message.to_body())
    return record


def wait_status(store: JobStore, job_id: str, status: JobStatus, timeout: float) -> JobRecord:
    record: JobRecord = wait_until(
        lambda: r if (r := store.get(job_id)).status is status else None,
        timeout,
        f"{job_id} to be {status.value}",
    )
    return record


class WorkerProcess:
    """`python -m worker` in a subprocess with this test's settings."""

    def __init__(self, variables: dict[str, str], log_path: Path, module: str = "worker") -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        environment = {**os.environ, **variables, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO_ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture()
def spawn_worker(
    settings_env: Callable[..., dict[str, str]], tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def spawn(name: str = "w1", *, module: str = "worker", **overrides: Any) -> WorkerProcess:
        variables = settings_env(worker_id=name, **overrides)
        worker = WorkerProcess(variables, tmp_path / f"{name}.log", module)
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.stop()


def _record_autoscaling_call(
    monkeypatch: pytest.MonkeyPatch, action: str, params: tuple[str, ...]
) -> list[dict[str, str]]:
    """moto (5.x) lacks some lifecycle calls; the emulator runs in this test process, so this
    adds ``action`` (its snake_case name) to it for the test and records each call's
    ``params``."""
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    calls: list[dict[str, str]] = []

    def record(self: Any) -> Any:
        calls.append({name: self._get_param(name) for name in params})
        return EmptyResult()

    monkeypatch.setattr(AutoScalingResponse, action, record, raising=False)
    return calls


@pytest.fixture()
def lifecycle_actions(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Every ``CompleteLifecycleAction`` call, answered by the emulator."""
    return _record_autoscaling_call(
        monkeypatch,
        "complete_lifecycle_action",
        ("LifecycleHookName", "AutoScalingGroupName", "InstanceId", "LifecycleActionResult"),
    )


@pytest.fixture()
def hook_heartbeats(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Every ``RecordLifecycleActionHeartbeat`` call, answered by the emulator."""
    return _record_autoscaling_call(
        monkeypatch,
        "record_lifecycle_action_heartbeat",
        ("LifecycleHookName", "AutoScalingGroupName", "InstanceId"),
    )


@pytest.fixture(scope="session")
def generator(model_cache_dir: Path, moto_endpoint: str) -> Any:
    """The real Generator with the tiny model on CPU, loaded once and shared by in-process
    workers (a fresh load costs seconds; the pipeline is used by one worker at a time)."""
    from worker.generation import Generator

    settings = WorkerSettings(
        model_source="tiny",
        model_cache_dir=str(model_cache_dir),
        device="cpu",
        aws_endpoint_url=moto_endpoint,
    )
    return Generator.load(settings, AwsClients(endpoint_url=moto_endpoint).s3())


@pytest.fixture()
def make_worker(
    worker_settings: Callable[..., WorkerSettings],
    fleet: FleetResources,
    generator: Any,
    imds: FakeImds,
) -> Iterator[Callable[..., Any]]:
    """In-process workers (real queue code, real generator); background threads stopped after."""
    from worker.daemon import Worker
    from worker.metadata import InstanceMetadata

    made: list[Worker] = []

    def make(name: str = "w-in", *, start: bool = True, **overrides: Any) -> Worker:
        settings = worker_settings(worker_id=name, **overrides)
        worker = Worker(
            settings,
            fleet.clients,
            generator,
            worker_id=name,
            instance_id=imds.instance_id,
            metadata=InstanceMetadata(imds.url),
        )
        if start:
            worker.start_background()
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.stop_background()


def drive(worker: Any, until: Callable[[], Any], timeout: float, what: str) -> Any:
    """Calls ``worker.run_once`` until ``until()`` is true."""

    def step() -> Any:
        value = until()
        if not value and worker.run_once(long_poll=False) == 0:
            worker.wait_for_completions()
        return value

    return wait_until(step, timeout, what, interval=0.05)
