"""HTTP glue: reads the event, calls the service, shapes the response.

Every handler authenticates first (401 before anything else), then validates, then acts.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from pydantic import BaseModel

from ingest_lambda.adapters import AdapterService
from ingest_lambda.api_spec import ROUTES
from ingest_lambda.auth import caller_sub
from ingest_lambda.errors import ApiError, BadRequest, ErrorCode, NotFound
from ingest_lambda.idempotency import IdempotentJobSubmitter
from ingest_lambda.logs import SERVICE_NAME
from ingest_lambda.models import UploadRequest
from ingest_lambda.parsing import (
    IDEMPOTENCY_HEADER,
    check_body_size,
    parse_idempotency_key,
    parse_job_id,
    parse_limit,
    parse_model,
)
from ingest_lambda.services import IngestService
from sdfleet.job_kinds import AnyJobRequest

logger = Logger(service=SERVICE_NAME, child=True)

#: Responses carry presigned URLs and private data: never cache them.
NO_STORE: Final = {"Cache-Control": "no-store"}
REPLAYED_HEADER: Final = "Idempotent-Replayed"


def json_response(
    status: HTTPStatus, body: BaseModel | dict[str, object], headers: dict[str, str] | None = None
) -> Response[str]:
    text = body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body)
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body=text,
        headers=NO_STORE | (headers or {}),
    )


def error_response(error: ApiError) -> Response[str]:
    return json_response(error.status, error.body(), error.headers())


def _body_bytes(event: APIGatewayProxyEventV2) -> bytes:
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        decoded = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(
            "body: not valid base64", field="body", code=ErrorCode.INVALID_JSON
        ) from exc
    check_body_size(decoded)
    return decoded


def register_routes(
    app: APIGatewayHttpResolver,
    service: IngestService,
    submitter: IdempotentJobSubmitter,
    adapters: AdapterService,
) -> None:
    def event() -> APIGatewayProxyEventV2:
        return app.current_event

    def create_upload() -> Response[str]:
        owner = caller_sub(event().raw_event)
        request = parse_model(_body_bytes(event()), UploadRequest)
        return json_response(HTTPStatus.CREATED, service.create_upload(owner, request))

    def create_job() -> Response[str]:
        current = event()
        owner = caller_sub(current.raw_event)
        request = parse_model(_body_bytes(current), AnyJobRequest).root
        key = parse_idempotency_key(current.headers.get(IDEMPOTENCY_HEADER))
        if key is None:
            return json_response(HTTPStatus.ACCEPTED, service.accept_job(owner, request))
        accepted, replayed = submitter.submit(owner, key, request, app.lambda_context)
        headers = {REPLAYED_HEADER: "true"} if replayed else {}
        return json_response(HTTPStatus.ACCEPTED, accepted, headers)

    def list_jobs() -> Response[str]:
        current = event()
        owner = caller_sub(current.raw_event)
        limit = parse_limit(current.get_query_string_value("limit"))
        cursor = current.get_query_string_value("cursor") or None
        return json_response(HTTPStatus.OK, service.list_jobs(owner, limit, cursor))

    def get_job(job_id: str) -> Response[str]:
        owner = caller_sub(event().raw_event)
        return json_response(HTTPStatus.OK, service.get_job(owner, parse_job_id(job_id)))

    def delete_job(job_id: str) -> Response[str]:
        owner = caller_sub(event().raw_event)
        result = service.delete_job(owner, parse_job_id(job_id))
        status = HTTPStatus.ACCEPTED if result.cancel_requested else HTTPStatus.OK
        return json_response(status, result)

    def delete_me() -> Response[str]:
        owner = caller_sub(event().raw_event)
        return json_response(HTTPStatus.ACCEPTED, service.request_deletion(owner))

    def get_deletion() -> Response[str]:
        owner = caller_sub(event().raw_event)
        return json_response(HTTPStatus.OK, service.get_deletion(owner))

    def rotate_webhook_secret() -> Response[str]:
        owner = caller_sub(event().raw_event)
        return json_response(HTTPStatus.CREATED, service.rotate_webhook_secret(owner))

    def list_models() -> Response[str]:
        owner = caller_sub(event().raw_event)
        return json_response(HTTPStatus.OK, adapters.list_models(owner))

    def get_model(adapter_id: str) -> Response[str]:
        owner = caller_sub(event().raw_event)
        return json_response(HTTPStatus.OK, adapters.get_model(owner, adapter_id))

    def delete_model(adapter_id: str) -> Response[str]:
        owner = caller_sub(event().raw_event)
        return json_response(HTTPStatus.OK, adapters.delete_model(owner, adapter_id))

    handlers: dict[str, Callable[..., Response[str]]] = {
        "createUpload": create_upload,
        "createJob": create_job,
        "listJobs": list_jobs,
        "getJob": get_job,
        "deleteJob": delete_job,
        "deleteMe": delete_me,
        "getDeletion": get_deletion,
        "rotateWebhookSecret": rotate_webhook_secret,
        "listModels": list_models,
        "getModel": get_model,
        "deleteModel": delete_model,
    }
    for spec in ROUTES:
        app.route(spec.powertools_path, method=spec.method)(handlers[spec.operation_id])

    def _api_error(error: ApiError) -> Response[str]:
        if error.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            logger.warning("request failed: %s", error.message)
        return error_response(error)

    def _no_route(_: NotFoundError) -> Response[str]:
        current = event()
        return error_response(
            NotFound(f"no route {current.request_context.http.method} {current.raw_path}")
        )

    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return error_response(ApiError("internal error", code=ErrorCode.INTERNAL))

    app.exception_handler(ApiError)(_api_error)
    app.not_found(_no_route)
    app.exception_handler(Exception)(_unexpected)
