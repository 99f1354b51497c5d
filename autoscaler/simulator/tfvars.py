"""Reads the scaler's knobs and the fleet's prices from a Terraform ``*.tfvars`` file.

Only ``name = value`` assignments of numbers, booleans and strings are read; lists, maps
and anything else are skipped (they hold nothing the simulator needs). Both the names in
the scaler's contract (``scaler_max_capacity`` ...) and the Terraform root's current
unprefixed names (``max_capacity`` ...) are accepted.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from pathlib import Path
from typing import Final

from autoscaler.errors import TfvarsError
from autoscaler.policy import PolicyConfig, knob_limits, within
from autoscaler.simulator.compare import Scenario
from sdfleet.settings import ScalerSettings

_ASSIGNMENT: Final = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
_COMMENT: Final = re.compile(r"\s*(#|//).*$")
#: Queue settings in tfvars -> the simulated world's fields.
_QUEUE_KNOBS: Final = {
    "visibility_timeout_seconds": "visibility_timeout_seconds",
    "heartbeat_seconds": "heartbeat_seconds",
    "max_receive_count": "max_receives",
    "lifecycle_hook_timeout_seconds": "lifecycle_hook_timeout_seconds",
}

#: tfvars variable -> PolicyConfig field (with and without the ``scaler_`` prefix): every
#: field of the policy's config, typed as the settings model types it.
POLICY_KNOBS: Final = {
    knob.name: int if ScalerSettings.model_fields[knob.name].annotation is int else float
    for knob in fields(PolicyConfig)
}


def parse(text: str, source: str = "tfvars") -> dict[str, str | float | bool]:
    values: dict[str, str | float | bool] = {}
    depth = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw if '"' in raw else _COMMENT.sub("", raw)
        if depth:
            depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
            continue
        match = _ASSIGNMENT.match(line)
        if not match:
            if line.strip() and not line.strip().startswith(("#", "//")):
                raise TfvarsError(f"{source} line {number}: expected `name = value` (got {raw!r})")
            continue
        name, value = match.groups()
        if value.startswith(("[", "{")):
            depth = value.count("[") + value.count("{") - value.count("]") - value.count("}")
            continue
        if value.startswith('"'):
            if not value.endswith('"') or len(value) < 2:
                raise TfvarsError(f"{source} line {number}: unterminated string for {name}")
            values[name] = value[1:-1]
        elif value in ("true", "false"):
            values[name] = value == "true"
        else:
            try:
                values[name] = float(value)
            except ValueError:
                continue  # an expression or reference: not ours to evaluate
    return values


def _number(values: dict[str, str | float | bool], name: str, source: str) -> float | None:
    for key in (f"scaler_{name}", name):
        if key in values:
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, float):
                raise TfvarsError(f"{source}: {key} must be a number (got {value!r})")
            return value
    return None


def _check_limits(name: str, value: float, source: str) -> None:
    """``value`` within the settings model's bounds for ``name``."""
    for operator, bound in knob_limits(name):
        if not within(operator, value, bound):
            raise TfvarsError(f"{source}: {name} must be {operator} {bound:g} (got {value:g})")


def scenario_from_tfvars(path: Path, base: Scenario | None = None) -> Scenario:
    source = str(path)
    try:
        values = parse(path.read_text(), source)
    except OSError as exc:
        raise TfvarsError(f"{source}: cannot read ({exc})") from exc
    scenario = base or Scenario()
    knobs: dict[str, float | int] = {}
    for name, kind in POLICY_KNOBS.items():
        value = _number(values, name, source)
        if value is not None:
            knobs[name] = kind(value)
    try:
        config: PolicyConfig = replace(scenario.config, **knobs)  # type: ignore[arg-type]
    except ValueError as exc:
        raise TfvarsError(f"{source}: {exc}") from exc
    samples = _number(values, "samples_per_invocation", source)
    env = scenario.environment
    env_changes: dict[str, float | int] = {}
    base_capacity = _number(values, "worker_on_demand_base_capacity", source)
    if base_capacity is None:
        base_capacity = _number(values, "on_demand_base_capacity", source)
    if base_capacity is not None:
        env_changes["on_demand_base_capacity"] = int(base_capacity)
    spot = _number(values, "worker_spot_percentage", source)
    above = _number(values, "on_demand_percentage_above_base", source)
    if spot is None and above is not None:
        spot = 100 - above
    if spot is not None:
        if not 0 <= spot <= 100:
            raise TfvarsError(f"{source}: spot percentage must be in [0, 100] (got {spot})")
        env_changes["spot_percentage"] = int(spot)
    on_demand = _number(values, "on_demand_hourly_price", source)
    if on_demand is None:
        on_demand = _number(values, "hourly_price_per_worker", source)
    if on_demand is not None:
        env_changes["on_demand_hourly_price"] = on_demand
    spot_price = _number(values, "spot_hourly_price", source)
    if spot_price is not None:
        env_changes["spot_hourly_price"] = spot_price
    for tf_name, field_name in _QUEUE_KNOBS.items():
        value = _number(values, tf_name, source)
        if value is not None:
            env_changes[field_name] = int(value) if field_name == "max_receives" else value
    _warm_pool(values, source, config, env_changes)
    boot = _number(values, "boot_seconds", source)
    if boot is not None:
        _check_limits("boot_seconds", boot, source)
        env = env.with_warmup(boot)
    if samples is not None:
        _check_limits("samples_per_invocation", samples, source)
    try:
        environment = replace(env, **env_changes)  # type: ignore[arg-type]
    except ValueError as exc:
        raise TfvarsError(f"{source}: {exc}") from exc
    return Scenario(
        config=config,
        samples_per_invocation=int(samples)
        if samples is not None
        else scenario.samples_per_invocation,
        environment=environment,
    )


def _warm_pool(
    values: dict[str, str | float | bool],
    source: str,
    config: PolicyConfig,
    env_changes: dict[str, float | int],
) -> None:
    """``warm_pool_enabled`` / ``warm_pool_min_size`` / ``warm_pool_max_prepared_capacity`` as
    the worker_fleet module deploys them: a Stopped pool with ``max_group_prepared_capacity``
    = the last one, or ``max_size`` (the scaler's ``max_capacity``) when it is unset, so it
    holds max(min size, max prepared - desired) instances."""
    enabled = values.get("warm_pool_enabled", False)
    if not isinstance(enabled, bool):
        raise TfvarsError(f"{source}: warm_pool_enabled must be true or false (got {enabled!r})")
    if not enabled:
        return
    min_size = _number(values, "warm_pool_min_size", source) or 0.0
    if min_size < 0 or min_size != int(min_size):
        raise TfvarsError(
            f"{source}: warm_pool_min_size must be a whole number >= 0 (got {min_size:g})"
        )
    if env_changes.get("spot_percentage") != 0:
        raise TfvarsError(
            f"{source}: warm_pool_enabled needs an on-demand-only fleet "
            "(on_demand_percentage_above_base = 100): AWS has no warm pools with spot"
        )
    prepared = _number(values, "warm_pool_max_prepared_capacity", source)
    if prepared is None:
        prepared = float(config.max_capacity)
    elif prepared != int(prepared) or prepared < min_size:
        raise TfvarsError(
            f"{source}: warm_pool_max_prepared_capacity must be a whole number >= "
            f"warm_pool_min_size {min_size:g} (got {prepared:g})"
        )
    env_changes["warm_pool_min_size"] = int(min_size)
    env_changes["warm_pool_max_prepared"] = int(prepared)
