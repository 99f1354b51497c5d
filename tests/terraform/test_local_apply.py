"""Applies environments/local.tfvars against the emulator and checks what AWS really holds."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from sdfleet import env
from sdfleet.aws import AwsClients
from sdfleet.settings import IngestSettings, ScalerSettings
from tests.terraform.conftest import LOCAL_TFVARS, AppliedStack
from tests.terraform.policy import allows, denies_insecure_transport, statements_of
from tests.terraform.tfvars import SCALER_KNOBS, read_scalars

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType

pytestmark = [pytest.mark.terraform, pytest.mark.emulator, pytest.mark.slow]

DLQ_RETENTION_SECONDS = 14 * 24 * 3600
SQS_MAX_MESSAGE_BYTES = 262144


@pytest.fixture(scope="module")
def tfvars() -> dict[str, Any]:
    return read_scalars(LOCAL_TFVARS)


@pytest.fixture(scope="module")
def clients(applied_stack: AppliedStack) -> AwsClients:
    return AwsClients(endpoint_url=applied_stack.endpoint, region=applied_stack.outputs["region"])


def _queue_attributes(clients: AwsClients, url: str) -> dict[QueueAttributeNameType, str]:
    return clients.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


@pytest.mark.parametrize("lane", ["interactive", "training", "batch"])
def test_lane_redrives_to_its_dlq(
    applied_stack: AppliedStack, clients: AwsClients, tfvars: dict[str, Any], lane: str
) -> None:
    outputs = applied_stack.outputs
    queue = _queue_attributes(clients, outputs[f"{lane}_queue_url"])
    dlq = _queue_attributes(clients, outputs[f"{lane}_dlq_url"])

    redrive = json.loads(queue["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == tfvars["max_receive_count"]
    # A training holds its message for minutes: its lane has the longer timeout.
    visibility = (
        "training_visibility_timeout_seconds"
        if lane == "training"
        else ("visibility_timeout_seconds")
    )
    assert int(queue["VisibilityTimeout"]) == tfvars[visibility]
    assert queue["SqsManagedSseEnabled"] == "true"
    assert dlq["SqsManagedSseEnabled"] == "true"
    assert int(queue["VisibilityTimeout"]) > tfvars["heartbeat_seconds"]
    assert int(queue["MaximumMessageSize"]) == SQS_MAX_MESSAGE_BYTES
    assert int(dlq["MessageRetentionPeriod"]) == DLQ_RETENTION_SECONDS
    assert "RedrivePolicy" not in dlq


def test_tables_have_ttl_and_the_store_indexes(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    db = clients.dynamodb()
    outputs = applied_stack.outputs
    expected_ttl = {
        outputs["jobs_table"]: "expires_at",
        outputs["workers_table"]: "expires_at",
        outputs["idempotency_table"]: "expiration",
    }
    for table, attribute in expected_ttl.items():
        ttl = db.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", attribute), table

    jobs = db.describe_table(TableName=outputs["jobs_table"])["Table"]
    assert jobs["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    indexes = {
        index["IndexName"]: (
            [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]],
            index["Projection"]["ProjectionType"],
        )
        for index in jobs["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "by_owner": ([("owner", "HASH"), ("created_at", "RANGE")], "ALL"),
        "queued_by_lane": ([("queue_lane", "HASH"), ("queue_seq", "RANGE")], "KEYS_ONLY"),
        "by_source_message": ([("source_message_id", "HASH")], "KEYS_ONLY"),
    }


def _queue_policy(clients: AwsClients, url: str) -> list[dict[str, Any]]:
    statements = json.loads(_queue_attributes(clients, url)["Policy"])["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _listed(values: Any) -> list[str]:
    return sorted(values if isinstance(values, list) else [values])


def _sender_rule(statements: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(ARNs exempt from the Deny of sqs:SendMessage, ARNs the policy allows to send)."""
    (deny,) = [s for s in statements if s["Effect"] == "Deny" and "sqs:SendMessage" in s["Action"]]
    assert deny["Principal"] in ("*", {"AWS": "*"})
    exempt = _listed(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
    allowed = [
        arn
        for s in statements
        if s["Effect"] == "Allow" and "sqs:SendMessage" in _listed(s["Action"])
        for arn in _listed(s["Principal"]["AWS"])
    ]
    return exempt, sorted(allowed)


def test_queue_policies_bind_each_lane_to_its_senders_over_tls(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    """Finding 2: only the ingest role may send to the interactive and training lanes; the
    batch lane takes the tfvars principals (any account); the DLQs take the workers' copies;
    TLS only."""
    outputs = applied_stack.outputs
    ingest_role = clients.client("iam").get_role(RoleName="sdfleet-local-ingest-role")["Role"]
    batch_senders = ["arn:aws:iam::123456789012:role/sdfleet-local-batch"]
    for lane in ("interactive", "training"):
        assert _sender_rule(_queue_policy(clients, outputs[f"{lane}_queue_url"])) == (
            [ingest_role["Arn"]],
            [ingest_role["Arn"]],
        ), lane
    assert _sender_rule(_queue_policy(clients, outputs["batch_queue_url"])) == (
        batch_senders,
        batch_senders,
    )
    for name in (
        "interactive_queue_url",
        "training_queue_url",
        "batch_queue_url",
        "interactive_dlq_url",
        "training_dlq_url",
        "batch_dlq_url",
    ):
        statements = _queue_policy(clients, outputs[name])
        arn = _queue_attributes(clients, outputs[name])["QueueArn"]
        assert any(
            s["Effect"] == "Deny"
            and s["Action"] in ("sqs:*", ["sqs:*"])
            and arn in _listed(s["Resource"])
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ), name
    for name in ("interactive_dlq_url", "training_dlq_url", "batch_dlq_url"):
        statements = _queue_policy(clients, outputs[name])
        (deny,) = [s for s in statements if s["Effect"] == "Deny" and "SendMessage" in str(s)]
        assert _listed(deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]) == [
            "arn:*:iam::*:role/sdfleet-local-worker-role"
        ]
        assert not [s for s in statements if s["Effect"] == "Allow"]


def test_bucket_denies_plain_http_and_blocks_public_access(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    s3 = clients.s3()
    bucket = applied_stack.outputs["bucket"]
    policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    assert denies_insecure_transport(policy, f"arn:aws:s3:::{bucket}")

    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert any(rule.get("AbortIncompleteMultipartUpload") for rule in rules)
    assert any(rule.get("Expiration", {}).get("Days") for rule in rules)
    (starts,) = [rule for rule in rules if rule["ID"] == "expire-start-records"]
    assert starts["Filter"]["Prefix"] == "fleet/starts/"
    assert starts["Expiration"]["Days"] == 90


def test_worker_group_scales_from_zero_and_drains(
    applied_stack: AppliedStack, clients: AwsClients, tfvars: dict[str, Any]
) -> None:
    autoscaling = clients.autoscaling()
    name = applied_stack.outputs["asg_name"]
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ][0]
    assert group["MinSize"] == 0 == tfvars["min_capacity"]
    assert group["MaxSize"] == tfvars["max_capacity"]
    assert group["NewInstancesProtectedFromScaleIn"] is True
    assert group["CapacityRebalance"] is True

    policy = group["MixedInstancesPolicy"]
    types = [o["InstanceType"] for o in policy["LaunchTemplate"]["Overrides"]]
    assert len(types) >= 3 and all(t.startswith("g") for t in types)
    distribution = policy["InstancesDistribution"]
    assert distribution["SpotAllocationStrategy"] == "capacity-optimized"
    assert distribution["OnDemandPercentageAboveBaseCapacity"] < 100

    hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"]
    assert [(h["LifecycleHookName"], h["LifecycleTransition"]) for h in hooks] == [
        (applied_stack.outputs["lifecycle_hook_name"], "autoscaling:EC2_INSTANCE_TERMINATING")
    ]


def test_launch_template_requires_imdsv2_and_encrypts(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    versions = clients.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=applied_stack.outputs["launch_template_id"], Versions=["$Latest"]
    )["LaunchTemplateVersions"]
    data = versions[0]["LaunchTemplateData"]

    metadata = data["MetadataOptions"]
    assert metadata["HttpTokens"] == "required"
    assert metadata["HttpPutResponseHopLimit"] == 1
    assert all(m["Ebs"]["Encrypted"] for m in data["BlockDeviceMappings"])
    assert [n["AssociatePublicIpAddress"] for n in data["NetworkInterfaces"]] == [False]
    assert "KeyName" not in data  # no SSH key pair: shell access is Session Manager's

    user_data = base64.b64decode(data["UserData"]).decode()
    environment = applied_stack.outputs["worker_environment"]
    for name in (
        "SDFLEET_INTERACTIVE_QUEUE_URL",
        "SDFLEET_LIFECYCLE_HOOK_NAME",
        "SDFLEET_SSM_PATH",
    ):
        assert f"{name}={environment[name]}\n" in user_data
    assert "EnvironmentFile=/etc/sdfleet/worker.env" in user_data
    assert "systemctl enable --now sdfleet-worker.service" in user_data


def test_every_api_route_needs_the_jwt_authorizer(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    from ingest_lambda.api_spec import ROUTES

    api = clients.client("apigatewayv2")
    api_id = applied_stack.outputs["api_endpoint"].split("//", 1)[1].split(".", 1)[0]
    routes = api.get_routes(ApiId=api_id)["Items"]
    assert {r["RouteKey"] for r in routes} == {f"{s.method} {s.path}" for s in ROUTES}
    assert {r["AuthorizationType"] for r in routes} == {"JWT"}
    (authorizer_id,) = {r["AuthorizerId"] for r in routes}
    authorizer = api.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)
    assert authorizer["AuthorizerType"] == "JWT"
    jwt = authorizer["JwtConfiguration"]
    assert jwt["Audience"] == [applied_stack.outputs["user_pool_client_id"]]
    assert jwt["Issuer"].endswith("/" + applied_stack.outputs["user_pool_id"])


def test_cors_lets_the_web_app_read_retry_and_replay_headers(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    from ingest_lambda.routes import REPLAYED_HEADER

    api_id = applied_stack.outputs["api_endpoint"].split("//", 1)[1].split(".", 1)[0]
    cors = clients.client("apigatewayv2").get_api(ApiId=api_id)["CorsConfiguration"]
    exposed = {h.lower() for h in cors["ExposeHeaders"]}
    assert {"retry-after", REPLAYED_HEADER.lower()} <= exposed
    assert {"authorization", "content-type", "idempotency-key"} <= {
        h.lower() for h in cors["AllowHeaders"]
    }
    assert cors["AllowOrigins"]


def _lambda_environment(clients: AwsClients, name: str) -> dict[str, str]:
    config = clients.client("lambda").get_function_configuration(FunctionName=name)
    return dict(config["Environment"]["Variables"])


def _use_environment(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SDFLEET_"):
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_scaler_settings_equal_the_tfvars_knobs(
    applied_stack: AppliedStack,
    clients: AwsClients,
    tfvars: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tfvars -> SSM parameters -> ScalerSettings loaded from the Lambda's environment."""
    variables = _lambda_environment(clients, applied_stack.outputs["scaler_function_name"])
    # No knob in the environment: it would outrank SSM and make an SSM override do nothing.
    assert not [name for name in variables if name.startswith("SDFLEET_SCALER_")]
    assert env.RECORD_TTL_DAYS not in variables
    ssm_path = applied_stack.outputs["ssm_path"]
    assert variables[env.SSM_PATH] == ssm_path
    # The plan-time `scaler_knobs` output is exactly what SSM holds.
    for field, value in applied_stack.outputs["scaler_knobs"].items():
        stored = _parameter(clients, f"{ssm_path}{field}")
        assert (stored["Type"], stored["Value"]) == ("SecureString", value), field
    _use_environment(monkeypatch, variables)
    settings = ScalerSettings()
    for knob, field in SCALER_KNOBS.items():
        assert getattr(settings, field) == tfvars[knob], knob
    assert settings.asg_name == applied_stack.outputs["asg_name"]
    assert settings.interactive_queue_url == applied_stack.outputs["interactive_queue_url"]


def _parameter(clients: AwsClients, name: str) -> dict[str, Any]:
    return dict(clients.ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"])


@pytest.fixture()
def ssm_override(
    applied_stack: AppliedStack, clients: AwsClients
) -> Iterator[Callable[[str, str], None]]:
    """Overwrites a deployed parameter as an operator would; puts Terraform's value back."""
    ssm_path = applied_stack.outputs["ssm_path"]
    saved: dict[str, dict[str, Any]] = {}

    def override(field: str, value: str) -> None:
        name = f"{ssm_path}{field}"
        saved.setdefault(name, _parameter(clients, name))
        clients.ssm().put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)

    yield override
    for name, parameter in saved.items():
        clients.ssm().put_parameter(
            Name=name, Value=parameter["Value"], Type="SecureString", Overwrite=True
        )


def test_an_ssm_override_of_a_scaler_knob_takes_effect_below_the_environment(
    applied_stack: AppliedStack,
    clients: AwsClients,
    tfvars: dict[str, Any],
    ssm_override: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """README "Configuration": default < SSM (Terraform writes the knobs there) < environment.
    An operator's `aws ssm put-parameter --overwrite .../max_capacity` reaches the scaler at
    its next run (settings are loaded per invocation); an environment variable still wins."""
    from autoscaler.policy import PolicyConfig

    variables = _lambda_environment(clients, applied_stack.outputs["scaler_function_name"])
    _use_environment(monkeypatch, variables)
    assert ScalerSettings().max_capacity == tfvars["max_capacity"]
    override = tfvars["max_capacity"] - 1
    ssm_override("max_capacity", str(override))
    settings = ScalerSettings()
    assert settings.max_capacity == override
    # What the handler builds its decisions from (autoscaler/handler.py lambda_handler).
    assert PolicyConfig.from_settings(settings).max_capacity == override
    monkeypatch.setenv(env.SCALER_MAX_CAPACITY, str(tfvars["max_capacity"]))
    assert ScalerSettings().max_capacity == tfvars["max_capacity"]


def test_record_ttl_days_is_read_from_ssm(
    applied_stack: AppliedStack,
    clients: AwsClients,
    tfvars: dict[str, Any],
    ssm_override: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The parameter Terraform writes is the one the components read (it used to be shadowed
    by an environment variable)."""
    variables = _lambda_environment(clients, applied_stack.outputs["ingest_function_name"])
    _use_environment(monkeypatch, variables)
    assert IngestSettings().record_ttl_days == tfvars.get("record_ttl_days", 30)
    ssm_override("record_ttl_days", "7")
    assert IngestSettings().record_ttl_days == 7


def test_ingest_settings_come_from_its_environment_and_ssm(
    applied_stack: AppliedStack, clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = _lambda_environment(clients, applied_stack.outputs["ingest_function_name"])
    _use_environment(monkeypatch, variables)
    settings = IngestSettings()
    assert settings.idempotency_table == applied_stack.outputs["idempotency_table"]
    assert settings.jobs_table == applied_stack.outputs["jobs_table"]
    assert settings.workers_table == applied_stack.outputs["workers_table"]

    ssm_path = applied_stack.outputs["ssm_path"]
    # Every per-user limit is an SSM setting the ingest Lambda reads (terraform/main.tf).
    for name in (
        "max_active_jobs_per_user",
        "max_active_cost_units_per_user",
        "max_uploads_per_user_per_day",
    ):
        parameter = clients.ssm().get_parameter(Name=f"{ssm_path}{name}")
        assert parameter["Parameter"]["Type"] == "SecureString"
        assert getattr(settings, name) == int(
            clients.ssm().get_parameter(Name=f"{ssm_path}{name}", WithDecryption=True)["Parameter"][
                "Value"
            ]
        )


def test_scaler_capacity_launches_protected_workers(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    """What the local stack does: the scaler sets desired capacity; instances come up protected."""
    autoscaling = clients.autoscaling()
    name = applied_stack.outputs["asg_name"]
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ][0]
    assert group["DesiredCapacity"] == 1
    assert [i["ProtectedFromScaleIn"] for i in group["Instances"]] == [True]
    assert group["Instances"][0]["InstanceType"] in {"g5.xlarge", "g6.xlarge", "g4dn.xlarge"}


def test_local_users_can_sign_in(applied_stack: AppliedStack, clients: AwsClients) -> None:
    """The pool accepts the local stack's plain user names and password sign-in."""
    from sdfleet_cli.local.cognito import LocalUsers

    users = LocalUsers(
        clients.cognito_idp(),
        applied_stack.outputs["user_pool_id"],
        applied_stack.outputs["user_pool_client_id"],
    )
    tokens = users.token_for("alice")
    assert tokens.id_token.count(".") == 2


#: Every action each role may use: what its code calls (see the policy documents' comments).
ROLE_ACTIONS = {
    "ingest": {
        "logs:CreateLogStream", "logs:PutLogEvents",
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
        "dynamodb:Query", "dynamodb:Scan", "dynamodb:ConditionCheckItem", "sqs:SendMessage",
        "s3:PutObject", "s3:PutObjectTagging", "s3:GetObject", "s3:DeleteObject",
        "s3:ListBucket",
        "ssm:GetParametersByPath", "ssm:GetParameters", "kms:Decrypt", "kms:GenerateDataKey",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
        # Webhook signing secrets: created on first need, rotated by POST /me/webhook-secret.
        "ssm:GetParameter", "ssm:PutParameter", "kms:Encrypt",
    },
    "notifier": {
        "logs:CreateLogStream", "logs:PutLogEvents",
        "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
        "dynamodb:ListStreams", "dynamodb:GetItem", "dynamodb:UpdateItem",
        "events:PutEvents", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
        "sqs:GetQueueAttributes", "ssm:GetParameter", "ssm:PutParameter",
        "kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    },
    "scaler": {
        "logs:CreateLogStream", "logs:PutLogEvents",
        "sqs:GetQueueAttributes", "sqs:ReceiveMessage",
        "dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:GetItem",
        "dynamodb:DeleteItem", "dynamodb:Query", "s3:DeleteObject", "s3:ListBucket",
        "autoscaling:DescribeAutoScalingGroups", "autoscaling:SetDesiredCapacity",
        "autoscaling:SetInstanceProtection", "autoscaling:TerminateInstanceInAutoScalingGroup",
        "autoscaling:CreateOrUpdateTags", "autoscaling:SetInstanceHealth",
        "autoscaling:CompleteLifecycleAction", "ec2:DescribeInstances",
        "ssm:GetParametersByPath", "ssm:GetParameters", "kms:Decrypt",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    },
    "worker": {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
        "ssm:GetParametersByPath", "ssm:GetParameters", "kms:Decrypt", "kms:GenerateDataKey",
        "autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat",
        "autoscaling:SetInstanceHealth", "cloudwatch:PutMetricData",
    },
}  # fmt: skip


def _statements(clients: AwsClients, role: str, policy: str) -> list[dict[str, Any]]:
    document = clients.client("iam").get_role_policy(RoleName=role, PolicyName=policy)
    raw = document["PolicyDocument"]
    parsed = json.loads(raw) if isinstance(raw, str) else raw
    statements = parsed["Statement"]
    for statement in statements:
        for key in ("Action", "Resource"):
            if isinstance(statement[key], str):
                statement[key] = [statement[key]]
    return list(statements)


def _resources_of(statements: list[dict[str, Any]], action: str) -> set[str]:
    return {r for s in statements if action in s["Action"] for r in s["Resource"]}


def test_roles_grant_exactly_what_the_code_calls(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    from autoscaler.observe import MEMORY_TAG

    outputs = applied_stack.outputs
    prefix = "sdfleet-local"
    roles = {
        "ingest": _statements(clients, f"{prefix}-ingest-role", "ingest"),
        "scaler": _statements(clients, f"{prefix}-scaler-role", "scaler"),
        "worker": _statements(clients, f"{prefix}-worker-role", "worker"),
        "notifier": _statements(clients, f"{prefix}-notifier-role", "notifier"),
    }
    for name, statements in roles.items():
        assert {a for s in statements for a in s["Action"]} == ROLE_ACTIONS[name], name
        assert all(s["Effect"] == "Allow" for s in statements)

    db = clients.dynamodb()
    workers_table = db.describe_table(TableName=outputs["workers_table"])["Table"]["TableArn"]
    jobs_table = db.describe_table(TableName=outputs["jobs_table"])["Table"]["TableArn"]
    arn = {
        name: _queue_attributes(clients, outputs[f"{name}_url"])["QueueArn"]
        for name in (
            "interactive_queue",
            "training_queue",
            "batch_queue",
            "interactive_dlq",
            "training_dlq",
            "batch_dlq",
        )
    }
    dlqs = {arn["interactive_dlq"], arn["training_dlq"], arn["batch_dlq"]}

    ingest, scaler, worker = roles["ingest"], roles["scaler"], roles["worker"]
    assert _resources_of(ingest, "dynamodb:Scan") == {workers_table}
    # The API sends web jobs and trainings; never to the batch lane or a DLQ.
    assert _resources_of(ingest, "sqs:SendMessage") == {
        arn["interactive_queue"],
        arn["training_queue"],
    }
    assert _resources_of(ingest, "s3:PutObject") == {
        f"arn:aws:s3:::{outputs['bucket']}/users/*/inputs/*"
    }
    assert _resources_of(ingest, "s3:PutObjectTagging") == {
        f"arn:aws:s3:::{outputs['bucket']}/users/*/inputs/*"
    }

    idempotency_table = db.describe_table(TableName=outputs["idempotency_table"])["Table"][
        "TableArn"
    ]
    assert _resources_of(scaler, "dynamodb:Scan") == {workers_table, idempotency_table}
    assert _resources_of(scaler, "dynamodb:DeleteItem") == {jobs_table, idempotency_table}
    assert _resources_of(scaler, "s3:DeleteObject") == {f"arn:aws:s3:::{outputs['bucket']}/users/*"}
    assert _resources_of(scaler, "dynamodb:UpdateItem") == {jobs_table}
    assert _resources_of(scaler, "sqs:ReceiveMessage") == dlqs
    assert _resources_of(scaler, "sqs:GetQueueAttributes") == {
        arn["interactive_queue"],
        arn["training_queue"],
        arn["batch_queue"],
    }
    (tagging,) = [s for s in scaler if "autoscaling:CreateOrUpdateTags" in s["Action"]]
    tag_keys = tagging["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
    assert (tag_keys if isinstance(tag_keys, list) else [tag_keys]) == [MEMORY_TAG]
    for action in (
        "autoscaling:CreateOrUpdateTags",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ):
        (resource,) = _resources_of(scaler, action)
        assert resource.endswith(f":autoScalingGroupName/{outputs['asg_name']}")

    assert _resources_of(worker, "sqs:SendMessage") == dlqs
    lanes = {arn["interactive_queue"], arn["training_queue"], arn["batch_queue"]}
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
        assert _resources_of(worker, action) == lanes, action
    assert _resources_of(worker, "dynamodb:PutItem") == {jobs_table, workers_table}
    assert _resources_of(worker, "s3:DeleteObject") == {
        f"arn:aws:s3:::{outputs['bucket']}/users/*/outputs/*"
    }
    assert _resources_of(worker, "s3:PutObject") == {
        f"arn:aws:s3:::{outputs['bucket']}/users/*/outputs/*",
        f"arn:aws:s3:::{outputs['bucket']}/fleet/starts/*",
    }
    (job_metrics,) = [s for s in worker if "cloudwatch:PutMetricData" in s["Action"]]
    assert job_metrics["Condition"]["StringEquals"]["cloudwatch:namespace"] == "sdfleet"
    (hook,) = _resources_of(worker, "autoscaling:CompleteLifecycleAction")
    assert hook.endswith(f":autoScalingGroupName/{outputs['asg_name']}")
    assert _resources_of(worker, "autoscaling:RecordLifecycleActionHeartbeat") == {hook}
    (health,) = _resources_of(worker, "autoscaling:SetInstanceHealth")
    assert health.endswith(f":autoScalingGroupName/{outputs['asg_name']}")

    notifier = roles["notifier"]
    stream = db.describe_table(TableName=outputs["jobs_table"])["Table"]["LatestStreamArn"]
    bus = clients.events().describe_event_bus(Name=outputs["event_bus_name"])["Arn"]
    retry = _queue_attributes(clients, outputs["webhook_retry_queue_url"])["QueueArn"]
    dead = _queue_attributes(clients, outputs["webhook_dlq_url"])["QueueArn"]
    assert _resources_of(notifier, "dynamodb:GetRecords") == {stream}
    assert _resources_of(notifier, "dynamodb:UpdateItem") == {jobs_table}
    assert _resources_of(notifier, "events:PutEvents") == {bus}
    assert _resources_of(notifier, "sqs:SendMessage") == {retry, dead}
    assert _resources_of(notifier, "sqs:ReceiveMessage") == {retry}
    (secrets,) = _resources_of(notifier, "ssm:PutParameter")
    assert secrets.endswith(":parameter/sdfleet-local/webhook-secrets/*")
    assert _resources_of(ingest, "ssm:PutParameter") == {secrets}


def test_only_the_worker_may_decrypt_sender_tenants_and_sign_up_is_a_switch(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    """Finding 5: the ingest and scaler roles cannot decrypt the sender_tenants parameter
    (KMS encryption context PARAMETER_ARN), ingest has no kms:Encrypt, and Cognito self
    sign-up follows tfvars (allow_self_sign_up, off by default; local.tfvars turns it on for
    the web app's sign-up page)."""
    prefix = "sdfleet-local"
    secret = "arn:aws:ssm:us-east-1:*:parameter/sdfleet/local/sender_tenants"
    for role, policy in (("ingest", "ingest"), ("scaler", "scaler")):
        statements = _statements(clients, f"{prefix}-{role}-role", policy)
        (key,) = [s for s in statements if "kms:Decrypt" in s["Action"]]
        assert "kms:Encrypt" not in key["Action"]
        denied = key["Condition"]["StringNotLike"]["kms:EncryptionContext:PARAMETER_ARN"]
        assert (denied if isinstance(denied, list) else [denied]) == [secret], role
    worker = _statements(clients, f"{prefix}-worker-role", "worker")
    (key,) = [s for s in worker if "kms:Decrypt" in s["Action"]]
    assert "Condition" not in key
    pool = clients.client("cognito-idp").describe_user_pool(
        UserPoolId=applied_stack.outputs["user_pool_id"]
    )["UserPool"]
    # Terraform sends false by leaving the field out; AWS's default for it is false too.
    assert pool["AdminCreateUserConfig"].get("AllowAdminCreateUserOnly", False) is False


def test_boot_deadline_and_configuration_alarms_watch_the_metrics_the_code_sends(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    """The alarms' metric names and `service` dimensions are the ones the scaler (EMF,
    autoscaler/handler.py) and the worker (PutMetricData, worker/stop_report.py) publish."""
    from worker.stop_report import CONFIG_ERROR_METRIC

    scaler_env = _lambda_environment(clients, applied_stack.outputs["scaler_function_name"])
    alarms = {
        a["MetricName"]: a
        for a in clients.cloudwatch().describe_alarms(AlarmNamePrefix="sdfleet-local-")[
            "MetricAlarms"
        ]
    }
    deadline = alarms["InstancesPastBootDeadline"]
    assert deadline["Namespace"] == scaler_env[env.POWERTOOLS_METRICS_NAMESPACE]
    assert deadline["Dimensions"] == [
        {"Name": "service", "Value": scaler_env[env.POWERTOOLS_SERVICE_NAME]}
    ]
    assert (deadline["Statistic"], deadline["Threshold"]) == ("Sum", 0.0)
    assert deadline["ComparisonOperator"] == "GreaterThanThreshold"
    configuration = alarms[CONFIG_ERROR_METRIC]
    assert configuration["Dimensions"] == [{"Name": "service", "Value": "sdfleet-worker"}]


def test_worker_logs_go_to_a_kms_encrypted_group_only_the_worker_role_writes(
    applied_stack: AppliedStack, clients: AwsClients, tfvars: dict[str, Any]
) -> None:
    """The worker log group is encrypted with the stack's key, whose policy lets CloudWatch Logs
    use it for this stack's log groups only; the worker role may create streams in and put
    events to that group and no other, and holds no managed policy."""
    outputs = applied_stack.outputs
    group_name = outputs["worker_log_group"]
    assert group_name == "/sdfleet-local/worker"
    logs = clients.client("logs")
    (group,) = [
        g
        for g in logs.describe_log_groups(logGroupNamePrefix=group_name)["logGroups"]
        if g["logGroupName"] == group_name
    ]
    assert group["kmsKeyId"] == outputs["kms_key_arn"]
    assert group["retentionInDays"] == tfvars.get("worker_log_retention_days", 30)

    region, account = outputs["region"], outputs["kms_key_arn"].split(":")[4]
    key_policy = clients.client("kms").get_key_policy(
        KeyId=outputs["kms_key_arn"], PolicyName="default"
    )["Policy"]
    (for_logs,) = [
        s
        for s in statements_of(key_policy)
        if s.get("Principal", {}).get("Service") == f"logs.{region}.amazonaws.com"
    ]
    assert for_logs["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": (
                f"arn:aws:logs:{region}:{account}:log-group:/sdfleet-local/*"
            )
        }
    }
    (root,) = [s for s in statements_of(key_policy) if s["Action"] == ["kms:*"]]
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}

    iam = clients.client("iam")
    role = "sdfleet-local-worker-role"
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert sorted(names) == ["logs", "session-manager", "worker"]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    statements = [s for name in names for s in _statements(clients, role, name)]
    stream = f"arn:aws:logs:{region}:{account}:log-group:{group_name}:log-stream:worker/i-0abc"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert allows(statements, action, stream)
        for other in ("/aws/lambda/sdfleet-local-scaler", "/sdfleet-local/worker2"):
            assert not allows(statements, action, stream.replace(group_name, other)), other
    for action in ("logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy"):
        assert not allows(statements, action, f"arn:aws:logs:{region}:{account}:log-group:*")


def test_workers_take_no_inbound_traffic_and_have_session_manager(
    applied_stack: AppliedStack, clients: AwsClients
) -> None:
    ec2 = clients.client("ec2")
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["sdfleet-local-worker"]}]
    )["SecurityGroups"]
    assert [g["IpPermissions"] for g in groups] == [[]]
    session = _statements(clients, "sdfleet-local-worker-role", "session-manager")
    assert {a for s in session for a in s["Action"]} == {
        "ssm:UpdateInstanceInformation",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    }
