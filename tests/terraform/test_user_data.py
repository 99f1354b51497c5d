"""The worker's user data, rendered by Terraform's own ``templatefile``: it passes shellcheck, and
a dry run in a scratch root (stub commands on PATH that log their arguments) does what each
start path needs: NVMe cache + hashed wheelhouse install, a baked AMI that installs nothing,
the AMI bake itself, and the journal shipped to CloudWatch Logs by a pinned, signature-checked
CloudWatch agent (best effort: the worker starts without it)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.tools import require_executable
from tests.terraform.conftest import REPO, TERRAFORM_DIR

TEMPLATE = TERRAFORM_DIR / "modules" / "worker_fleet" / "user_data.sh.tftpl"
UNIT = REPO / "worker" / "systemd" / "sdfleet-worker.service"
ENV_FILE = "SDFLEET_DEVICE=cuda\nSDFLEET_MODEL_SOURCE=s3://models/sd15/"
WHEELHOUSE = "s3://example-bucket/wheelhouse/0123456789ab/"
LOG_GROUP = "/sdfleet-test/worker"
AGENT_VERSION = "1.300071.0b1720"
AGENT_DOWNLOADS = "https://amazoncloudwatch-agent.s3.amazonaws.com"
#: AWS's published fingerprint of the key that signs the CloudWatch agent packages.
AGENT_SIGNING_KEY = "937616F3450B7D806CBD9725D58167303B789C72"
#: What installing the agent package leaves: its version file and control tool (a stub here).
AGENT_INSTALLED = (
    'bin="$SDFLEET_BOOTSTRAP_ROOT/opt/aws/amazon-cloudwatch-agent/bin"; mkdir -p "$bin"; '
    f'echo {AGENT_VERSION} > "$bin/CWAGENT_VERSION"; '
    'printf \'#!/bin/bash\\necho "amazon-cloudwatch-agent-ctl $*" >> "$STUB_LOG"\\n\' '
    '> "$bin/amazon-cloudwatch-agent-ctl"; chmod +x "$bin/amazon-cloudwatch-agent-ctl"'
)

#: Stubs: each logs its name and arguments; a few also do what the script relies on.
STUBS = {
    "aws": 'if [ "$1 $2" = "s3 sync" ]; then mkdir -p "$5"; touch "$5/requirements.txt"; fi',
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
    "uname": "echo x86_64",
    # curl -fsSL --retry 5 -o FILE URL: writes FILE.
    "curl": 'while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done; echo data > "$out"',
    # A good signature by AWS's key (the status line gpg --status-fd prints for one).
    "gpg": 'case " $* " in *" --verify "*) '
    f'echo "[GNUPG:] VALIDSIG 0123 2026-06-19 0 0 4 0 1 8 00 {AGENT_SIGNING_KEY}";; esac',
    "rpm": AGENT_INSTALLED,
    "dpkg": AGENT_INSTALLED,
}


def render(
    wheelhouse_uri: str = WHEELHOUSE, cache_volume: str = "auto", log_group: str = LOG_GROUP
) -> str:
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
        "log_group_name": log_group,
        "cloudwatch_agent_version": AGENT_VERSION,
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
    for script in (render(), render(wheelhouse_uri="", cache_volume="root", log_group="")):
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
    os_id: str = "amzn",
) -> DryRun:
    root = tmp_path / "root"
    stub_dir = tmp_path / "stubs"
    log = tmp_path / "calls.log"
    for directory in (root / "etc/systemd/system", stub_dir):
        directory.mkdir(parents=True)
    log.touch()
    (root / "etc/os-release").write_text(f'NAME="test"\nID="{os_id}"\n')
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
        # The bake installed the agent too (the rpm stub leaves what the package would).
        subprocess.run(
            ["bash", str(stub_dir / "rpm")],
            env={
                "SDFLEET_BOOTSTRAP_ROOT": str(root),
                "STUB_LOG": os.devnull,
                "PATH": "/usr/bin:/bin",
            },
            check=True,
        )
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
    installs = ("pip", "aws", "python3.11", "dnf", "curl", "gpg", "rpm")
    assert not [call for call in run.calls if call.startswith(installs)]
    assert "baked AMI" in run.stderr
    assert f"CloudWatch agent {AGENT_VERSION} already installed" in run.stderr
    assert any(call.startswith("amazon-cloudwatch-agent-ctl -a fetch-config") for call in run.calls)
    assert run.calls[-1] == "systemctl enable --now sdfleet-worker.service"


def test_bake_mode_installs_and_marks_without_starting_anything(tmp_path: Path) -> None:
    run = dry_run(tmp_path, render(log_group=""), "--bake")
    assert run.returncode == 0, run.stderr
    assert any("--require-hashes" in call for call in run.calls if call.startswith("pip "))
    assert (run.root / "opt/sdfleet/.baked").read_text().strip().endswith(WHEELHOUSE)
    assert not [call for call in run.calls if call.startswith(("systemctl", "mkfs", "mount"))]
    assert not (run.root / "etc/sdfleet/worker.env").exists()
    # The agent is baked in (installed, not configured: the group is each deployment's).
    assert [call for call in run.calls if call.startswith("rpm ")]
    assert not [call for call in run.calls if call.startswith("amazon-cloudwatch-agent-ctl")]
    assert not (run.root / "opt/aws/amazon-cloudwatch-agent/etc/sdfleet.json").exists()


def test_a_bake_with_a_bad_agent_signature_fails(tmp_path: Path) -> None:
    run = dry_run(tmp_path, render(log_group=""), "--bake", stubs={"gpg": ""})
    assert run.returncode != 0
    assert not [call for call in run.calls if call.startswith(("rpm ", "pip "))]
    assert not (run.root / "opt/sdfleet/.baked").exists()


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


def test_boot_ships_the_journal_with_a_pinned_signature_checked_agent(tmp_path: Path) -> None:
    run = dry_run(tmp_path, render())
    assert run.returncode == 0, run.stderr
    package_url = (
        f"{AGENT_DOWNLOADS}/amazon_linux/amd64/{AGENT_VERSION}/amazon-cloudwatch-agent.rpm"
    )
    downloads = [call.split()[-1] for call in run.calls if call.startswith("curl ")]
    assert downloads == [
        package_url,
        f"{package_url}.sig",
        f"{AGENT_DOWNLOADS}/assets/amazon-cloudwatch-agent.gpg",
    ]
    verify = run.calls.index(next(c for c in run.calls if c.startswith("gpg") and "--verify" in c))
    install = run.calls.index(next(c for c in run.calls if c.startswith("rpm -U")))
    assert verify < install

    config_path = run.root / "opt/aws/amazon-cloudwatch-agent/etc/sdfleet.json"
    collect = json.loads(config_path.read_text())["logs"]["logs_collected"]["journald"]
    assert collect["collect_list"] == [
        {
            "log_group_name": LOG_GROUP,
            "log_stream_name": "worker/{instance_id}",
            "units": ["sdfleet-worker.service"],
        },
        {
            "log_group_name": LOG_GROUP,
            "log_stream_name": "bootstrap/{instance_id}",
            "units": ["cloud-final.service"],
        },
    ]
    # Started before the worker's install, so a boot that fails there is in the log group.
    start = run.calls.index(
        f"amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:{config_path}"
    )
    first_pip = run.calls.index(next(c for c in run.calls if c.startswith("pip ")))
    assert start < first_pip
    assert run.calls[-1] == "systemctl enable --now sdfleet-worker.service"


def test_ubuntu_gets_the_deb_of_the_same_version(tmp_path: Path) -> None:
    run = dry_run(tmp_path, render(), os_id="ubuntu")
    assert run.returncode == 0, run.stderr
    package_url = f"{AGENT_DOWNLOADS}/ubuntu/amd64/{AGENT_VERSION}/amazon-cloudwatch-agent.deb"
    assert any(call.startswith("curl ") and call.endswith(package_url) for call in run.calls)
    assert any(call.startswith("dpkg -i ") for call in run.calls)


@pytest.mark.parametrize(
    "gpg",
    [
        "",  # no valid signature at all (BADSIG, or no signature file)
        'case " $* " in *" --verify "*) echo "[GNUPG:] VALIDSIG 0123 x 0 0 4 0 1 8 00 '
        '0000000000000000000000000000000000000000";; esac',  # signed by another key
    ],
    ids=["bad-signature", "other-key"],
)
def test_an_agent_without_aws_signature_is_not_installed_and_the_worker_still_starts(
    tmp_path: Path, gpg: str
) -> None:
    run = dry_run(tmp_path, render(), stubs={"gpg": gpg})
    assert run.returncode == 0, run.stderr
    assert not [call for call in run.calls if call.startswith(("rpm", "amazon-cloudwatch-agent"))]
    assert "ERROR: CloudWatch agent not installed" in run.stderr
    assert run.calls[-1] == "systemctl enable --now sdfleet-worker.service"


def test_no_log_group_configures_no_agent(tmp_path: Path) -> None:
    run = dry_run(tmp_path, render(log_group=""))
    assert run.returncode == 0, run.stderr
    assert not [call for call in run.calls if call.startswith(("curl", "rpm", "amazon-cloudwatch"))]
