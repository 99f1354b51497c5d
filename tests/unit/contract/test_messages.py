"""SQS message v1: schema is generated from the model and committed; examples stay valid."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from sdfleet import messages
from sdfleet.messages import MAX_MESSAGE_BYTES, SCHEMA_PATH, JobMessage, render_message_schema
from sdfleet.requests import JobParams, JobRequest

ROOT = Path(__file__).resolve().parents[3]


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text() == render_message_schema(), (
        "the committed schema is stale: run `python -m sdfleet.messages`"
    )


def test_example_message_is_valid_for_schema_and_model() -> None:
    example = json.loads((ROOT / "examples" / "job-message-v1.json").read_text())
    jsonschema.validate(example, json.loads(SCHEMA_PATH.read_text()))
    message = JobMessage.model_validate(example)
    assert isinstance(message.params, JobParams)
    assert message.params.num_images == 2


def test_example_jobs_lines_are_valid_requests() -> None:
    lines = (ROOT / "examples" / "jobs.jsonl").read_text().splitlines()
    assert lines
    for line in lines:
        JobRequest.model_validate_json(line)


def test_round_trip() -> None:
    message = JobMessage.model_validate(
        {"version": 1, "kind": "txt2img", "params": {"prompt": "hi"}, "job_id": "abc"}
    )
    assert JobMessage.from_body(message.to_body()) == message


@pytest.mark.parametrize(
    "body",
    [
        {"version": 2, "kind": "txt2img", "params": {"prompt": "hi"}},
        {"version": 1, "kind": "txt2img", "params": {"prompt": "hi"}, "owner": "root"},
        {"version": 1, "kind": "txt2img", "params": {"prompt": "hi", "owner": "root"}},
        {"version": 1, "kind": "img2img", "params": {"prompt": "hi"}},
        {"version": 1, "kind": "txt2img", "params": {"prompt": "hi"}, "job_id": "../x"},
    ],
)
def test_invalid_messages_rejected_by_model_and_schema(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        JobMessage.model_validate(body)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, json.loads(SCHEMA_PATH.read_text()))


def test_a_body_carries_only_the_fields_that_are_set() -> None:
    """What a batch submitter writes comes back as written: no ``null`` for each unset field
    (the body is what ``sdfleet dlq show`` prints, and what counts against the size limit)."""
    written = {"version": 1, "kind": "txt2img", "params": {"prompt": "a red fox"}}
    body = json.loads(JobMessage.model_validate(written).to_body())
    assert body["version"] == 1 and body["kind"] == "txt2img"
    assert None not in body.values() and None not in body["params"].values()
    assert "job_id" not in body and "input_key" not in body["params"]


def test_python_m_sdfleet_messages_writes_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "job-message-v1.schema.json"
    monkeypatch.setattr(messages, "SCHEMA_PATH", target)
    messages.main()
    assert target.read_text() == SCHEMA_PATH.read_text()
    assert capsys.readouterr().out == f"wrote {target}\n"


def _message_of_size(size: int) -> JobMessage:
    """A message whose body is exactly ``size`` bytes. The model's own field limits keep a
    valid message far below the SQS limit, so the filler goes in through ``model_copy``,
    which skips validation: what a caller building a message by hand could hand to_body."""
    base = JobMessage.model_validate(
        {"version": 1, "kind": "txt2img", "params": {"prompt": "p"}, "client_ref": ""}
    )
    overhead = len(base.to_body().encode())
    return base.model_copy(update={"client_ref": "r" * (size - overhead)})


def test_body_size_limit_at_its_bounds() -> None:
    at_limit = _message_of_size(MAX_MESSAGE_BYTES)
    assert len(at_limit.to_body().encode()) == MAX_MESSAGE_BYTES
    one_over = _message_of_size(MAX_MESSAGE_BYTES + 1)
    with pytest.raises(ValueError, match=f"{MAX_MESSAGE_BYTES + 1} bytes exceeds the SQS limit"):
        one_over.to_body()
