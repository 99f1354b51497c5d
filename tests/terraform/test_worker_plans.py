"""Offline plans of the worker fleet's loud-failure and fast-start settings: a production plan
refuses the random test model, GPU fleets run with SDFLEET_DEVICE=cuda, and a warm-pool fleet
holds launching instances with a lifecycle hook until their worker is ready."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.conftest import TERRAFORM_DIR, Terraform

pytestmark = [pytest.mark.terraform]

PROD_TFVARS = TERRAFORM_DIR / "environments" / "prod.tfvars"
WARM_POOL_TFVARS = TERRAFORM_DIR / "examples" / "on-demand-warm-pool.tfvars"
PLAN_ARGS = (
    "-input=false",
    "-no-color",
    "-lock=false",
    "-refresh=false",
    "-var=offline_plan=true",
    "-var=frontend_access_token=plan-only",
)


def _plan(terraform: Terraform, tfvars: Path, *extra: str) -> dict[str, Any]:
    plan_file = terraform.work_dir / f"{tfvars.stem}.tfplan"
    terraform.run("plan", *PLAN_ARGS, f"-var-file={tfvars}", *extra, f"-out={plan_file}")
    result: dict[str, Any] = json.loads(terraform.run("show", "-json", "-no-color", str(plan_file)))
    return result


def _resource(plan: dict[str, Any], address: str) -> dict[str, Any]:
    modules = [plan["planned_values"]["root_module"]]
    while modules:
        module = modules.pop()
        modules.extend(module.get("child_modules", []))
        for resource in module.get("resources", []):
            if resource["address"] == address:
                return dict(resource["values"])
    raise AssertionError(f"{address} is not in the plan")


def test_prod_plan_refuses_the_tiny_model(terraform: Terraform) -> None:
    result = terraform.attempt(
        "plan", *PLAN_ARGS, f"-var-file={PROD_TFVARS}", "-var=model_source=tiny"
    )
    assert result.returncode != 0
    error = " ".join(result.stderr.split())
    assert "Invalid value for variable" in error
    assert "random-weight test model" in error


def test_model_source_is_required_outside_local(terraform: Terraform, tmp_path: Path) -> None:
    without = tmp_path / "prod-without-model.tfvars"
    text = PROD_TFVARS.read_text()
    without.write_text(re.sub(r"^model_source\s*=.*$", "", text, flags=re.M))
    result = terraform.attempt("plan", *PLAN_ARGS, f"-var-file={without}")
    assert result.returncode != 0
    assert "No value for required variable" in result.stderr
    assert "model_source" in result.stderr


def test_gpu_fleet_requires_cuda_and_a_real_model(terraform: Terraform) -> None:
    plan = _plan(terraform, PROD_TFVARS)
    knobs = plan["planned_values"]["outputs"]["worker_knobs"]["value"]
    assert knobs["SDFLEET_DEVICE"] == "cuda"
    assert knobs["SDFLEET_MODEL_SOURCE"].startswith("s3://")
    group = _resource(plan, "module.worker_fleet.aws_autoscaling_group.workers")
    assert group["initial_lifecycle_hook"] == []  # no warm pool: no launch hook


def test_warm_pool_plan_holds_launches_with_the_launching_hook(terraform: Terraform) -> None:
    plan = _plan(terraform, WARM_POOL_TFVARS)
    group = _resource(plan, "module.worker_fleet.aws_autoscaling_group.workers")
    assert group["warm_pool"][0]["pool_state"] == "Stopped"
    (hook,) = group["initial_lifecycle_hook"]
    assert hook["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert hook["default_result"] == "ABANDON"
    assert hook["name"] == "sdfleet-steady-launch"
    # Unset, the pool may hold up to max_size instances: max_capacity 6 in the example.
    assert group["warm_pool"][0]["max_group_prepared_capacity"] == 6


def test_warm_pool_max_prepared_capacity_fixes_the_pool(terraform: Terraform) -> None:
    plan = _plan(terraform, WARM_POOL_TFVARS, "-var=warm_pool_max_prepared_capacity=2")
    group = _resource(plan, "module.worker_fleet.aws_autoscaling_group.workers")
    pool = group["warm_pool"][0]
    assert (pool["min_size"], pool["max_group_prepared_capacity"]) == (2, 2)
    below = terraform.attempt(
        "plan",
        *PLAN_ARGS,
        f"-var-file={WARM_POOL_TFVARS}",
        "-var=warm_pool_max_prepared_capacity=1",
    )
    assert below.returncode != 0
    error = " ".join(below.stderr.split())
    assert "warm_pool_max_prepared_capacity (1) must be at least warm_pool_min_size (2)" in error
