"""SIGKILL the notifier process mid-batch: after a restart every transition of 200 jobs is
delivered (duplicates allowed, with the same event id); none is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sdfleet import env
from sdfleet.events import event_id
from sdfleet.records import JobStatus
from tests.integration.notifier.conftest import EventsStack
from tests.integration.notifier.receiver import Receiver
from tests.support.polling import wait_until

pytestmark = pytest.mark.emulator

JOBS = 200
ROOT = Path(__file__).resolve().parents[3]


def _start(stack: EventsStack, checkpoint: Path) -> subprocess.Popen[bytes]:
    s = stack.settings
    variables = {
        env.AWS_ENDPOINT_URL: s.aws_endpoint_url or "",
        env.AWS_REGION: s.aws_region,
        env.JOBS_TABLE: s.jobs_table,
        env.EVENT_BUS_NAME: s.event_bus_name,
        env.WEBHOOK_RETRY_QUEUE_URL: s.webhook_retry_queue_url,
        env.WEBHOOK_DLQ_URL: s.webhook_dlq_url,
        env.WEBHOOK_SECRETS_PATH: s.webhook_secrets_path,
        env.WEBHOOK_ALLOW_HTTP: "true",
        env.WEBHOOK_ALLOW_LOOPBACK: "true",
        env.WEBHOOK_RETRY_BASE_SECONDS: "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "sdfleet_cli.local.notifier_process", str(checkpoint)],
        cwd=ROOT,
        env=os.environ | variables,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigkill_mid_batch_loses_nothing(
    stack: EventsStack, receiver: Receiver, tmp_path: Path
) -> None:
    store = stack.store
    jobs = [stack.new_job(receiver.url(f"/j/{i}")) for i in range(JOBS)]
    for job in jobs:
        store.claim(job.job_id, "w1", lease_seconds=300)
        store.finish(job.job_id, "w1", outputs=[], seeds=[0])
    checkpoint = tmp_path / "checkpoint.json"
    first = _start(stack, checkpoint)
    try:
        wait_until(lambda: len(receiver.deliveries) >= 60, 120, "the first deliveries")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    delivered_before_kill = len(receiver.deliveries)
    assert delivered_before_kill < 3 * JOBS, "killed too late to be mid-batch"
    second = _start(stack, checkpoint)
    expected = {
        (job.job_id, status)
        for job in jobs
        for status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED)
    }

    def seen() -> set[tuple[str, JobStatus]]:
        return {(d.body["job_id"], JobStatus(d.body["status"])) for d in list(receiver.deliveries)}

    try:
        wait_until(
            lambda: seen() >= expected,
            300,
            lambda: f"{len(expected - seen())} transitions still missing",
            interval=0.5,
        )
    finally:
        second.kill()
        second.wait(10)
    assert all(d.signature_ok for d in receiver.deliveries)
    for delivery in receiver.deliveries:
        assert delivery.event_id == event_id(
            delivery.body["job_id"], JobStatus(delivery.body["status"])
        )
    # Per job, the first sighting of each status is in order.
    for job in jobs[:: JOBS // 20]:
        order: list[str] = []
        for delivery in receiver.for_path(f"/j/{jobs.index(job)}"):
            if delivery.body["status"] not in order:
                order.append(delivery.body["status"])
        assert order == ["queued", "running", "succeeded"]
