"""Request parsing and the caller's identity, without AWS."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from ingest_lambda.auth import caller_sub
from ingest_lambda.errors import BadRequest, NotFound, PayloadTooLarge, Unauthorized
from ingest_lambda.limits import LIST_LIMIT_DEFAULT, MAX_BODY_BYTES
from ingest_lambda.models import ContentType, UploadRequest
from ingest_lambda.parsing import (
    parse_idempotency_key,
    parse_job_id,
    parse_limit,
    parse_model,
)
from sdfleet.keys import INPUT_EXTENSIONS
from sdfleet.requests import JobRequest
from tests.fixtures.apigw.events import event


def test_body_at_the_limit_is_parsed_and_one_byte_more_is_413() -> None:
    prefix, suffix = b'{"prompt": "', b'"}'
    fill = MAX_BODY_BYTES - len(prefix) - len(suffix)
    body = prefix + b"x" * fill + suffix
    with pytest.raises(BadRequest) as at_limit:  # parsed: the prompt is too long, not the body
        parse_model(body, JobRequest)
    assert at_limit.value.field == "prompt"
    with pytest.raises(PayloadTooLarge) as over:
        parse_model(prefix + b"x" * (fill + 1) + suffix, JobRequest)
    assert str(MAX_BODY_BYTES) in over.value.message


def test_strict_validation_keeps_defaults() -> None:
    request = parse_model(json.dumps({"prompt": "a cat"}).encode(), JobRequest)
    assert request.steps == 30
    assert request.kind.value == "txt2img"


def test_upload_content_types_match_the_key_layout() -> None:
    assert set(get_args(ContentType)) == set(INPUT_EXTENSIONS)
    for content_type in INPUT_EXTENSIONS:
        assert parse_model(json.dumps({"content_type": content_type}).encode(), UploadRequest)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, LIST_LIMIT_DEFAULT), ("", LIST_LIMIT_DEFAULT), ("1", 1), ("100", 100)],
)
def test_limit(value: str | None, expected: int) -> None:
    assert parse_limit(value) == expected


@pytest.mark.parametrize("value", ["0", "101", "-1", "1.5", "x"])
def test_bad_limit(value: str) -> None:
    with pytest.raises(BadRequest) as error:
        parse_limit(value)
    assert error.value.field == "limit"


def test_idempotency_key() -> None:
    assert parse_idempotency_key(None) is None
    assert parse_idempotency_key("a" * 255) == "a" * 255
    for bad in ("", "a" * 256, "\u00e9", "a\nb"):
        with pytest.raises(BadRequest):
            parse_idempotency_key(bad)


def test_job_id_must_look_like_one() -> None:
    assert parse_job_id("abc_DEF-123") == "abc_DEF-123"
    for bad in ("", "../x", "a" * 65, "-leading", "a b", "abc\n"):
        with pytest.raises(NotFound):
            parse_job_id(bad)


def test_caller_is_the_jwt_sub_claim() -> None:
    ev = event("get_job")
    assert caller_sub(ev) == ev["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]


NO_SUB = "a verified JWT with a 'sub' claim is required"
BAD_SUB = "the token's 'sub' claim is not a valid user id"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda ev: ev["requestContext"].pop("authorizer"), NO_SUB),
        (lambda ev: ev["requestContext"]["authorizer"].pop("jwt"), NO_SUB),
        (lambda ev: ev["requestContext"]["authorizer"]["jwt"]["claims"].pop("sub"), NO_SUB),
        (lambda ev: ev["requestContext"]["authorizer"]["jwt"]["claims"].update(sub=42), NO_SUB),
        (lambda ev: ev["requestContext"]["authorizer"]["jwt"]["claims"].update(sub=""), NO_SUB),
        (lambda ev: ev["requestContext"]["authorizer"]["jwt"]["claims"].update(sub="a/b"), BAD_SUB),
        # Finding 5: "$" matches before a final newline; the pattern must match in full.
        (
            lambda ev: ev["requestContext"]["authorizer"]["jwt"]["claims"].update(sub="alice\n"),
            BAD_SUB,
        ),
        (lambda ev: ev["requestContext"]["authorizer"].update(jwt=None), NO_SUB),
        (lambda ev: ev.pop("requestContext"), NO_SUB),
        # Not the shape of a payload v2 event at any level: still a 401, never a crash.
        (lambda ev: ev.update(requestContext="not-a-mapping"), NO_SUB),
        (lambda ev: ev["requestContext"].update(authorizer=["jwt"]), NO_SUB),
    ],
)
def test_no_usable_sub_is_unauthorized(mutate: Any, reason: str) -> None:
    ev = event("get_job")
    mutate(ev)
    with pytest.raises(Unauthorized) as refused:
        caller_sub(ev)
    assert str(refused.value) == reason


def test_only_the_sub_claim_counts() -> None:
    ev = event("get_job", sub=None)
    ev["requestContext"]["authorizer"]["jwt"]["claims"]["username"] = "someone"
    ev["headers"]["x-user-id"] = "someone"
    with pytest.raises(Unauthorized):
        caller_sub(ev)
