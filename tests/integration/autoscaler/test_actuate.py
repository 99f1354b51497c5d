"""The actuator against the emulator's Auto Scaling group: what each decision does to the group,
and what it asks of AWS (the request parameters, read from the real client's event hooks)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

from autoscaler.actuate import ActuationError, GroupActuator
from autoscaler.observe import MEMORY_TAG, GroupSnapshot
from autoscaler.policy import Decision, Memory
from sdfleet.aws import AwsClients
from tests.conftest import free_port
from tests.integration.autoscaler.conftest import WorkerGroup, new_worker_group

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient


class Recorded:
    """The parameters of every call the actuator's client makes, by operation name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def changes(self) -> list[str]:
        """The operations that change something (not the reads)."""
        return [name for name, _ in self.calls if not name.startswith("Describe")]

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]


@pytest.fixture()
def worker_group(aws: AwsClients) -> WorkerGroup:
    """The group alone (no queues, tables or bucket: the actuator touches only the group)."""
    return new_worker_group(aws)


@pytest.fixture()
def recorded(worker_group: WorkerGroup) -> Iterator[tuple[GroupActuator, Recorded]]:
    client = worker_group.clients.autoscaling()
    recorder = Recorded()
    client.meta.events.register("provide-client-params.autoscaling.*", recorder)
    yield GroupActuator(client), recorder


def snapshot(group: WorkerGroup, **changes: Any) -> GroupSnapshot:
    described = group.describe()
    instances = described["Instances"]
    fields: dict[str, Any] = {
        "name": group.name,
        "desired": int(described["DesiredCapacity"]),
        "min_size": int(described["MinSize"]),
        "max_size": int(described["MaxSize"]),
        "lifecycle": {i["InstanceId"]: i["LifecycleState"] for i in instances},
        "protected": {i["InstanceId"]: bool(i["ProtectedFromScaleIn"]) for i in instances},
        "memory": Memory(),
    }
    return GroupSnapshot(**(fields | changes))


def decision(desired: int, terminate: tuple[str, ...] = ()) -> Decision:
    return Decision(
        desired, terminate, need=desired, seconds_per_job=6.0, reason="test", memory=Memory()
    )


def grow(group: WorkerGroup, size: int) -> list[str]:
    group.clients.autoscaling().set_desired_capacity(
        AutoScalingGroupName=group.name, DesiredCapacity=size
    )
    return group.instance_ids()


def test_scale_out_sets_the_desired_capacity_at_once(
    worker_group: WorkerGroup, recorded: tuple[GroupActuator, Recorded]
) -> None:
    actuator, calls = recorded
    applied = actuator.apply(decision(3), snapshot(worker_group))
    assert (applied.desired_capacity, applied.launched, applied.terminated) == (3, 3, [])
    assert worker_group.desired() == 3 and len(worker_group.instance_ids()) == 3
    # Not held back by a cooldown: a backlog is served now.
    assert calls.of("SetDesiredCapacity") == [
        {"AutoScalingGroupName": worker_group.name, "DesiredCapacity": 3, "HonorCooldown": False}
    ]


def test_scale_out_stops_at_the_groups_max_size(
    worker_group: WorkerGroup, recorded: tuple[GroupActuator, Recorded]
) -> None:
    actuator, _ = recorded
    applied = actuator.apply(decision(10), snapshot(worker_group))
    assert (applied.desired_capacity, applied.launched) == (6, 6)
    assert worker_group.desired() == 6


def test_the_same_capacity_changes_nothing(
    worker_group: WorkerGroup, recorded: tuple[GroupActuator, Recorded]
) -> None:
    grow(worker_group, 2)
    actuator, calls = recorded
    before = snapshot(worker_group)
    calls.calls.clear()
    applied = actuator.apply(decision(2), before)
    assert (applied.desired_capacity, applied.launched, applied.terminated) == (2, 0, [])
    assert calls.changes() == []


def test_scale_in_terminates_the_chosen_instance_and_lowers_the_desired_capacity(
    worker_group: WorkerGroup, recorded: tuple[GroupActuator, Recorded]
) -> None:
    first, second, third = grow(worker_group, 3)
    actuator, calls = recorded
    applied = actuator.apply(decision(2, (second,)), snapshot(worker_group))
    assert applied.terminated == [second] and applied.skipped == []
    assert (applied.desired_capacity, applied.launched) == (2, 0)
    # Decremented, not replaced: the group keeps the two others and launches none.
    assert worker_group.instance_ids() == sorted([first, third])
    assert worker_group.desired() == 2
    # Instances launch protected: the protection is lifted from that one instance only.
    assert calls.of("SetInstanceProtection") == [
        {
            "AutoScalingGroupName": worker_group.name,
            "InstanceIds": [second],
            "ProtectedFromScaleIn": False,
        }
    ]
    assert calls.of("TerminateInstanceInAutoScalingGroup") == [
        {"InstanceId": second, "ShouldDecrementDesiredCapacity": True}
    ]


