"""Start-up failures and the launch gate, with real `python -m worker` processes against the
emulator: a worker that cannot load never loops on a billed instance, and a warm-pool
instance never claims a job."""

from __future__ import annotations

import configparser
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sdfleet.heartbeats import HeartbeatStore, WorkerState
from sdfleet.records import JobStatus
from sdfleet.starts import StartPath, StartRecordStore
from tests.conftest import FleetResources
from tests.integration.worker.conftest import (
    REPO_ROOT,
    WorkerProcess,
    wait_status,
    web_job,
)
from tests.integration.worker.fake_imds import FakeImds
from tests.support.aws_resources import unique
from tests.support.polling import wait_until
from tests.support.tools import require_host_without_cuda
from worker.__main__ import EXIT_CONFIG
from worker.startup import EXIT_GAVE_UP, EXIT_MODEL_LOAD_RETRY, LOAD_FAILURE_METRIC
from worker.stop_report import CONFIG_ERROR_METRIC

pytestmark = pytest.mark.slow

UNIT = REPO_ROOT / "worker" / "systemd" / "sdfleet-worker.service"
#: Imports (torch, diffusers) on a busy 2-core machine: benchmark (c) measured 20-100 s to
#: import and load under other tests' load. The failure itself follows at once.
FAIL_FAST_SECONDS = 150
#: Imports plus the tiny model's load and warm-up.
STARTUP_SECONDS = 150


def _unit_no_restart_statuses() -> set[int]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return {int(code) for code in parser["Service"]["RestartPreventExitStatus"].split()}


