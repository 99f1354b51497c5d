"""docs/scaling.md's sweep figures are the committed results of ``benchmarks.scaler.sweep``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SWEEPS = ROOT / "benchmarks" / "results" / "sweeps"
DOC = (ROOT / "docs" / "scaling.md").read_text()


def _summary(name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((SWEEPS / f"{name}.json").read_text())["summary"]
    return rows


def test_every_sweep_result_is_cited_and_names_its_command() -> None:
    found = sorted(SWEEPS.glob("*.json"))
    assert len(found) >= 6
    for path in found:
        assert f"../benchmarks/results/sweeps/{path.name}" in DOC, path.name
        command = json.loads(path.read_text())["command"]
        assert command.startswith(f"python -m benchmarks.scaler.sweep --name {path.stem} ")


def test_the_headroom_table_is_the_sweeps() -> None:
    training = {
        row["variant"]["VARIATION_HEADROOM"]: row
        for row in _summary("heavy-tail-headroom-training")
    }
    held_out = {
        row["variant"]["VARIATION_HEADROOM"]: row
        for row in _summary("heavy-tail-headroom-held-out")
    }
    for value, row in training.items():
        cells = f"{row['web_p95_within_target']} of 10 | {row['bound_ratio_mean']:.2f}x | "
        if value in held_out:
            other = held_out[value]
            cells += f"{other['web_p95_within_target']} of 10, {other['bound_ratio_mean']:.2f}x |"
        label = re.escape(f"{value:g}")
        assert re.search(rf"^  \| (\*\*)?{label}[^|]* \| {re.escape(cells)}", DOC, re.M), cells


def test_the_prod_window_choice_is_the_sweep() -> None:
    rows = _summary("prod-scale-in-window")
    chosen = {
        row["trace"]: row for row in rows if row["variant"]["idle_seconds_before_scale_in"] == 30
    }
    steady = chosen["steady"]
    expected = (
        f"**30 s: {steady['bound_ratio_mean']:.2f}x, {steady['bound_ratio_within_goal']} / "
        f"{chosen['spot-storm']['web_p95_within_target']} / "
        f"{chosen['training-mix']['web_p95_within_target']}**"
    )
    assert expected in " ".join(DOC.split())
    assert all(row["busy_killed"] == 0 for row in rows)
