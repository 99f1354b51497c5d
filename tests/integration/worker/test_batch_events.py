"""Batch jobs and their events, end to end against the emulator with the tiny model: a real
worker runs the jobs, the notifier reads the jobs table's stream and publishes on an EventBridge
bus, a rule routes the tenant's events to an SQS queue (terraform/examples/events-to-tenant-queue).

* ``sdfleet submit --wait --events-queue-url`` returns when every job's final event arrived,
  deletes those events and leaves the rest of the queue alone;
* with a queue that no event reaches, it says so and finishes by polling;
* a tenant's default webhook URL (``tenant_webhook_urls``) gets the events of its batch jobs
  that name no ``webhook_url``, under the same SSRF checks at send.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sdfleet.errors import JobNotFound
from sdfleet.events import EVENT_SOURCE, event_id
from sdfleet.messages import JobMessage, Lane
from sdfleet.records import JobRecord, JobStatus
from sdfleet.requests import JobKind
from sdfleet.store import item_to_record
from sdfleet.webhook_attempts import AttemptOutcome
from sdfleet_cli.cli import EXIT_OK, main
from sdfleet_cli.local.state import LocalState, StateDir
from tests.conftest import FleetResources
from tests.integration.notifier.conftest import EventsStack, new_events_stack
from tests.integration.notifier.receiver import Receiver
from tests.integration.worker.conftest import BATCH_TENANT, params
from tests.support.aws_resources import unique
from tests.support.polling import wait_until
from worker.lifecycle import DrainReason
from worker.tenants import batch_job_id

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

JOB_LINE = {"kind": "txt2img", "prompt": "a red fox", "steps": 2, "width": 64, "height": 64}
FINAL_TYPES = ["job.succeeded", "job.failed", "job.cancelled"]


@pytest.fixture()
def events(fleet: FleetResources) -> EventsStack:
    return new_events_stack(fleet)


def tenant_queue(stack: EventsStack, tenant: str) -> str:
    """The example's route: the tenant's final events on the bus -> a queue of its own."""
    clients = stack.clients
    sqs = clients.sqs()
    url = sqs.create_queue(QueueName=unique(f"{tenant}-events"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rule = unique("tenant-rule")
    bus = stack.settings.event_bus_name
    clients.events().put_rule(
        Name=rule,
        EventBusName=bus,
        EventPattern=json.dumps(
            {"source": [EVENT_SOURCE], "detail-type": FINAL_TYPES, "detail": {"owner": [tenant]}}
        ),
    )
    clients.events().put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    return url


class Background:
    """The worker's loop and the notifier's stream poller, each in a thread, until the test
    ends."""

    def __init__(self, worker: Any, stack: EventsStack, **notifier_settings: Any) -> None:
        self.stop = threading.Event()
        self._worker = worker
        settings = stack.settings_with(**notifier_settings) if notifier_settings else None
        self._poller = stack.poller(stack.notifier(settings))
        self._threads = [
            threading.Thread(target=worker.run, daemon=True),
            threading.Thread(target=self._notify, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _notify(self) -> None:
        while not self.stop.is_set():
            if not self._poller.poll_once():
                self.stop.wait(0.1)

    def close(self) -> None:
        self.stop.set()
        self._worker.drain.request(DrainReason.SIGNAL, "test over")
        for thread in self._threads:
            thread.join(30)


@pytest.fixture()
def background() -> Iterator[Callable[..., Background]]:
    started: list[Background] = []

    def start(worker: Any, stack: EventsStack, **notifier_settings: Any) -> Background:
        running = Background(worker, stack, **notifier_settings)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


def state_dir(fleet: FleetResources, tmp_path: Path) -> StateDir:
    paths = StateDir(tmp_path / "state")
    paths.write(
        LocalState(
            api_url="http://127.0.0.1:1",
            aws_endpoint_url=fleet.clients.endpoint_url or "",
            region=fleet.clients.region,
            interactive_queue_url=fleet.queues.interactive_url,
            batch_queue_url=fleet.queues.batch_url,
            interactive_dlq_url=fleet.queues.interactive_dlq_url,
            batch_dlq_url=fleet.queues.batch_dlq_url,
            bucket=fleet.bucket,
            jobs_table=fleet.jobs_table,
            workers_table=fleet.workers_table,
            user_pool_id="unused",
            user_pool_client_id="unused",
            asg_name="unused",
            local_tenant=BATCH_TENANT,
            logs_dir=str(tmp_path / "logs"),
            pid=0,
        )
    )
    return paths


def jobs_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "jobs.jsonl"
    path.write_text("".join(json.dumps({**JOB_LINE, "seed": n}) + "\n" for n in range(count)))
    return path


def batch_records(fleet: FleetResources) -> list[JobRecord]:
    """The records the worker made from this test's batch messages (b-<MessageId>)."""
    items = fleet.clients.dynamodb().scan(TableName=fleet.jobs_table)["Items"]
    records = [item_to_record(item) for item in items if item["job_id"]["S"].startswith("b-")]
    return sorted(records, key=lambda record: record.job_id)


