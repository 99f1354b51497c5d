"""The job event, version 1: one per status transition, on EventBridge and to webhooks.

An event exists because a record was written: the notifier derives it from the job table's
stream (old and new image), never from a process remembering to send it. Its ``id`` depends
only on the job and the status reached, so every redelivery of a transition carries the same
id (receivers deduplicate on it). Each status is reached at most once per job, and
``sequence`` orders one job's events (queued 0, running 1, terminal 2).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdfleet.messages import Lane
from sdfleet.records import JobError, JobRecord, JobStatus
from sdfleet.requests import JobKind

EVENT_VERSION: Final = 1
#: EventBridge ``source`` of every job event.
EVENT_SOURCE: Final = "sdfleet.jobs"
EVENT_SCHEMA_PATH: Final = Path(__file__).parent / "schemas" / "job-event-v1.schema.json"
EVENT_ID_PREFIX: Final = "evt_"

SEQUENCE: Final[dict[JobStatus, int]] = {
    JobStatus.QUEUED: 0,
    JobStatus.RUNNING: 1,
    JobStatus.SUCCEEDED: 2,
    JobStatus.FAILED: 2,
    JobStatus.CANCELLED: 2,
}


def detail_type(status: JobStatus) -> str:
    """EventBridge ``detail-type``: one per status (``job.succeeded``), so rules can route."""
    return f"job.{status.value}"


def event_id(job_id: str, status: JobStatus) -> str:
    digest = hashlib.sha256(f"{job_id}/{status.value}".encode()).hexdigest()[:32]
    return f"{EVENT_ID_PREFIX}{digest}"


class JobEvent(BaseModel):
    """Job event v1: EventBridge ``detail`` and the webhook body."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="sdfleet job event v1",
        json_schema_extra={"$id": "https://sdfleet.dev/schemas/job-event-v1.schema.json"},
    )

    version: Literal[1] = Field(description="Event format version; always 1.")
    id: str = Field(description="Stable per job and status: the same on every redelivery.")
    type: str = Field(description="`job.<status>`, the EventBridge detail-type.")
    job_id: str
    owner: str
    lane: Lane
    kind: JobKind
    status: JobStatus
    previous_status: JobStatus | None = Field(
        default=None, description="The status before this transition (absent for a new job)."
    )
    sequence: int = Field(ge=0, description="Order within the job: queued 0, running 1, end 2.")
    occurred_at: datetime = Field(description="When the transition was written.")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queue_wait_seconds: float | None = None
    model_seconds: float | None = None
    total_seconds: float | None = None
    output_keys: list[str] = Field(default_factory=list, description="S3 keys of the outputs.")
    error: JobError | None = None
    client_ref: str | None = None

    def to_body(self) -> str:
        return self.model_dump_json(exclude_none=True)


def transition_event(
    old: JobRecord | None, new: JobRecord, written_at: datetime | None = None
) -> JobEvent | None:
    """The event a write from ``old`` to ``new`` makes, or None when the status did not change
    (progress, heartbeats, delivery bookkeeping and lease takeovers are not transitions)."""
    if old is not None and old.status is new.status:
        return None
    occurred = {
        JobStatus.QUEUED: new.created_at,
        JobStatus.RUNNING: new.started_at,
    }.get(new.status, new.finished_at)
    return JobEvent(
        version=EVENT_VERSION,
        id=event_id(new.job_id, new.status),
        type=detail_type(new.status),
        job_id=new.job_id,
        owner=new.owner,
        lane=new.lane,
        kind=new.kind,
        status=new.status,
        previous_status=old.status if old is not None else None,
        sequence=SEQUENCE[new.status],
        occurred_at=occurred or written_at or new.created_at,
        created_at=new.created_at,
        started_at=new.started_at,
        finished_at=new.finished_at,
        queue_wait_seconds=new.queue_wait_seconds,
        model_seconds=new.model_seconds,
        total_seconds=new.total_seconds,
        output_keys=list(new.outputs),
        error=new.error,
        client_ref=new.client_ref,
    )


def event_json_schema() -> dict[str, Any]:
    return JobEvent.model_json_schema(mode="serialization")


def render_event_schema() -> str:
    return json.dumps(event_json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    """``python -m sdfleet.events``: regenerate the committed JSON Schema."""
    EVENT_SCHEMA_PATH.write_text(render_event_schema())
    print(f"wrote {EVENT_SCHEMA_PATH}")


if __name__ == "__main__":
    main()
