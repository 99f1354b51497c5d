"""The worker's user data, rendered by Terraform's own ``templatefile``: it passes shellcheck, and
a dry run in a scratch root (stub commands on PATH that log their arguments) does what each
start path needs: NVMe cache + hashed wheelhouse install, a baked AMI that installs nothing,
and the AMI bake itself."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.tools import require_executable
from tests.terraform.conftest import REPO, TERRAFORM_DIR

TEMPLATE = TERRAFORM_DIR / "modules" / "worker_fleet" / "user_data.sh.tftpl"
UNIT = REPO / "worker" / "systemd" / "sdfleet-worker.service"
ENV_FILE = "SDFLEET_DEVICE=cuda\nSDFLEET_MODEL_SOURCE=s3://models/sd15/"
WHEELHOUSE = "s3://example-bucket/wheelhouse/0123456789ab/"

#: Stubs: each logs its name and arguments; a few also do what the script relies on.
STUBS = {
    "aws": 'if [ "$1 $2" = "s3 sync" ]; then mkdir -p "$4"; touch "$4/requirements.txt"; fi',
    "python3.11": 'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; '
    'printf \'#!/bin/bash\\necho "pip $*" >> "$STUB_LOG"\\n\' > "$3/bin/pip"; '
    'chmod +x "$3/bin/pip"; fi',
    "id": "exit 0",
    "useradd": "",
    "chown": "",
    "systemctl": "",
    "mkfs.xfs": "",
    "mount": "",
    "dnf": "",
    "apt-get": "",
}


def render(wheelhouse_uri: str = WHEELHOUSE, cache_volume: str = "auto") -> str:
    """The template through `terraform console` (no configuration, no provider needed)."""
    terraform = require_executable(
        "terraform", "install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install)"
    )
    values = {
        "env_file": ENV_FILE,
        "package_source": "s3://example-bucket/artifacts/sdfleet-0.1.0-py3-none-any.whl",
        "package_extras": "worker,gpu",
        "wheelhouse_uri": wheelhouse_uri,
        "model_cache_volume": cache_volume,
        "service_unit": UNIT.read_text(),
    }
    expression = f"base64encode(templatefile({json.dumps(str(TEMPLATE))}, {json.dumps(values)}))"
    # An empty directory: no configuration to load, so no provider or init is needed.
    with tempfile.TemporaryDirectory() as empty:
        result = subprocess.run(
            [terraform, "console"],
            input=expression,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=empty,
            env={**os.environ, "CHECKPOINT_DISABLE": "1"},
        )
    # The value is the last line (warnings about a missing CLI config may come first).
    return base64.b64decode(json.loads(result.stdout.strip().splitlines()[-1])).decode()


def test_rendered_user_data_passes_shellcheck() -> None:
    shellcheck = require_executable("shellcheck", "apt-get install shellcheck")
    for script in (render(), render(wheelhouse_uri="", cache_volume="root")):
        checked = subprocess.run(
            [shellcheck, "--shell=bash", "--severity=style", "-"],
            input=script,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout


@dataclass
class DryRun:
    root: Path
    calls: list[str]
    returncode: int
    stderr: str


def dry_run(
    tmp_path: Path,
    script: str,
    *args: str,
    nvme: bool = False,
    baked: bool = False,
    stubs: dict[str, str] | None = None,
) -> DryRun:
    root = tmp_path / "root"
    stub_dir = tmp_path / "stubs"
    log = tmp_path / "calls.log"
    for directory in (root / "etc/systemd/system", stub_dir):
        directory.mkdir(parents=True)
    log.touch()
    for name, body in (STUBS | (stubs or {})).items():
        path = stub_dir / name
        path.write_text(f'#!/bin/bash\necho "{name} $*" >> "$STUB_LOG"\n{body}\n')
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    if nvme:
        device = root / "dev/nvme1n1"
        by_id = root / "dev/disk/by-id"
        by_id.mkdir(parents=True)
        device.touch()
        (by_id / "nvme-Amazon_EC2_NVMe_Instance_Storage_AWS1234").symlink_to(device)
    if baked:
        (root / "opt/sdfleet").mkdir(parents=True)
        (root / "opt/sdfleet/.baked").write_text("2026-12-01T00:00:00Z\n")
    script_path = tmp_path / "user-data.sh"
    script_path.write_text(script)
    result = subprocess.run(
        ["bash", str(script_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": f"{stub_dir}:/usr/bin:/bin",
            "SDFLEET_BOOTSTRAP_ROOT": str(root),
            "STUB_LOG": str(log),
        },
    )
    return DryRun(root, log.read_text().splitlines(), result.returncode, result.stderr)


def test_plain_boot_mounts_nvme_and_installs_only_hashed_wheels(tmp_path: Path) -> None:
    run = dry_run(tmp_path, render(), nvme=True)
    assert run.returncode == 0, run.stderr
    device = str(run.root / "dev/nvme1n1")
    cache = str(run.root / "var/lib/sdfleet/models")
    assert f"mkfs.xfs -f -q {device}" in run.calls
    assert f"mount -o noatime {device} {cache}" in run.calls
    assert "/var/lib/sdfleet/models xfs" in (run.root / "etc/fstab").read_text()
    wheelhouse = run.root / "opt/sdfleet/wheelhouse"
    assert f"aws s3 sync --only-show-errors {WHEELHOUSE} {wheelhouse}" in run.calls
    (install,) = [call for call in run.calls if call.startswith("pip ")]
    assert install == (
        f"pip install -q --no-index --find-links {wheelhouse} --require-hashes --no-deps "
        f"-r {wheelhouse}/requirements.txt"
    )
    assert (run.root / "etc/sdfleet/worker.env").read_text().strip() == ENV_FILE
    unit = (run.root / "etc/systemd/system/sdfleet-worker.service").read_text()
    assert unit.strip() == UNIT.read_text().strip()
    assert run.calls[-1] == "systemctl enable --now sdfleet-worker.service"


def test_root_volume_cache_leaves_instance_store_alone(tmp_path: Path) -> None:
    run = dry_run(tmp_path, render(cache_volume="root"), nvme=True)
    assert run.returncode == 0, run.stderr
    assert not [call for call in run.calls if call.startswith(("mkfs", "mount"))]


def test_baked_ami_installs_nothing(tmp_path: Path) -> None:
    run = dry_run(tmp_path, render(), baked=True)
    assert run.returncode == 0, run.stderr
    assert not [call for call in run.calls if call.startswith(("pip", "aws", "python3.11", "dnf"))]
    assert "baked AMI" in run.stderr
    assert run.calls[-1] == "systemctl enable --now sdfleet-worker.service"


def test_bake_mode_installs_and_marks_without_starting_anything(tmp_path: Path) -> None:
    run = dry_run(tmp_path, render(), "--bake")
    assert run.returncode == 0, run.stderr
    assert any("--require-hashes" in call for call in run.calls if call.startswith("pip "))
    assert (run.root / "opt/sdfleet/.baked").read_text().strip().endswith(WHEELHOUSE)
    assert not [call for call in run.calls if call.startswith(("systemctl", "mkfs", "mount"))]
    assert not (run.root / "etc/sdfleet/worker.env").exists()


def test_a_failed_install_stops_the_boot_before_the_service(tmp_path: Path) -> None:
    # A pip that exits 1, as on a hash mismatch or a wheel missing from the wheelhouse.
    failing_pip = (
        'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; '
        'printf \'#!/bin/bash\\necho "pip $*" >> "$STUB_LOG"\\nexit 1\\n\' > "$3/bin/pip"; '
        'chmod +x "$3/bin/pip"; fi'
    )
    run = dry_run(tmp_path, render(), stubs={"python3.11": failing_pip})
    assert run.returncode != 0
    assert any(call.startswith("pip install") for call in run.calls)
    assert not [call for call in run.calls if call.startswith("systemctl")]
