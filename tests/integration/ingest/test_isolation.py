"""Isolation property: for generated pairs of users, user B, calling every route, never
reads, changes, cancels or deletes anything of user A's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdfleet.aws import AwsClients
from sdfleet.deletion import DEFAULT_SETTLE_SECONDS
from sdfleet.keys import output_key
from sdfleet.records import JobError, JobStatus
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import IngestApi, new_api
from tests.support.hypothesis_profiles import examples

pytestmark = pytest.mark.emulator

_SUB = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._@:+=-]{0,24}", fullmatch=True)
# Distinct users, including ones whose id is a prefix of the other's ("ab" and "ab.c").
USER_PAIRS = st.one_of(
    st.tuples(_SUB, _SUB).filter(lambda pair: pair[0] != pair[1]),
    st.tuples(_SUB, st.from_regex(r"[A-Za-z0-9._@:+=-]{1,6}", fullmatch=True)).flatmap(
        lambda pair: st.sampled_from([(pair[0], pair[0] + pair[1]), (pair[0] + pair[1], pair[0])])
    ),
)
B_ROUTES = ["get", "delete", "list", "upload", "img2img", "reuse_key", "delete_me"]
A_STATES = [s for s in JobStatus]
IDEMPOTENCY_KEY = "shared-key-1"
BODY = {"prompt": "a quiet harbour", "steps": 4, "width": 64, "height": 64}


def _a_setup(api: IngestApi, a: str, status: JobStatus) -> tuple[str, str]:
    input_key = api.put_input(a)
    body = {**BODY, "kind": "img2img", "input_key": input_key}
    created = api.call(
        event("create_job", sub=a, body=body, headers={"idempotency-key": IDEMPOTENCY_KEY})
    )
    assert created.status == 202, created.body
    job_id: str = created.body["job_id"]
    if status is not JobStatus.QUEUED:
        api.store.claim(job_id, "worker-1", lease_seconds=300)
    if status is JobStatus.SUCCEEDED:
        keys = [output_key(a, job_id, 0)]
        api.clients.s3().put_object(Bucket=api.settings.bucket, Key=keys[0], Body=b"png")
        api.store.finish(job_id, "worker-1", keys, seeds=[1])
    elif status is JobStatus.FAILED:
        api.store.fail(
            job_id, JobError(code="generation_failed", message="boom"), worker_id="worker-1"
        )
    elif status is JobStatus.CANCELLED:
        api.store.request_cancel(job_id)
        api.store.mark_cancelled(job_id, "worker-1")
    return job_id, input_key


def _a_snapshot(api: IngestApi, a: str, job_id: str) -> dict[str, Any]:
    record = api.store.get(job_id).model_dump(exclude={"lease_expires_at"})
    objects = {
        key: api.clients.s3().get_object(Bucket=api.settings.bucket, Key=key)["Body"].read()
        for key in api.object_keys(f"users/{a}/")
    }
    view = api.call(event("get_job", sub=a, path_params={"job_id": job_id})).body
    for output in view["outputs"]:
        output.pop("url")
    view.pop("eta_seconds")
    return {"record": record, "objects": objects, "view": view}


def _b_acts(api: IngestApi, b: str, route: str, a_job: str, a_input: str) -> None:
    if route == "get":
        response = api.call(event("get_job", sub=b, path_params={"job_id": a_job}))
        assert response.status == 404
        assert a_job in response.error["message"]  # the id B gave, nothing of A's
    elif route == "delete":
        response = api.call(event("delete_job", sub=b, path_params={"job_id": a_job}))
        assert response.status == 404
    elif route == "list":
        response = api.call(event("list_jobs", sub=b, query={"limit": "100"}))
        assert response.status == 200
        assert a_job not in {item["job_id"] for item in response.body["items"]}
        assert all(api.store.get(item["job_id"]).owner == b for item in response.body["items"])
    elif route == "upload":
        response = api.call(event("create_upload", sub=b, body={"content_type": "image/png"}))
        assert response.status == 201
        assert response.body["key"].startswith(f"users/{b}/inputs/")
    elif route == "img2img":
        body = {**BODY, "kind": "img2img", "input_key": a_input}
        response = api.call(
            event("create_job", sub=b, body=body, headers={"idempotency-key": None})
        )
        assert response.status == 400
        assert response.error["field"] == "input_key"
    elif route == "reuse_key":
        body = {**BODY, "kind": "img2img", "input_key": a_input}
        response = api.call(
            event("create_job", sub=b, body=body, headers={"idempotency-key": IDEMPOTENCY_KEY})
        )
        assert response.status == 400  # B's use of the key is B's own: A's input is refused
        response = api.call(
            event("create_job", sub=b, body=BODY, headers={"idempotency-key": IDEMPOTENCY_KEY})
        )
        assert response.status == 202
        assert response.body["job_id"] != a_job
        assert api.store.get(response.body["job_id"]).owner == b
    elif route == "delete_me":
        response = api.call(event("delete_me", sub=b))
        assert response.status == 202
        # B's whole background purge runs too: it must not reach anything of A's.
        assert api.purge(b, seconds_later=DEFAULT_SETTLE_SECONDS).status == "completed"
    else:
        raise AssertionError(route)


@settings(
    max_examples=examples(20, deep=200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    users=USER_PAIRS,
    a_status=st.sampled_from(A_STATES),
    routes=st.permutations(B_ROUTES),
)
def test_user_b_never_touches_user_a(
    moto_endpoint: str, users: tuple[str, str], a_status: JobStatus, routes: list[str]
) -> None:
    a, b = users
    api = new_api(AwsClients(endpoint_url=moto_endpoint, region="us-east-1"))
    a_job, a_input = _a_setup(api, a, a_status)
    before = _a_snapshot(api, a, a_job)

    for route in routes:
        _b_acts(api, b, route, a_job, a_input)

    assert _a_snapshot(api, a, a_job) == before
    # And the other way round: nothing B made is visible to A.
    a_list = api.call(event("list_jobs", sub=a, query={"limit": "100"})).body["items"]
    assert [item["job_id"] for item in a_list] == [a_job]
