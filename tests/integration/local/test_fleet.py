"""The worker fleet follows the emulated ASG: one process per instance, SIGTERM on scale-in."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdfleet.aws import AwsClients
from sdfleet_cli.local.fleet import WorkerFleet
from tests.support.aws_resources import unique
from tests.support.polling import wait_until

pytestmark = pytest.mark.emulator

# Plays a worker: records its instance id, drains on SIGTERM (exit 0), or crashes on demand.
PLAY_WORKER = r"""
import os, pathlib, signal, sys, time
iid = os.environ["SDFLEET_INSTANCE_ID"]
out = pathlib.Path(sys.argv[1])
(out / f"{iid}.{os.getpid()}.started").write_text(os.environ["SDFLEET_WORKER_ID"])
def drain(signum, frame):
    (out / f"{iid}.{os.getpid()}.drained").write_text("")
    sys.exit(0)
signal.signal(signal.SIGTERM, drain)
while True:
    if (out / f"{iid}.crash").exists():
        (out / f"{iid}.crash").unlink()
        sys.exit(3)
    time.sleep(0.05)
"""


@pytest.fixture()
def asg(aws: AwsClients) -> str:
    ec2 = aws.client("ec2")
    template = unique("lt")
    ec2.create_launch_template(
        LaunchTemplateName=template,
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "g5.xlarge"},
    )
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    name = unique("asg")
    aws.autoscaling().create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateName": template},
        VPCZoneIdentifier=subnet,
    )
    return name


@pytest.fixture()
def fleet_manager(aws: AwsClients, asg: str, tmp_path: Path) -> Iterator[WorkerFleet]:
    manager = WorkerFleet(
        aws.autoscaling(),
        asg,
        {"PATH": "/usr/bin:/bin"},
        tmp_path / "logs",
        command=[sys.executable, "-c", PLAY_WORKER, str(tmp_path)],
        drain_timeout=10,
        restart_delay=0.2,
    )
    yield manager
    manager.stop(timeout=10)
    assert manager.running_workers() == {}


def settle(manager: WorkerFleet, predicate, timeout: float = 15) -> None:
    def reconciled() -> bool:
        manager.reconcile()
        return bool(predicate())

    wait_until(reconciled, timeout, lambda: f"the fleet to settle: {manager.running_workers()}")


def test_workers_follow_scale_out_scale_in_and_zero(
    aws: AwsClients, asg: str, fleet_manager: WorkerFleet, tmp_path: Path
) -> None:
    autoscaling = aws.autoscaling()
    settle(fleet_manager, lambda: fleet_manager.running_workers() == {})
    autoscaling.set_desired_capacity(AutoScalingGroupName=asg, DesiredCapacity=2)
    instances = fleet_manager.instances()
    assert len(instances) == 2
    settle(fleet_manager, lambda: set(fleet_manager.running_workers()) == instances)
    settle(fleet_manager, lambda: len(list(tmp_path.glob("*.started"))) == 2)
    for started in tmp_path.glob("*.started"):
        assert started.read_text() == started.name.split(".")[0]  # worker id = instance id

    victim = sorted(instances)[0]
    autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=victim, ShouldDecrementDesiredCapacity=True
    )
    settle(fleet_manager, lambda: set(fleet_manager.running_workers()) == instances - {victim})
    assert list(tmp_path.glob(f"{victim}.*.drained")), "the scaled-in worker was not SIGTERMed"

    autoscaling.set_desired_capacity(AutoScalingGroupName=asg, DesiredCapacity=0)
    settle(fleet_manager, lambda: fleet_manager.running_workers() == {})
    assert len(list(tmp_path.glob("*.drained"))) == 2
    counts = [count for _, count in fleet_manager.history]
    assert counts[0] == 0 and max(counts) == 2 and counts[-1] == 0


def test_a_crashed_worker_is_restarted_while_its_instance_is_in_service(
    aws: AwsClients, asg: str, fleet_manager: WorkerFleet, tmp_path: Path
) -> None:
    aws.autoscaling().set_desired_capacity(AutoScalingGroupName=asg, DesiredCapacity=1)
    (instance,) = fleet_manager.instances()
    settle(fleet_manager, lambda: instance in fleet_manager.running_workers())
    first_pid = fleet_manager.running_workers()[instance]
    (tmp_path / f"{instance}.crash").write_text("")
    settle(
        fleet_manager,
        lambda: fleet_manager.running_workers().get(instance) not in (None, first_pid),
    )
    settle(fleet_manager, lambda: len(list(tmp_path.glob(f"{instance}.*.started"))) == 2)
