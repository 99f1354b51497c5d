"""The README stays true: its configuration table is the one the settings classes define."""

from __future__ import annotations

from pathlib import Path

from sdfleet import env
from sdfleet_cli.config_table import BEGIN_MARKER, END_MARKER, render_config_table

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_config_table_is_current() -> None:
    text = README.read_text()
    start, end = text.index(BEGIN_MARKER), text.index(END_MARKER) + len(END_MARKER)
    assert text[start:end] == render_config_table(), (
        "README configuration table is stale: paste `python -m sdfleet_cli.config_table`"
    )


def test_every_setting_variable_is_documented() -> None:
    table = render_config_table()
    settings_vars = [
        value
        for name, value in vars(env).items()
        if name.isupper() and isinstance(value, str) and value.startswith("SDFLEET_")
    ]
    undocumented = [
        v for v in settings_vars if f"`{v}`" not in table and v not in README.read_text()
    ]
    assert not undocumented, f"env vars missing from the README: {undocumented}"
