"""Finding 4: the active-job quota is one atomic counter per user, not a read then a write."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from sdfleet.errors import TransitionRejected
from sdfleet.records import ErrorCode, JobError, JobStatus, utcnow
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import USER_A, USER_B, IngestApi
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


def test_the_quota_counts_work_not_jobs(api: IngestApi) -> None:
    """Finding 4: one 8 x 100-step 1024^2 job costs 100x a 512^2 one; the limit is on units."""
    small = {"prompt": "p", "steps": 25, "width": 512, "height": 512}
    large = {"prompt": "p", "steps": 100, "width": 1024, "height": 1024, "num_images": 8}
    limited = api.with_settings(max_active_jobs_per_user=100, max_active_cost_units_per_user=3240)
    big = submit(limited, body=large)
    assert limited.store.get(big).cost_units == 8 * 100 * 4 == 3200
    assert limited.store.active_cost(USER_A) == 3200
    submit(limited, body=small)  # 25 units: 3225
    refused = limited.call(event("create_job", body=small, headers={"idempotency-key": None}))
    assert refused.status == 429 and "cost units" in refused.error["message"]
    assert "limit is 3240" in refused.error["message"]
    limited.store.cancel(big)
    assert limited.store.active_cost(USER_A) == 25
    submit(limited, body=small)
    tiny_limit = api.with_settings(max_active_cost_units_per_user=100)
    alone = tiny_limit.call(event("create_job", body=large, headers={"idempotency-key": None}))
    assert alone.status == 429 and "this job alone costs 3200" in alone.error["message"]


def test_uploads_have_a_daily_quota(api: IngestApi) -> None:
    """Finding 4: an upload quota (tickets per user per UTC day, one atomic counter)."""
    limited = api.with_settings(max_uploads_per_user_per_day=2)
    body = {"content_type": "image/png"}
    assert [limited.call(event("create_upload", body=body)).status for _ in range(2)] == [201, 201]
    refused = limited.call(event("create_upload", body=body))
    assert refused.status == 429 and "max_uploads_per_user_per_day" in refused.error["message"]
    assert limited.call(event("create_upload", body=body, sub=USER_B)).status == 201
    tomorrow = utcnow() + timedelta(days=1)
    assert limited.store.take_upload_slot(USER_A, 2, now=tomorrow) == 1
