"""Reading job events off a tenant's SQS queue: what counts as a job event, and the CLI's
checks of the events options (no AWS needed for either)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sdfleet.events import EVENT_SOURCE, transition_event
from sdfleet.messages import Lane
from sdfleet.records import JobRecord, JobStatus
from sdfleet.requests import JobKind, JobParams
from sdfleet_cli.cli import EXIT_USAGE, main
from sdfleet_cli.local.event_follow import job_event_of


def _event_body() -> dict[str, object]:
    record = JobRecord(
        job_id="b-1",
        owner="acme",
        kind=JobKind.TXT2IMG,
        params=JobParams(prompt="x"),
        lane=Lane.BATCH,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    event = transition_event(None, record)
    assert event is not None
    return json.loads(event.to_body())


def test_an_eventbridge_envelope_and_a_bare_event_are_read() -> None:
    detail = _event_body()
    envelope = {
        "version": "0",
        "source": EVENT_SOURCE,
        "detail-type": "job.queued",
        "detail": detail,
    }
    for body in (json.dumps(envelope), json.dumps(detail)):
        event = job_event_of(body)
        assert event is not None
        assert (event.job_id, event.status) == ("b-1", JobStatus.QUEUED)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"note": "hello"}),
        json.dumps({"source": "aws.s3", "detail": {"job_id": "b-1"}}),
        json.dumps({"source": EVENT_SOURCE, "detail": {"job_id": "b-1"}}),
    ],
)
def test_anything_else_is_not_a_job_event(body: str) -> None:
    assert job_event_of(body) is None


def test_events_queue_needs_wait_and_a_positive_quiet_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("")
    assert main(["submit", str(jobs), "--events-queue-url", "https://sqs/q"]) == EXIT_USAGE
    assert "add --wait" in capsys.readouterr().err
    status = main(
        ["submit", str(jobs), "--wait", "--events-queue-url", "q", "--events-quiet-seconds", "0"]
    )
    assert status == EXIT_USAGE
    assert "--events-quiet-seconds: must be > 0 (got 0.0)" in capsys.readouterr().err
