"""An Auto Scaling group (launch template + group) in the emulator, beside the fleet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from sdfleet.aws import AwsClients
from tests.conftest import FleetResources
from tests.support.aws_resources import unique

if TYPE_CHECKING:
    from mypy_boto3_autoscaling.type_defs import AutoScalingGroupTypeDef


@dataclass(frozen=True)
class WorkerGroup:
    clients: AwsClients
    name: str

    def describe(self) -> AutoScalingGroupTypeDef:
        return self.clients.autoscaling().describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.name]
        )["AutoScalingGroups"][0]

    def instance_ids(self) -> list[str]:
        return sorted(i["InstanceId"] for i in self.describe()["Instances"])

    def desired(self) -> int:
        return int(self.describe()["DesiredCapacity"])


@pytest.fixture()
def worker_group(fleet: FleetResources) -> WorkerGroup:
    return new_worker_group(fleet.clients)


def new_worker_group(clients: AwsClients) -> WorkerGroup:
    """An empty group (MinSize 0, MaxSize 6) whose instances launch protected from scale-in."""
    name = unique("workers")
    ec2 = clients.client("ec2")
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "g5.xlarge"},
    )["LaunchTemplate"]
    clients.autoscaling().create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=0,
        MaxSize=6,
        DesiredCapacity=0,
        AvailabilityZones=["us-east-1a"],
        NewInstancesProtectedFromScaleIn=True,
    )
    return WorkerGroup(clients, name)
