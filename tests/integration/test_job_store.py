"""The job store against the emulator: each transition is one conditional write."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sdfleet.errors import (
    CancelRequested,
    JobAlreadyExists,
    JobNotBound,
    JobNotClaimable,
    JobNotFound,
    LeaseLost,
    TransitionRejected,
)
from sdfleet.messages import Lane
from sdfleet.records import JobError, JobRecord, JobStatus, utcnow
from sdfleet.requests import PROMPT_MAX_CHARS, JobKind, JobParams
from sdfleet.store import JobStore, _cancellation_codes

pytestmark = pytest.mark.emulator


def new_record(owner: str = "alice", lane: Lane = Lane.INTERACTIVE, **extra: object) -> JobRecord:
    return JobRecord(
        job_id=uuid.uuid4().hex,
        owner=owner,
        kind=JobKind.TXT2IMG,
        params=JobParams(prompt="a cat", steps=5),
        lane=lane,
        **extra,
    )


def test_create_get_and_duplicate(job_store: JobStore) -> None:
    record = job_store.create(new_record())
    loaded = job_store.get(record.job_id)
    assert loaded.status is JobStatus.QUEUED
    assert loaded.params == record.params
    assert loaded.expires_at is not None and loaded.expires_at > utcnow().timestamp()
    with pytest.raises(JobAlreadyExists):
        job_store.create(record)


def test_happy_path_records_outputs_and_metrics(job_store: JobStore) -> None:
    record = job_store.create(new_record())
    running = job_store.claim(record.job_id, "w1", lease_seconds=60)
    assert (
        running.status is JobStatus.RUNNING and running.worker_id == "w1" and running.attempts == 1
    )
    renewed = job_store.renew_lease(record.job_id, "w1", 60, progress_step=2, progress_total=5)
    assert (renewed.progress_step, renewed.progress_total) == (2, 5)
    done = job_store.finish(
        record.job_id,
        "w1",
        ["users/alice/outputs/x/00.png"],
        [7],
        attention_backend="sdpa",
        queue_wait_seconds=1.5,
        model_seconds=2.25,
        total_seconds=3.0,
    )
    assert done.status is JobStatus.SUCCEEDED
    assert done.outputs == ["users/alice/outputs/x/00.png"] and done.seeds == [7]
    assert done.model_seconds == 2.25 and done.attention_backend == "sdpa"


def test_only_the_claiming_worker_finishes(job_store: JobStore) -> None:
    record = job_store.create(new_record())
    job_store.claim(record.job_id, "w1", 60)
    with pytest.raises(JobNotClaimable):
        job_store.claim(record.job_id, "w2", 60)
    with pytest.raises(LeaseLost):
        job_store.finish(record.job_id, "w2", ["k"], [1])
    with pytest.raises(LeaseLost):
        job_store.renew_lease(record.job_id, "w2", 60)


def test_expired_lease_is_taken_over_and_old_holder_locked_out(job_store: JobStore) -> None:
    record = job_store.create(new_record())
    start = utcnow()
    job_store.claim(record.job_id, "w1", 10, now=start)
    taken = job_store.claim(record.job_id, "w2", 10, now=start + timedelta(seconds=11))
    assert taken.worker_id == "w2" and taken.attempts == 2
    with pytest.raises(LeaseLost):
        job_store.finish(record.job_id, "w1", ["old"], [1])
    assert job_store.finish(record.job_id, "w2", ["new"], [2]).outputs == ["new"]


def test_cancel_queued_and_request_cancel_running(job_store: JobStore) -> None:
    queued = job_store.create(new_record())
    assert job_store.cancel(queued.job_id, owner="alice").status is JobStatus.CANCELLED
    with pytest.raises(JobNotClaimable):
        job_store.claim(queued.job_id, "w1", 60)

    running = job_store.create(new_record())
    job_store.claim(running.job_id, "w1", 60)
    with pytest.raises(TransitionRejected):
        job_store.cancel(running.job_id, owner="alice")
    with pytest.raises(TransitionRejected):
        job_store.request_cancel(running.job_id, owner="mallory")
    assert job_store.request_cancel(running.job_id, owner="alice").cancel_requested
    assert job_store.renew_lease(running.job_id, "w1", 60).cancel_requested
    assert job_store.mark_cancelled(running.job_id, "w1").status is JobStatus.CANCELLED


def test_cancel_by_another_owner_is_refused_by_the_store_itself(job_store: JobStore) -> None:
    """The store's own defence, with no API in front of it: a queued job of alice's cannot be
    cancelled in mallory's name, and it stays queued for alice."""
    queued = job_store.create(new_record(owner="alice"))
    with pytest.raises(TransitionRejected):
        job_store.cancel(queued.job_id, owner="mallory")
    assert job_store.get(queued.job_id).status is JobStatus.QUEUED
    assert job_store.cancel(queued.job_id, owner="alice").status is JobStatus.CANCELLED


