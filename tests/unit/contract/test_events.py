"""Job event v1: the schema is generated from the model and committed; ids are stable."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema

from sdfleet.events import (
    EVENT_SCHEMA_PATH,
    JobEvent,
    detail_type,
    event_id,
    render_event_schema,
    transition_event,
)
from sdfleet.records import JobError, JobRecord, JobStatus
from sdfleet.requests import JobKind, JobParams

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _record(status: JobStatus, **extra: object) -> JobRecord:
    return JobRecord(
        job_id="job1",
        owner="alice",
        kind=JobKind.TXT2IMG,
        params=JobParams(prompt="a cat"),
        status=status,
        created_at=T0,
        **extra,
    )


def test_committed_event_schema_is_current() -> None:
    assert EVENT_SCHEMA_PATH.read_text() == render_event_schema(), (
        "the committed event schema is stale: run `python -m sdfleet.events`"
    )


def test_new_job_makes_a_queued_event_valid_for_the_schema() -> None:
    event = transition_event(None, _record(JobStatus.QUEUED))
    assert event is not None
    assert (event.status, event.type, event.sequence, event.previous_status) == (
        JobStatus.QUEUED,
        "job.queued",
        0,
        None,
    )
    jsonschema.validate(json.loads(event.to_body()), json.loads(EVENT_SCHEMA_PATH.read_text()))
    assert JobEvent.model_validate_json(event.to_body()) == event


def test_failed_transition_carries_error_timings_and_outputs() -> None:
    old = _record(JobStatus.RUNNING, started_at=T0)
    new = _record(
        JobStatus.FAILED,
        started_at=T0,
        finished_at=T0.replace(minute=1),
        error=JobError(code="invalid_input", message="bad image"),
        total_seconds=60.0,
    )
    event = transition_event(old, new)
    assert event is not None
    assert event.previous_status is JobStatus.RUNNING
    assert event.occurred_at == new.finished_at
    assert event.error == new.error and event.total_seconds == 60.0
    assert event.sequence == 2
    jsonschema.validate(json.loads(event.to_body()), json.loads(EVENT_SCHEMA_PATH.read_text()))


def test_writes_that_keep_the_status_make_no_event() -> None:
    running = _record(JobStatus.RUNNING, started_at=T0)
    assert transition_event(running, running.model_copy(update={"progress_step": 3})) is None


def test_event_id_is_stable_per_job_and_status_and_distinct_otherwise() -> None:
    assert event_id("job1", JobStatus.SUCCEEDED) == event_id("job1", JobStatus.SUCCEEDED)
    ids = {event_id(j, s) for j in ("job1", "job2") for s in JobStatus}
    assert len(ids) == 2 * len(JobStatus)
    first = transition_event(None, _record(JobStatus.QUEUED))
    again = transition_event(None, _record(JobStatus.QUEUED))
    assert first is not None and again is not None and first.id == again.id


def test_detail_type_per_status() -> None:
    assert {detail_type(s) for s in JobStatus} == {f"job.{s.value}" for s in JobStatus}
