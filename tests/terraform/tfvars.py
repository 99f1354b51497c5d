"""Reads the flat ``name = value`` assignments of a ``*.tfvars`` file (numbers, strings, bools).

Lists and maps are skipped: the tests only compare scalar knobs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

#: tfvars knob -> ScalerSettings field (Terraform writes each to SSM as <ssm_path><field>).
SCALER_KNOBS = {
    "min_capacity": "min_capacity",
    "max_capacity": "max_capacity",
    "target_wait_seconds": "target_wait_seconds",
    "idle_seconds_before_scale_in": "idle_seconds_before_scale_in",
    "quiet_seconds_before_zero": "quiet_seconds_before_zero",
    "max_step": "max_step",
    "default_seconds_per_job": "default_seconds_per_job",
    "training_minutes_per_job": "training_minutes_per_job",
    "boot_seconds": "boot_seconds",
    "boot_deadline_seconds": "boot_deadline_seconds",
    "samples_per_invocation": "samples_per_invocation",
    "backlog_tolerance": "backlog_tolerance",
}

_ASSIGNMENT = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*=\s*(.+?)\s*$")


def parse_scalar(raw: str) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    if raw.startswith('"'):
        return json.loads(raw)
    return float(raw) if "." in raw else int(raw)


def read_scalars(path: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        if line.lstrip().startswith(("#", "//")):
            continue
        match = _ASSIGNMENT.match(line)
        if not match:
            continue
        name, raw = match.groups()
        if raw.startswith(("[", "{")):
            continue
        values[name] = parse_scalar(raw)
    return values


def variable_defaults(path: Path) -> dict[str, Any]:
    """Scalar ``default = ...`` of every ``variable`` block in a ``variables.tf`` file."""
    defaults: dict[str, Any] = {}
    for block in re.split(r'^variable "', path.read_text(), flags=re.M)[1:]:
        name = block.split('"', 1)[0]
        match = re.search(r"^\s*default\s*=\s*(.+?)\s*$", block, re.M)
        if match and not match.group(1).startswith(("[", "{", "null")):
            defaults[name] = parse_scalar(match.group(1))
    return defaults