def _group_with_one_instance(fleet: FleetResources) -> tuple[str, str]:
    autoscaling = fleet.clients.autoscaling()
    name = unique("workers")
    template = fleet.clients.client("ec2").create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "g5.xlarge"},
    )["LaunchTemplate"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=1,
        AvailabilityZones=["us-east-1a"],
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    (instance,) = group["AutoScalingGroups"][0]["Instances"]
    return name, instance["InstanceId"]


def _health(fleet: FleetResources, instance_id: str) -> str:
    """HEALTHY, or REPLACED once the group has terminated it for being unhealthy (the
    emulator replaces an unhealthy instance as AWS does: sdfleet_cli/emulator.py)."""
    described = fleet.clients.autoscaling().describe_auto_scaling_instances(
        InstanceIds=[instance_id]
    )["AutoScalingInstances"]
    return str(described[0]["HealthStatus"]).upper() if described else "REPLACED"


def _failed_beat(fleet: FleetResources, worker_id: str) -> Any:
    beats = HeartbeatStore(fleet.clients.dynamodb(), fleet.workers_table).list()
    return next(beat for beat in beats if beat.worker_id == worker_id)


def test_cuda_requested_without_cuda_stops_at_once_and_replaces_the_instance(
    spawn_worker: Callable[..., WorkerProcess], fleet: FleetResources, tmp_path: Path
) -> None:
    require_host_without_cuda()
    asg, instance_id = _group_with_one_instance(fleet)
    worker = spawn_worker(
        "w-cuda",
        device="cuda",
        instance_id=instance_id,
        asg_name=asg,
        state_dir=str(tmp_path / "state"),
    )
    status = worker.wait(timeout=FAIL_FAST_SECONDS)

    assert status == EXIT_GAVE_UP, worker.log()
    # systemd must not restart it: that status is one the unit never restarts.
    assert status in _unit_no_restart_statuses()
    log = worker.log()
    assert "CUDA is not available" in log and "SDFLEET_DEVICE" in log
    beat = _failed_beat(fleet, "w-cuda")
    assert beat.state is WorkerState.FAILED
    assert beat.load_error is not None and "CUDA" in beat.load_error
    assert _health(fleet, instance_id) == "REPLACED"


def test_a_model_that_will_not_load_is_retried_then_the_instance_is_replaced(
    spawn_worker: Callable[..., WorkerProcess], fleet: FleetResources, tmp_path: Path
) -> None:
    asg, instance_id = _group_with_one_instance(fleet)
    settings: dict[str, Any] = {
        "model_source": f"s3://{fleet.bucket}/models/never-published/",
        "instance_id": instance_id,
        "asg_name": asg,
        "state_dir": str(tmp_path / "state"),
        "max_model_load_attempts": 2,
    }
    first = spawn_worker("w-load", **settings)
    assert first.wait(timeout=FAIL_FAST_SECONDS) == EXIT_MODEL_LOAD_RETRY, first.log()
    assert EXIT_MODEL_LOAD_RETRY not in _unit_no_restart_statuses()  # systemd tries again
    beat = _failed_beat(fleet, "w-load")
    assert beat.state is WorkerState.FAILED and beat.load_attempts == 1
    assert "holds no objects" in (beat.load_error or "")
    assert _health(fleet, instance_id) == "HEALTHY"

    second = spawn_worker("w-load", **settings)
    assert second.wait(timeout=FAIL_FAST_SECONDS) == EXIT_GAVE_UP, second.log()
    assert _failed_beat(fleet, "w-load").load_attempts == 2
    assert _health(fleet, instance_id) == "REPLACED"
    metrics = fleet.clients.cloudwatch().list_metrics(
        Namespace="sdfleet", MetricName=LOAD_FAILURE_METRIC
    )["Metrics"]
    assert metrics, "no ModelLoadFailures metric was sent"


def test_an_invalid_setting_is_reported_before_the_worker_stops(
    spawn_worker: Callable[..., WorkerProcess], fleet: FleetResources
) -> None:
    """Exit 78 is never restarted, so the worker says why first: a log line, a failed
    heartbeat record with the reason and status (what the scaler logs when it replaces the
    instance at the boot deadline), and a metric."""
    worker = spawn_worker("w-config", instance_id="i-0config", max_batch_size=500)
    status = worker.wait(timeout=FAIL_FAST_SECONDS)

    assert status == EXIT_CONFIG, worker.log()
    assert status in _unit_no_restart_statuses()
    assert "worker stopped: configuration problem" in worker.log()
    beat = _failed_beat(fleet, "w-config")
    assert (beat.state, beat.exit_status, beat.instance_id) == (
        WorkerState.FAILED,
        EXIT_CONFIG,
        "i-0config",
    )
    assert "max_batch_size" in (beat.stop_reason or "") and "500" in (beat.stop_reason or "")
    metrics = fleet.clients.cloudwatch().list_metrics(
        Namespace="sdfleet", MetricName=CONFIG_ERROR_METRIC
    )["Metrics"]
    assert metrics, "no WorkerConfigurationErrors metric was sent"


def test_a_warmed_instance_completes_the_launch_hook_and_never_claims(
    spawn_worker: Callable[..., WorkerProcess],
    fleet: FleetResources,
    imds: FakeImds,
    lifecycle_actions: list[dict[str, str]],
) -> None:
    store = fleet.job_store()
    imds.set_lifecycle_state("Warmed:Stopped")
    job = web_job(store, fleet.clients.sqs(), fleet.queues.interactive_url)
    worker = spawn_worker(
        "w-warm",
        instance_id=imds.instance_id,
        asg_name="sdfleet-workers",
        launch_hook_name="launch-hook",
        warmup=True,  # the hook is completed only after the warm-up generation
    )
    try:
        wait_until(lambda: lifecycle_actions, STARTUP_SECONDS, "the launch hook's completion")
        assert '"warm-up done"' in worker.log()
        assert lifecycle_actions[0] == {
            "LifecycleHookName": "launch-hook",
            "AutoScalingGroupName": "sdfleet-workers",
            "InstanceId": imds.instance_id,
            "LifecycleActionResult": "CONTINUE",
        }
        # Loaded, warm, hook completed: still in the pool, so the queued job stays queued
        # through several lifecycle polls (0.3 s apart).
        time.sleep(2.0)
        assert store.get(job.job_id).status is JobStatus.QUEUED
        assert worker.process.poll() is None
        # Its start was timed as a launch into the pool, before the ASG stops it.
        starts = StartRecordStore(fleet.clients.s3(), fleet.bucket)
        (key,) = starts.record_keys()
        record = starts.get(key)
        assert record.start_path is StartPath.LAUNCH_TO_POOL
        assert record.instance_id == imds.instance_id
        assert record.model_load_seconds is not None
        assert 0 < record.model_load_seconds < record.load_seconds

        imds.set_lifecycle_state("InService")
        wait_status(store, job.job_id, JobStatus.SUCCEEDED, timeout=60)
        assert len(lifecycle_actions) == 2  # the move into service was held by the hook too
        assert list(starts.record_keys()) == [key]  # one start per process: the pool's
    finally:
        worker.process.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, worker.log()
