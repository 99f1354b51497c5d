"""Turns raw request parts (body, headers, query) into validated values, or an ApiError.

Checks run before anything is read from or written to AWS.
"""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ingest_lambda.errors import BadRequest, ErrorCode, NotFound, PayloadTooLarge
from ingest_lambda.limits import (
    IDEMPOTENCY_KEY_MAX_CHARS,
    LIST_LIMIT,
    LIST_LIMIT_DEFAULT,
    MAX_BODY_BYTES,
)
from sdfleet.messages import JOB_ID_PATTERN
from sdfleet.validation import describe_validation_error

ModelT = TypeVar("ModelT", bound=BaseModel)

IDEMPOTENCY_HEADER = "Idempotency-Key"
_JOB_ID = re.compile(JOB_ID_PATTERN.removeprefix("^").removesuffix("$"))


def check_body_size(body: bytes) -> None:
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"body: {len(body)} bytes exceeds the limit of {MAX_BODY_BYTES} bytes",
            field="body",
        )


def parse_model(body: bytes, model: type[ModelT]) -> ModelT:
    """A JSON object body validated strictly (no "30" for 30, no unknown fields)."""
    check_body_size(body)
    if not body.strip():
        raise BadRequest(
            "body: a JSON object is required", field="body", code=ErrorCode.INVALID_JSON
        )
    try:
        decoded = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(
            f"body: not valid JSON ({exc})", field="body", code=ErrorCode.INVALID_JSON
        ) from exc
    if not isinstance(decoded, dict):
        raise BadRequest(
            f"body: must be a JSON object, got {type(decoded).__name__}",
            field="body",
            code=ErrorCode.INVALID_JSON,
        )
    try:
        return model.model_validate_json(body, strict=True)
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        first = problems[0]
        raise BadRequest(
            first.message,
            field=first.field or "body",
            details=[{"field": p.field, "message": p.message} for p in problems],
        ) from exc


def parse_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX_CHARS:
        raise BadRequest(
            f"{IDEMPOTENCY_HEADER}: must have 1..{IDEMPOTENCY_KEY_MAX_CHARS} characters "
            f"(got {len(value)})",
            field=IDEMPOTENCY_HEADER,
        )
    if not (value.isascii() and value.isprintable()):
        raise BadRequest(
            f"{IDEMPOTENCY_HEADER}: must be printable ASCII (got {value[:40]!r})",
            field=IDEMPOTENCY_HEADER,
        )
    return value


def parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return LIST_LIMIT_DEFAULT
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest(
            f"limit: must be an integer in 1..{LIST_LIMIT} (got {value[:40]!r})", field="limit"
        ) from None
    if not 1 <= limit <= LIST_LIMIT:
        raise BadRequest(f"limit: must be in 1..{LIST_LIMIT} (got {limit})", field="limit")
    return limit


def parse_job_id(value: str) -> str:
    """A malformed id cannot name anyone's job: 404, like any other unknown id."""
    if not _JOB_ID.fullmatch(value):
        raise NotFound(f"job {value[:70]!r} not found", field="job_id")
    return value
