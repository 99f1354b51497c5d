"""The boot deadline against the emulator: an instance whose worker never reports ready is
marked unhealthy by the scaler and replaced by the group; a ready one is left alone."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.boot_deadline import overdue
from autoscaler.handler import ScalerRun, publish_metrics
from sdfleet.heartbeats import HeartbeatStore, WorkerHeartbeat, WorkerState
from tests.conftest import FleetResources
from tests.integration.autoscaler.conftest import WorkerGroup
from tests.integration.autoscaler.test_handler import settings_for

pytestmark = pytest.mark.emulator

DEADLINE = 600.0


def _launch(group: WorkerGroup, count: int) -> list[str]:
    group.clients.autoscaling().set_desired_capacity(
        AutoScalingGroupName=group.name, DesiredCapacity=count
    )
    ids = group.instance_ids()
    assert len(ids) == count
    return ids


def _beat(
    fleet: FleetResources, instance_id: str, state: WorkerState, at: datetime, **extra: object
) -> None:
    HeartbeatStore(fleet.clients.dynamodb(), fleet.workers_table).put(
        WorkerHeartbeat(
            worker_id=f"w-{instance_id}",
            instance_id=instance_id,
            state=state,
            idle_since=at if state is WorkerState.IDLE else None,
            updated_at=at,
            **extra,
        )
    )


def _run_at(fleet: FleetResources, group: WorkerGroup, at: datetime, **overrides: object):
    values: dict[str, object] = {"boot_deadline_seconds": DEADLINE, "min_capacity": 2}
    values.update(overrides)
    settings = settings_for(fleet, group, **values)
    return ScalerRun(settings, fleet.clients, clock=lambda: at)()


def test_an_instance_with_no_heartbeat_past_the_deadline_is_replaced(
    fleet: FleetResources, worker_group: WorkerGroup, caplog: pytest.LogCaptureFixture
) -> None:
    ready, silent = _launch(worker_group, 2)
    late = datetime.now(UTC) + timedelta(seconds=DEADLINE + 5)
    _beat(fleet, ready, WorkerState.IDLE, late)

    with caplog.at_level(logging.ERROR):
        result = _run_at(fleet, worker_group, late)

    assert [o.instance_id for o in result.past_boot_deadline] == [silent]
    assert result.past_boot_deadline[0].worker_state is None
    after = worker_group.instance_ids()
    assert ready in after and silent not in after
    assert len(after) == 2  # the group launched a replacement
    assert worker_group.desired() == 2
    logged = [r for r in caplog.records if "past the boot deadline" in r.getMessage()]
    assert [r.instance_id for r in logged] == [silent]  # type: ignore[attr-defined]


def test_nothing_is_replaced_before_the_deadline(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    ids = _launch(worker_group, 2)
    early = datetime.now(UTC) + timedelta(seconds=DEADLINE - 60)
    result = _run_at(fleet, worker_group, early)
    assert result.past_boot_deadline == ()
    assert worker_group.instance_ids() == ids


def test_a_deadline_of_zero_never_replaces(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    ids = _launch(worker_group, 2)
    late = datetime.now(UTC) + timedelta(hours=5)
    settings = settings_for(fleet, worker_group, boot_deadline_seconds=0, min_capacity=2)
    result = ScalerRun(settings, fleet.clients, clock=lambda: late)()
    assert result.past_boot_deadline == ()
    assert worker_group.instance_ids() == ids


def test_a_worker_that_stopped_on_a_bad_setting_is_replaced_with_its_reason(
    fleet: FleetResources, worker_group: WorkerGroup, capfd: pytest.CaptureFixture[str]
) -> None:
    (instance,) = _launch(worker_group, 1)
    late = datetime.now(UTC) + timedelta(seconds=DEADLINE + 5)
    _beat(
        fleet,
        instance,
        WorkerState.FAILED,
        late - timedelta(seconds=DEADLINE - 30),
        stop_reason="max_batch_size: must be <= 64 (got 500)",
        exit_status=78,
    )
    result = _run_at(fleet, worker_group, late, min_capacity=1)

    (replaced,) = result.past_boot_deadline
    assert (replaced.instance_id, replaced.worker_state) == (instance, "failed")
    assert replaced.worker_error == "max_batch_size: must be <= 64 (got 500)"
    assert instance not in worker_group.instance_ids()
    assert result.as_dict()["past_boot_deadline"][0]["instance_id"] == instance

    capfd.readouterr()
    publish_metrics(result)
    from autoscaler.handler import metrics

    metrics.flush_metrics()
    emf = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf and emf[-1]["InstancesPastBootDeadline"] in (1.0, [1.0])


def test_the_rule_on_plain_values() -> None:
    launched = {"i-old": 0.0, "i-new": 500.0, "i-ready": 0.0}
    assert overdue(["i-old", "i-new", "i-ready"], launched, ["i-ready"], 600.0, 600.0) == ["i-old"]
    assert overdue(["i-old"], launched, [], 599.0, 600.0) == []
    assert overdue(["i-old"], launched, [], 10_000.0, 0.0) == []
    assert overdue(["i-unknown"], launched, [], 10_000.0, 600.0) == []
