"""Request and response bodies of the HTTP API (they also generate the OpenAPI document).

The job request itself is the shared :class:`sdfleet.requests.JobRequest`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from sdfleet.job_kinds import AnyParams
from sdfleet.records import JobStatus
from sdfleet.requests import JobKind
from sdfleet.webhook_attempts import WebhookAttempt

#: The upload types ``sdfleet.keys.INPUT_EXTENSIONS`` maps (a unit test keeps them equal).
ContentType = Literal["image/png", "image/jpeg", "image/webp"]


class UploadRequest(BaseModel):
    """Body of ``POST /uploads``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content_type: ContentType = Field(description="MIME type of the image to upload.")


class UploadTicket(BaseModel):
    """A presigned POST: send ``fields`` plus the file (last) as multipart/form-data to ``url``."""

    key: str = Field(description="The object key; pass it as `input_key` of an img2img job.")
    url: str
    fields: dict[str, str]
    expires_in: int = Field(description="Seconds the POST policy stays valid.")
    max_bytes: int = Field(description="Largest file the policy accepts.")


class JobAccepted(BaseModel):
    """Body of ``POST /jobs``."""

    job_id: str
    status: JobStatus


class Progress(TypedDict):
    """A running job's progress; ``loss`` is there only for a training."""

    step: Annotated[int, Field(description="Denoising (or training) steps done.")]
    total: Annotated[int, Field(description="Denoising (or training) steps in all.")]
    loss: NotRequired[Annotated[float, Field(description="A training's recent loss.")]]


class OutputLink(BaseModel):
    key: str
    url: str = Field(description="Presigned GET, valid for `output_url_expires_seconds`.")


class ErrorInfo(BaseModel):
    code: str
    message: str


class JobSummary(BaseModel):
    """One job as ``GET /jobs`` lists it."""

    job_id: str
    kind: JobKind
    status: JobStatus
    params: AnyParams
    progress: Progress | None = None
    cancel_requested: bool = False
    outputs: list[OutputLink] = Field(default_factory=list)
    error: ErrorInfo | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    adapter_id: str | None = Field(
        default=None, description="A succeeded training's model (GET /models/{adapter_id})."
    )
    loss_curve: list[float] | None = Field(
        default=None, description="A finished training's loss, one point per few steps."
    )


class JobView(JobSummary):
    """One job as ``GET /jobs/{job_id}`` returns it."""

    queue_position: int | None = Field(
        default=None, description="Queued jobs ahead of this one in its lane (queued jobs only)."
    )
    eta_seconds: int | None = Field(
        default=None, description="Estimated seconds until it finishes (active jobs only)."
    )
    webhook_url: str | None = Field(default=None, description="Where its events are posted.")
    webhook_attempts: list[WebhookAttempt] = Field(
        default_factory=list, description="Every webhook delivery attempt, oldest first."
    )


class WebhookSecretIssued(BaseModel):
    """Body of ``POST /me/webhook-secret``: the new signing secret, shown this once."""

    secret: str = Field(description="`whsec_` + base64 key; HMAC-SHA256 signs every webhook.")


class JobList(BaseModel):
    """Body of ``GET /jobs``: newest first."""

    items: list[JobSummary]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last."
    )


class JobDeleted(BaseModel):
    """Body of ``DELETE /jobs/{job_id}``."""

    job_id: str
    status: JobStatus
    cancel_requested: bool = Field(
        default=False, description="True when a running job was asked to stop."
    )
    outputs_deleted: int = Field(default=0, description="Output objects removed.")


class DeletionView(BaseModel):
    """Body of ``DELETE /me`` (202) and ``GET /me/deletion`` (200): a deletion of all my data."""

    deletion_id: str = Field(description="Identifies this deletion.")
    status: Literal["deleting", "completed"] = Field(
        description="`deleting` until every record, object and idempotency row is gone."
    )
    requested_at: datetime
    completed_at: datetime | None = None
    jobs_deleted: int = Field(description="Job records deleted so far.")
    objects_deleted: int = Field(description="S3 objects (inputs, outputs, adapters) so far.")
    idempotency_rows_deleted: int = Field(description="Idempotency-Key rows deleted so far.")


class ErrorDetail(BaseModel):
    field: str | None
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `validation_failed`.")
    message: str = Field(description="Names the field, the limit and the value given.")
    field: str | None = Field(description="The offending field or header, if any.")
    details: list[ErrorDetail] | None = Field(
        default=None, description="Every validation problem (400 only)."
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelSummary(BaseModel):
    """One trained adapter (LoRA) of mine, as ``GET /models`` lists it."""

    adapter_id: str = Field(description="Use it as `adapter_id` of a txt2img or img2img job.")
    base_model: str | None = Field(default=None, description="The model it was trained on.")
    rank: int | None = None
    steps: int | None = None
    instance_prompt: str | None = Field(default=None, description="The trigger phrase.")
    created_at: str | None = Field(default=None, description="ISO 8601, UTC.")
    size_bytes: int


class ModelList(BaseModel):
    """Body of ``GET /models``: newest first."""

    items: list[ModelSummary]


class ModelView(ModelSummary):
    """Body of ``GET /models/{adapter_id}``."""

    download_url: str = Field(
        description="Presigned GET of the `.safetensors` file, valid for `expires_in` seconds."
    )
    expires_in: int
    loss_curve: list[float] = Field(default_factory=list)


class ModelDeleted(BaseModel):
    """Body of ``DELETE /models/{adapter_id}``."""

    adapter_id: str
    objects_deleted: int
