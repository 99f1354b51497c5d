"""Bad input of every kind gets the documented error, and nothing is written anywhere."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest_lambda.limits import MAX_BODY_BYTES
from tests.fixtures.apigw.events import event
from tests.integration.ingest.conftest import USER_A, USER_B, IngestApi

pytestmark = pytest.mark.emulator


@pytest.fixture()
def api(shared_api: IngestApi) -> IngestApi:
    """Every test here must leave the emulator unchanged, so they can share resources."""
    return shared_api


OK = {"prompt": "a cat", "steps": 4}

# (case id, body changes or raw body, expected field, text the message must contain)
JOB_CASES: list[tuple[str, Any, str, str]] = [
    ("steps too high", {**OK, "steps": 500}, "steps", "must be <= 100 (got 500)"),
    ("steps too low", {**OK, "steps": 0}, "steps", "must be >= 1 (got 0)"),
    ("steps as string", {**OK, "steps": "30"}, "steps", "valid integer"),
    ("steps as bool", {**OK, "steps": True}, "steps", "must be an integer"),
    ("steps fractional", {**OK, "steps": 2.5}, "steps", "integer"),
    ("width not multiple", {**OK, "width": 100}, "width", "multiple of 8 in 64..1024 (got 100)"),
    ("height too big", {**OK, "height": 2048}, "height", "64..1024 (got 2048)"),
    ("guidance too high", {**OK, "guidance_scale": 31}, "guidance_scale", "<= 30"),
    ("num_images", {**OK, "num_images": 9}, "num_images", "<= 8 (got 9)"),
    ("seed negative", {**OK, "seed": -1}, "seed", ">= 0"),
    ("prompt missing", {"steps": 4}, "prompt", "prompt: required"),
    ("prompt blank", {"prompt": "   "}, "prompt", "non-whitespace"),
    ("prompt too long", {"prompt": "x" * 2001}, "prompt", "at most 2000 characters"),
    ("prompt wrong type", {"prompt": 5}, "prompt", "valid string"),
    ("unknown field", {**OK, "owner": USER_B}, "owner", "unknown field"),
    ("unknown kind", {**OK, "kind": "video"}, "kind", "'txt2img', 'img2img' or 'train'"),
    ("strength on txt2img", {**OK, "strength": 0.5}, "strength", "only allowed for img2img"),
    ("img2img without input", {**OK, "kind": "img2img"}, "input_key", "required for img2img"),
    ("not json", "{prompt: cat", "body", "not valid JSON"),
    ("json array", "[1, 2]", "body", "must be a JSON object"),
    ("empty body", "", "body", "JSON object is required"),
]


@pytest.mark.parametrize(
    ("body", "field", "text"), [case[1:] for case in JOB_CASES], ids=[c[0] for c in JOB_CASES]
)
def test_invalid_job_request_is_400_naming_the_field(
    api: IngestApi, body: Any, field: str, text: str
) -> None:
    before = api.state()
    raw = body if isinstance(body, str) else json.dumps(body)
    response = api.call(event("create_job", raw_body=raw))
    assert response.status == 400, response.body
    assert response.error["field"] == field
    assert text in response.error["message"]
    assert response.error["code"] in {"validation_failed", "invalid_json"}
    assert api.state() == before


def test_every_problem_is_listed_in_details(api: IngestApi) -> None:
    response = api.call(event("create_job", body={"prompt": "", "steps": 0, "extra": 1}))
    assert response.status == 400
    fields = {d["field"] for d in response.error["details"]}
    assert fields == {"prompt", "steps", "extra"}


def test_oversize_body_is_413_before_parsing(api: IngestApi) -> None:
    before = api.state()
    raw = json.dumps({"prompt": "x" * (MAX_BODY_BYTES + 10)})
    response = api.call(event("create_job", raw_body=raw))
    assert response.status == 413
    assert response.error == {
        "code": "body_too_large",
        "message": f"body: {len(raw)} bytes exceeds the limit of {MAX_BODY_BYTES} bytes",
        "field": "body",
    }
    response = api.call(event("create_upload", raw_body=raw, base64_body=True))
    assert response.status == 413
    assert api.state() == before


@pytest.mark.parametrize(
    "make_event",
    [
        pytest.param(lambda: event("create_job_no_authorizer"), id="no authorizer context"),
        pytest.param(lambda: event("create_job", sub=None), id="no sub claim"),
        pytest.param(lambda: event("create_job", sub=""), id="empty sub"),
        pytest.param(lambda: event("create_job", sub="../other-user"), id="path-like sub"),
        pytest.param(lambda: event("create_upload", sub=None), id="upload without sub"),
        pytest.param(lambda: event("delete_me", sub=None), id="delete me without sub"),
        pytest.param(lambda: event("list_jobs", sub=None), id="list without sub"),
    ],
)
def test_missing_or_bad_identity_is_401(api: IngestApi, make_event: Any) -> None:
    api.put_input(USER_A)
    before = api.state()
    response = api.call(make_event())
    assert response.status == 401
    assert response.error["code"] == "unauthorized"
    assert api.state() == before


@pytest.mark.parametrize(
    ("input_key", "text"),
    [
        (f"users/{USER_B}/inputs/a.png", "is not under your uploads prefix"),
        (f"users/{USER_A}/outputs/job/00.png", "is not under your uploads prefix"),
        (f"users/{USER_A}/inputs/../../{USER_B}/inputs/a.png", "is not under your uploads prefix"),
        (f"users/{USER_A}/inputs/missing.png", "no uploaded object"),
    ],
    ids=["foreign", "own outputs", "dot-dot", "missing"],
)
def test_bad_input_key_is_400(api: IngestApi, input_key: str, text: str) -> None:
    api.put_input(USER_B)
    before = api.state()
    body = {"kind": "img2img", "prompt": "x", "input_key": input_key}
    response = api.call(event("create_job", body=body))
    assert response.status == 400
    assert response.error["field"] == "input_key"
    assert response.error["code"] == "invalid_input_key"
    assert text in response.error["message"]
    assert api.state() == before


def test_oversize_or_non_image_upload_is_refused_as_input(api: IngestApi) -> None:
    """The emulator ignores the POST policy's size and type: the API checks them itself."""
    small = api.with_settings(upload_max_bytes=16)
    big = small.put_input(USER_A, body=b"x" * 17)
    text = small.put_input(USER_A, body=b"hello", content_type="text/plain")
    before = small.state()
    for key, message in ((big, "17 bytes; uploads must be 1..16"), (text, "'text/plain'")):
        body = {"kind": "img2img", "prompt": "x", "input_key": key}
        response = small.call(event("create_job", body=body))
        assert response.status == 400
        assert message in response.error["message"]
    assert small.state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content_type": "image/gif"}, "content_type"),
        ({"content_type": "image/png", "key": "users/x/inputs/a.png"}, "key"),
        ({}, "content_type"),
    ],
)
def test_bad_upload_request_is_400(api: IngestApi, body: Any, field: str) -> None:
    before = api.state()
    response = api.call(event("create_upload", body=body))
    assert response.status == 400
    assert response.error["field"] == field
    assert api.state() == before


@pytest.mark.parametrize(
    ("query", "field", "text"),
    [
        ({"limit": "0"}, "limit", "must be in 1..100 (got 0)"),
        ({"limit": "101"}, "limit", "must be in 1..100 (got 101)"),
        ({"limit": "ten"}, "limit", "must be an integer"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor", "not a cursor this API returned"),
    ],
)
def test_bad_list_query_is_400(
    api: IngestApi, query: dict[str, str], field: str, text: str
) -> None:
    response = api.call(event("list_jobs", query=query))
    assert response.status == 400
    assert response.error["field"] == field
    assert text in response.error["message"]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_bad_idempotency_key_is_400(api: IngestApi, key: str) -> None:
    before = api.state()
    response = api.call(event("create_job", body=OK, headers={"idempotency-key": key}))
    assert response.status == 400
    assert response.error["field"] == "Idempotency-Key"
    assert api.state() == before
