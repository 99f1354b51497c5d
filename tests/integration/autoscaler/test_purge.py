"""The scaler's timer finishes pending DELETE /me purges (finding 3: deletion in the background)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autoscaler.handler import ScalerRun
from sdfleet.deletion import DeletionStore
from sdfleet.records import JobRecord, utcnow
from sdfleet.requests import JobKind, JobParams
from sdfleet.settings import ScalerSettings
from tests.conftest import FleetResources
from tests.integration.autoscaler.conftest import WorkerGroup
from tests.support.aws_resources import create_idempotency_table, unique

pytestmark = pytest.mark.emulator


def test_a_scaler_run_completes_a_pending_deletion(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    store = fleet.job_store()
    store.create(
        JobRecord(job_id="left-1", owner="gone", kind=JobKind.TXT2IMG, params=JobParams(prompt="p"))
    )
    s3 = fleet.clients.s3()
    for key in ("users/gone/inputs/a.png", "users/gone/models/lora-1/w.bin", "users/kept/x.png"):
        s3.put_object(Bucket=fleet.bucket, Key=key, Body=b"x")
    deletions = DeletionStore(fleet.clients.dynamodb(), fleet.jobs_table)
    deletions.request("gone", now=utcnow() - timedelta(minutes=5))
    settings = ScalerSettings(
        **fleet.env(),  # type: ignore[arg-type]
        asg_name=worker_group.name,
        samples_per_invocation=1,
        idempotency_table=create_idempotency_table(fleet.clients, unique("t-idem")),
    )

    result = ScalerRun(settings, fleet.clients, sleep=lambda _: None)()

    assert result.deletions_completed == ["gone"]
    listed = s3.list_objects_v2(Bucket=fleet.bucket).get("Contents", [])
    assert [obj["Key"] for obj in listed] == ["users/kept/x.png"]
    done = deletions.get("gone")
    assert done is not None and (done.status, done.jobs_deleted, done.objects_deleted) == (
        "completed",
        1,
        2,
    )
