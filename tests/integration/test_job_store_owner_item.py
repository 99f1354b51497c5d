"""The job store's per-owner defences against the emulator, each on its own (no API in front):
the active-job and cost quotas taken and released atomically, the daily upload allowance, a
withdrawn job leaving no trace, a deletion request barring new jobs and late results, and the
owner conditions on clearing outputs and deleting a record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import pytest

from sdfleet.deletion import DeletionStore
from sdfleet.errors import (
    ActiveJobLimit,
    JobNotFound,
    LeaseLost,
    OwnerDataDeleted,
    TransitionRejected,
)
from sdfleet.records import JobError, JobRecord, JobStatus, utcnow
from sdfleet.requests import JobKind, JobParams
from sdfleet.store import LIST_LIMIT_MAX, JobStore, user_item_key
from tests.conftest import FleetResources

pytestmark = pytest.mark.emulator

#: JobParams(steps=5) at the default 512x512, one image: 5 cost units.
STEPS = 5
COST = 5
BROKEN = JobError(code="internal", message="broken")


class Limits(TypedDict, total=False):
    """The quota keywords of :meth:`JobStore.create`."""

    active_limit: int
    cost_limit: int


def job(owner: str = "alice", **extra: object) -> JobRecord:
    return JobRecord(
        job_id=uuid.uuid4().hex,
        owner=owner,
        kind=JobKind.TXT2IMG,
        params=JobParams(prompt="a cat", steps=STEPS),
        **extra,
    )


def user_item(store: JobStore, owner: str) -> dict[str, object] | None:
    item = store._db.get_item(
        TableName=store.table_name, Key=user_item_key(owner), ConsistentRead=True
    ).get("Item")
    return dict(item) if item else None


def test_a_job_costs_what_its_params_say() -> None:
    assert job().params.cost_units == COST


def test_active_jobs_are_limited_and_each_end_releases_its_slot(job_store: JobStore) -> None:
    limit: Limits = {"active_limit": 4}
    jobs = [job_store.create(job(), **limit) for _ in range(4)]
    assert all(j.counted and j.cost_units == COST for j in jobs)
    assert (job_store.active_jobs("alice"), job_store.active_cost("alice")) == (4, 4 * COST)
    assert job_store.count_active("alice") == 4
    with pytest.raises(ActiveJobLimit) as refused:
        job_store.create(job(), **limit)
    assert (refused.value.owner, refused.value.active, refused.value.limit) == ("alice", 4, 4)
    assert refused.value.what == "jobs"
    # Another owner has slots of their own.
    job_store.create(job(owner="bob"), **limit)
    assert job_store.active_jobs("bob") == 1

    cancelled, failed, finished, stopped = jobs
    job_store.cancel(cancelled.job_id, owner="alice")
    job_store.fail(failed.job_id, BROKEN)
    job_store.claim(finished.job_id, "w1", 60)
    job_store.finish(finished.job_id, "w1", ["k"], [1])
    job_store.claim(stopped.job_id, "w2", 60)
    assert (job_store.active_jobs("alice"), job_store.count_active("alice")) == (1, 1)
    job_store.request_cancel(stopped.job_id)
    job_store.mark_cancelled(stopped.job_id, "w2")
    assert (job_store.active_jobs("alice"), job_store.active_cost("alice")) == (0, 0)
    assert job_store.count_active("alice") == 0
    # An ended job releases nothing twice.
    with pytest.raises(TransitionRejected):
        job_store.cancel(cancelled.job_id, owner="alice")
    with pytest.raises(TransitionRejected):
        job_store.fail(failed.job_id, BROKEN)
    assert (job_store.active_jobs("alice"), job_store.active_cost("alice")) == (0, 0)
    assert job_store.create(job(), **limit).counted


def test_an_uncounted_job_releases_no_slot(job_store: JobStore) -> None:
    job_store.create(job(), active_limit=5)
    batch = job_store.create(job())
    assert not batch.counted
    job_store.cancel(batch.job_id)
    assert (job_store.active_jobs("alice"), job_store.active_cost("alice")) == (1, COST)


def test_active_cost_is_limited_at_its_bound(job_store: JobStore) -> None:
    limits: Limits = {"active_limit": 100, "cost_limit": 3 * COST}
    with pytest.raises(ActiveJobLimit) as too_big:
        job_store.create(job(), active_limit=100, cost_limit=COST - 1)
    assert (too_big.value.owner, too_big.value.active, too_big.value.limit) == (
        "alice",
        COST,
        COST - 1,
    )
    assert too_big.value.what == "cost units"
    # A job costing exactly the limit fits into an empty quota.
    alone = job_store.create(job(owner="bob"), active_limit=100, cost_limit=COST)
    assert job_store.active_cost("bob") == alone.cost_units == COST
    # Exactly at the limit is allowed; one unit past it is not.
    for _ in range(3):
        job_store.create(job(), **limits)
    assert job_store.active_cost("alice") == 3 * COST
    with pytest.raises(ActiveJobLimit) as refused:
        job_store.create(job(), **limits)
    assert (refused.value.owner, refused.value.active, refused.value.limit) == (
        "alice",
        3 * COST,
        3 * COST,
    )
    assert refused.value.what == "cost units"
    assert job_store.active_jobs("alice") == 3


def test_no_new_job_for_an_owner_being_deleted(fleet: FleetResources, job_store: JobStore) -> None:
    DeletionStore(fleet.clients.dynamodb(), fleet.jobs_table).request("alice")
    for options in ({"unless_owner_deleting": True}, {"active_limit": 10}):
        record = job()
        with pytest.raises(OwnerDataDeleted) as refused:
            job_store.create(record, **options)
        assert (refused.value.job_id, refused.value.transition) == (record.job_id, "create")
        assert refused.value.current_status is None
        with pytest.raises(JobNotFound):
            job_store.get(record.job_id)
    assert job_store.active_jobs("alice") == 0
    assert job_store.create(job(owner="bob"), unless_owner_deleting=True).status is (
        JobStatus.QUEUED
    )


def test_a_result_of_a_job_older_than_the_deletion_request_is_refused(
    fleet: FleetResources, job_store: JobStore
) -> None:
    record = job_store.create(job(created_at=utcnow() - timedelta(seconds=5)), active_limit=3)
    job_store.claim(record.job_id, "w1", 60)
    assert job_store.deletion_requested_at("alice") is None
    requested = utcnow()
    DeletionStore(fleet.clients.dynamodb(), fleet.jobs_table).request("alice", now=requested)
    assert job_store.deletion_requested_at("alice") == requested
    assert job_store.deletion_requested_at("bob") is None
    with pytest.raises(OwnerDataDeleted) as refused:
        job_store.finish(record.job_id, "w1", ["users/alice/outputs/x/00.png"], [1])
    assert (refused.value.job_id, refused.value.transition) == (record.job_id, "finish")
    assert refused.value.current_status == "running"
    after = job_store.get(record.job_id)
    assert after.status is JobStatus.RUNNING and after.outputs == []
    # Failing it is still allowed (it writes nothing of the owner's), and frees the slot.
    assert job_store.fail(record.job_id, BROKEN, worker_id="w1").status is JobStatus.FAILED
    assert job_store.active_jobs("alice") == 0


def test_a_job_created_after_a_finished_deletion_can_finish(
    fleet: FleetResources, job_store: JobStore
) -> None:
    deletions = DeletionStore(fleet.clients.dynamodb(), fleet.jobs_table)
    deletion = deletions.request("alice", now=utcnow() - timedelta(seconds=10))
    deletions.complete("alice", deletion.deletion_id, utcnow())
    record = job_store.create(job(), unless_owner_deleting=True)
    job_store.claim(record.job_id, "w1", 60)
    assert job_store.finish(record.job_id, "w1", ["k"], [1]).status is JobStatus.SUCCEEDED


def test_uploads_are_counted_per_owner_and_utc_day(job_store: JobStore) -> None:
    day = datetime(2026, 12, 7, tzinfo=UTC)
    # Morning, noon and night of one UTC day count together.
    times = [day + timedelta(hours=h, minutes=m) for h, m in ((0, 1), (12, 30), (23, 59))]
    assert [job_store.take_upload_slot("alice", 3, now=t) for t in times] == [1, 2, 3]
    with pytest.raises(ActiveJobLimit) as refused:
        job_store.take_upload_slot("alice", 3, now=day + timedelta(hours=23, minutes=59))
    assert (refused.value.owner, refused.value.active, refused.value.limit) == ("alice", 3, 3)
    assert refused.value.what == "uploads today"
    assert job_store.take_upload_slot("bob", 3, now=day) == 1
    # Each new day starts again, a century later too.
    for later in (day.replace(year=2126), day + timedelta(days=1)):
        assert job_store.take_upload_slot("alice", 3, now=later) == 1
        assert job_store.take_upload_slot("alice", 3, now=later) == 2


def test_a_withdrawn_job_leaves_no_trace(fleet: FleetResources, job_store: JobStore) -> None:
    record = job_store.create(job(), active_limit=5)
    kept = job_store.create(job(), active_limit=5)
    job_store.withdraw(record)
    with pytest.raises(JobNotFound):
        job_store.get(record.job_id)
    assert (job_store.active_jobs("alice"), job_store.active_cost("alice")) == (1, COST)
    assert user_item(job_store, "alice") is not None
    job_store.withdraw(kept)
    # Nothing held any more: the user item goes too.
    assert user_item(job_store, "alice") is None
    # Only a queued record is withdrawn.
    running = job_store.create(job(), active_limit=5)
    job_store.claim(running.job_id, "w1", 60)
    with pytest.raises(JobNotFound):
        job_store.withdraw(running)
    assert job_store.get(running.job_id).status is JobStatus.RUNNING
    assert job_store.active_jobs("alice") == 1


def test_a_withdrawal_keeps_the_user_item_of_a_deletion(
    fleet: FleetResources, job_store: JobStore
) -> None:
    deletions = DeletionStore(fleet.clients.dynamodb(), fleet.jobs_table)
    deletion = deletions.request("alice", now=utcnow() - timedelta(seconds=10))
    deletions.complete("alice", deletion.deletion_id, utcnow())
    record = job_store.create(job(), active_limit=5)
    job_store.withdraw(record)
    assert deletions.get("alice") is not None


def test_an_uncounted_withdrawal_touches_no_counter(job_store: JobStore) -> None:
    job_store.create(job(), active_limit=5)
    batch = job_store.create(job())
    job_store.withdraw(batch)
    assert (job_store.active_jobs("alice"), job_store.active_cost("alice")) == (1, COST)


def test_only_the_owner_clears_the_outputs_of_a_finished_job(job_store: JobStore) -> None:
    record = job_store.create(job())
    job_store.claim(record.job_id, "w1", 60)
    with pytest.raises(TransitionRejected):
        job_store.clear_outputs(record.job_id, "alice")
    job_store.finish(record.job_id, "w1", ["users/alice/outputs/x/00.png"], [1])
    with pytest.raises(TransitionRejected):
        job_store.clear_outputs(record.job_id, "mallory")
    assert job_store.get(record.job_id).outputs == ["users/alice/outputs/x/00.png"]
    cleared = job_store.clear_outputs(record.job_id, "alice")
    assert cleared.outputs == [] and cleared.status is JobStatus.SUCCEEDED
    for end in ("fail", "cancel"):
        other = job_store.create(job())
        if end == "fail":
            job_store.fail(other.job_id, BROKEN)
        else:
            job_store.cancel(other.job_id)
        assert job_store.clear_outputs(other.job_id, "alice").outputs == []


def test_only_the_owner_deletes_a_record(job_store: JobStore) -> None:
    record = job_store.create(job())
    with pytest.raises(JobNotFound):
        job_store.delete(record.job_id, "mallory")
    assert job_store.get(record.job_id).owner == "alice"
    job_store.delete(record.job_id, "alice")
    with pytest.raises(JobNotFound):
        job_store.get(record.job_id)
    with pytest.raises(JobNotFound):
        job_store.delete(record.job_id, "alice")


def test_an_unknown_job_is_not_found_by_any_transition(job_store: JobStore) -> None:
    missing = "no-such-job"
    with pytest.raises(JobNotFound):
        job_store.renew_lease(missing, "w1", 60)
    with pytest.raises(JobNotFound):
        job_store.request_cancel(missing)
    with pytest.raises(JobNotFound):
        job_store.cancel(missing)
    with pytest.raises(JobNotFound):
        job_store.claim(missing, "w1", 60)


def test_a_new_job_must_be_queued_and_expires_after_the_ttl(job_store: JobStore) -> None:
    with pytest.raises(ValueError, match="status: a new job must be queued, got 'running'"):
        job_store.create(job(status=JobStatus.RUNNING))
    record = job_store.create(job())
    expected = record.created_at + timedelta(days=job_store.ttl_days)
    assert job_store.get(record.job_id).expires_at == int(expected.timestamp())
    kept = job_store.create(job(expires_at=12345))
    assert job_store.get(kept.job_id).expires_at == 12345


def test_a_listing_page_is_between_one_and_the_maximum(job_store: JobStore) -> None:
    job_store.create(job())
    for bad in (0, LIST_LIMIT_MAX + 1):
        with pytest.raises(ValueError, match=f"limit: must be in 1..{LIST_LIMIT_MAX}"):
            job_store.list_by_owner("alice", limit=bad)
    assert len(job_store.list_by_owner("alice", limit=1)[0]) == 1
    assert len(job_store.list_by_owner("alice", limit=LIST_LIMIT_MAX)[0]) == 1


def test_a_training_reports_its_loss_and_eta_and_ends_with_its_curve(
    job_store: JobStore,
) -> None:
    record = job_store.create(job())
    job_store.claim(record.job_id, "w1", 60)
    renewed = job_store.renew_lease(
        record.job_id,
        "w1",
        60,
        progress_step=3,
        progress_total=10,
        progress_loss=0.25,
        progress_eta_seconds=42.5,
    )
    assert (renewed.progress_loss, renewed.progress_eta_seconds) == (0.25, 42.5)
    assert (renewed.progress_step, renewed.progress_total) == (3, 10)
    # A step without its total is not written.
    half = job_store.renew_lease(record.job_id, "w1", 60, progress_step=4)
    assert (half.progress_step, half.progress_total) == (3, 10)
    done = job_store.finish(
        record.job_id,
        "w1",
        [],
        [],
        attention_reason="cpu",
        queue_wait_seconds=0.5,
        total_seconds=9.0,
        loss_curve=[0.5, 0.25],
        adapter_id="a1",
    )
    assert (done.attention_reason, done.queue_wait_seconds, done.total_seconds) == (
        "cpu",
        0.5,
        9.0,
    )
    assert (done.loss_curve, done.adapter_id) == ([0.5, 0.25], "a1")
    assert done.lease_expires_at is None and done.finished_at is not None
    with pytest.raises(LeaseLost):
        job_store.renew_lease(record.job_id, "w1", 60)
