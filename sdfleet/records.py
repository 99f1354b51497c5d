"""The job record and its status state machine.

``queued -> running -> succeeded | failed | cancelled``; ``queued -> cancelled | failed``.
"Cancel requested" is a flag on a running record, not a status: the worker honours it
between denoising steps and then moves the job to ``cancelled``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from sdfleet.job_kinds import AnyParams
from sdfleet.messages import Lane
from sdfleet.requests import JobKind
from sdfleet.webhook_attempts import WebhookAttempt


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: Final = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

#: Every allowed move. ``running -> running`` is a lease takeover after a worker died.
TRANSITIONS: Final[dict[JobStatus, frozenset[JobStatus]]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    return target in TRANSITIONS[current]


class ErrorCode(StrEnum):
    INVALID_INPUT = "invalid_input"
    INPUT_MISSING = "input_missing"
    UNKNOWN_SENDER = "unknown_sender"
    SENDER_NOT_ALLOWED = "sender_not_allowed"
    FOREIGN_JOB = "foreign_job"
    GENERATION_FAILED = "generation_failed"
    RETRIES_EXHAUSTED = "retries_exhausted"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


class JobError(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobRecord(BaseModel):
    """One job in DynamoDB. Timestamps are timezone-aware UTC."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    owner: str
    kind: JobKind
    params: AnyParams
    lane: Lane = Lane.INTERACTIVE
    status: JobStatus = JobStatus.QUEUED
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker_id: str | None = None
    lease_expires_at: datetime | None = None
    attempts: int = 0
    cancel_requested: bool = False
    progress_step: int | None = None
    progress_total: int | None = None
    outputs: list[str] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=list)
    error: JobError | None = None
    attention_backend: str | None = None
    attention_reason: str | None = None
    queue_wait_seconds: float | None = None
    model_seconds: float | None = None
    total_seconds: float | None = None
    client_ref: str | None = None
    sender: str | None = Field(
        default=None, description="Sender key of the SQS message that created a batch record."
    )
    source_message_id: str | None = Field(
        default=None, description="SQS MessageId that created a batch record (DLQ reaper)."
    )
    expires_at: int | None = Field(default=None, description="DynamoDB TTL, epoch seconds.")
    counted: bool = Field(
        default=False,
        description="Holds one of its owner's active-job slots until it ends (API jobs).",
    )
    cost_units: int = Field(
        default=0, ge=0, description="Cost units it holds in its owner's active-cost counter."
    )
    webhook_url: str | None = Field(
        default=None, description="Where this job's events are posted (signed), if anywhere."
    )
    webhook_attempts: list[WebhookAttempt] = Field(
        default_factory=list, description="Every webhook delivery attempt, oldest first."
    )
    progress_loss: float | None = Field(
        default=None, description="A running training's recent loss (smoothed)."
    )
    progress_eta_seconds: float | None = Field(
        default=None, description="A running training's own estimate of the time left."
    )
    loss_curve: list[float] = Field(
        default_factory=list, description="A finished training's loss, one point per few steps."
    )
    adapter_id: str | None = Field(
        default=None, description="The adapter a succeeded training produced (GET /models)."
    )