def test_a_cancel_before_the_commit_wins_over_finish(job_store: JobStore) -> None:
    record = job_store.create(new_record())
    job_store.claim(record.job_id, "w1", 60)
    job_store.request_cancel(record.job_id, owner="alice")
    with pytest.raises(CancelRequested):
        job_store.finish(record.job_id, "w1", ["users/alice/outputs/x/00.png"], [7])
    unchanged = job_store.get(record.job_id)
    assert unchanged.status is JobStatus.RUNNING and unchanged.outputs == []
    # Not the holder: that is a lost lease, whatever the cancel flag says.
    with pytest.raises(LeaseLost) as lost:
        job_store.finish(record.job_id, "w2", ["users/alice/outputs/x/00.png"], [7])
    assert not isinstance(lost.value, CancelRequested)
    assert job_store.mark_cancelled(record.job_id, "w1").status is JobStatus.CANCELLED


def test_fail_without_worker_spares_a_live_lease(job_store: JobStore) -> None:
    record = job_store.create(new_record())
    job_store.claim(record.job_id, "w1", 60)
    with pytest.raises(TransitionRejected):
        job_store.fail(record.job_id, JobError(code="retries_exhausted", message="x"))
    later = utcnow() + timedelta(seconds=61)
    failed = job_store.fail(
        record.job_id, JobError(code="retries_exhausted", message="x"), now=later
    )
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert failed.error.code == "retries_exhausted"


def test_owner_isolation_and_listing(job_store: JobStore) -> None:
    base = utcnow()
    mine = [job_store.create(new_record(created_at=base + timedelta(seconds=i))) for i in range(5)]
    other = job_store.create(new_record(owner="bob"))
    with pytest.raises(JobNotFound):
        job_store.get_for_owner(other.job_id, "alice")
    page, cursor = job_store.list_by_owner("alice", limit=3)
    assert [r.job_id for r in page] == [r.job_id for r in reversed(mine)][:3]
    assert cursor is not None
    rest, end = job_store.list_by_owner("alice", limit=3, cursor=cursor)
    assert [r.job_id for r in rest] == [mine[1].job_id, mine[0].job_id] and end is None
    with pytest.raises(ValueError, match="cursor"):
        job_store.list_by_owner("bob", limit=3, cursor=cursor)
    assert job_store.count_active("alice") == 5
    assert job_store.delete_owner_records("alice") == 5
    assert job_store.get(other.job_id).owner == "bob"


def test_queue_position_counts_only_earlier_queued_jobs_in_lane(job_store: JobStore) -> None:
    base = utcnow()
    jobs = [
        job_store.create(new_record(created_at=base + timedelta(milliseconds=i))) for i in range(4)
    ]
    job_store.create(new_record(lane=Lane.BATCH, created_at=base - timedelta(seconds=5)))
    assert [job_store.count_queued_ahead(j) for j in jobs] == [0, 1, 2, 3]
    job_store.claim(jobs[0].job_id, "w1", 60)
    job_store.cancel(jobs[1].job_id)
    assert job_store.count_queued_ahead(jobs[3]) == 1


