"""Session-wide test harness: one moto server on a free loopback port, per-test resources.

Pure unit tests use none of these fixtures and need no network.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sdfleet.aws import AwsClients
from sdfleet.store import JobStore
from tests.support.aws_resources import (
    LaneQueues,
    create_bucket,
    create_jobs_table,
    create_lane_queues,
    create_workers_table,
    unique,
)
from tests.support.hypothesis_profiles import register_profiles

# Fake credentials: the emulator accepts any; real AWS must never be reached from tests.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)

HYPOTHESIS_PROFILE = register_profiles()

#: Test files that share one local stack (its fixed ports and ``.sdfleet/e2e-stack``): under
#: ``pytest -n`` (``make pytest``) they run on one worker, one after another.
LOCAL_STACK_FILES = ("tests/browser/", "tests/e2e/test_local_stack.py")


def distribution_unit(nodeid: str) -> str:
    """What ``make pytest`` keeps on one worker: the test's file, or the local stack's files.

    A file, not a test, since module-scoped fixtures (a Terraform apply, an emulator stack)
    would otherwise run again on every worker that got one of the file's tests.
    """
    path = nodeid.split("::", 1)[0]
    return "local-stack" if path.startswith(LOCAL_STACK_FILES) else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadfile`` with the local stack's files as one unit (pytest-xdist's
    ``xdist_group`` mark renames node ids, which pytest 9's ids no longer follow)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    # xdist ships no type information, so its scheduler base class is Any to mypy.
    class FileScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return distribution_unit(nodeid)

    return FileScheduling(config, log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The URL of an emulator already running (``make mutation`` starts one per module, so the
#: thousands of test runs it forks do not each start their own; a test that patches the
#: in-process emulator cannot run against it).
SHARED_EMULATOR_ENV = "SDFLEET_TEST_EMULATOR_URL"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    shared = os.environ.get(SHARED_EMULATOR_ENV)
    if shared:
        yield shared
        return
    from sdfleet_cli.emulator import start_emulator

    port = free_port()
    server = start_emulator("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture()
def aws(moto_endpoint: str) -> AwsClients:
    return AwsClients(endpoint_url=moto_endpoint, region="us-east-1")


@dataclass(frozen=True)
class FleetResources:
    """One test's private set of tables, lanes and bucket."""

    clients: AwsClients
    jobs_table: str
    workers_table: str
    bucket: str
    queues: LaneQueues

    def job_store(self) -> JobStore:
        return JobStore(self.clients.dynamodb(), self.jobs_table)

    def env(self) -> dict[str, str]:
        from moto.sqs.models import DEFAULT_SENDER_ID

        from sdfleet import env

        return {
            # The emulator stamps every message with this SenderId: it stands for the ingest
            # API's role here (tests of the mapping itself use crafted attributes).
            env.INGEST_SENDER_ID: DEFAULT_SENDER_ID,
            env.AWS_ENDPOINT_URL: self.clients.endpoint_url or "",
            env.AWS_REGION: self.clients.region,
            env.JOBS_TABLE: self.jobs_table,
            env.WORKERS_TABLE: self.workers_table,
            env.BUCKET: self.bucket,
            env.INTERACTIVE_QUEUE_URL: self.queues.interactive_url,
            env.BATCH_QUEUE_URL: self.queues.batch_url,
            env.INTERACTIVE_DLQ_URL: self.queues.interactive_dlq_url,
            env.BATCH_DLQ_URL: self.queues.batch_dlq_url,
            env.TRAINING_QUEUE_URL: self.queues.training_url,
            env.TRAINING_DLQ_URL: self.queues.training_dlq_url,
        }


def new_fleet(clients: AwsClients) -> FleetResources:
    """A private set of tables, lanes and bucket (the ``fleet`` fixture; usable at any scope)."""
    prefix = unique("t")
    return FleetResources(
        clients=clients,
        jobs_table=create_jobs_table(clients, f"{prefix}-jobs"),
        workers_table=create_workers_table(clients, f"{prefix}-workers"),
        bucket=create_bucket(clients, f"{prefix}-bucket"),
        queues=create_lane_queues(clients, prefix),
    )


@pytest.fixture()
def fleet(aws: AwsClients) -> FleetResources:
    return new_fleet(aws)


@pytest.fixture()
def job_store(fleet: FleetResources) -> JobStore:
    return fleet.job_store()
