"""Checks of the configuration's text that need no terraform binary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sdfleet import env
from sdfleet.settings import FleetSettings, IngestSettings, ScalerSettings, WorkerSettings
from tests.terraform.conftest import REPO, TERRAFORM_DIR
from tests.terraform.tfvars import SCALER_KNOBS, read_scalars, variable_defaults

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


def test_scaler_knob_defaults_are_the_settings_defaults() -> None:
    """A knob left out of a tfvars file behaves as the scaler's own default."""
    defaults = variable_defaults(TERRAFORM_DIR / "variables.tf")
    fields = ScalerSettings.model_fields
    for knob, field in SCALER_KNOBS.items():
        assert knob in defaults, f"variables.tf: {knob} has no default"
        assert defaults[knob] == fields[field].default, knob


def test_every_scaler_knob_reaches_ssm_and_none_the_lambda_environment() -> None:
    """Each ScalerSettings knob field is a Terraform variable written to SSM under its field
    name; none is an environment variable of the scaler (the environment outranks SSM)."""
    knob_fields = {
        name
        for name, info in ScalerSettings.model_fields.items()
        if name not in FleetSettings.model_fields
        and name not in {"asg_name", "lifecycle_hook_name"}
    }
    assert set(SCALER_KNOBS.values()) == knob_fields
    module = (TERRAFORM_DIR / "modules" / "autoscaler" / "main.tf").read_text()
    parameters = module[module.index("knob_parameters = {") : module.index("environment = merge")]
    for knob, field in SCALER_KNOBS.items():
        assert re.search(rf"^\s*{field}\s*=\s*tostring\(var\.{knob}\)", parameters, re.M), field
    assert "SDFLEET_SCALER_" not in module
    root = (TERRAFORM_DIR / "main.tf").read_text()
    assert "SDFLEET_SCALER_" not in root and "SDFLEET_RECORD_TTL_DAYS" not in root
    for path in (TERRAFORM_DIR / "environments").glob("*.tfvars"):
        assert set(SCALER_KNOBS) <= set(read_scalars(path)), f"{path.name} misses a knob"


def test_scaler_memory_tag_is_the_one_terraform_ignores() -> None:
    """The scaler may write only its memory tag, and applies must not remove it."""
    from autoscaler.observe import MEMORY_TAG

    main = (TERRAFORM_DIR / "main.tf").read_text()
    assert f'scaler_memory_tag = "{MEMORY_TAG}"' in main
    providers = (TERRAFORM_DIR / "providers.tf").read_text()
    assert re.search(r"ignore_tags\s*\{\s*keys\s*=\s*\[local\.scaler_memory_tag\]", providers)


def test_cors_exposes_the_headers_the_api_sends() -> None:
    from ingest_lambda.parsing import IDEMPOTENCY_HEADER
    from ingest_lambda.routes import REPLAYED_HEADER

    text = (TERRAFORM_DIR / "modules" / "api" / "variables.tf").read_text()
    lists = {
        name: json.loads(value)
        for name, value in re.findall(
            r'^variable "(cors_\w+)" \{.*?default\s*=\s*(\[.*?\])', text, re.M | re.S
        )
    }
    assert {"retry-after", REPLAYED_HEADER.lower()} <= set(lists["cors_expose_headers"])
    assert {"authorization", "content-type", IDEMPOTENCY_HEADER.lower()} <= set(
        lists["cors_allow_headers"]
    )


#: Per-user limits of issue 14: tfvars variable -> (settings class, field, how it is passed).
LIMIT_KNOBS: dict[str, tuple[type[FleetSettings], str]] = {
    "max_active_jobs_per_user": (IngestSettings, "ssm"),
    "max_active_cost_units_per_user": (IngestSettings, "ssm"),
    "max_uploads_per_user_per_day": (IngestSettings, "ssm"),
    "fair_window_messages": (WorkerSettings, "env"),
}


def _bounds(settings: type[FleetSettings], field: str) -> tuple[float, float]:
    metadata = settings.model_fields[field].metadata
    low = next(m.ge for m in metadata if hasattr(m, "ge"))
    high = next(m.le for m in metadata if hasattr(m, "le"))
    return low, high


@pytest.mark.parametrize("knob", sorted(LIMIT_KNOBS))
def test_limit_knobs_are_validated_variables_that_reach_their_component(knob: str) -> None:
    """Each limit's default and bounds are its setting's, and the value reaches the component
    that enforces it: the ingest Lambda's SSM settings or the workers' environment."""
    settings, passed = LIMIT_KNOBS[knob]
    variables = (TERRAFORM_DIR / "variables.tf").read_text()
    block = re.split(r'^variable "', variables, flags=re.M)
    (text,) = [b for b in block if b.startswith(f'{knob}"')]
    assert variable_defaults(TERRAFORM_DIR / "variables.tf")[knob] == (
        settings.model_fields[knob].default
    )
    low, high = _bounds(settings, knob)
    assert f"var.{knob} >= {low} && var.{knob} <= {high}" in text, text
    assert "type        = number" in text and "description" in text
    main = (TERRAFORM_DIR / "main.tf").read_text()
    if passed == "ssm":
        assert re.search(rf"^\s*{knob}\s*=\s*tostring\(var\.{knob}\)", main, re.M), knob
    else:
        alias = settings.model_fields[knob].validation_alias
        name = next(c for c in getattr(alias, "choices", []) if str(c).startswith("SDFLEET_"))
        assert re.search(rf"\b{name}\s*=\s*tostring\(var\.{knob}\)", main), name
