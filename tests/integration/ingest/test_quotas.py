"""Finding 4: the active-job quota is one atomic counter per user, not a read then a write."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from sdfleet.errors import TransitionRejected
from sdfleet.records import ErrorCode, JobError, JobStatus
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import USER_A, IngestApi
from tests.integration.ingest.test_routes import TXT2IMG, submit

pytestmark = pytest.mark.emulator

LIMIT = 3
PARALLEL = 12


def test_parallel_posts_cannot_exceed_the_active_job_limit(api: IngestApi) -> None:
    # One app per thread (a resolver holds the current event); one table, one counter.
    apps = [api.with_settings(max_active_jobs_per_user=LIMIT) for _ in range(PARALLEL)]

    def post(app: IngestApi) -> int:
        body = event("create_job", body=TXT2IMG, headers={"idempotency-key": None})
        return app.call(body).status

    with ThreadPoolExecutor(PARALLEL) as pool:
        statuses = list(pool.map(post, apps))

    assert sorted(statuses) == [202] * LIMIT + [429] * (PARALLEL - LIMIT)
    assert len(api.store.list_by_owner(USER_A)[0]) == LIMIT
    assert api.store.active_jobs(USER_A) == LIMIT


def test_every_ending_releases_the_slot_exactly_once(api: IngestApi) -> None:
    limited = api.with_settings(max_active_jobs_per_user=4)
    cancelled, failed, finished, stopped = (submit(limited) for _ in range(4))
    store = limited.store
    assert store.active_jobs(USER_A) == 4
    store.cancel(cancelled)
    store.fail(failed, JobError(code=ErrorCode.INTERNAL.value, message="x"))
    store.claim(finished, "w", 60)
    store.finish(finished, "w", [], [])
    store.claim(stopped, "w", 60)
    store.request_cancel(stopped)
    store.mark_cancelled(stopped, "w")
    assert store.active_jobs(USER_A) == 0
    # A refused transition releases nothing twice.
    with pytest.raises(TransitionRejected):
        store.cancel(cancelled)
    assert store.active_jobs(USER_A) == 0
    assert {store.get(j).status for j in (cancelled, failed, finished, stopped)} == {
        JobStatus.CANCELLED,
        JobStatus.FAILED,
        JobStatus.SUCCEEDED,
    }
    for _ in range(4):
        submit(limited)