def test_an_unprotected_instance_is_terminated_without_touching_protection(
    worker_group: WorkerGroup, recorded: tuple[GroupActuator, Recorded]
) -> None:
    first, second = grow(worker_group, 2)
    actuator, calls = recorded
    unprotected = snapshot(worker_group, protected={first: True})
    applied = actuator.apply(decision(1, (second,)), unprotected)
    assert applied.terminated == [second]
    assert calls.of("SetInstanceProtection") == []
    assert worker_group.instance_ids() == [first]


def test_an_instance_the_group_does_not_list_is_skipped(
    worker_group: WorkerGroup, recorded: tuple[GroupActuator, Recorded]
) -> None:
    (only,) = grow(worker_group, 1)
    actuator, calls = recorded
    before = snapshot(worker_group)
    calls.calls.clear()
    applied = actuator.apply(decision(0, ("i-not-in-the-group",)), before)
    assert applied.skipped == ["i-not-in-the-group"] and applied.terminated == []
    assert applied.desired_capacity == 1
    assert calls.changes() == [] and worker_group.instance_ids() == [only]


def test_terminations_stop_at_the_min_size_one_by_one(
    worker_group: WorkerGroup, recorded: tuple[GroupActuator, Recorded]
) -> None:
    ids = grow(worker_group, 3)
    actuator, _ = recorded
    applied = actuator.apply(decision(0, tuple(ids)), snapshot(worker_group, min_size=1))
    assert applied.terminated == ids[:2] and applied.skipped == ids[2:]
    assert applied.desired_capacity == 1
    assert worker_group.instance_ids() == ids[2:]


def test_scale_in_and_out_in_one_decision_count_from_the_lowered_capacity(
    worker_group: WorkerGroup, recorded: tuple[GroupActuator, Recorded]
) -> None:
    """A decision that replaces one instance: terminate it (desired 2 -> 1), then ask for 2."""
    first, second = grow(worker_group, 2)
    actuator, _ = recorded
    applied = actuator.apply(decision(2, (first,)), snapshot(worker_group))
    assert applied.terminated == [first] and applied.launched == 1
    assert applied.desired_capacity == 2 and worker_group.desired() == 2
    assert first not in worker_group.instance_ids() and second in worker_group.instance_ids()


def unreachable_autoscaling() -> AutoScalingClient:
    """A client whose endpoint answers nothing: AWS out of reach (a BotoCoreError)."""
    return boto3.client(
        "autoscaling",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )


def test_aws_out_of_reach_names_the_group() -> None:
    actuator = GroupActuator(unreachable_autoscaling())
    out_of_reach = GroupSnapshot("workers-x", 1, 0, 6, {"i-1": "InService"}, {}, Memory())
    with pytest.raises(ActuationError, match="auto scaling group 'workers-x' refused a change"):
        actuator.apply(decision(0, ("i-1",)), out_of_reach)
    with pytest.raises(ActuationError, match="cannot tag auto scaling group 'workers-x'"):
        actuator.save_memory("workers-x", Memory(last_seen=1.0))


def test_memory_is_saved_as_a_tag_the_instances_do_not_inherit(
    worker_group: WorkerGroup, recorded: tuple[GroupActuator, Recorded]
) -> None:
    actuator, calls = recorded
    memory = Memory(last_work_at=1.0, last_seen=2.0, typical_gap=3.0, peaks=((0.0, 1),) * 80)
    assert len(memory.to_compact()) > 256
    actuator.save_memory(worker_group.name, memory)
    tags = {t["Key"]: t for t in worker_group.describe()["Tags"]}
    assert tags[MEMORY_TAG]["Value"] == memory.to_compact()[:256]
    assert tags[MEMORY_TAG]["PropagateAtLaunch"] is False
    assert calls.of("CreateOrUpdateTags")[0]["Tags"][0]["ResourceType"] == "auto-scaling-group"


def test_a_skipped_instance_does_not_stop_the_ones_after_it(
    worker_group: WorkerGroup, recorded: tuple[GroupActuator, Recorded]
) -> None:
    first, second = grow(worker_group, 2)
    actuator, _ = recorded
    applied = actuator.apply(decision(1, ("i-gone-already", second)), snapshot(worker_group))
    assert applied.skipped == ["i-gone-already"] and applied.terminated == [second]
    assert worker_group.instance_ids() == [first] and worker_group.desired() == 1
