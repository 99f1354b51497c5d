"""The route table: one entry per operation. Routes are registered from it and the OpenAPI
document is generated from it, so the two cannot disagree."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus

from pydantic import BaseModel

from ingest_lambda.limits import IDEMPOTENCY_KEY_MAX_CHARS, LIST_LIMIT, LIST_LIMIT_DEFAULT
from ingest_lambda.models import (
    DeletionView,
    JobAccepted,
    JobDeleted,
    JobList,
    JobView,
    ModelDeleted,
    ModelList,
    ModelView,
    UploadRequest,
    UploadTicket,
    WebhookSecretIssued,
)
from ingest_lambda.parsing import IDEMPOTENCY_HEADER
from sdfleet.job_kinds import AnyJobRequest
from sdfleet.settings import IngestSettings

_DEFAULTS = {name: info.default for name, info in IngestSettings.model_fields.items()}
_MAX_UPLOAD_MIB = _DEFAULTS["upload_max_bytes"] // (1024 * 1024)


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # "query", "header" or "path"
    description: str
    schema: dict[str, object]
    required: bool = False


@dataclass(frozen=True)
class RouteSpec:
    operation_id: str
    method: str
    path: str
    summary: str
    description: str
    status: HTTPStatus
    response_model: type[BaseModel]
    request_model: type[BaseModel] | None = None
    parameters: tuple[Parameter, ...] = ()
    errors: tuple[HTTPStatus, ...] = ()
    other_statuses: dict[HTTPStatus, str] = field(default_factory=dict)

    @property
    def powertools_path(self) -> str:
        """``/jobs/{job_id}`` as the Powertools resolver writes it: ``/jobs/<job_id>``."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)


