"""Plans environments/prod.tfvars offline and checks the planned scaler settings and ASG bounds,
the workers' log group (KMS, retention) and what the worker role may do with logs and shells."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from sdfleet.settings import ScalerSettings
from tests.terraform.conftest import TERRAFORM_DIR, Terraform
from tests.terraform.policy import allows, statements_of
from tests.terraform.tfvars import SCALER_KNOBS, read_scalars

pytestmark = [pytest.mark.terraform]

PROD_TFVARS = TERRAFORM_DIR / "environments" / "prod.tfvars"


#: An offline plan of prod.tfvars from the root configuration.
PROD_PLAN_ARGS = (
    "-input=false",
    "-no-color",
    "-lock=false",
    "-refresh=false",
    f"-var-file={PROD_TFVARS.relative_to(TERRAFORM_DIR)}",
    "-var=offline_plan=true",
    "-var=frontend_access_token=plan-only",
)


def plan_prod(terraform: Terraform, name: str, *extra: str) -> dict[str, Any]:
    """The JSON plan of prod.tfvars with ``extra`` arguments (``-var=...``)."""
    plan_file = terraform.work_dir / f"{name}.tfplan"
    terraform.run("plan", *PROD_PLAN_ARGS, *extra, f"-out={plan_file}")
    result: dict[str, Any] = json.loads(terraform.run("show", "-json", "-no-color", str(plan_file)))
    return result


@pytest.fixture(scope="module")
def plan(terraform: Terraform) -> dict[str, Any]:
    return plan_prod(terraform, "prod")


@pytest.fixture(scope="module")
def planned(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Planned values of every resource, by address."""
    resources: dict[str, dict[str, Any]] = {}
    modules = [plan["planned_values"]["root_module"]]
    while modules:
        module = modules.pop()
        modules.extend(module.get("child_modules", []))
        for resource in module.get("resources", []):
            resources[resource["address"]] = resource.get("values", {})
    return resources


