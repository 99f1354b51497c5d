"""Where `terraform init` takes the AWS provider from: the offline mirror when one is configured
or found, else the public registry (a clean laptop with internet has no mirror).

No network is used: the tests check the decision and the CLI configuration handed to
Terraform, never a download.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sdfleet import env
from sdfleet_cli.local.errors import TerraformError
from sdfleet_cli.local.terraform import MIRROR_MARKER, cli_config, find_provider_mirror

REPO = Path(__file__).resolve().parents[3]
WRAPPER = REPO / "terraform" / "scripts" / "terraform.sh"


def _mirror(root: Path) -> Path:
    mirror = root / "some" / "tf-plugins"
    (mirror / MIRROR_MARKER / "5.100.0" / "linux_amd64").mkdir(parents=True)
    return mirror


def test_no_variable_and_no_mirror_chooses_the_registry(tmp_path: Path) -> None:
    (tmp_path / "empty" / "registry.terraform.io").mkdir(parents=True)  # not a mirror of aws
    assert find_provider_mirror({}, search_roots=(tmp_path,)) is None


def test_a_mirror_on_the_machine_is_found_without_the_variable(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path)
    assert find_provider_mirror({}, search_roots=(tmp_path,)) == mirror


def test_the_variable_wins_over_a_search(tmp_path: Path) -> None:
    _mirror(tmp_path / "found")
    named = _mirror(tmp_path / "named")
    environ = {env.TF_PROVIDER_MIRROR: str(named)}
    assert find_provider_mirror(environ, search_roots=(tmp_path / "found",)) == named


def test_a_variable_naming_no_mirror_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(TerraformError, match=r"has no registry\.terraform\.io/hashicorp/aws/"):
        find_provider_mirror({env.TF_PROVIDER_MIRROR: str(tmp_path)}, search_roots=())


def test_registry_config_has_no_provider_installation_block(tmp_path: Path) -> None:
    text = cli_config(None, tmp_path / "cache")
    assert "provider_installation" not in text
    assert "filesystem_mirror" not in text
    assert f'plugin_cache_dir = "{(tmp_path / "cache").resolve()}"' in text


def test_mirror_config_makes_the_mirror_the_only_source(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path)
    text = cli_config(mirror, tmp_path / "cache")
    assert "provider_installation {\n  filesystem_mirror {\n" in text
    assert f'path = "{mirror.resolve()}"' in text
    assert "direct" not in text


def _run_wrapper(tmp_path: Path, mirror: Path | None) -> dict[str, str]:
    """terraform/scripts/terraform.sh with a stand-in `terraform` (the edge: no registry here)
    that reports the CLI configuration it was given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "terraform"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'echo "config_file=${TF_CLI_CONFIG_FILE:-}"\n'
        'if [ -n "${TF_CLI_CONFIG_FILE:-}" ]; then\n'
        '  echo "config=$(tr "\\n" " " < "$TF_CLI_CONFIG_FILE")"\n'
        "fi\n"
    )
    fake.chmod(0o755)
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {env.TF_PROVIDER_MIRROR, "TF_CLI_CONFIG_FILE"}
    }
    environ["PATH"] = f"{bin_dir}{os.pathsep}{environ.get('PATH', '')}"
    environ["SDFLEET_TF_WORK_DIR"] = str(tmp_path / "work")
    if mirror is not None:
        environ[env.TF_PROVIDER_MIRROR] = str(mirror)
    out = subprocess.run(
        [str(WRAPPER), "version"], env=environ, capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_wrapper_without_the_variable_leaves_terraform_on_the_registry(tmp_path: Path) -> None:
    seen = _run_wrapper(tmp_path, None)
    assert seen["config_file"] == ""
    assert "config" not in seen


def test_wrapper_with_the_variable_uses_only_the_mirror(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path)
    seen = _run_wrapper(tmp_path, mirror)
    assert seen["config_file"]
    assert "filesystem_mirror" in seen["config"]
    assert str(mirror.resolve()) in seen["config"]
