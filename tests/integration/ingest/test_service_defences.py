"""The ingest service's own defences, called directly: no route, no request model in front.

Each defence here has a layer before it that usually refuses the same thing first (the
presigned POST's size range, the worker that only writes under its job's owner); these tests
take that layer away and check that the service alone still holds."""

from __future__ import annotations

import pytest

from ingest_lambda.app import build_service
from ingest_lambda.errors import BadRequest
from ingest_lambda.services import IngestService
from sdfleet.keys import output_key
from sdfleet.requests import JobKind, JobRequest
from tests.integration.ingest.conftest import PNG_BYTES, USER_A, USER_B, IngestApi

pytestmark = pytest.mark.emulator

UPLOAD_LIMIT = 64


def service_of(api: IngestApi) -> IngestService:
    return build_service(
        api.settings.model_copy(update={"upload_max_bytes": UPLOAD_LIMIT}), api.clients
    )


def img2img(key: str) -> JobRequest:
    return JobRequest(kind=JobKind.IMG2IMG, prompt="a cat", input_key=key)


@pytest.mark.parametrize(
    ("size", "accepted"), [(0, False), (1, True), (UPLOAD_LIMIT, True), (UPLOAD_LIMIT + 1, False)]
)
def test_input_size_is_checked_at_both_bounds(api: IngestApi, size: int, accepted: bool) -> None:
    key = api.put_input(USER_A, body=b"\x89" * size)
    service = service_of(api)
    if accepted:
        service.check_input(USER_A, img2img(key))
        return
    with pytest.raises(BadRequest) as refused:
        service.check_input(USER_A, img2img(key))
    assert f"the object is {size} bytes; uploads must be 1..{UPLOAD_LIMIT} bytes" in str(
        refused.value
    )


def test_output_links_name_only_the_owners_own_objects(api: IngestApi) -> None:
    """A record that names another user's object (a bug or a tampered record) never yields a
    link to it: the service filters on the owner when it signs."""
    service = service_of(api)
    job_id = service.submit_job(USER_A, JobRequest(prompt="a cat")).job_id
    own = output_key(USER_A, job_id, 0)
    foreign = output_key(USER_B, "someone-elses-job", 0)
    for key in (own, foreign):
        api.clients.s3().put_object(Bucket=api.settings.bucket, Key=key, Body=PNG_BYTES)
    api.store.claim(job_id, "worker-1", lease_seconds=60)
    api.store.finish(job_id, "worker-1", [own, foreign], seeds=[1, 2])

    view = service.get_job(USER_A, job_id)

    assert [link.key for link in view.outputs] == [own]
    assert all(USER_B not in link.url for link in view.outputs)
