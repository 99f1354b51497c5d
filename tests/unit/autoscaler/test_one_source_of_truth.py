"""Every scaler knob's default and limits live once, in ``ScalerSettings``.

The policy's config, the simulator's scenario, the tfvars reader and Terraform (the root's
variables and the autoscaler module's) either derive from the settings model or are
compared with it here, so ``sdfleet simulate --tfvars`` on an empty tfvars previews what
Terraform deploys.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from autoscaler.policy import PolicyConfig, knob_limits
from autoscaler.simulator.broken_boot import default_deadline
from autoscaler.simulator.compare import (
    TERRAFORM_ON_DEMAND_BASE_CAPACITY,
    TERRAFORM_ON_DEMAND_PERCENTAGE_ABOVE_BASE,
    Scenario,
)
from autoscaler.simulator.tfvars import POLICY_KNOBS, scenario_from_tfvars
from sdfleet.settings import FleetSettings, ScalerSettings, WorkerSettings

REPO = Path(__file__).resolve().parents[3]
ROOT_VARIABLES = REPO / "terraform" / "variables.tf"
MODULE = REPO / "terraform" / "modules" / "autoscaler"
#: Every scaler knob: the settings model's own fields (not where AWS is, not the ASG name).
KNOBS = sorted(
    set(ScalerSettings.model_fields)
    - set(FleetSettings.model_fields)
    - {"asg_name", "lifecycle_hook_name"}
)
_BLOCK = re.compile(r'^variable "(\w+)" \{\n(.*?)^\}', re.MULTILINE | re.DOTALL)


def terraform_variables(path: Path) -> dict[str, str]:
    return {name: body for name, body in _BLOCK.findall(path.read_text())}


def terraform_default(body: str) -> float | None:
    match = re.search(r"^\s*default\s*=\s*([0-9.]+)\s*$", body, re.MULTILINE)
    return float(match.group(1)) if match else None


def terraform_limits(name: str, body: str) -> list[tuple[str, float]]:
    condition = re.search(r"condition\s*=\s*(.*)", body)
    assert condition, f"{name}: no validation block"
    found = re.findall(rf"var\.{name}\s*(>=|<=|>|<)\s*([0-9.]+)", condition.group(1))
    return sorted((operator, float(bound)) for operator, bound in found)


def settings_default(name: str) -> float:
    return float(ScalerSettings.model_fields[name].default)


def test_the_knob_list_is_the_one_everyone_uses() -> None:
    assert len(KNOBS) == 12
    assert set(POLICY_KNOBS) == {f.name for f in fields(PolicyConfig)}
    others = {"boot_seconds", "boot_deadline_seconds", "samples_per_invocation"}
    assert set(POLICY_KNOBS) | others == set(KNOBS)


@pytest.mark.parametrize("name", KNOBS)
def test_every_default_agrees_with_the_settings(name: str, tmp_path: Path) -> None:
    expected = settings_default(name)
    empty = tmp_path / "empty.tfvars"
    empty.write_text("# sets nothing\n")
    previews = [Scenario(), scenario_from_tfvars(empty)]
    for scenario in previews:
        if name == "boot_deadline_seconds":
            # The broken-boot scenario runs the deadline Terraform deploys by default.
            assert default_deadline() == pytest.approx(expected)
        elif name == "boot_seconds":
            assert scenario.environment.warmup_seconds == pytest.approx(expected)
        elif name == "samples_per_invocation":
            assert scenario.samples_per_invocation == expected
        else:
            assert getattr(scenario.config, name) == expected
    if name in POLICY_KNOBS:
        assert getattr(PolicyConfig(), name) == expected
    root = terraform_variables(ROOT_VARIABLES)
    assert terraform_default(root[name]) == expected, f"terraform/variables.tf {name}"
    # The module takes every knob from the root: a default there would be a second source.
    module = terraform_variables(MODULE / "variables.tf")
    assert terraform_default(module[name]) is None, f"module default for {name}"


@pytest.mark.parametrize("name", KNOBS)
def test_every_limit_agrees_with_the_settings(name: str) -> None:
    expected = sorted(knob_limits(name))
    assert expected, f"{name}: the settings model gives no bounds"
    root = terraform_variables(ROOT_VARIABLES)
    module = terraform_variables(MODULE / "variables.tf")
    assert terraform_limits(name, root[name]) == expected, f"terraform/variables.tf {name}"
    assert terraform_limits(name, module[name]) == expected, f"module {name}"


@pytest.mark.parametrize("name", KNOBS)
def test_the_module_writes_every_knob_to_ssm(name: str) -> None:
    main = (MODULE / "main.tf").read_text()
    assert re.search(rf"^\s*{name}\s*=\s*tostring\(var\.{name}\)", main, re.MULTILINE)


def test_an_empty_tfvars_previews_what_terraform_deploys(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tfvars"
    empty.write_text("")
    assert scenario_from_tfvars(empty) == Scenario()
    root = terraform_variables(ROOT_VARIABLES)
    env = Scenario().environment
    assert terraform_default(root["on_demand_base_capacity"]) == TERRAFORM_ON_DEMAND_BASE_CAPACITY
    assert (
        terraform_default(root["on_demand_percentage_above_base"])
        == TERRAFORM_ON_DEMAND_PERCENTAGE_ABOVE_BASE
    )
    assert env.on_demand_base_capacity == TERRAFORM_ON_DEMAND_BASE_CAPACITY
    assert env.spot_percentage == 100 - TERRAFORM_ON_DEMAND_PERCENTAGE_ABOVE_BASE
    worker = WorkerSettings.model_fields
    for tf_name, value in (
        ("visibility_timeout_seconds", env.visibility_timeout_seconds),
        ("heartbeat_seconds", env.heartbeat_seconds),
        ("max_receive_count", env.max_receives),
    ):
        assert terraform_default(root[tf_name]) == float(worker[tf_name].default) == value


def test_the_policy_config_enforces_the_settings_limits() -> None:
    with pytest.raises(ValueError, match=r"max_capacity: must be <= 1000 \(got 1001\)"):
        PolicyConfig(max_capacity=1001)
    with pytest.raises(ValueError, match=r"backlog_tolerance: must be <= 1 \(got 1.5\)"):
        PolicyConfig(backlog_tolerance=1.5)
    with pytest.raises(ValueError, match=r"target_wait_seconds: must be > 0"):
        PolicyConfig(target_wait_seconds=0)
    PolicyConfig(max_capacity=1000)


def test_tfvars_out_of_the_settings_limits_are_refused(tmp_path: Path) -> None:
    from autoscaler.errors import TfvarsError

    path = tmp_path / "x.tfvars"
    path.write_text("boot_seconds = 4000\n")
    with pytest.raises(TfvarsError, match="boot_seconds must be <= 3600"):
        scenario_from_tfvars(path)
    path.write_text("samples_per_invocation = 13\n")
    with pytest.raises(TfvarsError, match="samples_per_invocation must be <= 12"):
        scenario_from_tfvars(path)
    path.write_text("boot_seconds = 240\n")
    assert scenario_from_tfvars(path).environment.warmup_seconds == pytest.approx(240)
