"""``sdfleet dlq show`` / ``redrive`` against the emulator: inspecting moves nothing; a
redrive sends batch dead letters through the lane again and deletes them only once sent."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from sdfleet.errors import ConfigurationError
from sdfleet_cli.cli import EXIT_FAILED, EXIT_OK, main
from sdfleet_cli.dlq import DeadLetterQueue
from tests.conftest import FleetResources

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

pytestmark = pytest.mark.emulator

BODY = json.dumps({"version": 1, "kind": "txt2img", "params": {"prompt": "a fox"}, "lane": "batch"})


def dead_letter(fleet: FleetResources, body: str, reason: str | None = None) -> str:
    attributes: dict[str, MessageAttributeValueTypeDef] = (
        {
            "sdfleet-error-code": {"DataType": "String", "StringValue": reason},
            "sdfleet-error": {"DataType": "String", "StringValue": f"{reason}: detail"},
            "sdfleet-sender-id": {"DataType": "String", "StringValue": "AROAEXAMPLE"},
        }
        if reason
        else {}
    )
    sent = fleet.clients.sqs().send_message(
        QueueUrl=fleet.queues.batch_dlq_url, MessageBody=body, MessageAttributes=attributes
    )
    return str(sent["MessageId"])


def batch_dlq(fleet: FleetResources) -> DeadLetterQueue:
    return DeadLetterQueue(
        fleet.clients.sqs(), fleet.queues.batch_dlq_url, fleet.queues.batch_url, "batch"
    )


def visible(fleet: FleetResources, url: str) -> int:
    attributes = fleet.clients.sqs().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_show_lists_reasons_and_leaves_every_message_visible(fleet: FleetResources) -> None:
    refused = dead_letter(fleet, BODY, reason="unknown_sender")
    exhausted = dead_letter(fleet, BODY)
    letters = {letter.message_id: letter for letter in batch_dlq(fleet).show(limit=10)}
    assert set(letters) == {refused, exhausted}
    assert letters[refused].error_code == "unknown_sender"
    assert letters[refused].original_sender_id == "AROAEXAMPLE"
    assert letters[exhausted].error_code == ""
    assert letters[exhausted].body == BODY
    assert visible(fleet, fleet.queues.batch_dlq_url) == 2  # nothing moved or hidden


def test_redrive_sends_the_bodies_to_the_lane_and_empties_the_dlq(fleet: FleetResources) -> None:
    first = dead_letter(fleet, BODY, reason="unknown_sender")
    second = dead_letter(fleet, BODY.replace("a fox", "a hare"))
    moved = batch_dlq(fleet).redrive(limit=10)
    assert {item.old_message_id for item in moved} == {first, second}
    assert visible(fleet, fleet.queues.batch_dlq_url) == 0
    received = fleet.clients.sqs().receive_message(
        QueueUrl=fleet.queues.batch_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert sorted(m["Body"] for m in received) == sorted([BODY, BODY.replace("a fox", "a hare")])
    # The worker's dead-letter reasons stay behind: the copy is a fresh submission.
    assert all("sdfleet-error-code" not in m.get("MessageAttributes", {}) for m in received)
    assert {item.job_id for item in moved} == {f"b-{m['MessageId']}" for m in received}


def test_redrive_stops_at_the_limit(fleet: FleetResources) -> None:
    for _ in range(3):
        dead_letter(fleet, BODY)
    assert len(batch_dlq(fleet).redrive(limit=2)) == 2
    assert visible(fleet, fleet.queues.batch_dlq_url) == 1


def test_the_interactive_lane_is_never_redriven(fleet: FleetResources) -> None:
    dlq = DeadLetterQueue(
        fleet.clients.sqs(),
        fleet.queues.interactive_dlq_url,
        fleet.queues.interactive_url,
        "interactive",
    )
    with pytest.raises(ConfigurationError, match="honours only the ingest API's role"):
        dlq.redrive(limit=10)


def test_the_commands_work_on_the_aws_settings(
    fleet: FleetResources, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in fleet.env().items():
        monkeypatch.setenv(name, value)
    message_id = dead_letter(fleet, BODY, reason="invalid_input")
    assert main(["dlq", "show", "--aws", "--json"]) == EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    assert [(m["message_id"], m["error_code"]) for m in shown] == [(message_id, "invalid_input")]
    assert main(["dlq", "redrive", "--aws", "--lane", "interactive"]) == EXIT_FAILED
    assert main(["dlq", "redrive", "--aws"]) == EXIT_OK
    assert f"{message_id} -> " in capsys.readouterr().out
    assert visible(fleet, fleet.queues.batch_dlq_url) == 0
