"""Each module can be picked up alone: a README whose Inputs/Outputs tables match its .tf files
(terraform/scripts/tf_docs.py), and a runnable example per deployable part."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.terraform.conftest import TERRAFORM_DIR

MODULES = sorted(p for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir())
GENERATOR = TERRAFORM_DIR / "scripts" / "tf_docs.py"
#: Deployable part -> its example, which calls that module.
EXAMPLES = {
    "storage-and-queues": {"config", "queues", "storage"},
    "ingest-api": {"api"},
    "worker-fleet": {"worker_fleet"},
    "scaler": {"autoscaler"},
    # A rule on an existing fleet's job events bus: it calls no module.
    "events-to-tenant-queue": set(),
}


def _tf_docs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_module_readme_is_current() -> None:
    assert MODULES, "no modules found"
    missing = [m.name for m in MODULES if not (m / "README.md").exists()]
    assert missing == [], f"no README.md in {missing}: run python terraform/scripts/tf_docs.py"
    result = _tf_docs("--check")
    assert result.returncode == 0, result.stderr


def test_readme_tables_list_every_variable_and_output() -> None:
    for module in MODULES:
        readme = (module / "README.md").read_text()
        for kind, tf_file in (("variable", "variables.tf"), ("output", "outputs.tf")):
            names = re.findall(rf'^{kind} "([a-z0-9_]+)"', (module / tf_file).read_text(), re.M)
            absent = [n for n in names if f"| `{n}` |" not in readme]
            assert absent == [], f"{module.name}/README.md lacks {kind}s {absent}"


def test_a_changed_variable_makes_the_readme_stale(tmp_path: Path) -> None:
    copy = tmp_path / "modules" / "queues"
    shutil.copytree(TERRAFORM_DIR / "modules" / "queues", copy)
    assert _tf_docs("--check", "--modules-dir", str(copy.parent)).returncode == 0
    variables = copy / "variables.tf"
    variables.write_text(variables.read_text().replace("default     = 3\n", "default     = 5\n", 1))
    result = _tf_docs("--check", "--modules-dir", str(copy.parent))
    assert result.returncode == 1
    assert "queues/README.md" in result.stderr
    # Regenerating fixes it and keeps the hand-written introduction.
    introduction = (copy / "README.md").read_text().split("<!--", 1)[0]
    assert _tf_docs("--modules-dir", str(copy.parent)).returncode == 0
    regenerated = (copy / "README.md").read_text()
    assert regenerated.startswith(introduction)
    assert "| `max_receive_count` | `number` | `5` |" in regenerated
    assert _tf_docs("--check", "--modules-dir", str(copy.parent)).returncode == 0


def test_each_deployable_part_has_a_runnable_example() -> None:
    found = {p.parent.name for p in (TERRAFORM_DIR / "examples").glob("*/main.tf")}
    assert found == set(EXAMPLES)
    for name, modules in EXAMPLES.items():
        example = TERRAFORM_DIR / "examples" / name
        text = (example / "main.tf").read_text()
        called = set(re.findall(r'source\s*=\s*"\.\./\.\./modules/([a-z_]+)"', text))
        assert modules <= called, f"{name} does not call {sorted(modules - called)}"
        assert re.search(r'^provider "aws"', text, re.M), f"{name} configures no provider"
        # init -lockfile=readonly in make tf-check needs the same lock as the root.
        lock = (example / ".terraform.lock.hcl").read_text()
        assert lock == (TERRAFORM_DIR / ".terraform.lock.hcl").read_text(), name
