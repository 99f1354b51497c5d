"""The ingest API's exceptions. Each one is an HTTP error with a stable code and the field.

Every error response has the shape ``{"error": {"code", "message", "field"}}`` (validation
errors add ``details``, one entry per problem).
"""

from __future__ import annotations

from enum import StrEnum
from http import HTTPStatus
from typing import Any

from sdfleet.errors import SdfleetError


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    VALIDATION_FAILED = "validation_failed"
    INVALID_INPUT_KEY = "invalid_input_key"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
    BODY_TOO_LARGE = "body_too_large"
    TOO_MANY_ACTIVE_JOBS = "too_many_active_jobs"
    UNAVAILABLE = "unavailable"
    DELETION_IN_PROGRESS = "deletion_in_progress"
    WEBHOOK_URL_REFUSED = "webhook_url_refused"
    INTERNAL = "internal"


class ApiError(SdfleetError):
    """An error the API reports to the caller as-is."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    default_code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: ErrorCode | None = None,
        details: list[dict[str, str | None]] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.default_code
        self.details = details
        self.retry_after_seconds = retry_after_seconds

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code.value,
            "message": self.message,
            "field": self.field,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def headers(self) -> dict[str, str]:
        if self.retry_after_seconds is None:
            return {}
        return {"Retry-After": str(self.retry_after_seconds)}


class BadRequest(ApiError):
    status = HTTPStatus.BAD_REQUEST
    default_code = ErrorCode.VALIDATION_FAILED


class Unauthorized(ApiError):
    status = HTTPStatus.UNAUTHORIZED
    default_code = ErrorCode.UNAUTHORIZED


class NotFound(ApiError):
    status = HTTPStatus.NOT_FOUND
    default_code = ErrorCode.NOT_FOUND


class Conflict(ApiError):
    status = HTTPStatus.CONFLICT
    default_code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class PayloadTooLarge(ApiError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_code = ErrorCode.BODY_TOO_LARGE


class TooManyRequests(ApiError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    default_code = ErrorCode.TOO_MANY_ACTIVE_JOBS


class ServiceUnavailable(ApiError):
    """A dependency failed; nothing was accepted and the request may be retried."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_code = ErrorCode.UNAVAILABLE
