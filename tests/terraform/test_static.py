"""Checks of the configuration's text that need no terraform binary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sdfleet import env
from tests.terraform.conftest import REPO, TERRAFORM_DIR
from tests.terraform.tfvars import read_scalars

DECLARED = set(
    re.findall(r'^variable "([a-z0-9_]+)"', (TERRAFORM_DIR / "variables.tf").read_text(), re.M)
)
TFVARS = sorted(
    [*TERRAFORM_DIR.glob("environments/*.tfvars"), *TERRAFORM_DIR.glob("examples/*.tfvars")]
)


@pytest.mark.parametrize("path", TFVARS, ids=lambda p: p.name)
def test_tfvars_set_only_declared_variables(path: Path) -> None:
    names = set(re.findall(r"^([a-z_][a-z0-9_]*)\s*=", path.read_text(), re.M))
    assert names <= DECLARED, f"{path.name} sets undeclared {sorted(names - DECLARED)}"


def test_docs_list_every_variable() -> None:
    docs = (REPO / "docs" / "terraform.md").read_text()
    undocumented = sorted(name for name in DECLARED if f"| `{name}` |" not in docs)
    assert not undocumented, "run terraform/scripts/variables_table.py into docs/terraform.md"


def test_environment_names_are_the_contract_names() -> None:
    """Every SDFLEET_* name set for the Lambdas and workers is a constant of sdfleet/env.py.

    The frontend module is left out: its variables feed the web app's build, not settings."""
    contract = {value for name, value in vars(env).items() if name.isupper()}
    used: set[str] = set()
    for path in TERRAFORM_DIR.rglob("*.tf"):
        if "frontend" in path.parts:
            continue
        used |= set(re.findall(r"\b(SDFLEET_[A-Z_]+)\s*=", path.read_text()))
    assert used, "no SDFLEET_* assignments found"
    assert used <= contract, f"not in sdfleet/env.py: {sorted(used - contract)}"


def test_local_tfvars_keep_the_fleet_able_to_sleep() -> None:
    values = read_scalars(TERRAFORM_DIR / "environments" / "local.tfvars")
    assert values["min_capacity"] == 0
    assert values["enable_frontend"] is False
    assert values["heartbeat_seconds"] < values["visibility_timeout_seconds"]
