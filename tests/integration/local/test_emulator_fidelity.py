"""Where moto differs from AWS in ways our stack depends on, the emulator behaves as AWS."""

from __future__ import annotations

import json

import pytest

from sdfleet.aws import AwsClients

pytestmark = pytest.mark.emulator


def test_set_queue_attributes_leaves_the_policy_it_does_not_name(aws: AwsClients) -> None:
    # Terraform sets a lane's queue policy and its redrive policy as separate writes in either
    # order; a policy lost to the second write hangs `terraform apply` (see sdfleet_cli/emulator).
    sqs = aws.sqs()
    queue = sqs.create_queue(QueueName="fidelity-policy")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="fidelity-policy-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": "*"}],
        }
    )
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": policy})
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"RedrivePolicy": redrive})

    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["Policy"]) == json.loads(policy)
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == dlq_arn

    # Naming the policy still replaces it, and an empty one removes it.
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": ""})
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert "Policy" not in attributes
