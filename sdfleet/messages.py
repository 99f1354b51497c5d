"""The SQS job message, version 1.

A message may carry a ``job_id`` (the ingest API wrote the record first) or not (a batch
submitter pushed it straight onto SQS; the worker creates the record). The owner is never in
the body: it comes from the record, or from the SQS ``SenderId`` through the tenant map.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from sdfleet.job_kinds import AnyParams, params_match_kind
from sdfleet.requests import JobKind
from sdfleet.webhook_urls import WebhookUrl

MESSAGE_VERSION: Final = 1
#: SQS's hard limit is 256 KiB; queues are created with this size and bodies are checked.
MAX_MESSAGE_BYTES: Final = 262_144
JOB_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
#: Batch messages carry no job id: the record's id is derived from the SQS MessageId.
BATCH_JOB_PREFIX: Final = "b-"
SCHEMA_PATH: Final = Path(__file__).parent / "schemas" / "job-message-v1.schema.json"
SCHEMA_ID: Final = "https://sdfleet.dev/schemas/job-message-v1.schema.json"


class Lane(StrEnum):
    """The queues jobs travel in; workers drain them in this order."""

    INTERACTIVE = "interactive"
    #: LoRA trainings from the API: minutes each, so they never hold up a web job.
    TRAINING = "training"
    BATCH = "batch"

    @property
    def ingest_only(self) -> bool:
        """Only the ingest API's role sends here; its messages name records it created."""
        return self is not Lane.BATCH


def _params_rule(params_schema: dict[str, JsonValue]) -> dict[str, JsonValue]:
    return {"properties": {"params": params_schema}}


def kind_rules() -> list[JsonValue]:
    """:func:`params_match_kind` as JSON Schema, so a schema validator refuses what the model
    refuses: img2img needs ``input_key``; txt2img takes neither ``input_key`` nor ``strength``."""
    return [
        {
            "if": {"properties": {"kind": {"const": JobKind.IMG2IMG.value}}, "required": ["kind"]},
            "then": _params_rule(
                {"required": ["input_key"], "properties": {"input_key": {"type": "string"}}}
            ),
        },
        {
            "if": {"properties": {"kind": {"const": JobKind.TXT2IMG.value}}, "required": ["kind"]},
            "then": _params_rule(
                {"properties": {"input_key": {"type": "null"}, "strength": {"type": "null"}}}
            ),
        },
        {
            "if": {"properties": {"kind": {"const": JobKind.TRAIN.value}}, "required": ["kind"]},
            "then": _params_rule({"required": ["instance_images", "instance_prompt"]}),
        },
    ]


def _schema_extra(schema: dict[str, JsonValue]) -> None:
    """Added to the generated schema: its id and the kind rules."""
    schema["$id"] = SCHEMA_ID
    schema["allOf"] = kind_rules()


class JobMessage(BaseModel):
    """SQS job message v1."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="sdfleet job message v1",
        # A function, run when the schema is generated (not at import), so the rules are
        # built where a test can see them.
        json_schema_extra=_schema_extra,
    )

    version: Literal[1] = Field(description="Message format version; always 1.")
    kind: JobKind
    params: AnyParams
    job_id: str | None = Field(
        default=None,
        pattern=JOB_ID_PATTERN,
        description="Set when the ingest API created the record; batch messages may omit it.",
    )
    lane: Lane | None = Field(default=None, description="The lane it was sent to (informational).")
    submitted_at: datetime | None = Field(default=None, description="When the client sent it.")
    client_ref: str | None = Field(
        default=None,
        max_length=256,
        description="Free text the submitter uses to match results (e.g. a line number).",
    )
    webhook_url: WebhookUrl | None = None

    @model_validator(mode="after")
    def _kind_rules(self) -> JobMessage:
        params_match_kind(self.kind, self.params)
        return self

    def to_body(self) -> str:
        body = self.model_dump_json(exclude_none=True)
        if len(body.encode()) > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"message: {len(body.encode())} bytes exceeds the SQS limit of {MAX_MESSAGE_BYTES}"
            )
        return body

    @classmethod
    def from_body(cls, body: str) -> JobMessage:
        return cls.model_validate_json(body)


def batch_job_id(message_id: str) -> str:
    """``b-<MessageId>``: the same for every delivery of one message (MessageIds are UUIDs,
    so this fits the job id pattern); batch submitters read their jobs by it."""
    return f"{BATCH_JOB_PREFIX}{message_id}"


def message_json_schema() -> dict[str, Any]:
    return JobMessage.model_json_schema(mode="validation")


def render_message_schema() -> str:
    return json.dumps(message_json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    """``python -m sdfleet.messages``: regenerate the committed JSON Schema."""
    SCHEMA_PATH.write_text(render_message_schema())
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main()
