"""The observer reads each instance's market from DescribeInstances (the emulator's EC2 and
ASG), and the scaler then removes the idle on-demand worker before the idle spot one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from autoscaler.handler import ScalerRun
from autoscaler.observe import FleetObserver
from sdfleet.heartbeats import HeartbeatStore, WorkerState
from sdfleet.messages import Lane
from tests.conftest import FleetResources
from tests.integration.autoscaler.conftest import WorkerGroup
from tests.integration.autoscaler.test_handler import beat, settings_for

pytestmark = pytest.mark.emulator


def attach(group: WorkerGroup, spot: bool) -> str:
    """One instance of either market, attached to the group (as its mixed-instances
    policy would have launched it), protected from scale-in as ours launch."""
    ec2 = group.clients.client("ec2")
    market = {"InstanceMarketOptions": {"MarketType": "spot"}} if spot else {}
    instance_id = ec2.run_instances(
        ImageId="ami-12c6146b",
        InstanceType="g5.xlarge",
        MinCount=1,
        MaxCount=1,
        Placement={"AvailabilityZone": "us-east-1a"},
        **market,
    )["Instances"][0]["InstanceId"]
    autoscaling = group.clients.autoscaling()
    autoscaling.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName=group.name)
    autoscaling.set_instance_protection(
        InstanceIds=[instance_id], AutoScalingGroupName=group.name, ProtectedFromScaleIn=True
    )
    return instance_id


def observer(fleet: FleetResources, group: WorkerGroup, with_ec2: bool = True) -> FleetObserver:
    clients = fleet.clients
    return FleetObserver(
        clients.sqs(),
        clients.autoscaling(),
        HeartbeatStore(clients.dynamodb(), fleet.workers_table),
        {Lane.INTERACTIVE: fleet.queues.interactive_url, Lane.BATCH: fleet.queues.batch_url},
        group.name,
        clients.client("ec2") if with_ec2 else None,
    )


def test_the_observation_carries_each_instances_market(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    spot = attach(worker_group, spot=True)
    on_demand = attach(worker_group, spot=False)
    observation, _ = observer(fleet, worker_group).observe(datetime.now(UTC))
    markets = {view.instance_id: view.spot for view in observation.instances}
    assert markets == {spot: True, on_demand: False}


def test_the_markets_of_a_group_are_read_in_one_describe_call(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    """Up to 100 ids a DescribeInstances call: a group's markets cost one call, not one each
    (EC2's request rate is limited per account)."""
    ids = [attach(worker_group, spot=bool(i % 2)) for i in range(3)]
    watcher = observer(fleet, worker_group)
    calls: list[dict[str, Any]] = []
    watcher._ec2.meta.events.register(
        "before-call.ec2.DescribeInstances", lambda params, **_: calls.append(params)
    )
    assert watcher.markets(ids) == {ids[0]: False, ids[1]: True, ids[2]: False}
    assert len(calls) == 1


def test_without_an_ec2_client_the_markets_are_unknown(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    spot = attach(worker_group, spot=True)
    observation, _ = observer(fleet, worker_group, with_ec2=False).observe(datetime.now(UTC))
    assert [(v.instance_id, v.spot) for v in observation.instances] == [(spot, None)]


def test_a_describe_failure_leaves_the_markets_unknown_and_is_recorded(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    found = observer(fleet, worker_group)
    assert found.markets(["i-0123456789abcdef0"]) == {}
    assert found.market_errors and "i-0123456789abcdef0" in found.market_errors[0]


def test_the_scaler_removes_the_idle_on_demand_worker_first(
    fleet: FleetResources, worker_group: WorkerGroup
) -> None:
    # The on-demand worker is the more recently idle one: without its market, the scaler
    # would remove the spot worker (longest idle first).
    spot = attach(worker_group, spot=True)
    on_demand = attach(worker_group, spot=False)
    beat(fleet, spot, WorkerState.IDLE, idle_for=100)
    beat(fleet, on_demand, WorkerState.IDLE, idle_for=80)
    settings = settings_for(fleet, worker_group, idle_seconds_before_scale_in=0, min_capacity=1)
    result = ScalerRun(settings, fleet.clients)()
    assert result.terminated == [on_demand]
    assert spot in worker_group.instance_ids()
