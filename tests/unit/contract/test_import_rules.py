"""The import rules in .importlinter hold for the repository, and each one catches the
violation it exists for (checked on a miniature copy of the package layout)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("sdfleet", "sdfleet_cli", "ingest_lambda", "worker", "autoscaler")


def _lint(
    config: Path, cwd: Path, python_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the dev extra (make venv)")
    environment = dict(os.environ)
    if python_path is not None:
        # Ahead of the editable install, so the miniature packages shadow the real ones.
        environment["PYTHONPATH"] = str(python_path)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(config)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_repository_keeps_every_import_rule() -> None:
    result = _lint(CONFIG, ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 kept, 0 broken" in result.stdout


def _miniature(tmp_path: Path, extra: dict[str, str]) -> Path:
    """The five packages, empty but for the modules in ``extra`` (path -> source)."""
    root = tmp_path / "project"
    for package in PACKAGES:
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    for relative, source in extra.items():
        (root / relative).write_text(source)
    shutil.copy(CONFIG, root / ".importlinter")
    return root


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("autoscaler/leak.py", "import worker\n", "do not import one another"),
        ("ingest_lambda/leak.py", "from autoscaler import leak\n", "do not import one another"),
        ("worker/leak.py", "import sdfleet_cli\n", "never the CLI"),
        ("sdfleet/leak.py", "import moto\n", "no emulator"),
        ("sdfleet/leak.py", "import jwt\n", "no emulator"),
        ("sdfleet/leak.py", "import ingest_lambda\n", "no deployable"),
        # Reached through the contract: the closure counts, not only direct imports.
        ("sdfleet/leak.py", "import torch\n", "reaches the GPU stack"),
    ],
)
def test_each_rule_catches_its_violation(
    tmp_path: Path, module: str, source: str, broken: str
) -> None:
    extra = {module: source}
    if module.startswith("sdfleet/"):
        extra["ingest_lambda/handler.py"] = "import sdfleet.leak\n"
    root = _miniature(tmp_path, extra)
    result = _lint(root / ".importlinter", root, python_path=root)
    output = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode != 0, output
    broken_lines = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(broken in line for line in broken_lines), output
