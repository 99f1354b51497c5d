"""Plans environments/prod.tfvars offline and checks the planned scaler settings and ASG bounds."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from sdfleet.settings import ScalerSettings
from tests.terraform.conftest import TERRAFORM_DIR, Terraform
from tests.terraform.tfvars import SCALER_KNOBS, read_scalars

pytestmark = [pytest.mark.terraform]

PROD_TFVARS = TERRAFORM_DIR / "environments" / "prod.tfvars"


@pytest.fixture(scope="module")
def plan(terraform: Terraform) -> dict[str, Any]:
    plan_file = terraform.work_dir / "prod.tfplan"
    terraform.run(
        "plan",
        "-input=false",
        "-no-color",
        "-lock=false",
        "-refresh=false",
        f"-var-file={PROD_TFVARS.relative_to(TERRAFORM_DIR)}",
        "-var=offline_plan=true",
        "-var=frontend_access_token=plan-only",
        f"-out={plan_file}",
    )
    result: dict[str, Any] = json.loads(terraform.run("show", "-json", "-no-color", str(plan_file)))
    return result


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


def test_self_sign_up_follows_tfvars(planned: dict[str, dict[str, Any]]) -> None:
    """Finding 5: Cognito self sign-up is a tfvars switch, off unless allow_self_sign_up."""
    pool = planned["module.api.aws_cognito_user_pool.users"]
    expected = not read_scalars(PROD_TFVARS).get("allow_self_sign_up", False)
    assert pool["admin_create_user_config"][0]["allow_admin_create_user_only"] is expected


def test_a_boot_deadline_within_the_boot_is_refused_at_plan(terraform: Terraform) -> None:
    """A deadline at or below boot_seconds would replace healthy workers while they boot."""
    result = terraform.attempt(
        "plan",
        "-input=false",
        "-no-color",
        "-lock=false",
        "-refresh=false",
        f"-var-file={PROD_TFVARS.relative_to(TERRAFORM_DIR)}",
        "-var=offline_plan=true",
        "-var=frontend_access_token=plan-only",
        "-var=boot_deadline_seconds=100",
    )
    assert result.returncode != 0
    assert "boot_deadline_seconds must be 0 (off) or above boot_seconds" in " ".join(
        result.stderr.split()
    )
