"""mk/check_prereqs.sh (`make up`, `make test`, `make prereqs`): every missing tool is named
with how to install it, at the version the repository pins."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "mk" / "check_prereqs.sh"
#: What the script itself runs; everything else is left off PATH.
COREUTILS = ("bash", "sed", "sort", "head", "dirname", "tr")


def _bin_with(tmp_path: Path, scripts: dict[str, str]) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for name in COREUTILS:
        found = shutil.which(name)
        assert found, name
        (bin_dir / name).symlink_to(found)
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!" + shutil.which("bash") + "\n" + body)  # type: ignore[operator]
        path.chmod(0o755)
    return bin_dir


def _check(bin_dir: Path, *args: str, ci: bool = False) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": str(bin_dir), "PYTHON": "", "CI": "true" if ci else ""}
    return subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPT), *args], env=environ, capture_output=True, text=True
    )


def _pinned_terraform() -> str:
    text = (REPO / "terraform" / "versions.tf").read_text()
    match = re.search(r'required_version\s*=\s*">=\s*([0-9.]+)"', text)
    assert match
    return match.group(1)


def test_every_missing_tool_is_named_with_how_to_install_it(tmp_path: Path) -> None:
    result = _check(_bin_with(tmp_path, {}), "--require", "python terraform node chromium")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 4, result.stderr
    for line, tool in zip(lines, ("Python 3.11", "terraform", "node/npm", "chromium"), strict=True):
        assert line.startswith(f"missing: {tool} not found"), line
        assert "install" in line
    assert f"Terraform >= {_pinned_terraform()}" in lines[1]


def test_optional_tools_only_warn_except_on_ci(tmp_path: Path) -> None:
    bin_dir = _bin_with(tmp_path, {})
    local = _check(bin_dir, "--require", "", "--optional", "chromium")
    assert local.returncode == 0
    assert local.stderr.startswith("warning: chromium not found")
    assert _check(bin_dir, "--require", "", "--optional", "chromium", ci=True).returncode == 1


def test_an_old_terraform_is_refused_and_a_pinned_one_passes(tmp_path: Path) -> None:
    old = _check(
        _bin_with(tmp_path / "a", {"terraform": 'echo "Terraform v1.5.7"\n'}),
        "--require",
        "terraform",
    )
    assert old.returncode == 1
    assert f"terraform 1.5.7 is older than {_pinned_terraform()}" in old.stderr
    good = _check(
        _bin_with(tmp_path / "b", {"terraform": 'echo "Terraform v1.11.4"\n'}),
        "--require",
        "terraform",
    )
    assert good.returncode == 0, good.stderr


def test_python_other_than_311_is_refused(tmp_path: Path) -> None:
    fake = 'if [ "$1" = -c ] && [[ "$2" == *sys.exit* ]]; then exit 1; fi\necho 3.12.1\n'
    bin_dir = _bin_with(tmp_path, {"python3": fake})
    result = subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPT), "--require", "python"],
        env={"PATH": str(bin_dir), "PYTHON": str(bin_dir / "python3"), "CI": ""},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "is Python 3.12.1, not 3.11" in result.stderr


def test_the_readme_names_the_pinned_versions() -> None:
    readme = (REPO / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start") : readme.index("## Architecture")]
    engines = re.search(r'"node":\s*">=([0-9.]+)"', (REPO / "frontend/package.json").read_text())
    assert engines
    assert f"| Terraform | `>= {_pinned_terraform()}`" in quick_start
    assert f"| Node.js + npm | `>= {engines.group(1)}`" in quick_start
    assert "| Python | 3.11" in quick_start and "make prereqs" in quick_start
