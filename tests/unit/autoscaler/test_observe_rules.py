"""How the scaler reads one instance: the ASG's lifecycle refined by the worker's heartbeat
(autoscaler.observe.view_of, the rules the emulator tests and the simulator share)."""

from __future__ import annotations

import pytest

from autoscaler.observe import view_of
from autoscaler.policy import InstanceState, InstanceView
from sdfleet.heartbeats import WorkerState

IDLE_SINCE = 1_000.0
SECONDS_PER_JOB = 6.5


@pytest.mark.parametrize(
    ("lifecycle", "state", "expected"),
    [
        # Leaving, whatever the worker says: the ASG already took it out of service.
        ("Terminating", WorkerState.IDLE, InstanceState.LEAVING),
        ("Terminating:Wait", WorkerState.BUSY, InstanceState.LEAVING),
        ("Detaching", None, InstanceState.LEAVING),
        ("Standby", WorkerState.IDLE, InstanceState.LEAVING),
        ("EnteringStandby", WorkerState.IDLE, InstanceState.LEAVING),
        # Not in service yet, or in service and silent: capacity on its way.
        ("Pending", WorkerState.IDLE, InstanceState.PENDING),
        ("Pending:Wait", None, InstanceState.PENDING),
        ("InService", None, InstanceState.PENDING),
        ("InService", WorkerState.STARTING, InstanceState.PENDING),
        ("InService", WorkerState.IDLE, InstanceState.IDLE),
        ("InService", WorkerState.BUSY, InstanceState.BUSY),
        # A worker that is stopping, stopped or failed is no longer capacity.
        ("InService", WorkerState.DRAINING, InstanceState.LEAVING),
        ("InService", WorkerState.STOPPED, InstanceState.LEAVING),
        ("InService", WorkerState.FAILED, InstanceState.LEAVING),
    ],
)
def test_lifecycle_and_heartbeat_give_the_instance_state(
    lifecycle: str, state: WorkerState | None, expected: InstanceState
) -> None:
    for protected in (True, False):
        view = view_of("i-1", lifecycle, protected, state, IDLE_SINCE, SECONDS_PER_JOB)
        assert view.instance_id == "i-1"
        assert view.state is expected
        assert view.protected is protected


@pytest.mark.parametrize("state", [None, *WorkerState])
@pytest.mark.parametrize("lifecycle", ["Terminating", "Pending", "InService"])
def test_every_view_carries_the_instances_market(lifecycle: str, state: WorkerState | None) -> None:
    """Scale-in weighs the market of every instance, not only the idle ones (a spot removal
    waits for on-demand capacity, busy or pending included)."""
    for spot in (True, False):
        view = view_of("i-1", lifecycle, True, state, IDLE_SINCE, SECONDS_PER_JOB, spot)
        assert view.spot is spot


def test_only_an_idle_worker_carries_its_idle_time() -> None:
    """The idle time is what scale-in ranks by: a busy or starting worker has none, so it can
    never look like the longest idle."""
    idle = view_of("i-1", "InService", False, WorkerState.IDLE, IDLE_SINCE, SECONDS_PER_JOB)
    assert idle == InstanceView("i-1", InstanceState.IDLE, IDLE_SINCE, SECONDS_PER_JOB, False)
    busy = view_of("i-2", "InService", False, WorkerState.BUSY, IDLE_SINCE, SECONDS_PER_JOB)
    assert busy == InstanceView("i-2", InstanceState.BUSY, None, SECONDS_PER_JOB, False)
    starting = view_of("i-3", "InService", True, WorkerState.STARTING, IDLE_SINCE, 3.0)
    assert starting == InstanceView("i-3", InstanceState.PENDING, None, 3.0, True)
    draining = view_of("i-4", "InService", True, WorkerState.DRAINING, IDLE_SINCE, 3.0)
    assert draining == InstanceView("i-4", InstanceState.LEAVING, None, 3.0, True)
    silent = view_of("i-5", "InService", False, None, None, None)
    assert silent == InstanceView("i-5", InstanceState.PENDING, protected=False)
