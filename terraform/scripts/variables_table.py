"""Prints the root configuration's variables as a Markdown table (for docs/terraform.md).

python terraform/scripts/variables_table.py > /tmp/table.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

VARIABLES = Path(__file__).resolve().parents[1] / "variables.tf"
_BLOCK = re.compile(r'^variable "([a-z0-9_]+)" \{\n(.*?)^\}', re.MULTILINE | re.DOTALL)
_FIELD = re.compile(r"^  (description|type|default)\s*=\s*(.+)$", re.MULTILINE)


def rows(text: str) -> list[tuple[str, str, str, str]]:
    table = []
    for name, body in _BLOCK.findall(text):
        fields = dict(_FIELD.findall(body))
        description = fields.get("description", "").strip().strip('"').replace('\\"', '"')
        default = fields.get("default", "(required)").strip()
        table.append((name, fields.get("type", "").strip(), default, description))
    return table


def main() -> None:
    out = sys.stdout
    out.write("| Variable | Type | Default | What it does |\n|---|---|---|---|\n")
    for name, kind, default, description in rows(VARIABLES.read_text()):
        cell = default.replace("|", "\\|")
        out.write(f"| `{name}` | {kind} | `{cell}` | {description.replace('|', '/')} |\n")


if __name__ == "__main__":
    main()
