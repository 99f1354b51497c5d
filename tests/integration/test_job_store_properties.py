"""Property tests of the job state machine, run against the emulator (not a fake).

Any sequence of transitions, in any order and with duplicates, from several workers and
the owner: a terminal job never moves, two workers never both finish one job, and the
first finisher's outputs are never lost.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdfleet.errors import JobNotFound, TransitionRejected
from sdfleet.records import JobError, JobRecord, JobStatus, can_transition, utcnow
from sdfleet.requests import JobKind, JobParams
from sdfleet.store import JobStore
from tests.support.hypothesis_profiles import examples

pytestmark = pytest.mark.emulator

WORKERS = ("w1", "w2", "w3")
LEASE_SECONDS = 30

operation = st.one_of(
    st.tuples(st.just("claim"), st.sampled_from(WORKERS)),
    st.tuples(st.just("renew"), st.sampled_from(WORKERS)),
    st.tuples(st.just("finish"), st.sampled_from(WORKERS)),
    st.tuples(st.just("fail"), st.sampled_from((*WORKERS, None))),
    st.tuples(st.just("mark_cancelled"), st.sampled_from(WORKERS)),
    st.tuples(st.just("cancel"), st.none()),
    st.tuples(st.just("request_cancel"), st.none()),
    st.tuples(st.just("wait"), st.none()),  # lets the current lease expire
)


def apply(
    store: JobStore, job_id: str, op: str, worker: str | None, now_offset: float
) -> JobRecord:
    now = utcnow() + timedelta(seconds=now_offset)
    if op == "claim":
        return store.claim(job_id, str(worker), LEASE_SECONDS, now=now)
    if op == "renew":
        return store.renew_lease(job_id, str(worker), LEASE_SECONDS, now=now)
    if op == "finish":
        return store.finish(job_id, str(worker), [f"out-by-{worker}"], [1], now=now)
    if op == "fail":
        return store.fail(job_id, JobError(code="x", message="y"), worker_id=worker, now=now)
    if op == "mark_cancelled":
        return store.mark_cancelled(job_id, str(worker), now=now)
    if op == "cancel":
        return store.cancel(job_id, owner="alice", now=now)
    if op == "request_cancel":
        return store.request_cancel(job_id, owner="alice")
    raise AssertionError(op)


@settings(
    max_examples=examples(40, deep=1000),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=14))
def test_no_sequence_breaks_the_state_machine(
    job_store: JobStore, ops: list[tuple[str, str | None]]
) -> None:
    record = job_store.create(
        JobRecord(
            job_id=uuid.uuid4().hex,
            owner="alice",
            kind=JobKind.TXT2IMG,
            params=JobParams(prompt="p", steps=1),
        )
    )
    now_offset = 0.0
    previous = job_store.get(record.job_id)
    successful_finishes: list[str] = []
    first_outputs: list[str] | None = None
    for op, worker in ops:
        if op == "wait":
            now_offset += LEASE_SECONDS + 1
            continue
        try:
            current = apply(job_store, record.job_id, op, worker, now_offset)
            if op == "finish":
                successful_finishes.append(str(worker))
                first_outputs = first_outputs or list(current.outputs)
        except (TransitionRejected, JobNotFound):
            current = job_store.get(record.job_id)
            # A rejected transition writes nothing.
            assert current.model_dump() == previous.model_dump()
        if previous.status.is_terminal:
            assert current.model_dump() == previous.model_dump(), "a terminal job moved"
        elif current.status is not previous.status:
            assert can_transition(previous.status, current.status)
        previous = current

    assert len(successful_finishes) <= 1, f"finished twice by {successful_finishes}"
    final = job_store.get(record.job_id)
    if successful_finishes:
        assert final.status is JobStatus.SUCCEEDED
        assert final.outputs == first_outputs == [f"out-by-{successful_finishes[0]}"]