def queue_bodies(stack: EventsStack, url: str) -> list[str]:
    sqs = stack.clients.sqs()
    bodies: list[str] = []
    for _ in range(3):
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
        ).get("Messages", []):
            bodies.append(message["Body"])
    return bodies


def submit_and_wait_on_events(
    fleet: FleetResources, tmp_path: Path, jobs: int, queue: str, *, timeout: int, quiet: int
) -> int:
    """``sdfleet submit --wait`` of ``jobs`` jobs, following ``queue`` for their events."""
    return main(
        [
            "submit",
            str(jobs_file(tmp_path, jobs)),
            "--state-dir",
            str(state_dir(fleet, tmp_path).root),
            "--wait",
            "--timeout",
            str(timeout),
            "--events-queue-url",
            queue,
            "--events-quiet-seconds",
            str(quiet),
        ]
    )


def test_submit_wait_follows_the_events_and_takes_only_its_own(
    fleet: FleetResources,
    events: EventsStack,
    make_worker: Callable[..., Any],
    background: Callable[..., Background],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    queue = tenant_queue(events, BATCH_TENANT)
    sqs = events.clients.sqs()
    # Already in the queue before the batch: another job's final event of the same tenant
    # (a job this submission did not send) and something that is not a job event at all.
    other = events.store.create(
        JobRecord(
            job_id=unique("other"),
            owner=BATCH_TENANT,
            kind=JobKind.TXT2IMG,
            params=params(),
            lane=Lane.BATCH,
        )
    )
    events.store.cancel(other.job_id)
    sqs.send_message(QueueUrl=queue, MessageBody='{"note": "not a job event"}')
    worker = make_worker("w-events", start=False)
    background(worker, events)
    wait_until(
        lambda: (
            int(
                sqs.get_queue_attributes(
                    QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
            )
            == 2
        ),
        30,
        "the other job's event in the tenant queue",
    )
    status = submit_and_wait_on_events(fleet, tmp_path, 3, queue, timeout=50, quiet=60)
    printed = capsys.readouterr().out
    assert status == EXIT_OK, printed
    assert "3 succeeded, 0 did not" in printed
    assert "polling the job table instead" not in printed
    assert "event(s) of these jobs taken from the queue" in printed
    records = batch_records(fleet)
    assert [r.status for r in records] == [JobStatus.SUCCEEDED] * 3
    ids = [r.job_id for r in records]
    # What is left: exactly the two messages that were not this batch's events.
    left = queue_bodies(events, queue)
    left_ids = sorted(
        json.loads(body).get("detail", {}).get("job_id", "not a job event") for body in left
    )
    assert left_ids == sorted([other.job_id, "not a job event"])
    assert not set(ids) & set(left_ids)


def test_submit_wait_falls_back_to_polling_when_no_event_comes(
    fleet: FleetResources,
    events: EventsStack,
    make_worker: Callable[..., Any],
    background: Callable[..., Background],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A queue that no rule feeds: the events never come.
    silent = events.clients.sqs().create_queue(QueueName=unique("silent"))["QueueUrl"]
    worker = make_worker("w-silent", start=False)
    background(worker, events)
    started = time.monotonic()
    status = submit_and_wait_on_events(fleet, tmp_path, 1, silent, timeout=40, quiet=2)
    printed = capsys.readouterr().out
    assert status == EXIT_OK, printed
    assert "has not reached" in printed
    assert "polling the job table instead" in printed
    assert "1 succeeded, 0 did not" in printed
    assert time.monotonic() - started < 30, "waited for the timeout instead of falling back"


def test_tenant_default_webhook_gets_the_events_of_jobs_without_one(
    fleet: FleetResources,
    events: EventsStack,
    make_worker: Callable[..., Any],
    background: Callable[..., Background],
) -> None:
    receiver = Receiver(secret_for=events.secrets.get_or_create)
    try:
        worker = make_worker(
            "w-default-hook",
            start=False,
            tenant_webhook_urls={BATCH_TENANT: receiver.url("/tenant-default")},
        )
        background(worker, events)
        sqs = fleet.clients.sqs()
        plain = sqs.send_message(
            QueueUrl=fleet.queues.batch_url,
            MessageBody=JobMessage(
                version=1, kind=JobKind.TXT2IMG, params=params(), lane=Lane.BATCH
            ).to_body(),
        )
        own = sqs.send_message(
            QueueUrl=fleet.queues.batch_url,
            MessageBody=JobMessage(
                version=1,
                kind=JobKind.TXT2IMG,
                params=params(seed=7),
                lane=Lane.BATCH,
                webhook_url=receiver.url("/its-own"),
            ).to_body(),
        )
        plain_id, own_id = batch_job_id(plain["MessageId"]), batch_job_id(own["MessageId"])
        wait_until(
            lambda: (
                len(receiver.for_path("/tenant-default")) >= 3
                and len(receiver.for_path("/its-own")) >= 3
            ),
            40,
            "both jobs' events",
        )
        statuses = [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED]
        for path, job_id in (("/tenant-default", plain_id), ("/its-own", own_id)):
            deliveries = receiver.for_path(path)
            assert [d.event_id for d in deliveries] == [event_id(job_id, s) for s in statuses]
            assert all(d.signature_ok for d in deliveries)
        # The record names the URL its events went to.
        assert events.store.get(plain_id).webhook_url == receiver.url("/tenant-default")
    finally:
        receiver.close()


def test_tenant_default_webhook_is_checked_at_send(
    fleet: FleetResources,
    events: EventsStack,
    make_worker: Callable[..., Any],
    background: Callable[..., Background],
) -> None:
    """Without the local loopback setting a loopback default is refused, recorded, not called."""
    receiver = Receiver(secret_for=events.secrets.get_or_create)
    try:
        worker = make_worker(
            "w-default-refused",
            start=False,
            tenant_webhook_urls={BATCH_TENANT: receiver.url("/never")},
        )
        background(worker, events, webhook_allow_loopback=False)
        sent = fleet.clients.sqs().send_message(
            QueueUrl=fleet.queues.batch_url,
            MessageBody=JobMessage(
                version=1, kind=JobKind.TXT2IMG, params=params(), lane=Lane.BATCH
            ).to_body(),
        )
        job_id = batch_job_id(sent["MessageId"])

        def attempted() -> JobRecord | None:
            with contextlib.suppress(JobNotFound):
                record = events.store.get(job_id)
                if len(record.webhook_attempts) >= 3:
                    return record
            return None

        record: JobRecord = wait_until(attempted, 40, "the three refused attempts")
        assert [a.outcome for a in record.webhook_attempts] == [AttemptOutcome.REFUSED] * 3
        assert all("loopback" in (a.detail or "") for a in record.webhook_attempts)
        assert receiver.deliveries == []
    finally:
        receiver.close()