def test_racing_claims_have_exactly_one_winner(job_store: JobStore) -> None:
    record = job_store.create(new_record())
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def race(worker: str) -> None:
        barrier.wait()
        try:
            job_store.claim(record.job_id, worker, 60)
            winners.append(worker)
        except JobNotClaimable:
            pass

    threads = [threading.Thread(target=race, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert job_store.get(record.job_id).worker_id == winners[0]


def test_claim_is_bound_to_lane_and_owner(job_store: JobStore) -> None:
    """Finding 1: a message can only claim a record created for its lane (and tenant)."""
    web = job_store.create(new_record())
    batch = job_store.create(new_record(owner="acme", lane=Lane.BATCH))
    with pytest.raises(JobNotBound):
        job_store.claim(web.job_id, "w1", 60, lane=Lane.BATCH)
    with pytest.raises(JobNotBound):
        job_store.claim(batch.job_id, "w1", 60, lane=Lane.BATCH, owner="mallory")
    with pytest.raises(JobNotBound):
        job_store.claim(batch.job_id, "w1", 60, lane=Lane.INTERACTIVE)
    for record in (web, batch):
        untouched = job_store.get(record.job_id)
        assert untouched.status is JobStatus.QUEUED and untouched.attempts == 0
    assert job_store.claim(batch.job_id, "w1", 60, lane=Lane.BATCH, owner="acme").attempts == 1
    assert job_store.claim(web.job_id, "w1", 60, lane=Lane.INTERACTIVE).worker_id == "w1"


def test_a_batch_record_is_found_by_the_message_that_created_it(job_store: JobStore) -> None:
    record = job_store.create(new_record(lane=Lane.BATCH, source_message_id="m-123"))
    job_store.create(new_record())
    found = job_store.find_by_source_message("m-123")
    assert found is not None and found.job_id == record.job_id
    assert job_store.find_by_source_message("m-other") is None


def test_each_refused_transition_names_the_job_what_was_refused_and_its_status(
    job_store: JobStore,
) -> None:
    """What an operator reads in a log: the job, the transition and the status that refused it."""
    finished = job_store.create(new_record())
    job_store.claim(finished.job_id, "w1", 60)
    job_store.finish(finished.job_id, "w1", ["k"], [1])
    queued = job_store.create(new_record())
    refusals = {
        "renew lease": lambda: job_store.renew_lease(finished.job_id, "w1", 60),
        "fail": lambda: job_store.fail(finished.job_id, JobError(code="internal", message="x")),
        "cancel": lambda: job_store.cancel(finished.job_id),
        "request cancel": lambda: job_store.request_cancel(finished.job_id),
        "mark cancelled": lambda: job_store.mark_cancelled(finished.job_id, "w1"),
        "clear outputs": lambda: job_store.clear_outputs(queued.job_id, "alice"),
        "claim": lambda: job_store.claim(finished.job_id, "w2", 60),
        "finish": lambda: job_store.finish(finished.job_id, "w1", ["k"], [1]),
    }
    for transition, attempt in refusals.items():
        with pytest.raises(TransitionRejected) as refused:
            attempt()
        expected_status = "queued" if transition == "clear outputs" else "succeeded"
        job_id = queued.job_id if transition == "clear outputs" else finished.job_id
        assert (refused.value.job_id, refused.value.transition) == (job_id, transition)
        assert refused.value.current_status == expected_status
        assert str(refused.value) == (
            f"job {job_id!r}: cannot {transition} (current status: {expected_status})"
        )
    # A cancel that won over the result says so, naming the job and its (running) status.
    running = job_store.create(new_record())
    job_store.claim(running.job_id, "w1", 60)
    job_store.request_cancel(running.job_id)
    with pytest.raises(CancelRequested) as cancelled:
        job_store.finish(running.job_id, "w1", ["k"], [1])
    assert (cancelled.value.job_id, cancelled.value.transition) == (running.job_id, "finish")
    assert cancelled.value.current_status == "running"


def test_not_found_and_not_bound_errors_name_the_job(job_store: JobStore) -> None:
    record = job_store.create(new_record(owner="acme", lane=Lane.BATCH))
    expected = f"job {record.job_id!r} not found"
    with pytest.raises(JobNotFound, match=r"^job 'no-such-job' not found$"):
        job_store.get("no-such-job")
    for transition in (
        lambda: job_store.renew_lease("no-such-job", "w1", 60),
        lambda: job_store.claim("no-such-job", "w1", 60),
    ):
        with pytest.raises(JobNotFound, match=r"^job 'no-such-job' not found$"):
            transition()
    with pytest.raises(JobNotFound, match=f"^{expected}$"):
        job_store.get_for_owner(record.job_id, "mallory")
    with pytest.raises(JobNotFound, match=f"^{expected}$"):
        job_store.delete(record.job_id, "mallory")
    for options in ({}, {"active_limit": 5}):
        with pytest.raises(JobAlreadyExists, match=f"^job {record.job_id!r} exists already$"):
            job_store.create(record, **options)  # type: ignore[arg-type]
    with pytest.raises(JobNotBound, match=f"^job {record.job_id!r} was not created for the "):
        job_store.claim(record.job_id, "w1", 60, lane=Lane.INTERACTIVE)
    with pytest.raises(JobNotBound, match=f"^job {record.job_id!r} belongs to another tenant$"):
        job_store.claim(record.job_id, "w1", 60, lane=Lane.BATCH, owner="mallory")
    job_store.claim(record.job_id, "w1", 60)
    with pytest.raises(JobNotFound, match=f"^{expected}$"):
        job_store.withdraw(record)


def test_an_ended_job_no_longer_counts_as_queued_ahead(job_store: JobStore) -> None:
    base = utcnow()
    failed, cancelled, running, mine = (
        job_store.create(new_record(created_at=base + timedelta(milliseconds=i))) for i in range(4)
    )
    assert job_store.count_queued_ahead(mine) == 3
    job_store.fail(failed.job_id, JobError(code="internal", message="x"))
    job_store.cancel(cancelled.job_id)
    job_store.claim(running.job_id, "w1", 60)
    assert job_store.count_queued_ahead(mine) == 0
    # A job that is not queued has nobody ahead of it.
    assert job_store.count_queued_ahead(job_store.get(running.job_id)) == 0


def test_a_renewed_lease_runs_from_the_renewal(job_store: JobStore) -> None:
    record = job_store.create(new_record())
    start = utcnow()
    job_store.claim(record.job_id, "w1", 10, now=start)
    later = start + timedelta(seconds=8)
    renewed = job_store.renew_lease(record.job_id, "w1", 30, now=later)
    assert renewed.lease_expires_at == later + timedelta(seconds=30)
    # So nobody can take it over where the first lease would have run out.
    with pytest.raises(JobNotClaimable):
        job_store.claim(record.job_id, "w2", 10, now=start + timedelta(seconds=11))


def test_a_listing_page_holds_twenty_jobs_unless_asked_otherwise(job_store: JobStore) -> None:
    for _ in range(21):
        job_store.create(new_record(owner="carol"))
    page, cursor = job_store.list_by_owner("carol")
    assert len(page) == 20 and cursor is not None


def test_a_bad_cursor_is_named_in_the_error_cut_to_forty_characters(job_store: JobStore) -> None:
    bad = "not-a-cursor-" * 10
    with pytest.raises(ValueError) as refused:
        job_store.list_by_owner("alice", cursor=bad)
    assert str(refused.value) == f"cursor: {bad[:40]!r} is not a cursor this API returned"


class _DeletedMeanwhile(JobStore):
    """The real store, with each job's record deleted by someone else (another deletion pass)
    just before this store deletes it, for the first ``races`` jobs."""

    def __init__(self, store: JobStore, races: int) -> None:
        super().__init__(store._db, store.table_name)
        self._other = store
        self._races = races

    def delete(self, job_id: str, owner: str) -> None:
        if self._races > 0:
            self._races -= 1
            self._other.delete(job_id, owner)
        super().delete(job_id, owner)


def test_deleting_an_owners_records_skips_those_deleted_meanwhile(job_store: JobStore) -> None:
    records = [job_store.create(new_record(owner="dave")) for _ in range(3)]
    deleted = _DeletedMeanwhile(job_store, races=1).delete_owner_records("dave")
    assert deleted == 2
    for record in records:
        with pytest.raises(JobNotFound):
            job_store.get(record.job_id)


class _DeletedAfterRead(JobStore):
    """The real store, with the record deleted by someone else (its owner's deletion) just
    after this store reads it, for the first ``races`` reads."""

    def __init__(self, store: JobStore, races: int) -> None:
        super().__init__(store._db, store.table_name)
        self._other = store
        self._races = races

    def get(self, job_id: str, *, consistent: bool = True) -> JobRecord:
        record = super().get(job_id, consistent=consistent)
        if self._races > 0:
            self._races -= 1
            self._other.delete(job_id, record.owner)
        return record


def test_a_result_for_a_record_deleted_meanwhile_names_the_job(job_store: JobStore) -> None:
    record = job_store.create(new_record())
    job_store.claim(record.job_id, "w1", 60)
    racing = _DeletedAfterRead(job_store, races=1)
    with pytest.raises(JobNotFound, match=f"^job {record.job_id!r} not found$"):
        racing.finish(record.job_id, "w1", ["users/alice/outputs/x/00.png"], [1])


def test_a_stored_item_has_the_records_attributes_and_no_others(job_store: JobStore) -> None:
    record = job_store.create(new_record(client_ref="ref-1"))
    item = job_store._db.get_item(
        TableName=job_store.table_name, Key={"job_id": {"S": record.job_id}}, ConsistentRead=True
    )["Item"]
    declared = set(record.model_dump(exclude_none=True)) | {"queue_lane", "queue_seq"}
    assert set(item) == declared
    assert item["params"]["M"]["prompt"] == {"S": "a cat"}
    assert job_store.get(record.job_id) == record


#: Two long prompts make a record about 4 KB: 260 of them are past DynamoDB's 1 MB a page, so
#: counting them takes a second page of the query.
_LONG_PROMPT = "a cat " * (PROMPT_MAX_CHARS // 6)
_PAST_ONE_PAGE = 260


def test_counts_go_on_past_the_first_page_of_results(job_store: JobStore) -> None:
    base = utcnow()
    params = JobParams(prompt=_LONG_PROMPT, negative_prompt=_LONG_PROMPT, steps=5)
    records = [
        job_store.create(
            JobRecord(
                job_id=uuid.uuid4().hex,
                owner="erin",
                kind=JobKind.TXT2IMG,
                params=params,
                created_at=base + timedelta(milliseconds=i),
            )
        )
        for i in range(_PAST_ONE_PAGE)
    ]
    assert job_store.count_active("erin") == _PAST_ONE_PAGE
    assert job_store.count_queued_ahead(records[-1]) == _PAST_ONE_PAGE - 1


#: AWS's message of a cancelled transaction; some emulators answer only this, with no list.
_CANCELLED = (
    "Transaction cancelled, please refer cancellation reasons for specific reasons "
    "[None, ConditionalCheckFailed]"
)


def _cancelled(response: dict[str, Any]) -> ClientError:
    return ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]


def test_a_cancelled_transactions_reasons_are_read_from_either_form_of_the_reply() -> None:
    error = {"Code": "TransactionCanceledException", "Message": _CANCELLED}
    listed = [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]
    from_list = _cancelled({"Error": error, "CancellationReasons": listed})
    from_message = _cancelled({"Error": error})
    expected = ["None", "ConditionalCheckFailed"]
    assert _cancellation_codes(from_list) == _cancellation_codes(from_message) == expected
    # The list wins where both are given and disagree.
    other = _cancelled({"Error": error, "CancellationReasons": [{"Code": "None"}, {}]})
    assert _cancellation_codes(other) == ["None", "None"]
    # No reasons in either form: nothing to read.
    bare = _cancelled({"Error": {"Code": "TransactionCanceledException", "Message": "no"}})
    assert _cancellation_codes(bare) == [""]