def test_prod_knobs_reach_the_scaler_settings(
    plan: dict[str, Any], planned: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The knobs go to SSM (`scaler_knobs`: field name => value, each one parameter under the
    # SSM path), where the scaler's settings source reads them by their last path segment.
    knobs = plan["planned_values"]["outputs"]["scaler_knobs"]["value"]
    for name in list(os.environ):
        if name.startswith("SDFLEET_"):
            monkeypatch.delenv(name)
    for field in knobs:
        parameter = planned[f'module.autoscaler.aws_ssm_parameter.knob["{field}"]']
        assert parameter["name"] == f"/sdfleet/prod/{field}"
        assert parameter["type"] == "SecureString"

    settings = ScalerSettings(**knobs, asg_name="sdfleet-prod-workers")
    tfvars = read_scalars(PROD_TFVARS)
    for knob, field in SCALER_KNOBS.items():
        assert getattr(settings, field) == tfvars[knob], knob


def test_prod_group_bounds_and_spot_mix(planned: dict[str, dict[str, Any]]) -> None:
    group = planned["module.worker_fleet.aws_autoscaling_group.workers"]
    tfvars = read_scalars(PROD_TFVARS)
    assert (group["min_size"], group["max_size"]) == (
        tfvars["min_capacity"],
        tfvars["max_capacity"],
    )
    distribution = group["mixed_instances_policy"][0]["instances_distribution"][0]
    assert distribution["on_demand_base_capacity"] == tfvars["on_demand_base_capacity"]
    assert (
        distribution["on_demand_percentage_above_base_capacity"]
        == tfvars["on_demand_percentage_above_base"]
    )
    assert group["protect_from_scale_in"] is True
    assert group["capacity_rebalance"] is True


def test_prod_workers_launch_from_the_baked_ami(
    plan: dict[str, Any], planned: dict[str, dict[str, Any]]
) -> None:
    """prod.tfvars bakes the worker AMI (launch to first image ~100 s, not ~150 s installing at
    every boot: docs/worker-install.md): Image Builder installs from the hashed wheelhouse on
    the GPU base AMI, and the launch template takes the baked image, known only after apply."""
    tfvars = read_scalars(PROD_TFVARS)
    assert tfvars["worker_ami_bake"] is True
    recipe = planned["module.worker_ami[0].aws_imagebuilder_image_recipe.worker"]
    assert recipe["version"] == tfvars["worker_ami_version"]
    assert recipe["parent_image"].startswith("ssm:/aws/service/deeplearning/")
    # The build installs from the wheelhouse (its script and policy are known after apply).
    bake = plan["configuration"]["root_module"]["module_calls"]["worker_ami"]["expressions"]
    assert "var.worker_wheelhouse_uri" in bake["wheelhouse_uri"]["references"]
    address = "module.worker_fleet.aws_launch_template.worker"
    (change,) = [c for c in plan["resource_changes"] if c["address"] == address]
    assert change["change"]["after_unknown"].get("image_id") is True
    call = plan["configuration"]["root_module"]["module_calls"]["worker_fleet"]
    assert "module.worker_ami[0].ami_id" in call["expressions"]["ami_id"]["references"]


def test_the_first_apply_plans_without_the_bake(terraform: Terraform) -> None:
    """The deploy steps' first apply (README, docs/terraform.md) sets worker_ami_bake=false:
    the bake installs from the wheelhouse in the bucket that apply creates. It must plan no
    Image Builder resource and launch workers from the configured base AMI."""
    first = plan_prod(terraform, "prod-first-apply", "-var=worker_ami_bake=false")
    addresses = [c["address"] for c in first["resource_changes"]]
    assert not [a for a in addresses if a.startswith("module.worker_ami")]
    (template,) = [
        c
        for c in first["resource_changes"]
        if c["address"] == "module.worker_fleet.aws_launch_template.worker"
    ]
    assert template["change"]["after"]["image_id"].startswith("resolve:ssm:/aws/service/")


def test_self_sign_up_follows_tfvars(planned: dict[str, dict[str, Any]]) -> None:
    """Finding 5: Cognito self sign-up is a tfvars switch, off unless allow_self_sign_up."""
    pool = planned["module.api.aws_cognito_user_pool.users"]
    expected = not read_scalars(PROD_TFVARS).get("allow_self_sign_up", False)
    assert pool["admin_create_user_config"][0]["allow_admin_create_user_only"] is expected


def test_a_boot_deadline_within_the_boot_is_refused_at_plan(terraform: Terraform) -> None:
    """A deadline at or below boot_seconds would replace healthy workers while they boot."""
    result = terraform.attempt("plan", *PROD_PLAN_ARGS, "-var=boot_deadline_seconds=100")
    assert result.returncode != 0
    assert "boot_deadline_seconds must be 0 (off) or above boot_seconds" in " ".join(
        result.stderr.split()
    )


WORKER_LOG_GROUP = "/sdfleet-prod/worker"
#: The CloudWatch Logs ARN of a stream in a group, in the plan's region and some account.
STREAM_ARN = "arn:aws:logs:us-east-1:111122223333:log-group:{group}:log-stream:worker/i-0abc"
#: What the Session Manager agent calls on the instance's behalf (AWSCloud9SSMInstanceProfile).
SESSION_MANAGER_ACTIONS = {
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def _module_config(plan: dict[str, Any], *path: str) -> dict[str, Any]:
    """The configuration of a module call chain, e.g. ("worker_fleet",)."""
    config: dict[str, Any] = plan["configuration"]["root_module"]
    for name in path:
        config = config["module_calls"][name]["module"]
    return config


def test_worker_log_group_is_kms_encrypted_with_the_retention(
    plan: dict[str, Any], planned: dict[str, dict[str, Any]]
) -> None:
    address = "module.worker_fleet.aws_cloudwatch_log_group.worker"
    group = planned[address]
    assert group["name"] == WORKER_LOG_GROUP
    assert group["retention_in_days"] == read_scalars(PROD_TFVARS).get(
        "worker_log_retention_days", 30
    )
    # The key's ARN is known only after apply: the plan shows it as set (unknown), not null.
    (change,) = [c for c in plan["resource_changes"] if c["address"] == address]
    assert change["change"]["after_unknown"].get("kms_key_id") is True
    # ... and where it comes from: the stack key, once its policy admits CloudWatch Logs.
    call = plan["configuration"]["root_module"]["module_calls"]["worker_fleet"]
    assert "module.config.logs_kms_key_arn" in call["expressions"]["logs_kms_key_arn"]["references"]
    key_output = _module_config(plan, "config")["outputs"]["logs_kms_key_arn"]
    assert "aws_kms_key.main.arn" in key_output["expression"]["references"]
    assert key_output["depends_on"] == ["aws_kms_key_policy.main"]
    (group_config,) = [
        r
        for r in _module_config(plan, "worker_fleet")["resources"]
        if r["address"] == "aws_cloudwatch_log_group.worker"
    ]
    assert "var.logs_kms_key_arn" in group_config["expressions"]["kms_key_id"]["references"]


def _worker_role_policies(planned: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        values["name"]: values
        for address, values in planned.items()
        if address.startswith("module.worker_fleet.aws_iam_role_policy.")
    }


def test_worker_role_writes_logs_only_to_its_group(planned: dict[str, dict[str, Any]]) -> None:
    policies = _worker_role_policies(planned)
    assert set(policies) == {"worker", "logs", "session-manager"}
    # No managed policy (AmazonSSMManagedInstanceCore and the like) on the worker role.
    assert not [
        a for a in planned if a.startswith("module.worker_fleet.aws_iam_role_policy_attachment")
    ]
    logs = statements_of(policies["logs"]["policy"])
    assert {a for s in logs for a in s["Action"]} == {"logs:CreateLogStream", "logs:PutLogEvents"}
    ours = STREAM_ARN.format(group=WORKER_LOG_GROUP)
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert allows(logs, action, ours)
        for other in (
            "/aws/lambda/sdfleet-prod-scaler",
            "/sdfleet-prod/worker2",
            "/sdfleet-dev/worker",
        ):
            assert not allows(logs, action, STREAM_ARN.format(group=other)), other
    # The Session Manager grant carries no logs action; the main worker policy (unknown until
    # the queues and tables exist) is checked against the emulator (test_local_apply.py).
    session = statements_of(policies["session-manager"]["policy"])
    assert not [a for s in session for a in s["Action"] if a.lower().startswith("logs:")]


def test_session_manager_is_the_only_way_in(planned: dict[str, dict[str, Any]]) -> None:
    session = statements_of(_worker_role_policies(planned)["session-manager"]["policy"])
    assert {a for s in session for a in s["Action"]} == SESSION_MANAGER_ACTIONS
    template = planned["module.worker_fleet.aws_launch_template.worker"]
    assert template.get("key_name") is None
    # Nothing in the stack opens SSH, and the workers' group has no ingress at all.
    for address, values in planned.items():
        if address.endswith(("aws_vpc_security_group_ingress_rule", "aws_security_group_rule")) or (
            ".aws_vpc_security_group_ingress_rule." in address
            or ".aws_security_group_rule." in address
        ):
            if values.get("type", "ingress") != "ingress":
                continue
            assert not address.startswith("module.worker_fleet."), address
            low, high = values.get("from_port"), values.get("to_port")
            every_port = values.get("ip_protocol", values.get("protocol")) in ("-1", "all")
            assert not every_port, address
            if low is not None:
                # A rule with a from_port has a to_port (a missing one fails here, not in <=).
                assert high is not None, address
                assert not low <= 22 <= high, address
        if ".aws_security_group." in address or address.startswith("aws_security_group."):
            for rule in values.get("ingress") or []:
                assert not rule["from_port"] <= 22 <= rule["to_port"], address
    assert planned["module.worker_fleet.aws_security_group.worker"].get("ingress") in (None, [])