_JOB_ID = Parameter("job_id", "path", "The job's id.", {"type": "string"}, required=True)
_ADAPTER_ID = Parameter(
    "adapter_id",
    "path",
    "The model's id (the id of the training job that made it).",
    {"type": "string"},
    required=True,
)
_COMMON_ERRORS = (HTTPStatus.UNAUTHORIZED,)

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        operation_id="createUpload",
        method="POST",
        path="/uploads",
        summary="Create a presigned POST for one input image",
        description=(
            "Returns a presigned S3 POST into `users/<sub>/inputs/<uuid>.<ext>`: png, jpeg or "
            f"webp, 1 byte to `upload_max_bytes` ({_MAX_UPLOAD_MIB} MiB by default), valid for "
            f"`upload_url_expires_seconds` (at most {_DEFAULTS['upload_url_expires_seconds']} s). "
            "Send `fields` and then the file as multipart/form-data to `url`."
        ),
        status=HTTPStatus.CREATED,
        request_model=UploadRequest,
        response_model=UploadTicket,
        errors=(*_COMMON_ERRORS, HTTPStatus.BAD_REQUEST, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    ),
    RouteSpec(
        operation_id="createJob",
        method="POST",
        path="/jobs",
        summary="Submit a generation or LoRA training job",
        description=(
            "Validates the request, writes the job record (queued) and sends it to the "
            "interactive lane. `kind: train` starts a LoRA training on 3..50 of my uploads "
            "(another user's upload or model is 404). With `Idempotency-Key`, a retry with the "
            "same body returns the same job and a different body is refused with 409. At most "
            f"`max_active_jobs_per_user` ({_DEFAULTS['max_active_jobs_per_user']} by default) "
            "queued or running jobs per user; beyond, 429 with `Retry-After`."
        ),
        status=HTTPStatus.ACCEPTED,
        request_model=AnyJobRequest,
        response_model=JobAccepted,
        parameters=(
            Parameter(
                IDEMPOTENCY_HEADER,
                "header",
                "Makes the request safe to retry; scoped to the caller; kept for 24 hours.",
                {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_CHARS},
            ),
        ),
        errors=(
            *_COMMON_ERRORS,
            HTTPStatus.BAD_REQUEST,
            # A training image or an adapter that is not the caller's own.
            HTTPStatus.NOT_FOUND,
            HTTPStatus.CONFLICT,
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            HTTPStatus.TOO_MANY_REQUESTS,
            HTTPStatus.SERVICE_UNAVAILABLE,
        ),
    ),
    RouteSpec(
        operation_id="listJobs",
        method="GET",
        path="/jobs",
        summary="List my jobs, newest first",
        description="Pages of at most `limit` jobs; pass `next_cursor` back as `cursor`.",
        status=HTTPStatus.OK,
        response_model=JobList,
        parameters=(
            Parameter(
                "limit",
                "query",
                f"Jobs per page (default {LIST_LIMIT_DEFAULT}).",
                {"type": "integer", "minimum": 1, "maximum": LIST_LIMIT},
            ),
            Parameter("cursor", "query", "`next_cursor` of the previous page.", {"type": "string"}),
        ),
        errors=(*_COMMON_ERRORS, HTTPStatus.BAD_REQUEST),
    ),
    RouteSpec(
        operation_id="getJob",
        method="GET",
        path="/jobs/{job_id}",
        summary="Get one of my jobs",
        description=(
            "Status, place in the queue, estimated seconds to completion, denoising progress, "
            "outputs as presigned GET URLs (valid for `output_url_expires_seconds`) and the "
            "error of a failed job. Another user's job is 404."
        ),
        status=HTTPStatus.OK,
        response_model=JobView,
        parameters=(_JOB_ID,),
        errors=(*_COMMON_ERRORS, HTTPStatus.NOT_FOUND),
    ),
    RouteSpec(
        operation_id="deleteJob",
        method="DELETE",
        path="/jobs/{job_id}",
        summary="Cancel a job or delete its outputs",
        description=(
            "queued: cancelled (workers skip it). running: cancel requested (202; the worker "
            "stops between denoising steps). finished: its output images are deleted."
        ),
        status=HTTPStatus.OK,
        response_model=JobDeleted,
        parameters=(_JOB_ID,),
        errors=(*_COMMON_ERRORS, HTTPStatus.NOT_FOUND, HTTPStatus.SERVICE_UNAVAILABLE),
        other_statuses={HTTPStatus.ACCEPTED: "A running job was asked to stop."},
    ),
    RouteSpec(
        operation_id="deleteMe",
        method="DELETE",
        path="/me",
        summary="Delete all my data",
        description=(
            "Marks me as deleting and answers at once (202) with the deletion. From then on no "
            "job of mine is accepted (409 `deletion_in_progress`) and no running job of mine "
            "writes or commits an output. In the background every job record, every object "
            "under `users/<sub>/` (inputs, outputs, adapters) and every Idempotency-Key row of "
            "mine is deleted; `GET /me/deletion` reports progress until `completed`. Asking "
            "again while it runs returns the same deletion."
        ),
        status=HTTPStatus.ACCEPTED,
        response_model=DeletionView,
        errors=(*_COMMON_ERRORS, HTTPStatus.SERVICE_UNAVAILABLE),
    ),
    RouteSpec(
        operation_id="getDeletion",
        method="GET",
        path="/me/deletion",
        summary="My latest data deletion",
        description="The deletion `DELETE /me` started: `deleting`, then `completed`.",
        status=HTTPStatus.OK,
        response_model=DeletionView,
        errors=(*_COMMON_ERRORS, HTTPStatus.NOT_FOUND),
    ),
    RouteSpec(
        operation_id="rotateWebhookSecret",
        method="POST",
        path="/me/webhook-secret",
        summary="Create or replace my webhook signing secret",
        description=(
            "Returns a new secret (`whsec_...`), shown this once, and replaces the old one at "
            "once: every later webhook of mine is signed with it (HMAC-SHA256 over "
            "`{webhook-id}.{webhook-timestamp}.{body}`, header `webhook-signature: v1,<base64>`)."
        ),
        status=HTTPStatus.CREATED,
        response_model=WebhookSecretIssued,
        errors=_COMMON_ERRORS,
    ),
    RouteSpec(
        operation_id="listModels",
        method="GET",
        path="/models",
        summary="List my trained models (LoRA adapters), newest first",
        description="Every adapter a succeeded training of mine produced and I have not deleted.",
        status=HTTPStatus.OK,
        response_model=ModelList,
        errors=_COMMON_ERRORS,
    ),
    RouteSpec(
        operation_id="getModel",
        method="GET",
        path="/models/{adapter_id}",
        summary="Get one of my models with a download link",
        description=(
            "Its metadata, loss curve and a presigned GET of its `.safetensors` file (valid for "
            "`output_url_expires_seconds`). Another user's model is 404."
        ),
        status=HTTPStatus.OK,
        response_model=ModelView,
        parameters=(_ADAPTER_ID,),
        errors=(*_COMMON_ERRORS, HTTPStatus.NOT_FOUND),
    ),
    RouteSpec(
        operation_id="deleteModel",
        method="DELETE",
        path="/models/{adapter_id}",
        summary="Delete one of my models",
        description="Deletes the adapter, its metadata and any checkpoint. Another user's is 404.",
        status=HTTPStatus.OK,
        response_model=ModelDeleted,
        parameters=(_ADAPTER_ID,),
        errors=(*_COMMON_ERRORS, HTTPStatus.NOT_FOUND),
    ),
)
