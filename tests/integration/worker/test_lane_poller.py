"""The lane poller against the emulator: what a received message carries, how many messages a
receive asks for and takes (per lane), each lane's visibility, and the long poll's lane.

The request parameters are read from the real client's events (no stopwatch, no fake SQS)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from sdfleet.messages import Lane
from tests.conftest import FleetResources
from worker.lanes import LanePoller

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.emulator


def lanes_of(fleet: FleetResources) -> list[tuple[Lane, str]]:
    return [
        (Lane.INTERACTIVE, fleet.queues.interactive_url),
        (Lane.TRAINING, fleet.queues.training_url),
        (Lane.BATCH, fleet.queues.batch_url),
    ]


def poller(
    fleet: FleetResources,
    *,
    max_messages: int = 4,
    wait: int = 0,
    lane_visibility: dict[Lane, int] | None = None,
) -> tuple[LanePoller, list[dict[str, Any]]]:
    """A poller on all three lanes, and the parameters of each receive it makes."""
    sqs = fleet.clients.sqs()
    receives = record_receives(sqs)
    return LanePoller(
        sqs,
        lanes_of(fleet),
        wait_time_seconds=wait,
        max_messages=max_messages,
        visibility_timeout_seconds=10,
        lane_visibility=lane_visibility,
    ), receives


def fill(fleet: FleetResources, url: str, count: int) -> None:
    sqs = fleet.clients.sqs()
    for i in range(count):
        sqs.send_message(QueueUrl=url, MessageBody=f"job-{i}")


def record_receives(sqs: SQSClient) -> list[dict[str, Any]]:
    """The parameters of every ReceiveMessage call made through ``sqs`` from now on."""
    receives: list[dict[str, Any]] = []
    sqs.meta.events.register(
        "provide-client-params.sqs.ReceiveMessage",
        lambda params, **_: receives.append(dict(params)),
    )
    return receives


def test_a_poller_needs_a_lane(fleet: FleetResources) -> None:
    with pytest.raises(ValueError) as refused:
        LanePoller(
            fleet.clients.sqs(),
            [],
            wait_time_seconds=0,
            max_messages=1,
            visibility_timeout_seconds=10,
        )
    assert str(refused.value) == "lanes: at least one (lane, queue URL) is required"


def test_a_received_message_carries_what_sqs_says_about_it(fleet: FleetResources) -> None:
    sqs = fleet.clients.sqs()
    url = fleet.queues.interactive_url
    before_ms = int(time.time() * 1000) - 1000
    grouped = sqs.send_message(QueueUrl=url, MessageBody="web", MessageGroupId="owner-key")
    plain = sqs.send_message(QueueUrl=url, MessageBody="batchlike")
    after_ms = int(time.time() * 1000) + 1000
    received = {m.body: m for m in poller(fleet)[0].poll(long_poll=False)}
    assert set(received) == {"web", "batchlike"}
    web, other = received["web"], received["batchlike"]
    assert web.lane is Lane.INTERACTIVE and web.queue_url == url
    assert web.message_id == grouped["MessageId"] and other.message_id == plain["MessageId"]
    assert web.message_id != other.message_id and web.receipt_handle
    # The fairness key is the group id the sender set; a message without one has none.
    assert (web.group_id, other.group_id) == ("owner-key", None)
    assert web.receive_count == 1 and web.sender_id
    assert web.sent_timestamp_ms is not None and before_ms <= web.sent_timestamp_ms <= after_ms


def test_a_redelivered_message_counts_its_receives(fleet: FleetResources) -> None:
    """The retry policy reads ``receive_count``: the second delivery is counted as such."""
    sqs = fleet.clients.sqs()
    fill(fleet, fleet.queues.batch_url, 1)
    lanes, _ = poller(fleet)
    [first] = lanes.poll(long_poll=False)
    sqs.change_message_visibility(
        QueueUrl=first.queue_url, ReceiptHandle=first.receipt_handle, VisibilityTimeout=0
    )
    [second] = lanes.poll(long_poll=False)
    assert second.message_id == first.message_id
    assert (first.receive_count, second.receive_count) == (1, 2)


@pytest.mark.parametrize(("max_messages", "taken"), [(0, 1), (1, 1), (3, 3), (50, 10)])
def test_a_poll_takes_up_to_max_messages_within_sqs_limits(
    fleet: FleetResources, max_messages: int, taken: int
) -> None:
    fill(fleet, fleet.queues.batch_url, 12)
    lanes, receives = poller(fleet, max_messages=max_messages)
    assert lanes.max_messages == taken
    messages = lanes.poll(long_poll=False)
    assert 1 <= len(messages) <= taken
    assert [r["MaxNumberOfMessages"] for r in receives][-1] == taken


@pytest.mark.parametrize(("limit", "taken"), [(0, 1), (1, 1), (2, 2), (9, 4)])
def test_a_poll_with_a_limit_takes_at_most_the_limit_and_max_messages(
    fleet: FleetResources, limit: int, taken: int
) -> None:
    fill(fleet, fleet.queues.batch_url, 6)
    lanes, receives = poller(fleet, max_messages=4)
    messages = lanes.poll(long_poll=False, limit=limit)
    assert 1 <= len(messages) <= taken
    # The training lane, tried between them, takes one at a time whatever the limit.
    assert [r["MaxNumberOfMessages"] for r in receives] == [taken, 1, taken]


@pytest.mark.parametrize(("limit", "taken"), [(0, 1), (1, 1), (5, 5), (30, 10)])
def test_one_receive_on_a_lane_is_capped_at_sqs_limits(
    fleet: FleetResources, limit: int, taken: int
) -> None:
    fill(fleet, fleet.queues.batch_url, 12)
    lanes, receives = poller(fleet)
    messages = lanes.receive(Lane.BATCH, fleet.queues.batch_url, 0, limit)
    assert 1 <= len(messages) <= taken and {m.lane for m in messages} == {Lane.BATCH}
    assert [r["MaxNumberOfMessages"] for r in receives] == [taken]


def test_trainings_are_received_one_at_a_time_with_their_own_visibility(
    fleet: FleetResources,
) -> None:
    fill(fleet, fleet.queues.training_url, 3)
    fill(fleet, fleet.queues.batch_url, 5)
    lanes, receives = poller(fleet, max_messages=4, lane_visibility={Lane.TRAINING: 900})
    for _ in range(3):
        [training] = lanes.poll(long_poll=False)
        assert training.lane is Lane.TRAINING
    asked = [(r["QueueUrl"], r["MaxNumberOfMessages"], r["VisibilityTimeout"]) for r in receives]
    assert asked == 3 * [
        (fleet.queues.interactive_url, 4, 10),
        (fleet.queues.training_url, 1, 900),
    ]
    # With the trainings taken (hidden for their 900 s), the batch lane's turn: 4 at a time.
    receives.clear()
    batch = lanes.poll(long_poll=False)
    assert {m.lane for m in batch} == {Lane.BATCH} and len(batch) == 4
    assert (receives[-1]["MaxNumberOfMessages"], receives[-1]["VisibilityTimeout"]) == (4, 10)


def test_the_long_poll_returns_interactive_messages_as_such(fleet: FleetResources) -> None:
    """A web job sent while the idle worker long-polls comes back from the interactive lane."""
    sqs = fleet.clients.sqs()
    receives = record_receives(sqs)
    lanes = LanePoller(
        sqs, lanes_of(fleet), wait_time_seconds=1, max_messages=4, visibility_timeout_seconds=10
    )

    def send_before_the_long_poll(params: dict[str, Any], **_: Any) -> None:
        if params.get("WaitTimeSeconds", 0) > 0:
            fleet.clients.sqs().send_message(
                QueueUrl=fleet.queues.interactive_url, MessageBody="web"
            )

    sqs.meta.events.register("provide-client-params.sqs.ReceiveMessage", send_before_the_long_poll)
    [web] = lanes.poll()
    assert (web.lane, web.queue_url, web.body) == (
        Lane.INTERACTIVE,
        fleet.queues.interactive_url,
        "web",
    )
    assert [(r["QueueUrl"], r["WaitTimeSeconds"]) for r in receives] == [
        (fleet.queues.interactive_url, 0),
        (fleet.queues.training_url, 0),
        (fleet.queues.batch_url, 0),
        (fleet.queues.interactive_url, 1),
    ]
