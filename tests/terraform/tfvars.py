"""Reads the flat ``name = value`` assignments of a ``*.tfvars`` file (numbers, strings, bools).

Lists and maps are skipped: the tests only compare scalar knobs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_ASSIGNMENT = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*=\s*(.+?)\s*$")


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
        if raw in ("true", "false"):
            values[name] = raw == "true"
        elif raw.startswith('"'):
            values[name] = json.loads(raw)
        else:
            values[name] = float(raw) if "." in raw else int(raw)
    return values
